"""An uncaught exception on any rank ends the whole MPI job within seconds (mpi4py alone hangs)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import env

SCRIPT = """
import sys, time
from cellsweep.launch import mpi
comm = mpi.world()
mpi.install_abort_hook(comm)
if comm.Get_rank() == 1:
    time.sleep(0.5)
    raise RuntimeError("boom on rank 1")
while True:                  # rank 0 polls, as the coordinator does
    comm.Iprobe()
    time.sleep(0.01)
"""


@pytest.mark.mpi
def test_exception_on_a_worker_rank_aborts_the_job(tmp_path):
    script = tmp_path / "boom.py"
    script.write_text(SCRIPT)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    start = time.monotonic()
    proc = subprocess.run([str(mpiexec), "-n", "2", sys.executable, str(script)],
                          capture_output=True, text=True, env=env(), timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "boom on rank 1" in proc.stderr
    assert elapsed < 20, f"the job took {elapsed:.1f} s to end"
