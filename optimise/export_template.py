"""A cell model exported by cellsweep: build it, run its protocols, compute its features.

Standalone: needs only NEURON, NumPy and eFEL. Everything about the model is in ``cell.json``
beside this file: the sections with their 3-D points, connections, discretisation, inserted
mechanisms and the per-segment values of every parameter the model sets; the globals and
integrator settings; the protocols (stimuli and recording sites); and the features with their
targets. Run::

    nrnivmodl mechanisms     # only if there is a mechanisms/ folder with .mod files
    python model.py          # a table: feature, value, target mean and std, score
    python model.py --json   # {feature name: value}, NaN as null
    python model.py --json --scores   # {feature name: score}

The simulation and the feature extraction follow cellsweep step by step (same object creation
order, same integrator settings, same eFEL settings), so the feature values equal cellsweep's
for the exported parameter set, float for float, with the same NEURON, eFEL and NumPy versions.
Exit status: 0 when the evaluation is ok, 1 when the traces are not finite or the simulation
failed (features are then NaN), 2 for a usage or setup error.

This file is copied verbatim from cellsweep's ``optimise/export_template.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


# -- NEURON and mechanisms ---------------------------------------------------------------------
def load_neuron(data: dict):
    """NEURON's ``h`` with the standard run system and the model's mechanisms loaded."""
    from neuron import h

    h.load_file("stdrun.hoc")
    needed = data["mechanisms"]
    missing = _missing_mechanisms(h, needed)
    if missing:
        # `import neuron` already loads ./<arch>/libnrnmech.so from the working directory
        for lib in _library_candidates():
            if lib.is_file():
                h.nrn_load_dll(str(lib))
                break
        missing = _missing_mechanisms(h, needed)
    if missing:
        print(f"{sys.argv[0]}: mechanism(s) {', '.join(missing)} not found; compile them first: "
              f"cd {HERE.name} && nrnivmodl mechanisms", file=sys.stderr)
        raise SystemExit(2)
    return h


def _library_candidates() -> list:
    arches = list(dict.fromkeys([platform.machine(), "x86_64", "arm64", "aarch64", "i686"]))
    names = ("libnrnmech.so", ".libs/libnrnmech.so", "libnrnmech.dylib")
    return [base / arch / name for base in (HERE, HERE / "mechanisms") for arch in arches
            for name in names]


def _missing_mechanisms(h, needed: dict) -> list:
    known = set()
    for kind in (0, 1):
        mt = h.MechanismType(kind)
        name = h.ref("")
        for i in range(int(mt.count())):
            mt.select(i)
            mt.selected(name)
            known.add(name[0])
    return [m for m in needed["density"] + needed["point"] if m not in known]


# -- the cell ----------------------------------------------------------------------------------
class Cell:
    """Plain NEURON sections rebuilt from cell.json in cellsweep's creation and connect order."""

    def __init__(self, h, data: dict):
        self.h = h
        specs = data["sections"]
        self.sections = {s["name"]: h.Section(name=s["name"]) for s in specs}
        by_name = {s["name"]: s for s in specs}
        for spec in specs:
            if spec["parent"] is None:
                self._add_points(spec)
        # connect in the original order (NEURON keeps a parent's children sorted by x, the
        # latest connected first among equal x) and add the 3-D points after connecting, as
        # Import3d does
        for name in data["connect_order"]:
            spec = by_name[name]
            sec = self.sections[name]
            sec.connect(self.sections[spec["parent"]](spec["parent_x"]), spec["child_x"])
            self._add_points(spec)
        for spec in specs:
            sec = self.sections[spec["name"]]
            for mech in spec["mechanisms"]:
                sec.insert(mech)
        for name, value in data["globals"].items():
            setattr(h, name, value)
        for spec in specs:
            self.sections[spec["name"]].Ra = spec["Ra"]
        for spec in specs:
            self.sections[spec["name"]].nseg = spec["nseg"]
        for spec in specs:
            sec = self.sections[spec["name"]]
            if "diam" in spec:
                for seg, value in zip(sec, spec["diam"]):
                    seg.diam = value
            for var, seg_values in spec["range"].items():
                for seg, value in zip(sec, seg_values):
                    setattr(seg, var, value)

    def _add_points(self, spec: dict) -> None:
        sec, h = self.sections[spec["name"]], self.h
        if spec["pt3dstyle"] is not None:
            x, y, z = spec["pt3dstyle"]
            h.pt3dstyle(1, x, y, z, sec=sec)
        for x, y, z, d in spec["points"]:
            h.pt3dadd(x, y, z, d, sec=sec)
        if not spec["points"]:
            sec.L = spec["L"]

    def segment(self, where: dict):
        return self.sections[where["section"]](where["x"])


