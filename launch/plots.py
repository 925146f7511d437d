"""PNG plots for people: traces of an evaluation, a sweep's responses, an optimisation's
progress. Axes carry units; curves of stored traces carry the point's parameter values."""

from __future__ import annotations

import textwrap
from pathlib import Path

from cellsweep.cells.mechanisms import BUILTIN_UNITS
from cellsweep.launch.files import save_figure
from cellsweep.sweep.report_data import axis_label as _axis_label
from cellsweep.sweep.report_data import fi_columns
from cellsweep.sweep.report_data import family_data as _family_data
from cellsweep.sweep.store import ResultsFile

def variable_label(variable: str) -> str:
    """"v (mV)": NEURON's own variables with their units (a mechanism's show their name)."""
    if variable == "concentration":        # an rxd species (cells.rxd_model)
        return "concentration (mM)"
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
            what = f"[{rec.species}] {rec.statistic}".strip() if rec.species else rec.variable
            ax.plot(t, v, lw=0.8, label=f"{rec.name} ({what})")
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
    save_figure(fig, path)
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
    plus stored traces of chosen points and, with profile features, families of FI and
    impedance curves; for optimisations see ``plot_optimisation``, for a profile file
    ``plot_profile``. Returns the PNG paths written."""
    import numpy as np

    plt = _pyplot()
    f = plotted(results_path)
    if f.kind == "profile":
        return plot_profile(f, out_dir)
    if f.kind == "optimise":
        return plot_optimisation(f, out_dir, model=model) + plot_families(f, out_dir)
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
    save_figure(fig, out_dir / name)
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
            save_figure(fig, out_dir / "traces.png")
            written.append(out_dir / "traces.png")
    return written + plot_families(f, out_dir)


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
    save_figure(fig, out_dir / "convergence.png")
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
        save_figure(fig, out_dir / "pareto_front.png")
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
        save_figure(fig, out_dir / "hall_of_fame.png")
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
    save_figure(fig, path)


# -- profiles -------------------------------------------------------------------------------------
# A profile file (kind "profile") holds one parameter set's experiments: its plots are the
# electrophysiologist's figures. A sweep's or optimisation's file with profile features holds one
# profile per row: its plots are families of curves coloured by what the campaign varied.

def _text_list(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def profile_measures(f: ResultsFile) -> dict:
    """{measure: value} of a profile file: its finished group's table, else (a running or
    killed profile) the first value each measure's column holds."""
    import numpy as np

    group = f.profile()
    if group is not None and "measures" in group:
        m = group["measures"]
        return dict(zip(_text_list(m["names"]), np.asarray(m["values"], dtype=float)))
    columns = f.columns()
    out = {}
    for name in f.feature_names:
        finite = np.asarray(columns[name], dtype=float)
        finite = finite[np.isfinite(finite)]
        out[name] = float(finite[0]) if finite.size else float("nan")
    return out


def profile_fi(f: ResultsFile) -> tuple:
    """(amplitudes nA, rates Hz) of a profile file's FI curve: the group's, else its rows'."""
    import numpy as np

    group = f.profile() or {}
    for value in group.values():
        if isinstance(value, dict) and "amplitudes_nA" in value:
            return (np.asarray(value["amplitudes_nA"], dtype=float),
                    np.asarray(value["rates_Hz"], dtype=float))
    measures = profile_measures(f)
    points = fi_columns(f.feature_names).get("", [])
    return (np.array([a for a, _ in points], dtype=float),
            np.array([measures[n] for _, n in points], dtype=float))


def _experiments(f: ResultsFile) -> dict:
    import json

    group = f.profile() or {}
    try:
        return json.loads((group.get("attrs") or {}).get("experiments", "{}"))
    except (TypeError, ValueError):
        return {}


def _row_curve(curves: dict, name: str):
    """(x, y, curve) of the one row that holds curve ``name``, or None."""
    import numpy as np

    c = curves.get(name)
    if c is None:
        return None
    rows = np.flatnonzero(np.isfinite(c["values"]).any(axis=1))
    return (c["x"], c["values"][rows[0]], c) if rows.size else None


