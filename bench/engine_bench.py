"""Engine benchmarks: throughput of the bundled example, the coordinator's trivial-task rate, and
the writer's rows per second. Prints one JSON object per measurement.

  python bench/engine_bench.py example --repeats 5          # 1 vs 2 processes vs mpiexec -n 2
  python bench/engine_bench.py machine --repeats 5          # the host's own 2-process ceiling
  python bench/engine_bench.py trivial --tasks 20000        # coordinator rate, local processes
  mpiexec -n 2 python bench/engine_bench.py trivial-mpi --tasks 20000
  mpiexec -n 3 python bench/engine_bench.py flood --batch 50    # rank 0 saturated
  python bench/engine_bench.py writer --rows 100000 --batch 50   # journal + HDF5 rows per second
  python bench/engine_bench.py model --fit FLOOD1.jsonl FLOOD50.jsonl   # the scaling model
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import stats  # noqa: E402


def emit(**fields):
    print(json.dumps(fields), flush=True)


def example_config(folder: Path, points: int) -> Path:
    """The bundled example with an FI-curve sweep of ``points`` amplitudes."""
    src = ROOT / "configs" / "example"
    data = yaml.safe_load((src / "example.yaml").read_text())
    data["cell"]["morphology"] = str(src / "example_pyramid.swc")
    data["cell"]["mechanisms_dir"] = str(ROOT / "mechanisms" / "example")
    data["sweep"] = {"design": "grid",
                     "parameters": {"step_pos.step.amp_nA": {"linspace": [0.1, 0.6, points]}}}
    data["run"] = {"progress": "none"}
    path = folder / "bench_example.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def campaign_rate(output: Path) -> tuple[float, float, dict]:
    """(evaluations per second between the first start and the last end, mean evaluation
    seconds, where the workers' time went): of workers x span, the fraction spent evaluating,
    idle between two evaluations (scheduling), before a worker's first evaluation (start-up) and
    after its last one while others still ran (the campaign's tail)."""
    from cellsweep.sweep.results import load

    frame = load(output)
    t0, t1 = frame["t_start"].min(), frame["t_end"].max()
    span = t1 - t0
    parts = {"busy": 0.0, "between": 0.0, "start": 0.0, "tail": 0.0}
    for _, rows in frame.sort_values("t_start").groupby("worker"):
        starts, ends = rows["t_start"].to_numpy(), rows["t_end"].to_numpy()
        parts["busy"] += float((ends - starts).sum())
        parts["between"] += float((starts[1:] - ends[:-1]).sum())
        parts["start"] += float(starts[0] - t0)
        parts["tail"] += float(t1 - ends[-1])
    workers = frame["worker"].nunique()
    time_split = {k: v / (span * workers) for k, v in parts.items()}
    return len(frame) / span, float(frame["time.total_s"].mean()), time_split


def run_example(args):
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "NEURON_INIT_MPI": "0", "CELLSWEEP_NO_PLOTS": "1"}
    variants = {
        "processes-1": [sys.executable, "-m", "cellsweep", "run", "--workers", "1"],
        "processes-2": [sys.executable, "-m", "cellsweep", "run", "--workers", "2"],
        "mpiexec-2": [str(venv_bin / "mpiexec"), "-n", "2", sys.executable, "-m", "cellsweep", "run"],
    }
    if args.mpi1:
        variants["mpiexec-1"] = [str(venv_bin / "mpiexec"), "-n", "1", sys.executable, "-m",
                                 "cellsweep", "run"]
    rates = {k: [] for k in variants}
    splits: dict = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as tmp:
        config = example_config(Path(tmp), args.points)
        for repeat in range(args.repeats):           # A B C A B C ...: side by side in time
            for name, command in variants.items():
                out = Path(tmp) / f"{name}-{repeat}.h5"
                start = time.perf_counter()
                subprocess.run(command + [str(config), "-o", str(out)], check=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
                wall = time.perf_counter() - start
                rate, mean_eval, time_split = campaign_rate(out)
                rates[name].append(rate)
                splits[name].append(time_split)
                emit(bench="example", variant=name, repeat=repeat, points=args.points,
                     evals_per_s=rate, mean_eval_s=mean_eval, whole_command_s=wall,
                     busy_fraction=time_split["busy"], time_split=time_split)
    base = statistics.median(rates["processes-1"])
    for name, values in rates.items():
        workers = 1 if name.endswith("-1") else 2
        extra = {}
        if name == "mpiexec-2" and "mpiexec-1" in rates:
            extra["parallel_efficiency_vs_mpiexec_1"] = statistics.median(values) / (
                2 * statistics.median(rates["mpiexec-1"]))
        emit(bench="example-summary", variant=name, median_evals_per_s=statistics.median(values),
             min=min(values), max=max(values), n=len(values),
             parallel_efficiency=statistics.median(values) / (workers * base),
             time_split={k: stats(s[k] for s in splits[name]) for k in splits[name][0]}, **extra)


def run_machine(args):
    """The host's own 2-process efficiency: the same evaluations in a plain loop (cells.evaluate,
    no engine), one process alone vs two processes at once, alternated. Whatever two
    concurrent evaluations lose here (shared caches, memory bandwidth, a shared host's CPU
    steal) no scheduler can win back: it is the ceiling for the 2-worker efficiency."""
    env = {**os.environ, "NEURON_INIT_MPI": "0"}
    alone, together = [], []
    with tempfile.TemporaryDirectory() as tmp:
        config = example_config(Path(tmp), args.points)
        loop = [sys.executable, str(Path(__file__).resolve()), "_loop", str(config)]
        for repeat in range(args.repeats):
            one = json.loads(subprocess.run(loop, check=True, env=env, capture_output=True,
                                            text=True, cwd=ROOT).stdout)
            procs = [subprocess.Popen(loop, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
                     for _ in range(2)]
            two = [json.loads(p.communicate()[0]) for p in procs]
            alone.append(one["seconds"])
            together.append(statistics.mean(t["seconds"] for t in two))
            emit(bench="machine", repeat=repeat, points=args.points, alone_s=one["seconds"],
                 together_s=[t["seconds"] for t in two],
                 efficiency_ceiling=alone[-1] / together[-1])
    emit(bench="machine-summary", points=args.points,
         efficiency_ceiling=stats(a / t for a, t in zip(alone, together)))


def _loop(args):
    """Evaluate every design point of CONFIG in this process (cell built first, untimed)."""
    from cellsweep.cells.evaluate import evaluate
    from cellsweep.sweep.campaign import prepare

    plan = prepare(Path(args.config))
    points = [dict(zip(plan.sweep.names, row)) for row in plan.points.tolist()]
    evaluate(plan.model, points[0])
    start = time.perf_counter()
    for params in points:
        evaluate(plan.model, params)
    print(json.dumps({"seconds": time.perf_counter() - start, "points": len(points)}))


def run_model(args):
    """BENCHMARKS.md's scaling model from measured costs of rank 0 (microseconds): per message
    (``--message-us``) and per result (``--row-us``), coordination and writing included (fitted
    from two ``flood`` runs with ``--fit``). Ranks ask for about 0.5 s of work per message
    (``launch.mpi._want``: b = 1..128 results), so a result costs c = message/b + row. One
    coordinator handles at most 1/c results per second; below that, its load N*c/t only slows
    the evaluation rank 0 runs itself."""
    from cellsweep.launch.mpi import _MeanTime, _want

    if args.fit:
        args.message_us, args.row_us = _fit_costs(args.fit)
    for t in args.eval_s:
        mean = _MeanTime()
        mean.observe(t)
        per_message = _want(mean)
        c = (args.message_us / per_message + args.row_us) * 1e-6
        row = {}
        for n in args.ranks:
            load = n * c / t
            efficiency = min(1.0, 1.0 / load) * (1.0 - min(load, 1.0) / n)
            row[n] = {"efficiency": round(efficiency, 3), "load": round(load, 3)}
        emit(bench="model", eval_s=t, results_per_message=per_message, c_us=round(c * 1e6, 2),
             ranks=row, saturates_above_ranks=int(t / c))


def _fit_costs(files) -> tuple[float, float]:
    """Rank 0's time per message and per result from two ``flood`` summaries (JSON lines files
    of runs with different results per message k): time per result = message / k + row."""
    points = []
    for name in files:
        with open(name) as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        summary = next(r for r in rows if r.get("bench") == "flood-summary")
        points.append((summary["results_per_message"]["median"],
                       summary["us_per_result_median"]))
    (k1, c1), (k2, c2) = points
    message = (c1 - c2) / (1 / k1 - 1 / k2)
    row = c1 - message / k1
    emit(bench="model-fit", points=points, message_us=round(message, 2), row_us=round(row, 2))
    return message, row


def run_trivial(args):
    from support.trivial import TrivialEvaluator
    from cellsweep.launch.backends import ProcessExecutor, StopFlag
    from cellsweep.launch.supervisor import Limits

    for workers in args.workers:
        # no recycling: this measures the coordinator, not process start-up
        executor = ProcessExecutor(TrivialEvaluator(), Limits(recycle_after=10**9), StopFlag(),
                                   workers=workers)
        list(executor.imap_unordered({"id": i, "params": {"x": i}} for i in range(200)))  # warm
        rates = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            n = sum(len(b) for b in executor.imap_unordered({"id": i, "params": {"x": i}}
                                                            for i in range(args.tasks)))
            elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            emit(bench="trivial", backend="processes", workers=workers, repeat=repeat, tasks=n,
                 tasks_per_s=n / elapsed, us_per_task=1e6 * elapsed / n)
        executor.close()
        emit(bench="trivial-summary", backend="processes", workers=workers,
             tasks_per_s=stats(rates), us_per_task_median=1e6 / statistics.median(rates))


def _trivial_store(folder: Path, n: int, features: int):
    """A real results store for ``n`` trivial tasks (what a campaign's rank 0 writes to)."""
    import numpy as np

    from cellsweep.sweep import store as St

    layout = St.Layout(kind="sweep", param_names=("x",), param_units=("",),
                       feature_names=tuple(f"f{i}" for i in range(features)),
                       feature_units=("",) * features, n_rows=n)
    campaign = St.Campaign(config_text="", signature="s", signature_data={}, versions={})
    store = St.ResultStore(folder / "w.h5", layout, campaign, np.arange(n, dtype=float)[:, None])
    store.open()
    return store


def run_trivial_mpi(args):
    """Trivial tasks through the real MPI executor: tasks/s, and rank 0's CPU per result (its
    evaluation child excluded). With 2-3 ranks rank 0 is mostly idle and also evaluates, so this
    is not what a big job costs it; ``flood`` measures that."""
    from support.trivial import TrivialEvaluator
    from cellsweep.launch import mpi
    from cellsweep.launch.backends import StopFlag
    from cellsweep.launch.supervisor import Limits

    comm = mpi.world()
    mpi.install_abort_hook(comm)
    if comm.Get_rank() != 0:
        mpi.serve_worker(comm, TrivialEvaluator(), Limits(recycle_after=10**9))
        return
    executor = mpi.MPIExecutor(comm, TrivialEvaluator(), Limits(recycle_after=10**9), StopFlag())
    list(executor.imap_unordered({"id": i, "params": {"x": i}} for i in range(200)))
    rates, cpus, per_message = [], [], []
    for repeat in range(args.repeats):
        start, cpu0 = time.perf_counter(), time.process_time()
        by_rank: dict = {}
        batches = 0
        for batch in executor.imap_unordered({"id": i, "params": {"x": i}}
                                             for i in range(args.tasks)):
            batches += 1
            for worker in batch.arrays["worker"].tolist():
                by_rank[worker] = by_rank.get(worker, 0) + 1
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        n = sum(by_rank.values())
        rates.append(n / elapsed)
        cpus.append(1e6 * cpu / n)
        per_message.append(n / batches)
        emit(bench="trivial", backend="mpi", ranks=comm.Get_size(), repeat=repeat, tasks=n,
             tasks_per_s=n / elapsed, us_per_task=1e6 * elapsed / n,
             results_per_message=per_message[-1], rank0_cpu_us_per_task=cpus[-1],
             tasks_by_rank=by_rank)
    executor.close()
    emit(bench="trivial-summary", backend="mpi", ranks=comm.Get_size(),
         results_per_message=stats(per_message), tasks_per_s=stats(rates),
         us_per_task_median=1e6 / statistics.median(rates), rank0_cpu_us_per_task=stats(cpus))


def _flood_worker(comm, batch: int, features: int) -> None:
    """A worker rank that answers every task at once, with no evaluation process: it sends
    rank 0 the same messages ``launch.mpi.serve_worker`` does, as fast as rank 0 replies."""
    import numpy as np

    from support.trivial import TrivialEvaluator
    from cellsweep.launch import mpi
    from cellsweep.sweep.batch import RecordBatch

    template = RecordBatch.from_records(
        [dict(TrivialEvaluator(features)({"id": 0, "params": {"x": 0.0}}), worker=comm.Get_rank(),
              host="h", t_start=0.0, t_end=0.01)])
    # a full batch's bytes, made once; each message only writes its ids into a copy
    full = RecordBatch(np.repeat(template.rows, batch), [""] * batch, ["h"] * batch).encode()
    head = full.index(b"\n") + 1
    itemsize = template.rows.dtype.itemsize
    comm.send((b"", batch, True), dest=0, tag=mpi.RESULTS)
    while True:
        while not comm.Iprobe(source=0, tag=mpi.TASKS):
            time.sleep(0)                  # yield the core (a blocking recv would spin on it)
        tasks = comm.recv(source=0, tag=mpi.TASKS)
        if tasks == mpi.STOP:
            return
        if not tasks:
            comm.send((b"", batch, True), dest=0, tag=mpi.RESULTS)
            continue
        if len(tasks) == batch:
            payload = bytearray(full)
            ids = np.ndarray((batch,), dtype="<i8", buffer=payload, offset=head,
                             strides=(itemsize,))
            ids[:] = [t["id"] for t in tasks]        # "id" is the rows' first field
            payload = bytes(payload)
        else:
            rows = np.repeat(template.rows, len(tasks))
            rows["id"] = [t["id"] for t in tasks]
            payload = RecordBatch(rows, [""] * len(tasks), ["h"] * len(tasks)).encode()
        comm.send((payload, batch, True), dest=0, tag=mpi.RESULTS)


def run_flood(args):
    """Rank 0 saturated: worker ranks return results the moment they get tasks (no evaluation,
    no child process) and rank 0 never sleeps between polls, as with 1000 ranks asking at once.
    Its wall time per result is then its full cost per message and result (1 / its capacity);
    if the worker ranks could not keep up, this overstates that cost, never understates it."""
    from cellsweep.launch import mpi
    from cellsweep.launch.backends import StopFlag
    from cellsweep.launch.supervisor import Limits

    comm = mpi.world()
    mpi.install_abort_hook(comm)
    if comm.Get_rank() != 0:
        _flood_worker(comm, args.batch, args.features)
        return
    mpi._Backoff.idle = lambda self, supervisors: None      # busy: always something to do
    class Polls:
        """The real communicator, timing the polls that found nothing (rank 0 waiting)."""

        def __init__(self):
            self.empty_s = 0.0

        def __getattr__(self, name):
            return getattr(comm, name)

        def Iprobe(self, **kw):
            before = time.perf_counter()
            found = comm.Iprobe(**kw)
            if not found:
                self.empty_s += time.perf_counter() - before
            return found

    rates, cpus, busy, per_message = [], [], [], []
    for repeat in range(args.repeats):
        polls = Polls()
        executor = mpi.MPIExecutor(polls, None, Limits(), StopFlag(), evaluate_here=False)
        with tempfile.TemporaryDirectory() as tmp:
            store = _trivial_store(Path(tmp), args.tasks, args.features)
            start, cpu0 = time.perf_counter(), time.process_time()
            n = messages = 0
            for batch in executor.imap_unordered({"id": i, "params": {"x": float(i)}}
                                                 for i in range(args.tasks)):
                store.record(batch)
                n += len(batch)
                messages += 1
            store.finish(complete=True)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        if hasattr(executor, "pulse"):          # rank 0's liveness thread (since issue 16)
            executor.pulse.stop()
        rates.append(n / elapsed)
        cpus.append(1e6 * cpu / n)
        # waiting time: the polls that found nothing, the last one of each round excepted
        busy.append(1e6 * (elapsed - polls.empty_s) / n)
        per_message.append(n / messages)
        emit(bench="flood", ranks=comm.Get_size(), batch=args.batch, features=args.features,
             repeat=repeat, results=n, results_per_message=n / messages, results_per_s=n / elapsed,
             us_per_result=1e6 * elapsed / n, rank0_cpu_us_per_result=cpus[-1],
             rank0_busy_us_per_result=busy[-1], waiting_share=polls.empty_s / elapsed,
             rank0_cpu_share=cpu / elapsed)
        if repeat < args.repeats - 1:
            for rank in range(1, comm.Get_size()):          # the next repeat asks again
                comm.send([], dest=rank, tag=mpi.TASKS)
    for rank in range(1, comm.Get_size()):
        comm.send(mpi.STOP, dest=rank, tag=mpi.TASKS)
    emit(bench="flood-summary", ranks=comm.Get_size(), batch=args.batch, features=args.features,
         results_per_message=stats(per_message),
         results_per_s=stats(rates), us_per_result_median=1e6 / statistics.median(rates),
         rank0_cpu_us_per_result=stats(cpus), rank0_busy_us_per_result=stats(busy))


def run_writer(args):
    """Rows per second into a results store, arriving as a rank sends them: the encoded bytes
    of a batch of ``--batch`` rows (decoding is timed too)."""
    import numpy as np

    from cellsweep.sweep.batch import RecordBatch

    rates = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            n = args.rows
            store = _trivial_store(Path(tmp), n, 20)
            messages = []
            rng = np.random.default_rng(repeat)     # features vary as real ones do
            for lo in range(0, n, args.batch):
                records = [{"id": i, "attempt": 1, "status": "ok", "message": "",
                            "params": [float(i)], "features": (100 * rng.random(20)).tolist(),
                            "scores": rng.random(20).tolist(), "timings": {"total": 0.01},
                            "worker": i % 2, "host": "h", "t_start": 0.0, "t_end": 1.0,
                            "nseg": 1} for i in range(lo, min(n, lo + args.batch))]
                messages.append(RecordBatch.from_records(records).encode())
            start = time.perf_counter()
            for payload in messages:
                store.record(RecordBatch.decode(payload))
            store.finish(complete=True)
            elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            emit(bench="writer", repeat=repeat, rows=n, batch=args.batch, features=20,
                 rows_per_s=n / elapsed, seconds=elapsed,
                 includes="decode + journal frame per batch, HDF5 commits every 2 s or 50 000 "
                          "rows, final commit")
    emit(bench="writer-summary", rows=args.rows, batch=args.batch, rows_per_s=stats(rates),
         us_per_row_median=1e6 / statistics.median(rates))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("example")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--points", type=int, default=12)
    p.add_argument("--mpi1", action="store_true", help="also mpiexec -n 1")
    p = sub.add_parser("machine")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--points", type=int, default=20)
    p = sub.add_parser("_loop")
    p.add_argument("config")
    p = sub.add_parser("model")
    p.add_argument("--message-us", type=float, help="rank 0 CPU per message")
    p.add_argument("--row-us", type=float, help="rank 0 CPU per result")
    p.add_argument("--fit", nargs=2, metavar="JSONL",
                   help="fit both from two flood runs with different --batch")
    p.add_argument("--eval-s", type=float, nargs="+", default=[0.01, 0.1, 1.0, 10.0])
    p.add_argument("--ranks", type=int, nargs="+", default=[64, 256, 1024])
    p = sub.add_parser("trivial")
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("trivial-mpi")
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("flood")
    p.add_argument("--tasks", type=int, default=50000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--batch", type=int, default=1, help="results per message")
    p = sub.add_parser("writer")
    p.add_argument("--rows", type=int, default=100000)
    p.add_argument("--batch", type=int, default=25, help="rows per batch (per message)")
    p.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    modes = {"example": run_example, "machine": run_machine, "model": run_model, "_loop": _loop,
             "trivial": run_trivial, "trivial-mpi": run_trivial_mpi, "writer": run_writer,
             "flood": run_flood}
    modes[args.what](args)


if __name__ == "__main__":
    main()
