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

from cellsweep.cells.errors import FrameworkError

os.environ.setdefault("NEURON_INIT_MPI", "0")   # each process runs its own plain NEURON


class UsageProblem(FrameworkError):
    """A command-line value that is wrong (reported like a config problem)."""


def fail(exc: Exception) -> None:
    problems = getattr(exc, "problems", None) or [str(exc)]
    for line in problems:
        click.echo(f"error: {line}", err=True)
    sys.exit(2)


def usage_error(exc: click.UsageError, group_ctx=None) -> None:
    """Command-line misuse (unknown option, missing argument, bad choice) as one line:
    ``error: <command>: <click's message>``, exit 2 (click's own form is a usage block)."""
    ctx = exc.ctx
    if ctx is not None and ctx.parent is not None:
        name = ctx.command.name
    else:       # some parser errors carry no context: the command being parsed, if known
        name = getattr(group_ctx, "invoked_subcommand", None) or "cellsweep"
    message = "; ".join(line.strip() for line in exc.format_message().splitlines()
                        if line.strip())
    click.echo(f"error: {name}: {message}", err=True)
    sys.exit(2)


class _Group(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise                         # bare ``cellsweep``: the help, as click shows it
        except click.UsageError as exc:
            usage_error(exc)

    def invoke(self, ctx):
        from cellsweep.sweep.store import FormatError

        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            usage_error(exc, ctx)
        except (FrameworkError, FormatError) as exc:
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
    from cellsweep.cells.loader import load_model

    return load_model(config, extra_parameters=extra)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Check this output path instead of the config's run.output, as run would.")
def validate(config, output):
    """Check a config file completely, without simulating anything: every check that
    ``run`` makes before it starts (model, locations on the real cell, mechanisms, sweep or
    optimise section, run section, output path)."""
    from cellsweep.cells.schema import ConfigSource
    from cellsweep.launch.campaigns import kind_of
    from cellsweep.launch.checks import check_before_run

    source = ConfigSource.read(config)
    kind = kind_of(source, required=False)
    plan = kind.prepare(source, output=output) if kind is not None else None
    model = plan.model if plan is not None else _load(source)[0]
    check_before_run(model)
    free = model.free_parameters
    click.echo(f"{model.source}: valid")
    click.echo(f"  cell {model.cell.name}: morphology {model.cell.geometry_name}, "
               f"{len(model.parameters)} parameters ({len(free)} free)")
    for line in morphology_summary(model):
        click.echo(f"  {line}")
    click.echo(f"  {len(model.protocols)} protocols: {', '.join(p.name for p in model.protocols)}")
    click.echo(f"  {len(model.features)} features")
    if plan is not None:
        from cellsweep.cells.config import display_path

        click.echo(f"  {kind.describe(plan)} -> {display_path(plan.run.output)}")


def morphology_summary(model) -> list[str]:
    """What the morphology becomes in NEURON (soma convention, attachments, warnings)."""
    from cellsweep.cells.morphology_check import check_morphology, topology_report

    if model.cell.morphology is None:
        sections = model.cell.sections
        return [f"{len(sections)} stylised sections (exact L and diam): "
                + ", ".join(f"{s.name} L {s.L:g} um" for s in sections[:6])
                + (", ..." if len(sections) > 6 else "")]
    warnings = [f"warning: {issue}" for issue in check_morphology(model.cell.morphology)
                if issue.severity != "error"]
    return topology_report(model.cell.morphology) + warnings + inspection_summary(
        model.cell.morphology)


def inspection_summary(path) -> list[str]:
    """One line on what ``cellsweep morphology`` would flag beyond the checker's warnings."""
    from collections import Counter

    from cellsweep.cells.config import display_path
    from cellsweep.cells.morphology_inspect import inspect_morphology

    found = Counter(f.code for f in inspect_morphology(path).findings
                    if f.level == "warning" and not f.code.startswith("check-"))
    if not found:
        return []
    codes = ", ".join(f"{code} {n}" if n > 1 else code for code, n in sorted(found.items()))
    return [f"morphology findings: {codes} (cellsweep morphology {display_path(path)})"]


def params_from_file(params_file, config) -> dict:
    """``--params FILE`` as parameter values ({} without one); a CSV row of an exported results
    table keeps only its parameter columns (its feature columns are not parameters)."""
    overrides = read_params_file(params_file) if params_file else {}
    if overrides and Path(params_file).suffix.lower() == ".csv":
        features = {f.name for f in _load(config)[0].features}
        overrides = {k: v for k, v in overrides.items() if k not in features}
    return overrides


def read_params_file(path) -> dict:
    """A parameter set from a file: the output of ``cellsweep best`` (YAML or JSON: a list of
    sets, the first is taken, or one set), a plain {name: value} mapping, or a CSV whose first
    row (after the header) is taken."""
    import csv
    import json

    path = Path(path)
    where = f"--params {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"{where}: cannot read ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".csv":
        rows = [r for r in csv.DictReader(text.splitlines())]
        if not rows:
            raise UsageProblem(f"{where}: expected a header row and one row of values")
        data = rows[0]
    else:
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise UsageProblem(f"{where}: not valid JSON ({str(exc).splitlines()[0][:200]})") \
                    from None
        else:      # the config's own loader: duplicate keys, nesting and aliases bounded
            from cellsweep.cells.schema import parse_yaml_value

            data = parse_yaml_value(text, where)
        if isinstance(data, list):
            if not data:
                raise UsageProblem(f"{where}: an empty list; expected a parameter set")
            data = data[0]
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            data = data["parameters"]
    if not isinstance(data, dict) or not data:
        raise UsageProblem(f"{where}: expected a mapping of parameter names to numbers, or the "
                           "output of cellsweep best")
    out = {}
    for name, value in data.items():
        if name in ("eval_id", "total_score", "status", "generation", "attempt", "worker",
                    "t_start", "t_end", "nseg") or str(name).startswith(("score.", "time.")):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            if path.suffix.lower() == ".csv":
                continue                  # a results row's text columns (message, host)
            raise UsageProblem(f"{where}: {name}: expected a number, found {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise UsageProblem(f"{where}: {name}: expected a finite number, found {value!r}")
        out[str(name)] = number
    return out


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter (repeatable). Free parameters default to their 'default' "
                   "or the middle of their bounds.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Where to write the trace plot (PNG). Default: results/<config>_traces.png")
@click.option("--params", "params_file", type=click.Path(dir_okay=False), default=None,
              help="A parameter set from a file: the output of 'cellsweep best' (YAML or "
                   "JSON), a {name: value} mapping, or a CSV (its first row). --set overrides it.")
@click.option("--no-plot", is_flag=True, help="Do not write a trace plot.")
def evaluate(config, sets, plot_path, params_file, no_plot):
    """Evaluate one parameter set and print its features and scores."""
    from cellsweep.launch.checks import check_before_run

    from cellsweep.cells.schema import ConfigSource

    source = ConfigSource.read(config)
    overrides = params_from_file(params_file, source)
    sets = parse_sets(sets)
    model, _ = _load(source, extra=tuple({**overrides, **sets}))
    # the same rule for these values as for the config's (cells.values)
    from cellsweep.cells.values import override_problems

    bad = override_problems(model, overrides, f"--params {params_file}") + \
        override_problems(model, sets, "--set")
    if bad:
        from cellsweep.cells.errors import ConfigError

        raise ConfigError([f"{where}: {message}" for where, message in bad])
    overrides.update(sets)
    check_before_run(model)
    if not no_plot:
        plot_path = check_output_path(
            Path(plot_path) if plot_path else Path("results") / f"{Path(config).stem}_traces.png",
            "--plot")
        if plot_path.suffix.lower() != ".png":
            raise UsageProblem(f"--plot {plot_path}: not a PNG file name; expected a .png file "
                               "name, e.g. --plot results/traces.png")
    from cellsweep.cells.evaluate import evaluate as run_one

    result = run_one(model, overrides, traces=not no_plot)
    click.echo(f"morphology {model.cell.geometry_name}:")
    for line in morphology_summary(model):
        click.echo(f"  {line}")
    click.echo(format_evaluation(model, result))
    if not no_plot and result.traces:
        from cellsweep.launch.plots import plot_traces

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


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Results file (.h5). Default: run.output of the config, else "
                   "results/<config>.h5.")
