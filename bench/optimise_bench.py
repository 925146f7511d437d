"""BluePyOpt's own optimisation vs cellsweep's, same problem, generations and seed.

  python bench/optimise_bench.py --offspring 20 --generations 10 --repeats 3

BluePyOpt runs with its defaults (IBEA; CellEvaluator with isolate_protocols=True) and a pool of
2 processes as map function (``ProcessPoolExecutor(2).map``: ``multiprocessing.Pool(2).map`` fails
with BluePyOpt's default protocol isolation, "daemonic processes are not allowed to have
children"). cellsweep runs ``cellsweep run --workers 2`` on the same problem. Runs alternate
A B A B ...; each prints one JSON line; the summary line gives medians and whether the halls of
fame are identical.
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
from support.bluepyopt_reference import shipped  # noqa: E402

SIMPLE = shipped("ephys", "examples", "simplecell", "simple.swc")   # BluePyOpt's own copy


def bluepyopt_run(offspring, generations, seed, isolate=True):
    """In this process: BluePyOpt's optimisation with a pool of 2; returns (seconds, hof)."""
    from concurrent.futures import ProcessPoolExecutor

    import bluepyopt

    from support.bluepyopt_reference import build

    evaluator = build(str(SIMPLE))
    evaluator.isolate_protocols = isolate
    with ProcessPoolExecutor(2) as pool:
        optimisation = bluepyopt.optimisations.DEAPOptimisation(
            evaluator=evaluator, offspring_size=offspring, seed=seed, map_function=pool.map)
        start = time.perf_counter()
        _, hof, logbook, _ = optimisation.run(max_ngen=generations)
        seconds = time.perf_counter() - start
    return seconds, [list(map(float, ind)) for ind in hof], sum(logbook.select("nevals"))


def cellsweep_run(offspring, generations, seed, folder: Path):
    data = yaml.safe_load((ROOT / "tests" / "data" / "simplecell" /
                           "optimise_simplecell.yaml").read_text())
    data["cell"]["morphology"] = str(SIMPLE)
    data["optimise"].update(offspring_size=offspring, max_generations=generations, seed=seed)
    config = folder / "opt.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = folder / f"opt-{time.monotonic_ns()}.h5"
    env = {**os.environ, "NEURON_INIT_MPI": "0", "CELLSWEEP_NO_PLOTS": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cellsweep", "run", str(config), "-o", str(out),
                    "--workers", "2"], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    whole = time.perf_counter() - start
    import h5py

    with h5py.File(out, "r") as f:
        hof = f["optimisation/hall_of_fame/parameters"][:].tolist()
        n = f["status"].shape[0]
        span = float(f["t_end"][:].max() - f["t_start"][:].min())
    return whole, span, hof, n


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offspring", type=int, default=20)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates = {"bluepyopt": [], "cellsweep_whole": [], "cellsweep_campaign": []}
    same = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            seconds, bpo_hof, nevals = bluepyopt_run(args.offspring, args.generations, args.seed)
            rates["bluepyopt"].append(nevals / seconds)
            print(json.dumps({"tool": "bluepyopt", "repeat": repeat, "evaluations": nevals,
                              "seconds": seconds, "evals_per_s": nevals / seconds}), flush=True)
            whole, span, hof, n = cellsweep_run(args.offspring, args.generations, args.seed,
                                                Path(tmp))
            rates["cellsweep_whole"].append(n / whole)
            rates["cellsweep_campaign"].append(n / span)
            same.append(hof == bpo_hof)
            print(json.dumps({"tool": "cellsweep", "repeat": repeat, "evaluations": n,
                              "whole_command_s": whole, "evals_per_s_whole": n / whole,
                              "evals_per_s_campaign": n / span,
                              "hall_of_fame_identical": hof == bpo_hof}), flush=True)
    summary = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
               for k, v in rates.items()}
    summary["ratio_whole_command"] = (summary["cellsweep_whole"]["median"]
                                      / summary["bluepyopt"]["median"])
    summary["hall_of_fame_identical_every_run"] = all(same)
    print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
