"""``cellsweep report`` on large results files: wall time, peak memory and page size.

  python bench/report_bench.py --sizes 10000 100000 1000000 --repeats 3 --repeats-large 2

Each file is made through the engine: the real process executor (two evaluation processes)
running ``support.response.ResponseEvaluator`` (three parameters drawn at random, three
features, about 1.6 % failures of three kinds), every batch recorded by the real store
(journal, HDF5 commits, final commit). Then ``python -m cellsweep report FILE`` runs in a
fresh process per repeat; its peak resident memory is that child's ``ru_maxrss``
(``os.wait4``). Prints one JSON object per measurement.
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

NAMES = ("gbar_na", "gbar_k", "g_pas")


def emit(**fields):
    print(json.dumps(fields), flush=True)


def make_file(path: Path, n: int, workers: int, seed: int = 0) -> float:
    """A sweep-like results file of ``n`` rows through the executor and store; its seconds."""
    import numpy as np

    from cellsweep.launch.backends import ProcessExecutor, StopFlag
    from cellsweep.launch.supervisor import Limits
    from cellsweep.sweep import store as St
    from support.response import ResponseEvaluator, layout_and_campaign

    points = np.random.default_rng(seed).random((n, len(NAMES)))
    layout, campaign = layout_and_campaign(points, NAMES, config_text=(
        f"# bench/report_bench.py: {n} random points of ResponseEvaluator\n"
        "sweep: {design: random}\n"))
    os.environ["PYTHONPATH"] = str(ROOT)      # the evaluation processes import support.*
    start = time.perf_counter()
    store = St.ResultStore(path, layout, campaign, points, lock=St.acquire_lock(path))
    store.open()
    executor = ProcessExecutor(ResponseEvaluator(NAMES), Limits(recycle_after=10**9),
                               StopFlag(), workers=workers)
    try:
        tasks = ({"id": i, "params": dict(zip(NAMES, row))}
                 for i, row in enumerate(points.tolist()))
        for batch in executor.imap_unordered(tasks):
            store.record(batch)
        store.finish(complete=True)
    finally:
        executor.close()
    return time.perf_counter() - start


def report_once(results: Path, out: Path) -> tuple[float, float]:
    """(seconds, peak MiB) of ``cellsweep report`` in a fresh process."""
    env = {**os.environ, "NEURON_INIT_MPI": "0"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cellsweep", "report", str(results),
                             "--output", str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cellsweep report failed:\n{stdout.decode()}\n{stderr.decode()}")
    return elapsed, usage.ru_maxrss / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-large", type=int, default=2,
                        help="repeats for files of 1 000 000 rows or more")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import plotly.offline

    plotly_js = len(plotly.offline.get_plotlyjs().encode())
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"rows{n}.h5"
            made = make_file(path, n, args.workers)
            emit(bench="report-file", rows=n, seconds=made, rows_per_s=n / made,
                 file_bytes=path.stat().st_size, workers=args.workers, load=loadavg())
            times, peaks = [], []
            repeats = args.repeats_large if n >= 1_000_000 else args.repeats
            for repeat in range(repeats):
                out = Path(tmp) / f"rows{n}.html"
                seconds, peak = report_once(path, out)
                times.append(seconds)
                peaks.append(peak)
                size = out.stat().st_size
                emit(bench="report", rows=n, repeat=repeat, seconds=seconds, peak_mib=peak,
                     html_bytes=size, html_bytes_without_plotly_js=size - plotly_js,
                     load=loadavg())
            emit(bench="report-summary", rows=n, seconds=stats(times), peak_mib=stats(peaks),
                 html_bytes=size, seconds_median=statistics.median(times),
                 peak_mib_max=max(peaks))
            path.unlink()


if __name__ == "__main__":
    main()
