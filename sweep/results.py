"""Reading results back: a pandas table, live status, the best sets, CSV/SQLite export.

Everything here reads through the results file's owner (``sweep.store``): ``ResultsFile`` for
the HDF5 file, ``read_journal`` for what a running or stopped campaign has committed since.
``best`` and ``export`` read both (``current``): a killed campaign's results are those of its
journal, which the HDF5 file may lag behind. ``load`` reads the HDF5 file as it is.

``export`` never destroys what it reads: it refuses an output that is the results file (by any
path), its journal or lock, or any other cellsweep results file, journal or lock; it writes each
output under a temporary name beside it and renames it into place at the end, so a failure
leaves no half-written file. Missing output directories are created.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import numpy as np

from cellsweep.cells.errors import ConfigError
from cellsweep.sweep import store as St
from cellsweep.sweep.store.reader import committed as _committed


class ExportRefused(ConfigError):
    """An export output that would destroy a results file, or that cannot be written."""


def is_results_file(path) -> bool:
    return St.is_results_file(path)


def load(path, include_pending: bool = False):
    """One row per evaluation: parameters, features, ``score.<feature>``, status and timings."""
    return St.ResultsFile(path).frame(include_pending)


def traces(path, eval_ids) -> dict:
    """Stored traces of the given points: {(protocol, recording): (t, array[len(ids), samples])}."""
    return St.ResultsFile(path).traces(eval_ids)


def status(path) -> dict:
    """done / failed / pending counts, rate and ETA: from the journal while a campaign runs
    or after it stopped, from the HDF5 file once it is complete.

    The rate is evaluations per second of the campaign's wall time: while a run is going, of
    that run since it started; otherwise over all its runs (a stopped or complete campaign)."""
    path = Path(path)
    meta, results, dropped, _end = St.read_journal(path)
    running = False
    in_file = None                     # results in the HDF5 file (None: there is none)
    unreadable = ""                    # why the HDF5 file beside a journal cannot be read
    if meta is not None:
        if path.exists():
            try:
                in_file = _committed(path)
            except St.FormatError as exc:
                unreadable = str(exc).removeprefix(f"{path}: ")
        total = int(meta.get("n_rows", 0))
        ids, names = results.ids, results.status_names()
        _, first = np.unique(ids, return_index=True)
        counts: dict = {}
        for i in first.tolist():
            counts[names[i]] = counts.get(names[i], 0) + 1
        runs = meta.get("runs", [])
        running = St.lock_held(path)
        ends = results.arrays["t_end"]
        complete = False
    else:
        f = St.ResultsFile(path)
        total, counts, complete = f.n_rows, f.status_counts(), f.complete
        in_file = f.n_committed
        runs = _json_list(f.attrs.get("runs"))
        ends = f.column("t_end")[f.done()]
    done = sum(counts.values())
    if running and runs:
        current = runs[-1]
        wall = time.time() - current["started"]
        rate = current["evaluated"] / wall if wall > 0 and current["evaluated"] else math.nan
    else:
        rate = St.runs_rate(runs) if runs else math.nan
    eta = (total - done) / rate if running and rate == rate and rate > 0 else math.nan
    finite = ends[np.isfinite(ends)] if len(ends) else ends
    return {"total": total, "done": done, "pending": max(0, total - done),
            "failed": done - counts.get("ok", 0), "counts": counts, "rate_per_s": rate,
            "eta_s": eta, "running": running, "complete": complete, "runs": len(runs),
            "last_result_age_s": time.time() - float(finite.max()) if finite.size else math.nan,
            "torn_journal_lines": dropped, "journal": meta is not None, "in_file": in_file,
            "unreadable": unreadable}


def _json_list(text) -> list:
    import json

    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def current(path) -> "St.ResultsFile":
    """The results file with what its journal holds beyond it (a running or killed campaign);
    FormatError if there is no HDF5 file yet (a campaign killed before its first commit)."""
    return _current(path)[0]


def _current(path) -> tuple["St.ResultsFile", int]:
    """(``current(path)``, how many of its results are in the journal only)."""
    path = Path(path)
    meta, results, _dropped, _end = St.read_journal(path)
    if meta is not None and not path.exists():
        n = len(np.unique(results.ids))
        raise St.FormatError(f"{path}: no HDF5 file yet, only its journal ({n} result"
                             f"{'s' * (n != 1)} committed); expected a results file (cellsweep "
                             "run resumes the campaign and writes it)")
    f = St.ResultsFile(path)
    if meta is None:
        return f, 0
    merged = f.with_results(results)
    return merged, int(merged.done().sum() - f.done().sum())


def best(path, n: int = 1) -> list[dict]:
    """The ``n`` best parameter sets: an optimisation's hall of fame when it finished, else the
    ``ok`` evaluations with the lowest total score (the journal's too, see ``current``)."""
    f = current(path)
    names = f.param_names
    opt = f.optimisation()
    if opt is not None and "hall_of_fame" in opt:
        g = opt["hall_of_fame"]
        return [{"eval_id": int(i), "total_score": float(np.sum(sc)),
                 "parameters": {k: float(v) for k, v in zip(names, row)}}
                for i, row, sc in list(zip(g["eval_id"], g["parameters"], g["scores"]))[:n]]
    frame = f.frame()
    frame = frame[frame["status"] == "ok"].sort_values(["total_score", "eval_id"]).head(n)
    return [{"eval_id": int(row["eval_id"]), "total_score": float(row["total_score"]),
             "parameters": {k: float(row[k]) for k in names}} for _, row in frame.iterrows()]


def metadata(path) -> dict:
    return St.ResultsFile(path).metadata()


def export(path, csv=None, sqlite=None, table: str = "results", npz=None) -> tuple[int, int]:
    """Write the results table (the journal's results included, see ``current``) as CSV and/or
    an SQLite table (replacing a table of that name in an existing database) and/or the
    simulation-based-inference arrays as ``.npz`` (``sbi_arrays``); return the number
    of rows and how many of them came from the journal only. Raises ``ExportRefused`` before
    anything is written for an output that would
    destroy a results file or is not SQLite, ``FormatError`` for an unreadable input."""
    targets = [(option, Path(value)) for option, value in (("--csv", csv), ("--sqlite", sqlite),
                                                           ("--npz", npz))
               if value is not None]
    problems = [p for option, target in targets for p in export_problems(path, target, option)]
    for i, (option, target) in enumerate(targets):
        for other, earlier in targets[:i]:
            if _same(target, earlier):
                problems.append(f"{option} {target}: the same file as {other}; expected "
                                "two different files")
    if npz is not None and Path(npz).suffix != ".npz":
        problems.append(f"--npz {npz}: expected a file name ending in .npz (numpy adds it "
                        "otherwise)")
    if sqlite is not None and not str(table).strip():
        problems.append("--table: empty; expected an SQLite table name")
    if problems:
        raise ExportRefused(problems)
    f, from_journal = _current(path)
    frame = f.frame() if csv is not None or sqlite is not None else None
    rows = len(frame) if frame is not None else int(f.done().sum())
    written = []                           # (temporary, target), renamed when all are written
    try:
        for option, target in targets:
            if target.is_symlink():            # write the file it points to, keep the link
                target = Path(os.path.realpath(target))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
            written.append((tmp, target))
            try:
                if option == "--csv":
                    frame.to_csv(tmp, index=False)
                    if target.exists():
                        shutil.copymode(target, tmp)
                elif option == "--npz":
                    with open(tmp, "wb") as fh:
                        np.savez(fh, **sbi_arrays(f))
                else:
                    _write_sqlite(frame, target, tmp, table)
            except OSError as exc:
                raise ExportRefused(f"{option} {target}: cannot write "
                                    f"({exc.strerror or exc})") from None
            except Exception as exc:     # sqlite3.Error, or pandas refusing a table name
                raise ExportRefused(f"{option} {target}: cannot write "
                                    f"({str(exc).splitlines()[0] if str(exc) else exc})") from None
        for tmp, target in written:
            os.replace(tmp, target)
        written = []
    finally:
        for tmp, _ in written:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return rows, from_journal


def sbi_arrays(f: "St.ResultsFile") -> dict:
    """What simulation-based inference (the ``sbi`` package) trains on, one row per
    evaluation with a result, in id order: ``theta`` (n × d parameters, float64), ``x``
    (n × k features, float64, NaN where missing), ``valid`` (status ok and every feature
    finite), ``ids``, ``theta_names``, ``x_names``, ``lower`` and ``upper`` (the prior's
    bounds per parameter: ``prior_bounds``)."""
    done = f.done()
    theta = np.asarray(f.column("parameters")[done], dtype=np.float64)
    x = np.asarray(f.column("features")[done], dtype=np.float64)
    valid = (f.status_codes[done] == 0) & np.isfinite(x).all(axis=1)
    lower, upper = prior_bounds(f, theta)
    return {"theta": theta, "x": x, "valid": valid,
            "ids": np.asarray(f.column("eval_id")[done], dtype=np.int64),
            "theta_names": np.array(f.param_names, dtype=str),
            "x_names": np.array(f.feature_names, dtype=str), "lower": lower, "upper": upper}


def prior_bounds(f: "St.ResultsFile", theta=None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bound of each parameter column: what the campaign recorded
    (``parameter_bounds``: a sweep axis's bounds, else the free parameter's, as every kind
    writes them), else the range of the values (files written before the attribute)."""
    import json

    try:
        recorded = json.loads(f.attrs.get("parameter_bounds") or "{}")
    except ValueError:
        recorded = {}
    lower, upper = [], []
    for j, name in enumerate(f.param_names):
        bounds = recorded.get(name)
        if bounds is None:
            column = theta[:, j] if theta is not None else f.column("parameters")[:, j]
            column = column[np.isfinite(column)]
            bounds = [column.min(), column.max()] if column.size else [np.nan, np.nan]
        lower.append(float(bounds[0]))
        upper.append(float(bounds[1]))
    return np.array(lower, dtype=np.float64), np.array(upper, dtype=np.float64)


def _write_sqlite(frame, target: Path, tmp: Path, table: str) -> None:
    """``frame`` as table ``table`` of a copy of the database at ``target`` (or a new one) at
    ``tmp``."""
    import sqlite3

    dst = sqlite3.connect(tmp)
    try:
        if target.exists() and target.stat().st_size:
            src = sqlite3.connect(target.resolve().as_uri() + "?mode=ro", uri=True)
            try:
                src.backup(dst)
            finally:
                src.close()
            shutil.copymode(target, tmp)
        frame.to_sql(table, dst, if_exists="replace", index=False)
        dst.commit()
    finally:
        dst.close()


SQLITE_HEADER = b"SQLite format 3\x00"


def export_problems(results, target, option: str) -> list[str]:
    """Why ``target`` must not be an export output of ``results`` (empty if it may be)."""
    results, target = Path(results), Path(target)
    where = f"{option} {target}"
    journal, lock = St.paths(results)
    for own, what in ((results, "the results file being exported"),
                      (journal, "the journal of the results file being exported"),
                      (lock, "the lock of the results file being exported")):
        if _same(target, own):
            return [f"{where}: is {what}; expected a new file name (writing it would destroy "
                    "the results)"]
    if target.is_dir():
        return [f"{where}: is a directory; expected a file path"]
    if not target.exists():
        return []
    what = _results_kind(target)
    if what:
        return [f"{where}: is {what}; expected a new file name or an earlier export"]
    if option == "--sqlite" and target.stat().st_size:
        try:
            with open(target, "rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            return [f"{where}: cannot read ({exc.strerror or exc}); expected an SQLite database "
                    "or a new file name"]
        if head != SQLITE_HEADER:
            return [f"{where}: exists and is not an SQLite database; expected an SQLite database "
                    "(its table is replaced) or a new file name"]
        for suffix in ("-wal", "-journal"):
            if target.with_name(target.name + suffix).exists():
                return [f"{where}: in use or not cleanly closed ({target.name}{suffix} beside "
                        "it); expected a database no program has open"]
    return []


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (also through symlinks or other spellings)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _results_kind(path: Path) -> str:
    """"a cellsweep results file" / "... journal" / "... lock" for such a file, else ""."""
    if St.is_results_file(path):
        return "a cellsweep results file"
    name = path.name
    if name.endswith(".journal"):
        stem = path.with_name(name[:-len(".journal")])
        if St.read_journal(stem)[0] is not None:
            return "the journal of a cellsweep results file"
    if name.endswith(".lock"):
        stem = path.with_name(name[:-len(".lock")])
        if stem.exists() or St.paths(stem)[0].exists():
            return "the lock of a cellsweep results file"
    return ""
