"""One evaluation: a parameter mapping in, feature values, scores, status and timings out.

This is the unit of work every sweep and optimisation repeats. Inputs and outputs are plain,
picklable data. The NEURON cell is built once per process (per model) and re-parameterised;
global NEURON state is reset before every protocol, and a failure becomes a status with its
reason instead of an exception:

- ``ok``: simulated; features computed (a feature eFEL cannot compute is *missing*: NaN value,
  penalty score, listed in ``missing``)
- ``nan``: a recorded trace had non-finite samples (NEURON and eFEL do not raise on those)
- ``error``: a Python or hoc exception; ``message`` holds its type and text
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np

from cellsweep.cells import features as F
from cellsweep.cells import spec as S
from cellsweep.cells import trace_features
from cellsweep.cells.neuron_cell import NeuronCell
from cellsweep.cells.errors import TraceNotFinite
from cellsweep.cells.protocols import run_protocol

STATUSES = ("ok", "nan", "error")


@dataclass
class Evaluation:
    params: dict
    status: str = "ok"
    message: str = ""
    features: dict = field(default_factory=dict)    # name -> float, NaN when missing
    scores: dict = field(default_factory=dict)      # name -> float (penalty when missing)
    missing: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)     # seconds: build, parameters, simulate, ...
    nseg: dict = field(default_factory=dict)        # region -> number of segments
    traces: dict | None = None                      # protocol -> recording -> (t, values)
    curves: dict = field(default_factory=dict)      # profile curves: name -> array

    @property
    def total_score(self) -> float:
        return float(sum(self.scores.values()))


class _Worker:
    """The per-process state for one model: its cell and its feature grouping."""

    def __init__(self, model: S.ModelSpec):
        self.model = model
        self.cell = NeuronCell(model)
        self.groups = F.feature_groups(model.features)
        self.section_count = _live_sections(self.cell.h)
        self._features = model.features
        foreign = self.section_count - self.cell.section_count()
        if foreign:
            # every section in the process is simulated: others would change the results
            raise RuntimeError(f"{foreign} NEURON section(s) that do not belong to the cell "
                               "exist in this process; evaluate in a clean process")

    def use(self, model: S.ModelSpec) -> None:
        """Evaluate ``model`` (same cell) from now on: its features' eFEL grouping."""
        self.model = model
        if model.features != self._features:
            self.groups, self._features = F.feature_groups(model.features), model.features


_current: _Worker | None = None      # one model per process: never simulate another's sections


def _same_cell(a: S.ModelSpec, b: S.ModelSpec) -> bool:
    """Models that build the same cell (they may differ in protocols, features and profile
    experiments: a profile run evaluates one experiment per task on one cell)."""
    return (a.cell == b.cell and a.parameters == b.parameters and a.source == b.source)


def _live_sections(h) -> int:
    return sum(1 for _ in h.allsec())


def _worker(model: S.ModelSpec, fresh: bool) -> tuple[_Worker, float]:
    global _current
    if not fresh and _current is not None and (_current.model is model
                                               or _same_cell(_current.model, model)):
        _current.use(model)
        return _current, 0.0
    drop_cells()              # the old cell must be gone before the new one counts sections
    start = time.perf_counter()
    _current = _Worker(model)
    return _current, time.perf_counter() - start


def current_cell():
    """The NEURON cell this process evaluates on (None before the first evaluation); for tools
    that measure or export exactly what an evaluation ran."""
    return _current.cell if _current is not None else None


def drop_cells() -> None:
    """Forget the built cell (its sections are freed with the last reference)."""
    global _current
    _current = None


def full_values(model: S.ModelSpec, params: dict) -> dict:
    """Defaults of every declared parameter, overridden by ``params``; unknown names raise."""
    values = model.default_values()
    unknown = [k for k in params if k not in values]
    if unknown:
        raise KeyError(f"parameter(s) {', '.join(map(repr, unknown))} are not declared in "
                       f"{model.source}; declared: {', '.join(values)}")
    values.update({k: float(v) for k, v in params.items()})
    unset = [k for k, v in values.items() if v is None]
    if unset:
        raise KeyError(f"parameter(s) {', '.join(unset)} have no default value; give them one")
    return values


