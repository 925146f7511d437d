"""The ``cellsweep`` command line.

Every command validates its whole input first. Bad input ends with one line per problem on
stderr (``error: file: key: what is wrong``) and exit status 2, before any simulation runs and
before anything is written.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import click

from cells.errors import FrameworkError

os.environ.setdefault("NEURON_INIT_MPI", "0")   # each process runs its own plain NEURON


class UsageProblem(FrameworkError):
    """A command-line value that is wrong (reported like a config problem)."""


def fail(exc: Exception) -> None:
    problems = getattr(exc, "problems", None) or [str(exc)]
    for line in problems:
        click.echo(f"error: {line}", err=True)
    sys.exit(2)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FrameworkError as exc:
            fail(exc)


@click.group(cls=_Group)
@click.version_option(package_name="cellsweep")
def main():
    """Parameter sweeps and optimisations of detailed NEURON cell models."""


def parse_sets(items) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageProblem(f"--set {item!r}: expected name=value, e.g. --set gbar_na_t.somatic=0.05")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise UsageProblem(f"--set {item!r}: value {value!r} is not a number") from None
    return out


def check_output_path(path: Path, option: str) -> Path:
    """Refuse an output path that cannot be written, before any work starts."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if path.exists() and path.is_dir():
        raise UsageProblem(f"{option} {path}: is a directory; expected a file path")
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageProblem(f"{option} {path}: cannot create files in {probe}; choose a "
                           "writable location")
    return path


def _load(config, extra=()):
    from cells.loader import load_model

    return load_model(config, extra_parameters=extra)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
def validate(config):
    """Check a config file completely, without simulating anything."""
    model, _ = _load(config)
    free = model.free_parameters
    click.echo(f"{model.source}: valid")
    click.echo(f"  cell {model.cell.name}: morphology {model.cell.morphology.name}, "
               f"{len(model.parameters)} parameters ({len(free)} free)")
    click.echo(f"  {len(model.protocols)} protocols: {', '.join(p.name for p in model.protocols)}")
    click.echo(f"  {len(model.features)} features")


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter (repeatable). Free parameters default to their 'default' "
                   "or the middle of their bounds.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the trace plot (PNG). Default: results/<config>_traces.png")
@click.option("--no-plot", is_flag=True, help="Do not write a trace plot.")
def evaluate(config, sets, plot_path, no_plot):
    """Evaluate one parameter set and print its features and scores."""
    overrides = parse_sets(sets)
    model, _ = _load(config, extra=tuple(overrides))
    if not no_plot:
        plot_path = check_output_path(
            Path(plot_path) if plot_path else Path("results") / f"{Path(config).stem}_traces.png",
            "--plot")
    from cells.evaluate import evaluate as run_one

    result = run_one(model, overrides, traces=not no_plot)
    click.echo(format_evaluation(model, result))
    if not no_plot and result.traces:
        from launch.plots import plot_traces

        plot_path.parent.mkdir(parents=True, exist_ok=True)
        plot_traces(model, result, plot_path)
        click.echo(f"traces written to {plot_path}")
    if result.status != "ok":
        sys.exit(1)


def format_evaluation(model, result) -> str:
    lines = []
    values = dict(model.default_values())
    values.update(result.params)
    free = {p.name for p in model.free_parameters}
    shown = [n for n in values if n in free or n in result.params]
    if shown:
        lines.append("parameters:")
        width = max(len(n) for n in shown)
        lines += [f"  {n:<{width}}  {values[n]:.6g}" for n in shown]
    if result.features:
        width = max(len(f.name) for f in model.features)
        lines.append(f"{'feature':<{width}}  {'value':>12}  {'target':>20}  {'score':>8}")
        for f in model.features:
            v = result.features.get(f.name, math.nan)
            shown_v = "missing" if f.name in result.missing else f"{v:.5g}"
            target = f"{f.mean:.4g} ± {f.std:.3g}"
            lines.append(f"{f.name:<{width}}  {shown_v:>12}  {target:>20}  "
                         f"{result.scores.get(f.name, math.nan):8.3f}")
        lines.append(f"{'total score':<{width}}  {'':>12}  {'':>20}  {result.total_score:8.3f}")
    t = result.timings
    lines.append(f"status: {result.status}" + (f" ({result.message})" if result.message else ""))
    lines.append("time: " + ", ".join(f"{k} {1000 * t[k]:.1f} ms" for k in
                                     ("build", "parameters", "simulate", "features", "overhead",
                                      "total") if k in t))
    if result.nseg:
        lines.append("segments: " + ", ".join(f"{k} {v}" for k, v in result.nseg.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
