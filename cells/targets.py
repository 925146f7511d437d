"""Fit targets from checked sweeps: group by amplitude, extract eFEL features, mean and std.

BluePyEfe does the electrophysiology: each sweep becomes its ``Step`` eCode (step onset, offset,
amplitude and holding current found in the current trace, or taken from the description; the
liquid junction potential subtracted), its spike count, the rheobase by its "absolute" rule
(the lowest amplitude with at least one spike), the amplitude relative to it, each feature per
sweep (eFEL's array averaged, BluePyEfe's ``compute_efeatures``), and per group the mean, the
standard deviation (``numpy.nanstd``, population) and the protocol (amplitudes averaged). A
group's std of 0, as for a group of one sweep, is replaced by BluePyEfe's ``default_std_value``
(1e-3, here ``single_sweep_std``), as BluePyEfe does.

Our own: which sweeps form a group. BluePyEfe matches sweeps to target amplitudes given in
advance and drops the rest silently; here a list of amplitudes is matched with BluePyEfe's rule
(``|target - amplitude| < tolerance``), but a sweep that two targets claim, a target no sweep
reaches or a step that cannot be found is a problem naming the file, and without a list the
groups are found from the amplitudes (sorted; a new group starts beyond ``tolerance`` of the
group's first sweep).
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import dataclass

import numpy as np

from cellsweep.cells.errors import ConfigError, Problem
from cellsweep.cells.targets_config import TargetOptions

BLUEPYEFE_PROTOCOL = "Step"          # BluePyEfe's eCode for a square step


@dataclass(frozen=True)
class FeatureTarget:
    protocol: str
    efel: str
    mean: float
    std: float
    n: int


@dataclass(frozen=True)
class ProtocolTarget:
    """One group of sweeps as a protocol to simulate: BluePyEfe's averaged step eCode."""

    name: str
    amplitude: float                 # the group's amplitude: % of rheobase, or nA
    amp_nA: float
    holding_nA: float
    delay_ms: float
    duration_ms: float
    tstop_ms: float
    sweeps: tuple                    # labels of its sweeps


@dataclass(frozen=True)
class Targets:
    protocols: tuple
    features: tuple
    rheobase_nA: float | None
    rheobase_source: str             # "given" or "sweeps"
    options: TargetOptions
    unused: tuple                    # (sweep label, why) of sweeps in no group
    missing: tuple                   # (protocol, efel) that no sweep of the group gave

    def efel_settings(self) -> dict:
        return {"Threshold": self.options.threshold_mV,
                "interp_step": self.options.interp_step_ms, **dict(self.options.efel_settings)}


@contextlib.contextmanager
def _quiet():
    """BluePyEfe logs warnings and numpy warns for ordinary recordings (no spike, an empty
    slice); the problems that matter are ours. eFEL's settings are global: reset after."""
    import efel

    log = logging.getLogger("bluepyefe")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        log.setLevel(level)
        efel.reset()


def extract(sweeps, options: TargetOptions, source: str = "") -> Targets:
    """Targets from sweeps (``cells.recordings.read_sweeps``); ``ConfigError`` when the
    amplitudes cannot be grouped (problems of the grouping name ``source``, the config)."""
    from bluepyefe.cell import Cell
    from bluepyefe.rheobase import compute_rheobase_absolute

    settings = {"Threshold": options.threshold_mV, "interp_step": options.interp_step_ms,
                **dict(options.efel_settings)}
    by_key = {str(k): s for k, s in enumerate(sweeps)}
    with _quiet():
        cell = Cell(name="cell")
        cell.read_recordings([_metadata(key, s, options) for key, s in by_key.items()],
                             BLUEPYEFE_PROTOCOL, recording_reader=lambda c: [_reader_data(
                                 by_key[c["filepath"]])], efel_settings=settings)
        recordings = list(zip(sweeps, cell.recordings))
        problems = [p for s, r in recordings for p in _step_problems(s, r)]
        _raise(problems)
        relative = options.grouping == "relative"
        found_by = "given"
        if relative:
            if options.rheobase_nA is not None:
                cell.rheobase = options.rheobase_nA
            else:
                compute_rheobase_absolute(cell, [BLUEPYEFE_PROTOCOL])
                found_by = "sweeps"
            if not cell.rheobase or cell.rheobase <= 0:
                _raise([Problem(source, "grouping", _no_rheobase(recordings, options))])
            cell.compute_relative_amp()
        groups, unused = _groups(recordings, options, relative, source)
        for _, rec in recordings:
            rec.compute_efeatures(list(options.features), None, dict(settings))
        protocols, features, missing = _summarise(groups, cell, options, relative, settings)
    return Targets(protocols=tuple(protocols), features=tuple(features),
                   rheobase_nA=float(cell.rheobase) if relative else None,
                   rheobase_source=found_by if relative else "", options=options,
                   unused=tuple(unused), missing=tuple(missing))


def _raise(problems) -> None:
    if problems:
        raise ConfigError(problems)


def _metadata(key: str, sweep, options: TargetOptions) -> dict:
    """BluePyEfe's per-file metadata (its ``config_data``): what the description states wins
    over what BluePyEfe would find in the current, as in BluePyEfe."""
    out = {"filepath": key, "ljp": options.ljp_mV, "i_unit": "nA", "v_unit": "mV",
           "t_unit": "ms", "dt": sweep.dt_ms}
    if sweep.delay_ms is not None:
        out["ton"] = sweep.delay_ms
        out["toff"] = sweep.delay_ms + sweep.duration_ms
    if sweep.amp_nA is not None:
        out["amp"] = sweep.amp_nA
    if sweep.holding_nA is not None:
        out["hypamp"] = sweep.holding_nA
    return out


