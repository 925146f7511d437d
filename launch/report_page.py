"""The campaign report as one self-contained HTML page: plotly figures and HTML tables.

``render(data, targets, run, features)`` draws what ``sweep.report_data.gather`` computed, and
the best set's re-simulation (``launch.report_command.resimulate``) when there is one. The page needs no
network: plotly.js is inlined once in the head, styles are inline, MathJax is not used, and
each figure is a ``<div>`` with the script that fills it (plotly encodes the arrays as base64
binary, so a figure of a few thousand points costs tens of kB). Every text from the results
file (config, messages, names) is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import time

import numpy as np

SECTIONS = (("provenance", "Provenance"), ("status", "Status"), ("failures", "Failures"),
            ("timeline", "Worker timeline"), ("response", "Response"),
            ("families", "Profile curves per row"), ("optimisation", "Optimisation"),
            ("best", "Best set"), ("profile", "Profile"),
            ("sensitivity", "Sensitivity"), ("slowest", "Slowest evaluations"))
STATUS_COLOURS = {"ok": "#2ca02c", "nan": "#ff7f0e", "error": "#d62728", "crashed": "#9467bd",
                  "timeout": "#8c564b", "pending": "#c7c7c7"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#1f3b57;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;font-size:13px;opacity:.85}
nav{position:sticky;top:0;background:#eef2f6;padding:6px 24px;border-bottom:1px solid #ccd;
z-index:10;font-size:13px}nav a{margin-right:14px;color:#1f3b57;text-decoration:none}
main{padding:0 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde;border-radius:6px;margin:18px 0;padding:8px 18px}
h2{font-size:17px;margin:10px 0;color:#1f3b57}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
td,th{border:1px solid #dde;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:8px;font-size:12px;overflow:auto;
max-height:480px}
.note{font-size:12.5px;color:#555}.empty{color:#777;font-style:italic}
.kpi{display:inline-block;margin:4px 18px 8px 0}.kpi b{font-size:18px;display:block}
.pair{display:flex;gap:14px;align-items:flex-start}.pair>.fig{flex:1 1 0;min-width:0;overflow:hidden}
.pair>.side{flex:0 0 auto;max-width:46%;order:2}.miss{color:#b00020;font-weight:600}
"""


def render(data: dict, targets: dict | None = None, run: dict | None = None,
           features: dict | None = None) -> str:
    """The whole page. ``targets``: {feature: (mean, std)} of the campaign's config, if it
    could be read; ``features``: {feature: {"protocol", "recording", "window_ms", ...}} of it
    (which trace each feature measures); ``run``: the best set re-simulated (``{"traces",
    "features", "equal", "note", ...}``) or why not (``{"note"}``), when the file stores no
    traces of it."""
    import plotly.offline

    page = _Page()
    targets, features = targets or {}, features or {}
    body = [
        _provenance(page, data),
        _status(page, data),
        _failures(data),
        _timeline(page, data),
        _response(page, data),
        _families(page, data),
        _optimisation(page, data, targets, run, features),
        _best_section(page, data, targets, run, features),
        _profile(page, data),
        _sensitivity(page, data),
        _slowest(data),
    ]
    present = [(sid, title) for (sid, title), part in zip(SECTIONS, body) if part]
    st = data["status"]
    state = ("running" if st["running"] else "complete" if st["complete"] else
             "stopped (incomplete)")
    nav = "".join(f'<a href="#{sid}">{title}</a>' for sid, title in present)
    title = f"{data['name']}: {data['kind']} report"
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(data["generated"]))
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{STYLE}</style>",
        "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};"
        "</script>\n<script type=\"text/javascript\">",
        plotly.offline.get_plotlyjs(), "</script></head><body>",
        f"<header><h1>{_e(title)}</h1><p>{_e(data['path'])} &middot; {state} &middot; "
        f"{st['done']} of {st['total']} evaluations &middot; report generated {generated}"
        "</p></header>",
        f'<nav id="contents">{nav}</nav><main>', *[p for p in body if p], "</main></body></html>"])


class _Page:
    """Numbers the figures (their div ids)."""

    def __init__(self):
        self.count = 0

    def figure(self, fig, height: int = 420) -> str:
        import plotly.io as pio

        self.count += 1
        top = 90 if fig.layout.annotations else 50      # room for the subplots' titles
        fig.update_layout(height=height, template="plotly_white",
                          margin=dict(l=60, r=30, t=top, b=50))
        return pio.to_html(fig, full_html=False, include_plotlyjs=False, include_mathjax=False,
                           config=PLOT_CONFIG, div_id=f"figure-{self.count}",
                           default_width="100%")


