"""The campaign's results: one HDF5 file, made crash-safe by the journal beside it.

Life of a results file ``out.h5``:

1. ``out.h5.journal`` receives every finished evaluation first (``store.journal``): that append is
   the commit point. ``out.h5.lock`` (an ``flock``) keeps a second run away from the same output.
2. Every ``commit_interval_s`` the buffered records are written into ``out.h5``, which is opened
   only for that moment (so other programs can read it in between), flushed and fsynced.
3. On resume the HDF5 file is rebuilt from the journal into a temporary file and renamed into
   place: whatever state a kill left it in, the result is a pure function of config + journal.
4. When the campaign completes, a final rebuild writes ``complete = True``; the journal and the
   lock are removed, leaving one file.

Rows are indexed by point id (``eval_id``), so the finished file is the same whatever order
evaluations finished in. Fill values can never look like a result: NaN for numbers, ``-1``
(pending) for status, attempt, worker and ids.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellsweep.cells.errors import FrameworkError
from cellsweep.sweep.batch import STATUS_NAMES, RecordBatch
from cellsweep.sweep.store import hdf5
from cellsweep.sweep.store import journal as J


@dataclass(frozen=True)
class Layout:
    """The columns of a results file."""

    kind: str                           # "sweep", "optimise", ...
    param_names: tuple
    param_units: tuple
    feature_names: tuple
    feature_units: tuple
    n_rows: int                         # sweeps: the points; optimisations: expected evaluations
    traces: tuple = ()                  # ((protocol, recording, n_samples, dt_ms), ...)
    columns: tuple = ()                 # extra per-row integer columns: ((name, fill), ...)
    curves: tuple = ()                  # ((name, x label, x values, x units, units), ...)
    fixed_rows: bool = True             # rows known up front (a sweep's points), or growing


@dataclass
class Campaign:
    """What a run writes besides results: config, signature, versions (plain JSON data)."""

    config_text: str
    signature: str                      # hash of everything that decides the results
    signature_data: dict                # the canonical config the signature was taken from
    versions: dict
    mechanisms_hash: str = ""
    extra: dict = field(default_factory=dict)


class OutputBusy(FrameworkError):
    """Another run holds the output's lock."""


def paths(output: Path) -> tuple[Path, Path]:
    output = Path(output)
    return output.with_name(output.name + ".journal"), output.with_name(output.name + ".lock")


