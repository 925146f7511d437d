"""Shape plots: a cell's segments coloured by values (``cells.shape_values.ShapeValues``).

PNG: matplotlib, one ``LineCollection`` of every segment's polyline projected on a plane
(``xy``, ``xz`` or ``yz``), line widths from the segments' diameters at the plot's scale, a
colour bar named with the variable and its units. HTML: plotly, rotatable 3-D lines (a
stylised cell's flat layout too), a handful of traces (one per class of diameter, plus one for
the segments without a value) whose points carry their segment's value as colour, and a hover
text with section, segment index and x, path distance and value. The page embeds plotly.js
(works offline, no request leaves it). Both are written under a temporary name, then renamed.

With several times (``ShapeValues.frames``) the page is an animation: the geometry once, one
plotly frame per time holding only the traces' colour arrays and hover texts, a slider labelled
with the time and play/pause buttons; the PNG is a grid of panels, one per time. Both share one
colour scale, the range over every time.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

PROJECTIONS = {"xy": (0, 1), "xz": (0, 2), "yz": (1, 2)}
SUFFIXES = (".png", ".html")
COLOURMAP = "viridis"
MISSING = "#c8c8c8"                       # segments without a value
MIN_WIDTH_PT = 1.0                        # thinner lines show no colour
# HTML line widths (px) by segment diameter (µm): a few classes, one trace each
WIDTH_CLASSES = ((1.0, 2.0), (2.5, 4.0), (6.0, 7.0), (float("inf"), 12.0))
MAX_FRAMES = 400                          # an animated page's times
MAX_PANELS = 16                           # a PNG's small multiples
FRAME_MS = 100                            # the play button's pace
# pause interrupts the playing animation, whose promise plotly.js then rejects without a
# reason and nobody awaits: that is the pause working, not an error for the console
QUIET_PAUSE = ("window.addEventListener('unhandledrejection', "
               "e => { if (e.reason === undefined) e.preventDefault(); });")


def colour_range(values: np.ndarray) -> tuple[float, float]:
    """Colour limits: the finite values' range (widened when they are all equal)."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _projected(sv, a: int, b: int):
    """The segments' lines in the plane of axes ``a``, ``b``, their extent and a margin."""
    lines = [p[:, [a, b]] for p in sv.shape.points]
    everything = np.vstack(lines)
    low, high = everything.min(axis=0), everything.max(axis=0)
    span = np.maximum(high - low, 1.0)
    return lines, low, high, span, 0.05 * span.max()


def png_figure(sv, projection: str = "xy"):
    """``(figure, collection)``: the LineCollection holds one line per segment, its colour
    array the segments' values (masked where NaN), its widths the diameters to scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    a, b = PROJECTIONS[projection]
    lines, low, high, span, margin = _projected(sv, a, b)
    ratio = (span[1] + 2 * margin) / (span[0] + 2 * margin)
    width, height = (7.0 / ratio + 1.8, 7.0) if ratio >= 1 else (12.0, 12.0 * ratio + 1.5)
    fig, ax = plt.subplots(figsize=(float(np.clip(width, 5.0, 14.0)),
                                    float(np.clip(height, 3.0, 9.0))), layout="constrained")
    ax.set_xlim(low[0] - margin, high[0] + margin)
    ax.set_ylim(low[1] - margin, high[1] + margin)
    ax.set_aspect("equal")
    cmap = matplotlib.colormaps[COLOURMAP].with_extremes(bad=MISSING)
    lo, hi = colour_range(sv.values)
    collection = LineCollection(lines, array=np.ma.masked_invalid(sv.values), cmap=cmap,
                                norm=Normalize(lo, hi), capstyle="butt")
    ax.add_collection(collection)
    bar = fig.colorbar(collection, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label(sv.label)
    names = "xyz"
    ax.set_xlabel(f"{names[a]} (µm)")
    ax.set_ylabel(f"{names[b]} (µm)")
    title = sv.title + ("  [stylised: flat layout]" if sv.shape.flat else "")
    ax.set_title(textwrap.fill(title, int(fig.get_figwidth() * 9)), fontsize=10)
    fig.canvas.draw()                             # the layout settles: the axes' real size
    box = ax.get_window_extent()
    points_per_um = min(box.width / (span[0] + 2 * margin),
                        box.height / (span[1] + 2 * margin)) * 72.0 / fig.dpi
    collection.set_linewidths(np.maximum(sv.shape.diam * points_per_um, MIN_WIDTH_PT))
    return fig, collection


def shared_range(sv, lo: float, hi: float) -> str:
    """The title's statement of the colour scale the times share."""
    return f"; colours {lo:.4g} to {hi:.4g} {sv.units}, the range over all {len(sv.times)} times"