# -- small formatting helpers ----------------------------------------------------------------------
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(value, digits: int = 4) -> str:
    if value is None:
        return ""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def _seconds(value) -> str:
    if value is None or value != value:
        return "–"
    value = float(value)
    if value < 1:
        return f"{1000 * value:.3g} ms"
    if value < 120:
        return f"{value:.3g} s"
    if value < 7200:
        return f"{value / 60:.3g} min"
    return f"{value / 3600:.3g} h"


def _utc(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(t))) + " UTC"


def _table(header, rows, numeric=()) -> str:
    """An HTML table; every cell escaped unless it is already a ``_Raw``; columns whose index
    is in ``numeric`` right-aligned."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for j, cell in enumerate(row):
            text = cell if isinstance(cell, _Raw) else _e(cell)
            cells.append(f'<td class="n">{text}</td>' if j in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw(str):
    """HTML already escaped."""


def _section(sid: str, title: str, *parts) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>' + "".join(parts) + "</section>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = min(cols, max(1, n))
    return (n + cols - 1) // cols, cols


def _label(name: str, units: dict) -> str:
    u = units.get(name, "")
    return f"{name} ({u})" if u and u not in ("constant", "1") else name


# -- sections ----------------------------------------------------------------------------------------
def _provenance(page, data) -> str:
    p = data["provenance"]
    facts = [("kind", p["kind"]), ("results-file format version", p["format_version"]),
             ("config signature", p["signature"] or "–"),
             ("mechanism build hash", p["mechanisms_hash"] or "– (no mechanisms directory)")]
    facts += [(k, v) for k, v in p["attributes"].items()]
    mpi = {k: v for k, v in p["versions"].items() if k.startswith("mpi_")}
    versions = {k: v for k, v in p["versions"].items() if not k.startswith("mpi_")}
    parts = [_table(["what", "value"], facts)]
    parts.append("<h3>Versions</h3>" + _table(["package", "version"], sorted(versions.items())))
    parts.append("<h3>MPI</h3>" + (_table(["what", "value"], sorted(mpi.items())) if mpi else
                                  '<p class="empty">not run under MPI (the file records MPI '
                                  "only when rank 0 ran under mpiexec or srun)</p>"))
    hosts = sorted(p["hosts"].items(), key=lambda kv: -kv[1])
    parts.append("<h3>Machines</h3>" + (_table(["host", "evaluations"], hosts[:50], numeric=(1,))
                                         if hosts else '<p class="empty">no evaluations</p>')
                 + (_note(f"{len(hosts) - 50} more hosts not listed") if len(hosts) > 50 else ""))
    if p["runs"]:
        rows = [(i + 1, _utc(r["started"]), _utc(r["ended"]),
                 _seconds(r["ended"] - r["started"]), r["evaluated"])
                for i, r in enumerate(p["runs"])]
        parts.append("<h3>Runs</h3>" + _table(["run", "started", "last write", "wall time",
                                               "evaluations"], rows, numeric=(0, 4)))
    parts.append(f"<details><summary>The validated config ({len(p['config'])} characters)"
                 f"</summary><pre>{_e(p['config'])}</pre></details>")
    for name, text in p["included_files"].items():
        parts.append(f"<details><summary>Included file {_e(name)}</summary>"
                     f"<pre>{_e(text)}</pre></details>")
    return _section("provenance", "Provenance", *parts)


def _status(page, data) -> str:
    import plotly.graph_objects as go

    st = data["status"]
    kpis = [("evaluations done", f"{st['done']} of {st['total']}"), ("ok", st["ok"]),
            ("failed", st["failed"]), ("pending", st["pending"]),
            ("retried (attempt 2)", st["retried"])]
    if st["rate_per_s"] == st["rate_per_s"]:
        kpis.append(("rate", f"{st['rate_per_s']:.3g} eval/s"))
    if st["running"] and st["eta_s"] == st["eta_s"]:
        kpis.append(("ETA", _seconds(st["eta_s"])))
    parts = ["".join(f'<span class="kpi"><b>{_e(v)}</b>{_e(k)}</span>' for k, v in kpis)]
    if st["journal"]:
        parts.append(_note(
            f"Read while the campaign {'runs' if st['running'] else 'is stopped'}: the HDF5 "
            f"file holds {st['in_file']} results, its journal all {st['done']} (shown here)."))
    counts = dict(st["counts"])
    if st["pending"]:
        counts["pending"] = st["pending"]
    names = list(counts)
    fig = go.Figure(go.Bar(x=names, y=[counts[n] for n in names], text=[counts[n] for n in names],
                           textposition="auto",
                           marker_color=[STATUS_COLOURS.get(n, "#888") for n in names]))
    fig.update_layout(title="evaluations by status", yaxis_title="evaluations")
    parts.append(page.figure(fig, 320))
    parts.append(_table(["status", "evaluations"], [(n, counts[n]) for n in names],
                        numeric=(1,)))
    return _section("status", "Status", *parts)


def _failures(data) -> str:
    fl = data["failures"]
    if not fl["failed"]:
        return _section("failures", "Failures", '<p class="empty">No failed evaluations.</p>')
    rows = [(g["status"], g["count"], g["retried"], g["message"] or "(no message)",
             ", ".join(map(str, g["examples"])) + (" …" if g["count"] > len(g["examples"])
                                                  else ""))
            for g in fl["groups"]]
    parts = [_note(f"{fl['failed']} failed evaluations, grouped by status and exact message "
                   f"(largest group first); example ids are the lowest of each group."),
             _table(["status", "evaluations", "retried", "message", "example ids"], rows,
                    numeric=(1, 2))]
    if fl["more_groups"]:
        parts.append(_note(f"{fl['more_groups']} more messages not listed."))
    return _section("failures", "Failures", *parts)


def _timeline(page, data) -> str:
    import plotly.graph_objects as go

    tl = data["timeline"]
    if tl is None:
        return _section("timeline", "Worker timeline",
                        '<p class="empty">No evaluation has start and end times yet.</p>')
    edges = np.asarray(tl["edges_s"])
    mid = 0.5 * (edges[:-1] + edges[1:])
    parts = [_note(
        f"{tl['n_workers']} workers over {_seconds(tl['span_s'])} (first start to last end): "
        f"{100 * tl['utilisation']:.1f} % busy on average, {_seconds(tl['idle_gaps_s'])} idle "
        f"between evaluations in all (longest gap {_seconds(tl['longest_gap_s'])}), median "
        f"evaluation {_seconds(tl['median_evaluation_s'])}, {tl['retried']} retried. Time is "
        f"binned into {len(mid)} bins of {_seconds(edges[1] - edges[0])}.")]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=mid, y=tl["busy_workers"], mode="lines", fill="tozeroy",
                             name="busy workers (mean per bin)", line_shape="hvh"))
    fig.add_trace(go.Scatter(x=[edges[0], edges[-1]], y=[tl["n_workers"]] * 2, mode="lines",
                             name="workers", line=dict(dash="dash", color="#999")))
    for t in tl["run_starts_s"]:
        fig.add_vline(x=t, line=dict(color="#d62728", dash="dot"))
    fig.update_layout(title="busy workers over time" + (" (dotted: a resumed run starts)"
                                                        if tl["run_starts_s"] else ""),
                      xaxis_title="seconds since the first evaluation started",
                      yaxis_title="workers busy")
    parts.append(page.figure(fig, 340))
    shown = list(np.asarray(tl["shown_workers"]).tolist())
    heat = go.Figure(go.Heatmap(z=100 * np.asarray(tl["per_worker"]), x=mid,
                                y=[str(w) for w in shown], zmin=0, zmax=100,
                                colorscale="Blues", colorbar=dict(title="% busy")))
    heat.update_layout(title="each worker's share of each bin spent evaluating",
                       xaxis_title="seconds since the first evaluation started",
                       yaxis_title="worker", yaxis_type="category")
    parts.append(page.figure(heat, max(260, min(900, 90 + 14 * len(shown)))))
    if tl["n_workers"] > len(shown):
        parts.append(_note(f"The heatmap shows the first {len(shown)} of {tl['n_workers']} "
                           "workers; the table below lists all."))
    rows = [(w["worker"], w["evaluations"], _seconds(w["busy_s"]),
             f"{100 * w['utilisation']:.1f} %", _seconds(w["first_s"]), _seconds(w["last_s"]),
             _seconds(w["idle_s"]), _seconds(w["longest_gap_s"]), w["retried"])
            for w in tl["workers"]]
    parts.append(_table(["worker", "evaluations", "busy", "utilisation", "first start",
                         "last end", "idle between", "longest gap", "retried"], rows,
                        numeric=tuple(range(9))))
    return _section("timeline", "Worker timeline", *parts)


def _sampled(shown: int, of: int, data) -> str:
    if shown >= of:
        return _note(f"All {of} ok evaluations are drawn.")
    return _note(f"{shown} of {of} ok evaluations are drawn, chosen uniformly at random "
                 f"(seed {data['seed']}); the numbers elsewhere on this page use all of them.")


def _response(page, data) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    r = data["response"]
    if r is None:
        return ""
    if r["kind"] == "none":
        return _section("response", "Response",
                        '<p class="empty">No ok evaluation yet.</p>')
    units = r["units"]
    parts = []
    if r["failed"]:
        parts.append(_note(f"Only ok evaluations are drawn ({r['failed']} failed ones are in "
                           "the failures table)."))
    if r["more_features"]:
        parts.append(_note(f"The first {len(r['features']) - 1} features and the total score are "
                           f"drawn; {r['more_features']} more are in the file."))
    names = r["features"]
    rows, cols = _grid(len(names))
    if r["kind"] == "curves":
        x = r["parameters"][0]
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_label(n, units) for n in names])
        for k, (name, y) in enumerate(zip(names, r["values"])):
            fig.add_trace(go.Scatter(x=r["x"], y=y, mode="lines+markers", name=name,
                                     marker=dict(size=4), showlegend=False,
                                     customdata=r["ids"], hovertemplate="id %{customdata}<br>"
                                     "%{x:.4g}, %{y:.4g}<extra></extra>"),
                          row=k // cols + 1, col=k % cols + 1)
            fig.update_xaxes(title_text=_label(x, units), row=k // cols + 1, col=k % cols + 1)
        fig.update_layout(title=f"each feature against {x}")
        parts += [_sampled(r["shown"], r["of"], data), page.figure(fig, 260 * rows + 80)]
    elif r["kind"] == "heatmaps":
        px, py = r["parameters"]
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_label(n, units) for n in names],
                            horizontal_spacing=0.14, vertical_spacing=0.12)
        for k, (name, z) in enumerate(zip(names, r["grids"])):
            row, col = k // cols + 1, k % cols + 1
            axes = fig.get_subplot(row, col)       # each colour bar beside its own panel
            x0, x1 = axes.xaxis.domain
            y0, y1 = axes.yaxis.domain
            fig.add_trace(go.Heatmap(z=z, x=r["x"], y=r["y"], colorscale="Viridis",
                                     showscale=True, name=name, colorbar=dict(
                                         len=y1 - y0, y=(y0 + y1) / 2, x=x1 + 0.005,
                                         thickness=10, tickfont=dict(size=9)),
                                     hovertemplate=f"{px} %{{x:.4g}}<br>{py} %{{y:.4g}}<br>"
                                     f"{name} %{{z:.4g}}<extra></extra>"), row=row, col=col)
            fig.update_xaxes(title_text=_label(px, units), row=row, col=col)
            fig.update_yaxes(title_text=_label(py, units), row=row, col=col)
        fig.update_layout(title=f"each feature over the {len(r['x'])} × {len(r['y'])} grid")
        parts += [_note(f"All {r['of']} ok evaluations; a cell holds the mean of its rows, "
                        "blank where no ok row has a value."), page.figure(fig, 300 * rows + 80)]
    else:
        ps = r["matrix_parameters"]
        n = len(ps)
        fig = make_subplots(rows=max(1, n - 1), cols=max(1, n - 1),
                            horizontal_spacing=0.03, vertical_spacing=0.03)
        colour = np.asarray(r["colour"])
        cmin, cmax = _colour_range(colour)
        first = True
        for i in range(1, n):
            for j in range(i):
                fig.add_trace(go.Scatter(
                    x=r["columns"][:, j], y=r["columns"][:, i], mode="markers",
                    showlegend=False, customdata=r["ids"],
                    hovertemplate=f"id %{{customdata}}<br>{ps[j]} %{{x:.4g}}<br>{ps[i]} "
                    "%{y:.4g}<extra></extra>",
                    marker=dict(size=4, color=colour, colorscale="Viridis_r", cmin=cmin,
                                cmax=cmax, showscale=first,
                                colorbar=dict(title="total score") if first else None)),
                    row=i, col=j + 1)
                first = False
                if i == n - 1:
                    fig.update_xaxes(title_text=_label(ps[j], units), row=i, col=j + 1)
                if j == 0:
                    fig.update_yaxes(title_text=_label(ps[i], units), row=i, col=j + 1)
        if n == 1:
            fig.add_trace(go.Scatter(x=r["columns"][:, 0], y=colour, mode="markers"))
        fig.update_layout(title="parameters in pairs, coloured by total score (lower is better)")
        parts.append(_sampled(r["shown"], r["of"], data))
        if r["more_parameters"]:
            parts.append(_note(f"The first {n} parameters are drawn; {r['more_parameters']} "
                               "more are in the file."))
        parts.append(_note(f"Colour scale from {_num(cmin)} to {_num(cmax)} (the 2nd and 98th "
                           "percentiles of the total score drawn)."))
        parts.append(page.figure(fig, min(1100, 230 * max(1, n - 1) + 120)))
    return _section("response", "Response", *parts)


def _axis_type(values) -> str:
    """"log" for positive values spread over more than two decades, else "linear"."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() > 0 and finite.max() > 100 * finite.min():
        return "log"
    return "linear"


