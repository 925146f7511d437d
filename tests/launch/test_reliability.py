"""Kills, signals, faults and resumes: nothing finished is lost, nothing is duplicated, and the
finished file equals an uninterrupted run's."""

import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest
import yaml

from cellsweep.sweep import results
from cellsweep.sweep.store import journal
from cellsweep.sweep.store import paths
from support.campaigns import bigger_tiny
from tests.helpers import (plain, DATA, assert_same_results, cellsweep_command, env,
                                  run_cellsweep)

pytestmark = pytest.mark.neuron


def start(*args, mpi=None) -> subprocess.Popen:
    return subprocess.Popen(cellsweep_command(*args, mpi=mpi), env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the whole process group (coordinator, evaluation processes, MPI ranks)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:                       # it had already finished
        pass
    proc.communicate()


def journal_records(output) -> int:
    """Finished evaluations committed to the output's journal so far."""
    return sum(len(item) for item in journal.read(paths(output)[0])[0]
               if not isinstance(item, dict))


def wait_for_results(output, proc, minimum=1, timeout=60, required=True):
    """Until more than ``minimum`` results are journaled or the run ends; at most ``timeout``
    seconds (then an error if ``required``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal_records(output) > minimum or proc.poll() is not None:
            return
        time.sleep(0.05)
    if required:
        raise AssertionError("no results appeared")


def check_consistent(output, n_points):
    """Opens with plain h5py; every committed row is a real result; ids unique."""
    with plain(output) as f:
        status = f["status"][:]
        ids = f["eval_id"][:]
        assert len(set(ids.tolist())) == len(ids) == n_points
        done = status >= 0
        assert int(f.attrs["n_committed"]) == int(done.sum())
        assert not np.isnan(f["total_score"][:][done]).any()


def kill_and_resume(config, output, kills, mpi=None, seed=0):
    """SIGKILL whole runs at random moments: every third during start-up, the others at a
    random moment after new results appeared (so that kills land while results are written,
    however slow the machine is). Returns the committed result count seen before each kill."""
    rng = random.Random(seed)
    survived = []
    for k in range(kills):
        before = journal_records(output)
        proc = start("run", config, "-o", output, mpi=mpi)
        if k % 3 == 0:          # start-up: a random moment, but before new results appear
            wait_for_results(output, proc, minimum=before, timeout=rng.uniform(0.2, 2.0),
                             required=False)
        else:
            wait_for_results(output, proc, minimum=before, timeout=120)
            time.sleep(rng.uniform(0.0, 1.0))
        before = journal_records(output)
        kill(proc)
        time.sleep(0.1)                                       # let the OS reap the whole group
        survived.append(before)
        if not paths(output)[0].exists() and output.exists():
            break                       # it completed before the kill: nothing to interrupt
        assert journal_records(output) >= before, "a committed result was lost"
    return survived


@pytest.mark.slow
@pytest.mark.parametrize("mpi", [None, pytest.param(2, marks=pytest.mark.mpi)])
def test_killed_at_random_moments_then_resumed_equals_uninterrupted(tmp_path, mpi):
    config = bigger_tiny(tmp_path, 20)
    reference = tmp_path / "reference.h5"
    run_cellsweep("run", config, "-o", reference, "--workers", "2")
    output = tmp_path / "killed.h5"
    progress = kill_and_resume(config, output, kills=10, mpi=mpi, seed=1 if mpi else 0)
    assert max(progress) > 0, "the kills must land while results are being written"
    if output.exists():
        with plain(output) as f:          # readable with plain h5py after any kill
            assert f["status"].shape == (400,)
    run_cellsweep("run", config, "-o", output, mpi=mpi)
    check_consistent(output, 400)
    assert_same_results(reference, output)
    assert not paths(output)[0].exists() and not paths(output)[1].exists()


@pytest.mark.slow
@pytest.mark.parametrize("mpi, sig, code", [
    (None, signal.SIGTERM, 4),                                # cancelled: not resubmitted
    pytest.param(2, signal.SIGUSR1, 3, marks=pytest.mark.mpi),  # the wall-time warning
])
def test_signal_stops_cleanly_with_its_own_status_and_resumes(tmp_path, mpi, sig, code):
    config = bigger_tiny(tmp_path, 45)
    output = tmp_path / "stopped.h5"
    proc = start("run", config, "-o", output, mpi=mpi)
    wait_for_results(output, proc, minimum=20)
    assert proc.poll() is None, "the campaign ended before the signal"
    status = run_cellsweep("status", output)
    assert "running" in status.stdout and "pending" in status.stdout
    sent = time.monotonic()
    (os.killpg if mpi else os.kill)(proc.pid, sig)
    _, stderr = proc.communicate(timeout=30)
    elapsed = time.monotonic() - sent
    assert elapsed < 5, f"took {elapsed:.1f} s to stop"
    assert proc.returncode == code, stderr
    assert f"stopped ({sig.name})" in stderr
    info = results.status(output)
    assert not info["running"] and 0 < info["done"] < 2025
    check_consistent(output, 2025)
    run_cellsweep("run", config, "-o", output, mpi=mpi)
    reference = tmp_path / "reference.h5"
    run_cellsweep("run", config, "-o", reference)
    assert_same_results(reference, output)


def test_fault_mix_records_one_status_each_and_goes_on(tmp_path):
    import shutil

    for name in ("faults.yaml", "faults.csv", "fault.mod", "ball_stick.swc"):
        shutil.copy(DATA / "faults" / name, tmp_path / name)
    output = tmp_path / "faults.h5"
    proc = run_cellsweep("run", tmp_path / "faults.yaml", "-o", output, "--workers", "1")
    assert proc.returncode == 0
    frame = results.load(output).set_index("eval_id")
    expected = ["ok", "error", "crashed", "timeout", "error", "ok", "nan", "ok"]
    assert frame["status"].tolist() == expected
    assert "injected hoc error" in frame.loc[1, "message"]
    assert "SIGSEGV" in frame.loc[2, "message"] and frame.loc[2, "attempt"] == 2
    assert frame.loc[3, "attempt"] == 2
    assert "integration stopped" in frame.loc[4, "message"]
    assert "not finite" in frame.loc[6, "message"]
    features = [c for c in frame.columns if c.startswith("step.soma.")]
    # after a CVode failure and after a NaN run, the same point gives a fresh process's numbers
    assert np.array_equal(frame.loc[5, features].to_numpy(float),
                          frame.loc[0, features].to_numpy(float), equal_nan=True)
    assert np.array_equal(frame.loc[7, features].to_numpy(float),
                          frame.loc[0, features].to_numpy(float), equal_nan=True)
    assert (frame.loc[[1, 2], "total_score"] == 500.0).all()


def test_values_no_evaluation_could_use_are_refused_before_the_run(tmp_path):
    """A NaN parameter and zero segments used to be run-time faults; they are refused up front
    now (cells.values), with the row and column, and nothing is written."""
    import shutil

    for name in ("faults.yaml", "fault.mod", "ball_stick.swc"):
        shutil.copy(DATA / "faults" / name, tmp_path / name)
    (tmp_path / "faults.csv").write_text(
        "mode_fault.somatic,gnabar_hh.somatic,nseg.somatic,sim.atol,sim.cvode\n"
        "0,0.12,1,0.001,1\n0,nan,1,0.001,1\n0,0.12,0,0.001,1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_cellsweep("run", tmp_path / "faults.yaml", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "faults.csv:3: column 'gnabar_hh.somatic': expected a finite number, found nan" \
        in proc.stderr
    assert "faults.csv:4: column 'nseg.somatic': expected a whole number of segments" \
        in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_changed_config_is_refused_and_restart_starts_over(tmp_path):
    config = bigger_tiny(tmp_path, 3)
    output = tmp_path / "r.h5"
    run_cellsweep("run", config, "-o", output)
    again = run_cellsweep("run", config, "-o", output, "--workers", "1")
    assert "already complete" in again.stdout
    data = yaml.safe_load(config.read_text())
    data["features"][0]["mean"] = 6
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    refused = run_cellsweep("run", config, "-o", output, check=False)
    assert refused.returncode == 2
    assert "holds results of a different config" in refused.stderr
    data["features"][0]["mean"] = 7
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    restarted = run_cellsweep("run", config, "-o", output, "--restart")
    assert "9/9 evaluated" in restarted.stdout


def test_unfinished_campaign_with_changed_config_lists_the_keys(tmp_path):
    config = bigger_tiny(tmp_path, 30)
    output = tmp_path / "u.h5"
    proc = start("run", config, "-o", output)
    wait_for_results(output, proc, minimum=5)
    kill(proc)
    data = yaml.safe_load(config.read_text())
    data["features"][1]["std"] = 9
    data["run"]["workers"] = 1                        # run-only keys may change freely
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    refused = run_cellsweep("run", config, "-o", output, check=False)
    assert refused.returncode == 2
    assert "the config changed since this campaign started (changed: features[1].std)" in refused.stderr


def test_second_run_on_the_same_output_is_refused(tmp_path):
    config = bigger_tiny(tmp_path, 30)
    output = tmp_path / "busy.h5"
    proc = start("run", config, "-o", output)
    wait_for_results(output, proc, minimum=1)
    second = run_cellsweep("run", config, "-o", output, check=False)
    kill(proc)
    assert second.returncode == 2
    assert "another cellsweep run is writing this output" in second.stderr
