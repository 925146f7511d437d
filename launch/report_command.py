"""``cellsweep report RESULTS [--output FILE.html] [--no-simulate]``: the campaign report.

The input is checked first (a results file, or a running campaign's file and journal, as
``status`` and ``export`` read it) and so is the output (an ``.html`` name in a writable place,
never a results file, journal or lock); then ``sweep.report_data`` computes the sections,
``launch.report_page`` draws them, and the page is written under a temporary name and renamed
into place. The best set's targets come from the config text stored in the file (read with
the files it names where the campaign found them); without them the page says so.

When the file stores no traces of the best set, it is re-simulated here (the one layer that
runs NEURON for the report): with the campaign's own model (its config where the campaign found
it, checked by signature), its mechanisms built, in a supervised child process (a crash or an
endless loop costs a note on the page, never the report), and its feature values compared with
the stored ones, which a deterministic evaluation reproduces bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import click

SUFFIXES = (".html", ".htm")
TRACE_SAMPLES = 4000        # samples per re-simulated trace on the page, at most


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
@click.option("--no-simulate", is_flag=True,
              help="Do not re-simulate the best set when the file stores no traces of it.")
def report(results, output, points, no_simulate):
    """One self-contained HTML page about a campaign (while it runs, or after): provenance,
    status, failures by message, the worker timeline, the response (curves, heatmaps or a
    scatter matrix), families of per-row profile curves, an optimisation's convergence, Pareto
    front and hall of fame, the best set against its targets with its traces (re-simulated when
    the file stores none), a profile's measures, sensitivity indices when the design allows, the
    slowest evaluations. Prints the page's path."""
    from cellsweep.launch.cli import _results_path

    path = Path(results)
    out = check_report_output(path, Path(output) if output else default_output(path))
    path = _results_path(path)
    from cellsweep.launch.report_page import render
    from cellsweep.sweep.report_data import gather

    data = gather(path, points=points)
    features = campaign_features(path, data) if data["best"] is not None else {}
    targets = {name: (f["mean"], f["std"]) for name, f in features.items()}
    run = None
    if data["best"] is not None and not data["best"]["traces"]:
        run = ({"note": "not re-simulated (--no-simulate)"} if no_simulate else
               resimulate(path, data["best"]))
    write_page(out, render(data, targets, run, features))
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


def campaign_features(path: Path, data: dict) -> dict:
    """{feature: {"mean", "std", "protocol", "recording", "window_ms"}} from the config text the
    results file holds ("protocol" empty for a profile measure), or {} when it cannot be read
    (a file it names has moved, or it is not a config of this cellsweep)."""
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
    return {f.name: {"mean": float(f.mean), "std": float(f.std),
                     "protocol": "" if f.profile else f.protocol,
                     "recording": "" if f.profile else f.recording,
                     "window_ms": tuple(float(x) for x in f.window_ms) if f.window_ms else None}
            for f in model.features}


def resimulate(path: Path, best: dict) -> dict:
    """The best set evaluated again with the campaign's model: ``{"traces": {protocol:
    {recording: (t, v)}}, "features", "status", "message", "equal", "differs", "note"}``, or
    ``{"note"}`` saying why it was not (no config, a changed config, mechanisms that do not
    build, a failed or crashed evaluation). Never raises for any of these."""
    from cellsweep.cells.errors import FrameworkError
    from cellsweep.launch.checks import check_before_run
    from cellsweep.launch.cli import campaign_model
    from cellsweep.sweep.results import metadata

    stored = metadata(path).get("config_from_output")
    if not stored or not (path.parent / stored).is_file():
        where = f" ({stored}, relative to the results file)" if stored else ""
        return {"note": f"not re-simulated: the campaign's config{where} was not found beside "
                        "the results file"}
    try:
        model = campaign_model(path, None, required=True, extra=tuple(best["parameters"]))
    except (FrameworkError, OSError, ValueError, TypeError, KeyError) as exc:
        return {"note": f"not re-simulated: {_one_line(exc)}"}
    try:
        check_before_run(model, print_warnings=False)
    except (FrameworkError, OSError) as exc:
        return {"note": f"not re-simulated: the mechanisms or locations are unavailable: "
                        f"{_one_line(exc)}"}
    try:
        record, dt = _evaluate_supervised(model, best)
    except Exception as exc:  # noqa: BLE001 - the page is written whatever happens here
        return {"note": f"not re-simulated: {type(exc).__name__}: {_one_line(exc)}"}
    if record.get("status") != "ok":
        return {"note": f"not drawn: the re-simulation ended {record.get('status')} "
                        f"({record.get('message', '')})"}
    import numpy as np

    names = best["feature_names"]
    new = np.asarray(record["features"], dtype=float)
    old = np.asarray(best["features"], dtype=float)
    # bit for bit, but any NaN equals any NaN (a missing feature; its payload means nothing)
    differs = [n for n, a, b in zip(names, old, new)
               if a.tobytes() != b.tobytes() and not (a != a and b != b)]
    same = new.shape == old.shape and not differs
    traces: dict = {}
    for key, values in (record.get("traces") or {}).items():
        if key.startswith("curve:"):
            continue
        protocol, recording = _split_trace(model, key)
        v = np.asarray(values, dtype=float)
        traces.setdefault(protocol, {})[recording] = (np.arange(v.size) * dt, v)
    return {"traces": traces, "features": new, "status": "ok", "equal": same,
            "differs": differs, "dt_ms": dt,
            "note": "re-simulated with the campaign's config: its feature values equal the "
                    "stored ones bit for bit" if same else
                    "re-simulated with the campaign's config, but its feature values DIFFER from "
                    "the stored ones (" + ", ".join(differs) + "): the evaluation is not "
                    "reproducible (a changed mechanism, NEURON or eFEL?)"}


def _evaluate_supervised(model, best: dict) -> tuple[dict, float]:
    """One evaluation of the best set in a supervised child process (the engine's), with
    traces resampled to at most ``TRACE_SAMPLES`` samples each; (its record, the step)."""
    from cellsweep.launch.supervisor import Limits, Supervisor, wait_any
    from cellsweep.sweep.tasks import PointEvaluator

    longest = max((p.tstop_ms for p in model.protocols), default=1.0)
    dt = max(longest / (TRACE_SAMPLES - 1), float(model.simulation.dt_ms))
    evaluator = PointEvaluator(model, tuple(best["parameters"]), trace_dt_ms=dt)
    took = best.get("timings", {}).get("total", float("nan"))
    timeout = 60.0 + 10.0 * (took if took == took else 60.0)
    sup = Supervisor(evaluator, 0, Limits(timeout_s=timeout, max_attempts=1))
    try:
        sup.assign({"id": best["eval_id"], "params": dict(best["parameters"])})
        while True:
            record = sup.poll()
            if record is not None:
                return record, dt
            wait_any([sup], 0.2)
    finally:
        sup.close()


def _split_trace(model, key: str) -> tuple[str, str]:
    """("protocol", "recording") of a ``protocol.recording`` trace key (names may hold dots)."""
    for p in model.protocols:
        for r in p.recordings:
            if key == f"{p.name}.{r.name}":
                return p.name, r.name
    protocol, _, recording = key.partition(".")
    return protocol, recording


def _one_line(exc) -> str:
    """An error's lines (a ``ConfigError`` has one per problem) as one, joined by "; "."""
    return "; ".join(" ".join(line.split()) for line in str(exc).splitlines() if line.strip())
