"""Optimisation campaigns: BluePyOpt's optimisers, every evaluation through the campaign engine.

BluePyOpt's ``DEAPOptimisation`` (IBEA, NSGA2) and ``DEAPOptimisationCMA`` (SO-CMA, MO-CMA) run
unchanged; their ``map_function`` is a ``CampaignMap`` that hands each generation to the
executor (local processes or MPI ranks) and journals every evaluation with its generation.

Resume needs no optimiser pickle: given its seed, an optimiser is a deterministic function of the
fitness values it receives. Resuming replays the run from the start; every evaluation already in
the journal is answered from there (its parameters are checked to be identical), so the replay
reaches the interrupted generation in moments, re-evaluates only what had not finished, and the
finished run equals an uninterrupted one: same individuals, hall of fame and statistics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError, FrameworkError
from cellsweep.cells.loader import load_model
from cellsweep.cells.schema import ConfigSource, Problems, Section, as_source
from cellsweep.optimise.config import OptimiseSpec, read_optimise
from cellsweep.optimise.evaluator import ModelEvaluator, is_evaluation
from cellsweep.sweep import engine
from cellsweep.sweep import store as St
from cellsweep.sweep.engine import Plan, Summary
from cellsweep.sweep.tasks import PointEvaluator


class Stopped(Exception):
    """Raised through the optimiser when the campaign must stop (signal or interruption)."""


class ReplayMismatch(FrameworkError):
    """A resumed optimisation asked for a different individual than the journal holds."""


@dataclass
class OptimisePlan(Plan):
    spec: OptimiseSpec = None

    @property
    def expected_evaluations(self) -> int:
        return _expected(self.spec)


def _expected(spec: OptimiseSpec) -> int:
    """Evaluations an optimisation makes (MO-CMA also evaluates its first parents)."""
    extra = spec.offspring_size if spec.algorithm == "MO-CMA" else 0
    return spec.offspring_size * spec.max_generations + extra


def prepare(config, output=None, workers=None) -> OptimisePlan:
    """Read and validate an optimisation config completely (a path or a ``ConfigSource``);
    no file is written."""
    source: ConfigSource = as_source(config)
    config_path = source.path
    data = source.data
    problems = Problems(display_path(config_path))
    try:
        model, data = load_model(source)
    except ConfigError as exc:
        model = None
        problems.extend(exc)
    spec = read_optimise(Section(data.get("optimise"), "optimise", problems), model)
    run = engine.read_run(Section(data.get("run"), "run", problems), config_path.parent, output,
                          workers, default_name=f"{config_path.stem}.h5")
    known = spec is not None and spec.offspring_size and spec.max_generations
    engine.check_traces(model, run, problems, _expected(spec) if known else None)
    problems.raise_if_any()
    names = tuple(p.name for p in model.free_parameters)
    signature, canonical = engine.campaign_signature(data, model)
    return OptimisePlan(source=source, model=model, run=run,
                        evaluator=PointEvaluator(model=model, param_names=names,
                                                 trace_dt_ms=run.trace_dt_ms),
                        signature=signature, signature_data=canonical, spec=spec)


def open_store(plan: OptimisePlan, restart: bool = False, extra_versions=None):
    names = plan.evaluator.param_names
    layout = St.Layout(kind="optimise", param_names=names,
                       param_units=tuple(engine.param_units(plan.model, names)),
                       feature_names=tuple(f.name for f in plan.model.features),
                       feature_units=tuple(engine.feature_units(plan.model)),
                       n_rows=plan.expected_evaluations,
                       traces=tuple(plan.evaluator.trace_layout()),
                       curves=tuple(plan.evaluator.curve_layout()),
                       columns=(("generation", -1),), fixed_rows=False)
    attrs = {"algorithm": plan.spec.algorithm, "seed": plan.spec.seed,
             "offspring_size": plan.spec.offspring_size,
             "max_generations": plan.spec.max_generations}
    return engine.open_store(plan, layout, None, attrs, restart, extra_versions)


def describe(plan: OptimisePlan, store=None) -> str:
    spec = plan.spec
    text = (f"{spec.algorithm} optimisation, {spec.offspring_size} offspring x "
            f"{spec.max_generations} generations ({plan.expected_evaluations} evaluations), "
            f"seed {spec.seed}")
    return text if store is None else f"{text}, {store.n_done} evaluations journaled"


class CampaignMap:
    """BluePyOpt's ``map_function``: one call per generation, answered by the engine."""

    def __init__(self, plan: OptimisePlan, evaluator: ModelEvaluator, executor, store, stop,
                 progress=None):
        self.plan, self.evaluator, self.executor = plan, evaluator, executor
        self.store, self.stop, self.progress = store, stop, progress
        self.calls = 0
        self.next_id = 0
        self.replayed = self.evaluated = 0
        self.by_params: dict = {}

    def generation(self) -> int:
        """MO-CMA evaluates its parents first (generation 0); the others start at 1."""
        return self.calls if self.plan.spec.algorithm == "MO-CMA" else self.calls + 1

    def __call__(self, func, iterable):
        if not is_evaluation(func):
            return list(map(func, iterable))
        individuals = [list(ind) for ind in iterable]
        gen = self.generation()
        names = self.evaluator.param_names
        ids = list(range(self.next_id, self.next_id + len(individuals)))
        self.next_id += len(individuals)
        done, tasks = {}, []
        for i, genes in zip(ids, individuals):
            params = self.evaluator.to_params(genes)
            values = [params[n] for n in names]
            known = self.store.get(i)
            if known is not None:
                if known["params"] != values:
                    raise ReplayMismatch(
                        f"{display_path(self.store.output)}: evaluation {i} of the journal has "
                        "other parameters than the resumed optimisation asks for; the campaign "
                        "cannot be resumed (use --restart)")
                done[i] = known
                self.replayed += 1
            else:
                tasks.append({"id": i, "params": params})
        if tasks and self.stop:
            raise Stopped()
        for batch in self.executor.imap_unordered(tasks):
            batch = batch.with_column("generation", gen)
            self.store.record(batch)
            for record in batch.records():
                done[record["id"]] = record
            self.evaluated += len(batch)
            if self.progress is not None:
                self.progress.update(batch)
        if len(done) < len(ids):
            raise Stopped()
        self.calls += 1
        for i, genes in zip(ids, individuals):
            self.by_params.setdefault(tuple(genes), i)
        return [tuple(done[i]["scores"]) for i in ids]


