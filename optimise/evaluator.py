"""A cellsweep model seen through BluePyOpt's ``Evaluator`` interface.

BluePyOpt's optimisers need ``params`` (with bounds), ``objectives`` and an evaluation function.
The optimisers here never call that function directly: their ``map_function`` is
``optimise.campaign.CampaignMap``, which sends each generation through the campaign engine.
Free parameters declared ``log: true`` are optimised in log10 space (the optimiser sees
``log10(value)`` and its bounds).
"""

from __future__ import annotations

import functools
import math

import bluepyopt
import bluepyopt.objectives
import bluepyopt.parameters

from cellsweep.cells.evaluate import evaluate


class ModelEvaluator(bluepyopt.evaluators.Evaluator):
    def __init__(self, model):
        self.model = model
        self.free = list(model.free_parameters)
        params = []
        for p in self.free:
            bounds = [math.log10(p.low), math.log10(p.high)] if p.log else [p.low, p.high]
            params.append(bluepyopt.parameters.Parameter(p.name, bounds=bounds))
        objectives = [bluepyopt.objectives.Objective(f.name) for f in model.features]
        super().__init__(objectives=objectives, params=params)

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.free]

    def to_params(self, genes) -> dict:
        """Optimiser genes -> parameter values in the model's units."""
        return {p.name: (10.0 ** float(g) if p.log else float(g))
                for p, g in zip(self.free, genes)}

    def evaluate_with_lists(self, param_list):
        result = evaluate(self.model, self.to_params(param_list))
        return [result.scores[f.name] for f in self.model.features]

    def init_simulator_and_evaluate_with_lists(self, param_list):
        return self.evaluate_with_lists(param_list)

    def evaluate_with_dicts(self, param_dict):
        return self.evaluate_with_lists([param_dict[name] for name in self.param_names])


def is_evaluation(func) -> bool:
    """Does a map call evaluate individuals (rather than, e.g., MO-CMA's hypervolume work)?"""
    while isinstance(func, functools.partial):    # DEAP's toolbox wraps what it registers
        func = func.func
    target = getattr(func, "__func__", func)
    return target in (ModelEvaluator.init_simulator_and_evaluate_with_lists,
                      ModelEvaluator.evaluate_with_lists)
