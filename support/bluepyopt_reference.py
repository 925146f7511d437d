"""BluePyOpt's own simplecell optimisation (run as a script, in a fresh process).

    python bluepyopt_reference.py SIMPLE.swc OUT.json [offspring] [generations] [seed]

Builds the simplecell problem as BluePyOpt's example does (hh soma, two steps, Spikecount
objectives 1 and 5 with std 5 % of the mean), runs ``DEAPOptimisation`` with its defaults (IBEA)
and writes the hall of fame and the logbook as JSON.
"""

import json
import sys
from pathlib import Path


def shipped(*parts: str) -> Path:
    """A file shipped inside the installed bluepyopt package (its examples and test data),
    e.g. ``shipped("ephys", "examples", "simplecell", "simple.swc")``."""
    import importlib.util

    spec = importlib.util.find_spec("bluepyopt")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("bluepyopt is not installed")
    return Path(spec.origin).parent.joinpath(*parts)


def build(swc: str):
    import bluepyopt.ephys as ephys

    morph = ephys.morphologies.NrnFileMorphology(swc)
    somatic = ephys.locations.NrnSeclistLocation("somatic", seclist_name="somatic")
    hh = ephys.mechanisms.NrnMODMechanism(name="hh", suffix="hh", locations=[somatic])
    cm = ephys.parameters.NrnSectionParameter(name="cm", param_name="cm", value=1.0,
                                              locations=[somatic], frozen=True)
    bounds = {"gnabar_hh": [0.05, 0.125], "gkbar_hh": [0.01, 0.075]}
    free = [ephys.parameters.NrnSectionParameter(name=n, param_name=n, locations=[somatic],
                                                 bounds=b, frozen=False)
            for n, b in bounds.items()]
    cell = ephys.models.CellModel(name="simple_cell", morph=morph, mechs=[hh], params=[cm, *free])
    soma = ephys.locations.NrnSeclistCompLocation(name="soma", seclist_name="somatic",
                                                  sec_index=0, comp_x=0.5)
    protocols, objectives = [], []
    for name, amp, spikes in [("step1", 0.01, 1.0), ("step2", 0.05, 5.0)]:
        stim = ephys.stimuli.NrnSquarePulse(step_amplitude=amp, step_delay=100, step_duration=50,
                                            location=soma, total_duration=200)
        rec = ephys.recordings.CompRecording(name=f"{name}.soma.v", location=soma, variable="v")
        protocols.append(ephys.protocols.SweepProtocol(name, [stim], [rec]))
        feature = ephys.efeatures.eFELFeature(
            f"{name}.Spikecount", efel_feature_name="Spikecount",
            recording_names={"": f"{name}.soma.v"}, stim_start=100, stim_end=150,
            exp_mean=spikes, exp_std=0.05 * spikes)
        objectives.append(ephys.objectives.SingletonObjective(f"{name}.Spikecount", feature))
    twostep = ephys.protocols.SequenceProtocol("twostep", protocols=protocols)
    return ephys.evaluators.CellEvaluator(
        cell_model=cell, param_names=list(bounds), fitness_protocols={"twostep": twostep},
        fitness_calculator=ephys.objectivescalculators.ObjectivesCalculator(objectives),
        sim=ephys.simulators.NrnSimulator(), isolate_protocols=False)


def main(argv):
    import bluepyopt

    swc, out = argv[0], argv[1]
    offspring, generations, seed = (int(a) for a in (argv[2:5] + ["10", "5", "1"][len(argv) - 2:]))
    optimisation = bluepyopt.optimisations.DEAPOptimisation(
        evaluator=build(swc), offspring_size=offspring, seed=seed)
    population, hof, logbook, _ = optimisation.run(max_ngen=generations)
    result = {"hall_of_fame": [list(map(float, ind)) for ind in hof],
              "hall_of_fame_scores": [list(ind.fitness.values) for ind in hof],
              "logbook": {k: [float(v) for v in logbook.select(k)]
                          for k in ("gen", "nevals", "avg", "std", "min", "max")},
              "population": [list(map(float, ind)) for ind in population]}
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1:])
