"""What a shape plot colours every segment by: a variable at a time of a protocol, or a
parameter's value as ``apply`` put it on the cell.

A variable's values come from the very run an evaluation makes: the protocol is evaluated
(``cells.evaluate``: same cell, same parameters, same stimuli, integrator and rxd objects) with
one more recording per segment (``v``, ``ina``, ``ihcn_ih``, ``cai``, ... or an rxd species
``ca`` / ``ca[cyt]``), and every trace is read at the time by ``np.interp``. Recordings do
not change the integrator's steps, so a segment holding one of the protocol's own recordings
gets that recording's value at the time, bit for bit. The cost is memory: 8 bytes per segment
and recorded step (the example cell: 278 segments x 5927 steps, 13 MB).

A parameter's values are read back from NEURON on the segments the parameter sets
(``NeuronCell.parameter_segments``): a distribution along the tree shows as NEURON holds it.
Segments where the variable does not exist (a channel not inserted there) or that the
parameter does not set are NaN.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from cellsweep.cells import spec as S
from cellsweep.cells.errors import ConfigError, SimulationError
from cellsweep.cells.shape_geometry import CellShape, cell_segments, cell_shape

PER_SEGMENT_KINDS = ("range", "section")
_PREFIX = "shape:"                       # names of the per-segment recordings


@dataclass(frozen=True)
class ShapeRequest:
    """A variable (default ``v``) at ``time_ms`` of ``protocol`` (defaults: the model's first
    protocol, at its end), or, with ``parameter`` set, that parameter's values."""

    variable: str = "v"
    protocol: str = ""
    time_ms: float | None = None
    parameter: str = ""
    times_ms: tuple = ()         # several times (an animation, small multiples): time_ms unused


@dataclass
class ShapeValues:
    shape: CellShape
    values: np.ndarray            # one per segment of ``shape``; NaN where it has none
    name: str                     # the variable or parameter
    units: str
    title: str
    times: tuple = ()             # with several times: one row of ``frames`` per time
    frames: np.ndarray | None = None     # (times, segments); ``values`` is its first row

    @property
    def label(self) -> str:
        return f"{self.name} ({self.units})" if self.units else self.name


def completed(model: S.ModelSpec, request: ShapeRequest) -> ShapeRequest:
    """The request with its defaults filled in (first protocol, its end)."""
    if request.parameter:
        return request
    protocol = request.protocol or (model.protocols[0].name if model.protocols else "")
    time = request.time_ms
    if request.times_ms:
        time = request.times_ms[0]
    elif time is None and model.protocol(protocol) is not None:
        time = model.protocol(protocol).tstop_ms
    return dataclasses.replace(request, protocol=protocol, time_ms=time)


def request_problems(model: S.ModelSpec, request: ShapeRequest) -> list[str]:
    """What is wrong with a (completed) request, found without NEURON: one line per problem."""
    out = []
    if request.parameter:
        p = model.parameter(request.parameter)
        per_segment = [q.name for q in model.parameters if q.kind in PER_SEGMENT_KINDS]
        if p is None:
            out.append(f"--parameter {request.parameter}: not a parameter of {model.source}; "
                       f"expected one of {', '.join(per_segment)}")
        elif p.kind not in PER_SEGMENT_KINDS:
            out.append(f"--parameter {request.parameter}: a {p.kind} parameter has no value per "
                       f"segment; expected one of {', '.join(per_segment)}")
        return out
    protocol = model.protocol(request.protocol)
    if protocol is None and not model.protocols:
        out.append(f"--variable {request.variable}: {model.source} has no protocols to run; "
                   "expected --parameter NAME, or a config with a protocol")
    elif protocol is None:
        names = ", ".join(p.name for p in model.protocols)
        out.append(f"--protocol {request.protocol}: no such protocol in {model.source}; "
                   f"expected one of {names}")
    elif request.times_ms:
        bad = [t for t in request.times_ms if not 0.0 <= t <= protocol.tstop_ms]
        if bad:
            out.append(f"--time: {len(bad)} of the {len(request.times_ms)} times ({bad[0]:g} "
                       f"ms{' ...' if len(bad) > 1 else ''}) outside protocol {protocol.name} "
                       f"(0 to {protocol.tstop_ms:g} ms); expected times within it")
    elif request.time_ms is None or not math.isfinite(request.time_ms) \
            or not 0.0 <= request.time_ms <= protocol.tstop_ms:
        out.append(f"--time {_text(request.time_ms)}: outside protocol {protocol.name} (0 to "
                   f"{protocol.tstop_ms:g} ms); expected a time within it")
    species, problem = _species(model, request.variable)
    if problem:
        out.append(problem)
    return out


def _species(model: S.ModelSpec, variable: str):
    """``(species, rxd region)`` for an rxd variable (``ca`` or ``ca[cyt]``), ``(None, "")``
    for a NEURON variable, ``(None, problem)`` for a bad rxd one."""
    spec = model.rxd
    name, _, where = variable.partition("[")
    where = where.rstrip("]")
    found = next((s for s in spec.species if s.name == name), None) if spec else None
    if found is None:
        return None, ""
    ecs = spec.extracellular.name if spec.extracellular else None
    on_cell = [r for r in found.regions if r != ecs]
    if where:
        if where not in found.regions:
            return None, (f"--variable {variable}: species {name} is not in rxd region {where}; "
                          f"it lives in {', '.join(found.regions)}")
        if where == ecs:
            return None, (f"--variable {variable}: the extracellular space is not on the "
                          f"cell's segments; expected a region on the cell "
                          f"({', '.join(on_cell) or 'none'})")
        return (found, where), ""
    if not on_cell:
        return None, (f"--variable {variable}: species {name} lives only in the extracellular "
                      f"space ({ecs}), which is not on the cell's segments; expected a species "
                      "in a region on the cell")
    if len(on_cell) > 1:
        return None, (f"--variable {variable}: species {name} is in {len(on_cell)} regions on "
                      f"the cell; expected one of {', '.join(f'{name}[{r}]' for r in on_cell)}")
    return (found, on_cell[0]), ""


