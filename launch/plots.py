"""PNG plots for people: traces of an evaluation, a sweep's responses, an optimisation's
progress. Axes carry units; curves of stored traces carry the point's parameter values."""

from __future__ import annotations

from pathlib import Path

from cellsweep.cells.mechanisms import BUILTIN_UNITS
from cellsweep.sweep.store import ResultsFile

def variable_label(variable: str) -> str:
    """"v (mV)": NEURON's own variables with their units (a mechanism's show their name)."""
    units = BUILTIN_UNITS.get(variable, "")
    return f"{variable} ({units})" if units else variable


def _labeller(f: ResultsFile):
    """name -> "name (units)" for the parameters and features of a results file."""
    units = dict(zip(f.param_names, f.param_units))
    units.update(zip(f.feature_names, f.feature_units))

    def label(name: str) -> str:
        u = units.get(name, "")
        return f"{name} ({u})" if u and u != "constant" else name
    return label


def _point_label(pid: int, by_id, params, f: ResultsFile) -> str:
    """"point 3: gbar_na_t.somatic=0.1 S/cm2, step.stim.amp_nA=0.3 nA"."""
    if pid not in by_id.index:
        return f"point {pid}"
    units = dict(zip(f.param_names, f.param_units))
    shown = [f"{p}={by_id.loc[pid, p]:.4g}" + (f" {units[p]}" if units.get(p) else "")
             for p in params[:4]]
    return f"point {pid}: " + ", ".join(shown) + (" ..." if len(params) > 4 else "")