def panels_figure(sv, projection: str = "xy"):
    """Small multiples of ``sv.frames``: ``(figure, collections)``, one panel per time, one
    colour bar for them all (the range over every time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    a, b = PROJECTIONS[projection]
    lines, low, high, span, margin = _projected(sv, a, b)
    n = len(sv.times)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    ratio = (span[1] + 2 * margin) / (span[0] + 2 * margin)
    panel = 3.2
    fig, axes = plt.subplots(rows, cols, squeeze=False, layout="constrained",
                             figsize=(cols * panel / max(ratio, 0.5) ** 0.5 + 1.5,
                                      rows * panel * min(max(ratio, 0.5), 2.0) ** 0.5 + 0.8))
    cmap = matplotlib.colormaps[COLOURMAP].with_extremes(bad=MISSING)
    norm = Normalize(*colour_range(sv.frames))
    collections = []
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_axis_off()
            continue
        ax.set_xlim(low[0] - margin, high[0] + margin)
        ax.set_ylim(low[1] - margin, high[1] + margin)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        collection = LineCollection(lines, array=np.ma.masked_invalid(sv.frames[k]), cmap=cmap,
                                    norm=norm, capstyle="butt")
        ax.add_collection(collection)
        ax.set_title(f"{sv.times[k]:g} ms", fontsize=9)
        collections.append(collection)
    bar = fig.colorbar(collections[0], ax=axes, fraction=0.04, pad=0.02)
    bar.set_label(sv.label)
    fig.suptitle(textwrap.fill(sv.title + shared_range(sv, norm.vmin, norm.vmax)
                               + f"; the {'xyz'[a]}{'xyz'[b]} plane",
                               int(fig.get_figwidth() * 9)), fontsize=10)
    fig.canvas.draw()
    box = axes.flat[0].get_window_extent()
    points_per_um = min(box.width / (span[0] + 2 * margin),
                        box.height / (span[1] + 2 * margin)) * 72.0 / fig.dpi
    for collection in collections:
        collection.set_linewidths(np.maximum(sv.shape.diam * points_per_um, 0.5))
    return fig, collections


def html_figure(sv):
    """The plotly figure: a trace per diameter class (and one grey trace for segments without
    a value); every point's ``customdata`` is its segment's row, its colour that row's value.
    With several times, one frame per time restyles the coloured traces' colours and texts."""
    import plotly.graph_objects as go

    shape, values = sv.shape, sv.values
    animated = sv.frames is not None
    lo, hi = colour_range(sv.frames if animated else values)
    has = np.isfinite(sv.frames).any(axis=0) if animated else np.isfinite(values)
    classes = np.searchsorted([limit for limit, _ in WIDTH_CLASSES], shape.diam)
    traces, coloured = [], []
    for k, (_, width) in enumerate(WIDTH_CLASSES):
        rows = np.flatnonzero((classes == k) & has)
        if rows.size:
            coloured.append(rows)
            traces.append(_trace(go, sv, rows, width, coloured=True))
    if (~has).any():
        traces.append(_trace(go, sv, np.flatnonzero(~has), 2.0, coloured=False))
    fig = go.Figure(traces)
    fig.update_layout(
        title=sv.title + (shared_range(sv, lo, hi) if animated else ""), showlegend=False, margin=dict(l=0, r=0, t=40, b=0),
        coloraxis=dict(colorscale=COLOURMAP.capitalize(), cmin=lo, cmax=hi,
                       colorbar=dict(title=dict(text=sv.label))),
        scene=dict(aspectmode="data", xaxis_title="x (µm)", yaxis_title="y (µm)",
                   zaxis_title="z (µm)"))
    if animated:
        _animate(go, fig, sv, coloured)
    return fig


