"""How rank 0 deals out work: ranks ask one task ahead, but the campaign's last tasks go only to
idle ranks (a task queued behind a long evaluation would otherwise lengthen the campaign)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import env

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
from cellsweep.launch import mpi
from cellsweep.launch.backends import StopFlag
from cellsweep.launch.supervisor import Limits
from support.sleepy import SleepEvaluator

comm = mpi.world()
mpi.install_abort_hook(comm)
durations = json.loads(sys.argv[1])
if comm.Get_rank() != 0:
    mpi.serve_worker(comm, SleepEvaluator(), Limits())
else:
    executor = mpi.MPIExecutor(comm, SleepEvaluator(), Limits(), StopFlag())
    tasks = [{"id": i, "params": {"x": x}} for i, x in enumerate(durations)]
    records = [r for b in executor.imap_unordered(tasks) for r in b.records()]
    executor.close()
    print(json.dumps([{k: r[k] for k in ("id", "worker", "t_start", "t_end")} for r in records]))
"""


def run_schedule(tmp_path, ranks: int, durations: list[float]) -> list[dict]:
    script = tmp_path / "schedule.py"
    script.write_text(SCRIPT)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    proc = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, str(script),
                           json.dumps(durations)], capture_output=True, text=True,
                          env={**env(), "PYTHONPATH": str(ROOT)},
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.mpi
def test_last_task_goes_to_the_idle_rank_not_behind_a_long_one(tmp_path):
    # one rank gets the 3 s task, the other the 1 s one; the busy rank asks ahead at once, but
    # the third (last) task must wait for the rank that goes idle, not queue behind the 3 s one
    records = run_schedule(tmp_path, 2, [1.0, 3.0, 1.0])
    assert sorted(r["id"] for r in records) == [0, 1, 2]
    worker = {r["id"]: r["worker"] for r in records}
    assert worker[2] != worker[1], "the last task was queued behind the long evaluation"


@pytest.mark.mpi
def test_every_task_once_with_ranks_asking_ahead(tmp_path):
    durations = [0.05 * (i % 4) for i in range(40)]
    records = run_schedule(tmp_path, 3, durations)
    assert sorted(r["id"] for r in records) == list(range(40))
    assert {r["worker"] for r in records} == {0, 1, 2}