@click.option("--workers", "-n", type=click.IntRange(min=1), default=None,
              help="Local evaluation processes (default: one per core). Ignored under MPI.")
@click.option("--backend", type=click.Choice(["serial", "processes", "mpi"]), default=None,
              help="Default: mpi when started by mpiexec/srun, else processes.")
@click.option("--restart", is_flag=True,
              help="Discard an existing output for this config and start over.")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the outcome as JSON (exit status, why it stopped, evaluations "
                   "this run): what a job script needs to decide on resubmitting.")
def run(config, output, workers, backend, restart, summary_path):
    """Run the config's campaign (a sweep or an optimisation) into one resumable HDF5 file;
    rerun the same command to resume. Exit status 0 complete, 2 bad input, 3 stopped by the
    wall-time warning (SIGUSR1), 4 stopped by SIGTERM/SIGINT; after 3 or 4 rerun to resume."""
    from cellsweep.launch.run import main_run

    main_run(config, output, workers, backend, restart, summary_path)


def _results_path(path, partial: bool = False, warn: bool = True) -> Path:
    """A results file a reader can open; anything else is refused with what it is.

    ``partial`` (``status``): also the journal of a campaign that has not written its HDF5
    file yet. The other readers need the HDF5 file (with a journal beside it, they read both);
    an incomplete HDF5 file without its journal is read only if its rows agree with its last
    commit (a warning says it is incomplete, unless not ``warn``: the caller checks more first
    and calls again)."""
    from cellsweep.sweep.store import FormatError, ResultsFile, paths, read_journal

    path = Path(path)
    journal = paths(path)[0]
    if path.is_dir():
        raise UsageProblem(f"{path}: is a directory; expected a results file (.h5)")
    if not path.exists() and not journal.exists():
        raise UsageProblem(f"{path}: no such results file")
    has_journal = journal.exists() and read_journal(path)[0] is not None
    if not path.exists():
        if not has_journal:
            raise UsageProblem(f"{path}: no such results file ({journal.name} beside it is not "
                               "a cellsweep journal)")
        if partial:
            return path
        from cellsweep.sweep.results import current

        current(path)                         # raises FormatError: only a journal, no file
    try:
        f = ResultsFile(path, attempts=3)
    except FormatError as exc:
        if partial and has_journal:
            return path                       # status reads the journal (and says so)
        raise UsageProblem(str(exc) + ("; its journal is intact: cellsweep run rebuilds the file "
                                       "from it" if has_journal else "")) from None
    if not has_journal and not f.complete and not partial:
        held = int(f.done().sum())
        if held != f.n_committed:
            raise UsageProblem(f"{path}: incomplete and without its journal, and torn: {held} "
                               f"rows hold results, its last commit says {f.n_committed}; "
                               "expected a complete results file or the journal beside it")
        if warn:
            click.echo(f"warning: {path}: incomplete ({held} of {f.n_rows} results) and without "
                       "its journal", err=True)
    return path


