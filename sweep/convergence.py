"""Discretisation checks: how much do the traces change with nseg (or d_lambda)?

NEURON's ball-and-stick tutorial measures it against a fine reference (dend.nseg = 101): its
"average error" is the mean, over the stimulus amplitudes and the recordings, of the mean
absolute difference of v(t) from the reference's. A ``convergence:`` section asks for that
study: one discretisation parameter at some levels and a reference level, crossed with further
grid axes (the amplitudes) that the error is averaged over. It runs as a grid sweep with stored
traces (a campaign kind: resumable, any executor), and the table is computed from the file, so
it is the same whoever ran the rows and in what order.

Config shape::

    convergence:
      parameter: nseg.basal          # any nseg.* parameter: nseg.<region>, nseg.d_lambda, ...
      levels: [1, 3, 5, 11, 21]
      reference: 101
      parameters:                    # optional further grid axes, averaged over
        pulse.stim.amp_nA: {linspace: [0.075, 0.3, 4]}
      recordings: [pulse.soma, pulse.dend]   # default: every recording
      tolerance: 0.1                 # in the recordings' units (mV for v)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.loader import load_model
from cellsweep.cells.schema import ConfigSource, Problems, Section, as_source, join_path
from cellsweep.cells.values import value_problem
from cellsweep.sweep import campaign, designs, engine
from cellsweep.sweep.campaign import SweepPlan
from cellsweep.sweep.tasks import PointEvaluator

DEFAULT_TOLERANCE = 0.1


@dataclass(frozen=True)
class ConvergenceSpec:
    parameter: str
    levels: tuple                # without the reference
    reference: float
    axes: tuple = ()             # (designs.Axis, ...) averaged over
    recordings: tuple = ()       # ("protocol.recording", ...)
    tolerance: float = DEFAULT_TOLERANCE


@dataclass
class ConvergencePlan(SweepPlan):
    convergence: ConvergenceSpec = None


def declared_names(raw) -> dict:
    """{parameter name: where written} of a raw section, to validate the model with."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    if isinstance(raw.get("parameter"), str):
        out[raw["parameter"]] = "convergence.parameter"
    if isinstance(raw.get("parameters"), dict):
        out.update({n: join_path("convergence.parameters", n) for n in raw["parameters"]
                    if isinstance(n, str)})
    return out


def read_convergence(sec: Section, model) -> ConvergenceSpec | None:
    problems = sec.problems
    name = sec.string("parameter")
    levels = [v for i, v in enumerate(sec.sequence("levels"))
              if _number(v, sec.key_path("levels") + f"[{i}]", problems)]
    reference = sec.number("reference")
    tolerance = sec.number("tolerance", DEFAULT_TOLERANCE, gt=0)
    params = sec.section("parameters")
    axes = [designs.grid_axis(n, v, params.key_path(n), problems) for n, v in params.items()]
    recordings = sec.sequence("recordings", None) or []
    sec.finish()
    if model is None or name is None or reference is None:
        return None
    param = model.parameter(name)
    if param is not None and param.kind != "nseg":
        sec.error("parameter", f"{name} is not a discretisation parameter; expected nseg.<region> "
                               "or nseg.d_lambda (nseg.frequency_hz, nseg.length_um)")
        return None
    if not levels:
        sec.error("levels", "expected at least one level besides the reference")
    for where, value in [(sec.key_path("reference"), reference)] + [
            (f"{sec.key_path('levels')}[{i}]", v) for i, v in enumerate(levels)]:
        problem = value_problem(param, value) if param is not None else ""
        if problem:
            problems.add(where, problem)
    known = [f"{p.name}.{r.name}" for p in model.protocols for r in p.recordings]
    for i, rec in enumerate(recordings):
        if rec not in known:
            problems.add(f"{sec.key_path('recordings')}[{i}]",
                         f"unknown recording {rec!r}; expected <protocol>.<recording>, one of "
                         f"{', '.join(known)}")
    if any(a is None for a in axes) or any(a.name == name for a in axes):
        if all(a is not None for a in axes):
            params.error(name, "the level parameter is not an axis to average over")
        return None
    return ConvergenceSpec(parameter=name, levels=tuple(float(v) for v in levels
                                                        if v != reference),
                           reference=float(reference), axes=tuple(axes),
                           recordings=tuple(recordings) or tuple(known), tolerance=tolerance)


def _number(value, path: str, problems) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(path, f"expected a number, found {value!r}")
        return False
    return True


def prepare(config, output=None, workers=None, overrides=None) -> ConvergencePlan:
    """Read and check the config and its ``convergence:`` section (``overrides``: keys of that
    section given on the command line, which win and count in the campaign's signature)."""
    source: ConfigSource = as_source(config)
    data = dict(source.data)
    problems = Problems(display_path(source.path))
    raw = data.get("convergence")
    if overrides:
        raw = {**(raw if isinstance(raw, dict) else {}), **overrides}
        data["convergence"] = raw
    if raw is None:
        problems.add("convergence", "missing: a convergence study needs a convergence: section "
                                    "(or --parameter, --levels and --reference)")
        problems.raise_if_any()
    try:
        model, data = load_model(dataclasses.replace(source, data=data),
                                 extra_parameters=declared_names(raw))
    except ConfigError as exc:
        model = None
        problems.extend(exc)
    spec = read_convergence(Section(raw, "convergence", problems), model)
    run = engine.read_run(Section(data.get("run"), "run", problems), source.path.parent, output,
                          workers, default_name=f"{source.path.stem}_convergence.h5")
    if run.trace_dt_ms is None and model is not None:     # the comparison needs the traces
        run = dataclasses.replace(run, trace_dt_ms=model.simulation.dt_ms)
    sweep = None
    if spec is not None:
        sweep = designs.SweepSpec(design="grid", axes=(designs.Axis(
            name=spec.parameter, values=(spec.reference,) + spec.levels),) + spec.axes)
        engine.check_traces(model, run, problems, designs.size(sweep))
    problems.raise_if_any()
    evaluator = PointEvaluator(model=model, param_names=tuple(sweep.names),
                               trace_dt_ms=run.trace_dt_ms)
    signature, canonical = engine.campaign_signature(data, model)
    return ConvergencePlan(source=source, model=model, run=run, evaluator=evaluator,
                           signature=signature, signature_data=canonical, sweep=sweep,
                           points=designs.points(sweep), convergence=spec)


