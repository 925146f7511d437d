"""``cellsweep shape``: the cell drawn with every segment coloured by a variable at a time of a
protocol, or by a parameter's value per segment; a PNG (matplotlib, a projection) and/or a
self-contained interactive page (plotly). ``cellsweep plot RESULTS --shape ID`` draws a point
of a results file the same way (``plot_point``).

``--time`` takes one time, several, or a range ``START:STOP:STEP`` (ms, STOP included when
the steps reach it): several times make the page an animation and the PNG small multiples
(``launch.shape_plot``), all from the one run.

Every problem of the command line (protocol, time, variable, parameter, outputs, parameter
values) is reported together, one line each, exit status 2, before anything is simulated or
written; a variable that exists nowhere on the cell is found once the cell is built, before
the protocol runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from cellsweep.launch.shape_plot import MAX_FRAMES, MAX_PANELS, PROJECTIONS, SUFFIXES


def request_from(variable, protocol, time_ms, parameter):
    """A ``ShapeRequest`` from the options; refuses a parameter mixed with a variable's."""
    from cellsweep.cells.shape_values import ShapeRequest
    from cellsweep.launch.cli import UsageProblem

    if parameter is not None:
        given = [o for o, v in (("--variable", variable), ("--protocol", protocol),
                                ("--time", time_ms)) if v is not None]
        if given:
            raise UsageProblem(f"--parameter {parameter} with {', '.join(given)}: a parameter's "
                               "values do not depend on a protocol or a time; expected "
                               "--parameter alone, or --variable/--protocol/--time")
        return ShapeRequest(parameter=parameter)
    return ShapeRequest(variable=variable or "v", protocol=protocol or "", time_ms=time_ms)


def parse_times(texts) -> tuple[tuple, list[str]]:
    """``(times, problems)`` from the ``--time`` values: numbers and ``START:STOP:STEP``
    ranges, sorted, each time once; one problem per value that is not one."""
    import math

    times, problems = [], []
    for text in texts:
        parts = str(text).split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = None
        if numbers is None or len(numbers) not in (1, 3) \
                or not all(math.isfinite(v) for v in numbers):
            problems.append(f"--time {text}: expected a time in ms (211.6) or a range "
                            "START:STOP:STEP (210:214:0.1)")
            continue
        if len(numbers) == 1:
            times.append(numbers[0])
            continue
        start, stop, step = numbers
        if step <= 0:
            problems.append(f"--time {text}: the step must be > 0 ms; expected START:STOP:STEP "
                            "with STEP > 0, e.g. 210:214:0.1")
        elif stop < start:
            problems.append(f"--time {text}: STOP is before START; expected START <= STOP")
        else:
            count = int(math.floor((stop - start) / step * (1 + 1e-12) + 1e-9)) + 1
            if count > MAX_FRAMES:
                problems.append(f"--time {text}: {count} times; an animated page holds at "
                                f"most {MAX_FRAMES} frames, expected a larger step or a "
                                "shorter range")
                continue
            times += [round(start + k * step, 9) for k in range(count)]
    return tuple(sorted(set(times))), problems


def count_problems(times, outputs) -> list[str]:
    """Several times: at most MAX_FRAMES frames on a page, MAX_PANELS panels in a PNG."""
    if len(times) < 2:
        return []
    out = []
    suffixes = {Path(p).suffix.lower() for p in outputs}
    if ".html" in suffixes and len(times) > MAX_FRAMES:
        out.append(f"--time: {len(times)} times; an animated page holds at most {MAX_FRAMES} "
                   "frames, expected a larger step or a shorter range")
    if ".png" in suffixes and len(times) > MAX_PANELS:
        out.append(f"--time: {len(times)} times; a PNG holds at most {MAX_PANELS} panels, "
                   "expected fewer times or an --output FILE.html (an animation)")
    return out


def output_problems(outputs) -> list[str]:
    from cellsweep.launch.cli import UsageProblem, check_output_path

    out = []
    for path in outputs:
        path = Path(path)
        if path.suffix.lower() not in SUFFIXES:
            out.append(f"--output {path}: expected a .png or .html file name, e.g. "
                       "--output results/shape.png")
            continue
        try:
            check_output_path(path, "--output")
        except UsageProblem as exc:
            out.append(str(exc))
    return out


