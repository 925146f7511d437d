"""The HDF5 layout of a results file: the only module of cellsweep that imports h5py.

Layout (format version 2; version 1 files have the same datasets and are read as they are):

- root attributes: ``format`` ("cellsweep-results"), ``format_version``, ``kind`` (sweep,
  optimise, ...), ``config`` (the validated config text), ``config_signature``, ``versions``
  (JSON), ``mechanisms_hash``, ``status_codes`` (JSON), ``n_rows``, ``n_committed``,
  ``complete``, ``runs`` (JSON: each run's start, end and evaluations, for rates), plus the
  campaign's own attributes (``design``, ``algorithm``, ``seed``, ...);
- one row per evaluation, row ``i`` holding evaluation ``i``: ``eval_id``, ``parameters``
  (``names``, ``units``), ``features`` (``names``, ``units``), ``scores``, ``total_score``,
  ``status`` (``codes``), ``message``, ``attempt``, ``timings`` (``names``), ``worker``,
  ``host``, ``t_start``, ``t_end``, ``nseg``, extra integer columns (``generation``) and
  ``traces/<protocol>/<recording>`` (float32, ``dt_ms``) and ``curves/<name>`` (float32
  profile curves: ``x_label``, ``x_units``, ``units``; their x values in ``curve_x/<name>``);
- groups a finished campaign adds (``optimisation/...``), written from plain nested dicts.

Fill values can never look like a result: NaN for numbers, ``-1`` (pending) for status,
attempt, worker and ids. Writers fsync before they return; readers open without HDF5's file
lock (the running campaign rewrites the file in place between reads) and retry a read that
races with a write.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import h5py
import numpy as np

from cellsweep.sweep.batch import STATUS_CODES, TIMINGS, RecordBatch

FORMAT = "cellsweep-results"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
ROW_ATTRS = ("names", "units", "codes", "dt_ms")
_STR = h5py.string_dtype("utf-8")


class FormatError(OSError):
    """A file that is not a results file this cellsweep can read."""


# -- writing ---------------------------------------------------------------------------------
def write_new(path: Path, layout, campaign, params, table: RecordBatch, n_rows: int,
              state: dict, groups: dict | None = None) -> None:
    """Write a whole results file at ``path`` (a temporary name: the caller renames it);
    ``state`` are the attributes a commit updates (``n_committed``, ``complete``, ``runs``)."""
    with h5py.File(path, "w") as f:
        _create(f, layout, campaign, params, n_rows)
        write_rows(f, layout, table)
        if groups:
            _write_groups(f, groups)
        _close_commit(f, state)


def append(path: Path, layout, batch: RecordBatch, state: dict) -> None:
    """Write a batch's rows into an existing file (open, write, flush, fsync, close)."""
    with h5py.File(path, "a", locking=False) as f:
        write_rows(f, layout, batch)
        _close_commit(f, state)


def _close_commit(f, state: dict) -> None:
    for key, value in state.items():
        f.attrs[key] = value
    f.flush()
    os.fsync(f.id.get_vfd_handle())


