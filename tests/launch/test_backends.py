"""The same sweep gives the same numbers serially, with processes, and with 1-3 MPI ranks."""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from cellsweep.sweep import results
from tests.helpers import assert_same_results, copy_tiny, plain, run_cellsweep

pytestmark = pytest.mark.neuron


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    config = copy_tiny(folder)
    out = folder / "serial.h5"
    run_cellsweep("run", config, "-o", out, "--backend", "serial")
    return config, out


@pytest.mark.parametrize("args", [("--backend", "processes", "--workers", "1"),
                                  ("--backend", "processes", "--workers", "2"),
                                  ("--workers", "3")])
def test_processes_equal_serial(reference, tmp_path, args):
    config, ref = reference
    out = tmp_path / "p.h5"
    run_cellsweep("run", config, "-o", out, *args)
    assert_same_results(ref, out)


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_mpi_equals_serial(reference, tmp_path, ranks):
    """``mpiexec -n 1`` announces one task: local processes on its CPUs, unless asked for
    ``--backend mpi``; more ranks are one MPI job."""
    config, ref = reference
    out = tmp_path / f"mpi{ranks}.h5"
    extra = ("--backend", "mpi") if ranks == 1 else ()
    proc = run_cellsweep("run", config, "-o", out, *extra, mpi=ranks)
    assert f"{ranks} MPI rank(s)" in proc.stderr
    assert_same_results(ref, out)
    with plain(out) as f:
        workers = set(f["worker"][:].tolist())
        assert workers <= set(range(ranks)) and len(workers) >= min(ranks, 2)
        assert int(f.attrs["n_rows"]) == 12
        versions = json.loads(f.attrs["versions"])
    # the MPI that ran, from the library itself, as printable text; no pip package number
    assert versions["mpi_vendor"] and versions["mpi_vendor_version"][0].isdigit()
    assert versions["mpi_ranks"] == ranks and "mpich" not in versions
    assert all(v.isprintable() for v in (versions["mpi_library"], versions["mpi_vendor"]))


@pytest.mark.mpi
def test_one_task_launch_uses_local_processes(reference, tmp_path):
    config, ref = reference
    out = tmp_path / "one.h5"
    proc = run_cellsweep("run", config, "-o", out, "--workers", "2", mpi=1)
    assert "2 processes worker(s)" in proc.stderr
    assert_same_results(ref, out)


def test_results_file_contents(reference):
    _, ref = reference
    with plain(ref) as f:
        assert f.attrs["complete"] and f.attrs["kind"] == "sweep"
        assert "gnabar_hh.somatic" in f.attrs["config"]
        versions = __import__("json").loads(f.attrs["versions"])
        assert {"neuron", "efel", "bluepyopt", "numpy", "h5py", "mpi4py"} <= set(versions)
        assert f["status"].fillvalue == -1 and np.isnan(f["features"].fillvalue)
        assert list(f["parameters"].attrs["names"]) == ["gnabar_hh.somatic", "step.stim.amp_nA"]
        assert list(f["features"].attrs["units"])[1:] == ["mV", "mV"]  # Spikecount has none
        assert (f["status"][:] == 0).all()
    raw = ref.read_bytes()
    assert str(ref.parent).encode() not in raw, "no absolute path of the machine in the file"
    frame = results.load(ref)
    assert len(frame) == 12 and (frame["status"] == "ok").all()
    assert frame.loc[frame["step.stim.amp_nA"] == 0, "step.soma.Spikecount"].eq(0).all()


def test_export_csv_and_sqlite(reference, tmp_path):
    _, ref = reference
    run_cellsweep("export", ref, "--csv", tmp_path / "r.csv", "--sqlite", tmp_path / "r.db")
    frame = pd.read_csv(tmp_path / "r.csv")
    with sqlite3.connect(tmp_path / "r.db") as conn:
        table = pd.read_sql("select * from results", conn)
    assert len(frame) == len(table) == 12
    assert np.allclose(frame["step.soma.Spikecount"], table["step.soma.Spikecount"])


def test_plots_are_written(reference, tmp_path):
    _, ref = reference
    proc = run_cellsweep("plot", ref, "--out", tmp_path / "plots")
    assert (tmp_path / "plots" / "heatmaps.png").stat().st_size > 10_000
    assert "heatmaps.png" in proc.stdout


def test_status_after_the_end(reference):
    _, ref = reference
    proc = run_cellsweep("status", ref)
    assert "complete" in proc.stdout and "12/12 done (ok 12), 0 pending" in proc.stdout


def test_traces_kept_and_one_axis_plots(tmp_path):
    import yaml

    from tests.helpers import DATA

    data = yaml.safe_load((DATA / "tiny" / "tiny.yaml").read_text())
    data["cell"]["morphology"] = str(DATA / "tiny" / "ball_stick.swc")
    data["sweep"]["parameters"] = {"step.stim.amp_nA": {"values": [0.0, 0.3, 0.6]}}
    data["run"]["traces"] = {"dt_ms": 0.5}
    config = tmp_path / "traces.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "traces.h5"
    run_cellsweep("run", config, "-o", out)
    with plain(out) as f:
        traces = f["traces/step/soma"]
        assert traces.shape == (3, 201) and traces.attrs["dt_ms"] == 0.5
        resting, spiking = traces[0], traces[2]
        assert np.all(np.isfinite(traces[:]))
        assert resting.max() < -60 and spiking.max() > 0
    proc = run_cellsweep("plot", out, "--out", tmp_path / "plots", "--points", "0,2")
    assert "response_curves.png" in proc.stdout and "traces.png" in proc.stdout


def test_python_api_run_returns_the_exit_status(reference, tmp_path):
    import signal

    import cellsweep

    config, ref = reference
    out = tmp_path / "api.h5"
    before = signal.getsignal(signal.SIGINT)
    assert cellsweep.run(config, output=out, workers=2) == 0
    assert_same_results(ref, out)
    assert cellsweep.run(config, output=out) == 0             # already complete
    assert signal.getsignal(signal.SIGINT) is before
