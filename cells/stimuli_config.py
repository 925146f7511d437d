"""Reading the ``protocols:`` section: stimuli, recordings and their locations.

Each number of a stimulus (``amp_nA``, ``delay_ms``, ...) is kept by name in ``Stimulus.values``
so that a sweep or an optimisation can vary it as ``<protocol>.<stimulus>.<number>``.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from cellsweep.cells import spec as S
from cellsweep.cells.schema import REQUIRED, Section, check_number, did_you_mean, quote
from cellsweep.cells.values import STIMULUS_BOUNDS, STIMULUS_UPPER, WHOLE

# kind -> {number: default (REQUIRED = must be given)}
STIMULUS_NUMBERS = {
    "step": {"amp_nA": REQUIRED, "delay_ms": REQUIRED, "duration_ms": REQUIRED},
    "ramp": {"amp_start_nA": 0.0, "amp_end_nA": REQUIRED, "delay_ms": REQUIRED,
             "duration_ms": REQUIRED},
    "zap": {"amp_nA": REQUIRED, "f_start_hz": 0.0, "f_end_hz": REQUIRED, "delay_ms": REQUIRED,
            "duration_ms": REQUIRED},
    "waveform": {"scale": 1.0, "delay_ms": 0.0},
    "synapses": {"start_ms": REQUIRED, "interval_ms": REQUIRED, "number": REQUIRED,
                 "noise": 0.0, "weight_uS": REQUIRED, "netcon_delay_ms": 0.0, "seed": 1.0},
}
# a synapses stimulus with ``spike_times_ms``: its events are given, so only these are numbers
SPIKE_TIMES_NUMBERS = {"weight_uS": REQUIRED, "netcon_delay_ms": 0.0}
_NETSTIM_ONLY = ("start_ms", "interval_ms", "number", "noise", "seed")
_SECTION_RE = re.compile(r"^(soma|dend|apic|axon|myelin)\[(\d+)\](?:\(([0-9.]+)\))?$")


def stimulus_bounds(key: str) -> dict:
    """``Section.number`` bounds of a stimulus number: the rule ``cells.values`` applies to the
    same number when it is swept or set on the command line."""
    out = {}
    bound = STIMULUS_BOUNDS.get(key)
    if bound is not None:
        out["ge" if bound[1] else "gt"] = bound[0]
    if key in STIMULUS_UPPER:
        out["le"] = STIMULUS_UPPER[key]
    if key in WHOLE:
        out["integer"] = True
    return out


def read_window(value, path: str, problems) -> tuple | None:
    """A ``window_ms`` ``[start, end]``: two finite numbers, start < end; None (and a problem)
    otherwise."""
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                  for w in value) and value[0] < value[1])
    if not ok:
        problems.add(path, f"expected [start, end] in ms with start < end, found {quote(value)}")
        return None
    return float(value[0]), float(value[1])


def read_location(value, path: str, problems, region_names) -> S.Location | None:
    if value == "soma":
        return S.Location(kind="soma")
    if isinstance(value, str):
        m = _SECTION_RE.match(value.replace(" ", ""))
        if not m:
            problems.add(path, f"invalid location {quote(value)}; expected 'soma', a section such as "
                               "'apic[3](0.5)', or {region: apical, distance_um: 300}")
            return None
        x = float(m.group(3)) if m.group(3) else 0.5
        if not 0 <= x <= 1:
            problems.add(path, f"position {x:g} outside [0, 1]")
            return None
        return S.Location(kind="section", section=f"{m.group(1)}[{m.group(2)}]", x=x)
    sec = Section(value, path, problems)
    if sec.has("section"):
        loc = read_location(sec.string("section"), sec.key_path("section"), problems, region_names)
        # x: given here, or the position written in the section string ("dend[0](1)"), or 0.5
        x = sec.number("x", loc.x if loc is not None else 0.5, ge=0, le=1)
        sec.finish()
        return None if loc is None else S.Location(kind="section", section=loc.section, x=x)
    region = sec.string("region")
    if region is not None and region not in region_names:
        sec.error("region", f"unknown region {quote(region)}; expected one of "
                            f"{', '.join(sorted(region_names))}" + did_you_mean(region, region_names))
        region = None
    distance = sec.number("distance_um", ge=0)
    sec.finish()
    if region is None or distance is None:
        return None
    return S.Location(kind="distance", region=region, distance_um=distance)


def _read_waveform(sec: Section, base_dir: Path):
    """A current waveform from ``file`` (CSV: time_ms,current_nA) or inline lists."""
    if sec.has("file"):
        name = sec.string("file")
        path = base_dir / name
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
            if rows and not _is_number(rows[0][0]):
                rows = rows[1:]              # header
            times = [float(r[0]) for r in rows]
            currents = [float(r[1]) for r in rows]
            bad = next((i for i, (a, b) in enumerate(zip(times, currents))
                        if not (math.isfinite(a) and math.isfinite(b))), None)
            if bad is not None:
                sec.error("file", f"{path}: sample {bad + 1}: expected finite numbers, found "
                                  f"{rows[bad][0]!r}, {rows[bad][1]!r}")
                return None
        except FileNotFoundError:
            sec.error("file", f"file not found: {path}")
            return None
        except (ValueError, IndexError, OSError) as exc:
            sec.error("file", f"cannot read {path} as CSV columns time_ms,current_nA ({exc})")
            return None
    else:
        times = sec.sequence("times_ms")
        currents = sec.sequence("currents_nA")
        if not all(_is_number(v) and math.isfinite(v) for v in list(times) + list(currents)):
            sec.error("times_ms", "expected lists of finite numbers in times_ms and currents_nA")
            return None
    if len(times) < 2 or len(times) != len(currents):
        sec.error("file" if sec.has("file") else "times_ms",
                  f"expected at least 2 samples and equal lengths, found {len(times)} times and "
                  f"{len(currents)} currents")
        return None
    if any(b <= a for a, b in zip(times, times[1:])):
        sec.error("file" if sec.has("file") else "times_ms", "times must increase strictly")
        return None
    return (tuple(float(t) for t in times), tuple(float(c) for c in currents))


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def _read_stimulus(name, value, path, problems, base_dir, region_names, mechset) -> S.Stimulus | None:
    sec = Section(value, path, problems)
    kind = sec.string("kind", choices=tuple(STIMULUS_NUMBERS))
    if kind is None:
        return None
    values = []
    given_times = kind == "synapses" and sec.has("spike_times_ms")
    numbers = SPIKE_TIMES_NUMBERS if given_times else STIMULUS_NUMBERS[kind]
    if given_times:
        for key in filter(sec.has, _NETSTIM_ONLY):
            sec.raw(key)
            sec.error(key, "not with spike_times_ms (the events are given; these keys set a "
                           "NetStim)")
    for key, default in numbers.items():
        v = sec.number(key, default, **stimulus_bounds(key))
        if v is not None:
            values.append((key, float(v)))
    waveform, synapse, extra_locations, spike_times = (), "", (), ()
    location = S.Location(kind="soma")
    if kind == "synapses":
        synapse = sec.string("synapse", "Exp2Syn")
        mech = _synapse_mechanism(sec, synapse, mechset)
        params = sec.section("synapse_params")
        for key, v in params.items():
            n = check_number(v, params.key_path(key), problems)
            problem = _synapse_parameter_problem(mech, str(key)) if mech else ""
            if problem:
                params.error(key, problem)
            elif n is not None:
                values.append((f"syn_{key}", n))
        locs = sec.sequence("locations")
        extra_locations = tuple(filter(None, (read_location(v, f"{sec.key_path('locations')}[{i}]",
                                                            problems, region_names)
                                              for i, v in enumerate(locs))))
        if not locs:
            sec.error("locations", "a synapses stimulus needs at least one location")
        if given_times:
            spike_times = _read_spike_times(sec, len(locs), mechset)
    else:
        if sec.has("location"):
            location = read_location(sec.raw("location"), sec.key_path("location"), problems,
                                     region_names) or location
        if kind == "waveform":
            waveform = _read_waveform(sec, base_dir) or ()
    sec.finish()
    return S.Stimulus(name=name, kind=kind, location=location, values=tuple(values),
                      waveform=waveform, synapse=synapse, locations=extra_locations,
                      spike_times=spike_times)


def _read_spike_times(sec: Section, n_locations: int, mechset) -> tuple:
    """``spike_times_ms``: one list of event times for every location, or a list of such lists,
    one per location; finite, >= 0, non-decreasing (VecStim plays them in order)."""
    value = sec.raw("spike_times_ms")
    expected = ("expected a list of event times (ms) for every location, or one such list per "
                f"location ({n_locations})")
    if not isinstance(value, list):
        sec.error("spike_times_ms", f"{expected}, found {quote(value)}")
        return ()
    trains = value if value and all(isinstance(v, list) for v in value) else [value] * n_locations
    if len(trains) != n_locations:
        sec.error("spike_times_ms", f"{len(trains)} lists for {n_locations} locations; {expected}")
        return ()
    for i, train in enumerate(trains):
        where = f"spike_times_ms[{i}]" if trains is value else "spike_times_ms"
        if not all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
                   and t >= 0 for t in train):
            sec.error(where, f"expected finite times >= 0 (ms), found {quote(train)}")
            return ()
        if any(b < a for a, b in zip(train, train[1:])):
            sec.error(where, "times must not decrease (VecStim delivers them in order)")
            return ()
    vecstim = mechset.mechanisms.get("VecStim") if mechset is not None else None
    if mechset is not None and (vecstim is None or vecstim.kind != "artificial"):
        sec.error("spike_times_ms", "given event times are delivered by VecStim, an artificial "
                                    "cell that mechanisms_dir does not define; add a vecstim.mod "
                                    "(ARTIFICIAL_CELL VecStim with a play() procedure) there")
        return ()
    return tuple(tuple(float(t) for t in train) for train in trains)


def _synapse_mechanism(sec: Section, synapse, mechset):
    """The mechanism a ``synapses`` stimulus names, if a NetCon can target it (a point process
    with a NET_RECEIVE block); reports it at ``synapse`` otherwise."""
    if not synapse or mechset is None:
        return None
    choices = mechset.synapses()
    expected = f"expected a synapse: one of {', '.join(choices)}"
    mech = mechset.mechanisms.get(synapse)
    if mech is None:
        sec.error("synapse", f"unknown point process {quote(synapse)}; {expected}"
                             + did_you_mean(synapse, choices))
    elif mech.kind == "density":
        sec.error("synapse", f"{synapse} is a density mechanism (SUFFIX), not a point process; "
                             f"{expected}")
    elif mech.kind == "artificial":
        sec.error("synapse", f"{synapse} is an artificial cell (an event source, not a synapse "
                             f"on the cell); {expected}")
    elif not mech.receives_events:
        what = f"{mech.source} has" if mech.source else "it has"
        sec.error("synapse", f"{synapse} is not a synapse: {what} no NET_RECEIVE block, so the "
                             f"stimulus's NetStim events cannot reach it; {expected}")
    else:
        return mech
    return None


def _synapse_parameter_problem(mech, key: str) -> str:
    """Why ``synapse_params.<key>`` cannot be set on each synapse of ``mech`` ("" if it can):
    NEURON's parameters of a built-in, the RANGE variables of a .mod file's point process."""
    if mech.source:
        valid = list(mech.range_names)
        if key in valid:
            return ""
        if key in mech.global_names:
            return (f"{key} is GLOBAL in {mech.source} (one value shared by every {mech.name}), "
                    f"not a parameter of each synapse; declare it RANGE there to set it here")
        listed = f"the RANGE variables of {mech.source}: {', '.join(valid) or '(none)'}"
    else:
        valid = list(mech.parameters)
        if key in valid:
            return ""
        listed = f"one of {', '.join(valid)}"
    return f"{mech.name} has no parameter {quote(key)}; expected {listed}" + did_you_mean(key, valid)


def stimulus_window(stim: S.Stimulus, tstop: float) -> tuple[float, float]:
    """(start, end) in ms of a stimulus, as eFEL's default stimulus window."""
    v = dict(stim.values)
    if stim.kind == "waveform":
        times = stim.waveform[0] if stim.waveform else (0.0, tstop)
        return v.get("delay_ms", 0.0) + times[0], v.get("delay_ms", 0.0) + times[-1]
    if stim.kind == "synapses" and stim.spike_times:
        return min((t[0] for t in stim.spike_times if t), default=0.0), tstop
    if stim.kind == "synapses":
        return v.get("start_ms", 0.0), tstop
    return v.get("delay_ms", 0.0), v.get("delay_ms", 0.0) + v.get("duration_ms", tstop)