def draw(model, params: dict, request, outputs, projection: str, problems=()) -> list[Path]:
    """Check everything, then simulate (or parameterise) once and write every output."""
    from cellsweep.cells.errors import ConfigError
    from cellsweep.cells.shape_values import completed, request_problems, shape_values
    from cellsweep.launch.checks import check_before_run
    from cellsweep.launch.shape_plot import write

    request = completed(model, request)
    problems = list(problems) + request_problems(model, request) + output_problems(outputs) \
        + count_problems(request.times_ms, outputs)
    if problems:
        raise ConfigError(problems)
    check_before_run(model)
    values = shape_values(model, params, request)
    return [write(values, Path(path), projection) for path in outputs]


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter (repeatable); others take their defaults.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False), default=None,
              help="A parameter set from a file (the output of 'cellsweep best', a mapping, "
                   "a CSV row); --set overrides it.")
@click.option("--protocol", default=None, help="The protocol to run (default: the first).")
@click.option("--time", "time_texts", multiple=True, metavar="T|START:STOP:STEP",
              help="The time (ms) of the protocol to show (default: its end). Several "
                   f"--time values or a range START:STOP:STEP: an animated page (at most "
                   f"{MAX_FRAMES} frames) or small multiples in a PNG (at most {MAX_PANELS}).")
@click.option("--variable", default=None,
              help="What to colour by: v (default), a current (ina, ik, ihcn_ih), a mechanism's "
                   "range variable (m_na_t, gbar_ih), an ion concentration (cai), an rxd "
                   "species (ca or ca[cyt]).")
@click.option("--parameter", default=None,
              help="Colour by this parameter's value per segment instead (e.g. gbar_ih.apical, "
                   "with its distribution).")
@click.option("--projection", type=click.Choice(sorted(PROJECTIONS)), default="xy",
              show_default=True, help="The plane of the PNG.")
@click.option("--output", "-o", "outputs", multiple=True, type=click.Path(dir_okay=False),
              help="A .png or .html file (repeatable: both from one run). Default: "
                   "results/<config>_shape.png")
def shape(config, sets, params_file, protocol, time_texts, variable, parameter, projection,
          outputs):
    """Draw the cell coloured by a variable at a time of a protocol (the run an evaluation
    makes, every segment recorded) or by a parameter's value per segment: a PNG with a colour
    bar, or an interactive 3-D page (rotatable, hover shows section, segment and value) that
    works offline."""
    from cellsweep.cells.errors import SimulationError
    from cellsweep.cells.schema import ConfigSource
    from cellsweep.cells.values import override_problems
    from cellsweep.launch.cli import _load, params_from_file, parse_sets

    source = ConfigSource.read(config)
    overrides = params_from_file(params_file, source)
    sets = parse_sets(sets)
    model, _ = _load(source, extra=tuple({**overrides, **sets}))
    problems = [f"{where}: {message}" for where, message in
                override_problems(model, overrides, f"--params {params_file}")
                + override_problems(model, sets, "--set")]
    times, time_problems = parse_times(time_texts)
    problems += time_problems
    # with a bad --time (reported already) the other checks still run, at time 0
    time_ms = times[0] if times else (0.0 if time_texts else None)
    request = request_from(variable, protocol, time_ms, parameter)
    if len(times) > 1 and request.parameter == "":
        request = dataclasses.replace(request, times_ms=times)
    outputs = outputs or (str(Path("results") / f"{Path(config).stem}_shape.png"),)
    try:
        written = draw(model, {**overrides, **sets}, request, outputs, projection, problems)
    except SimulationError as exc:        # the model failed to simulate: not bad input
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    for path in written:
        click.echo(f"shape written to {path}")


def plot_point(path: Path, point: int, out_dir: Path, request, projection: str,
               config=None) -> list[Path]:
    """``cellsweep plot RESULTS --shape ID``: that point's parameters re-simulated with the
    campaign's model, drawn as ``shape_<ID>.png`` and ``shape_<ID>.html`` in ``out_dir``."""
    from cellsweep.launch.cli import UsageProblem, campaign_model
    from cellsweep.sweep.store import ResultsFile

    f = ResultsFile(path)
    if f.kind == "profile":
        raise UsageProblem(f"--shape {point}: {path} is a profile, whose rows are experiments "
                           "of one parameter set; draw it with cellsweep shape CONFIG --params")
    ids = f.column("eval_id")[:]
    done = f.done()
    rows = [j for j in range(len(ids)) if int(ids[j]) == point and done[j]]
    if not rows:
        known = int(done.sum())
        raise UsageProblem(f"--shape {point}: no point {point} with a result in {path}; "
                           f"expected the id of one of its {known} evaluated points")
    params = dict(zip(f.param_names, (float(v) for v in f.column("parameters")[rows[0]])))
    model = campaign_model(path, config, extra=tuple(params))
    outputs = [Path(out_dir) / f"shape_{point}.png", Path(out_dir) / f"shape_{point}.html"]
    return draw(model, params, request, outputs, projection)
