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

from cells.errors import FrameworkError
from sweep import journal as J

STATUS_CODES = {"pending": -1, "ok": 0, "nan": 1, "error": 2, "crashed": 3, "timeout": 4}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
TIMINGS = ("build", "parameters", "simulate", "features", "total")
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


def read_journal(output: Path) -> tuple[dict | None, list, int]:
    """(campaign meta record, result records, dropped lines) of an output's journal."""
    journal_path, _ = paths(output)
    records, dropped = J.read(journal_path)
    meta = next((r for r in records if r.get("k") == "meta"), None)
    return meta, [r for r in records if r.get("k") == "r"], dropped


class ResultStore:
    """Writes one campaign's results; see the module docstring for the protocol."""

    def __init__(self, output: Path, layout: Layout, campaign: Campaign, params: np.ndarray,
                 commit_interval_s: float = 2.0, commit_rows: int = 2000, lock=None):
        self.output = Path(output)
        self.layout = layout
        self.campaign = campaign
        self.params = params
        self.journal_path, _ = paths(self.output)
        self.commit_interval_s = commit_interval_s
        self.commit_rows = commit_rows
        self.records: dict[int, dict] = {}       # every terminal record, by id
        self._buffer: list[dict] = []
        self._last_commit = time.monotonic()
        self.journal: J.Journal | None = None
        self.lock = lock

    # -- opening ---------------------------------------------------------------------------------
    def open(self, records: list) -> None:
        """Start (or resume with ``records`` from the journal): rebuild the file, open the journal."""
        fresh = not self.journal_path.exists()
        for r in records:
            self.records[r["id"]] = r
        self.rebuild(complete=False)
        self.journal = J.Journal(self.journal_path)
        if fresh:
            self.journal.append([{"k": "meta", "signature": self.campaign.signature,
                                  "config": self.campaign.signature_data,
                                  "n_rows": self.layout.n_rows, "created": time.time()}])
            self.journal.sync()

    @property
    def done_ids(self) -> set:
        return set(self.records)

    # -- recording -------------------------------------------------------------------------------
    def record(self, records: list[dict]) -> None:
        """Commit finished evaluations to the journal (durable against a kill once this returns)."""
        fresh = [r for r in records if r["id"] not in self.records]
        for r in fresh:
            r["k"] = "r"
            self.records[r["id"]] = r
        self.journal.append(fresh)
        self._buffer.extend(fresh)
        if len(self._buffer) >= self.commit_rows or \
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

        with h5py.File(self.output, "a", locking=False) as f:
            self._write_rows(f, sorted(self._buffer, key=lambda r: r["id"]))
            f.attrs["n_committed"] = len(self.records)
            f.attrs["complete"] = bool(complete)
            f.flush()
            os.fsync(f.id.get_vfd_handle())
        self._buffer.clear()
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
            rows = sorted(self.records.values(), key=lambda r: r["id"])
            self._write_rows(f, rows)
            if write_extra is not None:
                write_extra(f)
            f.attrs["n_committed"] = len(self.records)
            f.attrs["complete"] = bool(complete)
            f.flush()
            os.fsync(f.id.get_vfd_handle())
        os.replace(tmp, self.output)
        self._buffer.clear()

    def _create(self, f) -> None:
        lay, camp = self.layout, self.campaign
        p, nf = len(lay.param_names), len(lay.feature_names)
        # a sweep's rows are its points; an optimisation's grow with every evaluation
        n = lay.n_rows if lay.kind == "sweep" else (max(self.records) + 1 if self.records else 0)
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
            if dtype != h5py_str():
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

    def _write_rows(self, f, rows: list[dict]) -> None:
        if not rows:
            return
        ids = np.array([r["id"] for r in rows])
        need = int(ids.max()) + 1
        if need > f["status"].shape[0]:
            for name in _row_datasets(f):
                f[name].resize(need, axis=0)
        for start, stop in _runs(ids):
            chunk = rows[start:stop]
            sl = slice(int(ids[start]), int(ids[stop - 1]) + 1)
            # one pass over the records for every scalar column (zip(*) runs in C)
            (status, message, attempt, worker, host, t_start, t_end, nseg) = zip(*(
                (STATUS_CODES[r["status"]], r["message"].encode("utf-8"), r["attempt"],
                 r["worker"], r["host"].encode("utf-8"), r["t_start"], r["t_end"],
                 r.get("nseg", -1)) for r in chunk))
            f["eval_id"][sl] = ids[start:stop]
            if "params" in chunk[0]:
                f["parameters"][sl] = np.array([r["params"] for r in chunk], dtype=float)
            scores = np.array([r["scores"] for r in chunk], dtype=float)
            f["features"][sl] = np.array([r["features"] for r in chunk], dtype=float)
            f["scores"][sl] = scores
            f["total_score"][sl] = scores.sum(axis=1) if scores.size else np.zeros(len(chunk))
            f["status"][sl] = np.array(status, dtype="i1")
            f["message"][sl] = list(message)
            f["attempt"][sl] = np.array(attempt, dtype="i1")
            f["timings"][sl] = np.array([[r["timings"].get(k, np.nan) for k in TIMINGS]
                                         for r in chunk], dtype=float)
            f["worker"][sl] = np.array(worker, dtype="i4")
            f["host"][sl] = list(host)
            f["t_start"][sl] = np.array(t_start, dtype=float)
            f["t_end"][sl] = np.array(t_end, dtype=float)
            f["nseg"][sl] = np.array(nseg, dtype="i4")
            for name, fill in self.layout.columns:
                f[name][sl] = np.array([r.get(name, fill) for r in chunk], dtype="i4")
            for protocol, recording, samples, _ in self.layout.traces:
                key = f"{protocol}.{recording}"
                values = np.full((stop - start, samples), np.nan, dtype="f4")
                for i, r in enumerate(chunk):
                    if r.get("traces") and key in r["traces"]:
                        values[i] = decode_trace(r["traces"][key], samples)
                f[f"traces/{protocol}/{recording}"][sl] = values


def h5py_str():
    import h5py

    return h5py.string_dtype("utf-8")


def _row_datasets(f) -> list[str]:
    names = []
    f.visititems(lambda name, obj: names.append(name) if hasattr(obj, "shape") else None)
    return names


def _runs(ids: np.ndarray):
    """(start, stop) index ranges of consecutive ids in a sorted id array."""
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    edges = np.concatenate([[0], breaks, [len(ids)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def encode_trace(values: np.ndarray) -> str:
    import base64
    import zlib

    return base64.b64encode(zlib.compress(np.asarray(values, dtype="<f4").tobytes())).decode()


def decode_trace(text: str, samples: int) -> np.ndarray:
    import base64
    import zlib

    out = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype="<f4")
    return out[:samples] if out.size >= samples else np.pad(out, (0, samples - out.size),
                                                             constant_values=np.nan)
