"""Global sensitivity indices of a sweep's features and scores, through SALib (pure, no NEURON).

A sweep of ``design: saltelli`` or ``design: morris`` (``sweep.designs``) keeps SALib's sample
order as its point ids and its settings in the file (the ``sensitivity`` root attribute), so
``analyse`` reads the rows back in that order and hands each output to
``SALib.analyze.sobol.analyze`` (first-order ``S1``, total ``ST``, and ``S2`` when the design
sampled second order, with bootstrap confidence intervals) or ``SALib.analyze.morris.analyze``
(``mu``, ``mu_star`` with its bootstrap interval, ``sigma``).

Outputs are the features (by name), their scores (``score.<feature>``) and ``total_score``.
A point is valid for an output when its status is ``ok`` and the value is finite (a failed or
pending point, or a feature eFEL could not compute, is not). The estimators need whole blocks:
Sobol' the N·(D+2) (or N·(2D+2)) rows of one base sample, Morris the D+1 rows of a trajectory.
So every block holding an invalid point is dropped whole and the others analysed (the
estimators take any number of blocks; the indices then describe the region where the output
exists, biased if failures depend on the parameters, which a note says); with fewer than
``min_blocks`` left the output is refused, with the counts. An output without variance over
the blocks kept has no Sobol' indices (refused, saying so). No index is ever a silent NaN.

``Sensitivity.table`` is a long DataFrame, one row per (output, parameter, index):

- ``output``: feature name, ``score.<feature>`` or ``total_score``;
- ``kind``: ``feature`` or ``score``;
- ``parameter``: a parameter name, or ``"a,b"`` for a second-order index of the pair;
- ``index``: ``S1``, ``ST``, ``S2`` (Sobol') or ``mu``, ``mu_star``, ``sigma`` (Morris);
- ``value``: the index;
- ``conf``: half-width of its bootstrap confidence interval at ``conf_level`` (SALib's
  ``*_conf``); NaN for ``mu`` and ``sigma``, which SALib gives none.

``Sensitivity.counts`` is a DataFrame, one row per output: ``output``, ``kind``, ``points``
(rows in the design), ``valid`` (valid points), ``blocks`` (in the design), ``used`` (blocks
analysed), ``dropped`` (blocks with an invalid point), ``outcome`` (``analysed`` or
``refused``) and ``detail`` (why, in words). ``notes`` are the lines a person should read.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOBOL_INDICES = ("S1", "ST", "S2")
MORRIS_INDICES = ("mu", "mu_star", "sigma")
MIN_BLOCKS = 8          # below this many whole blocks an output is refused
TABLE_COLUMNS = ["output", "kind", "parameter", "index", "value", "conf"]
COUNT_COLUMNS = ["output", "kind", "points", "valid", "blocks", "used", "dropped", "outcome",
                 "detail"]


class NotASensitivityDesign(ValueError):
    """The file's design has no sensitivity estimator (not saltelli or morris)."""


@dataclass
class Sensitivity:
    method: str                       # "sobol" | "morris"
    design: dict                      # the design's settings as stored (with the SALib problem)
    table: object                     # pandas DataFrame, TABLE_COLUMNS
    counts: object                    # pandas DataFrame, COUNT_COLUMNS
    notes: list = field(default_factory=list)
    conf_level: float = 0.95
    resamples: int = 100

    @property
    def parameters(self) -> list[str]:
        return list(self.design["problem"]["names"])

    @property
    def outputs(self) -> list[str]:
        """The outputs analysed (not refused), in the file's order."""
        c = self.counts
        return c.loc[c["outcome"] == "analysed", "output"].tolist()

    def to_dict(self) -> dict:
        """Plain data (for ``--json``): NaN as None."""
        def clean(records):
            return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                    for r in records]
        return {"method": self.method, "design": self.design, "conf_level": self.conf_level,
                "resamples": self.resamples, "parameters": self.parameters,
                "indices": clean(self.table.to_dict("records")),
                "counts": clean(self.counts.to_dict("records")), "notes": list(self.notes)}


def _open(results):
    """A ``ResultsFile`` (a path: with what its journal holds beyond the HDF5 file)."""
    if isinstance(results, (str, Path)):
        from cellsweep.sweep.results import current

        return current(results)
    return results


