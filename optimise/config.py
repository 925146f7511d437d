"""The ``optimise:`` section: which BluePyOpt optimiser, how big, how long, which seed.

Config shape::

    optimise:
      algorithm: IBEA          # IBEA | NSGA2 (DEAP evolutionary algorithms), SO-CMA | MO-CMA
      offspring_size: 32
      max_generations: 20
      seed: 1
      eta: 10                  # IBEA/NSGA2: crossover and mutation spread
      mutpb: 1.0
      cxpb: 1.0
      sigma: 0.4               # CMA: initial step size in normalised parameter space
      hall_of_fame: 10

The parameters optimised are the model's free parameters (``cell.free``) with their bounds; the
objectives are its features' scores.
"""

from __future__ import annotations

from dataclasses import dataclass

from cellsweep.cells.schema import Section

ALGORITHMS = ("IBEA", "NSGA2", "SO-CMA", "MO-CMA")


@dataclass(frozen=True)
class OptimiseSpec:
    algorithm: str = "IBEA"
    offspring_size: int = 10
    max_generations: int = 10
    seed: int = 1
    eta: float = 10.0
    mutpb: float = 1.0
    cxpb: float = 1.0
    sigma: float = 0.4
    hall_of_fame: int = 10

    @property
    def is_cma(self) -> bool:
        return self.algorithm.endswith("CMA")


def read_optimise(sec: Section, model) -> OptimiseSpec | None:
    spec = OptimiseSpec(
        algorithm=sec.string("algorithm", "IBEA", choices=ALGORITHMS),
        offspring_size=sec.number("offspring_size", 10, integer=True, ge=2),
        max_generations=sec.number("max_generations", 10, integer=True, ge=1),
        seed=sec.number("seed", 1, integer=True, ge=0),
        eta=sec.number("eta", 10.0, gt=0),
        mutpb=sec.number("mutpb", 1.0, ge=0, le=1),
        cxpb=sec.number("cxpb", 1.0, ge=0, le=1),
        sigma=sec.number("sigma", 0.4, gt=0),
        hall_of_fame=sec.number("hall_of_fame", 10, integer=True, ge=1))
    sec.finish()
    if model is not None and not model.free_parameters:
        sec.error(None, "nothing to optimise: declare free parameters (with low/high bounds) "
                        "under cell.free")
    if model is not None and not model.features:
        sec.error(None, "nothing to optimise against: list features (with mean/std targets)")
    return spec