def shape_values(model: S.ModelSpec, params: dict, request: ShapeRequest) -> ShapeValues:
    """The cell's segments and the values to colour them by (``request`` completed and free of
    ``request_problems``). Raises ConfigError for a variable that exists nowhere on the cell
    (before simulating), SimulationError when the evaluation fails."""
    from cellsweep.cells.evaluate import current_cell

    _evaluated(model, (), params, traces=False)     # the cell, parameterised: no simulation
    cell = current_cell()
    shape = cell_shape(cell)
    segments = cell_segments(cell)
    if request.parameter:
        return _parameter_values(model, cell, shape, segments, request.parameter, params)
    protocol = model.protocol(request.protocol)
    species, _ = _species(model, request.variable)
    if species is not None:
        found, region = species
        on = {sec for r in model.rxd.regions if r.name == region
              for sec in cell.regions[r.cell_region]}
        rows = [i for i, seg in enumerate(segments) if seg.sec in on]
        units = "mM"
        recording = [S.Recording(name=f"{_PREFIX}{i}", location=_location(shape, i),
                                 variable="concentration", species=found.name, rxd_region=region)
                     for i in rows]
    else:
        rows = [i for i, seg in enumerate(segments) if _exists(seg, request.variable)]
        if not rows:
            raise ConfigError([f"--variable {request.variable}: not on any segment of "
                               f"{model.cell.name}; variables there: "
                               f"{', '.join(variable_names(model, segments))}"])
        units = _mechanisms(model).units_of(request.variable)
        recording = [S.Recording(name=f"{_PREFIX}{i}", location=_location(shape, i),
                                 variable=request.variable) for i in rows]
    run = dataclasses.replace(protocol, recordings=protocol.recordings + tuple(recording))
    traces = _evaluated(model, (run,), params, traces=True)[protocol.name]
    times = request.times_ms or (request.time_ms,)
    frames = np.full((len(times), len(shape)), np.nan)
    for i in rows:
        t, trace = traces[f"{_PREFIX}{i}"]
        frames[:, i] = np.interp(times, t, trace)     # the same interpolation, per time
    if not request.times_ms:
        return ShapeValues(shape, frames[0], request.variable, units,
                           f"{model.cell.name}: {request.variable} at {request.time_ms:g} ms of "
                           f"{protocol.name}" + _given(params))
    return ShapeValues(shape, frames[0], request.variable, units,
                       f"{model.cell.name}: {request.variable} from {times[0]:g} to "
                       f"{times[-1]:g} ms of {protocol.name}" + _given(params),
                       times=tuple(times), frames=frames)


def _evaluated(model: S.ModelSpec, protocols: tuple, params: dict, traces: bool):
    """``protocols`` evaluated as an evaluation runs them (no features, no profile)."""
    from cellsweep.cells.evaluate import evaluate

    run = dataclasses.replace(model, protocols=protocols, features=(), experiments=())
    result = evaluate(run, params, traces=traces)
    if result.status != "ok":
        raise SimulationError(f"the evaluation failed ({result.status}): {result.message}")
    return result.traces


def _location(shape: CellShape, i: int) -> S.Location:
    return S.Location(kind="section", section=shape.section[i], x=float(shape.x[i]))


def _exists(seg, variable: str) -> bool:
    try:
        getattr(seg, f"_ref_{variable}")
    except (AttributeError, NameError):
        return False
    return True


def _mechanisms(model: S.ModelSpec):
    from cellsweep.cells.mechanisms import read_mechanism_set

    return read_mechanism_set(model.cell.mechanisms_dir)


def variable_names(model: S.ModelSpec, segments) -> list[str]:
    """The variables a shape plot can show on this cell: v, every range variable of the
    mechanisms that exists on some segment, and the rxd species on the cell."""
    candidates = ["v"] + sorted(_mechanisms(model).range_variables())
    out = [name for name in candidates if any(_exists(seg, name) for seg in segments)]
    if model.rxd is not None:
        ecs = model.rxd.extracellular.name if model.rxd.extracellular else None
        for s in model.rxd.species:
            on_cell = [r for r in s.regions if r != ecs]
            out += [s.name] if len(on_cell) == 1 else [f"{s.name}[{r}]" for r in on_cell]
    return out


def _given(params: dict, shown: int = 4) -> str:
    """The parameter set in a title: the values given (others are the defaults)."""
    if not params:
        return ""
    items = [f"{k}={v:g}" for k, v in params.items()]
    return " (" + ", ".join(items[:shown]) + (", ..." if len(items) > shown else "") + ")"


def _parameter_values(model, cell, shape, segments, name: str, params: dict) -> ShapeValues:
    p = model.parameter(name)
    row = {(seg.sec, seg.x): i for i, seg in enumerate(segments)}
    values = np.full(len(shape), np.nan)
    for seg in cell.parameter_segments(p):
        values[row[(seg.sec, seg.x)]] = getattr(seg.sec if p.kind == "section" else seg,
                                                p.variable)
    how = f", distribution {p.distribution}" if p.distribution else ""
    return ShapeValues(shape, values, name, p.units,
                       f"{model.cell.name}: parameter {name}{how}" + _given(params))


def _text(number) -> str:
    return "(none)" if number is None else f"{number:g}"