def geometry(sections) -> dict:
    """Per-section L, nseg, Ra and per-segment diam, area, ri, cm (to compare two builds)."""
    out = {}
    for sec in sections:
        name = sec.name().rsplit(".", 1)[-1]
        out[name] = {"L": sec.L, "nseg": sec.nseg, "Ra": sec.Ra,
                     "diam": [seg.diam for seg in sec], "area": [seg.area() for seg in sec],
                     "ri": [seg.ri() for seg in sec], "cm": [seg.cm for seg in sec]}
    return out


# -- protocols ---------------------------------------------------------------------------------
def _current_clamp(h, seg, keep: list, times, amps):
    clamp = h.IClamp(seg)
    keep.append(clamp)
    clamp.dur = 1e9
    clamp.delay = 0.0
    tvec, avec = h.Vector(times), h.Vector(amps)
    keep.extend([tvec, avec])
    avec.play(clamp._ref_amp, tvec, 1)
    return clamp


def _create_stimulus(h, cell: Cell, stim: dict, tstop: float, keep: list) -> None:
    nums = stim["values"]
    if stim["kind"] == "synapses":
        _create_synapses(h, cell, stim, nums, keep)
        return
    seg = cell.segment(stim["location"])
    delay = nums.get("delay_ms", 0.0)
    if stim["kind"] == "step":
        clamp = h.IClamp(seg)
        keep.append(clamp)
        clamp.amp, clamp.delay, clamp.dur = nums["amp_nA"], delay, nums["duration_ms"]
    elif stim["kind"] == "ramp":
        start, dur = delay, nums["duration_ms"]
        _current_clamp(h, seg, keep, [0.0, start, start, start + dur, start + dur, tstop],
                       [0.0, 0.0, nums["amp_start_nA"], nums["amp_end_nA"], 0.0, 0.0])
    elif stim["kind"] == "zap":
        dur = nums["duration_ms"]
        dt = min(0.025, 1000.0 / max(nums["f_end_hz"], 1.0) / 40.0)
        t = np.arange(0.0, dur + dt / 2, dt)
        f0, f1 = nums["f_start_hz"], nums["f_end_hz"]
        phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) * t * t / dur) / 1000.0
        amps = nums["amp_nA"] * np.sin(phase)
        times = np.concatenate([[0.0, delay], delay + t, [delay + dur, tstop]])
        amps = np.concatenate([[0.0, 0.0], amps, [0.0, 0.0]])
        _current_clamp(h, seg, keep, times, amps)
    elif stim["kind"] == "waveform":
        times, amps = (np.asarray(a, dtype=float) for a in stim["waveform"])
        _current_clamp(h, seg, keep, np.concatenate([[0.0], times + delay]),
                       np.concatenate([[0.0], amps * nums.get("scale", 1.0)]))
    else:
        raise ValueError(f"unknown stimulus kind {stim['kind']!r}")


def _create_synapses(h, cell: Cell, stim: dict, nums: dict, keep: list) -> None:
    for i, where in enumerate(stim["locations"]):
        syn = getattr(h, stim["synapse"])(cell.segment(where))
        keep.append(syn)
        for key, value in nums.items():
            if key.startswith("syn_"):
                setattr(syn, key[4:], value)
        source = h.NetStim()
        keep.append(source)
        source.start, source.interval = nums["start_ms"], nums["interval_ms"]
        source.number, source.noise = nums["number"], nums["noise"]
        if nums["noise"] > 0:
            rng = h.Random()
            keep.append(rng)
            rng.Random123(int(nums["seed"]), i, 0)
            rng.negexp(1)
            source.noiseFromRandom(rng)
        con = h.NetCon(source, syn)
        keep.append(con)
        con.weight[0], con.delay = nums["weight_uS"], nums["netcon_delay_ms"]