def _colour_range(values) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [2, 98])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _families(page, data) -> str:
    """Each family of per-row profile curves (FI, impedance, dendritic profiles): one line per
    drawn row, coloured by the parameter ``sweep.report_data.colour_parameter`` picks."""
    import plotly.colors
    import plotly.graph_objects as go

    fam = data.get("families")
    if not fam:
        return ""
    parts = []
    for name, d in fam.items():
        colour = np.asarray(d["colour"], dtype=float)
        finite = colour[np.isfinite(colour)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        span = hi - lo or 1.0
        shades = plotly.colors.sample_colorscale(
            "Viridis", [float(np.clip((c - lo) / span, 0, 1)) if c == c else 0.0
                        for c in colour]) if colour.size else []
        fi = name.startswith("fi")
        fig = go.Figure()
        for y, c, shade, i in zip(d["rows"], colour, shades, d["ids"]):
            fig.add_trace(go.Scatter(
                x=d["x"], y=y, mode="lines+markers" if fi else "lines", name=f"id {int(i)}",
                line=dict(color=shade, width=1.3), marker=dict(size=5, color=shade),
                showlegend=False, hovertemplate=f"id {int(i)}, {_e(d['colour_by'])} "
                f"{_num(c)}<br>%{{x:.4g}}, %{{y:.4g}}<extra></extra>"))
        fig.add_trace(go.Scatter(          # the colour bar (no data of its own)
            x=[None], y=[None], mode="markers", name="colour scale", showlegend=False,
            hoverinfo="skip", marker=dict(color=[lo], cmin=lo, cmax=hi if hi > lo else lo + 1,
                                          colorscale="Viridis", showscale=True,
                                          colorbar=dict(title=d["colour_label"]))))
        fig.update_layout(title=f"{name}: one curve per row, coloured by {d['colour_label']}",
                          xaxis_title=d["x_label"], yaxis_title=d["y_label"])
        drawn = (f"All {d['of']} ok rows that hold it are drawn." if d["shown"] >= d["of"] else
                 f"{d['shown']} of {d['of']} ok rows that hold it are drawn, chosen uniformly "
                 f"at random (seed {data['seed']}).")
        parts += [f"<h3>{_e(name)}</h3>", _note(drawn), page.figure(fig, 380)]
    return _section("families", "Profile curves per row", *parts)


def _best_section(page, data, targets, run, features) -> str:
    """A sweep's best set (an optimisation's is in its own section)."""
    best = data.get("best")
    if best is None or data.get("optimisation") is not None:
        return ""
    return _section("best", "Best set", _note(f"From {best['from']}."),
                    _best(page, best, targets, run, features))


def _optimisation(page, data, targets: dict, run=None, features=None) -> str:
    import plotly.graph_objects as go

    o = data["optimisation"]
    if o is None:
        return ""
    parts = []
    conv = o.get("convergence")
    if conv is not None:
        g = np.asarray(conv["generation"])
        mean, std = np.asarray(conv["mean"]), np.asarray(conv["std"])
        floor = np.asarray(conv["best"])       # no generation scores below its best
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=np.concatenate([g, g[::-1]]),
                                 y=np.concatenate([mean + std,
                                                   np.maximum(mean - std, floor)[::-1]]),
                                 fill="toself", line=dict(width=0), name="mean ± std (down to the best)",
                                 fillcolor="rgba(31,119,180,0.15)", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=g, y=mean, mode="lines", name="mean"))
        fig.add_trace(go.Scatter(x=g, y=conv["best"], mode="lines+markers", name="best"))
        fig.add_trace(go.Scatter(x=g, y=conv["best_so_far"], mode="lines", name="best so far",
                                 line=dict(dash="dash", color="black")))
        fig.update_layout(title="total score per generation (ok evaluations)",
                          xaxis_title="generation", yaxis_title="total score", yaxis_type="log")
        parts.append(page.figure(fig, 380))
    pf = o.get("pareto")
    if pf is not None:
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=pf["x"], y=pf["y"], mode="markers", name="evaluations",
                                 marker=dict(size=4, color="#bbb")))
        if len(pf["final_x"]):
            fig.add_trace(go.Scatter(x=pf["final_x"], y=pf["final_y"], mode="markers",
                                     name="final population",
                                     marker=dict(size=7, symbol="diamond-open", color="#1f77b4")))
        fig.add_trace(go.Scatter(x=pf["front_x"], y=pf["front_y"], mode="lines+markers",
                                 name="non-dominated", line_shape="hv",
                                 customdata=pf["front_ids"],
                                 hovertemplate="id %{customdata}<br>%{x:.4g}, %{y:.4g}"
                                 "<extra></extra>", marker=dict(size=6, color="#d62728")))
        fig.update_layout(title="Pareto front of two objectives (scores, lower is better)",
                          xaxis_title=f"score of {pf['x_name']}",
                          yaxis_title=f"score of {pf['y_name']}",
                          xaxis_type=_axis_type(pf["x"]), yaxis_type=_axis_type(pf["y"]))
        parts += [_note(f"Objectives: {pf['why']}. The front is the non-dominated set of all "
                        f"{pf['of']} ok evaluations ({len(pf['front_x'])} points)."),
                  _sampled(pf["shown"], pf["of"], data), page.figure(fig, 440)]
    names = o["parameters"]
    hof = o["hall_of_fame"]
    if hof:
        rows = [(k + 1, s["eval_id"], _num(s["total_score"]), *[_num(v) for v in s["parameters"]])
                for k, s in enumerate(hof)]
        parts.append("<h3>Hall of fame</h3>" + _note(f"From {o['hall_of_fame_from']}.")
                     + _table(["rank", "id", "total score", *names], rows,
                              numeric=tuple(range(3 + len(names)))))
    best = o.get("best")
    if best is not None:
        parts.append(_best(page, best, targets, run, features or {}))
    return _section("optimisation", "Optimisation", *parts)