def _create(f, lay, camp, params, n: int) -> None:
    p, nf = len(lay.param_names), len(lay.feature_names)
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["kind"] = lay.kind
    f.attrs["config"] = camp.config_text
    f.attrs["config_signature"] = camp.signature
    f.attrs["versions"] = json.dumps(camp.versions, sort_keys=True)
    f.attrs["mechanisms_hash"] = camp.mechanisms_hash
    f.attrs["status_codes"] = json.dumps(STATUS_CODES)
    f.attrs["n_rows"] = n
    for key, value in camp.extra.items():
        f.attrs[key] = value
    maxshape = (n,) if lay.fixed_rows else (None,)
    chunk = max(1, min(n, 4096)) if n else 1024

    def ds(name, shape, dtype, fill, units="", **kw):
        tail = shape[1:]            # a zero-width one (no features) still needs a chunk of 1
        opts = dict(chunks=(chunk,) + tuple(max(1, s) for s in tail), fillvalue=fill,
                    maxshape=maxshape + tuple(s or None for s in tail))
        # integers compress well and cheaply; result floats barely (~15 %) at ~5 us per row
        # and 20 columns, which was most of rank 0's cost per result (BENCHMARKS.md §6)
        if dtype not in ("f8", _STR):
            opts.update(compression="gzip", compression_opts=4, shuffle=True)
        d = f.create_dataset(name, shape=(n,) + shape[1:], dtype=dtype, **opts, **kw)
        if units:
            d.attrs["units"] = units
        return d

    ds("eval_id", (n,), "i8", -1)
    parameters = ds("parameters", (n, p), "f8", np.nan)
    parameters.attrs["names"] = list(lay.param_names)
    parameters.attrs["units"] = list(lay.param_units)
    features = ds("features", (n, nf), "f8", np.nan)
    features.attrs["names"] = list(lay.feature_names)
    features.attrs["units"] = list(lay.feature_units)
    scores = ds("scores", (n, nf), "f8", np.nan)
    scores.attrs["names"] = list(lay.feature_names)
    ds("total_score", (n,), "f8", np.nan)
    status = ds("status", (n,), "i1", -1)
    status.attrs["codes"] = json.dumps(STATUS_CODES)
    ds("message", (n,), _STR, b"")
    ds("attempt", (n,), "i1", -1)
    timing = ds("timings", (n, len(TIMINGS)), "f8", np.nan, units="s")
    timing.attrs["names"] = list(TIMINGS)
    ds("worker", (n,), "i4", -1)
    ds("host", (n,), _STR, b"")
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
    for name, x_label, x, x_units, units in lay.curves:
        d = f.create_dataset(f"curves/{name}", shape=(n, len(x)), dtype="f4",
                             fillvalue=np.nan, chunks=(min(max(n, 1), 256), max(len(x), 1)),
                             maxshape=maxshape + (len(x),), compression="gzip",
                             compression_opts=4, shuffle=True)
        d.attrs.update({"x_label": x_label, "x_units": x_units, "units": units})
        f.create_dataset(f"curve_x/{name}", data=np.asarray(x, dtype="f8"))   # attrs: < 64 KiB
    if params is not None and len(params):
        f["parameters"][:] = params
        f["eval_id"][:] = np.arange(n)


def _columns(layout, batch: RecordBatch) -> dict:
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
    if a["params"].shape[1] == len(layout.param_names):
        cols["parameters"] = a["params"]
    for name, fill in layout.columns:
        cols[name] = a[name] if name in a else np.full(len(batch), fill, dtype="i4")
    for protocol, recording, samples, _ in layout.traces:
        values = np.full((len(batch), samples), np.nan, dtype="f4")
        got = batch.traces.get(f"{protocol}.{recording}")
        if got is not None:
            width = min(samples, got.shape[1])
            values[:, :width] = got[:, :width]
        cols[f"traces/{protocol}/{recording}"] = values
    for name, _, x, _, _ in getattr(layout, "curves", ()):
        values = np.full((len(batch), len(x)), np.nan, dtype="f4")
        got = batch.traces.get(f"curve:{name}")
        if got is not None:
            width = min(len(x), got.shape[1])
            values[:, :width] = got[:, :width]
        cols[f"curves/{name}"] = values
    return cols


def write_rows(f, layout, batch: RecordBatch) -> None:
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
    cols = _columns(layout, batch)
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


def _write_groups(f, groups: dict, prefix: str = "") -> None:
    """Nested dicts -> groups: arrays become datasets, ``"attrs"`` the group's attributes."""
    for name, value in groups.items():
        if name in ("attrs", "dataset_attrs"):
            continue
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            g = f.require_group(path)
            for key, attr in (value.get("attrs") or {}).items():
                g.attrs[key] = attr
            _write_groups(f, value, path + "/")
            for dataset, attrs in (value.get("dataset_attrs") or {}).items():
                for key, attr in attrs.items():
                    g[dataset].attrs[key] = attr
        else:
            f.create_dataset(path, data=np.asarray(value))


def _row_datasets(f) -> list[str]:
    """The datasets with one row per evaluation: the root's, and the traces."""
    names = [name for name, obj in f.items() if isinstance(obj, h5py.Dataset)]
    for group in ("traces", "curves"):
        if group in f:
            f[group].visititems(lambda name, obj, g=group: names.append(f"{g}/{name}")
                                if isinstance(obj, h5py.Dataset) else None)
    return names


