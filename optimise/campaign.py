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
from pathlib import Path

import numpy as np

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError, FrameworkError
from cellsweep.cells.loader import load_model
from cellsweep.cells.schema import Problems, Section, load_yaml
from cellsweep.optimise.config import OptimiseSpec, read_optimise
from cellsweep.optimise.evaluator import ModelEvaluator, is_evaluation
from cellsweep.sweep import campaign as sweep_campaign
from cellsweep.sweep import store as St
from cellsweep.sweep.campaign import RunSettings, Summary, read_run
from cellsweep.sweep.tasks import PointEvaluator


class Stopped(Exception):
    """Raised through the optimiser when the campaign must stop (signal or interruption)."""


class ReplayMismatch(FrameworkError):
    """A resumed optimisation asked for a different individual than the journal holds."""


@dataclass
class OptimisePlan:
    config_path: Path
    config_text: str
    data: dict
    model: object
    spec: OptimiseSpec
    run: RunSettings
    evaluator: PointEvaluator
    signature: str
    signature_data: dict

    @property
    def expected_evaluations(self) -> int:
        extra = self.spec.offspring_size if self.spec.algorithm == "MO-CMA" else 0
        return self.spec.offspring_size * self.spec.max_generations + extra


def prepare(config_path, output=None, workers=None) -> OptimisePlan:
    """Read and validate an optimisation config completely; no file is written."""
    config_path = Path(config_path)
    data = load_yaml(config_path)
    problems = Problems(display_path(config_path))
    try:
        model, data = load_model(config_path)
    except ConfigError as exc:
        model = None
        problems.items.extend(exc.problems)
    spec = read_optimise(Section(data.get("optimise"), "optimise", problems), model)
    run = read_run(Section(data.get("run"), "run", problems), config_path.parent, output,
                   workers, default_name=f"{config_path.stem}.h5")
    problems.raise_if_any()
    names = tuple(p.name for p in model.free_parameters)
    signature, canonical = sweep_campaign.campaign_signature(data, model)
    return OptimisePlan(config_path=config_path,
                        config_text=config_path.read_text(encoding="utf-8"), data=data,
                        model=model, spec=spec, run=run,
                        evaluator=PointEvaluator(model=model, param_names=names,
                                                 trace_dt_ms=run.trace_dt_ms),
                        signature=signature, signature_data=canonical)


def open_store(plan: OptimisePlan, restart: bool = False, extra_versions=None):
    names = plan.evaluator.param_names
    layout = St.Layout(kind="optimise", param_names=names,
                       param_units=("",) * len(names),
                       feature_names=tuple(f.name for f in plan.model.features),
                       feature_units=tuple(sweep_campaign.feature_units(plan.model)),
                       n_rows=plan.expected_evaluations,
                       traces=tuple(plan.evaluator.trace_layout()),
                       columns=(("generation", -1),))
    attrs = {"algorithm": plan.spec.algorithm, "seed": plan.spec.seed,
             "offspring_size": plan.spec.offspring_size,
             "max_generations": plan.spec.max_generations}
    return sweep_campaign.open_results(plan, layout, None, attrs, restart, extra_versions)


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
        writer = _final_writer(plan, evaluator, mapper, outcome) if complete else None
        store.finish(complete=complete, write_extra=writer)
        if progress is not None:
            progress.close()
    return Summary(output=plan.run.output, total=store.n_done, counts=store.status_counts(),
                   complete=complete, stopped=getattr(stop, "reason", ""),
                   elapsed_s=time.monotonic() - start, ran=mapper.evaluated)


def _final_writer(plan, evaluator, mapper, outcome):
    """What a finished optimisation adds to its file: statistics, hall of fame, population,
    Pareto front (the non-dominated evaluations of the whole run)."""
    population, hof, logbook, _history = outcome
    names = evaluator.param_names
    table = mapper.store.table()
    table = table.take(np.argsort(table.ids, kind="stable"))

    def individuals(group, inds):
        ids = [mapper.by_params.get(tuple(ind), -1) for ind in inds]
        params = [[evaluator.to_params(ind)[n] for n in names] for ind in inds]
        group.create_dataset("eval_id", data=np.array(ids, dtype="i8"))
        group.create_dataset("parameters", data=np.array(params, dtype=float).reshape(-1, len(names)))
        group.create_dataset("scores", data=np.array([list(ind.fitness.values) for ind in inds],
                                                     dtype=float))
        group["parameters"].attrs["names"] = list(names)

    def write(f):
        g = f.create_group("optimisation")
        generations = table.arrays.get("generation", np.zeros(0, dtype=int))
        g.attrs["generations"] = int(generations.max()) if generations.size else 0
        log = g.create_group("logbook")
        for key in ("gen", "nevals", "avg", "std", "min", "max"):
            values = logbook.select(key)
            if values and values[0] is not None:
                log.create_dataset(key, data=np.asarray(values, dtype=float))
        individuals(g.create_group("hall_of_fame"), list(hof))
        individuals(g.create_group("final_population"), list(population))
        ok = table.take(table.arrays["status"] == 0)
        front = ok.take(np.array(pareto_indices(ok.arrays["scores"]), dtype=int))
        pf = g.create_group("pareto_front")
        pf.create_dataset("eval_id", data=np.asarray(front.ids, dtype="i8"))
        pf.create_dataset("scores", data=np.asarray(front.arrays["scores"], dtype=float))
        pf.create_dataset("parameters", data=np.asarray(front.arrays["params"], dtype=float))
        pf["parameters"].attrs["names"] = list(names)
    return write


def pareto_indices(scores: np.ndarray) -> list[int]:
    """Rows of ``scores`` (minimised) that no other row dominates."""
    keep = []
    for i, row in enumerate(scores):
        dominated = np.any(np.all(scores <= row, axis=1) & np.any(scores < row, axis=1))
        if not dominated:
            keep.append(i)
    return keep