def _set_simulation(h, sim: dict) -> None:
    h.cvode_active(1 if sim["cvode"] else 0)
    h.cvode.atol(sim["atol"])
    h.cvode.rtol(sim["rtol"])
    h.secondorder = sim["secondorder"]
    h.dt = sim["dt_ms"]
    h.steps_per_ms = sim["steps_per_ms"]
    h.celsius = sim["celsius"]
    h.v_init = sim["v_init"]


_PC = []


def _parallel_context(h):
    if not _PC:
        pc = h.ParallelContext()
        pc.set_maxstep(10)
        pc.mpiabort_on_error(0)
        _PC.append(pc)
    return _PC[0]


def run_protocol(h, cell: Cell, protocol: dict, sim: dict) -> dict:
    """Simulate one protocol; return {recording name: (time array, value array)}."""
    keep: list = []
    tstop = protocol["tstop_ms"]
    for stim in protocol["stimuli"]:
        _create_stimulus(h, cell, stim, tstop, keep)
    t_vec = h.Vector()
    keep.append(t_vec)
    t_vec.record(h._ref_t)
    vectors = {}
    for rec in protocol["recordings"]:
        seg = cell.segment(rec["location"])
        vec = h.Vector()
        keep.append(vec)
        vec.record(getattr(seg, f"_ref_{rec['variable']}"))
        vectors[rec["name"]] = vec
    _set_simulation(h, sim)
    h.tstop = tstop
    h.finitialize(h.v_init)
    _parallel_context(h).psolve(tstop)
    if h.t < tstop * (1 - 1e-12) - 1e-9:
        raise RuntimeError(f"protocol {protocol['name']}: integration stopped at t={h.t:g} ms "
                           f"of {tstop:g} ms")
    t = t_vec.as_numpy().copy()
    return {name: (t, vec.as_numpy().copy()) for name, vec in vectors.items()}


# -- features ----------------------------------------------------------------------------------
def _use_settings(efel, defaults: dict, wanted: dict) -> None:
    """Make eFEL's settings object equal its defaults + ``wanted``."""
    settings = efel.get_settings()
    target = {**defaults, **wanted}
    for name in list(vars(settings)):
        if name not in target:
            delattr(settings, name)
    for name, value in target.items():
        if name in defaults:
            value = type(defaults[name])(value)
        setattr(settings, name, value)


def feature_groups(features: list) -> dict:
    """Features computed by one eFEL call: same trace, window, settings and stimulus current."""
    groups: dict = {}
    for f in features:
        key = (f["protocol"], f["recording"], tuple(f["window_ms"]),
               tuple(tuple(s) for s in f["settings"]), f["stimulus_current_nA"])
        groups.setdefault(key, []).append(f)
    return groups


def compute_features(features: list, responses: dict) -> dict:
    """Raw eFEL values for each feature: ``{name: ndarray or None}``."""
    import efel

    defaults = {f.name: f.default for f in dataclasses.fields(efel.Settings)}
    out = {}
    for (protocol, recording, window, settings, current), members in \
            feature_groups(features).items():
        t, v = responses[protocol][recording]
        wanted = dict(settings)
        if current is not None:
            wanted["stimulus_current"] = float(current)
        _use_settings(efel, defaults, wanted)
        trace = {"T": t, "V": v, "stim_start": [window[0]], "stim_end": [window[1]]}
        names = list(dict.fromkeys(f["efel"] for f in members))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = efel.get_feature_values([trace], names, raise_warnings=False)[0]
        for f in members:
            raw = values.get(f["efel"])
            out[f["name"]] = None if raw is None else np.asarray(raw, dtype=float)
    _use_settings(efel, defaults, {})
    return out


