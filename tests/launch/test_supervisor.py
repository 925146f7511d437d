"""Evaluation processes: recycled after N evaluations or past a memory limit."""

from support.trivial import TrivialEvaluator
from cellsweep.launch.backends import ProcessExecutor, StopFlag
from cellsweep.launch.supervisor import Limits, Supervisor


def run_all(sup, n):
    records = []
    for i in range(n):
        sup.assign({"id": i, "params": {"x": float(i)}})
        while (record := sup.poll()) is None:
            sup.conn.poll(0.05)
        records.append(record)
    return records


def test_recycled_after_a_number_of_evaluations():
    sup = Supervisor(TrivialEvaluator(), 0, Limits(recycle_after=3))
    try:
        records = run_all(sup, 7)
    finally:
        sup.close()
    assert [r["id"] for r in records] == list(range(7))
    assert sup.starts == 3, [(r["attempt"], r["status"], r["message"]) for r in records]


def test_recycled_when_memory_passes_the_limit():
    sup = Supervisor(TrivialEvaluator(), 0, Limits(max_rss_mb=1.0))
    try:
        run_all(sup, 3)
    finally:
        sup.close()
    assert sup.starts == 3                     # any Python process is above 1 MB


def test_executor_runs_every_task_once_with_more_workers_than_tasks():
    executor = ProcessExecutor(TrivialEvaluator(), Limits(), StopFlag(), workers=3)
    try:
        ids = sorted(i for b in executor.imap_unordered(
            {"id": i, "params": {"x": float(i)}} for i in range(2)) for i in b.ids.tolist())
    finally:
        executor.close()
    assert ids == [0, 1]


def test_memory_stays_flat_with_recycling(repo):
    """Thousands of evaluations of a small cell in supervised processes recycled every 400."""
    from cellsweep.cells.loader import load_model
    from cellsweep.sweep.tasks import PointEvaluator

    model = load_model(repo / "tests" / "data" / "tiny" / "tiny.yaml")[0]
    names = tuple(p.name for p in model.free_parameters)
    sup = Supervisor(PointEvaluator(model=model, param_names=names), 0,
                     Limits(recycle_after=400))
    rss = []
    try:
        for i in range(1200):
            sup.assign({"id": i, "params": {"gnabar_hh.somatic": 0.05 + 1e-4 * (i % 1000)}})
            while (record := sup.poll()) is None:
                sup.conn.poll(0.05)
            assert record["status"] == "ok"
            if i % 100 == 50:
                rss.append(sup._rss_mb())
    finally:
        sup.close()
    assert sup.starts == 3
    assert max(rss) - min(rss) < 10, rss          # MB; each process starts afresh
