"""Features of any recorded trace (concentrations above all), beside eFEL's voltage features.

eFEL measures spikes and voltage; an rxd concentration needs simpler measures of one trace:
its value at a time, its maximum and when, its mean over a window, its steady state (the mean
over the last ``last_ms``), and when it first reaches a fraction of its maximum. Each is one
number, scored like an eFEL feature (``|value - mean| / std``).
"""

from __future__ import annotations

import numpy as np

from cellsweep.cells import spec as S
from cellsweep.cells.mechanisms import BUILTIN_UNITS
from cellsweep.cells.feature_refs import protocol_and_recording
from cellsweep.cells.schema import Section, quote
from cellsweep.cells.stimuli_config import read_window

# measure -> (units: "trace" = the recording's own, "ms"), its settings
MEASURES = {"value_at": ("trace", ("at_ms",)), "max": ("trace", ()), "min": ("trace", ()),
            "time_of_max": ("ms", ()), "mean": ("trace", ()),
            "steady_state": ("trace", ("last_ms",)), "time_to_fraction": ("ms", ("fraction",))}


def read_trace_feature(f: Section, protocols, names: set, declared=()) -> S.Feature | None:
    """``- {protocol: p, recording: r, trace: max, mean: .., std: ..}``; None on problems."""
    measure = f.string("trace", choices=tuple(MEASURES))
    protocol, proto_name, recording = protocol_and_recording(f, protocols, declared)
    tstop = protocol.tstop_ms if protocol is not None else None
    window = f.raw("window_ms", None)
    window = (0.0, tstop or 1.0) if window is None else \
        read_window(window, f.key_path("window_ms"), f.problems)
    if window is not None and tstop is not None and window[1] > tstop:
        f.error("window_ms", f"window end {window[1]:g} ms is after the end of protocol "
                             f"{quote(proto_name)} ({tstop:g} ms)")
    settings, at = [], None
    wanted = MEASURES[measure][1] if measure else ()
    if "at_ms" in wanted:
        at = f.number("at_ms", ge=0, le=tstop)
    if "last_ms" in wanted:
        settings.append(("last_ms", f.number("last_ms", 10.0, gt=0)))
    if "fraction" in wanted:
        settings.append(("fraction", f.number("fraction", 0.5, gt=0, le=1)))
    mean, std = f.number("mean"), f.number("std", gt=0)
    weight = f.number("weight", 1.0, ge=0)
    name = f.string("name", None) or f"{proto_name}.{recording}.{measure}"
    if name in names:
        f.error("name", f"feature name {quote(name)} is used twice; give one of them a distinct "
                        "'name'")
    names.add(name)
    f.finish()
    if None in (measure, protocol, mean, std, window, weight) or None in dict(settings).values() \
            or ("at_ms" in wanted and at is None):
        return None
    rec = next(r for r in protocol.recordings if r.name == recording)
    units = "ms" if MEASURES[measure][0] == "ms" else \
        "mM" if rec.species else BUILTIN_UNITS.get(rec.variable, "")
    return S.Feature(name=name, protocol=proto_name, recording=recording, efel="", mean=mean,
                     std=std, window_ms=window, settings=tuple(settings), weight=weight,
                     at=at, trace=measure, units=units)


def compute(features, responses: dict) -> dict:
    """Raw values of the trace features: ``{name: 1-element array, or None if undefined}``."""
    out = {}
    for f in features:
        if f.trace:
            t, v = responses[f.protocol][f.recording]
            value = measure(f.trace, np.asarray(t), np.asarray(v), f.window_ms, f.at,
                            dict(f.settings))
            out[f.name] = None if value is None else np.asarray([value])
    return out


def measure(kind: str, t, v, window, at=None, settings=None) -> float | None:
    """One measure of a trace (``t`` ms, ``v`` any units) within ``window`` (start, end) ms.

    ``value_at``: linear interpolation at ``at`` (rxd traces are sampled at every step, so
    this is the value NEURON computed there or between two of its steps); ``time_of_max``:
    the first sample of the maximum; ``time_to_fraction``: the first time, from the window's
    start, at which the trace reaches ``fraction`` of its maximum in the window (linearly
    interpolated between samples); ``steady_state``: the mean of the last ``last_ms`` of the
    window. Means are of the samples (time-weighted: trapezoids), so CVode's uneven steps
    count by their length."""
    settings = settings or {}
    if kind == "value_at":
        return float(np.interp(at, t, v))
    start, end = window
    if kind == "steady_state":
        start = max(start, end - settings.get("last_ms", 10.0))
    keep = (t >= start) & (t <= end)
    if not keep.any():
        return None
    tw, vw = t[keep], v[keep]
    if kind == "max":
        return float(vw.max())
    if kind == "min":
        return float(vw.min())
    if kind == "time_of_max":
        return float(tw[int(np.argmax(vw))])
    if kind in ("mean", "steady_state"):
        if tw.size == 1 or tw[-1] == tw[0]:
            return float(vw.mean())
        return float(np.trapezoid(vw, tw) / (tw[-1] - tw[0]))
    if kind == "time_to_fraction":
        level = settings.get("fraction", 0.5) * vw.max()
        i = int(np.argmax(vw >= level))
        if i == 0:
            return float(tw[0] - start)
        t0, t1, v0, v1 = tw[i - 1], tw[i], vw[i - 1], vw[i]
        return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0) - start)
    raise ValueError(f"unknown trace measure {kind!r}")
