"""The MPI world checked against what the launcher announced, and ranks that die: under
``mpiexec`` (Hydra) here, under a real SLURM in tests/slurm."""

import os
import signal
import subprocess
import sys
import time

import pytest

from cellsweep.launch import world
from cellsweep.launch.chain import decide
from support.ranks import mpi_ranks
from tests.helpers import assert_same_results, copy_tiny, env, run_cellsweep
from support.campaigns import bigger_tiny
from tests.launch.test_reliability import (check_consistent, journal_records,
                                           start, wait_for_results)


def launcher_env(**announced) -> dict:
    clean = {k: v for k, v in env().items()
             if not k.startswith(("PMI_", "PMIX_", "OMPI_", "MV2_", "SLURM_", "HYDRA_"))}
    return {**clean, **announced}


@pytest.mark.parametrize("environ, expected", [
    ({}, (1, "", 0)),
    ({"SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1"}, (2, "SLURM_STEP_NUM_TASKS", 1)),
    # mpiexec inside an allocation: Hydra's proxies are a one-task step, PMI_SIZE wins
    ({"SLURM_STEP_NUM_TASKS": "1", "PMI_SIZE": "64", "PMI_RANK": "3"}, (64, "PMI_SIZE", 3)),
    ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "0"},
     (4, "OMPI_COMM_WORLD_SIZE", 0)),
])
def test_announced_tasks(environ, expected):
    assert world.announced(environ) == expected
    assert world.under_launcher(environ) == (expected[0] > 1)


def test_slurm_cpus_cap_the_local_processes():
    assert world.slurm_cpus({"SLURM_CPUS_PER_TASK": "3", "SLURM_CPUS_ON_NODE": "8"}) == 3
    assert world.slurm_cpus({"SLURM_CPUS_ON_NODE": "8"}) == 8
    assert world.slurm_cpus({}) is None


def test_library_string_is_one_printable_line():
    text = "Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4\x00"
    assert world.clean_library_string(text) == text[:-1]
    assert world.clean_library_string("MPICH Version:\t5.0.2\nMPICH Release date: x") == \
        "MPICH Version: 5.0.2"


@pytest.mark.mpi
@pytest.mark.parametrize("index", [0, 1])
def test_announced_two_tasks_but_a_world_of_one_is_refused(tmp_path, index):
    """What plain ``srun -n 2`` without PMI does to each task, reproduced on one task: the
    launcher says 2, MPI says 1. Exit 2 before any work; only task 0 says why."""
    config = copy_tiny(tmp_path)
    out = tmp_path / "out.h5"
    proc = subprocess.run([sys.executable, "-m", "cellsweep", "run", str(config), "-o", str(out)],
                          env=launcher_env(SLURM_STEP_NUM_TASKS="2", SLURM_PROCID=str(index)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    if index == 0:
        assert proc.stderr.count("error: cellsweep run:") == 1, proc.stderr
        assert "srun --mpi=pmi2" in proc.stderr and "SLURM_STEP_NUM_TASKS=2" in proc.stderr
    else:
        assert proc.stderr == ""
    assert not list(tmp_path.glob("out*")), "nothing may be written"


@pytest.mark.mpi
def test_pmix_launch_with_an_mpich_without_pmix_is_refused_before_mpi_init(tmp_path):
    config = copy_tiny(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "cellsweep", "run", str(config), "-o", str(tmp_path / "o.h5")],
        env=launcher_env(SLURM_STEP_NUM_TASKS="2", SLURM_PROCID="0", PMIX_RANK="0"),
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "--mpi=pmix" in proc.stderr and "srun --mpi=pmi2" in proc.stderr
    assert not list(tmp_path.glob("o.h5*"))


@pytest.mark.parametrize("summary, link, cancelled, resubmit, why", [
    (None, 1, False, False, "no summary"),
    ({"complete": True, "exit_status": 0}, 1, False, False, "complete"),
    ({"exit_status": 3, "ran": 5}, 1, True, False, "cancelled"),
    ({"exit_status": 4, "ran": 5, "stopped": "SIGTERM"}, 1, False, False, "not by the"),
    ({"exit_status": 3, "ran": 0}, 1, False, False, "no evaluation"),
    ({"exit_status": 3, "ran": 5}, 20, False, False, "at most 20"),
    ({"exit_status": 3, "ran": 5, "evaluated": 5, "total": 9}, 1, False, True, "link 2"),
])
def test_chain_resubmits_only_after_the_warning_with_progress(summary, link, cancelled,
                                                              resubmit, why):
    decided, text = decide(summary, link, 20, cancelled)
    assert decided == resubmit and why in text


def running_campaign(tmp_path, n_side=40):
    config = bigger_tiny(tmp_path, n_side, rank_timeout_s=3)
    output = tmp_path / "run.h5"
    proc = start("run", config, "-o", output, mpi=3)
    wait_for_results(output, proc, minimum=20)
    assert proc.poll() is None, "the campaign ended before the kill"
    ranks = mpi_ranks(output.name)
    assert sorted(ranks) == [0, 1, 2], ranks
    return config, output, proc, ranks


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_killed_rank_ends_the_job_within_seconds_and_resume_equals_uninterrupted(tmp_path,
                                                                                 victim):
    """Hydra ends the job when any rank dies (tests/slurm shows srun, which does not: there
    the others go on, or exit when rank 0 is gone). Either way: no hang, a consistent file,
    and a resume equal to an uninterrupted run."""
    config, output, proc, ranks = running_campaign(tmp_path)
    os.kill(ranks[victim], signal.SIGKILL)
    proc.communicate(timeout=30)            # a hang fails here
    assert proc.returncode != 0
    deadline = time.monotonic() + 10          # mpiexec has ended; its ranks go with it
    while mpi_ranks(output.name):
        assert time.monotonic() < deadline, "a rank outlived the job"
        time.sleep(0.05)
    done = journal_records(output)
    assert done > 0
    run_cellsweep("run", config, "-o", output, mpi=3)
    check_consistent(output, 1600)
    reference = tmp_path / "reference.h5"
    run_cellsweep("run", config, "-o", reference)
    assert_same_results(reference, output)
