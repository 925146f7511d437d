"""Finished evaluations as columns: how results travel from the ranks to the journal and HDF5.

Why columns: handled one dict at a time, each result cost rank 0 about 90 µs (the JSON text of
its floats for the journal, Python per row for the HDF5 columns), so one coordinator saturated
at ~12 000 results/s, i.e. above ~120 ranks for 10 ms evaluations (BENCHMARKS.md §7). A
``RecordBatch`` holds many results as numpy arrays. The rank that evaluated them encodes them
once (``encode``); rank 0 decodes the bytes with ``numpy.frombuffer``, appends the very same bytes
to the journal (``sweep.store.journal``) and writes HDF5 columns with slice assignments, so its cost is
per message, not per result.

All numbers of a row sit in one numpy structured array (``rows``), so that taking, joining and
decoding a batch are single numpy calls whatever its size: per message rank 0 pays a few
microseconds, not one Python operation per column. The encoding is a one-line JSON header (row
count, the dtype, the few strings, the traces' shapes) followed by the raw little-endian rows and
the zlib-compressed traces. It carries its own dtype, so it reads back the same on any machine.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import zlib
from typing import TypedDict

import numpy as np

STATUS_CODES = {"pending": -1, "ok": 0, "nan": 1, "error": 2, "crashed": 3, "timeout": 4}
STATUS_NAMES = {v: k for k, v in STATUS_CODES.items()}
TIMINGS = ("build", "parameters", "simulate", "features", "total")

# name -> (dtype, fill) of the per-row scalars every record has
SCALARS = {"id": ("<i8", -1), "attempt": ("<i1", -1), "status": ("<i1", -1),
           "worker": ("<i4", -1), "nseg": ("<i4", -1), "t_start": ("<f8", math.nan),
           "t_end": ("<f8", math.nan)}
MATRICES = ("params", "features", "scores", "timings")
_STRINGS = ("message", "host")
_KNOWN = set(SCALARS) | set(MATRICES) | set(_STRINGS) | {"traces", "k"}
EXTRA_FILL = -1                         # extra integer columns (e.g. an optimisation's generation)
_HOST = os.uname().nodename


class EvaluationRecord(TypedDict, total=False):
    """One finished evaluation as an evaluation process returns it (``PointEvaluator``), before
    it joins a ``RecordBatch``; ``stamp`` adds who ran it and when."""

    id: int
    attempt: int
    status: str                 # a key of STATUS_CODES
    message: str
    params: list                # in the results file's column order
    features: list
    scores: list
    timings: dict               # part -> seconds (TIMINGS)
    nseg: int
    traces: dict                # "protocol.recording" -> float32 array
    worker: int
    host: str
    t_start: float              # seconds since the epoch
    t_end: float
    generation: int             # extra integer columns a campaign kind adds


def stamp(record: EvaluationRecord, worker: int, t_start: float,
          t_end: float | None = None) -> EvaluationRecord:
    """Mark a record with the worker and host that produced it and its wall-clock times."""
    record.update(worker=worker, host=_HOST, t_start=t_start,
                  t_end=time.time() if t_end is None else t_end)
    return record


class RecordBatch:
    """Results of ``n`` evaluations: ``rows`` (a structured array: the scalars of ``SCALARS``,
    the matrices ``params``/``features``/``scores``/``timings`` as sub-array fields, extra integer
    columns), ``traces`` (``"protocol.recording"`` -> ``(n, samples)`` float32, NaN where a row
    has none), and two string columns, ``message`` and ``host``."""

    def __init__(self, rows: np.ndarray, message: list, host: list, traces: dict | None = None,
                 encoded: bytes | None = None):
        self.rows = rows
        self.message = message
        self.host = host
        self.traces = traces or {}
        self._encoded = encoded               # the bytes this batch was decoded from, if any
        self._arrays: dict | None = None

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_records(cls, records: list) -> "RecordBatch":
        """Columns from record dicts (what an evaluation process returns, or an old journal)."""
        n = len(records)
        first = records[0] if records else {}
        widths = {k: len(first.get(k, ())) for k in ("params", "features", "scores")}
        extras = sorted({k for r in records for k, v in r.items()
                         if k not in _KNOWN and isinstance(v, (int, np.integer))
                         and not isinstance(v, bool)})
        dtype = _dtype(widths, extras)
        names = list(SCALARS)
        # one tuple per row, converted by numpy in one call (field by field costs ~25 us a batch)
        rows = np.array([
            tuple(STATUS_CODES[r["status"]] if k == "status" else r.get(k, SCALARS[k][1])
                  for k in names)
            + tuple(_fit(r.get(k, ()), w) for k, w in widths.items())
            + ([r.get("timings", {}).get(k, math.nan) for k in TIMINGS],)
            + tuple(r.get(k, EXTRA_FILL) for k in extras)
            for r in records], dtype=dtype) if n else np.zeros(0, dtype=dtype)
        traces = {}
        keys = sorted({k for r in records for k in (r.get("traces") or {})})
        for key in keys:
            values = [_trace_values((r.get("traces") or {}).get(key)) for r in records]
            width = max(v.size for v in values if v is not None)
            out = np.full((n, width), np.nan, dtype="<f4")
            for i, v in enumerate(values):
                if v is not None:
                    out[i, :min(width, v.size)] = v[:width]
            traces[key] = out
        return cls(rows, [str(r.get("message", "")) for r in records],
                   [str(r.get("host", "")) for r in records], traces)

    @classmethod
    def concat(cls, batches: list) -> "RecordBatch":
        batches = [b for b in batches if len(b)]
        if len(batches) == 1:
            return batches[0]
        if not batches:
            return cls.from_records([])
        dtype = batches[0].rows.dtype
        if any(b.rows.dtype is not dtype and b.rows.dtype != dtype for b in batches):
            widths = {k: max(b.rows.dtype[k].shape[0] for b in batches)
                      for k in ("params", "features", "scores")}
            extras = sorted({k for b in batches for k in b.extra_columns})
            dtype = _dtype(widths, extras)
        # joined as bytes: numpy's concatenate of structured arrays costs ~25 us per array
        rows = np.frombuffer(b"".join(_conform(b.rows, dtype).tobytes() for b in batches),
                             dtype=dtype)
        traces = {}
        for key in sorted({k for b in batches for k in b.traces}):
            width = max(b.traces[key].shape[1] for b in batches if key in b.traces)
            out = np.full((rows.size, width), np.nan, dtype="<f4")
            at = 0
            for b in batches:
                if key in b.traces:
                    part = b.traces[key]
                    out[at:at + len(b), :part.shape[1]] = part
                at += len(b)
            traces[key] = out
        return cls(rows, [m for b in batches for m in b.message],
                   [h for b in batches for h in b.host], traces)

    # -- access ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def arrays(self) -> dict:
        """name -> column (views into ``rows``): ``(n,)`` scalars, ``(n, k)`` matrices."""
        if self._arrays is None:
            self._arrays = {name: self.rows[name] for name in self.rows.dtype.names}
        return self._arrays

    @property
    def ids(self) -> np.ndarray:
        return self.rows["id"]

    @property
    def extra_columns(self) -> list:
        return [k for k in self.rows.dtype.names if k not in SCALARS and k not in MATRICES]

    def take(self, index) -> "RecordBatch":
        """The rows at ``index`` (integer positions or a boolean mask), in that order."""
        index = np.asarray(index)
        if index.size == 0:
            index = index.astype(np.int64)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return RecordBatch(self.rows[index], [self.message[i] for i in index],
                           [self.host[i] for i in index],
                           {k: v[index] for k, v in self.traces.items()})

    def with_column(self, name: str, value: int) -> "RecordBatch":
        """This batch plus an integer column holding ``value`` on every row."""
        extras = sorted(set(self.extra_columns) | {name})
        widths = {k: self.rows.dtype[k].shape[0] for k in ("params", "features", "scores")}
        rows = _conform(self.rows, _dtype(widths, extras))
        rows[name] = value
        return RecordBatch(rows, self.message, self.host, self.traces)

    def status_names(self) -> list:
        return [STATUS_NAMES[int(c)] for c in self.rows["status"]]

    def records(self) -> list:
        """Record dicts again (for code that looks at a few results, e.g. an optimiser)."""
        lists = {k: v.tolist() for k, v in self.arrays.items()}
        extras = self.extra_columns
        out = []
        for i in range(len(self)):
            r = {k: lists[k][i] for k in SCALARS}
            r["status"] = STATUS_NAMES[r["status"]]
            r["message"], r["host"] = self.message[i], self.host[i]
            for k in ("params", "features", "scores"):
                r[k] = lists[k][i]
            r["timings"] = {k: v for k, v in zip(TIMINGS, lists["timings"][i]) if v == v}
            for k in extras:
                r[k] = lists[k][i]
            if self.traces:
                r["traces"] = {k: v[i] for k, v in self.traces.items() if not np.isnan(v[i]).all()}
            out.append(r)
        return out

    # -- bytes -------------------------------------------------------------------------------------
    def encode(self) -> bytes:
        """Header line + raw rows + compressed traces; a decoded batch returns its own bytes."""
        if self._encoded is not None:
            return self._encoded
        rows = np.ascontiguousarray(self.rows)
        header: dict = {"n": len(self), "dtype": _descr_key(rows.dtype)}
        blobs = [rows.tobytes()]
        if self.traces:
            header["traces"] = []
            for key, value in self.traces.items():
                data = zlib.compress(np.ascontiguousarray(value, dtype="<f4").tobytes(), 1)
                header["traces"].append([key, value.shape[1], len(data)])
                blobs.append(data)
        hosts = set(self.host)
        header["host"] = self.host[0] if len(hosts) == 1 else self.host
        messages = {str(i): m for i, m in enumerate(self.message) if m}
        if messages:
            header["message"] = messages
        head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
        self._encoded = head + b"\n" + b"".join(blobs)
        return self._encoded

    @classmethod
    def decode(cls, payload: bytes) -> "RecordBatch":
        """The batch ``encode`` wrote (raises ``ValueError`` on bytes that are not one)."""
        cut = payload.find(b"\n")
        if cut < 0:
            raise ValueError("no header line")
        header = json.loads(payload[:cut])
        n = int(header["n"])
        dtype = _dtype_of(header["dtype"])
        at = cut + 1
        rows = np.frombuffer(payload, dtype=dtype, count=n, offset=at)
        at += dtype.itemsize * n
        traces = {}
        for key, width, size in header.get("traces", ()):
            raw = zlib.decompress(payload[at:at + size])
            at += size
            traces[key] = np.frombuffer(raw, dtype="<f4").reshape(n, width)
        if at != len(payload):
            raise ValueError("batch length does not match its header")
        host = header.get("host", "")
        hosts = [host] * n if isinstance(host, str) else list(host)
        message = [""] * n
        for i, m in header.get("message", {}).items():
            message[int(i)] = m
        return cls(rows, message, hosts, traces, encoded=payload)


def _dtype(widths: dict, extras) -> np.dtype:
    return _dtype_cached(tuple(widths.get(k, 0) for k in ("params", "features", "scores")),
                         tuple(extras))


@functools.lru_cache(maxsize=64)
def _dtype_cached(width_values: tuple, extras: tuple) -> np.dtype:
    """Built once per shape: making a structured dtype costs ~10 us."""
    widths = dict(zip(("params", "features", "scores"), width_values))
    fields = [(name, dtype) for name, (dtype, _) in SCALARS.items()]
    fields += [(name, "<f8", (widths.get(name, 0),)) for name in ("params", "features", "scores")]
    fields.append(("timings", "<f8", (len(TIMINGS),)))
    fields += [(name, "<i4") for name in extras]
    return np.dtype(fields)


_DTYPES: dict = {}


def _descr_key(dtype: np.dtype) -> str:
    return json.dumps(dtype.descr, separators=(",", ":"))


def _dtype_of(key: str) -> np.dtype:
    """The dtype a header names (cached: a campaign sends the same one all the time)."""
    dtype = _DTYPES.get(key)
    if dtype is None:
        fields = [(f[0], f[1]) if len(f) == 2 else (f[0], f[1], tuple(f[2]))
                  for f in json.loads(key)]
        if not fields or fields[0][0] != "id":
            raise ValueError("a batch's first field is its id")
        dtype = _DTYPES[key] = np.dtype(fields)
    return dtype


def _conform(rows: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``rows`` in ``dtype``: fields it lacks get their fill values, wider matrices NaN."""
    if rows.dtype is dtype or rows.dtype == dtype:
        return rows
    out = np.zeros(rows.shape[0], dtype=dtype)
    for name in dtype.names:
        fill = SCALARS.get(name, (None, math.nan if name in MATRICES else EXTRA_FILL))[1]
        if name not in rows.dtype.names:
            out[name] = fill
        elif dtype[name].shape:
            out[name] = math.nan
            width = min(dtype[name].shape[0], rows.dtype[name].shape[0])
            out[name][:, :width] = rows[name][:, :width]
        else:
            out[name] = rows[name]
    return out


def _fit(values, width: int) -> list:
    """A row of a matrix column (a shorter one, never expected, padded with NaN)."""
    values = list(values)
    return values if len(values) == width else (values + [math.nan] * width)[:width]


def _trace_values(value):
    """A trace as float32 samples: arrays as they are, text as an old journal stored it."""
    if value is None:
        return None
    if isinstance(value, str):
        import base64

        return np.frombuffer(zlib.decompress(base64.b64decode(value)), dtype="<f4")
    return np.asarray(value, dtype="<f4").ravel()
