"""What the campaign report shows, computed from a results file: plain numbers and arrays.

``gather(path)`` reads the file once through ``sweep.store`` (with what a running or killed
campaign's journal holds beyond it, as ``results.current`` does) and returns one dict per
section: ``provenance``, ``status``, ``failures``, ``timeline``, ``response``, ``optimisation``,
``profile``, ``best``, ``families``, ``slowest``, ``sensitivity`` (a section the file has nothing
for is ``None``). The page (``launch.report_page``) only draws and formats these; what needs
NEURON (re-simulating the best set when the file stores no traces of it) is done by
``launch.report_command`` and handed to the page beside these.

Why columns and never rows: a million-row file must report in seconds, so everything is numpy
over the stored columns (statuses by ``bincount``, failures grouped with pandas over the failed
rows only, the timeline by sorting and prefix sums), and only the failed rows' messages and the
shown rows' values are turned into Python objects. What is drawn point by point is down-sampled
to at most ``points`` rows, chosen uniformly at random with a fixed ``seed``; each section says
how many it shows of how many (``shown``, ``of``).
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np

from cellsweep.sweep import store as St
from cellsweep.sweep.batch import STATUS_NAMES, TIMINGS

POINTS = 2000            # points drawn in a scatter plot, at most
TIME_BINS = 200          # bins of the timeline
TIMELINE_WORKERS = 64    # workers drawn one by one in the timeline heatmap, at most
FAILURE_GROUPS = 50      # failure messages listed, at most (the rest counted)
EXAMPLES = 5             # example ids per failure message
SLOWEST = 20             # the slowest evaluations listed
SHOWN_FEATURES = 12      # features drawn as response curves or heatmaps, at most
MATRIX_PARAMETERS = 6    # parameters of the scatter matrix, at most
GRID_AXIS = 200          # distinct values per axis up to which a 2-parameter grid is a heatmap
FAMILY_ROWS = 200        # curves drawn per family of profile curves, at most (one per row)


def gather(path, points: int = POINTS, seed: int = 0) -> dict:
    """Every section of the report of the results file at ``path`` (FormatError if it is not
    one, or if only a journal exists yet)."""
    from cellsweep.sweep.results import current, status

    path = Path(path)
    live = St.read_journal(path)[0] is not None if St.paths(path)[0].exists() else False
    f = current(path)
    info = status(path) if live else None
    rng_seed = int(seed)
    ok = f.done() & (f.status_codes == 0)
    out = {"path": str(path), "name": path.name, "kind": f.kind, "generated": time.time(),
           "points": int(points), "seed": rng_seed}
    out["provenance"] = provenance(f)
    out["status"] = status_section(f, info)
    out["failures"] = failures(f)
    out["timeline"] = timeline(f, out["provenance"]["runs"])
    out["response"] = response(f, ok, points, rng_seed) if f.kind != "profile" else None
    out["optimisation"] = optimisation(f, ok, points, rng_seed) if f.kind == "optimise" else None
    out["profile"] = profile(f)
    out["best"] = (out["optimisation"]["best"] if out["optimisation"] is not None else
                   lowest_total(f, ok) if f.kind != "profile" else None)
    out["families"] = families(f, seed=rng_seed) if f.kind != "profile" else None
    out["slowest"] = slowest(f)
    out["sensitivity"] = sensitivity(f)
    return out


# -- provenance ---------------------------------------------------------------------------------
_OWN_ATTRS = {"config", "config_signature", "versions", "mechanisms_hash", "runs", "format",
              "format_version", "kind", "complete", "n_rows", "n_committed", "status_codes",
              "included_files"}


def provenance(f) -> dict:
    """Config text, signature, versions (the MPI library under MPI), mechanism build hash,
    machines (hosts and how many evaluations each ran), runs, the campaign's own attributes."""
    import pandas as pd

    done = f.done()
    hosts = pd.Series(f.column("host")[done]).value_counts()
    try:
        included = json.loads(f.attrs.get("included_files", "") or "{}")
    except ValueError:
        included = {}
    runs = []
    for run in _json(f.attrs.get("runs"), []):
        if isinstance(run, dict) and "started" in run:
            runs.append({"started": float(run["started"]),
                         "ended": float(run.get("ended", run["started"])),
                         "evaluated": int(run.get("evaluated", 0))})
    extra = {k: v for k, v in sorted(f.attrs.items()) if k not in _OWN_ATTRS}
    return {"config": f.config_text, "signature": f.signature, "versions": f.versions,
            "mechanisms_hash": str(f.attrs.get("mechanisms_hash", "")),
            "format_version": f.format_version, "kind": f.kind,
            "hosts": {_text(h): int(c) for h, c in hosts.items()}, "runs": runs,
            "included_files": included if isinstance(included, dict) else {},
            "attributes": extra}


