"""cellsweep under a real SLURM: one local node started by tests/slurm/local_slurm.sh (.ci/run
does that as root), ``MpiDefault=none`` as many sites ship it, the pip MPICH and mpi4py.

What these show: ``srun --mpi=pmi2`` is one MPI job and gives the serial file; plain ``srun``
(no PMI) is refused on every task with one hint; the unmodified job script's chain stops at a
real wall-time warning, resubmits itself with the job's own options and ends equal to an
uninterrupted run; ``scancel`` and a link without progress do not resubmit; a killed worker
rank's tasks go to the others, and a killed rank 0 lets the others go within seconds.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from support.ranks import mpi_ranks
from tests.helpers import assert_same_results, copy_tiny, env, plain, run_cellsweep
from support.campaigns import bigger_tiny
from tests.launch.test_reliability import (check_consistent, journal_records,
                                           wait_for_results)

pytestmark = [pytest.mark.slurm, pytest.mark.neuron, pytest.mark.mpi]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "launch" / "jobs" / "slurm.sbatch"
VENV = Path(sys.executable).parent.parent


def _slurm_up() -> str:
    """'' when a local SLURM answers with an idle node, else why not."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM is not installed here (tests/slurm/local_slurm.sh installs and starts it)"
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                timeout=20).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "sinfo did not answer"
    if not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        return (f"no usable SLURM node ({' '.join(states) or 'slurmctld down'}): start one "
                "with tests/slurm/local_slurm.sh as root")
    return ""


@pytest.fixture(scope="module")
def slurm():
    why = _slurm_up()
    if why:
        pytest.skip(why)
    subprocess.run(["scontrol", "update", "nodename=ALL", "state=resume"],
                   capture_output=True, timeout=20)


def slurm_env(**extra) -> dict:
    """The test's environment without the session's own SLURM/MPI variables."""
    clean = {k: v for k, v in env().items()
             if not k.startswith(("SLURM_", "SBATCH_", "PMI_", "PMIX_", "OMPI_", "HYDRA_"))}
    return {**clean, "CELLSWEEP_VENV": str(VENV), "PATH": f"{VENV / 'bin'}:{clean['PATH']}",
            **extra}


