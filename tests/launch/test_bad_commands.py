"""Bad input on the command line fails with one line per problem (``error: ...``), exit 2, no
traceback, and nothing written or overwritten: exports onto what they read, ``evaluate --plot``
without a PNG name, ``plot --points`` outside the file, damaged/truncated/foreign/partial results
files for every reader, and click's own usage errors. Also: ``export`` of a killed campaign
exports what its journal holds."""

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pytest

from cellsweep.sweep import results
from cellsweep.sweep import store as St
from cellsweep.sweep.batch import RecordBatch
from tests.helpers import cellsweep_command, copy_tiny, env, plain, run_cellsweep

pytestmark = pytest.mark.neuron

READERS = [("status",), ("export", "--csv", "x.csv"), ("best",), ("plot",), ("export-model",)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny sweep (12 points), run once: (config, results file)."""
    folder = tmp_path_factory.mktemp("tiny")
    config = copy_tiny(folder)
    out = folder / "tiny.h5"
    run_cellsweep("run", config, "-o", out)
    return config, out


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cellsweep_command(*args), cwd=cwd, capture_output=True, text=True,
                          env=env(), timeout=300)


def snapshot(folder) -> dict:
    """Every file under ``folder``: its content hash (to show nothing was written)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink() and p.exists()}


def assert_refused(proc, fragment: str, lines: int | None = 1) -> None:
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Usage:" not in proc.stderr, proc.stderr
    assert err and all(line.startswith("error: ") for line in err), proc.stderr
    if lines is not None:
        assert len(err) == lines, proc.stderr
    assert fragment in proc.stderr, proc.stderr


@pytest.fixture
def copy(finished, tmp_path):
    """A copy of the finished results file (and its config) in a fresh folder."""
    config, out = finished
    shutil.copy(out, tmp_path / "sweep.h5")
    copy_tiny(tmp_path)
    return tmp_path / "sweep.h5"


# -- a killed campaign, made with the store itself (deterministic: HDF5 lags the journal) -------
def record(i, status="ok"):
    return {"id": i, "attempt": 1, "status": status, "message": "" if status == "ok" else "boom",
            "params": [0.5 * i], "features": [float(i), 2.0 * i], "scores": [0.1 * i, 1.0],
            "timings": {"total": 0.01}, "nseg": 5, "worker": 0, "host": "node",
            "t_start": 1e9 + i, "t_end": 1e9 + i + 0.5}


def open_store(output):
    layout = St.Layout(kind="sweep", param_names=("x",), param_units=("nA",),
                       feature_names=("f", "g"), feature_units=("mV", ""), n_rows=10)
    campaign = St.Campaign(config_text="a: 1\n", signature="sig", signature_data={"a": 1},
                           versions={"cellsweep": "test"}, extra={"design": "grid"})
    return St.open_for_writing(output, layout, campaign, (0.5 * np.arange(10))[:, None],
                               commit_interval_s=3600)


def killed(output):
    """3 results committed to the HDF5 file, 4 more only to the journal, then a SIGKILL's
    leftovers (journal and lock file as they are)."""
    store = open_store(output)
    store.record(RecordBatch.from_records([record(i) for i in (0, 1, 2)]))
    store.commit()
    store.record(RecordBatch.from_records([record(i, "error" if i == 5 else "ok")
                                           for i in (3, 4, 5, 6)]))
    store.journal.close()
    store.lock.close()
    return output


# -- 1. exports never destroy what they read ---------------------------------------------------
@pytest.mark.parametrize("option", ["--csv", "--sqlite"])
@pytest.mark.parametrize("spelling", ["same", "symlink", "other path", "journal", "lock"])
def test_export_refuses_to_write_over_its_input(copy, option, spelling):
    folder = copy.parent
    (folder / "sub").mkdir()
    target = {"same": copy, "symlink": folder / "link.h5", "other path": folder / "sub/../sweep.h5",
              "journal": folder / "sweep.h5.journal", "lock": folder / "sweep.h5.lock"}[spelling]
    if spelling == "symlink":
        os.symlink(copy, target)
    before = snapshot(folder)
    proc = cli("export", copy, option, target)
    what = {"journal": "the journal of", "lock": "the lock of"}.get(spelling, "")
    assert_refused(proc, f"error: {option} {target}: is {what + ' ' if what else ''}the results "
                         "file being exported; expected a new file name")
    assert snapshot(folder) == before
    assert St.ResultsFile(copy).complete


