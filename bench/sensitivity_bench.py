"""Sensitivity analysis time on a ~100 000-point Saltelli sample (issue 15). Prints one JSON
line per measurement and a summary line.

  python bench/sensitivity_bench.py [--n 16384] [--repeats 3] [--resamples 100]

The results file is made through the engine, not synthetically: the Ishigami test config
(tests/data/sensitivity/ishigami.yaml: four free parameters, one feature) with
``design: saltelli``, ``n`` base samples and no second order, i.e. n·(4+2) points (98 304 for
the default n = 16 384, the power-of-two design nearest 100 000), run serially by the sweep
kind with support/ishigami.py's evaluator in place of NEURON (``run_ishigami``). Then, per
repeat: (a) ``sweep.sensitivity.analyse(path)`` in this process (reading the file, its three
outputs: the feature, its score, the total score; Sobol' S1 and ST with ``--resamples``
bootstrap resamples each), timed around the call, with the reading alone
(``ResultsFile(path)``) timed separately; (b) ``cellsweep sensitivity FILE --json`` as a
command (Python start-up and imports included). The median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import loadavg, stats  # noqa: E402


def make_file(folder: Path, n: int) -> tuple[Path, float]:
    from support.ishigami import run_ishigami

    data = yaml.safe_load((REPO / "tests" / "data" / "sensitivity" / "ishigami.yaml").read_text())
    data["sweep"].update(n=n, second_order=False)
    config = folder / "ishigami.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = folder / "ishigami.h5"
    start = time.perf_counter()
    summary = run_ishigami(config, out)
    assert summary.complete, summary
    return out, time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resamples", type=int, default=100)
    args = ap.parse_args(argv)
    from cellsweep.sweep.sensitivity import analyse
    from cellsweep.sweep.store import ResultsFile

    with tempfile.TemporaryDirectory() as tmp:
        path, made_s = make_file(Path(tmp), args.n)
        points = ResultsFile(path).n_rows
        print(json.dumps({"step": "make_file", "points": points, "seconds": made_s,
                          "size_mb": path.stat().st_size / 2**20, "load": loadavg()}),
              flush=True)
        analyse_s, read_s, command_s = [], [], []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            ResultsFile(path)
            read_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            result = analyse(path, resamples=args.resamples)
            analyse_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "cellsweep", "sensitivity", str(path),
                                   "--json", "--resamples", str(args.resamples)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "NEURON_INIT_MPI": "0"}, check=True)
            command_s.append(time.perf_counter() - start)
            assert json.loads(proc.stdout)["counts"][0]["used"] == args.n
            print(json.dumps({"step": "repeat", "repeat": repeat, "read_s": read_s[-1],
                              "analyse_s": analyse_s[-1], "command_s": command_s[-1],
                              "outputs": len(result.outputs), "load": loadavg()}), flush=True)
        print(json.dumps({"summary": True, "points": points, "n": args.n,
                          "resamples": args.resamples, "outputs": len(result.outputs),
                          "read_s": stats(read_s), "analyse_s": stats(analyse_s),
                          "command_s": stats(command_s), "make_file_s": made_s}), flush=True)


if __name__ == "__main__":
    main()
