"""What a worker process runs: one point of a campaign in, one journal record out.

``PointEvaluator`` is sent (pickled) once to every evaluation process; tasks are small dicts
``{"id", "params", "attempt"}``. It is also used by the coordinator, without NEURON, to write the
record of an evaluation whose process crashed or timed out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cellsweep.cells.evaluate import evaluate
from cellsweep.cells.spec import ModelSpec
from cellsweep.sweep.batch import EvaluationRecord


@dataclass(frozen=True)
class PointEvaluator:
    model: ModelSpec
    param_names: tuple                 # the columns of the results file, in order
    trace_dt_ms: float | None = None   # keep traces resampled at this step (None: no traces)
    curves: str = "small"              # profile curves kept per row: none | small | all

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.model.features]

    def __call__(self, task: dict) -> EvaluationRecord:
        return self.record(task, evaluate(self.model, task["params"],
                                          traces=self.trace_dt_ms is not None))

    def record(self, task: dict, result) -> EvaluationRecord:
        """The journal record of an ``Evaluation`` of ``task``."""
        record = {
            "id": task["id"], "attempt": task.get("attempt", 1), "status": result.status,
            "message": result.message[:2000],
            "params": [task["params"].get(n, math.nan) for n in self.param_names],
            "features": [result.features.get(n, math.nan) for n in self.feature_names],
            "scores": [result.scores.get(n, math.nan) for n in self.feature_names],
            "timings": {k: round(v, 9) for k, v in result.timings.items()},
            "nseg": int(result.nseg.get("all", -1)),
        }
        if self.trace_dt_ms is not None and result.traces:
            record["traces"] = self._resampled(result.traces)
        kept = {f"curve:{name}": np.asarray(result.curves[name], dtype="<f4")
                for name, *_ in self.curve_layout() if name in result.curves}
        if kept:
            record.setdefault("traces", {}).update(kept)
        return record

    def curve_layout(self) -> list[tuple]:
        """(name, x label, x, x units, units) of the profile curves each row keeps: those of
        at most ``SMALL_CURVE`` points ("small", a sweep's default), all, or none."""
        if self.curves == "none" or not self.model.experiments:
            return []
        from cellsweep.cells.profile_run import SMALL_CURVE, curve_layout

        return [c for exp in self.model.experiments for c in curve_layout(exp)
                if self.curves == "all" or len(c[2]) <= SMALL_CURVE]

    def failure_record(self, task: dict, status: str, message: str) -> EvaluationRecord:
        """The record of a task whose process died or ran out of time (no NEURON needed)."""
        penalty = self.model.scoring.missing_penalty
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": status,
                "message": message, "features": [math.nan] * len(self.feature_names),
                "params": [task["params"].get(n, math.nan) for n in self.param_names],
                "scores": [penalty] * len(self.feature_names), "timings": {}, "nseg": -1}

    def trace_layout(self) -> list[tuple]:
        """(protocol, recording, samples, dt_ms) of each stored trace."""
        if self.trace_dt_ms is None:
            return []
        return [(p.name, r.name, int(math.floor(p.tstop_ms / self.trace_dt_ms)) + 1,
                 self.trace_dt_ms) for p in self.model.protocols for r in p.recordings]

    def _resampled(self, traces: dict) -> dict:
        out = {}
        for protocol, recording, samples, dt in self.trace_layout():
            t, v = traces[protocol][recording]
            grid = np.arange(samples) * dt
            out[f"{protocol}.{recording}"] = np.interp(grid, t, v).astype("<f4")
        return out