def test_export_refuses_another_results_file_or_journal(copy, tmp_path):
    other = tmp_path / "other.h5"
    shutil.copy(copy, other)
    lagging = killed(tmp_path / "lag.h5")
    before = snapshot(tmp_path)
    assert_refused(cli("export", copy, "--csv", other),
                   f"--csv {other}: is a cellsweep results file; expected a new file name")
    assert_refused(cli("export", copy, "--sqlite", St.paths(lagging)[0]),
                   "is the journal of a cellsweep results file; expected a new file name")
    proc = cli("export", copy, "--csv", other, "--sqlite", St.paths(lagging)[1])
    assert_refused(proc, "is the lock of a cellsweep results file", lines=2)
    assert snapshot(tmp_path) == before


def test_export_sqlite_onto_a_file_that_is_not_sqlite(copy, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("my notes\n")
    before = snapshot(tmp_path)
    assert_refused(cli("export", copy, "--sqlite", notes, "--csv", tmp_path / "x.csv"),
                   f"--sqlite {notes}: exists and is not an SQLite database; expected an SQLite "
                   "database")
    assert snapshot(tmp_path) == before


def test_export_csv_and_sqlite_to_one_file(copy, tmp_path):
    before = snapshot(tmp_path)
    assert_refused(cli("export", copy, "--csv", tmp_path / "a", "--sqlite", tmp_path / "a"),
                   "the same file as --csv; expected two different files")
    assert snapshot(tmp_path) == before


def test_export_refuses_an_empty_table_name_and_an_open_database(copy, tmp_path):
    db = tmp_path / "open.db"
    sqlite3.connect(db).execute("create table t (x int)").connection.close()
    (tmp_path / "open.db-wal").write_bytes(b"")
    before = snapshot(tmp_path)
    assert_refused(cli("export", copy, "--sqlite", db, "--table", " "),
                   "--table: empty; expected an SQLite table name", lines=2)
    assert_refused(cli("export", copy, "--sqlite", db),
                   f"--sqlite {db}: in use or not cleanly closed (open.db-wal beside it)")
    assert snapshot(tmp_path) == before


def test_a_failed_export_leaves_nothing(copy, tmp_path):
    """An SQLite target that turns out unreadable while writing: neither output appears, the
    CSV's temporary file is gone too."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    before = snapshot(tmp_path)
    proc = cli("export", copy, "--csv", tmp_path / "x.csv", "--sqlite", broken)
    assert_refused(proc, f"--sqlite {broken}: cannot write")
    assert snapshot(tmp_path) == before


def test_export_through_a_symlink_writes_the_file_it_names(copy, tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    os.symlink(real, tmp_path / "link.csv")
    proc = cli("export", copy, "--csv", tmp_path / "link.csv")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "link.csv").is_symlink() and len(pd.read_csv(real)) == 12


def test_export_creates_missing_directories_and_keeps_other_tables(copy, tmp_path):
    db = tmp_path / "mine.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table notes (t text)")
        conn.execute("insert into notes values ('keep me')")
        conn.execute("create table results (old int)")
    conn.close()
    proc = cli("export", copy, "--csv", tmp_path / "new" / "dir" / "x.csv", "--sqlite", db)
    assert proc.returncode == 0, proc.stderr
    assert "12 rows exported" in proc.stdout
    assert len(pd.read_csv(tmp_path / "new" / "dir" / "x.csv")) == 12
    with sqlite3.connect(db) as conn:
        assert conn.execute("select t from notes").fetchall() == [("keep me",)]
        assert conn.execute("select count(*) from results").fetchone() == (12,)
    conn.close()
    leftovers = [p.name for p in tmp_path.rglob(".*tmp*")]
    assert not leftovers


# -- 2. evaluate --plot needs a PNG name, before simulating -----------------------------------
def test_evaluate_plot_needs_a_png_name(finished, tmp_path):
    config, _ = finished
    before = snapshot(tmp_path)
    proc = cli("evaluate", config, "--plot", tmp_path / "x.h5")
    assert_refused(proc, f"--plot {tmp_path / 'x.h5'}: not a PNG file name; expected a .png "
                         "file name")
    assert proc.stdout == ""                 # nothing evaluated, nothing printed
    assert snapshot(tmp_path) == before


# -- 3. plot --points within the file -------------------------------------------------------------
@pytest.mark.parametrize("points", ["99", "1,12", "-1"])
def test_plot_points_outside_the_file(copy, points):
    before = snapshot(copy.parent)
    proc = cli("plot", copy, "--points", points)
    assert_refused(proc, f"--points {points}: no point ")
    assert "expected point ids 0 to 11" in proc.stderr
    assert snapshot(copy.parent) == before


def test_plot_points_without_a_result(copy):
    with plain(copy, "a") as f:
        f["status"][3] = -1
        f.attrs["complete"] = False
        f.attrs["n_committed"] = 11
    proc = cli("plot", copy, "--points", "1,3")
    assert_refused(proc, f"--points 1,3: point 3 of {copy} has no result yet; expected points "
                         "with results")


# -- 4. every reader on damaged, truncated, foreign and partial files ---------------------------
def corrupt(path):
    data = bytearray(path.read_bytes())
    n = len(data)
    data[n // 3: 2 * n // 3] = b"\xff" * (2 * n // 3 - n // 3)
    path.write_bytes(bytes(data))


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def foreign(path):
    path.unlink()
    with plain(path, "w") as f:
        f["x"] = np.arange(3)
        f.attrs["title"] = "someone else's data"


def forged(path):
    """The format attribute of a results file, none of its datasets."""
    path.unlink()
    with plain(path, "w") as f:
        f["x"] = np.arange(3)
        f.attrs["format"] = "cellsweep-results"
        f.attrs["format_version"] = 2


def torn(path):
    """Incomplete, no journal, and its rows disagree with its last commit."""
    with plain(path, "a") as f:
        f.attrs["complete"] = False
        f.attrs["n_committed"] = 5


BROKEN = {"corrupt": (corrupt, "sweep.h5: cannot open as an HDF5 file (message not aligned); "
                               "expected a cellsweep results file"),
          "truncated": (truncate, "sweep.h5: cannot open as an HDF5 file (truncated file); "
                                  "expected a cellsweep results file"),
          "foreign": (foreign, "sweep.h5: not a cellsweep results file"),
          "forged": (forged, "sweep.h5: damaged results file: missing the eval_id, parameters"),
          "torn": (torn, "sweep.h5: incomplete and without its journal, and torn: 12 rows hold "
                         "results, its last commit says 5; expected a complete results file")}


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_readers_on_broken_files(copy, case, command):
    damage, message = BROKEN[case]
    damage(copy)
    before = snapshot(copy.parent)
    proc = cli(command[0], copy.name, *command[1:], cwd=copy.parent)
    if case == "torn" and command[0] == "status":
        assert proc.returncode == 0, proc.stderr
        assert "incomplete, without its journal" in proc.stdout
        assert "torn: 12 rows hold results, its last commit says 5" in proc.stdout
    else:
        assert_refused(proc, f"error: {message}")
    assert snapshot(copy.parent) == before


def test_reader_api_raises_format_error_for_any_damage(copy, tmp_path):
    """Random bytes overwritten anywhere: ResultsFile and every results function either read
    the file or raise FormatError, never an h5py, Key or Value error."""
    rng = random.Random(7)
    original = copy.read_bytes()
    refused = 0
    for _ in range(40):
        data = bytearray(original)
        at, size = rng.randrange(len(data)), rng.choice([1, 8, 64, 512])
        data[at:at + size] = bytes(rng.randrange(256) for _ in range(size))[:len(data) - at]
        broken = tmp_path / "broken.h5"
        broken.write_bytes(bytes(data))
        try:
            f = St.ResultsFile(broken, attempts=1)
            f.frame(), f.status_counts(), f.metadata(), f.traces([0, 1])
            results.status(broken), results.best(broken, 3)
        except St.FormatError as exc:
            refused += 1
            assert str(exc).startswith(f"{broken}: ") and "\n" not in str(exc)
    assert refused                         # some of the damage is found


def test_journal_without_its_hdf5_file(tmp_path):
    """A campaign killed before its first HDF5 commit: status reads the journal; the readers
    that need the file say how much the journal holds."""
    out = killed(tmp_path / "k.h5")
    out.unlink()
    before = snapshot(tmp_path)
    proc = cli("status", out)
    assert proc.returncode == 0, proc.stderr
    assert "7/10 done (error 1, ok 6), 3 pending" in proc.stdout
    assert "no HDF5 file yet: all 7 in the journal only" in proc.stdout
    for command in READERS[1:]:
        proc = cli(command[0], out, *command[1:], cwd=tmp_path)
        assert_refused(proc, f"{out}: no HDF5 file yet, only its journal (7 results committed); "
                             "expected a results file")
    assert snapshot(tmp_path) == before


def test_journal_beside_a_damaged_hdf5_file(tmp_path):
    """status still reads the journal and says the file cannot be read; the others refuse and
    say the journal is intact."""
    out = killed(tmp_path / "k.h5")
    truncate(out)
    before = snapshot(tmp_path)
    proc = cli("status", out)
    assert proc.returncode == 0, proc.stderr
    assert "7/10 done" in proc.stdout
    assert "the HDF5 file cannot be read (cannot open as an HDF5 file (truncated file)" \
        in proc.stdout
    for command in READERS[1:]:
        proc = cli(command[0], out, *command[1:], cwd=tmp_path)
        assert_refused(proc, f"{out}: cannot open as an HDF5 file (truncated file); expected a "
                             "cellsweep results file; its journal is intact: cellsweep run "
                             "rebuilds the file from it")
    assert snapshot(tmp_path) == before


def test_incomplete_file_without_journal(copy):
    """Its rows agree with its last commit: status says what it is, export reads it (and warns)."""
    with plain(copy, "a") as f:
        f.attrs["complete"] = False
    proc = cli("status", copy)
    assert proc.returncode == 0 and "incomplete, without its journal" in proc.stdout
    assert "its journal is gone: cellsweep run cannot resume it" in proc.stdout
    proc = cli("export", copy, "--csv", copy.parent / "x.csv")
    assert proc.returncode == 0 and "12 rows exported" in proc.stdout
    assert proc.stderr.strip() == (f"warning: {copy}: incomplete (12 of 12 results) and "
                                   "without its journal")


# -- 5. export of a killed campaign: what its journal holds ---------------------------------------
def test_export_of_a_killed_campaign_exports_the_journal(tmp_path):
    out = killed(tmp_path / "k.h5")
    assert St.ResultsFile(out).status_counts() == {"ok": 3}          # the HDF5 file lags
    proc = cli("status", out)
    assert "7/10 done" in proc.stdout and "the HDF5 file holds 3 of them, the journal all 7" \
        in proc.stdout
    proc = cli("export", out, "--csv", tmp_path / "k.csv")
    assert proc.returncode == 0, proc.stderr
    assert "7 rows exported (4 of them from the journal, not yet in the HDF5 file)" in proc.stdout
    exported = pd.read_csv(tmp_path / "k.csv")
    # what resuming the campaign writes into the HDF5 file from the journal
    store = open_store(out)
    store.journal.close()
    store.lock.close()
    rebuilt = St.ResultsFile(out).frame()
    assert list(exported.columns) == list(rebuilt.columns) and len(exported) == 7
    for name in rebuilt.columns:
        a, b = rebuilt[name].to_numpy(), exported[name].to_numpy()
        if a.dtype.kind in "fi":
            assert np.allclose(a.astype(float), b.astype(float), equal_nan=True), name
        else:
            assert [str(x) for x in a] == [str(x) for x in pd.Series(b).fillna("")], name
    assert exported.loc[exported["eval_id"] == 5, "message"].item() == "boom"


# -- 6. click's usage errors as one line --------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (("export", "x.h5", "--bogus"), "error: export: No such option"),
    (("best",), "error: best: Missing argument 'RESULTS'"),
    (("best", "x.h5", "--format", "xml"), "error: best: Invalid value for '--format': 'xml' is "
                                          "not one of 'yaml', 'json'"),
    (("best", "x.h5", "-n", "0"), "error: best: Invalid value for '-n'"),
    (("plot", "x.h5", "--points"), "error: plot: Option '--points' requires an argument"),
    (("frobnicate",), "error: cellsweep: No such command 'frobnicate'"),
])
def test_usage_errors_are_one_line(tmp_path, args, message):
    proc = cli(*args, cwd=tmp_path)
    assert_refused(proc, message)
    assert not any(tmp_path.iterdir())


def test_help_still_works():
    for args in (("--help",), ("export", "--help")):
        proc = cli(*args)
        assert proc.returncode == 0 and proc.stdout.startswith("Usage:"), proc.stderr
    assert "missing directories are created" in " ".join(cli("export", "--help").stdout.split())


def test_plot_of_a_killed_campaign_shows_what_its_journal_holds(tmp_path):
    """The HDF5 file lags the journal after a kill: plots read through it (results.current)."""
    from cellsweep.launch.plots import plot_campaign, plotted

    out = killed(tmp_path / "k.h5")
    assert results.load(out)["eval_id"].tolist() == [0, 1, 2]          # the HDF5 file alone
    assert plotted(out).frame()["eval_id"].tolist() == list(range(7))
    assert plotted(out).status_counts() == {"ok": 6, "error": 1}
    written = plot_campaign(out, tmp_path / "plots")
    assert [p.name for p in written] == ["response_curves.png"]