def draw_profile(results) -> dict:
    """{panel: Figure} of a profile file (a path or a ``ResultsFile``): "passive", "fi",
    "impedance", "dendrite", each drawn only when the file holds its data. Lines carry gids
    (``passive.v``, ``fi``, ``zap.impedance``, ...) so that what is drawn can be checked."""
    plt = _pyplot()
    f = results if isinstance(results, ResultsFile) else ResultsFile(results)
    measures, curves, experiments = profile_measures(f), f.curves(), _experiments(f)
    figures = {}
    passive = _draw_passive(plt, curves, measures, experiments.get("passive", {}))
    if passive is not None:
        figures["passive"] = passive
    amps, rates = profile_fi(f)
    if amps.size:
        figures["fi"] = _draw_fi(plt, amps, rates, measures, experiments)
    impedance = _draw_impedance(plt, curves, measures)
    if impedance is not None:
        figures["impedance"] = impedance
    dendrite = _draw_dendrite(plt, curves)
    if dendrite is not None:
        figures["dendrite"] = dendrite
    params = _parameters_text(f)
    for fig in figures.values():
        width = int(fig.get_figwidth() * 15)         # characters of 8-point text per inch
        fig.suptitle("\n".join([Path(f.path).name, *textwrap.wrap(params, width)]), fontsize=8)
        fig.tight_layout()
    return figures


def _parameters_text(f: ResultsFile) -> str:
    import json

    group = f.profile() or {}
    try:
        values = json.loads((group.get("attrs") or {}).get("parameters", "{}"))
    except (TypeError, ValueError):
        return ""
    units = dict(zip(f.param_names, f.param_units))
    shown = [f"{k}={v:.4g}" + (f" {units[k]}" if units.get(k) else "")
             for k, v in list(values.items())[:5]]
    return ", ".join(shown) + (" ..." if len(values) > 5 else "")


def _draw_passive(plt, curves, measures, settings):
    """The step response with both fits: the whole trace, and the charging curve enlarged."""
    import numpy as np

    v = _row_curve(curves, "passive.v")
    if v is None:
        return None
    t, trace, c = v
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    delay = settings.get("delay_ms")
    duration = settings.get("duration_ms")
    tau = measures.get("tau_m", float("nan"))
    tau2 = measures.get("tau_m_exp2", float("nan"))
    fits = (("passive.fit", f"single exp: τ = {tau:.3g} ms, "
                            f"R² = {measures.get('tau_m_r_squared', float('nan')):.4f}", "C3"),
            ("passive.fit_exp2", f"exp2 (f(0) = V rest): τ = {tau2:.3g} ms, "
                                 f"R² = {measures.get('tau_m_exp2_r_squared', float('nan')):.4f}",
             "C2"))
    for ax in axes:
        ax.plot(t, trace, color="k", lw=1, label="V", gid="passive.v")
        for name, label, colour in fits:
            fit = _row_curve(curves, name)
            if fit is not None:
                ax.plot(fit[0], fit[1], "--", color=colour, lw=1.2, label=label, gid=name)
        if delay is not None and duration is not None:
            ax.axvspan(delay, delay + duration, color="0.93", zorder=0, label="step")
        ax.set_xlabel(_axis_label(c["x_label"] or "time", c["x_units"]))
        ax.set_ylabel(_axis_label("V", c["units"]))
        ax.tick_params(labelsize=7)
    if delay is not None:
        span = 5 * np.nanmax([tau, tau2, 1.0])
        axes[1].set_xlim(delay - 0.1 * span, delay + span)
        shown = trace[(t >= delay - 0.1 * span) & (t <= delay + span)]
        if shown.size and np.isfinite(shown).any():
            pad = 0.05 * (np.nanmax(shown) - np.nanmin(shown) or 1.0)
            axes[1].set_ylim(np.nanmin(shown) - pad, np.nanmax(shown) + pad)
    rin = measures.get("input_resistance", float("nan"))
    axes[0].set_title(f"passive step: V rest {measures.get('v_rest', float('nan')):.4g} mV, "
                      f"R in {rin:.4g} MOhm, sag {measures.get('sag', float('nan')):.3g} mV",
                      fontsize=8, loc="left")
    axes[1].set_title("charging curve and fits", fontsize=8, loc="left")
    axes[1].legend(fontsize=7, frameon=False, loc="best")
    return fig


