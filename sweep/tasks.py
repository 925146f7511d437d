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

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.model.features]

    def __call__(self, task: dict) -> EvaluationRecord:
        result = evaluate(self.model, task["params"], traces=self.trace_dt_ms is not None)
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
        return record

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