def settings_of(results) -> dict | None:
    """The stored settings of a saltelli/morris design, or None for any other file."""
    f = _open(results)
    if f.kind != "sweep" or f.attrs.get("design") not in ("saltelli", "morris"):
        return None
    raw = f.attrs.get("sensitivity")
    try:
        settings = json.loads(raw) if raw else None
    except ValueError:
        settings = None
    return settings if isinstance(settings, dict) and "problem" in settings else None


def design_of(results) -> str | None:
    """``'saltelli'`` or ``'morris'`` when the file's design allows a sensitivity analysis,
    else None (other designs, optimisations, profiles)."""
    settings = settings_of(results)
    return None if settings is None else str(settings["design"])


def describe_design(results) -> str:
    """The file's design in words (for a refusal)."""
    f = _open(results)
    if f.kind != "sweep":
        return f"a campaign of kind {f.kind!r}"
    return f"a sweep of design {str(f.attrs.get('design', '?'))!r}"


def analyse(results, features=None, scores: bool = True, seed: int = 1,
            resamples: int = 100, conf_level: float = 0.95,
            min_blocks: int = MIN_BLOCKS) -> Sensitivity:
    """Sensitivity indices of every feature (or of ``features``, names) and, with ``scores``,
    of their scores and the total score. ``seed`` (>= 1) fixes SALib's bootstrap. Raises
    ``NotASensitivityDesign`` for a file of another design, ``ValueError`` for unknown
    feature names or bad settings."""
    import pandas as pd

    if not (isinstance(seed, int) and seed >= 1):
        raise ValueError(f"seed: expected a whole number >= 1, found {seed!r}")
    if not (isinstance(resamples, int) and resamples >= 2):
        raise ValueError(f"resamples: expected a whole number >= 2, found {resamples!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level: expected a number between 0 and 1, found {conf_level!r}")
    f = _open(results)
    settings = settings_of(f)
    if settings is None:
        raise NotASensitivityDesign(f"{f.path}: {describe_design(f)}; a sensitivity analysis "
                                    "needs a sweep of design saltelli or morris")
    names = list(settings["problem"]["names"])
    if f.param_names != names:
        raise ValueError(f"{f.path}: its parameters {f.param_names} are not its design's "
                         f"{names}")
    d = len(names)
    method = "sobol" if settings["design"] == "saltelli" else "morris"
    if method == "sobol":
        second = bool(settings["second_order"])
        block = 2 * d + 2 if second else d + 2
    else:
        block = d + 1
    n_rows = f.n_rows
    if n_rows % block or f.status_codes.shape[0] != n_rows:
        raise ValueError(f"{f.path}: {n_rows} rows are not whole blocks of {block} "
                         f"({settings['design']} over {d} parameters)")
    outputs = _outputs(f, features, scores)
    ok = f.status_codes == 0
    table, counts, notes = [], [], []
    x = f.column("parameters")
    problem = {"num_vars": d, "names": names, "bounds": [[0.0, 1.0]] * d}
    n_blocks = n_rows // block
    for name, kind, values in outputs:
        valid = ok & np.isfinite(values)
        per_block = valid.reshape(n_blocks, block).all(axis=1)
        used = int(per_block.sum())
        row = {"output": name, "kind": kind, "points": n_rows, "valid": int(valid.sum()),
               "blocks": n_blocks, "used": used, "dropped": n_blocks - used}
        unit = "base samples" if method == "sobol" else "trajectories"
        if used < min_blocks:
            counts.append({**row, "outcome": "refused",
                           "detail": f"{used} of {n_blocks} {unit} complete "
                                     f"({n_blocks - used} hold a failed, pending or NaN point); "
                                     f"at least {min_blocks} needed"})
            continue
        keep = np.repeat(per_block, block)
        y = values[keep].astype(float)
        if method == "sobol" and np.ptp(y) == 0:
            counts.append({**row, "outcome": "refused",
                           "detail": f"constant ({y[0]:.6g}) over the {used} {unit} kept: "
                                     "no variance to apportion"})
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "sobol":
                from SALib.analyze import sobol

                si = sobol.analyze(problem, y, calc_second_order=second,
                                   num_resamples=resamples, conf_level=conf_level, seed=seed)
            else:
                from SALib.analyze import morris

                si = morris.analyze(problem, x[keep].astype(float), y,
                                    num_resamples=resamples, conf_level=conf_level,
                                    num_levels=int(settings["levels"]), seed=seed)
        rows = _rows(si, method, names, name, kind)
        bad = [r for r in rows if not np.isfinite(r["value"])]
        if bad:        # never a silent NaN: say which (SALib gives NaN only on degenerate input)
            counts.append({**row, "outcome": "refused",
                           "detail": f"SALib gave no finite {bad[0]['index']} for "
                                     f"{bad[0]['parameter']}"})
            continue
        table.extend(rows)
        detail = f"{used} of {n_blocks} {unit}"
        if used < n_blocks:
            detail += f" ({n_blocks - used} dropped: a failed, pending or NaN point)"
        counts.append({**row, "outcome": "analysed", "detail": detail})
    counts_frame = pd.DataFrame(counts, columns=COUNT_COLUMNS)
    dropped = counts_frame[(counts_frame["outcome"] == "analysed") & (counts_frame["dropped"] > 0)]
    if len(dropped):
        unit = "base samples" if method == "sobol" else "trajectories"
        notes.append(f"{len(dropped)} output(s) analysed over complete {unit} only "
                     f"(up to {int(dropped['dropped'].max())} of {n_blocks} dropped for a failed, "
                     "pending or NaN point): the indices describe where the output exists and "
                     "are biased if failures depend on the parameters")
    refused = counts_frame[counts_frame["outcome"] == "refused"]
    for _, r in refused.iterrows():
        notes.append(f"{r['output']}: not analysed: {r['detail']}")
    pending = int(np.count_nonzero(f.status_codes < 0))
    if pending:
        notes.append(f"{pending} of {n_rows} points have no result yet (a running or stopped "
                     "campaign)")
    if method == "morris":
        notes.append("Morris elementary effects are in output units per unit of the "
                     "parameter's range (the range scaled to [0, 1]; log axes in log)")
    return Sensitivity(method=method, design=settings,
                       table=pd.DataFrame(table, columns=TABLE_COLUMNS), counts=counts_frame,
                       notes=notes, conf_level=conf_level, resamples=resamples)