def _animate(go, fig, sv, coloured):
    """One frame per time (only the coloured traces' colour arrays: the hover reads its value
    from the colour), a slider and play/pause buttons; the first frame is what the traces
    show."""
    names = [f"{t:g}" for t in sv.times]
    frames = []
    for k, name in enumerate(names):
        data = []
        for rows in coloured:
            colours = _points(sv, rows, sv.frames[k])[3]
            data.append(dict(type="scatter3d", line=dict(color=colours)))
        frames.append(go.Frame(name=name, data=data, traces=list(range(len(coloured)))))
    fig.frames = frames
    still = dict(mode="immediate", frame=dict(duration=0, redraw=True),
                 transition=dict(duration=0))
    fig.update_layout(
        sliders=[dict(active=0, pad=dict(t=10), len=0.85, x=0.12,
                      currentvalue=dict(prefix="t = ", suffix=" ms"),
                      steps=[dict(method="animate", label=name, args=[[name], still])
                             for name in names])],
        updatemenus=[dict(type="buttons", direction="left", x=0.1, y=0, xanchor="right",
                          yanchor="top", pad=dict(t=30, r=10), buttons=[
                              dict(label="play", method="animate",
                                   args=[None, dict(mode="immediate", fromcurrent=True,
                                                    frame=dict(duration=FRAME_MS, redraw=True),
                                                    transition=dict(duration=0))]),
                              dict(label="pause", method="animate",
                                   args=[[None], still])])])


def _trace(go, sv, rows, width: float, coloured: bool):
    animated = coloured and sv.frames is not None
    xs, ys, zs, colours, text, custom = _points(sv, rows, sv.values, value=not animated)
    line = dict(width=width)
    if coloured:
        line.update(color=colours, coloraxis="coloraxis")
    else:
        line.update(color=MISSING)
    # animated: the text is the segment's, the value its point's colour in the frame shown
    template = (f"%{{text}}<br>{sv.name} = %{{line.color:.5g}} {sv.units}" if animated
                else "%{text}") + "<extra></extra>"
    return go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=line, customdata=custom,
                        text=text, hovertemplate=template, connectgaps=False)


def _points(sv, rows, values, value: bool = True):
    """``(x, y, z, colours, texts, rows)`` of the points of segments ``rows`` (a gap point
    after each), coloured by ``values``; the texts end with the value when ``value``."""
    shape = sv.shape
    xs, ys, zs, colours, custom, text = [], [], [], [], [], []
    for i in rows:
        pts = shape.points[i]
        v = values[i]
        label = (f"{shape.section[i]} segment {shape.index[i]} (x={shape.x[i]:.4g})<br>"
                 f"{shape.distance[i]:.1f} µm from the soma"
                 + ("" if not value else f"<br>{sv.name} = {v:.5g} {sv.units}"
                    if np.isfinite(v) else f"<br>{sv.name}: none here"))
        n = len(pts)
        xs += pts[:, 0].tolist() + [None]
        ys += pts[:, 1].tolist() + [None]
        zs += pts[:, 2].tolist() + [None]
        colours += [float(v)] * (n + 1)          # the gap point repeats the value
        custom += [int(i)] * n + [None]
        text += [label] * n + [""]
    return xs, ys, zs, colours, text, custom


def write(sv, path: Path, projection: str = "xy") -> Path:
    """The PNG or the page (by the suffix), written whole or not at all."""
    from cellsweep.launch.files import save_figure, write_atomically

    path = Path(path)
    if path.suffix.lower() == ".png":
        fig, _ = (panels_figure if sv.frames is not None else png_figure)(sv, projection)
        return save_figure(fig, path)
    fig = html_figure(sv)
    page = fig.to_html(include_plotlyjs=True, full_html=True,
                       post_script=QUIET_PAUSE if fig.frames else None,
                       auto_play=False)           # the page opens at the first time
    return write_atomically(path, page)