@main.command()
@click.argument("results", type=click.Path(dir_okay=False))
def status(results):
    """Done / failed / pending, rate and ETA of a campaign (while it runs, or after); from its
    journal when there is one, saying how much of it the HDF5 file holds."""
    from cellsweep.sweep.progress import format_seconds
    from cellsweep.sweep.results import status as read_status

    info = read_status(_results_path(results, partial=True))
    state = "running" if info["running"] else ("complete" if info["complete"] else "stopped")
    if not info["journal"] and not info["complete"]:
        state = "incomplete, without its journal"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info["counts"].items())) or "none yet"
    click.echo(f"{results}: {state}")
    click.echo(f"  {info['done']}/{info['total']} done ({counts}), {info['pending']} pending")
    if info["unreadable"]:
        click.echo(f"  the HDF5 file cannot be read ({info['unreadable']}); the journal holds "
                   "all of them: cellsweep run rebuilds the file from it")
    elif info["journal"] and info["in_file"] is None:
        click.echo(f"  no HDF5 file yet: all {info['done']} in the journal only")
    elif info["journal"] and info["in_file"] < info["done"]:
        click.echo(f"  the HDF5 file holds {info['in_file']} of them, the journal all "
                   f"{info['done']}")
    elif not info["journal"] and not info["complete"]:
        if info["in_file"] != info["done"]:
            click.echo(f"  torn: {info['done']} rows hold results, its last commit says "
                       f"{info['in_file']} (killed while it was written)")
        click.echo("  its journal is gone: cellsweep run cannot resume it (--restart starts over)")
    if info["rate_per_s"] == info["rate_per_s"]:
        click.echo(f"  rate {info['rate_per_s']:.2f} eval/s"
                   + (f", ETA {format_seconds(info['eta_s'])}" if info["pending"] else ""))
    if info["complete"] and _kind(results) == "profile":
        from cellsweep.sweep.profile_campaign import table_text

        click.echo(table_text(results))