def _outputs(f, features, scores: bool):
    """(name, kind, values per row) of every output analysed, in the file's order."""
    names = f.feature_names
    if features is not None:
        features = list(features)
        unknown = [n for n in features if n not in names]
        if unknown:
            raise ValueError(f"no feature {', '.join(map(repr, unknown))} in {f.path}; its "
                             f"features: {', '.join(names) or 'none'}")
    chosen = [j for j, n in enumerate(names) if features is None or n in features]
    feats, sc = f.column("features"), f.column("scores")
    out = [(names[j], "feature", feats[:, j]) for j in chosen]
    if scores:
        out += [(f"score.{names[j]}", "score", sc[:, j]) for j in chosen]
        if features is None:
            out.append(("total_score", "score", f.column("total_score")))
    return out


def _rows(si, method: str, names, output: str, kind: str) -> list[dict]:
    out = []
    base = {"output": output, "kind": kind}
    if method == "sobol":
        for index in ("S1", "ST"):
            for j, p in enumerate(names):
                out.append({**base, "parameter": p, "index": index,
                            "value": float(si[index][j]), "conf": float(si[f"{index}_conf"][j])})
        if "S2" in si:
            for j in range(len(names)):
                for k in range(j + 1, len(names)):
                    out.append({**base, "parameter": f"{names[j]},{names[k]}", "index": "S2",
                                "value": float(si["S2"][j, k]),
                                "conf": float(si["S2_conf"][j, k])})
        return out
    for index in MORRIS_INDICES:
        for j, p in enumerate(names):
            conf = float(si["mu_star_conf"][j]) if index == "mu_star" else float("nan")
            out.append({**base, "parameter": p, "index": index, "value": float(si[index][j]),
                        "conf": conf})
    return out