def _recording_axis(model, protocol: str, recording: str) -> str:
    if model is not None:
        for p in model.protocols:
            for r in p.recordings:
                if p.name == protocol and r.name == recording:
                    return variable_label(r.variable)
    return ""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_traces(model, result, path: Path) -> Path:
    """One panel per protocol, every recording of it overlaid, with the feature window shaded."""
    plt = _pyplot()
    protocols = [p for p in model.protocols if p.name in (result.traces or {})]
    fig, axes = plt.subplots(len(protocols), 1, figsize=(9, 2.4 * len(protocols) + 0.6),
                             squeeze=False, sharex=False)
    for ax, protocol in zip(axes[:, 0], protocols):
        for rec in protocol.recordings:
            t, v = result.traces[protocol.name][rec.name]
            ax.plot(t, v, lw=0.8, label=f"{rec.name} ({rec.variable})")
        ax.axvspan(*protocol.window_ms, color="0.92", zorder=0)
        ax.set_title(protocol.name, fontsize=9, loc="left")
        variables = {r.variable for r in protocol.recordings}
        ax.set_ylabel(variable_label(variables.pop()) if len(variables) == 1 else "")
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    axes[-1, 0].set_xlabel("time (ms)")
    values = {**model.default_values(), **result.params}
    shown = [p for p in model.parameters
             if (p.free or p.name in result.params) and values.get(p.name) is not None]
    params = ", ".join(f"{p.name}={values[p.name]:.4g}" + (f" {p.units}" if p.units else "")
                       for p in shown[:6]) + (" ..." if len(shown) > 6 else "")
    fig.suptitle(f"{model.cell.name}: status {result.status}, total score "
                 f"{result.total_score:.2f}" + (f"\n{params}" if params else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _grid(n: int, max_cols: int = 4):
    cols = min(max_cols, max(1, n))
    return (n + cols - 1) // cols, cols


def plotted(results_path) -> ResultsFile:
    """What the plots show: the file with what a running or killed campaign's journal holds
    beyond its last commit."""
    from cellsweep.sweep.results import current

    return current(results_path)


def plot_campaign(results_path, out_dir, points=None, model=None) -> list[Path]:
    """Response curves (1 axis), heatmaps (2-axis grid) or a scatter matrix (anything else),
    plus stored traces of chosen points; for optimisations see ``plot_optimisation``.
    Returns the PNG paths written."""
    import numpy as np

    plt = _pyplot()
    f = plotted(results_path)
    if f.kind == "optimise":
        return plot_optimisation(f, out_dir, model=model)
    meta = f.metadata()
    frame = f.frame()
    params, features = f.param_names, f.feature_names
    label = _labeller(f)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ok = frame[frame["status"] == "ok"]
    bad = frame[frame["status"] != "ok"]
    shown = features[:12] + ["total_score"]
    design = meta.get("design", "")
    if len(params) == 1:
        rows, cols = _grid(len(shown))
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
        x = params[0]
        for ax, name in zip(axes.ravel(), shown):
            order = ok.sort_values(x)
            ax.plot(order[x], order[name], "o-", ms=3, lw=1)
            if len(bad):
                ax.plot(bad[x], np.zeros(len(bad)), "x", color="red", label="failed")
            ax.set_title(name, fontsize=7)
            ax.set_xlabel(label(x), fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in axes.ravel()[len(shown):]:
            ax.axis("off")
        name = "response_curves.png"
    elif len(params) == 2 and design == "grid":
        xs, ys = np.unique(frame[params[0]]), np.unique(frame[params[1]])
        rows, cols = _grid(len(shown))
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
        for ax, feat in zip(axes.ravel(), shown):
            grid = np.full((len(ys), len(xs)), np.nan)
            for _, row in ok.iterrows():
                grid[np.searchsorted(ys, row[params[1]]), np.searchsorted(xs, row[params[0]])] = \
                    row[feat]
            image = ax.imshow(grid, origin="lower", aspect="auto",
                              extent=(0, len(xs), 0, len(ys)), cmap="viridis")
            ax.set_xticks(np.arange(len(xs)) + 0.5, [f"{v:.3g}" for v in xs], fontsize=5,
                          rotation=90)
            ax.set_yticks(np.arange(len(ys)) + 0.5, [f"{v:.3g}" for v in ys], fontsize=5)
            ax.set_title(label(feat), fontsize=7)
            fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=5)
        for ax in axes.ravel()[len(shown):]:
            ax.axis("off")
        fig.supxlabel(label(params[0]), fontsize=8)
        fig.supylabel(label(params[1]), fontsize=8)
        name = "heatmaps.png"
    else:
        pshown, fshown = params[:6], shown[:6]
        fig, axes = plt.subplots(len(fshown), len(pshown),
                                 figsize=(2.2 * len(pshown) + 1, 1.9 * len(fshown) + 1),
                                 squeeze=False)
        for i, feat in enumerate(fshown):
            for j, par in enumerate(pshown):
                ax = axes[i, j]
                ax.plot(ok[par], ok[feat], ".", ms=2, alpha=0.6)
                ax.tick_params(labelsize=5)
                if i == len(fshown) - 1:
                    ax.set_xlabel(label(par), fontsize=6)
                if j == 0:
                    ax.set_ylabel(label(feat), fontsize=6)
        name = "scatter_matrix.png"
    fig.suptitle(f"{Path(results_path).name}: {len(ok)} ok, {len(bad)} failed", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    plt.close(fig)
    written.append(out_dir / name)
    if points:
        stored = f.traces(points)
        if stored:
            by_id = frame.set_index("eval_id")
            fig, axes = plt.subplots(len(stored), 1, figsize=(9, 2.3 * len(stored) + 0.5),
                                     squeeze=False)
            for ax, ((protocol, recording), (t, values)) in zip(axes[:, 0], stored.items()):
                for pid, trace in zip(sorted(points), values):
                    ax.plot(t, trace, lw=0.8, label=_point_label(pid, by_id, params, f))
                ax.set_title(f"{protocol} / {recording}", fontsize=8, loc="left")
                ax.set_ylabel(_recording_axis(model, protocol, recording), fontsize=7)
                ax.legend(fontsize=6, frameon=False)
            axes[-1, 0].set_xlabel("time (ms)")
            fig.tight_layout()
            fig.savefig(out_dir / "traces.png", dpi=110)
            plt.close(fig)
            written.append(out_dir / "traces.png")
    return written


def plot_optimisation(results, out_dir, model=None) -> list[Path]:
    """Convergence, Pareto front (two objectives), hall-of-fame parameters and, given the
    model, the best parameter set's traces. ``results``: a path or a ``ResultsFile``."""
    import numpy as np

    plt = _pyplot()
    f = results if isinstance(results, ResultsFile) else plotted(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = f.frame()
    ok = frame[frame["status"] == "ok"]
    written = []
    names, features = f.param_names, f.feature_names
    label = _labeller(f)
    opt = f.optimisation()
    hof = opt["hall_of_fame"]["parameters"] if opt and "hall_of_fame" in opt else None

    by_gen = ok.groupby("generation")["total_score"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    gens = np.array(sorted(by_gen.groups))
    best = by_gen.min().to_numpy()
    mean, std = by_gen.mean().to_numpy(), by_gen.std(ddof=0).to_numpy()
    ax.plot(gens, best, "o-", label="best", lw=1.2)
    ax.plot(gens, mean, "-", label="mean", lw=1)
    ax.fill_between(gens, np.maximum(mean - std, 0), mean + std, alpha=0.2, label="mean ± std")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.plot(gens, np.minimum.accumulate(best), "k--", lw=0.8, label="best so far")
    ax.set_xlabel("generation")
    ax.set_ylabel("total score")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(out_dir / "convergence.png", dpi=110)
    plt.close(fig)
    written.append(out_dir / "convergence.png")

    if len(features) == 2:
        from cellsweep.optimise.campaign import pareto_indices

        scores = ok[[f"score.{n}" for n in features]].to_numpy()
        front = scores[pareto_indices(scores)]
        front = front[np.argsort(front[:, 0])]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(scores[:, 0], scores[:, 1], ".", color="0.7", ms=3, label="evaluations")
        ax.plot(front[:, 0], front[:, 1], "o-", color="C3", ms=4, label="Pareto front")
        ax.set_xlabel(features[0], fontsize=7)
        ax.set_ylabel(features[1], fontsize=7)
        ax.legend(fontsize=7, frameon=False)
        fig.tight_layout()
        fig.savefig(out_dir / "pareto_front.png", dpi=110)
        plt.close(fig)
        written.append(out_dir / "pareto_front.png")

    if hof is not None and len(hof):
        fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names) + 0.5, 3),
                                 squeeze=False)
        for j, (ax, name) in enumerate(zip(axes[0], names)):
            ax.plot(np.zeros(len(ok)) + 0.5 + 0.15 * np.random.default_rng(0).standard_normal(
                len(ok)), ok[name], ".", color="0.8", ms=2)
            ax.plot(np.full(len(hof), 0.5), hof[:, j], "o", color="C3", ms=4)
            values = ok[name].to_numpy()
            if values.size and values.min() > 0 and values.max() > 20 * values.min():
                ax.set_yscale("log")        # a log-scaled bound: spread over decades
            ax.set_xticks([])
            ax.set_title(label(name), fontsize=7)
            ax.tick_params(labelsize=6)
        fig.suptitle("hall of fame (red) among all evaluations", fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "hall_of_fame.png", dpi=110)
        plt.close(fig)
        written.append(out_dir / "hall_of_fame.png")

    if model is not None and len(ok):
        from cellsweep.cells.evaluate import evaluate

        row = ok.loc[ok["total_score"].idxmin()]
        result = evaluate(model, {n: float(row[n]) for n in names}, traces=True)
        if result.traces:
            path = plot_traces(model, result, out_dir / "best_traces.png")
            _annotate_targets(model, result, path)
            written.append(path)
    return written


def _annotate_targets(model, result, path) -> None:
    """Add a feature/target table under the best model's traces."""
    plt = _pyplot()
    image = plt.imread(path)
    lines = [f"{f.name}: {result.features.get(f.name, float('nan')):.4g} "
             f"(target {f.mean:.4g} ± {f.std:.3g}, score {result.scores.get(f.name, 0):.2f})"
             for f in model.features]
    fig = plt.figure(figsize=(image.shape[1] / 110, image.shape[0] / 110 + 0.18 * len(lines)))
    ax = fig.add_axes([0, 0.18 * len(lines) / (image.shape[0] / 110 + 0.18 * len(lines)), 1,
                       1 - 0.18 * len(lines) / (image.shape[0] / 110 + 0.18 * len(lines))])
    ax.imshow(image)
    ax.axis("off")
    fig.text(0.02, 0.01, "\n".join(lines), fontsize=7, family="monospace", va="bottom")
    fig.savefig(path, dpi=110)
    plt.close(fig)