def _draw_fi(plt, amps, rates, measures, experiments):
    """The FI curve with the rheobase (line, and the bracket its search ended with)."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    slope = measures.get("fi_slope", float("nan"))
    ax.plot(amps, rates, "o-", ms=4, lw=1.2, gid="fi",
            label="FI" + (f" (slope {slope:.3g} Hz/nA)" if np.isfinite(slope) else ""))
    rheobase = measures.get("rheobase", float("nan"))
    low = measures.get("rheobase_bracket_low", float("nan"))
    if np.isfinite(rheobase):
        ax.axvline(rheobase, color="C3", lw=1, gid="rheobase",
                   label=f"rheobase {rheobase:.4g} nA")
        if np.isfinite(low):
            top = np.nanmax(rates) if np.isfinite(rates).any() else 1.0
            y = -0.04 * (top or 1.0)
            ax.plot([low, low, rheobase, rheobase], [y * 0.5, y, y, y * 0.5], color="C3",
                    lw=1.5, gid="rheobase_bracket",
                    label=f"bracket [{low:.4g}, {rheobase:.4g}] nA "
                          f"({measures.get('rheobase_simulations', float('nan')):.0f} sims)")
    fi_s, rh_s = experiments.get("fi", {}), experiments.get("rheobase", {})
    if fi_s.get("duration_ms") and rh_s.get("duration_ms") \
            and fi_s["duration_ms"] != rh_s["duration_ms"]:
        ax.set_title(f"FI steps {fi_s['duration_ms']:g} ms, rheobase steps "
                     f"{rh_s['duration_ms']:g} ms", fontsize=8, loc="left")
    ax.set_xlabel("step amplitude (nA)")
    ax.set_ylabel("spike rate (Hz)")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return fig


def _draw_impedance(plt, curves, measures):
    """|Z| and phase vs frequency, resonance and 3-dB cut-off marked."""
    import numpy as np

    z = _row_curve(curves, "zap.impedance")
    if z is None:
        return None
    phase = _row_curve(curves, "zap.phase")
    fig, axes = plt.subplots(2, 1, figsize=(6, 5), sharex=True, squeeze=False)
    ax, pax = axes[:, 0]
    freq, values, c = z
    ax.plot(freq, values, lw=1.2, gid="zap.impedance", label="|Z|")
    res = measures.get("resonance_frequency", float("nan"))
    peak = measures.get("peak_impedance", float("nan"))
    cutoff = measures.get("cutoff_frequency", float("nan"))
    analysed = freq[np.isfinite(values)]
    edge = analysed.size and np.isfinite(res) and not analysed.min() < res < analysed.max()
    res_label = (f"resonance {res:.3g} Hz (Q {measures.get('q_factor', float('nan')):.3g})"
                 + (": at the band's edge, no peak inside it" if edge else ""))
    for a in (ax, pax):
        if np.isfinite(res):
            a.axvline(res, color="C3", lw=1, gid="resonance" if a is ax else None,
                      label=res_label if a is ax else None)
        if np.isfinite(cutoff):
            a.axvline(cutoff, color="C1", lw=1, ls="--", gid="cutoff" if a is ax else None,
                      label=f"3-dB cut-off {cutoff:.3g} Hz" if a is ax else None)
    if not np.isfinite(res) and np.isfinite(peak):
        ax.text(0.02, 0.04, "no resonance inside the band (|Z| still rising at its end)",
                transform=ax.transAxes, fontsize=7, color="C3")
    if np.isfinite(peak):
        ax.plot([res], [peak], "o", color="C3", ms=5)
        ax.axhline(peak / np.sqrt(2), color="0.6", lw=0.8, ls=":", label="peak / √2")
    ax.set_ylabel(_axis_label("|Z|", c["units"]))
    ax.legend(fontsize=7, frameon=False)
    if phase is not None:
        pax.plot(phase[0], phase[1], lw=1.2, color="C0", gid="zap.phase")
        pax.axhline(0, color="0.6", lw=0.6)
        pax.set_ylabel(_axis_label("phase", phase[2]["units"]))
    pax.set_xlabel(_axis_label(c["x_label"] or "frequency", c["x_units"]))
    return fig


_DENDRITE = ("bap_amplitude", "bap_delay", "local_input_resistance")


def _draw_dendrite(plt, curves):
    """bAP amplitude and delay, local input resistance vs path distance (what the file has)."""
    import numpy as np

    present = [n for n in _DENDRITE if f"dendrite.{n}" in curves]
    if not present:
        return None
    fig, axes = plt.subplots(1, len(present), figsize=(3.6 * len(present), 3.2), squeeze=False)
    for ax, name in zip(axes[0], present):
        c = curves[f"dendrite.{name}"]
        row = _row_curve(curves, f"dendrite.{name}")
        if row is None:
            ax.text(0.5, 0.5, "no values" + (" (no somatic spike)" if name.startswith("bap")
                                             else ""),
                    ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4")
        else:
            ax.plot(row[0], row[1], "o-", ms=3, lw=1.2, gid=f"dendrite.{name}")
            ax.set_xlim(0, np.nanmax(c["x"]) * 1.05 if len(c["x"]) else 1)
        ax.set_xlabel(_axis_label("path distance", c["x_units"] or "um"))
        ax.set_ylabel(_axis_label(name.replace("_", " "), c["units"]))
        ax.tick_params(labelsize=7)
    return fig


def _save(figures: dict, out_dir, prefix: str) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures.items():
        path = out_dir / f"{prefix}{name}.png"
        save_figure(fig, path)
        written.append(path)
    return written


def plot_profile(results, out_dir) -> list[Path]:
    """A profile file's figures as PNGs (``profile_passive.png``, ``profile_fi.png``, ...)."""
    return _save(draw_profile(results), out_dir, "profile_")


