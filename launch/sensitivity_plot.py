"""The PNGs of ``cellsweep sensitivity``: bars with intervals per output, and a heatmap.

- ``OUT.png``: one panel per output (at most ``MAX_PANELS``, the rest named in the figure's
  title), a bar per parameter: Sobol' S1 and ST side by side, or Morris μ* (with σ beside it),
  each with its bootstrap interval as an error bar;
- ``OUT_heatmap.png``: outputs (rows) × parameters of the total index ST (Morris: μ* divided by the
  largest μ* of the output, so that outputs of different units share one colour scale).

Written under a temporary name and renamed, as every output of cellsweep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellsweep.launch.files import save_figure

MAX_PANELS = 24


def heatmap_path(path) -> Path:
    path = Path(path)
    return path.with_name(f"{path.stem}_heatmap{path.suffix}")


def plot_sensitivity(result, path) -> list[Path]:
    """Write the bar panels to ``path`` and the heatmap beside it; returns both paths."""
    from cellsweep.launch.plots import _pyplot

    plt = _pyplot()
    path = Path(path)
    table = result.table
    params = result.parameters
    outputs = result.outputs
    shown = outputs[:MAX_PANELS]
    cols = min(4, max(1, len(shown)))
    rows = max(1, -(-len(shown) // cols))
    width = max(3.2, 0.45 * len(params) + 1.5)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 2.9 * rows), squeeze=False)
    first, second = ("S1", "ST") if result.method == "sobol" else ("mu_star", "sigma")
    labels = {"S1": "S1", "ST": "ST", "mu_star": "μ*", "sigma": "σ"}
    x = np.arange(len(params))
    for ax, name in zip(axes.ravel(), shown):
        for k, index in enumerate((first, second)):
            part = table[(table["output"] == name) & (table["index"] == index)]
            part = part.set_index("parameter").reindex(params)
            conf = part["conf"].to_numpy(float)
            ax.bar(x + (k - 0.5) * 0.38, part["value"].to_numpy(float), width=0.38,
                   yerr=None if np.isnan(conf).all() else np.nan_to_num(conf), capsize=2,
                   label=labels[index])
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(name, fontsize=7)
        ax.set_xticks(x, params, rotation=35, ha="right", fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    title = ("Sobol' indices" if result.method == "sobol" else "Morris screening") + \
        f" ({result.conf_level:.0%} bootstrap intervals)"
    if len(outputs) > len(shown):
        title += f"; {len(outputs) - len(shown)} more output(s) in the table and the heatmap"
    fig.suptitle(title, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    written = [save_figure(fig, path)]

    index = "ST" if result.method == "sobol" else "mu_star"
    grid = np.full((len(outputs), len(params)), np.nan)     # outputs are rows: long names
    for i, name in enumerate(outputs):
        part = table[(table["output"] == name) & (table["index"] == index)]
        values = part.set_index("parameter").reindex(params)["value"].to_numpy(float)
        if result.method == "morris":
            top = np.nanmax(np.abs(values)) if values.size else 0.0
            values = values / top if top > 0 else values
        grid[i, :] = values
    label_in = 0.055 * max([len(n) for n in outputs] + [10])     # the row labels' width
    fig, ax = plt.subplots(figsize=(max(4.5, 0.8 * len(params) + label_in + 2.0),
                                    max(2.5, 0.26 * len(outputs) + 2.2)))
    image = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0,
                      vmax=max(1.0, float(np.nanmax(grid))) if np.isfinite(grid).any() else 1.0)
    if grid.size <= 400:                      # the numbers too, while they fit
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if value < 0.5 else "black")
    ax.set_xticks(np.arange(len(params)), params, rotation=35, ha="right", fontsize=7)
    ax.set_yticks(np.arange(len(outputs)), outputs, fontsize=7)
    fig.colorbar(image, ax=ax, label="ST" if result.method == "sobol" else "μ* / max μ*")
    ax.set_title("total Sobol' index" if result.method == "sobol"
                 else "Morris μ*, scaled per output", fontsize=8)
    fig.tight_layout()
    written.append(save_figure(fig, heatmap_path(path)))
    return written