def _reader_data(sweep) -> dict:
    return {"voltage": sweep.voltage_mV, "current": sweep.current_nA, "dt": sweep.dt_ms,
            "id": sweep.label}


def _step_problems(sweep, rec):
    where = (sweep.source, f"sweep {sweep.name}" if sweep.name else "")
    found = sweep.delay_ms is None
    if found and (rec.ton == 0.0 and rec.toff == rec.tend):
        yield Problem(*where, "no current step found in the current trace; give "
                              "stimulus.delay_ms and duration_ms (and amp_nA if the current is "
                              "not recorded)")
    elif rec.amp is None or not math.isfinite(rec.amp) or \
            rec.hypamp is None or not math.isfinite(rec.hypamp):
        yield Problem(*where, f"the step amplitude cannot be measured (found amp {rec.amp!r} "
                              f"nA, holding {rec.hypamp!r} nA); give stimulus.amp_nA")


def _no_rheobase(recordings, options: TargetOptions) -> str:
    amps = ", ".join(f"{r.amp:.4g}" for _, r in sorted(recordings, key=lambda x: x[1].amp))
    return (f"amplitudes cannot be grouped relative to the rheobase: no sweep has a spike "
            f"(threshold {options.threshold_mV:g} mV; amplitudes {amps} nA); give "
            "grouping.rheobase_nA, or group with by: absolute")


def _amplitude(rec, relative: bool) -> float:
    return float(rec.amp_rel if relative else rec.amp)


def _unit(relative: bool) -> str:
    return "% of rheobase" if relative else "nA"


def _groups(recordings, options: TargetOptions, relative: bool, source: str):
    """``{target amplitude: [(sweep, recording)]}`` and the unused sweeps."""
    tol = options.tolerance
    groups: dict = {}
    unused = []
    if not options.amplitudes:
        for sweep, rec in sorted(recordings, key=lambda x: _amplitude(x[1], relative)):
            amp = _amplitude(rec, relative)
            if groups and amp - next(reversed(groups)) <= tol:
                groups[next(reversed(groups))].append((sweep, rec))
            else:
                groups[amp] = [(sweep, rec)]
        return {float(np.mean([_amplitude(r, relative) for _, r in members])): members
                for members in groups.values()}, unused
    problems = []
    groups = {t: [] for t in options.amplitudes}
    for sweep, rec in recordings:
        hits = [t for t in options.amplitudes if rec.in_target(t, tol, not relative)]
        amp = _amplitude(rec, relative)
        if len(hits) > 1:
            problems.append(Problem(sweep.source, f"sweep {sweep.name}" if sweep.name else "",
                                    f"amplitude {amp:.4g} {_unit(relative)} is within "
                                    f"{tol:g} of targets {', '.join(f'{h:g}' for h in hits)}; "
                                    "amplitudes cannot be grouped: lower grouping.tolerance"))
        elif hits:
            groups[hits[0]].append((sweep, rec))
        else:
            unused.append((sweep.label, f"amplitude {amp:.4g} {_unit(relative)} is not within "
                                        f"{tol:g} of any target"))
    found = ", ".join(f"{a:.4g}" for a in sorted(_amplitude(r, relative) for _, r in recordings))
    for target, members in groups.items():
        if not members:
            problems.append(Problem(source, "grouping.amplitudes", f"no sweep within {tol:g} of "
                                    f"{target:g} {_unit(relative)} (the sweeps have {found}); "
                                    "amplitudes cannot be grouped: remove the target or add "
                                    "recordings"))
    _raise(problems)
    return groups, unused


def protocol_name(prefix: str, target: float, relative: bool) -> str:
    """``IDrest_150`` (percent of rheobase, as BluePyEfe names it) or ``IDrest_290pA``: a name
    without a dot, which cellsweep's parameter names would split."""
    if relative:
        return f"{prefix}_{round(target)}"
    pa = round(target * 1000)
    return f"{prefix}_{'m' if pa < 0 else ''}{abs(pa)}pA"


def _ms(value) -> float:
    """A time from BluePyEfe (sample index times dt, so 100.00000000000142): to 1e-6 ms."""
    return round(float(value), 6)


def _summarise(groups, cell, options: TargetOptions, relative: bool, settings: dict):
    from bluepyefe.protocol import Protocol
    from bluepyefe.target import EFeatureTarget

    protocols, features, missing, names = [], [], [], set()
    for target, members in groups.items():
        name = protocol_name(options.protocol, target, relative)
        if name in names:                 # two automatic groups rounding to one name
            name = f"{name}_{len(names)}"
        names.add(name)
        efel_targets = [EFeatureTarget(f, f, BLUEPYEFE_PROTOCOL, target, options.tolerance,
                                       dict(settings)) for f in options.features]
        group = Protocol(name=BLUEPYEFE_PROTOCOL, amplitude=target, tolerance=options.tolerance,
                         feature_targets=efel_targets,
                         global_rheobase=cell.rheobase if relative else None)
        for _, rec in members:
            group.append(rec)
        ecode = group.ecode
        protocols.append(ProtocolTarget(
            name=name, amplitude=float(target), amp_nA=float(ecode.amp),
            holding_nA=float(ecode.hypamp), delay_ms=_ms(ecode.ton),
            duration_ms=_ms(ecode.toff - ecode.ton), tstop_ms=_ms(ecode.tend),
            sweeps=tuple(s.label for s, _ in members)))
        for t in efel_targets:
            if t.sample_size == 0:
                missing.append((name, t.efel_feature_name))
                continue
            mean, std = t.as_dict(default_std_value=options.single_sweep_std)["val"]
            features.append(FeatureTarget(protocol=name, efel=t.efel_feature_name,
                                          mean=float(mean), std=float(std), n=t.sample_size))
    return protocols, features, missing