def _best(page, best, targets, run, places) -> str:
    import plotly.graph_objects as go

    features = best["feature_names"]
    rows, z = [], []
    for name, value, score in zip(features, best["features"], best["scores"]):
        mean, std = targets.get(name, (math.nan, math.nan))
        z.append((value - mean) / std if std == std and std else math.nan)
        rows.append((name, _num(value, 5), _num(mean, 5), _num(std, 4), _num(score, 3)))
    parts = [f"<h3>The best set (id {best['eval_id']}, total score "
             f"{_num(best['total_score'])}) against its targets</h3>"]
    if not targets:
        parts.append(_note("The targets could not be read (the campaign's config or a file it "
                           "names was not found beside the results file); the scores are the "
                           "distances in standard deviations."))
    parts.append(_table(["feature", "value", "target mean", "target std", "score"], rows,
                        numeric=(1, 2, 3, 4)))
    if targets and np.isfinite(z).any():
        fig = go.Figure()
        fig.add_hrect(y0=-1, y1=1, fillcolor="rgba(44,160,44,0.12)", line_width=0)
        fig.add_trace(go.Scatter(x=features, y=z, mode="markers", name="best set",
                                 marker=dict(size=9, color="#d62728")))
        fig.update_layout(title="the best set's features in target standard deviations "
                                "(band: within one)", yaxis_title="(value − mean) / std")
        parts.append(page.figure(fig, 360))
    if best["traces"]:
        parts.append(_trace_panels(page, best["traces"], dict(zip(features, best["features"])),
                                   targets, places, "stored"))
    elif run is not None and run.get("traces"):
        parts.append(f'<p class="note" id="resimulation">{_e(run["note"])}.</p>')
        if not run["equal"]:
            parts.append('<p class="miss">The re-simulated features differ from the stored '
                         "ones; the panels show the re-simulation's values.</p>")
        parts.append(_trace_panels(page, run["traces"], dict(zip(features, run["features"])),
                                   targets, places, "re-simulated"))
    else:
        why = run["note"] if run is not None else "not re-simulated"
        parts.append(f'<p class="note" id="resimulation">The file stores no traces of this '
                     f"evaluation (run.traces was not set) and they are {_e(why)}.</p>")
    return "".join(parts)


