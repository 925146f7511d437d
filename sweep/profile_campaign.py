"""Profiles: one parameter set characterised as an electrophysiologist would (a campaign kind).

``cellsweep profile CONFIG`` runs every experiment of the config's ``profile:`` section (passive
step, FI amplitudes, rheobase search, ZAP chirp, dendritic recordings) on one parameter set. Each
experiment is a task of the engine, and so is every FI amplitude: they run in parallel on
processes or MPI ranks, land in the results file row by row, and resume like a sweep. When all
rows are in, the file gets a ``profile`` group: the table of measures (value, unit, method), the
FI curve and the rheobase search. Curves (passive response with its fits, impedance, dendritic
profiles) are the rows' ``curves/`` datasets.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellsweep.cells import profile_analysis as PA
from cellsweep.cells import profile_measures as PM
from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.evaluate import evaluate
from cellsweep.cells.loader import load_model
from cellsweep.cells.profile_config import profile_model
from cellsweep.cells.schema import ConfigSource, Problems, Section, as_source
from cellsweep.cells.values import override_problems
from cellsweep.sweep import engine
from cellsweep.sweep import store as St
from cellsweep.sweep.engine import Plan, Summary
from cellsweep.sweep.tasks import PointEvaluator

AMPLITUDE = "amplitude_nA"      # the parameter column of an FI row's step amplitude


@dataclass(frozen=True)
class ProfileEvaluator(PointEvaluator):
    """Evaluates one task of a profile: an experiment, or one FI amplitude, on the parameter
    set; its record has a column for every measure of the profile (NaN for the others')."""

    tasks: tuple = ()                   # (experiment name, FI amplitude or None) per row

    def __call__(self, task: dict) -> dict:
        name, amplitude = self.tasks[task["id"]]
        params = {k: v for k, v in task["params"].items() if k != AMPLITUDE}
        return self.record(task, evaluate(self.submodel(name, amplitude), params))

    def submodel(self, name: str, amplitude):
        """The model of one task: its experiment (one amplitude, for FI), its measures."""
        exp = self.model.experiment(name)
        features = [f for f in self.model.features if f.experiment == name
                    and (amplitude is None or f.at == amplitude)]
        if amplitude is not None:
            exp = dataclasses.replace(exp, settings=tuple(
                (k, (amplitude,) if k == "amplitudes_nA" else v) for k, v in exp.settings))
        return dataclasses.replace(self.model, features=tuple(features), experiments=(exp,))

    def curve_layout(self) -> list[tuple]:
        """Every curve but FI's (the group holds the FI curve, assembled from its rows)."""
        fi = {e.name for e in self.model.experiments if e.kind == "fi"}
        return [c for c in super().curve_layout() if c[0].split(".")[0] not in fi]


@dataclass
class ProfilePlan(Plan):
    values: dict = None                 # the parameter set (free parameters, all given)
    tasks: tuple = ()

    @property
    def n_points(self) -> int:
        return len(self.tasks)


def prepare(config, output=None, workers=None, params=None) -> ProfilePlan:
    """Read and check a config for a profile of ``params`` (defaults where not given)."""
    source: ConfigSource = as_source(config)
    path = source.path
    problems = Problems(display_path(path))
    params = dict(params or {})
    model, data = load_model(source, extra_parameters=tuple(params))
    pmodel = profile_model(model, data)
    for where, message in override_problems(model, params, "--set"):
        problems.add(where, message)
    values = {p.name: p.value for p in model.free_parameters}
    values.update({k: float(v) for k, v in params.items()})
    profile_sec = data.get("profile") if isinstance(data.get("profile"), dict) else {}
    run = engine.read_run(Section(data.get("run"), "run", problems), path.parent,
                          output or _default_output(path, profile_sec, data.get("run")), workers,
                          default_name=f"{path.stem}_profile.h5")
    problems.raise_if_any()
    tasks = []
    for exp in pmodel.experiments:
        if exp.kind == "fi":
            tasks.extend((exp.name, float(a)) for a in exp.get("amplitudes_nA"))
        else:
            tasks.append((exp.name, None))
    if not tasks:
        raise ConfigError([f"{display_path(path)}: profile: no measures to run"])
    names = tuple(values) + (AMPLITUDE,)
    evaluator = ProfileEvaluator(model=pmodel, param_names=names, curves="all",
                                 tasks=tuple(tasks))
    relevant = {k: v for k, v in data.items() if k not in ("sweep", "optimise")}
    relevant["profile_parameters"] = values
    signature, canonical = engine.campaign_signature(relevant, model)
    plan = ProfilePlan(source=source, model=pmodel, run=run, evaluator=evaluator,
                       signature=signature, signature_data=canonical, values=values,
                       tasks=tuple(tasks))
    return plan


def _default_output(path: Path, profile_sec: dict, run_sec) -> Path:
    """``profile.output``, else ``run.output`` with ``_profile`` before its suffix, else
    ``results/<config>_profile.h5``."""
    if isinstance(profile_sec.get("output"), str):
        return Path(os.path.normpath(path.parent / profile_sec["output"]))
    out = run_sec.get("output") if isinstance(run_sec, dict) else None
    if isinstance(out, str):
        base = Path(os.path.normpath(path.parent / out))
        return base.with_name(base.stem + "_profile" + (base.suffix or ".h5"))
    return Path("results") / f"{path.stem}_profile.h5"


def open_store(plan: ProfilePlan, restart: bool = False, extra_versions=None):
    names = plan.evaluator.param_names
    layout = St.Layout(kind="profile", param_names=names,
                       param_units=tuple(engine.param_units(plan.model, names[:-1])) + ("nA",),
                       feature_names=tuple(f.name for f in plan.model.features),
                       feature_units=tuple(engine.feature_units(plan.model)),
                       n_rows=plan.n_points, curves=tuple(plan.evaluator.curve_layout()),
                       fixed_rows=True)
    points = np.array([[plan.values[n] for n in names[:-1]] + [math.nan if a is None else a]
                       for _, a in plan.tasks], dtype=float)
    attrs = {"profile_tasks": json.dumps(plan.tasks)}
    return engine.open_store(plan, layout, points, attrs, restart, extra_versions)


def describe(plan: ProfilePlan, store=None) -> str:
    kinds = sorted({plan.model.experiment(n).kind for n, _ in plan.tasks})
    text = f"profile ({', '.join(kinds)}) in {plan.n_points} evaluations"
    return text if store is None else f"{text}, {store.n_done} already done"


def run(plan: ProfilePlan, executor, stop, store, progress=None) -> Summary:
    pending = np.flatnonzero(~store.done_mask(plan.n_points)).tolist()
    pending.sort(key=lambda i: -_cost(plan, *plan.tasks[i]))      # the longest first
    tasks = [{"id": i, "params": {**plan.values, AMPLITUDE: plan.tasks[i][1] or math.nan}}
             for i in pending]
    return engine.evaluate_tasks(plan, executor, stop, store, tasks, progress,
                                 groups=lambda s: {"profile": profile_group(plan, s.table())})


def _cost(plan: ProfilePlan, name: str, amplitude) -> float:
    """A task's expected cost, to hand out the longest first: an FI curve in ascending
    amplitude is in ascending cost (more spikes, more CVode steps), and its last, longest
    step would otherwise run alone at the end (BENCHMARKS.md §11). Rows stay by id."""
    exp = plan.model.experiment(name)
    g = exp.get
    simulated = g("delay_ms") + g("duration_ms") + g("after_ms")
    if exp.kind == "fi":
        amps = [abs(a) for a in g("amplitudes_nA")] or [1.0]
        return simulated * (1.0 + abs(amplitude) / (max(amps) or 1.0))
    if exp.kind == "rheobase":
        return simulated * math.log2(max((g("high_nA") - g("low_nA")) / g("tolerance_nA"), 2))
    return simulated


def measure_table(plan: ProfilePlan, table) -> list[dict]:
    """One entry per measure: name, value, units, method, kind, the row it came from."""
    order = np.argsort(table.ids)
    feats = table.arrays["features"][order]
    names = [f.name for f in plan.model.features]
    row_of = {task: i for i, task in enumerate(plan.tasks)}
    out = []
    for col, f in enumerate(plan.model.features):
        exp = plan.model.experiment(f.experiment)
        measure = PM.MEASURES[f.profile]
        if exp.kind == "fi" and f.profile == "fi_curve":
            row = row_of[(exp.name, f.at)]
            value = feats[row, col]
        elif exp.kind == "fi":              # fi_slope: from the FI rows, in amplitude order
            amps = [a for n, a in plan.tasks if n == exp.name]
            rates = [feats[row_of[(exp.name, a)], names.index(
                PM.label("fi_curve", a, "amplitude"))] for a in amps]
            row, value = -1, PA.fi_slope(np.asarray(amps), np.asarray(rates))[0]
        else:
            row = row_of[(exp.name, None)]
            value = feats[row, col]
        out.append({"name": f.name, "value": float(value), "units": f.units,
                    "method": measure.method, "kind": exp.kind, "row": row})
    return out


def profile_group(plan: ProfilePlan, table) -> dict:
    rows = measure_table(plan, table)
    group = {"attrs": {"parameters": json.dumps(plan.values, sort_keys=True),
                       "experiments": json.dumps({e.name: dict(e.settings)
                                                  for e in plan.model.experiments},
                                                 default=_location_text)},
             "measures": {"names": np.array([r["name"] for r in rows], dtype=object),
                          "values": np.array([r["value"] for r in rows]),
                          "units": np.array([r["units"] for r in rows], dtype=object),
                          "methods": np.array([r["method"] for r in rows], dtype=object),
                          "kinds": np.array([r["kind"] for r in rows], dtype=object)}}
    for exp in plan.model.experiments:
        if exp.kind == "fi":
            amps = [a for n, a in plan.tasks if n == exp.name]
            by_name = {r["name"]: r["value"] for r in rows}
            group[exp.name] = {"amplitudes_nA": np.asarray(amps), "rates_Hz": np.asarray(
                [by_name.get(PM.label("fi_curve", a, "amplitude"), math.nan) for a in amps])}
    return group


def _location_text(value) -> str:
    return value.label() if hasattr(value, "label") else str(value)


def table_text(path) -> str:
    """The measure table of a finished profile file, as printed by ``cellsweep profile``."""
    from cellsweep.sweep.store import ResultsFile

    group = ResultsFile(path).profile()
    if group is None:
        return f"{path}: no profile group (the profile has not finished)"
    m = group["measures"]
    names = [_text(x) for x in m["names"]]
    width = max(len(n) for n in names)
    lines = [f"{'measure':<{width}}  {'value':>12}  {'unit':<6}  method"]
    for name, value, unit, method in zip(names, m["values"], m["units"], m["methods"]):
        lines.append(f"{name:<{width}}  {_num(value):>12}  {_text(unit):<6}  {_text(method)}")
    return "\n".join(lines)


def _text(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


def _num(value: float) -> str:
    return "nan" if value != value else f"{value:.6g}"


KIND = engine.CampaignKind(name="profile", prepare=prepare, open_store=open_store, run=run,
                             describe=describe, report=table_text)