def run(plan: OptimisePlan, executor, stop, store, progress=None) -> Summary:
    """Run (or resume) the optimisation; returns when finished or when ``stop`` is set."""
    import deap.tools
    from bluepyopt.deapext.optimisations import DEAPOptimisation
    from bluepyopt.deapext.optimisationsCMA import DEAPOptimisationCMA

    start = time.monotonic()
    spec = plan.spec
    evaluator = ModelEvaluator(plan.model)
    mapper = CampaignMap(plan, evaluator, executor, store, stop, progress)
    if progress is not None:
        counts = store.status_counts()
        progress.start(total=plan.expected_evaluations, done=store.n_done,
                       failed=store.n_done - counts.get("ok", 0))
    hof = deap.tools.HallOfFame(spec.hall_of_fame)
    if spec.is_cma:
        optimiser = DEAPOptimisationCMA(
            evaluator=evaluator, seed=spec.seed, offspring_size=spec.offspring_size,
            sigma=spec.sigma, map_function=mapper, hof=hof,
            selector_name="single_objective" if spec.algorithm == "SO-CMA" else "multi_objective")
    else:
        optimiser = DEAPOptimisation(
            evaluator=evaluator, seed=spec.seed, offspring_size=spec.offspring_size,
            eta=spec.eta, mutpb=spec.mutpb, cxpb=spec.cxpb, map_function=mapper, hof=hof,
            selector_name=spec.algorithm)
    complete, outcome = False, None
    try:
        outcome = optimiser.run(max_ngen=spec.max_generations)
        complete = not stop
    except Stopped:
        complete = False
    finally:
        groups = final_groups(evaluator, mapper, outcome) if complete else None
        store.finish(complete=complete, groups=groups)
        if progress is not None:
            progress.close()
    return Summary(output=plan.run.output, total=store.n_done, counts=store.status_counts(),
                   complete=complete, stopped=getattr(stop, "reason", ""),
                   elapsed_s=time.monotonic() - start, ran=mapper.evaluated)


def final_groups(evaluator, mapper, outcome) -> dict:
    """What a finished optimisation adds to its file, as plain data (the store writes it):
    statistics, hall of fame, final population, and the Pareto front (the non-dominated
    evaluations of the whole run)."""
    population, hof, logbook, _history = outcome
    names = list(evaluator.param_names)
    table = mapper.store.table()
    table = table.take(np.argsort(table.ids, kind="stable"))
    named = {"parameters": {"names": names}}

    def individuals(inds) -> dict:
        params = [[evaluator.to_params(ind)[n] for n in names] for ind in inds]
        return {"eval_id": np.array([mapper.by_params.get(tuple(ind), -1) for ind in inds],
                                    dtype="i8"),
                "parameters": np.array(params, dtype=float).reshape(-1, len(names)),
                "scores": np.array([list(ind.fitness.values) for ind in inds], dtype=float),
                "dataset_attrs": named}

    generations = table.arrays.get("generation", np.zeros(0, dtype=int))
    logbook_data = {}
    for key in ("gen", "nevals", "avg", "std", "min", "max"):
        values = logbook.select(key)
        if values and values[0] is not None:
            logbook_data[key] = np.asarray(values, dtype=float)
    ok = table.take(table.arrays["status"] == 0)
    front = ok.take(np.array(pareto_indices(ok.arrays["scores"]), dtype=int))
    return {"optimisation": {
        "attrs": {"generations": int(generations.max()) if generations.size else 0},
        "logbook": logbook_data,
        "hall_of_fame": individuals(list(hof)),
        "final_population": individuals(list(population)),
        "pareto_front": {"eval_id": np.asarray(front.ids, dtype="i8"),
                         "scores": np.asarray(front.arrays["scores"], dtype=float),
                         "parameters": np.asarray(front.arrays["params"], dtype=float),
                         "dataset_attrs": named}}}


def pareto_indices(scores: np.ndarray) -> list[int]:
    """Rows of ``scores`` (minimised) that no other row dominates."""
    keep = []
    for i, row in enumerate(scores):
        dominated = np.any(np.all(scores <= row, axis=1) & np.any(scores < row, axis=1))
        if not dominated:
            keep.append(i)
    return keep


KIND = engine.CampaignKind(name="optimise", prepare=prepare, open_store=open_store, run=run,
                             describe=describe)
