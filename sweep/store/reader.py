"""``ResultsFile``: the typed reader of a results file, for every command and for users.

It reads the HDF5 file once (retrying while a running campaign rewrites it) and gives names,
columns, statuses, metadata, traces and the groups a finished campaign adds (an optimisation's
logbook, hall of fame, final population and Pareto front). A file of an older format version is
read as it is; one of an unknown version is refused with a message naming its version, and
a damaged, truncated or foreign file with ``FormatError`` and a short reason (never an h5py,
Key or Value error). ``with_results`` lays a journal's results over the rows (what a killed or
running campaign has committed beyond the HDF5 file).
"""

from __future__ import annotations

import copy
import json
from functools import cached_property
from types import SimpleNamespace
from pathlib import Path

import numpy as np

from cellsweep.sweep.batch import STATUS_NAMES, TIMINGS
from cellsweep.sweep.store import hdf5

FormatError = hdf5.FormatError


class ResultsFile:
    """A results file, read. ``ResultsFile(path)`` raises ``FormatError`` for anything that is
    not a results file this cellsweep can read."""

    def __init__(self, path, attempts: int = 20):
        self.path = Path(path)
        self._data = hdf5.read_all(self.path, attempts=attempts)
        self.attrs: dict = self._data["attrs"]
        self._rows: dict = self._data["rows"]
        self._row_attrs: dict = self._data["row_attrs"]
        self.groups: dict = self._data["groups"]

    # -- metadata --------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return str(self.attrs.get("kind", "sweep"))

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))

    @property
    def format_version(self) -> int:
        return int(self.attrs["format_version"])

    @property
    def config_text(self) -> str:
        return str(self.attrs.get("config", ""))

    @property
    def signature(self) -> str:
        return str(self.attrs.get("config_signature", ""))

    @property
    def versions(self) -> dict:
        return json.loads(self.attrs.get("versions", "{}"))    # checked by hdf5.read_all

    @property
    def n_rows(self) -> int:
        return int(self.attrs.get("n_rows", self._rows["status"].shape[0]))

    @property
    def n_committed(self) -> int:
        """Results the file says it holds (its last commit)."""
        return int(self.attrs.get("n_committed", int(np.count_nonzero(self.done()))))

    def metadata(self) -> dict:
        """The root attributes, with ``versions`` decoded."""
        return {**self.attrs, "versions": self.versions}

    # -- names -----------------------------------------------------------------------------------
    def _names(self, dataset: str, attr: str = "names") -> list[str]:
        return [str(n) for n in self._row_attrs.get(dataset, {}).get(attr, [])]

    @property
    def param_names(self) -> list[str]:
        return self._names("parameters")

    def _units(self, dataset: str) -> list[str]:
        """Units per column; "" for each where the file has none (format version 1)."""
        names, units = self._names(dataset), self._names(dataset, "units")
        return units if len(units) == len(names) else [""] * len(names)

    @property
    def param_units(self) -> list[str]:
        return self._units("parameters")

    @property
    def feature_names(self) -> list[str]:
        return self._names("features")

    @property
    def feature_units(self) -> list[str]:
        return self._units("features")

    @property
    def extra_columns(self) -> list[str]:
        """Per-row integer columns a kind of campaign adds (an optimisation's ``generation``)."""
        return [n for n in ("generation",) if n in self._rows]

    # -- rows ------------------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """One row dataset as it is stored (all rows, pending ones included)."""
        return self._rows[name]

    @cached_property
    def status_codes(self) -> np.ndarray:
        return self._rows["status"]

    def done(self) -> np.ndarray:
        """Boolean per row: has a result (of any status)."""
        return self.status_codes >= 0

    def statuses(self) -> list[str]:
        """Status name of every row (``pending`` for rows without a result)."""
        return [STATUS_NAMES[int(c)] for c in self.status_codes]

    def status_counts(self) -> dict:
        codes = self.status_codes[self.status_codes >= 0].astype(np.int64)
        counts = np.bincount(codes, minlength=1) if codes.size else []
        return {STATUS_NAMES[k]: int(c) for k, c in enumerate(counts) if c}

    def columns(self, include_pending: bool = False) -> dict:
        """{column name: array}, one entry per evaluation: ``eval_id``, (``generation``),
        parameters and features by name, ``score.<feature>``, ``total_score``, ``status``,
        ``message``, ``attempt``, ``time.<part>_s``, ``worker``, ``host``, ``t_start``, ``t_end``,
        ``nseg``."""
        r = self._rows
        keep = np.ones(self.status_codes.shape, bool) if include_pending else self.done()
        data = {"eval_id": r["eval_id"][keep]}
        for name in self.extra_columns:
            data[name] = r[name][keep]
        for name, column in zip(self.param_names, r["parameters"][keep].T):
            data[name] = column
        for name, column in zip(self.feature_names, r["features"][keep].T):
            data[name] = column
        for name, column in zip(self.feature_names, r["scores"][keep].T):
            data[f"score.{name}"] = column
        data["total_score"] = r["total_score"][keep]
        data["status"] = [STATUS_NAMES[int(c)] for c in self.status_codes[keep]]
        data["message"] = [_text(m) for m in r["message"][keep]]
        data["attempt"] = r["attempt"][keep]
        for name, column in zip(TIMINGS, r["timings"][keep].T):
            data[f"time.{name}_s"] = column
        data["worker"] = r["worker"][keep]
        data["host"] = [_text(h) for h in r["host"][keep]]
        data["t_start"] = r["t_start"][keep]
        data["t_end"] = r["t_end"][keep]
        data["nseg"] = r["nseg"][keep]
        return data

    def frame(self, include_pending: bool = False):
        """The rows as a pandas DataFrame (``columns`` in that order)."""
        import pandas as pd

        return pd.DataFrame(self.columns(include_pending))

    # -- traces ----------------------------------------------------------------------------------
    def trace_names(self) -> list[tuple[str, str]]:
        return [tuple(name.split("/")[1:3]) for name in self._row_attrs
                if name.startswith("traces/")]

    def traces(self, eval_ids) -> dict:
        """Stored traces of the given rows: {(protocol, recording): (t_ms, array[ids, samples])},
        rows in increasing id order."""
        return hdf5.read_traces(self.path, eval_ids)

    # -- profile curves ----------------------------------------------------------------------------
    def curves(self) -> dict:
        """Profile curves: {name: {"x", "x_label", "x_units", "units", "values" (rows × x)}}
        over all rows (NaN where a row has none)."""
        out = {}
        for name, value in (self.groups.get("curves") or {}).items():
            if name in ("attrs", "dataset_attrs"):
                continue
            attrs = self.groups["curves"]["dataset_attrs"].get(name, {})
            x = (self.groups.get("curve_x") or {}).get(name, ())
            out[name] = {"x": np.asarray(x), "x_label": attrs.get("x_label", ""),
                         "x_units": attrs.get("x_units", ""), "units": attrs.get("units", ""),
                         "values": np.asarray(value)}
        return out

    def profile(self) -> dict | None:
        """A finished profile run's group (``measures``: names, values, units, methods; the
        rheobase search; the experiments' settings), or None."""
        return self.groups.get("profile")

    # -- a journal's results ----------------------------------------------------------------------
    def with_results(self, batch) -> "ResultsFile":
        """A copy whose rows hold the results of ``batch`` (a ``RecordBatch``, e.g. a journal's;
        the first result of an id wins, as in the store) over this file's rows; rows grow to
        the highest id (an optimisation's rows grow with every evaluation). Traces stay the
        file's."""
        out = copy.copy(self)
        out._rows = rows = {k: v for k, v in self._rows.items()}
        out.__dict__.pop("status_codes", None)
        if batch is None or not len(batch):
            return out
        _, first = np.unique(batch.ids, return_index=True)
        batch = batch.take(np.sort(first))
        if batch.ids.min() < 0:
            raise FormatError(f"{self.path}: the journal holds a negative evaluation id")
        layout = SimpleNamespace(param_names=self.param_names, traces=(),
                                 columns=tuple((n, -1) for n in self.extra_columns))
        cols = hdf5._columns(layout, batch)
        need = max(int(batch.ids.max()) + 1, self.status_codes.shape[0])
        ids = batch.ids
        for name in hdf5.ROW_DATASETS + tuple(self.extra_columns):
            current = rows[name]
            if current.shape[0] < need:
                grown = np.empty((need,) + current.shape[1:], dtype=current.dtype)
                grown[:current.shape[0]] = current
                grown[current.shape[0]:] = _fill(current.dtype)
                current = grown
            else:
                current = current.copy()
            if name in cols:
                values = cols[name]
                if current.ndim == 2 and np.shape(values)[1:] != current.shape[1:]:
                    raise FormatError(f"{self.path}: its journal's {name} have "
                                      f"{np.shape(values)[1:]} columns, the file "
                                      f"{current.shape[1:]}")
                current[ids] = values
            rows[name] = current
        out.attrs = {**self.attrs, "n_rows": max(self.n_rows, need),
                     "n_committed": int(np.count_nonzero(rows["status"] >= 0))}
        return out

    # -- what a finished campaign adds ------------------------------------------------------------
    def optimisation(self) -> dict | None:
        """A finished optimisation's groups (``logbook``, ``hall_of_fame``, ``final_population``,
        ``pareto_front``; each set with ``eval_id``, ``parameters``, ``scores``), or None."""
        return self.groups.get("optimisation")


def _fill(dtype):
    """The fill value of a row dataset of this dtype (what a pending row holds)."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return -1
    return b""


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def is_results_file(path) -> bool:
    try:
        hdf5.read_header(Path(path))
        return True
    except OSError:
        return False


def committed(path) -> int:
    """How many results the HDF5 file's last commit holds (its header only: cheap); raises
    FormatError for a file that is not a readable results file."""
    attrs = hdf5.read_header(Path(path), attempts=3)
    try:
        return int(attrs.get("n_committed", 0))
    except (TypeError, ValueError):
        raise FormatError(f"{path}: damaged results file: n_committed "
                          f"{attrs.get('n_committed')!r} is not a number") from None


def stored_signature(path) -> str | None:
    """The config signature of a complete results file (its journal is gone), or None."""
    try:
        attrs = hdf5.read_header(Path(path))
    except OSError:
        return None
    return str(attrs.get("config_signature", "")) or None if attrs.get("complete", False) else None
