"""``cellsweep convergence``: how much the traces change with nseg or d_lambda, and the cheapest
level within a tolerance (NEURON's ball-and-stick study, one config away).

The study is a campaign of its own kind (``sweep.convergence``): a grid over the levels and the
reference, crossed with the axes averaged over, run through the same executors as a sweep
(processes, or MPI ranks under ``mpiexec``) into one resumable results file with the traces.
At the end the error table is printed and ``<output>_convergence.png`` written: the error per
level, and the cost (segments, simulate time) per level.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from cellsweep.launch.files import save_figure


def report(output) -> str:
    """The table, and the plot beside the results file (unless CELLSWEEP_NO_PLOTS=1)."""
    from cellsweep.sweep.convergence import error_table, format_table, spec_of
    from cellsweep.sweep.store import ResultsFile

    output = Path(output)
    spec = spec_of(ResultsFile(output))
    table = error_table(ResultsFile(output), spec)
    text = format_table(table, spec)
    if os.environ.get("CELLSWEEP_NO_PLOTS") != "1":
        path = output.with_name(output.stem + "_convergence.png")
        plot_convergence(table, spec, path)
        text += f"\nconvergence plot written to {path}"
    return text


def plot_convergence(table: dict, spec, path: Path) -> Path:
    """Error per level (log scale, the tolerance as a line) beside the cost per level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table["rows"][1:]
    levels = [r["level"] for r in rows]
    fig, (ax_err, ax_cost) = plt.subplots(1, 2, figsize=(10, 4))
    for rec in spec.recordings:
        ax_err.plot(levels, [r["errors"][rec] for r in rows], "o-", label=rec)
    ax_err.plot(levels, [r["average"] for r in rows], "ks--", label="average")
    ax_err.axhline(spec.tolerance, color="grey", lw=0.8, ls=":", label="tolerance")
    ax_err.set_yscale("log")
    ax_err.set_xlabel(spec.parameter)
    ax_err.set_ylabel(f"mean |difference| from {spec.reference:g}")
    ax_err.legend(fontsize=8)
    ax_cost.plot(levels, [r["simulate_s"] for r in rows], "o-", color="C3")
    ax_cost.set_xlabel(spec.parameter)
    ax_cost.set_ylabel("simulate time per evaluation (s)", color="C3")
    twin = ax_cost.twinx()
    twin.plot(levels, [r["nseg"] for r in rows], "s--", color="C0")
    twin.set_ylabel("segments in the cell", color="C0")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    return path


def _numbers(text: str, option: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected numbers separated by commas, e.g. "
                                 "1,3,5,11", param_hint=option) from None


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--parameter", default=None, metavar="NAME",
              help="The discretisation parameter (nseg.<region>, nseg.d_lambda); default: "
                   "convergence.parameter.")
@click.option("--levels", default=None, metavar="A,B,...",
              help="Its levels, comma-separated; default: convergence.levels.")
@click.option("--reference", type=float, default=None,
              help="The reference level; default: convergence.reference.")
@click.option("--tolerance", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Largest acceptable average error (the recordings' units); default: "
                   "convergence.tolerance, else 0.1.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Results file (.h5). Default: run.output, else "
                   "results/<config>_convergence.h5.")
@click.option("--workers", "-n", type=click.IntRange(min=1), default=None,
              help="Local evaluation processes (default: one per core). Ignored under MPI.")
@click.option("--backend", type=click.Choice(["serial", "processes", "mpi"]), default=None,
              help="Default: mpi when started by mpiexec/srun, else processes.")
@click.option("--restart", is_flag=True, help="Discard an existing output and start over.")
def convergence(config, parameter, levels, reference, tolerance, output, workers, backend,
                restart):
    """Run a discretisation study: the config's convergence: section (or the options) names a
    parameter, its levels and a reference level; every level is evaluated (crossed with the
    section's further axes), and the mean absolute difference of each recording from the
    reference is printed per level, with the cheapest level within the tolerance and a plot.
    Exit status as for run."""
    from cellsweep.launch.run import main_run

    overrides = {key: value for key, value in (
        ("parameter", parameter), ("reference", reference), ("tolerance", tolerance),
        ("levels", _numbers(levels, "--levels") if levels is not None else None))
        if value is not None}
    main_run(config, output, workers, backend, restart, None, kind="convergence",
             options={"overrides": overrides})