def srun(*args, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(["srun", *map(str, args)], cwd=cwd, env=slurm_env(),
                          capture_output=True, text=True, timeout=timeout)


def job_field(job: str, key: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True,
                         text=True, timeout=20).stdout
    for item in out.split():
        if item.startswith(key + "="):
            return item.split("=", 1)[1]
    return ""


def jobs_named(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True,
                         text=True, timeout=20).stdout
    return out.split()


def sbatch(folder, name, *args, extra_env=None) -> str:
    proc = subprocess.run(["sbatch", "--parsable", f"--job-name={name}",
                           f"--output={folder}/{name}-%j.log", *map(str, args)],
                          cwd=folder, env=slurm_env(**(extra_env or {})), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def wait_chain(name: str, timeout: float) -> None:
    """Until no job of the chain is pending or running."""
    deadline = time.monotonic() + timeout
    while jobs_named(name):
        if time.monotonic() > deadline:
            subprocess.run(["scancel", "-n", name], timeout=20)
            raise AssertionError(f"the chain {name} was still queued after {timeout:.0f} s")
        time.sleep(1)


def logs(folder, name) -> list[tuple[str, str]]:
    """(job id, log text) of every link, in submission order."""
    found = sorted(folder.glob(f"{name}-*.log"),
                   key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [(p.stem.rsplit("-", 1)[1], p.read_text()) for p in found]


def name() -> str:
    return "cs-" + uuid.uuid4().hex[:8]


def long_campaign(folder, n_side=32, tstop_ms=30000, **run) -> Path:
    """About 50 s of work on two ranks: longer than the latest warning of a one-minute job."""
    import yaml

    config = Path(bigger_tiny(folder, n_side, **run))
    data = yaml.safe_load(config.read_text())
    data["protocols"]["step"]["tstop_ms"] = tstop_ms
    data["run"]["log_interval_s"] = 5
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_srun_pmi2_is_one_mpi_job_equal_to_serial(slurm, tmp_path):
    config = copy_tiny(tmp_path)
    reference = tmp_path / "serial.h5"
    run_cellsweep("run", config, "-o", reference, "--backend", "serial")
    proc = srun("--mpi=pmi2", "-n", 2, "cellsweep", "run", config, "-o", tmp_path / "srun.h5",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 MPI rank(s)" in proc.stderr
    assert_same_results(reference, tmp_path / "srun.h5")


def test_plain_srun_without_pmi_is_refused_on_every_task_with_one_hint(slurm, tmp_path):
    config = copy_tiny(tmp_path)
    proc = srun("-n", 2, "cellsweep", "run", config, "-o", tmp_path / "out.h5", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("error: cellsweep run:") == 1, proc.stderr
    assert "srun --mpi=pmi2" in proc.stderr and "Traceback" not in proc.stderr
    assert "tasks 0-1: Exited with exit code 2" in proc.stderr       # every task said 2
    assert not list(tmp_path.glob("out.h5*")), "nothing may be written"


def test_one_task_step_uses_local_processes_on_its_cpus(slurm, tmp_path):
    config = copy_tiny(tmp_path)
    proc = srun("-n", 1, "-c", 2, "cellsweep", "run", config, "-o", tmp_path / "one.h5",
                cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2 processes worker(s)" in proc.stderr


@pytest.mark.slow
def test_chain_stops_at_the_warning_resubmits_and_equals_an_uninterrupted_run(slurm, tmp_path):
    """The unmodified job script with a one-minute limit and the warning 45 s before it (SLURM
    checks every ~30 s, so it comes 15-45 s into each link: some work is done, and the 50 s
    campaign is never done before it); the options given on the command line (-n 2,
    --time=1) must reach every link."""
    config = long_campaign(tmp_path)
    chain = name()
    sbatch(tmp_path, chain, "-n", 2, "--time=1", "--mail-type=FAIL",
           "--mail-user=nobody@localhost", SCRIPT, config.name, "-o", "chain.h5",
           extra_env={"SBATCH_SIGNAL": "B:USR1@45"})
    wait_chain(chain, timeout=300)
    links = logs(tmp_path, chain)
    assert len(links) >= 2, links
    for job, text in links:
        assert job_field(job, "JobState") == "COMPLETED", text   # a resubmitting link too
        assert job_field(job, "TimeLimit") == "00:01:00"
        assert job_field(job, "NumTasks") == "2"
        assert job_field(job, "MailType") == "FAIL"              # mail only when it needs you
        assert "srun --mpi=pmi2 (2 task(s))" in text
    assert "stopped (SIGUSR1)" in links[0][1]
    assert "resubmitting: stopped by the wall-time warning" in links[0][1]
    assert "not resubmitting: the campaign is complete" in links[-1][1]
    check_consistent(tmp_path / "chain.h5", 1024)
    reference = tmp_path / "reference.h5"
    run_cellsweep("run", config, "-o", reference, "--workers", "2")
    assert_same_results(reference, tmp_path / "chain.h5")


def _wait_log(folder, chain, text, timeout=120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        links = logs(folder, chain)
        if links and text in links[-1][1]:
            return links[-1][0]
        time.sleep(0.3)
    raise AssertionError(f"{text!r} did not appear: {logs(folder, chain)}")


@pytest.mark.slow
def test_scancel_stops_the_campaign_and_does_not_resubmit(slurm, tmp_path):
    config = long_campaign(tmp_path)
    chain = name()
    job = sbatch(tmp_path, chain, "-n", 2, "--time=5", SCRIPT, config.name, "-o", "c.h5")
    _wait_log(tmp_path, chain, "grid sweep of")
    deadline = time.monotonic() + 120
    while journal_records(tmp_path / "c.h5") < 20:          # it is evaluating
        assert time.monotonic() < deadline, logs(tmp_path, chain)
        time.sleep(0.2)
    subprocess.run(["scancel", job], check=True, timeout=20)
    wait_chain(chain, timeout=120)
    links = logs(tmp_path, chain)
    assert len(links) == 1, links
    assert job_field(job, "JobState") == "CANCELLED"
    done = journal_records(tmp_path / "c.h5")
    assert 0 < done < 1024
    assert "stopped (SIGTERM)" in links[0][1] and "not resubmitting" in links[0][1]
    check_consistent(tmp_path / "c.h5", 1024)    # what was committed is whole; a rerun resumes


@pytest.mark.slow
def test_link_without_progress_does_not_resubmit(slurm, tmp_path):
    """The warning comes before any evaluation could finish (it is sent the moment the run has
    started, by SLURM itself, to the batch shell as the B:USR1 warning is): the chain stops."""
    config = long_campaign(tmp_path, n_side=4, tstop_ms=400000)   # evaluations of seconds
    chain = name()
    job = sbatch(tmp_path, chain, "-n", 2, "--time=5", SCRIPT, config.name, "-o", "np.h5")
    _wait_log(tmp_path, chain, "grid sweep of")
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True, timeout=20)
    wait_chain(chain, timeout=120)
    links = logs(tmp_path, chain)
    assert len(links) == 1, links
    assert "not resubmitting: this link finished no evaluation" in links[0][1], links[0][1]
    assert job_field(job, "JobState") == "FAILED"       # status 3, not resubmitted
    assert job_field(job, "ExitCode").startswith("3:")


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_killed_rank_under_srun_never_hangs_the_job(slurm, tmp_path, victim):
    """srun does not end a step when one task dies. A killed worker: rank 0 finds it silent
    after ``rank_timeout_s`` (3 s here) and gives its tasks to the others; the campaign
    completes. A killed rank 0: the workers exit within ``rank_timeout_s`` (status 5); the
    resume gives the uninterrupted file."""
    config = bigger_tiny(tmp_path, 40, rank_timeout_s=3)
    output = tmp_path / f"kill{victim}.h5"
    proc = subprocess.Popen(["srun", "--mpi=pmi2", "-n", "2", "cellsweep", "run", str(config),
                             "-o", str(output)], cwd=tmp_path, env=slurm_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_results(output, proc, minimum=20)
    assert proc.poll() is None, "the campaign ended before the kill"
    ranks = mpi_ranks(output.name)
    assert sorted(ranks) == [0, 1], ranks
    os.kill(ranks[victim], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=60)         # a hang fails here
    if victim == 1:
        assert "rank 1 silent for" in stderr and "go back to the queue" in stderr, stderr
        assert "1600/1600 evaluated" in stdout, stdout + stderr
    else:
        assert "no word from rank 0" in stderr, stderr
        assert "task 1: Exited with exit code 5" in stderr, stderr
        run_cellsweep("run", config, "-o", output)
    check_consistent(output, 1600)
    reference = tmp_path / "reference.h5"
    run_cellsweep("run", config, "-o", reference)
    assert_same_results(reference, output)


def _open_mpi() -> str:
    """The system Open MPI's library name if it and SLURM's PMIx plugin are here, else ''."""
    listed = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    plugins = subprocess.run(["srun", "--mpi=list"], capture_output=True, text=True)
    if "libmpi.so.40" not in listed or "pmix" not in plugins.stdout + plugins.stderr:
        return ""
    return "libmpi.so.40"


def test_job_script_runs_the_clusters_open_mpi_through_pmix(slurm, tmp_path):
    """A system MPI loaded through MPI4PY_LIBMPI: the job script picks ``srun --mpi=pmix`` for
    it, the numbers equal the serial run's, and the file records Open MPI, as printable text,
    not the pip MPICH's version."""
    library = _open_mpi()
    if not library:
        pytest.skip("no system Open MPI with SLURM's PMIx plugin (tests/slurm/local_slurm.sh "
                    "installs openmpi-bin and libpmix-dev)")
    config = copy_tiny(tmp_path)
    reference = tmp_path / "serial.h5"
    run_cellsweep("run", config, "-o", reference, "--backend", "serial")
    chain = name()
    job = sbatch(tmp_path, chain, "-n", 2, "--time=5", SCRIPT, config.name, "-o", "ompi.h5",
                 extra_env={"MPI4PY_LIBMPI": library})
    wait_chain(chain, timeout=180)
    (_, text), = logs(tmp_path, chain)
    assert job_field(job, "JobState") == "COMPLETED", text
    assert "srun --mpi=pmix (2 task(s))" in text and "2 MPI rank(s)" in text, text
    assert_same_results(reference, tmp_path / "ompi.h5")
    with plain(tmp_path / "ompi.h5") as f:
        versions = json.loads(f.attrs["versions"])
    assert versions["mpi_vendor"] == "Open MPI" and "mpich" not in versions
    assert versions["mpi_library"].startswith("Open MPI v") and versions["mpi_library"].isprintable()


def test_job_script_with_the_venvs_mpiexec_inside_the_allocation(slurm, tmp_path):
    """The launch the script falls back to where SLURM has no PMI-2 plugin (forced here with
    CELLSWEEP_LAUNCH): Hydra inside the allocation, one MPI job, the serial file."""
    config = copy_tiny(tmp_path)
    reference = tmp_path / "serial.h5"
    run_cellsweep("run", config, "-o", reference, "--backend", "serial")
    chain = name()
    job = sbatch(tmp_path, chain, "-n", 2, "--time=5", SCRIPT, config.name, "-o", "hydra.h5",
                 extra_env={"CELLSWEEP_LAUNCH": f"{VENV / 'bin' / 'mpiexec'} -n 2"})
    wait_chain(chain, timeout=180)
    (_, text), = logs(tmp_path, chain)
    assert job_field(job, "JobState") == "COMPLETED", text
    assert "2 MPI rank(s)" in text, text
    assert_same_results(reference, tmp_path / "hydra.h5")