def _kind(path) -> str:
    from cellsweep.sweep.store import ResultsFile

    try:
        return ResultsFile(path).kind
    except Exception:  # noqa: BLE001 - only for choosing what to print
        return ""


def _not_for_profiles(path, command: str) -> None:
    """A profile file's rows are experiments of one parameter set, not candidates."""
    if _kind(path) == "profile":
        raise UsageProblem(f"{path}: a profile (one parameter set, no scores): {command} ranks "
                           "the parameter sets of a sweep or an optimisation; the profile's "
                           "measures are printed by cellsweep status and cellsweep profile")


@main.command()
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Write the table as CSV to this file.")
@click.option("--sqlite", "sqlite_path", type=click.Path(dir_okay=False), default=None,
              help="Write the table into this SQLite database (a table of that name in an "
                   "existing database is replaced).")
@click.option("--table", default="results", show_default=True, help="SQLite table name.")
@click.option("--npz", "npz_path", type=click.Path(dir_okay=False), default=None,
              help="Write theta (parameters), x (features), valid, ids, theta_names, x_names "
                   "and the prior bounds lower/upper as a numpy .npz: simulation-based "
                   "inference's training data (docs/SENSITIVITY.md).")
def export(results, csv_path, sqlite_path, table, npz_path):
    """Export the results table to CSV and/or SQLite. A stopped or running campaign's results
    are those of its journal (the HDF5 file may lag behind). Outputs are written under a
    temporary name and renamed at the end; missing directories are created. An output that is
    a results file, its journal or lock (this or another campaign's) is refused."""
    from cellsweep.sweep.results import export as do_export

    if not csv_path and not sqlite_path and not npz_path:
        raise UsageProblem("export: give --csv FILE, --sqlite FILE and/or --npz FILE")
    for option, value in (("--csv", csv_path), ("--sqlite", sqlite_path), ("--npz", npz_path)):
        if value:
            check_output_path(Path(value), option)
    path = _results_path(results)
    rows, lag = do_export(path, csv=csv_path, sqlite=sqlite_path, table=table, npz=npz_path)
    click.echo(f"{rows} rows exported" + (f" ({lag} of them from the journal, not yet in the "
                                          "HDF5 file)" if lag else ""))


@main.command()
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the PNG files. Default: <results>_plots/ beside the file.")
@click.option("--points", default="", help="Comma-separated point ids whose stored traces to plot.")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="The campaign's config, to plot an optimisation's best traces (default: "
                   "where the campaign found it, if it is unchanged).")
@click.option("--shape", "shape_point", type=int, default=None, metavar="POINT_ID",
              help="Instead: draw the cell of this point (its parameters re-simulated), "
                   "shape_<ID>.png and .html; with --protocol/--time/--variable or "
                   "--parameter as for cellsweep shape.")