def summarise(features: list, raw: dict, scoring: dict) -> tuple:
    """Value = mean of eFEL's array (NaN if missing); score = mean |value - target| / std."""
    values, scores, missing = {}, {}, []
    for f in features:
        arr = raw.get(f["name"])
        if arr is None or arr.size == 0 or not np.all(np.isfinite(arr)):
            values[f["name"]] = float(np.mean(arr)) if arr is not None and arr.size else math.nan
            scores[f["name"]] = scoring["missing_penalty"]
            missing.append(f["name"])
            continue
        values[f["name"]] = float(np.mean(arr))
        total = 0.0
        for x in arr.tolist():          # summed in order, as eFEL's getDistance does
            total += abs(x - f["mean"])
        score = total / f["std"] / arr.size
        if scoring["max_score"] is not None:
            score = min(score, scoring["max_score"])
        scores[f["name"]] = score * f["weight"]
    return values, scores, missing


# -- the evaluation ----------------------------------------------------------------------------
def _non_finite(responses: dict) -> str:
    for protocol, recs in responses.items():
        for name, (t, v) in recs.items():
            bad = ~np.isfinite(v)
            if bad.any():
                return f"{protocol}.{name}: {int(bad.sum())} of {v.size} samples are not finite"
    return ""


def evaluate(h, cell: Cell, data: dict) -> dict:
    """Run every protocol and compute every feature: status, message, values, scores."""
    features, scoring = data["features"], data["scoring"]
    try:
        responses = {p["name"]: run_protocol(h, cell, p, data["simulation"])
                     for p in data["protocols"]}
        message = _non_finite(responses)
        status = "nan" if message else "ok"
    except Exception as exc:  # noqa: BLE001 - reported like cellsweep reports it
        status, message = "error", f"{type(exc).__name__}: {exc}"
    if status == "ok":
        values, scores, _ = summarise(features, compute_features(features, responses), scoring)
    else:
        values = {f["name"]: math.nan for f in features}
        scores = {f["name"]: scoring["missing_penalty"] for f in features}
    return {"status": status, "message": message, "values": values, "scores": scores}


def _check_versions(data: dict) -> None:
    import efel
    import neuron

    found = {"neuron": neuron.__version__, "efel": efel.__version__, "numpy": np.__version__}
    for name, version in data["versions"].items():
        if found.get(name) != version:
            print(f"warning: exported with {name} {version}, running with {found.get(name)}; "
                  "values may differ from cellsweep's in the last digits", file=sys.stderr)


def _table(data: dict, result: dict) -> str:
    rows = [("feature", "value", "mean", "std", "score")]
    for f in data["features"]:
        rows.append((f["name"], f"{result['values'][f['name']]:.6g}", f"{f['mean']:g}",
                     f"{f['std']:g}", f"{result['scores'][f['name']]:.4g}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))) for r in rows]
    total = sum(result["scores"].values())
    lines.append(f"total score {total:.6g}; status {result['status']}"
                 + (f" ({result['message']})" if result["message"] else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true",
                        help="print {feature name: value} as JSON (NaN as null)")
    parser.add_argument("--scores", action="store_true",
                        help="with --json: print {feature name: score} instead of values")
    parser.add_argument("--geometry", action="store_true",
                        help="print per-segment geometry as JSON and exit (no simulation)")
    parser.add_argument("--data", default=str(HERE / "cell.json"),
                        help="the model description (default: cell.json beside this script)")
    args = parser.parse_args(argv)
    os.environ.setdefault("NEURON_INIT_MPI", "0")   # before NEURON is imported
    with open(args.data, encoding="utf-8") as fh:
        data = json.load(fh)
    _check_versions(data)
    h = load_neuron(data)
    cell = Cell(h, data)
    if args.geometry:
        print(json.dumps(geometry(cell.sections.values())))
        return 0
    result = evaluate(h, cell, data)
    if args.json:
        shown = result["scores"] if args.scores else result["values"]
        print(json.dumps({k: (None if math.isnan(v) else v) for k, v in shown.items()}))
        if result["status"] != "ok":
            print(f"status {result['status']}: {result['message']}", file=sys.stderr)
    else:
        print(_table(data, result))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