def evaluate(model: S.ModelSpec, params: dict, *, traces: bool = False,
             fresh: bool = False) -> Evaluation:
    """Evaluate one parameter set; never raises for a bad parameter set."""
    start = time.perf_counter()
    result = Evaluation(params=dict(params))
    timings = result.timings = {"build": 0.0, "parameters": 0.0, "simulate": 0.0, "features": 0.0}
    try:
        values = full_values(model, params)
        bad = sorted(k for k, v in values.items() if not math.isfinite(v))
        if bad:
            raise _NotFinite(f"parameter(s) {', '.join(bad)} are not finite; not simulated")
        worker, timings["build"] = _worker(model, fresh)
        cell = worker.cell
        mark = time.perf_counter()
        cell.apply(values)
        result.nseg = cell.nseg_by_region()
        timings["parameters"] = time.perf_counter() - mark
        rxd = _rxd_model(cell, model, values)   # alive for the protocols and experiments
        try:
            with _compiling_aside() if rxd is not None else contextlib.nullcontext():
                _simulate_and_measure(cell, model, values, rxd, worker, result, traces, timings)
        finally:
            if rxd is not None:
                rxd.close()
        leaked = _live_sections(cell.h) - worker.section_count
        if leaked:
            drop_cells()
            raise RuntimeError(f"{leaked} NEURON section(s) leaked during the evaluation")
    except (_NotFinite, TraceNotFinite) as exc:
        result.status, result.message = "nan", str(exc)
    except Exception as exc:  # noqa: BLE001 - every failure of a parameter set is data
        result.status = "error"
        result.message = f"{type(exc).__name__}: {exc}".strip()
    if result.status != "ok":
        result.features = {f.name: math.nan for f in model.features}
        result.scores = {f.name: model.scoring.missing_penalty for f in model.features}
        result.missing = [f.name for f in model.features]
    timings["total"] = time.perf_counter() - start
    timings["overhead"] = timings["total"] - sum(timings[k] for k in
                                                 ("build", "parameters", "simulate", "features"))
    return result



def _simulate_and_measure(cell, model: S.ModelSpec, values: dict, rxd, worker, result,
                          traces: bool, timings: dict) -> None:
    """Every protocol, then the features (and profile experiments) into ``result``; a trace
    that is not finite makes the status ``nan``."""
    mark = time.perf_counter()
    responses = {p.name: run_protocol(cell, p, values, model.simulation, rxd=rxd)
                 for p in model.protocols}
    timings["simulate"] = time.perf_counter() - mark
    if traces:
        result.traces = responses
    bad = _non_finite(responses)
    if bad:
        result.status, result.message = "nan", bad
    else:
        mark = time.perf_counter()
        raw = F.compute(worker.groups, responses)
        raw.update(trace_features.compute(model.features, responses))
        timings["features"] = time.perf_counter() - mark
        if model.experiments:
            from cellsweep.cells.profile_run import run_experiments

            mark = time.perf_counter()
            measured, result.curves = run_experiments(cell, model, values)
            raw.update({k: np.asarray([v]) for k, v in measured.items()})
            timings["simulate"] += time.perf_counter() - mark
        result.features, result.scores, result.missing = F.summarise(model.features, raw,
                                                                     model.scoring)


def _compiling_aside():
    from cellsweep.cells.rxd_model import compiling_aside

    return compiling_aside()


def _rxd_model(cell, model: S.ModelSpec, values: dict):
    """An rxd model's objects, built with this evaluation's numbers (removed by the caller after
    its protocols and profile experiments; ``cells.rxd_model`` says why); None without rxd."""
    if model.rxd is None:
        return None
    from cellsweep.cells.rxd_config import with_values
    from cellsweep.cells.rxd_model import RxdModel

    return RxdModel(cell, with_values(model.rxd, model.parameters, values))


class _NotFinite(ValueError):
    """A parameter value is NaN or infinite."""


def _non_finite(responses: dict) -> str:
    for protocol, recs in responses.items():
        for name, (t, v) in recs.items():
            bad = ~np.isfinite(v)
            if bad.any():
                first = float(t[np.argmax(bad)]) if len(t) == len(v) else float("nan")
                return (f"{protocol}.{name}: {int(bad.sum())} of {v.size} samples are not finite "
                        f"(first at t={first:g} ms)")
    return ""