@click.option("--protocol", default=None, help="With --shape: the protocol (default: the first).")
@click.option("--time", "time_ms", type=float, default=None,
              help="With --shape: the time (ms) of the protocol (default: its end).")
@click.option("--variable", default=None, help="With --shape: what to colour by (default v).")
@click.option("--parameter", default=None,
              help="With --shape: colour by this parameter's value per segment instead.")
@click.option("--projection", type=click.Choice(["xy", "xz", "yz"]), default="xy",
              show_default=True, help="With --shape: the plane of the PNG.")
def plot(results, out_dir, points, config, shape_point, protocol, time_ms, variable, parameter,
         projection):
    """Response curves, heatmaps or a scatter matrix of a sweep, and traces of chosen points;
    convergence, Pareto front, hall of fame and best traces of an optimisation; with --shape,
    the cell of one point coloured by a variable or a parameter."""
    from cellsweep.launch.plots import plot_campaign

    from cellsweep.sweep.store import ResultsFile

    try:
        ids = [int(p) for p in points.split(",") if p.strip()]
    except ValueError:
        raise UsageProblem(f"--points {points!r}: expected comma-separated integers") from None
    path = _results_path(results, warn=False)
    shape_options = (protocol, time_ms, variable, parameter)
    if shape_point is None and any(v is not None for v in shape_options):
        raise UsageProblem("--protocol, --time, --variable and --parameter go with --shape "
                           "POINT_ID; expected --shape too")
    if shape_point is not None:
        from cellsweep.launch.shape_command import plot_point, request_from

        if ids:
            raise UsageProblem(f"--shape {shape_point} with --points {points}: expected one "
                               "of them")
        request = request_from(variable, protocol, time_ms, parameter)
        out = Path(out_dir) if out_dir else path.with_name(path.stem + "_plots")
        for written in plot_point(path, shape_point, out, request, projection, config):
            click.echo(f"plot written to {written}")
        return
    if ids:
        f = ResultsFile(path)
        if f.kind == "optimise":
            raise UsageProblem(f"--points {points}: {path} is an optimisation, whose plots take "
                               "no points; expected no --points")
        n = f.status_codes.shape[0]
        wrong = [i for i in ids if not 0 <= i < n]
        if wrong:
            raise UsageProblem(f"--points {points}: no point {', '.join(map(str, wrong))} in "
                               f"{path}; expected point ids 0 to {n - 1}")
        pending = [i for i in ids if f.status_codes[i] < 0]
        if pending:
            raise UsageProblem(f"--points {points}: point {', '.join(map(str, pending))} of "
                               f"{path} has no result yet; expected points with results")
    _results_path(path)                        # its warning, once the input is accepted
    out = Path(out_dir) if out_dir else path.with_name(path.stem + "_plots")
    model = campaign_model(path, config, required=config is not None)
    for written in plot_campaign(path, out, points=ids, model=model):
        click.echo(f"plot written to {written}")


def campaign_model(path: Path, config=None, required: bool = True, extra=()):
    """The model of the config that produced a results file (checked by its signature)."""
    from cellsweep.cells.loader import load_model
    from cellsweep.sweep.engine import campaign_signature
    from cellsweep.sweep.results import metadata

    meta = metadata(path)
    if config is None:
        stored = meta.get("config_from_output")
        if not stored or not (path.parent / stored).is_file():
            if required:
                raise UsageProblem(f"{path}: the campaign's config was not found; give it with "
                                   "--config CONFIG")
            return None
        config = path.parent / stored
    model, data = load_model(config, extra_parameters=tuple(extra))
    if campaign_signature(data, model)[0] != meta.get("config_signature"):
        if required:
            raise UsageProblem(f"{config}: is not the config that produced {path} (the config "
                               "or its morphology/mechanisms changed since)")
        return None
    return model


