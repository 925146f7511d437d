"""The results file's owner (``sweep.store``): its whole lifecycle, and the typed reader.

open -> record -> commit -> (kill) -> resume -> complete, and refusal of a changed campaign,
through the one door every campaign kind uses (``open_for_writing``); the reader on files of
this layout, of the previous one (format version 1, written by cellsweep before the store had
one owner: ``tests/data/legacy``), and on files it must refuse.
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from cellsweep.sweep import results
from cellsweep.sweep import store as St
from cellsweep.sweep.batch import RecordBatch
from tests.helpers import plain

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy"


def record(i, status="ok"):
    return {"id": i, "attempt": 1, "status": status, "message": "" if status == "ok" else "boom",
            "params": [0.5 * i], "features": [float(i), 2.0 * i], "scores": [0.1 * i, 1.0],
            "timings": {"total": 0.01}, "nseg": 5, "worker": i % 2, "host": "node",
            "t_start": 1e9 + i, "t_end": 1e9 + i + 0.5}


def layout(n=10):
    return St.Layout(kind="sweep", param_names=("x",), param_units=("nA",),
                     feature_names=("f", "g"), feature_units=("mV", ""), n_rows=n)


def campaign(signature="sig", config=None):
    return St.Campaign(config_text="a: 1\n", signature=signature,
                       signature_data=config if config is not None else {"a": 1},
                       versions={"cellsweep": "test"}, extra={"design": "grid"})


def points(n=10):
    return (0.5 * np.arange(n))[:, None]


def open_store(output, signature="sig", config=None, restart=False):
    return St.open_for_writing(output, layout(), campaign(signature, config), points(),
                               restart=restart, commit_interval_s=3600)


def kill(store):
    """What SIGKILL leaves: the journal as appended, the lock released by the OS, no finish."""
    store.journal.close()
    store.lock.close()


def content(path):
    f = St.ResultsFile(path)
    cols = f.columns(include_pending=True)
    return {k: v for k, v in cols.items() if k not in ("worker", "host", "t_start", "t_end")
            and not k.startswith("time.")}


def assert_same(a, b):
    x, y = content(a), content(b)
    assert x.keys() == y.keys()
    for key in x:
        u, v = np.asarray(x[key]), np.asarray(y[key])
        assert np.array_equal(u, v, equal_nan=u.dtype.kind == "f"), key


def test_open_record_commit_complete(tmp_path):
    out = tmp_path / "out.h5"
    store = open_store(out)
    journal, lock = St.paths(out)
    assert journal.exists() and lock.exists() and out.exists()
    store.record(RecordBatch.from_records([record(i) for i in (3, 1)]))
    assert St.ResultsFile(out).status_counts() == {}      # journaled, not yet in HDF5
    store.commit()
    f = St.ResultsFile(out)
    assert not f.complete and f.status_counts() == {"ok": 2}
    assert f.column("eval_id").tolist() == list(range(10))  # a sweep's rows are its points
    store.record(RecordBatch.from_records([record(i, "error" if i == 7 else "ok")
                                           for i in range(10) if i not in (1, 3)]))
    store.finish(complete=True)
    assert not journal.exists() and not lock.exists()
    f = St.ResultsFile(out)
    assert f.complete and f.format_version == St.FORMAT_VERSION
    assert f.status_counts() == {"ok": 9, "error": 1}
    assert f.param_names == ["x"] and f.param_units == ["nA"] and f.feature_units == ["mV", ""]
    assert f.metadata()["design"] == "grid" and f.versions == {"cellsweep": "test"}
    frame = f.frame()
    assert frame["eval_id"].tolist() == list(range(10))
    assert frame.loc[7, "status"] == "error" and frame.loc[7, "message"] == "boom"
    np.testing.assert_array_equal(frame["score.f"], 0.1 * np.arange(10))
    assert open_store(out) is None                            # complete: nothing to do
    assert not lock.exists()


def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    ref = tmp_path / "ref.h5"
    store = open_store(ref)
    store.record(RecordBatch.from_records([record(i) for i in range(10)]))
    store.finish(complete=True)

    out = tmp_path / "out.h5"
    store = open_store(out)
    store.record(RecordBatch.from_records([record(i) for i in (0, 5, 9)]))
    store.commit()
    store.record(RecordBatch.from_records([record(2)]))       # journaled after the last commit
    kill(store)
    assert St.ResultsFile(out).status_counts() == {"ok": 3}
    status = results.status(out)
    assert status["done"] == 4 and status["pending"] == 6 and not status["running"]

    store = open_store(out)                                   # resume: rebuilt from the journal
    assert store.n_done == 4 and store.has(2)
    assert St.ResultsFile(out).status_counts() == {"ok": 4}
    store.record(RecordBatch.from_records([record(i) for i in range(10)]))   # 4 are repeats
    assert store.n_done == 10
    store.finish(complete=True)
    assert_same(ref, out)
    runs = json.loads(St.ResultsFile(out).attrs["runs"])
    assert [r["evaluated"] for r in runs] == [4, 6]


def test_a_kill_while_the_first_file_is_written_leaves_a_resumable_campaign(tmp_path,
                                                                             monkeypatch):
    """The journal exists before the HDF5 file: a lone HDF5 file means "complete", so a kill
    while the first one is written (fsync can take long on a busy disk) must not leave one."""
    out = tmp_path / "out.h5"

    class Killed(BaseException):
        pass

    def killed_while_writing(path, *args, **kwargs):
        Path(path).write_bytes(b"half an HDF5 file")           # the temporary file, torn
        raise Killed()

    monkeypatch.setattr(St.hdf5, "write_new", killed_while_writing)
    with pytest.raises(Killed):
        open_store(out)
    monkeypatch.undo()
    assert St.paths(out)[0].exists() and not out.exists()
    store = open_store(out)                                   # resumes, is not refused
    store.record(RecordBatch.from_records([record(i) for i in range(10)]))
    store.finish(complete=True)
    assert St.ResultsFile(out).status_counts() == {"ok": 10}


def test_a_changed_campaign_is_refused_with_its_changed_keys(tmp_path):
    out = tmp_path / "out.h5"
    store = open_store(out, config={"cell": {"Ra": 100}, "sweep": {"n": 3}})
    store.record(RecordBatch.from_records([record(0)]))
    kill(store)
    before = out.read_bytes(), St.paths(out)[0].read_bytes()
    with pytest.raises(St.CampaignChanged) as info:
        open_store(out, signature="other", config={"cell": {"Ra": 150}, "sweep": {"n": 3}})
    assert info.value.changed == ["cell.Ra"]
    assert "changed: cell.Ra" in info.value.problems[0]
    assert (out.read_bytes(), St.paths(out)[0].read_bytes()) == before   # nothing touched
    store = open_store(out, signature="other", config={}, restart=True)
    assert store.n_done == 0 and not St.ResultsFile(out).status_counts()
    store.finish(complete=True)
    with pytest.raises(St.OutputTaken, match="holds results of a different config"):
        open_store(out, signature="third")


def test_a_second_writer_is_kept_away(tmp_path):
    out = tmp_path / "out.h5"
    store = open_store(out)
    with pytest.raises(St.OutputBusy, match="another cellsweep run is writing"):
        open_store(out)
    store.finish(complete=False)
    again = open_store(out)
    assert again.n_done == 0
    again.finish(complete=False)


def test_a_file_that_is_not_ours_is_refused(tmp_path):
    out = tmp_path / "out.h5"
    out.write_bytes(b"not hdf5 at all")
    with pytest.raises(St.OutputTaken, match="is not a complete cellsweep results file"):
        open_store(out)
    with pytest.raises(St.FormatError, match="cannot open as an HDF5 file"):
        St.ResultsFile(out, attempts=1)
    assert not St.is_results_file(out)


# -- the reader on other layouts ---------------------------------------------------------------
def test_reader_reads_format_version_1_sweeps():
    f = St.ResultsFile(LEGACY / "v1_sweep.h5")
    assert f.format_version == 1 and f.kind == "sweep" and f.complete
    assert f.param_names == ["gnabar_hh.somatic", "step.stim.amp_nA"]
    assert f.feature_names == ["step.soma.Spikecount", "step.soma.AP_height",
                               "step.soma.voltage_base"]
    frame = f.frame()
    assert len(frame) == 12 and set(frame["status"]) == {"ok"}
    # the grid: last axis fastest
    assert frame["step.stim.amp_nA"].tolist()[:3] == [0.0, 0.2, 0.5]
    assert f.param_units == ["", ""]             # version 1 left units empty
    assert results.best(LEGACY / "v1_sweep.h5")[0]["eval_id"] == int(
        frame.sort_values(["total_score", "eval_id"]).iloc[0]["eval_id"])
    assert results.status(LEGACY / "v1_sweep.h5")["done"] == 12


def test_reader_reads_format_version_1_optimisations():
    f = St.ResultsFile(LEGACY / "v1_optimise.h5")
    assert f.format_version == 1 and f.kind == "optimise"
    opt = f.optimisation()
    assert set(opt) >= {"logbook", "hall_of_fame", "final_population", "pareto_front"}
    hof = opt["hall_of_fame"]
    assert hof["parameters"].shape[1] == len(f.param_names) == 2
    best = results.best(LEGACY / "v1_optimise.h5")[0]
    assert best["eval_id"] == int(hof["eval_id"][0])
    assert math.isclose(best["total_score"], float(np.sum(hof["scores"][0])))
    assert "generation" in f.frame().columns


def test_reader_refuses_an_unknown_format_version(tmp_path):
    path = tmp_path / "future.h5"
    shutil.copy(LEGACY / "v1_sweep.h5", path)
    with plain(path, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(St.FormatError) as info:
        St.ResultsFile(path)
    assert "format version 99" in str(info.value) and "reads versions 1, 2" in str(info.value)
    with plain(path, "a") as f:
        f.attrs["format"] = "someone-else"
    with pytest.raises(St.FormatError, match="not a cellsweep results file"):
        St.ResultsFile(path)