def read_protocols(sec: Section, base_dir: Path, cell, mechset) -> tuple:
    region_names = set(S.BASE_REGIONS) | {r.name for r in cell.regions}
    protocols = []
    for name, value in sec.items():
        path = sec.key_path(name)
        if "." in str(name):
            sec.error(name, "protocol names cannot contain '.' (they prefix parameter names)")
            continue
        p = Section(value, path, sec.problems)
        tstop = p.number("tstop_ms", gt=0)
        stimuli = []
        holding = p.number("holding_nA", None)
        if holding is not None and tstop is not None:
            stimuli.append(S.Stimulus(name="holding", kind="step", location=S.Location("soma"),
                                      values=(("amp_nA", holding), ("delay_ms", 0.0),
                                              ("duration_ms", tstop))))
        st = p.section("stimuli")
        for sname, svalue in st.items():
            if sname == "holding" and holding is not None:
                st.error(sname, "name 'holding' is taken by holding_nA")
                continue
            stim = _read_stimulus(sname, svalue, st.key_path(sname), sec.problems, base_dir,
                                  region_names, mechset)
            if stim is None:
                continue
            start, end = stimulus_window(stim, tstop or 0)
            if tstop is not None and end > tstop + 1e-9 and stim.kind != "synapses":
                st.error(sname, f"stimulus ends at {end:g} ms, after the protocol's tstop_ms "
                                f"({tstop:g} ms)")
            stimuli.append(stim)
        recordings = []
        rec_sec = p.section("recordings")
        rec_items = rec_sec.items() or [("soma", {"location": "soma"})]
        for rname, rvalue in rec_items:
            rpath = rec_sec.key_path(rname)
            if isinstance(rvalue, str):
                rvalue = {"location": rvalue}
            r = Section(rvalue, rpath, sec.problems)
            rxd = {}
            if isinstance(rvalue, dict) and "species" in rvalue:
                from cellsweep.cells.rxd_config import read_recording

                rxd = read_recording(r)    # an rxd concentration (checked in cells.config)
            loc = read_location(r.raw("location", "soma"), r.key_path("location"), sec.problems,
                                region_names)
            variable = r.string("variable", "v") if not rxd else rxd.pop("variable")
            if variable and not re.match(r"^[A-Za-z_]\w*$", variable):
                r.error("variable", f"invalid variable name {quote(variable)}")
            r.finish()
            if loc is not None:
                recordings.append(S.Recording(name=rname, location=loc, variable=variable or "v",
                                              **rxd))
        main = next((s for s in stimuli if s.name != "holding"), None)
        window = p.raw("window_ms", None)
        if window is not None:
            window = read_window(window, p.key_path("window_ms"), sec.problems)
        if window is None:
            window = stimulus_window(main, tstop or 0) if main else (0.0, tstop or 1.0)
        current = p.number("stimulus_current_nA", None)
        if current is None and main is not None and main.kind == "step":
            current = main.value("amp_nA")
        p.finish()
        if tstop is not None:
            protocols.append(S.Protocol(name=name, tstop_ms=tstop, stimuli=tuple(stimuli),
                                        recordings=tuple(recordings),
                                        window_ms=(float(window[0]), float(window[1])),
                                        stimulus_current_nA=current))
    if not protocols and not sec.problems.items:
        sec.error(None, "at least one protocol is needed")
    return tuple(protocols)