@main.command()
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("-n", "count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True)
def best(results, count, fmt):
    """The best parameter sets (hall of fame of an optimisation, or lowest total score)."""
    import json

    import yaml

    from cellsweep.sweep.results import best as find_best

    _not_for_profiles(_results_path(results), "best")
    sets = find_best(_results_path(results), count)
    if not sets:
        raise UsageProblem(f"{results}: no successful evaluation yet")
    if fmt == "json":
        click.echo(json.dumps(sets, indent=2))
    else:
        click.echo(yaml.safe_dump(sets, sort_keys=False).rstrip())


@main.command("export-model")
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="The campaign's config (default: where the campaign found it).")
@click.option("--rank", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which of the best parameter sets (0 = the best).")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output directory. Default: <results>_model/ beside the results file.")
@click.option("--format", "fmt", type=click.Choice(["standalone", "dendrotweaks"]),
              default="standalone", show_default=True,
              help="standalone: a NEURON script; dendrotweaks: a DendroTweaks model folder "
                   "(docs/DENDROTWEAKS.md).")
def export_model_command(results, config, rank, out_dir, fmt):
    """Write the best model as a standalone NEURON script (plus its .mod files), or as a
    DendroTweaks model folder."""
    from cellsweep.optimise.export import export_dendrotweaks, export_model
    from cellsweep.sweep.results import best as find_best

    path = _results_path(results)
    _not_for_profiles(path, "export-model")
    sets = find_best(path, rank + 1)
    if len(sets) <= rank:
        raise UsageProblem(f"{path}: only {len(sets)} successful parameter set(s); "
                           f"--rank {rank} does not exist")
    chosen = sets[rank]
    model = campaign_model(path, config, extra=tuple(chosen["parameters"]))
    out = Path(out_dir) if out_dir else path.with_name(path.stem + "_model")
    check_output_path(out / "model.py", "--out")
    if fmt == "dendrotweaks":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageProblem(f"--out {out}: exists and is not an empty folder; expected a new "
                               "folder for the DendroTweaks model")
        written = export_dendrotweaks(model, chosen["parameters"], out)
        click.echo(f"evaluation {chosen['eval_id']} (total score {chosen['total_score']:.4g}) "
                   f"written as the DendroTweaks folder {written} (features are not part of a "
                   "DendroTweaks folder and are not written)")
        return
    written = export_model(model, chosen["parameters"], out)
    click.echo(f"evaluation {chosen['eval_id']} (total score {chosen['total_score']:.4g}) "
               f"exported to {written}")


@main.command("import-dendrotweaks")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The config to write (YAML); the folder's path in it is relative to it.")
@click.option("--morphology", default=None, help="morphology/<NAME>.swc (default: the only one).")
@click.option("--biophys", default=None, help="biophys/<NAME>.json (default: the only one).")
@click.option("--stimuli", multiple=True, help="stimuli/<NAME>/ (repeat; default: the only one).")
def import_dendrotweaks(folder, output, morphology, biophys, stimuli):
    """Write a cellsweep config that reads a DendroTweaks model folder (docs/DENDROTWEAKS.md)."""
    from cellsweep.cells.dendrotweaks_folder import config_text
    from cellsweep.launch.targets_command import write_atomically

    out = check_output_path(Path(output), "--output")
    if out.exists():
        raise UsageProblem(f"--output {out}: exists; choose another name (it is not overwritten)")
    names = list(stimuli) if len(stimuli) > 1 else (stimuli[0] if stimuli else None)
    write_atomically(out, config_text(folder, out, morphology, biophys, names))
    click.echo(f"wrote {out}")


from cellsweep.launch.targets_command import targets as _targets_command  # noqa: E402

main.add_command(_targets_command)


from cellsweep.launch.profile_command import profile  # noqa: E402 - registered after main

main.add_command(profile)

from cellsweep.launch.convergence_command import convergence  # noqa: E402 - after main

main.add_command(convergence)

from cellsweep.launch.morphology_command import morphology  # noqa: E402 - after main

main.add_command(morphology)

from cellsweep.launch.shape_command import shape  # noqa: E402 - registered after main

main.add_command(shape)

from cellsweep.launch.report_command import report  # noqa: E402 - registered after main

main.add_command(report)

from cellsweep.launch.sensitivity_command import sensitivity  # noqa: E402 - after main

main.add_command(sensitivity)

if __name__ == "__main__":
    main()
