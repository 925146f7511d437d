"""Engine benchmarks: throughput of the bundled example, the coordinator's trivial-task rate, and
the writer's rows per second. Prints one JSON object per measurement.

  python bench/engine_bench.py example --repeats 5          # 1 vs 2 processes vs mpiexec -n 2
  python bench/engine_bench.py machine --repeats 5          # the host's own 2-process ceiling
  python bench/engine_bench.py trivial --tasks 20000        # coordinator rate, local processes
  mpiexec -n 2 python bench/engine_bench.py trivial-mpi --tasks 20000
  python bench/engine_bench.py writer --rows 100000         # journal + HDF5 rows per second
  python bench/engine_bench.py model --coordinator-us C --writer-us W   # the scaling model
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
    from sweep.results import load

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
        "processes-1": [sys.executable, "-m", "launch", "run", "--workers", "1"],
        "processes-2": [sys.executable, "-m", "launch", "run", "--workers", "2"],
        "mpiexec-2": [str(venv_bin / "mpiexec"), "-n", "2", sys.executable, "-m", "launch", "run"],
    }
    if args.mpi1:
        variants["mpiexec-1"] = [str(venv_bin / "mpiexec"), "-n", "1", sys.executable, "-m",
                                 "launch", "run"]
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
    from cells.evaluate import evaluate
    from sweep.campaign import prepare

    plan = prepare(Path(args.config))
    points = [dict(zip(plan.sweep.names, row)) for row in plan.points.tolist()]
    evaluate(plan.model, points[0])
    start = time.perf_counter()
    for params in points:
        evaluate(plan.model, params)
    print(json.dumps({"seconds": time.perf_counter() - start, "points": len(points)}))


def run_model(args):
    """BENCHMARKS.md's scaling model from two measured costs (microseconds per result): rank 0's
    coordination CPU and the writer's. One coordinator handles at most 1/c results per second;
    below that, its load N*c/t only slows the evaluation rank 0 runs itself."""
    c = (args.coordinator_us + args.writer_us) * 1e-6
    for t in args.eval_s:
        row = {}
        for n in args.ranks:
            load = n * c / t
            efficiency = min(1.0, 1.0 / load) * (1.0 - min(load, 1.0) / n)
            row[n] = {"efficiency": round(efficiency, 3), "load": round(load, 3)}
        emit(bench="model", eval_s=t, c_us=c * 1e6, ranks=row,
             saturates_above_ranks=int(t / c))


def run_trivial(args):
    from bench.trivial import TrivialEvaluator
    from launch.backends import ProcessExecutor, StopFlag
    from launch.supervisor import Limits

    for workers in args.workers:
        # no recycling: this measures the coordinator, not process start-up
        executor = ProcessExecutor(TrivialEvaluator(), Limits(recycle_after=10**9), StopFlag(),
                                   workers=workers)
        list(executor.imap_unordered({"id": i, "params": {"x": i}} for i in range(200)))  # warm
        rates = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            n = sum(1 for _ in executor.imap_unordered({"id": i, "params": {"x": i}}
                                                       for i in range(args.tasks)))
            elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            emit(bench="trivial", backend="processes", workers=workers, repeat=repeat, tasks=n,
                 tasks_per_s=n / elapsed, us_per_task=1e6 * elapsed / n)
        executor.close()
        emit(bench="trivial-summary", backend="processes", workers=workers,
             tasks_per_s=stats(rates), us_per_task_median=1e6 / statistics.median(rates))


def run_trivial_mpi(args):
    from bench.trivial import TrivialEvaluator
    from launch import mpi
    from launch.backends import StopFlag
    from launch.supervisor import Limits

    comm = mpi.world()
    mpi.install_abort_hook(comm)
    if comm.Get_rank() != 0:
        mpi.serve_worker(comm, TrivialEvaluator(), Limits(recycle_after=10**9))
        return
    executor = mpi.MPIExecutor(comm, TrivialEvaluator(), Limits(recycle_after=10**9), StopFlag())
    list(executor.imap_unordered({"id": i, "params": {"x": i}} for i in range(200)))
    rates, cpus = [], []
    for repeat in range(args.repeats):
        start, cpu0 = time.perf_counter(), time.process_time()
        by_rank: dict = {}
        for record in executor.imap_unordered({"id": i, "params": {"x": i}}
                                              for i in range(args.tasks)):
            by_rank[record.get("worker")] = by_rank.get(record.get("worker"), 0) + 1
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        n = sum(by_rank.values())
        rates.append(n / elapsed)
        cpus.append(1e6 * cpu / n)
        # rank 0's own CPU (its evaluation child excluded) per result: the coordinator's cost
        emit(bench="trivial", backend="mpi", ranks=comm.Get_size(), repeat=repeat, tasks=n,
             tasks_per_s=n / elapsed, us_per_task=1e6 * elapsed / n,
             rank0_cpu_us_per_task=cpus[-1], tasks_by_rank=by_rank)
    executor.close()
    emit(bench="trivial-summary", backend="mpi", ranks=comm.Get_size(), tasks_per_s=stats(rates),
         us_per_task_median=1e6 / statistics.median(rates), rank0_cpu_us_per_task=stats(cpus))


def run_writer(args):
    import numpy as np

    from sweep import store as St

    rates = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            n = args.rows
            layout = St.Layout(kind="sweep", param_names=("x",), param_units=("",),
                               feature_names=tuple(f"f{i}" for i in range(20)),
                               feature_units=("",) * 20, n_rows=n)
            campaign = St.Campaign(config_text="", signature="s", signature_data={}, versions={})
            store = St.ResultStore(Path(tmp) / "w.h5", layout, campaign,
                                   np.arange(n, dtype=float)[:, None])
            store.open([])
            records = [{"id": i, "attempt": 1, "status": "ok", "message": "",
                        "params": [float(i)], "features": [float(i)] * 20, "scores": [0.5] * 20,
                        "timings": {"total": 0.01}, "worker": i % 2, "host": "h",
                        "t_start": 0.0, "t_end": 1.0, "nseg": 1} for i in range(n)]
            start = time.perf_counter()
            for r in records:
                store.record([r])
            store.finish(complete=True)
            elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            emit(bench="writer", repeat=repeat, rows=n, features=20, rows_per_s=n / elapsed,
                 seconds=elapsed,
                 includes="journal append per row, HDF5 commits every 2 s or 2000 rows")
    emit(bench="writer-summary", rows=args.rows, rows_per_s=stats(rates),
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
    p.add_argument("--coordinator-us", type=float, required=True,
                   help="rank 0 CPU per remote result (trivial-mpi, rank0_cpu_us_per_task)")
    p.add_argument("--writer-us", type=float, required=True, help="writer us per row")
    p.add_argument("--eval-s", type=float, nargs="+", default=[0.01, 0.1, 1.0, 10.0])
    p.add_argument("--ranks", type=int, nargs="+", default=[64, 256, 1024])
    p = sub.add_parser("trivial")
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("trivial-mpi")
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=5)
    p = sub.add_parser("writer")
    p.add_argument("--rows", type=int, default=100000)
    p.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    modes = {"example": run_example, "machine": run_machine, "model": run_model, "_loop": _loop,
             "trivial": run_trivial, "trivial-mpi": run_trivial_mpi, "writer": run_writer}
    modes[args.what](args)


if __name__ == "__main__":
    main()