def _json(text, default):
    try:
        value = json.loads(text) if text else default
    except (TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- status and failures --------------------------------------------------------------------------
def status_section(f, info: dict | None) -> dict:
    """Counts per status, done/pending of the rows expected, and while a campaign runs its
    rate and ETA (``results.status``, from the journal)."""
    codes = f.status_codes
    done = codes[codes >= 0].astype(np.int64)
    counts = np.bincount(done, minlength=len(STATUS_NAMES) - 1) if done.size else []
    by_name = {STATUS_NAMES[k]: int(c) for k, c in enumerate(counts) if c}
    attempts = f.column("attempt")[codes >= 0]
    total = max(int(f.n_rows), int(done.size))
    out = {"counts": by_name, "done": int(done.size), "total": total,
           "pending": max(0, total - int(done.size)), "ok": by_name.get("ok", 0),
           "failed": int(done.size) - by_name.get("ok", 0), "complete": f.complete,
           "retried": int(np.count_nonzero(attempts > 1)), "running": False,
           "journal": info is not None, "rate_per_s": math.nan, "eta_s": math.nan,
           "in_file": f.n_committed}
    if info is not None:
        out.update(running=bool(info["running"]), rate_per_s=float(info["rate_per_s"]),
                   eta_s=float(info["eta_s"]),
                   in_file=info["in_file"] if info["in_file"] is not None else 0)
    else:
        runs = _json(f.attrs.get("runs"), [])
        if runs:
            out["rate_per_s"] = float(St.runs_rate(runs))
    return out


def failures(f) -> dict:
    """Failed evaluations grouped by status and exact message: count, first ids, attempts."""
    import pandas as pd

    codes = f.status_codes
    bad = np.flatnonzero(codes > 0)
    if not bad.size:
        return {"groups": [], "failed": 0, "more_groups": 0}
    table = pd.DataFrame({"eval_id": f.column("eval_id")[bad], "status": codes[bad],
                          "message": [_text(m) for m in f.column("message")[bad]],
                          "retried": f.column("attempt")[bad] > 1})
    by = table.groupby(["status", "message"], sort=False)
    sizes = by.agg(n=("eval_id", "size"), retried=("retried", "sum")).reset_index()
    sizes["name"] = [STATUS_NAMES[int(c)] for c in sizes["status"]]
    sizes = sizes.sort_values(["n", "name", "message"], ascending=[False, True, True])
    groups = []
    for row in sizes.head(FAILURE_GROUPS).itertuples(index=False):   # examples: the 50 only
        ids = np.sort(by.get_group((row.status, row.message))["eval_id"].to_numpy())
        groups.append({"status": row.name, "message": row.message, "count": int(row.n),
                       "examples": ids[:EXAMPLES].tolist(), "retried": int(row.retried)})
    return {"groups": groups, "failed": int(bad.size),
            "more_groups": max(0, len(sizes) - FAILURE_GROUPS)}


# -- the worker timeline ---------------------------------------------------------------------------
def timeline(f, runs: list, bins: int = TIME_BINS) -> dict | None:
    """Who evaluated when: per worker its evaluations, busy seconds, utilisation (busy over the
    campaign's span), idle gaps between its evaluations and retries; over time (``bins`` bins)
    how many workers were busy on average, overall and per worker (the first
    ``TIMELINE_WORKERS`` workers). Times in seconds since the first evaluation started."""
    done = f.done()
    start, end = f.column("t_start")[done], f.column("t_end")[done]
    worker, attempt = f.column("worker")[done].astype(np.int64), f.column("attempt")[done]
    keep = np.isfinite(start) & np.isfinite(end) & (end >= start)
    if not keep.any():
        return None
    start, end, worker, attempt = start[keep], end[keep], worker[keep], attempt[keep]
    t0 = float(start.min())
    span = float(end.max()) - t0
    s, e = start - t0, end - t0
    order = np.lexsort((s, worker))
    ws, ss, es = worker[order], s[order], e[order]
    same = ws[1:] == ws[:-1]
    gaps = np.where(same, ss[1:] - es[:-1], np.nan)        # idle time before the next one
    ids, first = np.unique(ws, return_index=True)
    last = np.append(first[1:], ws.size) - 1
    busy = np.bincount(np.searchsorted(ids, ws), weights=es - ss, minlength=ids.size)
    n = np.bincount(np.searchsorted(ids, ws), minlength=ids.size)
    gap_w = np.searchsorted(ids, ws[1:][same])
    gap_v = np.clip(gaps[same], 0.0, None)
    idle = np.bincount(gap_w, weights=gap_v, minlength=ids.size)
    longest = np.zeros(ids.size)
    if gap_v.size:
        np.maximum.at(longest, gap_w, gap_v)
    retries = np.bincount(np.searchsorted(ids, ws), weights=(attempt[order] > 1),
                          minlength=ids.size)
    duration = es - ss
    typical = float(np.median(duration)) if duration.size else 0.0
    workers = [{"worker": int(w), "evaluations": int(n[i]), "busy_s": float(busy[i]),
                "utilisation": float(busy[i] / span) if span > 0 else math.nan,
                "first_s": float(ss[first[i]]), "last_s": float(es[last[i]]),
                "idle_s": float(idle[i]), "longest_gap_s": float(longest[i]),
                "retried": int(retries[i])} for i, w in enumerate(ids.tolist())]
    edges = np.linspace(0.0, span if span > 0 else 1.0, bins + 1)
    width = edges[1] - edges[0]
    busy_bins = _busy_in_bins(ss, es, edges) / width
    shown = ids[:TIMELINE_WORKERS]
    per_worker = np.vstack([_busy_in_bins(ss[first[i]:last[i] + 1], es[first[i]:last[i] + 1],
                                          edges) / width for i in range(shown.size)])
    run_starts = sorted(float(r["started"]) - t0 for r in runs)
    return {"t0": t0, "span_s": span, "workers": workers, "n_workers": int(ids.size),
            "busy_s": float(busy.sum()),
            "utilisation": float(busy.sum() / (span * ids.size)) if span > 0 else math.nan,
            "idle_gaps_s": float(gap_v.sum()), "longest_gap_s": float(gap_v.max(initial=0.0)),
            "median_evaluation_s": typical,
            "edges_s": edges, "busy_workers": busy_bins, "shown_workers": shown,
            "per_worker": per_worker, "run_starts_s": [t for t in run_starts if t > 1e-9],
            "retried": int(np.count_nonzero(attempt > 1))}


def _busy_in_bins(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Busy seconds in each bin between ``edges``, summed over intervals [start, end): the
    integral of the number of running intervals, by prefix sums over the sorted ends."""
    def integral(t):                            # seconds of all intervals before time t
        s, e = np.sort(start), np.sort(end)
        ks, ke = np.searchsorted(s, t), np.searchsorted(e, t)
        cs, ce = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(e)])
        return (ks * t - cs[ks]) - (ke * t - ce[ke])
    return np.diff(integral(edges))


# -- the sweep's response ---------------------------------------------------------------------------
def _sample(n: int, points: int, seed: int) -> np.ndarray:
    """Indices of at most ``points`` of ``n`` rows, uniformly at random (fixed seed), sorted."""
    if n <= points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=points, replace=False))


def response(f, ok: np.ndarray, points: int, seed: int) -> dict | None:
    """Features against parameters over the ``ok`` rows: ``curves`` (one parameter: each
    feature and the total score against it), ``heatmaps`` (a grid of two parameters) or
    ``matrix`` (anything else: pairs of parameters, points coloured by total score)."""
    params, features = f.param_names, f.feature_names
    if not params:
        return None
    rows = np.flatnonzero(ok)
    P = f.column("parameters")[rows]
    F = f.column("features")[rows]
    total = f.column("total_score")[rows]
    names = features[:SHOWN_FEATURES]
    values = [F[:, j] for j in range(len(names))] + [total]
    shown_names = list(names) + ["total_score"]
    units = dict(zip(params, f.param_units)) | dict(zip(features, f.feature_units))
    base = {"parameters": list(params), "units": units, "of": int(rows.size),
            "features": shown_names, "more_features": max(0, len(features) - SHOWN_FEATURES),
            "failed": int(np.count_nonzero(f.done() & ~ok))}
    if not rows.size:
        return {**base, "kind": "none", "shown": 0}
    design = str(f.attrs.get("design", ""))
    if len(params) == 2 and f.kind != "optimise":
        xs, ys = np.unique(P[:, 0]), np.unique(P[:, 1])
        if xs.size <= GRID_AXIS and ys.size <= GRID_AXIS and xs.size * ys.size <= 4 * rows.size:
            ix, iy = np.searchsorted(xs, P[:, 0]), np.searchsorted(ys, P[:, 1])
            grids = []
            for v in values:      # the mean where several rows share a cell (e.g. repeats)
                sums = np.zeros((ys.size, xs.size))
                count = np.zeros((ys.size, xs.size))
                finite = np.isfinite(v)
                np.add.at(sums, (iy[finite], ix[finite]), v[finite])
                np.add.at(count, (iy[finite], ix[finite]), 1)
                with np.errstate(invalid="ignore"):
                    grids.append(np.where(count > 0, sums / np.maximum(count, 1), np.nan))
            return {**base, "kind": "heatmaps", "x": xs, "y": ys, "grids": grids,
                    "shown": int(rows.size), "design": design}
    pick = _sample(rows.size, points, seed)
    if len(params) == 1:
        order = pick[np.argsort(P[pick, 0], kind="stable")]
        return {**base, "kind": "curves", "x": P[order, 0],
                "values": [v[order] for v in values], "ids": f.column("eval_id")[rows][order],
                "shown": int(pick.size)}
    shown_params = list(params[:MATRIX_PARAMETERS])
    return {**base, "kind": "matrix", "matrix_parameters": shown_params,
            "more_parameters": max(0, len(params) - MATRIX_PARAMETERS),
            "columns": P[pick][:, :len(shown_params)], "colour": total[pick],
            "ids": f.column("eval_id")[rows][pick], "shown": int(pick.size)}


# -- optimisations ----------------------------------------------------------------------------------
def optimisation(f, ok: np.ndarray, points: int, seed: int) -> dict:
    """Convergence (best and mean total score per generation, best so far; the logbook when
    finished), the Pareto front of two objectives, the hall of fame and the best set's
    features and scores (the page adds the targets; stored traces when the file has them)."""
    features = f.feature_names
    rows = np.flatnonzero(ok)
    gen = f.column("generation")[rows].astype(np.int64) if "generation" in f.extra_columns \
        else np.zeros(rows.size, dtype=np.int64)
    total = f.column("total_score")[rows]
    scores = f.column("scores")[rows]
    out = {"features": list(features), "of": int(rows.size)}
    if rows.size:
        gens, where = np.unique(gen, return_inverse=True)
        best = np.full(gens.size, np.inf)
        np.minimum.at(best, where, total)
        count = np.bincount(where, minlength=gens.size)
        mean = np.bincount(where, weights=total, minlength=gens.size) / count
        sq = np.bincount(where, weights=total ** 2, minlength=gens.size) / count
        out["convergence"] = {"generation": gens, "best": best, "mean": mean,
                              "std": np.sqrt(np.maximum(sq - mean ** 2, 0.0)),
                              "best_so_far": np.minimum.accumulate(best),
                              "evaluations": count}
    opt = f.optimisation() or {}
    logbook = opt.get("logbook") or {}
    out["logbook"] = {k: np.asarray(v, dtype=float) for k, v in logbook.items()
                      if k not in ("attrs", "dataset_attrs")}
    ids = f.column("eval_id")[rows]
    out["pareto"] = pareto(features, scores, total, ids, opt, points, seed)
    hof = opt.get("hall_of_fame")
    if hof is not None and len(hof.get("eval_id", ())):
        sets = [{"eval_id": int(i), "total_score": float(np.sum(sc)),
                 "parameters": [float(x) for x in row]}
                for i, row, sc in zip(hof["eval_id"], hof["parameters"], hof["scores"])]
        out["hall_of_fame_from"] = "the optimiser's hall of fame"
    else:
        top = np.argsort(total, kind="stable")[:10]
        P = f.column("parameters")[rows]
        sets = [{"eval_id": int(ids[i]), "total_score": float(total[i]),
                 "parameters": [float(x) for x in P[i]]} for i in top]
        out["hall_of_fame_from"] = "the ok evaluations with the lowest total score so far " \
                                   "(the optimisation has not finished)"
    out["hall_of_fame"] = sets
    out["parameters"] = list(f.param_names)
    out["best"] = _best(f, sets[0]["eval_id"], out["hall_of_fame_from"]) if sets else None
    return out


def lowest_total(f, ok: np.ndarray) -> dict | None:
    """A sweep's best set: the ok row of the lowest total score (ties: the lower id)."""
    rows = np.flatnonzero(ok)
    if not rows.size:
        return None
    total = f.column("total_score")[rows]
    keep = np.isfinite(total)
    if not keep.any():
        return None
    rows, total = rows[keep], total[keep]
    ids = f.column("eval_id")[rows]
    top = np.lexsort((ids, total))[0]
    return _best(f, int(ids[top]), "the ok evaluation with the lowest total score")


def _best(f, eval_id: int, chosen_from: str = "") -> dict | None:
    """The best set's row: parameters, features and scores, and its stored traces
    (``{protocol: {recording: (t, v)}}``) if the file has them."""
    row = np.flatnonzero(f.column("eval_id") == eval_id)
    if not row.size:
        return None
    i = int(row[0])
    traces: dict = {}
    if f.trace_names():
        try:
            for (p, r), (t, v) in f.traces([i]).items():
                if np.isfinite(v).any():
                    traces.setdefault(p, {})[r] = (t, v[0])
        except St.FormatError:
            traces = {}                   # the row is in the journal only
    params = f.column("parameters")[i]
    return {"eval_id": eval_id, "from": chosen_from,
            "parameters": {n: float(v) for n, v in zip(f.param_names, params)},
            "feature_names": list(f.feature_names), "features": f.column("features")[i],
            "scores": f.column("scores")[i], "total_score": float(f.column("total_score")[i]),
            "timings": dict(zip(TIMINGS, (float(x) for x in f.column("timings")[i]))),
            "traces": traces}


def pareto(features, scores, total, ids, opt: dict, points: int, seed: int) -> dict | None:
    """The non-dominated ok evaluations on two objectives: the two when there are two, else
    the pair whose scores are least correlated (the most conflicting) over the evaluations;
    with one objective, none. Points drawn: a sample of ``points``, the whole front, and the
    final population."""
    nf = len(features)
    if nf < 2 or not ids.size:
        return None
    if nf == 2:
        a, b, why = 0, 1, "the two objectives"
    else:
        sample = scores[_sample(ids.size, 5000, seed)]
        with np.errstate(invalid="ignore", divide="ignore"):
            ranks = np.argsort(np.argsort(sample, axis=0), axis=0).astype(float)
            corr = np.corrcoef(ranks.T)
        corr = np.where(np.isfinite(corr), corr, 1.0)
        np.fill_diagonal(corr, np.inf)
        a, b = np.unravel_index(int(np.argmin(corr)), corr.shape)
        a, b = sorted((int(a), int(b)))
        why = (f"the pair of objectives whose scores are least correlated over the ok "
               f"evaluations (Spearman {corr[a, b]:.2f})")
    x, y = scores[:, a], scores[:, b]
    front = _front_2d(x, y)
    pick = _sample(ids.size, points, seed)
    final = opt.get("final_population") or {}
    final_ids = set(np.asarray(final.get("eval_id", ()), dtype=np.int64).tolist())
    in_final = np.isin(ids, list(final_ids)) if final_ids else np.zeros(ids.size, bool)
    return {"x_name": features[a], "y_name": features[b], "why": why,
            "x": x[pick], "y": y[pick], "shown": int(pick.size), "of": int(ids.size),
            "front_x": x[front], "front_y": y[front], "front_ids": ids[front],
            "final_x": x[in_final], "final_y": y[in_final]}


def _front_2d(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates (both minimised), by increasing x:
    sorted by x then y, a point is on the front when its y is below every earlier y."""
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    order = finite[np.lexsort((y[finite], x[finite]))]
    ys = y[order]
    before = np.concatenate([[np.inf], np.minimum.accumulate(ys)[:-1]])
    return order[ys < before]


# -- profiles and the slowest evaluations -----------------------------------------------------------
def profile(f) -> dict | None:
    """A profile file's table of measures and FI curve (its finished group), and every
    stored curve of the row that holds it (passive response, impedance, dendrite)."""
    group = f.profile()
    measures, fi = [], None
    if group is not None and "measures" in group:
        m = group["measures"]
        measures = [{"name": _text(n), "value": float(v), "units": _text(u),
                     "method": _text(meth)}
                    for n, v, u, meth in zip(m["names"], m["values"], m["units"],
                                             m["methods"])]
        for value in group.values():
            if isinstance(value, dict) and "amplitudes_nA" in value:
                fi = {"amplitudes_nA": np.asarray(value["amplitudes_nA"], dtype=float),
                      "rates_Hz": np.asarray(value["rates_Hz"], dtype=float)}
    curves = []
    if f.kind == "profile":
        for name, c in f.curves().items():
            held = np.flatnonzero(np.isfinite(c["values"]).any(axis=1))
            if held.size:
                curves.append({"name": name, "x": c["x"], "y": c["values"][held[0]],
                               "x_label": c["x_label"], "x_units": c["x_units"],
                               "units": c["units"]})
    if not measures and not curves and fi is None:
        return None
    return {"measures": measures, "fi": fi, "curves": curves, "finished": group is not None}


# -- families of per-row profile curves (a sweep's or optimisation's profile features) ---------------
_FI_COLUMN = re.compile(r"^fi_curve@(?P<amp>[-+0-9.eE]+)nA(?P<exp>\[[0-9a-f]+\])?$")


def fi_columns(feature_names) -> dict:
    """{experiment suffix ("" or "[digest]"): [(amplitude nA, column name), ...] by amplitude}:
    the FI curve a campaign's ``fi_curve@<a>nA`` features sample."""
    out: dict = {}
    for name in feature_names:
        m = _FI_COLUMN.match(name)
        if m:
            out.setdefault(m["exp"] or "", []).append((float(m["amp"]), name))
    return {k: sorted(v) for k, v in out.items()}


def colour_parameter(f, frame) -> str:
    """The column families are coloured by: the first parameter that varies across the rows
    with results (an evaluation id when none does)."""
    for name in f.param_names:
        values = frame[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size and values.min() != values.max():
            return name
    return "eval_id"


def axis_label(name: str, units: str) -> str:
    return f"{name} ({units})" if units and units != "1" else name


def family_data(f) -> dict:
    """What the family plots draw (``launch.plots`` as PNGs, the report interactively):
    {family: {"x", "rows" (rows × x), "ids", "x_label", "y_label", "colour" (per row),
    "colour_by", "colour_label"}} for FI (from the ``fi_curve@<a>nA`` columns) and every per-row
    curve but the passive ones (impedance, phase, dendritic profiles); rows without results are
    left out."""
    fi, curves = fi_columns(f.feature_names), f.curves()
    if not fi and not curves:
        return {}                     # no frame of a million rows for nothing
    frame = f.frame()
    ok = (frame["status"] == "ok").to_numpy()
    by = colour_parameter(f, frame[ok])
    units = dict(zip(f.param_names, f.param_units))
    label = axis_label(by, units.get(by, "")) if units.get(by) != "constant" else by
    colour = frame[by].to_numpy(dtype=float)
    ids = frame["eval_id"].to_numpy()
    out = {}
    for suffix, points in fi.items():
        rows = frame[[n for _, n in points]].to_numpy(dtype=float)
        out[f"fi{suffix}"] = {"x": np.array([a for a, _ in points]), "rows": rows[ok],
                              "ids": ids[ok], "x_label": "step amplitude (nA)",
                              "y_label": "spike rate (Hz)", "colour": colour[ok],
                              "colour_by": by, "colour_label": label}
    for name, c in sorted(curves.items()):
        if name.split(".")[0].split("@")[0] in ("passive", "fi"):
            continue
        values = np.asarray(c["values"], dtype=float)[:len(frame)]
        keep = ok[:len(values)] & np.isfinite(values).any(axis=1)
        if keep.any():
            out[name] = {"x": np.asarray(c["x"], dtype=float), "rows": values[keep],
                         "ids": ids[:len(values)][keep],
                         "x_label": axis_label(c["x_label"], c["x_units"]),
                         "y_label": axis_label(name.split(".", 1)[-1], c["units"]),
                         "colour": colour[:len(values)][keep], "colour_by": by,
                         "colour_label": label}
    return out


def families(f, rows: int = FAMILY_ROWS, seed: int = 0) -> dict | None:
    """``family_data`` with at most ``rows`` curves per family, chosen uniformly at random
    (fixed ``seed``); each family says how many it shows (``shown``) of how many (``of``)."""
    data = family_data(f)
    if not data:
        return None
    out = {}
    for name, d in data.items():
        pick = _sample(len(d["rows"]), rows, seed)
        out[name] = {**d, "rows": d["rows"][pick], "ids": d["ids"][pick],
                     "colour": d["colour"][pick], "shown": int(pick.size),
                     "of": int(len(d["rows"]))}
    return out


def slowest(f, n: int = SLOWEST) -> dict | None:
    """The ``n`` evaluations that took longest: wall time on their worker (``t_end -
    t_start``; a timeout's or crash's too), else their recorded total time."""
    done = np.flatnonzero(f.done())
    if not done.size:
        return None
    wall = f.column("t_end")[done] - f.column("t_start")[done]
    total = f.column("timings")[done][:, TIMINGS.index("total")]
    took = np.where(np.isfinite(wall), wall, total)
    took = np.where(np.isfinite(took), took, -np.inf)
    ids = f.column("eval_id")[done]
    top = np.lexsort((ids, -took))[:n]            # ties: the lower id first
    params, hosts, timings = f.column("parameters"), f.column("host"), f.column("timings")
    finite = took[np.isfinite(took)]
    return {"parameters": list(f.param_names), "timings": list(TIMINGS),
            "rows": [{"eval_id": int(ids[j]), "seconds": float(took[j]),
                      "status": STATUS_NAMES[int(f.status_codes[i])],
                      "attempt": int(f.column("attempt")[i]),
                      "worker": int(f.column("worker")[i]), "host": _text(hosts[i]),
                      "timings": [float(x) for x in timings[i]],
                      "parameters": [float(x) for x in params[i]]}
                     for i, j in zip(done[top].tolist(), top.tolist())],
            "median_s": float(np.median(finite)) if finite.size else math.nan}


def sensitivity(f) -> dict | None:
    """The indices of ``sweep.sensitivity`` when the file's design allows them (saltelli or
    morris): ``{"design", "result"}`` (a ``Sensitivity``), or ``{"design", "refused"}`` with
    why none could be computed; None for any other design."""
    from cellsweep.sweep import sensitivity as SA

    design = SA.design_of(f)
    if design is None:
        return None
    try:
        return {"design": design, "result": SA.analyse(f)}
    except ValueError as exc:                  # e.g. rows that are not whole blocks
        return {"design": design, "refused": str(exc)}
