"""Reading results back: a pandas table, live status, the best sets, CSV/SQLite export.

Everything here reads through the results file's owner (``sweep.store``): ``ResultsFile`` for
the HDF5 file, ``read_journal`` for what a running or stopped campaign has committed since.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from cellsweep.sweep import store as St


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
    if meta is not None:
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
            "torn_journal_lines": dropped}


def _json_list(text) -> list:
    import json

    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def best(path, n: int = 1) -> list[dict]:
    """The ``n`` best parameter sets: an optimisation's hall of fame when it finished, else the
    ``ok`` evaluations with the lowest total score."""
    f = St.ResultsFile(path)
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


def export(path, csv=None, sqlite=None, table: str = "results") -> int:
    """Write the results table as CSV and/or an SQLite table; return the number of rows."""
    frame = load(path)
    if csv is not None:
        frame.to_csv(csv, index=False)
    if sqlite is not None:
        import sqlite3

        with sqlite3.connect(sqlite) as conn:
            frame.to_sql(table, conn, if_exists="replace", index=False)
    return len(frame)
