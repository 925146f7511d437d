"""Results files without NEURON, for the report's tests and benchmark: an evaluator whose
features are smooth functions of its parameters and which fails now and then, and a writer
that puts its records into a real results file through the store (``sweep.store``), with the
workers and times the caller chooses."""

import math
import time

import numpy as np

FAILURES = {97: ("error", "injected error: the mechanism raised"),
            211: ("nan", "features not finite: AP_height"),
            503: ("timeout", "no result within 10 s (killed)")}


class ResponseEvaluator:
    """Three features of the parameters (any number; the first three are used): a wave, a
    product and a sum of squares, scored against fixed targets. Point ``i`` fails when
    ``i % k == 1`` for a ``k`` of ``FAILURES`` (timeouts after a retry)."""

    feature_names = ["wave", "product", "squares"]
    feature_units = ["mV", "", "Hz"]
    targets = ((0.5, 0.25), (0.2, 0.1), (1.0, 0.5))

    def __init__(self, param_names=("a", "b", "c")):
        self.param_names = list(param_names)

    def features(self, p: list) -> list:
        a, b, c = (list(p) + [0.0, 0.0, 0.0])[:3]
        return [math.sin(3 * a) + 0.2 * b, a * b, a * a + c * c]

    def __call__(self, task):
        i = task["id"]
        p = [task["params"][n] for n in self.param_names]
        for k, (status, message) in FAILURES.items():
            if i % k == 1:
                return self.failure_record(task, status, message, attempt=2 if status ==
                                           "timeout" else task.get("attempt", 1))
        values = self.features(p)
        scores = [abs(v - m) / s for v, (m, s) in zip(values, self.targets)]
        return {"id": i, "attempt": task.get("attempt", 1), "status": "ok", "message": "",
                "params": p, "features": values, "scores": scores,
                "timings": {"total": 1e-4 * (1 + i % 7), "simulate": 8e-5}, "nseg": 1}

    def trace_layout(self):           # what a sweep's store asks of its evaluator
        return []

    def curve_layout(self):
        return []

    def failure_record(self, task, status, message, attempt=None):
        n = len(self.feature_names)
        return {"id": task["id"], "attempt": attempt or task.get("attempt", 1),
                "status": status, "message": message,
                "params": [task["params"][k] for k in self.param_names],
                "features": [math.nan] * n, "scores": [250.0] * n, "timings": {}, "nseg": -1}


def layout_and_campaign(points: np.ndarray, names, kind="sweep", design="random",
                        config_text="sweep: {design: random}\n", **layout):
    """A results file's ``Layout`` and ``Campaign`` for ``ResponseEvaluator`` over ``points``."""
    from cellsweep.sweep import engine
    from cellsweep.sweep import store as St

    ev = ResponseEvaluator(names)
    lay = St.Layout(kind=kind, param_names=tuple(names), param_units=("S/cm2",) * len(names),
                    feature_names=tuple(ev.feature_names), feature_units=tuple(ev.feature_units),
                    n_rows=len(points), **layout)
    camp = St.Campaign(config_text=config_text, signature="response-" + design,
                       signature_data={}, versions=engine.versions(),
                       mechanisms_hash="0" * 64, extra={"design": design})
    return lay, camp


def write_results(path, points: np.ndarray, names=("a", "b", "c"), workers: int = 2,
                  seconds: float = 0.01, design: str = "random", finish: bool = True,
                  upto: int | None = None, commit: bool = True, t0: float | None = None):
    """Evaluate ``points`` (rows of parameter values) with ``ResponseEvaluator`` and write the
    records into a real results file at ``path``, as workers ``0..workers-1`` taking turns,
    each evaluation ``seconds`` long, back to back. ``upto``: only the first that many points
    (a campaign still running: with ``finish`` False the store is returned open, its lock held
    and its journal beside the file; ``commit`` False leaves the last batch in the journal
    only)."""
    from cellsweep.sweep import store as St
    from cellsweep.sweep.batch import RecordBatch

    points = np.asarray(points, dtype=float)
    lay, camp = layout_and_campaign(points, names, design=design)
    store = St.ResultStore(path, lay, camp, points, commit_interval_s=3600.0, commit_rows=10**9,
                           lock=St.acquire_lock(path))
    store.open()
    ev = ResponseEvaluator(names)
    t0 = time.time() - 10.0 if t0 is None else t0
    n = len(points) if upto is None else upto
    step = 50_000
    for lo in range(0, n, step):
        records = []
        for i in range(lo, min(n, lo + step)):
            r = ev({"id": i, "params": dict(zip(names, points[i].tolist()))})
            w, turn = i % workers, i // workers
            r.update(worker=w, host="node-a" if w < 2 else "node-b",
                     t_start=t0 + turn * seconds, t_end=t0 + (turn + 1) * seconds)
            records.append(r)
        store.record(RecordBatch.from_records(records))
        if commit or lo + step < n:
            store.commit()
    if finish:
        store.finish(complete=n == len(points))
        return None
    return store


def run_sweep(config, output=None):
    """A real sweep campaign of ``config`` (its design, its store, the serial executor) with
    ``ResponseEvaluator`` in place of the cell: the file ``cellsweep run`` would write, in
    milliseconds. Returns the output path."""
    import dataclasses

    from cellsweep.launch.backends import SerialExecutor, StopFlag
    from cellsweep.launch.supervisor import Limits
    from cellsweep.sweep import campaign

    plan = campaign.prepare(config, output=output)
    plan = dataclasses.replace(plan, evaluator=ResponseEvaluator(plan.sweep.names))
    store = campaign.open_store(plan, restart=True)
    stop = StopFlag()
    campaign.run(plan, SerialExecutor(plan.evaluator, Limits(), stop), stop, store)
    return plan.run.output


def write_many(path, n: int, names=("a", "b", "c"), workers: int = 4, seconds: float = 0.01,
               period: int = 10_007, seed: int = 0):
    """A results file of ``n`` rows in seconds, for tests of very large files: the records of
    ``period`` random points (``ResponseEvaluator``'s) repeated, each copy with its own ids,
    workers and times (back to back, as in ``write_results``), written through the store as
    one batch."""
    from cellsweep.sweep import store as St
    from cellsweep.sweep.batch import RecordBatch

    points = np.random.default_rng(seed).random((min(n, period), len(names)))
    ev = ResponseEvaluator(names)
    one = RecordBatch.from_records([ev({"id": i, "params": dict(zip(names, p))})
                                    for i, p in enumerate(points.tolist())])
    batch = one.take(np.arange(n) % len(points))
    i = np.arange(n)
    rows = batch.rows
    rows["id"] = i
    rows["worker"] = i % workers
    t0 = time.time() - 10.0 - n // workers * seconds
    rows["t_start"] = t0 + (i // workers) * seconds
    rows["t_end"] = rows["t_start"] + seconds
    batch = RecordBatch(rows, batch.message, ["node-a"] * n)
    lay, camp = layout_and_campaign(np.zeros((n, len(names))), names)
    store = St.ResultStore(path, lay, camp, rows["params"].copy(), commit_interval_s=3600.0,
                           commit_rows=10**9, lock=St.acquire_lock(path))
    store.open()
    store.record(batch)
    store.finish(complete=True)
