"""``cellsweep morphology FILE|CONFIG [--plot OUT.png] [--json]``: what a morphology file holds,
what is wrong with it and what NEURON's Import3d makes of it (``cells.morphology_inspect``).

Exit status: 0 the file is one ``run`` accepts (warnings may be listed); 1 the report was
printed but ``run`` refuses the file (its errors are in the report); 2 nothing could be
inspected (unreadable file, a config without a morphology file, a bad option), one line per
problem.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cellsweep.launch.files import save_figure

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
REFUSED_EXIT = 1
# how findings are marked on the plot: code -> (marker, colour, label)
MARKS = {
    "bottleneck": ("o", "red", "bottleneck"),
    "jump": ("x", "darkorange", "jump"),
    "z-backlash": ("D", "magenta", "z backlash"),
    "multifurcation": ("^", "black", "multifurcation"),
    "disconnected": ("s", "grey", "disconnected piece"),
    "implausible-diameter": ("*", "brown", "implausible diameter"),
}
TYPE_COLOURS = {1: "black", 2: "tab:blue", 3: "tab:green", 4: "tab:purple"}


def morphology_path(target) -> Path:
    """The morphology file to inspect: ``target`` itself, or the cell's file of a config.
    Raises ConfigError (one line) for a config whose cell has no morphology file."""
    from cellsweep.cells.config import display_path
    from cellsweep.cells.errors import ConfigError, Problem
    from cellsweep.cells.loader import load_model
    from cellsweep.cells.schema import ConfigSource

    target = Path(target)
    if target.suffix.lower() not in CONFIG_SUFFIXES:
        return target
    source = ConfigSource.read(target)
    cell = source.data.get("cell") if isinstance(source.data, dict) else None
    if isinstance(cell, dict) and isinstance(cell.get("morphology"), str) and \
            "dendrotweaks" not in cell:
        path = target.parent / cell["morphology"]
        if path.suffix.lower() in (".swc", ".asc"):
            return path          # as written: a file run would refuse is still inspected
    model, _ = load_model(source)       # anything else: the loader says what the cell is
    if model.cell.morphology is None:
        raise ConfigError([Problem(display_path(target), "cell", (
            f"a stylised cell ({len(model.cell.sections)} sections in cell.sections) has no "
            f"morphology file to inspect"))])
    return model.cell.morphology


@click.command("morphology")
@click.argument("target", metavar="FILE|CONFIG", type=click.Path(dir_okay=False))
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of the points (xy, xz and zy projections, coloured by type) "
                   "with the findings marked.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def morphology(target, plot_path, as_json):
    """Inspect a morphology file (SWC or Neurolucida ASC), or the cell of a config: points,
    sections and types, lengths and areas, the soma, diameters, jumps and z backlash,
    bottlenecks, multifurcations, disconnected pieces, non-standard types, and what
    NEURON's Import3d makes of it. Exit 1 when ``run`` would refuse the file."""
    from cellsweep.cells.errors import ConfigError
    from cellsweep.cells.morphology_check import check_morphology
    from cellsweep.cells.morphology_inspect import inspect_morphology, unreadable
    from cellsweep.launch.cli import check_output_path

    out = check_output_path(Path(plot_path), "--plot") if plot_path else None
    if out is not None and out.suffix.lower() != ".png":
        raise ConfigError([f"--plot {out}: expected a .png file name"])
    path = morphology_path(target)
    report = inspect_morphology(path)
    if unreadable(report):
        raise ConfigError([str(i) for i in check_morphology(path) if i.severity == "error"])
    if out is not None:
        plot_morphology(path, report, out)
    click.echo(report.to_json() if as_json else report.table())
    if out is not None and not as_json:
        click.echo(f"plot written to {out}")
    if report.refused:
        sys.exit(REFUSED_EXIT)


def plot_marks(report, points) -> dict[str, list]:
    """The points marked on the plot, per finding code of MARKS: every point a finding names
    (a bottleneck: its thin point, not the parent named beside it)."""
    by_id = {p.id: p for p in points}
    marks = {code: [] for code in MARKS}
    for f in report.findings:
        if f.code in marks:
            ids = f.points[-1:] if f.code == "bottleneck" else f.points
            marks[f.code] += [by_id[i] for i in ids if i in by_id]
    return marks


def plot_morphology(path, report, out: Path) -> Path:
    """The file's points in three projections, segments coloured by type, findings marked;
    written to a temporary name and renamed, so ``out`` is never half-written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    from cellsweep.cells.morphology_check import file_points

    points = file_points(path) or []
    by_id = {p.id: p for p in points}
    views = (("x", "y"), ("x", "z"), ("z", "y"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.5))
    types = sorted({p.type for p in points})
    for ax, (h, v) in zip(axes, views):
        segments, colours = [], []
        for p in points:
            q = by_id.get(p.parent)
            if q is not None:
                segments.append([(getattr(q, h), getattr(q, v)), (getattr(p, h), getattr(p, v))])
                colours.append(_colour(p.type))
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=0.7))
        somas = [p for p in points if p.type == 1]
        ax.scatter([getattr(p, h) for p in somas], [getattr(p, v) for p in somas], s=12,
                   color=_colour(1), zorder=3)
        for code, marked in plot_marks(report, points).items():
            marker, colour, _ = MARKS[code]
            if marked:
                style = {"facecolors": "none", "edgecolors": colour} if marker in "oDs^" \
                    else {"color": colour}
                ax.scatter([getattr(p, h) for p in marked], [getattr(p, v) for p in marked],
                           marker=marker, s=40, zorder=4, **style)
        ax.autoscale()
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel(f"{h} (um)")
        ax.set_ylabel(f"{v} (um)")
        ax.set_title(f"{h}{v}")
    handles = [Line2D([], [], color=_colour(t), label=_type_label(t)) for t in types]
    handles += [Line2D([], [], ls="", marker=m, color=c, label=label, markerfacecolor="none")
                for code, (m, c, label) in MARKS.items() if plot_marks(report, points)[code]]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8)
    fig.suptitle(f"{Path(path).name}: {report.points} points, "
                 f"{sum(f.level == 'error' for f in report.findings)} errors, "
                 f"{sum(f.level == 'warning' for f in report.findings)} warnings")
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    save_figure(fig, out, dpi=100)
    return out


def _colour(code: int) -> str:
    return TYPE_COLOURS.get(code, "tab:red")


def _type_label(code: int) -> str:
    from cellsweep.cells.morphology_inspect import TYPE_NAMES

    return f"{code} {TYPE_NAMES.get(code, 'non-standard')}"