def describe(plan: ConvergencePlan, store=None) -> str:
    c = plan.convergence
    text = (f"convergence study of {c.parameter}: {len(c.levels)} levels against "
            f"{c.reference:g}, {plan.n_points // (len(c.levels) + 1)} point(s) each")
    return text if store is None else f"{text}, {store.n_done} of {plan.n_points} done"


# -- the measure -------------------------------------------------------------------------------
def mean_abs_difference(trace, reference) -> float:
    """The tutorial's per-trace error: mean over samples of |v - v_ref| (float64)."""
    return float(np.mean(np.abs(np.asarray(trace, float) - np.asarray(reference, float))))


def error_table(results, spec: ConvergenceSpec) -> dict:
    """Per level: the error per recording (mean over the averaged points), the average error
    (mean over points and recordings: the tutorial's), segments and simulate time.

    ``results`` is a ``ResultsFile``; a level with a failed row has NaN errors."""
    cols = results.columns(include_pending=True)
    ids = np.asarray(cols["eval_id"])
    level = np.asarray(cols[spec.parameter])
    others = [np.asarray(cols[a.name]) for a in spec.axes]
    ok = np.array([s == "ok" for s in cols["status"]])
    traces = results.traces(ids)
    key = [tuple(float(o[i]) for o in others) for i in range(len(ids))]
    ref_row = {key[i]: i for i in range(len(ids)) if level[i] == spec.reference}
    rows = []
    for value in (spec.reference,) + spec.levels:
        mine = [i for i in range(len(ids)) if level[i] == value]
        per_rec = {}
        for rec in spec.recordings:
            protocol, _, name = rec.partition(".")
            data = traces[(protocol, name)][1]
            errors = [mean_abs_difference(data[i], data[ref_row[key[i]]])
                      if ok[i] and ok[ref_row[key[i]]] else np.nan for i in mine]
            per_rec[rec] = float(np.mean(errors))
        rows.append({"level": value, "errors": per_rec,
                     "average": float(np.mean(list(per_rec.values()))),
                     "nseg": int(np.max(np.asarray(cols["nseg"])[mine])),
                     "simulate_s": float(np.mean(np.asarray(cols["time.simulate_s"])[mine]))})
    under = [r for r in rows[1:] if r["average"] <= spec.tolerance]
    cheapest = min(under, key=lambda r: (r["nseg"], r["level"]))["level"] if under else None
    return {"rows": rows, "cheapest": cheapest}


def format_table(table: dict, spec: ConvergenceSpec, units: str = "mV") -> str:
    recs = list(spec.recordings)
    head = ["level", *recs, "average", "nseg (cell)", "simulate_s"]
    lines = [f"convergence of {spec.parameter} against {spec.reference:g}: mean |difference| "
             f"from the reference's traces ({units}), averaged over "
             f"{' x '.join(a.name for a in spec.axes) or 'one point'}",
             "  ".join(f"{h:>12}" for h in head)]
    for r in table["rows"]:
        cells = [f"{r['level']:>12g}", *(f"{r['errors'][k]:>12.7g}" for k in recs),
                 f"{r['average']:>12.7g}", f"{r['nseg']:>12d}", f"{r['simulate_s']:>12.4f}"]
        lines.append("  ".join(cells))
    if table["cheapest"] is None:
        lines.append(f"no level is within the tolerance {spec.tolerance:g} {units}")
    else:
        lines.append(f"cheapest level within {spec.tolerance:g} {units}: "
                     f"{spec.parameter} = {table['cheapest']:g}")
    return "\n".join(lines)


def report_text(output) -> str:
    from cellsweep.sweep.store import ResultsFile

    results = ResultsFile(output)
    spec = spec_of(results)
    return format_table(error_table(results, spec), spec)


def spec_of(results) -> ConvergenceSpec:
    """The study's spec, as its results file keeps it (``open_store``)."""
    raw = json.loads(results.metadata()["convergence"])
    return ConvergenceSpec(parameter=raw["parameter"], levels=tuple(raw["levels"]),
                           reference=raw["reference"],
                           axes=tuple(designs.Axis(name=n) for n in raw["axes"]),
                           recordings=tuple(raw["recordings"]), tolerance=raw["tolerance"])


def open_store(plan: ConvergencePlan, restart: bool = False, extra_versions=None):
    """The sweep's store, with the study kept as an attribute for the report."""
    c = plan.convergence
    study = {"parameter": c.parameter, "levels": list(c.levels), "reference": c.reference,
             "axes": [a.name for a in c.axes], "recordings": list(c.recordings),
             "tolerance": c.tolerance}
    return campaign.open_store(plan, restart, extra_versions,
                               {"convergence": json.dumps(study, sort_keys=True)})


KIND = engine.CampaignKind(name="convergence", prepare=prepare, open_store=open_store,
                           run=campaign.run, describe=describe, report=report_text)
