"""Shape plots: a cell's segments coloured by values (``cells.shape_values.ShapeValues``).

PNG: matplotlib, one ``LineCollection`` of every segment's polyline projected on a plane
(``xy``, ``xz`` or ``yz``), line widths from the segments' diameters at the plot's scale, a
colour bar named with the variable and its units. HTML: plotly, rotatable 3-D lines (a
stylised cell's flat layout too), a handful of traces (one per class of diameter, plus one for
the segments without a value) whose points carry their segment's value as colour, and a hover
text with section, segment index and x, path distance and value. The page embeds plotly.js
(works offline, no request leaves it). Both are written under a temporary name, then renamed.
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


def png_figure(sv, projection: str = "xy"):
    """``(figure, collection)``: the LineCollection holds one line per segment, its colour
    array the segments' values (masked where NaN), its widths the diameters to scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    a, b = PROJECTIONS[projection]
    lines = [p[:, [a, b]] for p in sv.shape.points]
    everything = np.vstack(lines)
    low, high = everything.min(axis=0), everything.max(axis=0)
    span = np.maximum(high - low, 1.0)
    margin = 0.05 * span.max()
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


def html_figure(sv):
    """The plotly figure: a trace per diameter class (and one grey trace for segments without
    a value); every point's ``customdata`` is its segment's row, its colour that row's value."""
    import plotly.graph_objects as go

    shape, values = sv.shape, sv.values
    lo, hi = colour_range(values)
    has = np.isfinite(values)
    classes = np.searchsorted([limit for limit, _ in WIDTH_CLASSES], shape.diam)
    traces = []
    for k, (_, width) in enumerate(WIDTH_CLASSES):
        rows = np.flatnonzero((classes == k) & has)
        if rows.size:
            traces.append(_trace(go, sv, rows, width, coloured=True))
    if (~has).any():
        traces.append(_trace(go, sv, np.flatnonzero(~has), 2.0, coloured=False))
    fig = go.Figure(traces)
    fig.update_layout(
        title=sv.title, showlegend=False, margin=dict(l=0, r=0, t=40, b=0),
        coloraxis=dict(colorscale=COLOURMAP.capitalize(), cmin=lo, cmax=hi,
                       colorbar=dict(title=dict(text=sv.label))),
        scene=dict(aspectmode="data", xaxis_title="x (µm)", yaxis_title="y (µm)",
                   zaxis_title="z (µm)"))
    return fig


def _trace(go, sv, rows, width: float, coloured: bool):
    shape, values = sv.shape, sv.values
    xs, ys, zs, colours, custom, text = [], [], [], [], [], []
    for i in rows:
        pts = shape.points[i]
        value = values[i]
        label = (f"{shape.section[i]} segment {shape.index[i]} (x={shape.x[i]:.4g})<br>"
                 f"{shape.distance[i]:.1f} µm from the soma<br>"
                 + (f"{sv.name} = {value:.5g} {sv.units}" if np.isfinite(value)
                    else f"{sv.name}: none here"))
        n = len(pts)
        xs += pts[:, 0].tolist() + [None]
        ys += pts[:, 1].tolist() + [None]
        zs += pts[:, 2].tolist() + [None]
        colours += [float(value)] * (n + 1)          # the gap point repeats the value
        custom += [int(i)] * n + [None]
        text += [label] * n + [""]
    line = dict(width=width)
    if coloured:
        line.update(color=colours, coloraxis="coloraxis")
    else:
        line.update(color=MISSING)
    return go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", line=line, customdata=custom,
                        text=text, hovertemplate="%{text}<extra></extra>", connectgaps=False)


def write(sv, path: Path, projection: str = "xy") -> Path:
    """The PNG or the page (by the suffix), written whole or not at all."""
    from cellsweep.launch.files import save_figure, write_atomically

    path = Path(path)
    if path.suffix.lower() == ".png":
        fig, _ = png_figure(sv, projection)
        return save_figure(fig, path)
    page = html_figure(sv).to_html(include_plotlyjs=True, full_html=True)
    return write_atomically(path, page)