def family_data(results) -> dict:
    """What the family plots draw (``sweep.report_data.family_data``, which the campaign report
    draws too) of a results path or ``ResultsFile``."""
    return _family_data(results if isinstance(results, ResultsFile) else plotted(results))


def draw_families(results) -> dict:
    """{figure name: Figure}: one curve per row, coloured by ``colour_parameter``; FI in
    ``family_fi``, each experiment's curves (zap: |Z| and phase) in ``family_<experiment>``."""
    import numpy as np
    from matplotlib.collections import LineCollection

    plt = _pyplot()
    data = family_data(results)
    groups: dict = {}
    for name in data:
        groups.setdefault(name.split(".")[0], []).append(name)
    figures = {}
    for group, names in groups.items():
        fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names) + 1, 3.6),
                                 squeeze=False, layout="constrained")
        for ax, name in zip(axes[0], names):
            d = data[name]
            segments = [np.column_stack([d["x"], y]) for y in d["rows"]]
            lines = LineCollection(segments, cmap="viridis", lw=1.2, alpha=0.85, gid=name)
            lines.set_array(d["colour"])
            ax.add_collection(lines)
            if name.startswith("fi"):
                ax.scatter(np.tile(d["x"], len(d["rows"])), d["rows"].ravel(), s=8,
                           c=np.repeat(d["colour"], len(d["x"])), cmap="viridis",
                           norm=lines.norm, zorder=3)
            ax.autoscale_view()
            finite = d["rows"][np.isfinite(d["rows"])]
            if finite.size:
                pad = 0.05 * (finite.max() - finite.min() or 1.0)
                ax.set_ylim(finite.min() - pad, finite.max() + pad)
            span = np.nanmax(d["x"]) - np.nanmin(d["x"]) or 1.0
            ax.set_xlim(np.nanmin(d["x"]) - 0.03 * span, np.nanmax(d["x"]) + 0.03 * span)
            ax.set_xlabel(d["x_label"], fontsize=8)
            ax.set_ylabel(d["y_label"], fontsize=8)
            ax.set_title(f"{name}: {len(d['rows'])} rows", fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
        bar = fig.colorbar(lines, ax=axes[0].tolist(), shrink=0.9)
        bar.set_label(d["colour_label"], fontsize=8)
        bar.ax.tick_params(labelsize=7)
        figures[f"family_{group}"] = fig
    return figures


def plot_families(results, out_dir) -> list[Path]:
    """The family PNGs of a sweep or optimisation with profile features (none without)."""
    return _save(draw_families(results), out_dir, "")