def acquire_lock(output: Path):
    """Hold ``<output>.lock`` for this run; the OS releases it if the run dies."""
    _, lock_path = paths(output)
    fh = open(lock_path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        raise OutputBusy(f"{output}: another cellsweep run is writing this output"
                         + (f" ({holder})" if holder else "")) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
    fh.flush()
    return fh


def release_lock(fh, output: Path, remove: bool) -> None:
    """Give the lock up; a finished campaign also removes the lock file."""
    if fh is None:
        return
    if remove:
        try:
            os.unlink(paths(output)[1])
        except FileNotFoundError:
            pass
    fh.close()


def lock_held(output: Path) -> bool:
    """Whether a run holds ``<output>.lock`` now."""
    _, lock = paths(output)
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


def read_journal(output: Path) -> tuple[dict | None, RecordBatch, int, int]:
    """(campaign meta record, every result in the journal as one batch, torn or corrupt
    stretches, where the intact frames end). Duplicates are left in: the store keeps the first."""
    journal_path, _ = paths(output)
    items, dropped, valid_end = J.read(journal_path)
    meta = next((r for r in items if isinstance(r, dict) and r.get("k") == "meta"), None)
    batches, pending = [], []          # runs of JSON result records become batches, in order
    runs = []                          # each run of the campaign: when it started, what it did
    for item in items:
        if isinstance(item, dict):
            if item.get("k") == "r":
                pending.append(item)
                if runs:
                    _count(runs[-1], 1, item.get("t_end", math.nan))
            elif item.get("k") == "run":
                runs.append({"started": float(item["t"]), "ended": float(item["t"]),
                             "evaluated": 0})
            continue
        if pending:
            batches.append(RecordBatch.from_records(pending))
            pending = []
        batches.append(item)
        if runs and len(item):
            _count(runs[-1], len(item), float(np.nanmax(item.arrays["t_end"]))
                   if np.isfinite(item.arrays["t_end"]).any() else math.nan)
    if pending:
        batches.append(RecordBatch.from_records(pending))
    if meta is not None:
        meta = {**meta, "runs": runs}
    return meta, RecordBatch.concat(batches), dropped, valid_end


def _count(run: dict, n: int, t_end: float) -> None:
    run["evaluated"] += n
    if t_end == t_end:
        run["ended"] = max(run["ended"], t_end)


def runs_rate(runs: list) -> float:
    """Evaluations per second of wall time over the runs of a campaign (NaN if none)."""
    evaluated = sum(r["evaluated"] for r in runs)
    wall = sum(max(0.0, r["ended"] - r["started"]) for r in runs)
    return evaluated / wall if wall > 0 and evaluated else math.nan


class ResultStore:
    """Writes one campaign's results; see the module docstring for the protocol.

    Everything it knows is held as columns (``RecordBatch``), never as one object per result:
    rank 0 of a big campaign holds millions of results and receives tens of thousands per second.
    """

    def __init__(self, output: Path, layout: Layout, campaign: Campaign, params: np.ndarray,
                 commit_interval_s: float = 2.0, commit_rows: int = 50_000, lock=None):
        self.output = Path(output)
        self.layout = layout
        self.campaign = campaign
        self.params = params
        self.journal_path, _ = paths(self.output)
        self.commit_interval_s = commit_interval_s
        self.commit_rows = commit_rows
        self._known = np.zeros(max(layout.n_rows, 1024), dtype=bool)   # by id: has a result
        # every terminal result, in arrival order: the committed ones as one batch per commit (a
        # decoded message keeps its whole message alive), then the batches not yet in HDF5
        self._committed: list[RecordBatch] = []
        self._buffer: list[RecordBatch] = []
        self._buffered = 0
        self._table: RecordBatch | None = None   # all of them joined, until the next change
        self._row_of: np.ndarray | None = None   # id -> row of table(), built on demand
        self.n_done = 0
        self._last_commit = time.monotonic()
        self.journal: J.Journal | None = None
        self.lock = lock
        self.runs: list | None = None       # the campaign's runs so far (``read_journal``)

    # -- opening ---------------------------------------------------------------------------------
    def open(self, results: RecordBatch | None = None, valid_end: int | None = None,
             runs: list | None = None) -> None:
        """Start, or resume with ``results`` from the journal (whose intact frames end at
        ``valid_end``) and its earlier ``runs``: open the journal, then rebuild the file."""
        fresh = not self.journal_path.exists()
        now = time.time()
        self.runs = [dict(r) for r in runs or ()] + [{"started": now, "ended": now,
                                                       "evaluated": 0}]
        if results is not None and len(results):
            results = self._fresh(results)
            self._mark(results)
            self._committed.append(results)
        # the journal first: an HDF5 file without a journal beside it means "complete", so a
        # kill between the two must leave a journal, never a lone fresh HDF5 file
        self.journal = J.Journal(self.journal_path, valid_end=None if fresh else valid_end)
        if fresh:
            self.journal.append([{"k": "meta", "signature": self.campaign.signature,
                                  "config": self.campaign.signature_data,
                                  "n_rows": self.layout.n_rows, "created": now}])
        self.journal.append([{"k": "run", "t": now, "pid": os.getpid()}])
        self.journal.sync()
        self.rebuild(complete=False)

    # -- what is known ---------------------------------------------------------------------------
    def done_mask(self, n: int) -> np.ndarray:
        """Boolean by id for ids ``0..n-1``: which have a result."""
        out = np.zeros(n, dtype=bool)
        m = min(n, self._known.size)
        out[:m] = self._known[:m]
        return out

    def has(self, i: int) -> bool:
        return 0 <= i < self._known.size and bool(self._known[i])

    def table(self) -> RecordBatch:
        """All results as one batch (arrival order)."""
        if self._table is None:
            if len(self._committed) > 1:
                self._committed = [RecordBatch.concat(self._committed)]
            self._table = RecordBatch.concat(self._committed + self._buffer)
        return self._table

    def get(self, i: int) -> dict | None:
        """The record of result ``i`` as a dict, or None."""
        if not self.has(i):
            return None
        table = self.table()
        if self._row_of is None or self._row_of.size < self._known.size:
            self._row_of = np.full(self._known.size, -1, dtype=np.int64)
            self._row_of[table.ids] = np.arange(len(table))
        return table.take([int(self._row_of[i])]).records()[0]

    def status_counts(self) -> dict:
        """{status name: count} over every result."""
        counts = np.bincount(self.table().arrays["status"].astype(np.int64) + 1,
                             minlength=len(STATUS_NAMES)) if self.n_done else []
        return {STATUS_NAMES[k - 1]: int(c) for k, c in enumerate(counts) if c}

    def _fresh(self, batch: RecordBatch) -> RecordBatch:
        """``batch`` without results already known (or repeated within it)."""
        ids = batch.ids
        top = int(ids.max()) if ids.size else -1
        if top >= self._known.size:
            grown = np.zeros(max(top + 1, 2 * self._known.size), dtype=bool)
            grown[:self._known.size] = self._known
            self._known = grown
        if ids.size == 1:                 # the common message of slow evaluations: no numpy
            return batch if not self._known[top] else batch.take(np.zeros(0, dtype=np.int64))
        new = ~self._known[ids]
        _, first = np.unique(ids, return_index=True)
        once = np.zeros(ids.size, dtype=bool)
        once[first] = True
        new &= once
        return batch if new.all() else batch.take(new)

    def _mark(self, batch: RecordBatch) -> None:
        self._known[batch.ids] = True
        self._table = self._row_of = None
        self.n_done += len(batch)

    # -- recording -------------------------------------------------------------------------------
    def record(self, batch: RecordBatch) -> None:
        """Commit finished evaluations to the journal (durable against a kill once this returns)."""
        batch = self._fresh(batch)
        if not len(batch):
            return
        self.journal.append_batch(batch)
        self._mark(batch)
        if self.runs:
            self.runs[-1]["evaluated"] += len(batch)
        self._buffer.append(batch)
        self._buffered += len(batch)
        if self._buffered >= self.commit_rows or \
                time.monotonic() - self._last_commit >= self.commit_interval_s:
            self.commit()

    def commit(self) -> None:
        """Write buffered records into the HDF5 file (open, write, flush, fsync, close)."""
        if self._buffer:
            self._commit(complete=False)
        self._last_commit = time.monotonic()

    def _commit(self, complete: bool) -> None:
        self.journal.sync()
        merged = RecordBatch.concat(self._buffer)
        hdf5.append(self.output, self.layout, merged, self._state(complete))
        self._committed.append(merged)          # same order: table() and _row_of stay valid
        self._buffer.clear()
        self._buffered = 0
        self._last_commit = time.monotonic()

    def finish(self, complete: bool, groups: dict | None = None) -> None:
        """Final write; a complete campaign leaves one file (no journal, no lock).
        ``groups`` (nested dicts of arrays, see ``hdf5``) are what only a finished campaign
        has, e.g. an optimisation's hall of fame."""
        if self.journal is not None:
            self.journal.sync()
        if complete and not groups:
            self._commit(complete=True)       # in place: a kill now still has the journal
            self.journal.close()
            self.journal = None
            os.unlink(self.journal_path)
        elif complete:
            self.rebuild(complete=True, groups=groups)
            self.journal.close()
            self.journal = None
            os.unlink(self.journal_path)
        else:
            self.commit()
            self.journal.close()
            self.journal = None
        release_lock(self.lock, self.output, remove=complete)
        self.lock = None

    def abandon(self) -> None:
        """Close the journal and release the lock, leaving every file as it is (a failed open)."""
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        release_lock(self.lock, self.output, remove=False)
        self.lock = None

    # -- HDF5 ------------------------------------------------------------------------------------
    def _state(self, complete: bool) -> dict:
        if self.runs:
            self.runs[-1]["ended"] = time.time()
        return {"n_committed": self.n_done, "complete": bool(complete),
                "runs": json.dumps(self.runs or [])}

    def rebuild(self, complete: bool, groups: dict | None = None) -> None:
        """Write the whole file anew from the known records, then rename it into place."""
        tmp = self.output.with_name(f".{self.output.name}.tmp{os.getpid()}")
        if self.layout.fixed_rows:      # a sweep's rows are its points
            n = self.layout.n_rows
        else:                           # an optimisation's grow with every evaluation
            n = int(np.flatnonzero(self._known)[-1]) + 1 if self.n_done else 0
        hdf5.write_new(tmp, self.layout, self.campaign, self.params, self.table(), n,
                       self._state(complete), groups)
        os.replace(tmp, self.output)
        self._committed, self._buffer, self._buffered = [self.table()], [], 0
