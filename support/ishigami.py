"""The Ishigami function as an evaluator (no NEURON): a sensitivity design's known answer.

f(x) = sin x1 + a sin² x2 + b x3⁴ sin x1 over [-π, π]³, here reached from any three parameters
by mapping each one's bounds linearly onto [-π, π] (Sobol' indices do not change under such a
map). With a = 7, b = 0.1: S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437; S13 = 0.2437.
The first three of the file's parameter columns are x1, x2, x3; further columns are ignored by
f (their indices are exactly zero). Every feature is f; ``fail`` makes the points whose first
parameter's unit value lies in a band fail (status ``error``, NaN features), as an evaluation
that cannot compute its features would. ``run_ishigami`` runs a sweep config through the
engine with this evaluator in place of NEURON.
"""

import math
from dataclasses import dataclass

A, B = 7.0, 0.1


def ishigami(x1: float, x2: float, x3: float, a: float = A, b: float = B) -> float:
    return math.sin(x1) + a * math.sin(x2) ** 2 + b * x3 ** 4 * math.sin(x1)


def analytic(a: float = A, b: float = B) -> dict:
    """The analytic indices: {"S1": [...], "ST": [...], "S13": ...}."""
    pi = math.pi
    v1 = 0.5 * (1 + b * pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * pi ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": [v1 / v, v2 / v, 0.0], "ST": [(v1 + v13) / v, v2 / v, v13 / v], "S13": v13 / v}


@dataclass(frozen=True)
class IshigamiEvaluator:
    param_names: tuple            # the file's parameter columns; the first three are x1..x3
    bounds: tuple                 # ((low, high), ...) of each, mapped onto [-pi, pi]
    feature_names: tuple          # the file's features: each gets f
    fail: tuple = ()              # (low, high) of the first parameter's unit value that fails

    def _unit(self, params) -> list[float]:
        return [(params[n] - lo) / (hi - lo)
                for n, (lo, hi) in list(zip(self.param_names, self.bounds))[:3]]

    def __call__(self, task):
        params = task["params"]
        u = self._unit(params)
        record = {"id": task["id"], "attempt": task.get("attempt", 1), "status": "ok",
                  "message": "", "params": [params[n] for n in self.param_names],
                  "timings": {"total": 0.0}, "nseg": 1}
        if self.fail and self.fail[0] <= u[0] < self.fail[1]:
            n = len(self.feature_names)
            return {**record, "status": "error", "message": "ishigami: failed on purpose",
                    "features": [math.nan] * n, "scores": [250.0] * n}
        y = ishigami(*(-math.pi + 2 * math.pi * v for v in u))
        n = len(self.feature_names)
        return {**record, "features": [y] * n, "scores": [abs(y)] * n}

    def trace_layout(self):           # what a sweep's store asks of its evaluator
        return []

    def curve_layout(self):
        return []

    def failure_record(self, task, status, message):
        n = len(self.feature_names)
        return {"id": task["id"], "attempt": task.get("attempt", 1), "status": status,
                "message": message, "params": [task["params"][p] for p in self.param_names],
                "features": [math.nan] * n, "scores": [250.0] * n, "timings": {}, "nseg": -1}


class _StopAfter:
    """A progress reporter that stops the campaign (as SIGTERM would) after ``n`` results."""

    def __init__(self, stop, n: int):
        self.stop, self.n, self.seen = stop, n, 0

    def start(self, **_counts):
        pass

    def update(self, batch):
        self.seen += len(batch)
        if self.seen >= self.n:
            self.stop.set("SIGTERM")

    def close(self):
        pass


def run_ishigami(config, output, workers: int | None = None, fail=(), restart: bool = True,
                 stop_after: int | None = None):
    """Run the sweep of ``config`` into ``output`` through the engine (the sweep kind's
    prepare, open_store and run, serially or on ``workers`` supervised processes), with
    ``IshigamiEvaluator`` evaluating the points; ``stop_after``: stop (as SIGTERM does) after
    that many results, leaving the journal for a resume (``restart=False``). Returns the
    ``Summary`` (None when the file was already complete)."""
    import dataclasses

    from cellsweep.launch.backends import ProcessExecutor, SerialExecutor, StopFlag
    from cellsweep.launch.supervisor import Limits
    from cellsweep.sweep import campaign

    plan = campaign.prepare(config, output=output)
    free = {p.name: p for p in plan.model.free_parameters}      # the bounds mapped to [-pi, pi]
    evaluator = IshigamiEvaluator(
        tuple(plan.sweep.names), tuple((free[n].low, free[n].high) for n in plan.sweep.names),
        tuple(f.name for f in plan.model.features), tuple(fail))
    plan = dataclasses.replace(plan, evaluator=evaluator)
    store = campaign.open_store(plan, restart=restart)
    if store is None:
        return None
    stop = StopFlag()
    executor = (SerialExecutor(evaluator, Limits(), stop) if workers is None else
                ProcessExecutor(evaluator, Limits(recycle_after=10**9), stop, workers=workers))
    try:
        progress = None if stop_after is None else _StopAfter(stop, stop_after)
        return campaign.run(plan, executor, stop, store, progress)
    finally:
        executor.close()
