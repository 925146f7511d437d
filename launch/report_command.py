"""``cellsweep report RESULTS [--output FILE.html]``: the campaign report, one HTML page.

The input is checked first (a results file, or a running campaign's file and journal, as
``status`` and ``export`` read it) and so is the output (an ``.html`` name in a writable place,
never a results file, journal or lock); then ``sweep.report_data`` computes the sections,
``launch.report_page`` draws them, and the page is written under a temporary name and renamed
into place. The best set's targets come from the config text stored in the file (read with
the files it names where the campaign found them); without them the page says so.
"""

from __future__ import annotations

from pathlib import Path

import click

SUFFIXES = (".html", ".htm")


def default_output(results: Path) -> Path:
    """``<results without .h5>.report.html`` beside the results file."""
    return results.with_name(results.stem + ".report.html")


@click.command()
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="The page to write (.html). Default: <results>.report.html beside the "
                   "results file.")
@click.option("--points", type=click.IntRange(min=100, max=100_000), default=2000,
              show_default=True,
              help="Points drawn per scatter plot at most (a fixed-seed random sample; the "
                   "page says so).")
def report(results, output, points):
    """One self-contained HTML page about a campaign (while it runs, or after): provenance,
    status, failures by message, the worker timeline, the response (curves, heatmaps or a
    scatter matrix), an optimisation's convergence, Pareto front and hall of fame, a profile's
    measures, sensitivity indices when the design allows, the slowest evaluations. Prints the
    page's path."""
    from cellsweep.launch.cli import _results_path

    path = Path(results)
    out = check_report_output(path, Path(output) if output else default_output(path))
    path = _results_path(path)
    from cellsweep.launch.report_page import render
    from cellsweep.sweep.report_data import gather

    data = gather(path, points=points)
    targets = campaign_targets(path, data) if data["optimisation"] is not None else {}
    write_page(out, render(data, targets))
    click.echo(str(out))


def check_report_output(results: Path, out: Path) -> Path:
    """The output page, or ``UsageProblem`` before anything is written."""
    from cellsweep.launch.cli import UsageProblem, check_output_path
    from cellsweep.sweep.results import export_problems

    if out.suffix.lower() not in SUFFIXES:
        raise UsageProblem(f"--output {out}: not an HTML file name; expected a name ending in "
                           ".html, e.g. --output report.html")
    problems = export_problems(results, out, "--output")
    if problems:
        raise UsageProblem(problems[0])
    return check_output_path(out, "--output")


def write_page(out: Path, text: str) -> None:
    from cellsweep.launch.files import write_atomically

    try:
        write_atomically(out, text)
    except OSError as exc:
        from cellsweep.launch.cli import UsageProblem

        raise UsageProblem(f"--output {out}: cannot write ({exc.strerror or exc})") from None


def campaign_targets(path: Path, data: dict) -> dict:
    """{feature: (mean, std)} from the config text the results file holds, or {} when it
    cannot be read (a file it names has moved, or it is not a config of this cellsweep)."""
    from cellsweep.cells.errors import FrameworkError
    from cellsweep.cells.loader import load_model
    from cellsweep.cells.schema import ConfigSource, parse_yaml

    prov = data["provenance"]
    where = prov["attributes"].get("config_from_output")
    config = path.parent / where if where else path.with_suffix(".yaml")
    try:
        source = ConfigSource(path=config, text=prov["config"],
                              data=parse_yaml(prov["config"], config))
        model, _ = load_model(source)
    except (FrameworkError, OSError, ValueError, TypeError, KeyError):
        return {}
    return {f.name: (float(f.mean), float(f.std)) for f in model.features}
