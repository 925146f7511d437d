"""The campaign's results: one HDF5 file, made crash-safe by the journal beside it.

Life of a results file ``out.h5``:

1. ``out.h5.journal`` receives every finished evaluation first (``sweep.journal``): that append is
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
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellsweep.cells.errors import FrameworkError
from cellsweep.sweep import journal as J

from cellsweep.sweep.batch import STATUS_CODES, STATUS_NAMES, TIMINGS, RecordBatch  # noqa: F401

FORMAT = "cellsweep-results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Layout:
    """The columns of a results file."""

    kind: str                           # "sweep" or "optimise"
    param_names: tuple
    param_units: tuple
    feature_names: tuple
    feature_units: tuple
    n_rows: int                         # sweeps: the points; optimisations: expected evaluations
    traces: tuple = ()                  # ((protocol, recording, n_samples, dt_ms), ...)
    columns: tuple = ()                 # extra per-row integer columns: ((name, fill), ...)


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


def read_journal(output: Path) -> tuple[dict | None, RecordBatch, int, int]:
    """(campaign meta record, every result in the journal as one batch, torn or corrupt
    stretches, where the intact frames end). Duplicates are left in: the store keeps the first."""
    journal_path, _ = paths(output)
    items, dropped, valid_end = J.read(journal_path)
    meta = next((r for r in items if isinstance(r, dict) and r.get("k") == "meta"), None)
    batches, pending = [], []          # runs of JSON result records become batches, in order
    for item in items:
        if isinstance(item, dict):
            if item.get("k") == "r":
                pending.append(item)
            continue
        if pending:
            batches.append(RecordBatch.from_records(pending))
            pending = []
        batches.append(item)
    if pending:
        batches.append(RecordBatch.from_records(pending))
    return meta, RecordBatch.concat(batches), dropped, valid_end


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

    # -- opening ---------------------------------------------------------------------------------
    def open(self, results: RecordBatch | None = None, valid_end: int | None = None) -> None:
        """Start, or resume with ``results`` from the journal (whose intact frames end at
        ``valid_end``): rebuild the file, open the journal."""
        fresh = not self.journal_path.exists()
        if results is not None and len(results):
            results = self._fresh(results)
            self._mark(results)
            self._committed.append(results)
        self.rebuild(complete=False)
        self.journal = J.Journal(self.journal_path, valid_end=None if fresh else valid_end)
        if fresh:
            self.journal.append([{"k": "meta", "signature": self.campaign.signature,
                                  "config": self.campaign.signature_data,
                                  "n_rows": self.layout.n_rows, "created": time.time()}])
            self.journal.sync()

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
        import h5py

        merged = RecordBatch.concat(self._buffer)
        with h5py.File(self.output, "a", locking=False) as f:
            self._write_rows(f, merged)
            f.attrs["n_committed"] = self.n_done
            f.attrs["complete"] = bool(complete)
            f.flush()
            os.fsync(f.id.get_vfd_handle())
        self._committed.append(merged)          # same order: table() and _row_of stay valid
        self._buffer.clear()
        self._buffered = 0
        self._last_commit = time.monotonic()

    def finish(self, complete: bool, write_extra=None) -> None:
        """Final write; a complete campaign leaves one file (no journal, no lock).
        ``write_extra(h5file)`` adds what only a finished campaign has (e.g. a hall of fame)."""
        if self.journal is not None:
            self.journal.sync()
        if complete and write_extra is None:
            self._commit(complete=True)       # in place: a kill now still has the journal
            self.journal.close()
            self.journal = None
            os.unlink(self.journal_path)
        elif complete:
            self.rebuild(complete=True, write_extra=write_extra)
            self.journal.close()
            self.journal = None
            os.unlink(self.journal_path)
        else:
            self.commit()
            self.journal.close()
            self.journal = None
        release_lock(self.lock, self.output, remove=complete)
        self.lock = None

    # -- HDF5 ------------------------------------------------------------------------------------
    def rebuild(self, complete: bool, write_extra=None) -> None:
        """Write the whole file anew from the known records, then rename it into place."""
        import h5py

        tmp = self.output.with_name(f".{self.output.name}.tmp{os.getpid()}")
        with h5py.File(tmp, "w") as f:
            self._create(f)
            self._write_rows(f, self.table())
            if write_extra is not None:
                write_extra(f)
            f.attrs["n_committed"] = self.n_done
            f.attrs["complete"] = bool(complete)
            f.flush()
            os.fsync(f.id.get_vfd_handle())
        os.replace(tmp, self.output)
        self._committed, self._buffer, self._buffered = [self.table()], [], 0

    def _create(self, f) -> None:
        lay, camp = self.layout, self.campaign
        p, nf = len(lay.param_names), len(lay.feature_names)
        # a sweep's rows are its points; an optimisation's grow with every evaluation
        if lay.kind == "sweep":
            n = lay.n_rows
        else:
            n = int(np.flatnonzero(self._known)[-1]) + 1 if self.n_done else 0
        f.attrs["format"] = FORMAT
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["kind"] = lay.kind
        f.attrs["config"] = camp.config_text
        f.attrs["config_signature"] = camp.signature
        f.attrs["versions"] = json.dumps(camp.versions, sort_keys=True)
        f.attrs["mechanisms_hash"] = camp.mechanisms_hash
        f.attrs["status_codes"] = json.dumps(STATUS_CODES)
        f.attrs["n_rows"] = n
        for key, value in camp.extra.items():
            f.attrs[key] = value
        maxshape = (None,) if lay.kind != "sweep" else (n,)
        chunk = max(1, min(n, 4096)) if n else 1024

        def ds(name, shape, dtype, fill, units="", **kw):
            opts = dict(chunks=(chunk,) + shape[1:], fillvalue=fill, maxshape=maxshape + shape[1:])
            # integers compress well and cheaply; result floats barely (~15 %) at ~5 us per row
            # and 20 columns, which was most of rank 0's cost per result (BENCHMARKS.md §6)
            if dtype not in ("f8", h5py_str()):
                opts.update(compression="gzip", compression_opts=4, shuffle=True)
            d = f.create_dataset(name, shape=(n,) + shape[1:], dtype=dtype, **opts, **kw)
            if units:
                d.attrs["units"] = units
            return d

        ds("eval_id", (n,), "i8", -1)
        params = ds("parameters", (n, p), "f8", np.nan)
        params.attrs["names"] = list(lay.param_names)
        params.attrs["units"] = list(lay.param_units)
        feats = ds("features", (n, nf), "f8", np.nan)
        feats.attrs["names"] = list(lay.feature_names)
        feats.attrs["units"] = list(lay.feature_units)
        scores = ds("scores", (n, nf), "f8", np.nan)
        scores.attrs["names"] = list(lay.feature_names)
        ds("total_score", (n,), "f8", np.nan)
        status = ds("status", (n,), "i1", -1)
        status.attrs["codes"] = json.dumps(STATUS_CODES)
        ds("message", (n,), h5py_str(), b"")
        ds("attempt", (n,), "i1", -1)
        timing = ds("timings", (n, len(TIMINGS)), "f8", np.nan, units="s")
        timing.attrs["names"] = list(TIMINGS)
        ds("worker", (n,), "i4", -1)
        ds("host", (n,), h5py_str(), b"")
        ds("t_start", (n,), "f8", np.nan, units="s since 1970-01-01 UTC")
        ds("t_end", (n,), "f8", np.nan, units="s since 1970-01-01 UTC")
        ds("nseg", (n,), "i4", -1)
        for name, fill in lay.columns:
            ds(name, (n,), "i4", fill)
        for protocol, recording, samples, dt in lay.traces:
            d = f.create_dataset(f"traces/{protocol}/{recording}", shape=(n, samples),
                                 dtype="f4", fillvalue=np.nan, chunks=(min(max(n, 1), 64), samples),
                                 maxshape=maxshape + (samples,), compression="gzip",
                                 compression_opts=4, shuffle=True)
            d.attrs["dt_ms"] = dt
        if self.params is not None and len(self.params):
            f["parameters"][:] = self.params
            f["eval_id"][:] = np.arange(n)

    def _columns(self, batch: RecordBatch) -> dict:
        """dataset name -> the batch's values for it (rows in batch order)."""
        a = batch.arrays
        scores = a["scores"]
        cols = {"eval_id": a["id"], "features": a["features"], "scores": scores,
                "total_score": scores.sum(axis=1) if scores.shape[1] else np.zeros(len(batch)),
                "status": a["status"], "attempt": a["attempt"], "timings": a["timings"],
                "worker": a["worker"], "t_start": a["t_start"], "t_end": a["t_end"],
                "nseg": a["nseg"],
                "message": np.array([m.encode("utf-8") for m in batch.message], dtype=object),
                "host": np.array([h.encode("utf-8") for h in batch.host], dtype=object)}
        if a["params"].shape[1] == len(self.layout.param_names):
            cols["parameters"] = a["params"]
        for name, fill in self.layout.columns:
            cols[name] = a[name] if name in a else np.full(len(batch), fill, dtype="i4")
        for protocol, recording, samples, _ in self.layout.traces:
            values = np.full((len(batch), samples), np.nan, dtype="f4")
            got = batch.traces.get(f"{protocol}.{recording}")
            if got is not None:
                width = min(samples, got.shape[1])
                values[:, :width] = got[:, :width]
            cols[f"traces/{protocol}/{recording}"] = values
        return cols

    def _write_rows(self, f, batch: RecordBatch) -> None:
        """Write a batch's rows by id: one slice assignment per dataset and stretch of ids
        (ids a few rows apart share a stretch, written back with the rows in between)."""
        if not len(batch):
            return
        batch = batch.take(np.argsort(batch.ids, kind="stable"))
        ids = batch.ids
        need = int(ids[-1]) + 1
        if need > f["status"].shape[0]:
            for name in _row_datasets(f):
                f[name].resize(need, axis=0)
        cols = self._columns(batch)
        for start, stop in _stretches(ids):
            lo, hi = int(ids[start]), int(ids[stop - 1]) + 1
            dense = hi - lo == stop - start
            where = ids[start:stop] - lo
            for name, values in cols.items():
                part = values[start:stop]
                if dense:
                    f[name][lo:hi] = part
                else:
                    current = f[name][lo:hi]
                    current[where] = part
                    f[name][lo:hi] = current


def h5py_str():
    import h5py

    return h5py.string_dtype("utf-8")


def _row_datasets(f) -> list[str]:
    names = []
    f.visititems(lambda name, obj: names.append(name) if hasattr(obj, "shape") else None)
    return names


def _stretches(ids: np.ndarray, gap: int = 256):
    """(start, stop) index ranges of a sorted id array whose neighbours are < ``gap`` apart."""
    breaks = np.flatnonzero(np.diff(ids) >= gap) + 1
    edges = np.concatenate([[0], breaks, [len(ids)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))
