"""Reading the ``profile:`` section and profile features (``- {profile: input_resistance, ...}``).

The ``profile:`` section gives each experiment kind its settings (``profile.passive.amp_nA``,
``profile.fi.amplitudes_nA``, ...); every setting has a default, so a config without the section
profiles the cell with sensible protocols. A feature may override its experiment's settings
(``- {profile: spike_rate, experiment: {amp_nA: 0.3}, mean: 12, std: 2}``): it then gets an experiment of its
own. Experiments are complete and canonical here, so that two features needing the same
simulation share it within an evaluation.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from cellsweep.cells import profile_measures as PM
from cellsweep.cells import spec as S
from cellsweep.cells.schema import Section, did_you_mean, quote

_STEP = {"delay_ms": 200.0, "duration_ms": 1000.0, "after_ms": 100.0, "threshold_mV": -20.0}
# kind -> setting -> default (None: no default; a tuple: a list of numbers; a str: a name)
SETTINGS = {
    "passive": {"amp_nA": -0.05, "delay_ms": 200.0, "duration_ms": 800.0, "after_ms": 100.0,
                "baseline_ms": 100.0, "steady_ms": 100.0, "fit_end_ms": math.nan,
                "sample_dt_ms": 0.1},
    "spiking": {"amp_nA": 0.3, **_STEP},
    "fi": {"amplitudes_nA": tuple(np.round(np.arange(0.0, 0.5001, 0.05), 10).tolist()), **_STEP},
    "rheobase": {"low_nA": 0.0, "high_nA": 0.5, "tolerance_nA": 0.001, "max_simulations": 30,
                 "max_nA": 5.0, **_STEP},
    "zap": {"amp_nA": 0.01, "f_start_hz": 0.5, "f_end_hz": 15.0, "duration_ms": 15000.0,
            "delay_ms": 500.0, "after_ms": 100.0, "grid_step_hz": 0.25, "sample_dt_ms": 0.5},
    "dendrite": {"region": "apical", "distances_um": (), "step_um": 50.0, "max_um": 1000.0,
                 "amp_nA": 2.0, "delay_ms": 50.0, "duration_ms": 2.0, "after_ms": 48.0,
                 "threshold_mV": -20.0},
}
COMMON = {"holding_nA": 0.0}
# kinds whose current goes in (and voltage is recorded) at ``location``; the dendrite kind
# always fires the soma and records along the dendrite
LOCATED = ("passive", "spiking", "fi", "rheobase", "zap")
SOMA = S.Location("soma")
ARGUMENT_KEYS = {"amplitude": "amplitude_nA", "frequency": "frequency_hz",
                 "distance": "distance_um"}


def read_profile_section(sec: Section, region_names: set) -> dict:
    """``profile:`` -> {kind: settings dict} (complete, validated) and the kinds it names."""
    common = {k: sec.number(k, v) for k, v in COMMON.items()}
    common = {k: v for k, v in common.items() if v is not None}
    location = _read_location(sec, SOMA, region_names)
    out = {}
    for kind in PM.KINDS:
        kind_sec = sec.section(kind)
        base = {**common, "location": location} if kind in LOCATED else common
        out[kind] = _read_settings(kind_sec, kind, base, region_names)
        kind_sec.finish()
    measures = sec.sequence("measures", None)
    chosen = []
    for i, name in enumerate(measures or []):
        if not isinstance(name, str) or (name not in PM.MEASURES and name not in PM.KINDS):
            sec.problems.add(sec.key_path(f"measures[{i}]"),
                             f"unknown measure or kind {quote(name)}; expected one of "
                             f"{', '.join(list(PM.KINDS) + list(PM.MEASURES))}"
                             + did_you_mean(str(name), list(PM.MEASURES) + list(PM.KINDS)))
        else:
            chosen.append(name)
    sec.string("output", None)
    sec.finish()
    return {"settings": out, "measures": chosen, "named": [k for k in PM.KINDS if sec.data.get(k)]}


def _read_settings(sec: Section, kind: str, base: dict, region_names: set) -> dict:
    """One experiment's settings: ``base`` (the profile section's) overridden by ``sec``."""
    defaults = {**SETTINGS[kind], **COMMON}
    values = {}
    if kind in LOCATED:
        values["location"] = _read_location(sec, base.get("location", SOMA), region_names)
    for key, default in defaults.items():
        start = base.get(key, default)
        if isinstance(default, tuple):
            values[key] = _read_numbers(sec, key, start)
        elif isinstance(default, str):
            values[key] = sec.string(key, start)
            if key == "region" and values[key] not in region_names:
                sec.error(key, f"unknown region {quote(values[key])}; expected one of "
                               f"{', '.join(sorted(region_names))}"
                          + did_you_mean(values[key], sorted(region_names)))
        elif key in ("max_simulations",):
            values[key] = sec.number(key, start, integer=True, ge=2, le=1000)
        elif key in ("amp_nA", "holding_nA", "threshold_mV", "low_nA", "high_nA", "max_nA"):
            values[key] = sec.number(key, start)
        elif key == "fit_end_ms":
            values[key] = sec.number(key, start, gt=0) if sec.has(key) else start
        elif key in ("after_ms", "delay_ms", "f_start_hz"):
            values[key] = sec.number(key, start, ge=0)
        else:
            values[key] = sec.number(key, start, gt=0)
    if all(value is not None for value in values.values()):
        _check_kind(sec, kind, values)
    return values


def _read_location(sec: Section, default: S.Location, region_names: set) -> S.Location:
    """Where the current goes in and v is recorded: 'soma', 'apic[3](0.5)' or
    {region, distance_um} (as a protocol's locations); checked on the real cell before a run."""
    from cellsweep.cells.stimuli_config import read_location

    raw = sec.raw("location", None)
    if raw is None:
        return default
    return read_location(raw, sec.key_path("location"), sec.problems, region_names) or default


def _read_numbers(sec: Section, key: str, default) -> tuple:
    """A list of numbers, or ``{linspace: [start, stop, n]}``, or ``{start, stop, step}``."""
    raw = sec.raw(key, None)
    if raw is None:
        return tuple(default)
    path = sec.key_path(key)
    if isinstance(raw, dict):
        r = Section(raw, path, sec.problems)
        if r.has("linspace"):
            lin = r.sequence("linspace")
            r.finish()
            if (len(lin) != 3 or not all(isinstance(x, (int, float)) for x in lin)
                    or int(lin[2]) != lin[2] or lin[2] < 1):
                sec.problems.add(path + ".linspace", "expected [start, stop, n] with n >= 1")
                return ()
            return tuple(np.round(np.linspace(lin[0], lin[1], int(lin[2])), 12).tolist())
        start, stop, step = r.number("start"), r.number("stop"), r.number("step", gt=0)
        r.finish()
        if None in (start, stop, step):
            return ()
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        if n < 1 or n > 10000:
            sec.problems.add(path, f"gives {n} values; expected 1 to 10000")
            return ()
        return tuple(np.round(start + step * np.arange(n), 12).tolist())
    if not isinstance(raw, list) or not raw:
        sec.problems.add(path, "expected a non-empty list of numbers, {linspace: [start, stop, "
                               "n]} or {start, stop, step}")
        return ()
    out = []
    for i, x in enumerate(raw):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            sec.problems.add(f"{path}[{i}]", f"expected a finite number, found {quote(x)}")
        else:
            out.append(float(x))
    if len(set(out)) != len(out):
        sec.problems.add(path, "values must be distinct")
    return tuple(out)


def _check_kind(sec: Section, kind: str, v: dict) -> None:
    if kind == "passive":
        if v["amp_nA"] == 0:
            sec.error("amp_nA", "expected a non-zero step (a small hyperpolarising one, -0.05)")
        if v["baseline_ms"] > v["delay_ms"]:
            sec.error("baseline_ms", f"{v['baseline_ms']:g} ms is longer than delay_ms "
                                     f"({v['delay_ms']:g} ms): the baseline is before the step")
        if v["steady_ms"] > v["duration_ms"]:
            sec.error("steady_ms", f"{v['steady_ms']:g} ms is longer than duration_ms")
        if v["fit_end_ms"] == v["fit_end_ms"] and v["fit_end_ms"] > v["duration_ms"]:
            sec.error("fit_end_ms", "is after the end of the step (time from the step's onset)")
    if kind == "rheobase":
        if not v["low_nA"] < v["high_nA"] <= v["max_nA"]:
            sec.error(None, f"expected low_nA < high_nA <= max_nA, found {v['low_nA']:g}, "
                            f"{v['high_nA']:g}, {v['max_nA']:g}")
        if v["tolerance_nA"] >= v["high_nA"] - v["low_nA"]:
            sec.error("tolerance_nA", "expected less than high_nA - low_nA")
    if kind == "zap":
        if v["f_end_hz"] <= v["f_start_hz"]:
            sec.error("f_end_hz", "expected more than f_start_hz")
        if v["duration_ms"] * v["f_end_hz"] < 2000:
            sec.error("duration_ms", "too short for the frequency band (fewer than 2 cycles at "
                                     "f_end_hz)")
        if v["sample_dt_ms"] * 2 * v["f_end_hz"] >= 1000:
            sec.error("sample_dt_ms", f"{v['sample_dt_ms']:g} ms cannot resolve f_end_hz "
                                      f"{v['f_end_hz']:g} (Nyquist)")
        if v["amp_nA"] == 0:
            sec.error("amp_nA", "expected a non-zero chirp amplitude")
    if kind == "fi" and not v["amplitudes_nA"]:
        sec.error("amplitudes_nA", "expected at least one amplitude")


def experiment(kind: str, settings: dict) -> S.Experiment:
    """The canonical experiment of settings: named by its kind when they are the section's."""
    items = tuple(sorted(settings.items()))
    return S.Experiment(name=kind, kind=kind, settings=items)


def _renamed(exp: S.Experiment) -> S.Experiment:
    digest = hashlib.sha256(json.dumps(exp.settings, default=str).encode()).hexdigest()[:8]
    return S.Experiment(name=f"{exp.kind}@{digest}", kind=exp.kind, settings=exp.settings)


def profile_feature(entry_sec: Section, section: dict, region_names: set):
    """One ``- {profile: ...}`` feature -> ([Feature, ...], Experiment) or ([], None)."""
    name = entry_sec.string("profile")
    if name is None:
        return [], None
    measure = PM.MEASURES.get(name)
    if measure is None:
        entry_sec.error("profile", f"unknown profile measure {quote(name)}; expected one of "
                                   f"{', '.join(PM.MEASURES)}" + did_you_mean(name, list(PM.MEASURES)))
        return [], None
    base = section["settings"][measure.kind]
    local = entry_sec.section("experiment")      # this feature's own settings, if any
    allowed = sorted(set(SETTINGS[measure.kind]) | set(COMMON)
                     | ({"location"} if measure.kind in LOCATED else set()))
    for key, _ in local.items():                  # keys are the kind's settings (documented so)
        if key not in allowed:
            local.error(key, f"unknown setting of a {measure.kind} experiment; expected one of "
                             f"{', '.join(allowed)}" + did_you_mean(str(key), allowed))
    settings = _read_settings(local, measure.kind, base, region_names)
    arg_key = ARGUMENT_KEYS.get(measure.argument)
    at = entry_sec.number(arg_key, None) if arg_key else None
    for key in ARGUMENT_KEYS.values():
        if key != arg_key and entry_sec.has(key):
            entry_sec.error(key, f"measure {name!r} takes no {key}"
                            + (f"; it takes {arg_key}" if arg_key else ""))
    points = _points(measure, settings, at, entry_sec)
    mean, std = entry_sec.raw("mean"), entry_sec.raw("std")
    weight = entry_sec.number("weight", 1.0, ge=0)
    means = _targets(entry_sec, "mean", mean, len(points), positive=False)
    stds = _targets(entry_sec, "std", std, len(points), positive=True)
    given = entry_sec.string("name", None)
    if given and len(points) > 1:
        entry_sec.error("name", "a curve gives one feature per point; their names are "
                                f"{PM.label(name, points[0], measure.argument)}, ...")
    if means is None or stds is None:
        return [], None
    exp = experiment(measure.kind, settings)
    if exp.settings != experiment(measure.kind, base).settings:
        exp = _renamed(exp)
    features = [S.Feature(name=given or PM.label(name, p, measure.argument)
                          + ("" if exp.name == exp.kind else f"[{exp.name.split('@')[1]}]"),
                          protocol="", recording="", efel="", mean=m, std=s, window_ms=(0.0, 0.0),
                          weight=weight, profile=name, experiment=exp.name, at=p,
                          units=measure.units)
                for p, m, s in zip(points, means, stds)]
    return features, exp


def _points(measure, settings: dict, at, sec: Section) -> list:
    """The arguments a feature covers: one, or a whole curve (``fi_curve`` without one)."""
    if not measure.argument:
        return [None]
    if at is not None:
        return [float(at)]
    if measure.argument == "amplitude":
        return list(settings["amplitudes_nA"])
    sec.error(ARGUMENT_KEYS[measure.argument], f"missing: measure {measure.name!r} needs the "
                                               f"{measure.argument} it is measured at")
    return []


def _targets(sec: Section, key: str, value, n: int, positive: bool):
    values = value if isinstance(value, list) else [value] * n
    if value is None:
        sec.error(key, "missing required key")
        return None
    if len(values) != n:
        sec.error(key, f"expected {n} values (one per point of the curve), found {len(values)}")
        return None
    out = []
    for i, x in enumerate(values):
        where = key if not isinstance(value, list) else f"{key}[{i}]"
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            sec.error(where, f"expected a finite number, found {quote(x)}")
            return None
        if positive and x <= 0:
            sec.error(where, f"expected a number > 0, found {x!r}")
            return None
        out.append(float(x))
    return out


def with_points(experiments: dict, features: list) -> tuple:
    """Experiments with the FI amplitudes and dendritic distances their features ask for."""
    out = []
    for exp in experiments.values():
        settings = dict(exp.settings)
        ats = sorted({f.at for f in features if f.experiment == exp.name and f.at is not None})
        if exp.kind == "fi":
            settings["amplitudes_nA"] = tuple(sorted(set(settings["amplitudes_nA"]) | set(ats)))
        if exp.kind == "dendrite":
            settings["distances_um"] = tuple(sorted(set(settings["distances_um"]) | set(ats)))
        out.append(S.Experiment(exp.name, exp.kind, tuple(sorted(settings.items()))))
    return tuple(out)


def dendrite_distances(exp: S.Experiment) -> list[float]:
    """The path distances a dendrite experiment records at: its grid and the asked ones."""
    grid = np.round(np.arange(exp.get("step_um"), exp.get("max_um") + 1e-9, exp.get("step_um")),
                    9).tolist()
    return sorted(set(grid) | set(exp.get("distances_um")))


def profile_model(model: S.ModelSpec, data: dict) -> S.ModelSpec:
    """The model a profile run evaluates: no protocols of the user's, one untargeted feature
    per chosen measure (``profile.measures``; default: the passive, FI, rheobase and ZAP
    measures, and every kind whose section the config writes). Curves' points (FI amplitudes,
    dendritic distances) each get a feature; ``impedance`` is the stored curve."""
    from dataclasses import replace

    from cellsweep.cells.schema import Problems

    region_names = set(S.BASE_REGIONS) | {r.name for r in model.cell.regions}
    problems = Problems(model.source)
    section = read_profile_section(Section(data.get("profile"), "profile", problems),
                                   region_names)
    problems.raise_if_any()
    chosen = section["measures"] or list(dict.fromkeys([*PM.DEFAULT_KINDS, *section["named"]]))
    names = []
    for item in chosen:
        names.extend(m.name for m in PM.measures_of(item)) if item in PM.KINDS \
            else names.append(item)
    experiments = {}
    features = []
    for name in dict.fromkeys(names):
        measure = PM.MEASURES[name]
        exp = experiments.setdefault(measure.kind,
                                     experiment(measure.kind, section["settings"][measure.kind]))
        if measure.argument == "amplitude":
            points = list(exp.get("amplitudes_nA"))
        elif measure.argument == "distance":
            points = dendrite_distances(exp)
        elif measure.argument == "frequency":
            continue
        else:
            points = [None]
        features.extend(S.Feature(name=PM.label(name, p, measure.argument), protocol="",
                                  recording="", efel="", mean=math.nan, std=math.nan,
                                  window_ms=(0.0, 0.0), profile=name, experiment=exp.name,
                                  at=p, units=measure.units) for p in points)
    return replace(model, protocols=(), features=tuple(features),
                   experiments=tuple(experiments.values()))