def _trace_panels(page, traces, values, targets, places, how: str) -> str:
    """One figure per protocol (its recordings stacked), the eFEL windows of its features
    shaded; beside it the features measured on it: value, target mean ± std, distance."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out = []
    for protocol, recordings in traces.items():
        names = list(recordings)
        fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True,
                            subplot_titles=[f"{protocol} / {r}" for r in names])
        for k, rec in enumerate(names):
            t, v = recordings[rec]
            fig.add_trace(go.Scatter(x=t, y=v, mode="lines", name=f"{protocol} / {rec}",
                                     showlegend=False, line=dict(width=1.2)), row=k + 1, col=1)
        fig.update_xaxes(title_text="time (ms)", row=len(names), col=1)
        on = [n for n, p in places.items() if p.get("protocol") == protocol]
        for start, end in sorted({tuple(places[n]["window_ms"]) for n in on
                                  if places[n].get("window_ms")}):
            fig.add_vrect(x0=start, x1=end, fillcolor="rgba(255,127,14,0.08)", line_width=0,
                          row="all", col=1)
        fig.update_layout(title=f"{protocol}: the best set's {how} traces"
                          + (" (shaded: the features' windows)" if on else ""))
        rows = []
        for n in on:
            value = values.get(n, math.nan)
            mean, std = targets.get(n, (math.nan, math.nan))
            dist = abs(value - mean) / std if std == std and std else math.nan
            verdict = ("missing" if value != value else "–" if dist != dist else
                       "within 1 std" if dist <= 1 else f"{dist:.3g} std off")
            miss = value != value or (dist == dist and dist > 2)
            rows.append((n, _num(value, 5), f"{_num(mean, 5)} ± {_num(std, 3)}",
                         _Raw(f'<span class="miss">{_e(verdict)}</span>') if miss else verdict))
        side = (_table(["feature", "value", "target", "distance"], rows, numeric=(1,)) if rows
                else '<p class="empty">no feature measures this protocol</p>')
        # the table first: the figure's script sizes it to what is left when it runs
        out.append(f'<div class="pair"><div class="side">{side}</div><div class="fig">'
                   f'{page.figure(fig, 200 * len(names) + 110)}</div></div>')
    return "".join(out)


def _profile(page, data) -> str:
    import plotly.graph_objects as go

    pr = data["profile"]
    if pr is None:
        return ""
    parts = []
    if not pr["finished"]:
        parts.append(_note("The profile has not finished: its table of measures comes when "
                           "every experiment is in."))
    if pr["measures"]:
        parts.append(_table(["measure", "value", "unit", "method"],
                            [(m["name"], _num(m["value"], 5), m["units"], m["method"])
                             for m in pr["measures"]], numeric=(1,)))
    if pr["fi"] is not None:
        fig = go.Figure(go.Scatter(x=pr["fi"]["amplitudes_nA"], y=pr["fi"]["rates_Hz"],
                                   mode="lines+markers", name="FI"))
        fig.update_layout(title="FI curve", xaxis_title="step amplitude (nA)",
                          yaxis_title="firing rate (Hz)")
        parts.append(page.figure(fig, 360))
    panels: dict = {}       # an experiment's curves of one unit share a panel (v and its fits)
    for c in pr["curves"]:
        key = (c["name"].split(".")[0], c["units"], c["x_label"], c["x_units"])
        panels.setdefault(key, []).append(c)
    for (experiment, units, x_label, x_units), curves in panels.items():
        fig = go.Figure([go.Scatter(x=c["x"], y=c["y"], mode="lines", name=c["name"])
                         for c in curves])
        fig.update_layout(title=", ".join(c["name"] for c in curves),
                          xaxis_title=_label(x_label, {x_label: x_units}), yaxis_title=units)
        parts.append(page.figure(fig, 340))
    return _section("profile", "Profile", *parts)


MAX_SENSITIVITY_PANELS = 12


def _sensitivity(page, data) -> str:
    """Sobol' S1/ST (or Morris mu*/sigma) bars with their bootstrap intervals per output, a
    outputs x parameters heatmap of the total index, the counts of valid points per output."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    sa = data.get("sensitivity")
    if sa is None:
        return ""
    if "refused" in sa:
        return _section("sensitivity", "Sensitivity",
                        _note(f"A {sa['design']} design, but no indices: {sa['refused']}"))
    res = sa["result"]
    table, counts, params = res.table, res.counts, res.parameters
    sobol = res.method == "sobol"
    first, second = ("S1", "ST") if sobol else ("mu_star", "sigma")
    labels = {"S1": "S1 (first order)", "ST": "ST (total)", "mu_star": "μ*", "sigma": "σ"}
    method = "Sobol' indices (SALib)" if sobol else "Morris screening (SALib)"
    parts = [_note(f"{method} of the {sa['design']} design, {res.conf_level:.0%} bootstrap "
                   f"intervals ({res.resamples} resamples).")]
    parts += [_note(n) for n in res.notes]
    outputs = res.outputs
    if outputs:
        shown = outputs[:MAX_SENSITIVITY_PANELS]
        heat_index = "ST" if sobol else "mu_star"
        z = []
        for name in outputs:
            part = table[(table["output"] == name) & (table["index"] == heat_index)]
            values = part.set_index("parameter").reindex(params)["value"].to_numpy(float)
            if not sobol:            # mu* in output units: scaled by the output's largest
                top = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
                values = values / top if top else values
            z.append(values)
        # outputs as rows: their names are long and there are usually more of them
        heat = go.Figure(go.Heatmap(z=np.array(z), x=params, y=outputs, colorscale="Viridis",
                                    zmin=0, zmax=1, colorbar=dict(
                                        title="ST" if sobol else "μ* / max")))
        heat.update_layout(title=("total index ST" if sobol else "μ*, scaled per output") +
                           ": outputs × parameters", xaxis_tickangle=-30,
                           yaxis=dict(autorange="reversed", automargin=True))
        parts.append(page.figure(heat, max(320, 140 + 24 * len(outputs))))
        rows, cols = _grid(len(shown))
        fig = make_subplots(rows=rows, cols=cols, subplot_titles=shown)
        for k, name in enumerate(shown):
            for index, colour in ((first, "#1f77b4"), (second, "#ff7f0e")):
                part = table[(table["output"] == name) & (table["index"] == index)]
                part = part.set_index("parameter").reindex(params)
                conf = part["conf"].to_numpy(float)
                fig.add_trace(go.Bar(
                    x=params, y=part["value"].to_numpy(float), name=labels[index],
                    marker_color=colour, showlegend=k == 0, legendgroup=index,
                    error_y=None if np.isnan(conf).all() else dict(
                        type="data", array=np.nan_to_num(conf), visible=True)),
                    row=k // cols + 1, col=k % cols + 1)
        fig.update_layout(barmode="group", title=f"{labels[first]} and {labels[second]} per "
                                                 "output, with bootstrap intervals")
        parts.append(page.figure(fig, 280 * rows + 100))
        if len(outputs) > len(shown):
            parts.append(_note(f"Bars for the first {len(shown)} of {len(outputs)} outputs; "
                               "the heatmap has all."))
    rows = [(r["output"], r["outcome"], r["points"], r["valid"], r["used"], r["dropped"],
             r["detail"]) for r in counts.to_dict("records")]
    parts.append("<h3>Points per output</h3>" + _table(
        ["output", "outcome", "points", "valid points", "blocks used", "blocks dropped",
         "detail"], rows, numeric=(2, 3, 4, 5)))
    return _section("sensitivity", "Sensitivity", *parts)


def _slowest(data) -> str:
    sl = data["slowest"]
    if sl is None:
        return ""
    names, timing_names = sl["parameters"], sl["timings"]
    rows = [(r["eval_id"], _seconds(r["seconds"]), r["status"], r["attempt"], r["worker"],
             r["host"], *[_seconds(t) for t in r["timings"]], *[_num(v) for v in r["parameters"]])
            for r in sl["rows"]]
    header = ["id", "wall time", "status", "attempt", "worker", "host",
              *[f"{t} time" for t in timing_names], *names]
    return _section("slowest", "Slowest evaluations",
                    _note(f"The {len(rows)} evaluations that took longest on their worker "
                          f"(median of all: {_seconds(sl['median_s'])})."),
                    _table(header, rows, numeric=(0, 1, 3, 4, *range(6, len(header)))))
