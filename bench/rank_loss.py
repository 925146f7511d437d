"""How long a lost rank goes unnoticed (issue 16), under a real SLURM's ``srun --mpi=pmi2``,
which, unlike Hydra's ``mpiexec``, does not end a step when one task dies.

For each ``run.rank_timeout_s`` and victim, a campaign is started on two ranks and, once results
flow, the victim is SIGKILLed:

- victim 1 (a worker): seconds from the kill to rank 0's "rank 1 silent for" line (its tasks
  then go back to the queue), and whether the campaign still completed;
- victim 0 (the coordinator): seconds from the kill to the worker's "no word from rank 0" line,
  and to the end of the srun step.

Prints one JSON line per run and a summary per case (median, min, max).

    .venv/bin/python bench/rank_loss.py [--timeouts 3 10 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from support.campaigns import bigger_tiny  # noqa: E402
from support.ranks import mpi_ranks  # noqa: E402


def campaign(folder: Path, rank_timeout_s: float) -> Path:
    """3600 evaluations of about 10 ms on two ranks: results flow long before the kill."""
    return bigger_tiny(folder, 60, log_interval_s=1, rank_timeout_s=rank_timeout_s)


def one_run(rank_timeout_s: float, victim: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = campaign(folder, rank_timeout_s)
        output = folder / f"loss-{os.getpid()}-{time.monotonic_ns()}.h5"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "PMI_", "PMIX_"))}
        env.update(NEURON_INIT_MPI="0", CELLSWEEP_NO_PLOTS="1",
                   PATH=f"{Path(sys.executable).parent}:{env['PATH']}")
        proc = subprocess.Popen(["srun", "--mpi=pmi2", "-n", "2", "cellsweep", "run",
                                 str(config), "-o", str(output)], cwd=folder, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[tuple[float, str]] = []
        reader = threading.Thread(target=lambda: lines.extend(
            (time.monotonic(), line) for line in proc.stderr), daemon=True)
        reader.start()
        deadline = time.monotonic() + 120
        while not any("done," in line and not line.split()[2].startswith("0/")
                      for _, line in lines):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("no results: " + "".join(line for _, line in lines))
            time.sleep(0.05)
        ranks = mpi_ranks(output.name)
        killed = time.monotonic()
        os.kill(ranks[victim], signal.SIGKILL)
        stdout = proc.stdout.read()
        proc.wait(timeout=300)
        ended = time.monotonic()
        reader.join(timeout=5)
        needle = "rank 1 silent for" if victim == 1 else "no word from rank 0"
        noticed = next((t for t, line in lines if needle in line), None)
        return {"bench": "rank-loss", "rank_timeout_s": rank_timeout_s, "victim": victim,
                "noticed_s": None if noticed is None else noticed - killed,
                "step_ended_s": ended - killed,
                "completed": "3600/3600 evaluated" in stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", type=float, nargs="+", default=[3.0, 10.0, 30.0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for timeout in args.timeouts:
        for victim in (1, 0):
            runs = []
            for repeat in range(args.repeats):
                result = one_run(timeout, victim)
                runs.append(result)
                print(json.dumps({**result, "repeat": repeat}), flush=True)
            noticed = [r["noticed_s"] for r in runs if r["noticed_s"] is not None]
            ended = [r["step_ended_s"] for r in runs]
            print(json.dumps({
                "bench": "rank-loss-summary", "rank_timeout_s": timeout, "victim": victim,
                "noticed_s_median": statistics.median(noticed) if noticed else None,
                "noticed_s_min": min(noticed, default=None),
                "noticed_s_max": max(noticed, default=None),
                "step_ended_s_median": statistics.median(ended),
                "noticed": f"{len(noticed)}/{len(runs)}",
                "completed": f"{sum(r['completed'] for r in runs)}/{len(runs)}"}), flush=True)


if __name__ == "__main__":
    main()
