"""rxd benchmark (issue 13): the calcium-buffering sweep (configs/rxd/calcium_buffering.yaml,
``--points`` values of kf) with cellsweep and as a plain NEURON loop. Prints JSON lines.

  NEURON_INIT_MPI=0 python bench/rxd_bench.py [--points 200] [--workers 2]

(a) ``cellsweep run`` of a copy of the config whose sweep is kf = linspace(0.5, 4, points),
    ``--backend processes --workers N`` (plots off), wall time of the command, and from the
    results file the mean evaluation time and its split (build, simulate);
(b) a plain NEURON loop in one fresh process over the same kf values: the tutorial's objects
    made once; per point the reaction replaced (rxd fixes kf when a reaction is made),
    ``finitialize`` and ``continuerun(50)`` (timed), and, for the split, the time of
    ``finitialize`` alone (rxd's set-up: it compiles its reaction code there);
(c) cellsweep's ``RxdModel`` build and removal per evaluation, timed in one process.
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
PLAIN = """
import json, sys, time
import numpy as np
from neuron import h, rxd
h.load_file("stdrun.hoc")
kfs = json.loads(sys.argv[1])
soma = h.Section(name="soma")
soma.L = soma.diam = 10
cyt = rxd.Region([soma], nrn_region="i")
ca = rxd.Species(cyt, name="ca", charge=2, initial=1)
buf = rxd.Species(cyt, name="buf", initial=1)
cabuf = rxd.Species(cyt, name="cabuf", initial=0)
growth = rxd.Rate(buf, 1e-3 * buf)
h.dt = 0.025
walls, inits, reaction = [], [], None
for kf in kfs:
    start = time.perf_counter()
    reaction = None
    reaction = rxd.Reaction(2 * ca + buf, cabuf, kf, 0.1)
    mark = time.perf_counter()
    h.finitialize(-65)
    inits.append(time.perf_counter() - mark)
    h.continuerun(50)
    walls.append(time.perf_counter() - start)
print(json.dumps({"walls": walls, "inits": inits}))
"""


def _config(folder: Path, points: int) -> Path:
    data = yaml.safe_load((REPO / "configs" / "rxd" / "calcium_buffering.yaml").read_text())
    data["cell"]["morphology"] = str(REPO / "configs" / "rxd" / "soma.swc")
    data["sweep"] = {"design": "grid", "parameters": {
        "rxd.reactions.buffering.kf": {"linspace": [0.5, 4.0, points]}}}
    data["run"] = {"output": str(folder / "bench.h5"), "progress": "none"}
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "NEURON_INIT_MPI": "0", "CELLSWEEP_NO_PLOTS": "1"}
    import numpy as np

    from cellsweep import load_results

    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), args.points)
        walls = {}
        for variant, backend in (("a", ["--backend", "processes", "--workers",
                                        str(args.workers)]),
                                 ("a_serial", ["--backend", "serial"])):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cellsweep", "run", str(config), "--restart",
                            *backend], check=True, env=env, capture_output=True, cwd=tmp)
            walls[variant] = time.perf_counter() - start
            frame = load_results(Path(tmp) / "bench.h5")
            timing = {c: float(frame[c].mean()) for c in frame.columns if c.startswith("time.")}
            print(json.dumps({"variant": variant, "points": args.points, "wall_s": walls[variant],
                              "mean_timings_s": timing, "loadavg": _load()}))
        wall_a = walls["a"]
        kfs = np.linspace(0.5, 4.0, args.points).tolist()
        proc = subprocess.run([sys.executable, "-c", PLAIN, json.dumps(kfs)], check=True,
                              env=env, capture_output=True, text=True, cwd=tmp)
        plain = json.loads(proc.stdout.strip().splitlines()[-1])
        wall_b = sum(plain["walls"])
        print(json.dumps({"variant": "b", "points": args.points, "loop_s": wall_b,
                          "per_point_s": wall_b / args.points,
                          "finitialize_s": float(np.median(plain["inits"])),
                          "loadavg": _load()}))
        print(json.dumps({"variant": "c", **_build_cost(config)}))
        print(json.dumps({"summary": True, "b_over_a": wall_b / wall_a,
                          "a_serial_over_b": walls["a_serial"] / wall_b}))


def _load() -> float:
    """The 1-minute load average: the host is shared, so say how busy it was."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _build_cost(config: Path) -> dict:
    """RxdModel build + close per evaluation, timed on the model's cell (10 times)."""
    from cellsweep.cells.evaluate import current_cell, evaluate
    from cellsweep.cells.loader import load_model
    from cellsweep.cells.rxd_model import RxdModel

    model, _ = load_model(config)
    evaluate(model, {})
    cell = current_cell()
    times = []
    for _ in range(10):
        start = time.perf_counter()
        RxdModel(cell, model.rxd).close()
        times.append(time.perf_counter() - start)
    return {"build_and_close_s": sorted(times)[len(times) // 2]}


if __name__ == "__main__":
    main()
