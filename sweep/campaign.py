"""Sweeps: every point of a design evaluated into one file (a campaign kind, see ``engine``).

``prepare`` reads and checks the whole config (model, ``sweep:``, ``run:``, output path) without
side effects, so bad input fails before any process starts. ``run`` takes a prepared plan and an
executor (anything with ``imap_unordered``; ``sweep`` never knows about processes or MPI),
resumes from the output's journal, and records every result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.loader import load_model
from cellsweep.cells.schema import ConfigSource, Problems, Section, as_source
from cellsweep.sweep import designs, engine
from cellsweep.sweep import store as St
from cellsweep.sweep.engine import Plan, Summary
from cellsweep.sweep.tasks import PointEvaluator


@dataclass
class SweepPlan(Plan):
    sweep: designs.SweepSpec = None
    points: np.ndarray = None

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])


def prepare(config, output=None, workers=None) -> SweepPlan:
    """Read and validate a sweep config completely (a path or a ``ConfigSource``); the model
    is validated once, with the sweep's axes as its extra parameters; no file is written."""
    source: ConfigSource = as_source(config)
    data = source.data
    config_path = source.path
    problems = Problems(display_path(config_path))
    if "sweep" not in data:
        problems.add("sweep", "missing: a sweep campaign needs a sweep: section")
        problems.raise_if_any()
    axes = designs.declared_axes(data.get("sweep"), config_path.parent)
    try:
        model, data = load_model(source, extra_parameters=axes)
        free = model.free_parameters
    except ConfigError as exc:              # keep collecting: report sweep/run problems too
        model, free = None, ()
        problems.extend(exc)
    spec = designs.read_sweep(Section(data.get("sweep"), "sweep", problems), config_path.parent,
                              free)
    run = engine.read_run(Section(data.get("run"), "run", problems), config_path.parent, output,
                          workers, default_name=f"{config_path.stem}.h5")
    engine.check_traces(model, run, problems, designs.size(spec) if spec is not None else None)
    if model is not None and spec is not None:
        for path, message in designs.value_problems(spec, model):
            problems.add(path, message)
    problems.raise_if_any()
    points = designs.points(spec)
    if points.shape[0] == 0:
        raise ConfigError([f"{display_path(config_path)}: sweep: the design has no points"])
    evaluator = PointEvaluator(model=model, param_names=tuple(spec.names),
                               trace_dt_ms=run.trace_dt_ms)
    signature, canonical = engine.campaign_signature(data, model)
    return SweepPlan(source=source, model=model, run=run, evaluator=evaluator,
                     signature=signature, signature_data=canonical, sweep=spec, points=points)


def open_store(plan: SweepPlan, restart: bool = False, extra_versions=None, extra_attrs=None):
    """Lock the output, decide fresh/resume/refuse; return an opened store, or None when the
    output already holds this campaign, complete."""
    layout = St.Layout(kind="sweep", param_names=tuple(plan.sweep.names),
                       param_units=tuple(engine.param_units(plan.model, plan.sweep.names)),
                       feature_names=tuple(f.name for f in plan.model.features),
                       feature_units=tuple(engine.feature_units(plan.model)),
                       n_rows=plan.n_points, traces=tuple(plan.evaluator.trace_layout()),
                       curves=tuple(plan.evaluator.curve_layout()), fixed_rows=True)
    attrs = {"design": plan.sweep.design,
             **designs.file_attrs(plan.sweep, plan.model.free_parameters), **(extra_attrs or {})}
    return engine.open_store(plan, layout, plan.points, attrs, restart, extra_versions)


def describe(plan: SweepPlan, store=None) -> str:
    text = f"{plan.sweep.design} sweep of {plan.n_points} points"
    return text if store is None else f"{text}, {store.n_done} already done"


class _Tasks:
    """The pending points as task dicts, made one at a time as the executor takes them (a
    million-point sweep would otherwise be a million dicts at once); sized, so that an
    executor can share out what is left."""

    def __init__(self, ids: np.ndarray, names, points: np.ndarray):
        self.ids, self.names, self.points = ids, names, points

    def __len__(self) -> int:
        return int(self.ids.size)

    def __iter__(self):
        names, points = self.names, self.points
        for i in self.ids.tolist():
            yield {"id": i, "params": {n: float(v) for n, v in zip(names, points[i])}}


def run(plan: SweepPlan, executor, stop, store: St.ResultStore, progress=None) -> Summary:
    """Evaluate every point not yet in the store; returns when done or when ``stop`` is set."""
    pending = np.flatnonzero(~store.done_mask(plan.n_points))
    return engine.evaluate_tasks(plan, executor, stop, store,
                                 _Tasks(pending, plan.sweep.names, plan.points), progress)


KIND = engine.CampaignKind(name="sweep", prepare=prepare, open_store=open_store, run=run,
                             describe=describe)
