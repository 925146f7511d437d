"""Reading results back: a pandas table, live status, CSV/SQLite export.

While a campaign runs its journal is the freshest record and the HDF5 file is rewritten every few
seconds; readers therefore open the HDF5 file without HDF5's lock (``locking=False``) and retry a
read that races with a write. ``status`` reads the journal when there is one.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from cellsweep.sweep import store as St


def _open(path: Path, attempts: int = 20):
    import h5py

    last = None
    for _ in range(attempts):
        try:
            return h5py.File(path, "r", locking=False)
        except OSError as exc:   # mid-rewrite by the running campaign: try again shortly
            last = exc
            time.sleep(0.1)
    raise OSError(f"{path}: cannot open the results file ({last})")


def is_results_file(path: Path) -> bool:
    try:
        with _open(Path(path), attempts=1) as f:
            return f.attrs.get("format") == St.FORMAT
    except OSError:
        return False


def load(path, include_pending: bool = False):
    """One row per evaluation: parameters, features, ``score.<feature>``, status and timings."""
    import pandas as pd

    path = Path(path)
    for attempt in range(20):
        try:
            with _open(path) as f:
                status = f["status"][:]
                keep = np.ones(status.shape, bool) if include_pending else status >= 0
                data = {"eval_id": f["eval_id"][:][keep]}
                if "generation" in f:
                    data["generation"] = f["generation"][:][keep]
                for name, column in zip(_names(f["parameters"]), f["parameters"][:][keep].T):
                    data[name] = column
                for name, column in zip(_names(f["features"]), f["features"][:][keep].T):
                    data[name] = column
                for name, column in zip(_names(f["scores"]), f["scores"][:][keep].T):
                    data[f"score.{name}"] = column
                data["total_score"] = f["total_score"][:][keep]
                data["status"] = [St.STATUS_NAMES[int(c)] for c in status[keep]]
                data["message"] = [m.decode() for m in f["message"][:][keep]]
                data["attempt"] = f["attempt"][:][keep]
                for name, column in zip(St.TIMINGS, f["timings"][:][keep].T):
                    data[f"time.{name}_s"] = column
                data["worker"] = f["worker"][:][keep]
                data["host"] = [h.decode() for h in f["host"][:][keep]]
                data["t_start"] = f["t_start"][:][keep]
                data["t_end"] = f["t_end"][:][keep]
                data["nseg"] = f["nseg"][:][keep]
            return pd.DataFrame(data)
        except (OSError, KeyError) as exc:
            if attempt == 19:
                raise OSError(f"{path}: cannot read results ({exc})") from None
            time.sleep(0.1)


def _names(dataset) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in dataset.attrs["names"]]


def traces(path, eval_ids) -> dict:
    """Stored traces of the given points: {(protocol, recording): (t, array[len(ids), samples])}."""
    out = {}
    with _open(Path(path)) as f:
        if "traces" not in f:
            return out
        ids = sorted(int(i) for i in eval_ids)
        for protocol in f["traces"]:
            for recording in f["traces"][protocol]:
                d = f["traces"][protocol][recording]
                t = np.arange(d.shape[1]) * float(d.attrs["dt_ms"])
                out[(protocol, recording)] = (t, d[ids, :])
    return out


def status(path) -> dict:
    """done / failed / pending counts, rate and ETA: from the journal while running."""
    path = Path(path)
    meta, results, dropped, _end = St.read_journal(path)
    if meta is not None:
        total = int(meta.get("n_rows", 0))
        by_id = {i: {"status": name} for i, name in zip(results.ids.tolist(),
                                                        results.status_names())}
        ends = results.arrays["t_end"].tolist()
        running = True
        complete = False
    else:
        with _open(path) as f:
            codes = f["status"][:]
            total = int(f.attrs.get("n_rows", codes.size))
            complete = bool(f.attrs.get("complete", False))
            ends = f["t_end"][:][codes >= 0].tolist()
            by_id = {i: {"status": St.STATUS_NAMES[int(c)]} for i, c in enumerate(codes) if c >= 0}
        running = False
    counts: dict = {}
    for r in by_id.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    done = len(by_id)
    ends = sorted(e for e in ends if e == e)
    recent = ends[-200:]
    rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and \
        recent[-1] > recent[0] else math.nan
    eta = (total - done) / rate if rate == rate and rate > 0 else math.nan
    return {"total": total, "done": done, "pending": total - done,
            "failed": done - counts.get("ok", 0), "counts": counts, "rate_per_s": rate,
            "eta_s": eta, "running": running and _lock_held(path), "complete": complete,
            "last_result_age_s": time.time() - ends[-1] if ends else math.nan,
            "torn_journal_lines": dropped}


def _lock_held(path: Path) -> bool:
    import fcntl

    _, lock = St.paths(path)
    if not lock.exists():
        return False
    try:
        with open(lock, "r") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def best(path, n: int = 1) -> list[dict]:
    """The ``n`` best parameter sets: an optimisation's hall of fame when it finished, else the
    ``ok`` evaluations with the lowest total score."""
    path = Path(path)
    with _open(path) as f:
        names = _names(f["parameters"])
        if "optimisation/hall_of_fame" in f:
            g = f["optimisation/hall_of_fame"]
            ids, params, scores = g["eval_id"][:], g["parameters"][:], g["scores"][:]
            return [{"eval_id": int(i), "total_score": float(np.sum(sc)),
                     "parameters": {k: float(v) for k, v in zip(names, row)}}
                    for i, row, sc in list(zip(ids, params, scores))[:n]]
    frame = load(path)
    frame = frame[frame["status"] == "ok"].sort_values(["total_score", "eval_id"]).head(n)
    return [{"eval_id": int(row["eval_id"]), "total_score": float(row["total_score"]),
             "parameters": {k: float(row[k]) for k in names}} for _, row in frame.iterrows()]


def metadata(path) -> dict:
    with _open(Path(path)) as f:
        out = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    out["versions"] = json.loads(out.get("versions", "{}"))
    return out


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