def _stretches(ids: np.ndarray, gap: int = 256):
    """(start, stop) index ranges of a sorted id array whose neighbours are < ``gap`` apart."""
    breaks = np.flatnonzero(np.diff(ids) >= gap) + 1
    edges = np.concatenate([[0], breaks, [len(ids)]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


# -- reading ---------------------------------------------------------------------------------
# what h5py raises for a damaged, truncated or half-rewritten file (a corrupt attribute can
# also fail to decode: UnicodeDecodeError is a ValueError; an unresolvable link reads as None)
_READ_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError,
                AttributeError)
# the row datasets every results file has (format versions 1 and 2)
ROW_DATASETS = ("eval_id", "parameters", "features", "scores", "total_score", "status",
                "message", "attempt", "timings", "worker", "host", "t_start", "t_end", "nseg")


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _attrs(obj) -> dict:
    out = {}
    for key, value in obj.attrs.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
            value = [_text(v) for v in value.tolist()]
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = _text(value)
    return out


def _open(path: Path, attempts: int):
    last = None
    for attempt in range(attempts):
        try:
            return h5py.File(path, "r", locking=False)
        except _READ_ERRORS as exc:   # mid-rewrite by the running campaign: try again shortly
            last = exc
            if attempt + 1 < attempts:
                time.sleep(0.1)
    raise FormatError(f"{path}: cannot open as an HDF5 file ({_reason(last)}); expected a "
                      "cellsweep results file")


def _reason(exc) -> str:
    """A short reason from an h5py error: HDF5's own words in its parentheses ("truncated
    file", "file signature not found"), else the first words."""
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0] if exc.args else 'object'}"
    if isinstance(exc, AttributeError):
        return "an object that cannot be resolved"
    text = str(exc).splitlines()[0].strip() if str(exc) else ""
    if not text:
        return type(exc).__name__
    head, _, inner = text.partition("(")
    inner = inner.rstrip(")").split(":")[0].split(",")[0].strip()
    return inner or head.strip() or text


def read_header(path: Path, attempts: int = 1) -> dict:
    """The root attributes; raises FormatError for a file that is not a readable results file."""
    with _open(path, attempts) as f:
        try:
            attrs = _attrs(f)
        except _READ_ERRORS as exc:
            raise FormatError(f"{path}: damaged results file: its attributes cannot be read "
                              f"({_reason(exc)})") from None
        return check_header(path, attrs)


def check_header(path: Path, attrs: dict) -> dict:
    if attrs.get("format") != FORMAT:
        raise FormatError(f"{path}: not a cellsweep results file (an HDF5 file without its "
                          "format attribute); expected a file written by cellsweep run")
    try:
        version = int(attrs.get("format_version", attrs.get("schema_version", 1)))
    except (TypeError, ValueError):
        raise FormatError(f"{path}: damaged results file: its format_version "
                          f"{attrs.get('format_version')!r} is not a number; expected an "
                          "integer") from None
    if version not in READABLE_VERSIONS:
        raise FormatError(
            f"{path}: written in results-file format version {version}; this cellsweep reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))} (a newer cellsweep wrote it: "
            "upgrade cellsweep to read it)")
    attrs["format_version"] = version
    return attrs


class _Damaged(Exception):
    """A results file whose content does not hang together (read again: it may be mid-write)."""


