"""Memory of one evaluation process over many evaluations, without and with recycling.

  python bench/memory_bench.py [--evaluations 10000] [--recycle 500] [--sample-every 500]
                               [--repeats 1]

Run with NEURON_INIT_MPI=0. The model is the tiny one of the tests (tests/data/tiny/tiny.yaml:
hh soma + passive dendrite, one 100 ms step); every evaluation gets a new seeded random
parameter set within the free parameters' bounds.

without  a fresh Python process evaluates in a loop with cells.evaluate.evaluate (the cell is
         built once and re-parameterised) and samples its own RSS (psutil) after the first
         evaluation and every --sample-every evaluations; peak = the process's VmHWM.
with     this process drives one launch.supervisor.Supervisor with
         Limits(recycle_after=--recycle), as a campaign's worker does: tasks go to a child
         process, which is replaced by a fresh one every --recycle evaluations. The child's RSS
         is sampled after its first evaluation, every --sample-every evaluations, and just
         before it is recycled; peak = the highest VmHWM of any child.

Each run prints one JSON line (the RSS samples, MB per 1000 evaluations as the least-squares
slope of RSS against evaluations after the first sample, and the peak); repeats alternate
without/with; a summary line gives medians with min-max.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import loadavg, stats  # noqa: E402
TINY = ROOT / "tests" / "data" / "tiny" / "tiny.yaml"
MB = 2 ** 20


def emit(**fields):
    print(json.dumps(fields, default=float), flush=True)



def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / MB


def peak_mb(pid: int) -> float | None:
    """VmHWM: the highest RSS the process has had."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def slope_per_1000(samples: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of RSS (MB) against evaluations, per 1000 evaluations; the first
    sample (imports, first build) is left out."""
    pts = samples[1:]
    if len(pts) < 2:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 1000.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


class ParameterStream:
    """Seeded random parameter sets within the model's free bounds, one per evaluation."""

    def __init__(self, model, seed: int):
        import numpy as np

        self.free = model.free_parameters
        self.rng = np.random.default_rng(seed)

    def next(self) -> dict:
        return {p.name: float(self.rng.uniform(p.low, p.high)) for p in self.free}


# -- without recycling: a fresh process evaluating in a loop --------------------------------------
def without_main(evaluations: int, sample_every: int, seed: int, out: str) -> None:
    from cellsweep.cells.evaluate import evaluate
    from cellsweep.cells.loader import load_model

    model, _ = load_model(TINY)
    params = ParameterStream(model, seed)
    pid = os.getpid()
    samples, not_ok = [], 0
    start = time.perf_counter()
    for i in range(1, evaluations + 1):
        if evaluate(model, params.next()).status != "ok":
            not_ok += 1
        if i == 1 or i % sample_every == 0 or i == evaluations:
            samples.append((i, rss_mb(pid)))
    seconds = time.perf_counter() - start
    Path(out).write_text(json.dumps({"samples": samples, "peak_mb": peak_mb(pid),
                                     "seconds": seconds, "not_ok": not_ok}))


def run_without(args, folder: Path) -> dict:
    out = folder / f"without-{time.monotonic_ns()}.json"
    env = {**os.environ, "NEURON_INIT_MPI": "0"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "_without",
                           str(args.evaluations), str(args.sample_every), str(args.seed),
                           str(out)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"the evaluation process failed (exit status {proc.returncode})")
    result = json.loads(out.read_text())
    result["whole_command_s"] = time.perf_counter() - start
    return result


# -- with recycling: one supervised evaluation process ------------------------------------------
def run_with(args) -> dict:
    from cellsweep.cells.loader import load_model
    from cellsweep.launch.supervisor import Limits, Supervisor, wait_any
    from cellsweep.sweep.tasks import PointEvaluator

    model, _ = load_model(TINY)
    params = ParameterStream(model, args.seed)
    names = tuple(p.name for p in model.free_parameters)
    evaluator = PointEvaluator(model=model, param_names=names)
    sup = Supervisor(evaluator, 0, Limits(recycle_after=args.recycle))
    samples, child_start, child_end, peaks, pids, not_ok = [], [], [], [], [], 0
    start = time.perf_counter()
    try:
        for i in range(1, args.evaluations + 1):
            sup.assign({"id": i - 1, "params": params.next()})
            if not pids or pids[-1] != sup.proc.pid:
                pids.append(sup.proc.pid)
            record = None
            while record is None:
                record = sup.poll()
                if record is None:
                    wait_any([sup], 1.0)
            if record["status"] != "ok":
                not_ok += 1
            pid = sup.proc.pid if sup.proc is not None else None
            if pid is None:
                continue
            rss = rss_mb(pid)
            if sup.done_in_child == 1:
                child_start.append((i, rss))
            if i == 1 or i % args.sample_every == 0 or i == args.evaluations:
                samples.append((i, rss))
            if sup.done_in_child >= args.recycle or i == args.evaluations:
                child_end.append((i, rss))              # last look before it is replaced
                peaks.append(peak_mb(pid))
    finally:
        sup.close()
    seconds = time.perf_counter() - start
    growth = [1000.0 * (e[1] - s[1]) / (e[0] - s[0]) for s, e in zip(child_start, child_end)
              if e[0] > s[0]]
    return {"samples": samples, "peak_mb": max((p for p in peaks if p), default=None),
            "seconds": seconds, "not_ok": not_ok, "children": len(pids),
            "child_rss_after_first_eval_mb": stats(r for _, r in child_start),
            "child_rss_before_recycle_mb": stats(r for _, r in child_end),
            "within_child_mb_per_1000": stats(growth)}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_without":
        without_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=10000)
    parser.add_argument("--recycle", type=int, default=500, help="recycle_after of the child")
    parser.add_argument("--sample-every", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ["NEURON_INIT_MPI"] = "0"
    results = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="memory_bench.") as tmp:
        for repeat in range(args.repeats):
            for variant in ("without", "with"):
                r = run_without(args, Path(tmp)) if variant == "without" else run_with(args)
                samples = r.pop("samples")
                r["mb_per_1000_evaluations"] = slope_per_1000(samples)
                r["rss_first_mb"], r["rss_last_mb"] = samples[0][1], samples[-1][1]
                r["evals_per_s"] = args.evaluations / r["seconds"]
                results[variant].append(r)
                emit(bench="memory", variant=f"{variant}-recycling", repeat=repeat,
                     evaluations=args.evaluations,
                     recycle_after=args.recycle if variant == "with" else None,
                     rss_samples_mb=[[n, round(mb, 2)] for n, mb in samples], **r,
                     loadavg=loadavg())
    emit(bench="memory-summary", evaluations=args.evaluations, recycle_after=args.recycle,
         repeats=args.repeats,
         **{f"{v}_recycling": {"mb_per_1000_evaluations": stats(r["mb_per_1000_evaluations"]
                                                                for r in rs),
                               "peak_rss_mb": stats(r["peak_mb"] for r in rs),
                               "last_rss_mb": stats(r["rss_last_mb"] for r in rs),
                               "evals_per_s": stats(r["evals_per_s"] for r in rs)}
            for v, rs in results.items()},
         loadavg=loadavg())


if __name__ == "__main__":
    main()
