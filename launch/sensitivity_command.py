"""``cellsweep sensitivity``: the Sobol' or Morris indices of a saltelli/morris sweep.

Reads the results file (with its journal while the campaign runs or after it stopped, as
``status`` and ``export`` do), analyses every feature and score through ``sweep.sensitivity``
and prints, per output, the indices per parameter with their bootstrap intervals and how many
points and blocks were used; ``--json`` gives the same as data, ``--plot`` the bars and the
heatmap (``launch.sensitivity_plot``). A file of another design is refused in one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--features", default=None, metavar="A,B",
              help="Comma-separated feature names (default: every feature); their scores "
                   "come with them.")
@click.option("--no-scores", is_flag=True, help="Only the features, not their scores.")
@click.option("--json", "as_json", is_flag=True, help="Print the indices and counts as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              metavar="OUT.png",
              help="Write bars with intervals (one panel per output) to OUT.png and a "
                   "outputs x parameters heatmap of the total index (Morris: mu*) to "
                   "OUT_heatmap.png.")
@click.option("--resamples", type=click.IntRange(min=2), default=100, show_default=True,
              help="Bootstrap resamples of the confidence intervals.")
@click.option("--conf-level", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Confidence level of the intervals.")
@click.option("--seed", type=click.IntRange(min=1), default=1, show_default=True,
              help="Seed of the bootstrap.")
def sensitivity(results, features, no_scores, as_json, plot_path, resamples, conf_level, seed):
    """Global sensitivity of a sweep of design saltelli (first-order, total and, when
    sampled, second-order Sobol' indices) or morris (mu, mu*, sigma): per feature, per score
    and for the total score, with bootstrap confidence intervals. Points that failed or have
    no result yet are handled by dropping whole base samples (trajectories) and counted; an
    output with too few left is refused with the counts."""
    from cellsweep.launch.cli import UsageProblem, _results_path, check_output_path
    from cellsweep.sweep import sensitivity as S
    from cellsweep.sweep.results import current

    names = None
    if features is not None:
        names = [n.strip() for n in features.split(",") if n.strip()]
        if not names:
            raise UsageProblem(f"--features {features!r}: expected comma-separated feature "
                               "names")
    if plot_path is not None:
        if Path(plot_path).suffix.lower() != ".png":
            raise UsageProblem(f"--plot {plot_path}: expected a .png file name")
        check_output_path(Path(plot_path), "--plot")
    path = _results_path(results, warn=False)
    f = current(path)
    if S.design_of(f) is None:
        raise UsageProblem(f"{path}: {S.describe_design(f)}; cellsweep sensitivity needs a "
                           "sweep of design saltelli or morris (see docs/SENSITIVITY.md)")
    if names is not None:
        unknown = [n for n in names if n not in f.feature_names]
        if unknown:
            raise UsageProblem(f"--features {features}: no feature "
                               f"{', '.join(map(repr, unknown))} in {path}; its features: "
                               f"{', '.join(f.feature_names) or 'none'}")
    _results_path(path)                      # its warning, once the input is accepted
    result = S.analyse(f, features=names, scores=not no_scores, seed=seed,
                       resamples=resamples, conf_level=conf_level)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1, allow_nan=False))
    else:
        click.echo(format_text(result, path))
    if not result.outputs:
        for line in result.notes:
            if ": not analysed: " in line:
                click.echo(f"error: {path}: {line}", err=True)
        sys.exit(2)
    if plot_path is not None:
        from cellsweep.launch.sensitivity_plot import plot_sensitivity

        for written in plot_sensitivity(result, plot_path):
            click.echo(f"plot written to {written}", err=as_json)


def brief(output) -> str | None:
    """What ``cellsweep run`` prints when a saltelli/morris sweep completes: per feature, the
    parameters by their total index (Morris: mu*), largest first; None for other designs."""
    from cellsweep.sweep import sensitivity as S
    from cellsweep.sweep.store import ResultsFile

    f = ResultsFile(output)
    if S.design_of(f) is None:
        return None
    result = S.analyse(f, scores=False)
    index = "ST" if result.method == "sobol" else "mu_star"
    label = "total Sobol' index ST" if result.method == "sobol" else "Morris mu*"
    lines = [f"sensitivity ({label}, largest first; `cellsweep sensitivity {output}` for "
             "S1, intervals and the scores):"]
    table = result.table[result.table["index"] == index]
    for c in result.counts.itertuples():
        if c.outcome != "analysed":
            lines.append(f"  {c.output}: not analysed ({c.detail})")
            continue
        rows = table[table["output"] == c.output].sort_values("value", ascending=False)
        number = (lambda v: f"{v:.2f}") if result.method == "sobol" else (lambda v: f"{v:.3g}")
        lines.append(f"  {c.output}: " + ", ".join(f"{r.parameter} {number(r.value)}"
                                                  for r in rows.itertuples()))
    return "\n".join(lines)


def format_text(result, path) -> str:
    """The table a person reads: per output, a line per parameter with its indices."""
    d = result.design
    level = f"{result.conf_level:.0%}"
    if result.method == "sobol":
        head = (f"{path}: Sobol' indices (saltelli, N = {d['n']}"
                + (", second order" if d.get("second_order") else "") +
                f"; ± {level} bootstrap interval, {result.resamples} resamples)")
        columns = [("S1", "S1"), ("ST", "ST")]
    else:
        head = (f"{path}: Morris screening ({d['trajectories']} trajectories, {d['levels']} "
                f"levels; μ* ± {level} bootstrap interval, {result.resamples} resamples)")
        columns = [("mu", "μ"), ("mu_star", "μ*"), ("sigma", "σ")]
    lines = [head]
    table, params = result.table, result.parameters
    width = max([len("parameter")] + [len(p) for p in params])
    by = {(r.output, r.parameter, r.index): (r.value, r.conf) for r in table.itertuples()}
    for c in result.counts.itertuples():
        lines.append("")
        lines.append(f"{c.output}  ({c.valid} of {c.points} points valid; {c.detail})")
        if c.outcome != "analysed":
            lines.append("  not analysed")
            continue
        lines.append("  " + "parameter".ljust(width) + "".join(f"  {label:>18}"
                                                            for _, label in columns))
        for p in params:
            cells = []
            for index, _ in columns:
                value, conf = by[(c.output, p, index)]
                cells.append(_cell(value, conf, result.method))
            lines.append("  " + p.ljust(width) + "".join(f"  {cell:>18}" for cell in cells))
        pairs = [(k[1], v) for k, v in by.items() if k[0] == c.output and k[2] == "S2"]
        for pair, (value, conf) in pairs:
            lines.append(f"  S2 {pair}: {_cell(value, conf, result.method)}")
    if result.notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


def _cell(value: float, conf: float, method: str) -> str:
    """Sobol' indices are fractions of the variance: fixed decimals; Morris effects have the
    output's units: significant digits."""
    number = (lambda v: f"{v:.3f}") if method == "sobol" else (lambda v: f"{v:.4g}")
    return number(value) if conf != conf else f"{number(value)} ± {number(conf)}"