def _check_body(attrs: dict, rows: dict, row_attrs: dict) -> None:
    """Raise _Damaged unless the row datasets are all there, agree on the number of rows and
    hold what the attributes promise (the names, status codes and JSON attributes)."""
    missing = [name for name in ROW_DATASETS if name not in rows]
    if missing:
        raise _Damaged(f"missing the {', '.join(missing)} dataset{'s' * (len(missing) > 1)}")
    n = rows["status"].shape[0] if rows["status"].ndim == 1 else -1
    uneven = [name for name in ROW_DATASETS if not rows[name].shape or rows[name].shape[0] != n]
    if n < 0 or uneven:
        raise _Damaged(f"datasets of different lengths ({', '.join(uneven) or 'status'})")
    for name in ("parameters", "features", "scores"):
        width = len(row_attrs.get(name, {}).get("names", []))
        if rows[name].ndim != 2 or rows[name].shape[1] != width:
            raise _Damaged(f"{name}: {rows[name].shape[1:]} columns for {width} names")
    codes = rows["status"]
    low, high = min(STATUS_CODES.values()), max(STATUS_CODES.values())
    if codes.dtype.kind not in "iu" or (codes.size and (codes.min() < low or codes.max() > high)):
        raise _Damaged("status codes out of range")
    try:
        int(attrs.get("n_rows", n))
        int(attrs.get("n_committed", 0))
        for key in ("versions", "runs"):
            if key in attrs:
                json.loads(attrs[key])
    except (TypeError, ValueError) as exc:
        raise _Damaged(f"an unreadable attribute ({_reason(exc)})") from None


def read_all(path: Path, attempts: int = 20) -> dict:
    """Everything of a results file as plain data:
    ``{"attrs": {...}, "rows": {name: array}, "row_attrs": {name: {...}}, "groups": {...}}``.
    Retried while a running campaign rewrites the file; raises FormatError (with a short
    reason) for a file that is not, or no longer, a readable results file."""
    last = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.1)
        try:
            f = _open(path, attempts=1)
        except FormatError as exc:
            last = exc
            continue
        try:
            with f:
                attrs = check_header(path, _attrs(f))
                rows, row_attrs, groups = {}, {}, {}
                for name, obj in f.items():
                    if isinstance(obj, h5py.Dataset):
                        rows[name] = obj[()]
                        row_attrs[name] = _attrs(obj)
                    elif name == "traces":     # read on demand (read_traces)
                        obj.visititems(lambda sub, d, base=name: row_attrs.__setitem__(
                            f"{base}/{sub}", _attrs(d)) if isinstance(d, h5py.Dataset) else None)
                    else:
                        groups[name] = _read_group(obj)
                _check_body(attrs, rows, row_attrs)
                return {"attrs": attrs, "rows": rows, "row_attrs": row_attrs, "groups": groups}
        except FormatError:
            raise                       # not a results file (or of an unknown version)
        except _Damaged as exc:
            last = FormatError(f"{path}: damaged results file: {exc}; expected an intact "
                               "results file")
        except _READ_ERRORS as exc:
            last = FormatError(f"{path}: damaged results file: cannot read it ({_reason(exc)});"
                               " expected an intact results file")
    raise last


def _read_group(g) -> dict:
    """A group as nested dicts: datasets as arrays, subgroups as dicts, the group's attributes
    under ``"attrs"`` and each dataset's under ``"dataset_attrs"`` (what ``_write_groups`` takes)."""
    out = {"attrs": _attrs(g), "dataset_attrs": {}}
    for name, obj in g.items():
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]
            if obj.attrs:
                out["dataset_attrs"][name] = _attrs(obj)
        else:
            out[name] = _read_group(obj)
    return out


def read_traces(path: Path, eval_ids) -> dict:
    """{(protocol, recording): (t_ms, array[len(ids), samples])} of the given rows; raises
    FormatError for a damaged file or an id that is not a row of it."""
    out = {}
    ids = sorted(int(i) for i in eval_ids)
    with _open(path, attempts=20) as f:
        try:
            check_header(path, _attrs(f))
            if "traces" not in f:
                return out
            for protocol in f["traces"]:
                for recording in f["traces"][protocol]:
                    d = f["traces"][protocol][recording]
                    if ids and not 0 <= ids[0] <= ids[-1] < d.shape[0]:
                        raise FormatError(f"{path}: no row {ids[-1] if ids[-1] >= 0 else ids[0]}"
                                          f"; expected ids 0 to {d.shape[0] - 1}")
                    t = np.arange(d.shape[1]) * float(d.attrs["dt_ms"])
                    out[(protocol, recording)] = (t, d[ids, :] if ids else d[:0, :])
        except FormatError:
            raise
        except _READ_ERRORS as exc:
            raise FormatError(f"{path}: damaged results file: its traces cannot be read "
                              f"({_reason(exc)})") from None
    return out
