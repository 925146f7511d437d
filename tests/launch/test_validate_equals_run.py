"""``cellsweep validate`` refuses everything ``cellsweep run`` refuses, with the same message.

Every config-error case of the suite (the model cases of ``tests/cells/test_config_errors.py``,
the sweep cases of ``tests/sweep/test_designs.py``, the optimise cases of
``tests/optimise/test_optimise.py``) plus the ones that used to pass ``validate`` and fail only in
``run`` or at run time (a misspelt sweep axis, a wrong protocol number, an unknown design, a
misnamed sample count, a stimulus at a section that does not exist, a recording beyond the end
of its region), through both commands: same exit status (2), same lines, nothing written.
"""

import copy

import pytest
import yaml
from click.testing import CliRunner

from cellsweep.launch.cli import main
from tests.cells.test_config_errors import CASES as MODEL_CASES
from tests.sweep.test_designs import BAD_SWEEPS

# the design cases' axes "a" and "b", renamed to parameters of the example
AXES = {"a": "gbar_k_m.somatic", "b": "step_pos.step.amp_nA"}

SWEEP_CASES = {
    "misspelt sweep axis": (
        lambda d: d["sweep"]["parameters"].update({"nseg.dend": {"values": [1, 3]}}),
        "sweep.parameters['nseg.dend']: unknown discretisation setting 'dend'"),
    "wrong protocol number name": (
        lambda d: d["sweep"]["parameters"].update({"step_pos.stim.amp_nA": {"values": [0.1]}}),
        "sweep.parameters['step_pos.stim.amp_nA']: protocol 'step_pos' has no stimulus 'stim'"),
    "wrong number of a stimulus": (
        lambda d: d["sweep"]["parameters"].update({"step_pos.step.amp": {"values": [0.1]}}),
        "stimulus step_pos.step has no number 'amp'"),
    "unknown design": (
        lambda d: d["sweep"].update(design="gird"),
        "sweep.design: unknown value 'gird'; expected one of grid"),
    "n instead of n_samples": (
        lambda d: d.update(sweep={"design": "random", "n": 10}),
        "sweep.n: unknown key"),
    "n_samples on a grid": (
        lambda d: d["sweep"].update(n_samples=4),
        "sweep.n_samples: n_samples applies to random"),
    "unknown run key": (
        lambda d: d["run"].update(timeout=5),
        "run.timeout: unknown key"),
    "rank timeout not positive": (
        lambda d: d["run"].update(rank_timeout_s=0),
        "run.rank_timeout_s:"),
    "bad output name": (
        lambda d: d["run"].update(output="results.csv"),
        "run.output: expected an .h5 or .hdf5 file name"),
    "stored traces too fine": (
        lambda d: d["run"].update(traces={"dt_ms": 1e-6}),
        "run.traces.dt_ms: 1e-06 ms gives 1.4e+09 samples per trace"),
    "stimulus at a section that does not exist": (
        lambda d: d["protocols"]["step_pos"]["stimuli"]["step"].update(
            location={"section": "dend[40](1)"}),
        "protocols.step_pos.stimuli.step.location: dend[40]: no such section"),
    "recording beyond the end of its region": (
        lambda d: d["protocols"]["step_pos"]["recordings"].update(
            far={"location": {"region": "apical", "distance_um": 900}}),
        "protocols.step_pos.recordings.far: apical@900um: no section of region 'apical' lies "
        "at 900 um from the soma"),
    "recording of a variable that does not exist": (
        lambda d: d["protocols"]["step_pos"]["recordings"].update(
            soma_x={"location": "soma", "variable": "cai"}),
        "protocols.step_pos.recordings.soma_x: variable 'cai' does not exist at soma"),
    # one rule for every value (cells.values), wherever the value is written
    "negative time step on a sweep axis": (
        lambda d: d["sweep"]["parameters"].update({"sim.dt_ms": {"values": [-1, 0.025]}}),
        "sweep.parameters['sim.dt_ms']: expected a value > 0, found -1"),
    "zero segments on a sweep axis": (
        lambda d: d["sweep"]["parameters"].update({"nseg.somatic": {"values": [0, 1]}}),
        "sweep.parameters['nseg.somatic']: expected a whole number of segments from 1 to 32767, "
        "found 0"),
    "negative time step as a fixed value": (
        lambda d: (d["cell"]["fixed"].update({"sim.dt_ms": -0.5}),
                   d["simulation"].update(cvode=False)),
        "cell.fixed['sim.dt_ms']: expected a value > 0, found -0.5"),
    "bound outside a parameter's range": (
        lambda d: d["cell"]["free"].update({"Ra.somatic": {"low": -10, "high": 100}}),
        "cell.free['Ra.somatic'].low: expected a value > 0, found -10"),
    "noise above 1 on a sweep axis": (
        lambda d: (d["protocols"]["step_pos"]["stimuli"].update(
            syn={"kind": "synapses", "start_ms": 10, "interval_ms": 5, "number": 3,
                 "weight_uS": 0.001, "locations": [{"region": "apical", "distance_um": 100}]}),
            d["sweep"]["parameters"].update({"step_pos.syn.noise": {"values": [0.5, 2]}})),
        "sweep.parameters['step_pos.syn.noise']: expected a value <= 1, found 2"),
    "a design too large to hold": (
        lambda d: d["sweep"]["parameters"].update(
            {"gbar_k_m.somatic": {"linspace": [0, 0.01, 1000]},
             "step_pos.step.amp_nA": {"linspace": [0.1, 0.6, 1000]},
             "celsius": {"linspace": [20, 37, 1000]}}),
        "sweep: the design has 1,000,000,000 points; cellsweep holds a sweep's table of points in "
        "memory and takes at most 20,000,000"),
    "n_samples far too large": (
        lambda d: d.update(sweep={"design": "random", "n_samples": 1e12}),
        "sweep: the design has 1,000,000,000,000 points"),
    "stored traces too large": (
        lambda d: (d.update(sweep={"design": "random", "n_samples": 1_000_000}),
                   d["run"].update(traces={"dt_ms": 0.1})),
        "run.traces.dt_ms: stored traces would take"),
    "eFEL setting of the wrong type": (
        lambda d: d["features"][0].update(settings={"Threshold": "abc"}),
        "features[0].settings.Threshold: expected a number, found a string 'abc'"),
    "eFEL setting that must be whole": (
        lambda d: d["features"][0].update(settings={"DerivativeWindow": 2.5}),
        "features[0].settings.DerivativeWindow: expected a whole number, found 2.5"),
    "cell named like a hoc keyword": (
        lambda d: d["cell"].update(name="proc"),
        "cell.name: cell name 'proc' is a name NEURON's hoc already uses"),
    "cell named like a hoc class": (
        lambda d: d["cell"].update(name="Vector"),
        "cell.name: cell name 'Vector' is a name NEURON's hoc already uses"),
    "a parameter name that is a number": (
        lambda d: d["cell"]["fixed"].update({42: 1}),
        "cell.fixed[42]: expected a parameter name, found 42"),
    "a protocol window of one number": (
        lambda d: d["protocols"]["step_pos"].update(window_ms=[0]),
        "protocols.step_pos.window_ms: expected [start, end] in ms with start < end, found [0]"),
    "a feature window of strings": (
        lambda d: d["features"][0].update(window_ms=["a", "b"]),
        "features[0].window_ms: expected [start, end] in ms with start < end, found ['a', 'b']"),
    "both sweep and optimise": (
        lambda d: d.update(optimise={"algorithm": "IBEA", "offspring_size": 4,
                                     "max_generations": 2}),
        "has both sweep: and optimise:; a config describes one campaign"),
}

OPTIMISE_CASES = {
    "unknown algorithm": (
        lambda d: d["optimise"].update(algorithm="IBAE"),
        "optimise.algorithm: unknown value 'IBAE'; expected one of IBEA, NSGA2, SO-CMA, MO-CMA"),
    "too few offspring": (
        lambda d: d["optimise"].update(offspring_size=1),
        "optimise.offspring_size: expected a value >= 2, found 1"),
    "unknown optimise key": (
        lambda d: d["optimise"].update(generations=3),
        "optimise.generations: unknown key"),
}


@pytest.fixture()
def example(example_dir):
    tmp_path, data = example_dir
    data["run"]["output"] = "out.h5"        # never beside the repository's results
    return tmp_path, data


def both(tmp_path, data):
    """(validate, run) results of one config; asserts that neither wrote anything."""
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = []
    for command in ("validate", "run"):
        result = CliRunner().invoke(main, [command, str(config)], catch_exceptions=False)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, \
            f"{command} wrote something for bad input"
        out.append(result)
    return out


def check(tmp_path, data, expected):
    validate, run = both(tmp_path, data)
    assert validate.exit_code == run.exit_code == 2, (validate.output, run.output)
    assert validate.stderr == run.stderr
    for text in ([expected] if isinstance(expected, str) else expected):
        assert text in validate.stderr, validate.stderr
    assert "Traceback" not in validate.stderr + run.stderr


CASES = {**{f"model: {k}": v for k, v in MODEL_CASES.items()},
         **{f"sweep/run: {k}": v for k, v in SWEEP_CASES.items()}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_sweep_and_run_problems(example, case):
    tmp_path, data = example
    edit, expected = CASES[case]
    data = copy.deepcopy(data)
    edit(data)
    check(tmp_path, data, expected)


@pytest.mark.parametrize("case", sorted(OPTIMISE_CASES))
def test_optimise_problems(example, case):
    tmp_path, data = example
    data = copy.deepcopy(data)
    del data["sweep"]
    data["optimise"] = {"algorithm": "IBEA", "offspring_size": 4, "max_generations": 2}
    edit, expected = OPTIMISE_CASES[case]
    edit(data)
    check(tmp_path, data, expected)


def _renamed(section: dict) -> dict:
    out = dict(section)
    if "parameters" in out:
        out["parameters"] = {AXES.get(k, k): v for k, v in out["parameters"].items()}
    return out


@pytest.mark.parametrize("index", range(len(BAD_SWEEPS)))
def test_design_problems(example, index):
    tmp_path, data = example
    section, message = BAD_SWEEPS[index]
    data = copy.deepcopy(data)
    data["sweep"] = _renamed(section)
    for short, name in AXES.items():
        message = message.replace(f"sweep.parameters.{short}", f"sweep.parameters[{name!r}]")
    check(tmp_path, data, message)


def test_nan_in_a_design_csv(example):
    tmp_path, data = example
    (tmp_path / "points.csv").write_text("gbar_k_m.somatic,step_pos.step.amp_nA\n"
                                         "0.001,0.2\n0.002,nan\n")
    data = copy.deepcopy(data)
    data["sweep"] = {"design": "csv", "file": "points.csv"}
    check(tmp_path, data, "sweep.file: ")
    validate, _ = both(tmp_path, data)
    assert "points.csv:3: column 'step_pos.step.amp_nA': expected a finite number, found nan" \
        in validate.stderr


@pytest.mark.parametrize("what", ["waveform", "csv", "morphology"])
def test_bad_files_named_by_the_config(example, what):
    tmp_path, data = example
    data = copy.deepcopy(data)
    if what == "waveform":
        (tmp_path / "wave.csv").write_text("time_ms,current_nA\n0,0\n10,nan\n20,0\n")
        data["protocols"]["step_pos"]["stimuli"]["w"] = {"kind": "waveform", "file": "wave.csv"}
        expected = ("protocols.step_pos.stimuli.w.file: ", "wave.csv: sample 2: expected finite "
                    "numbers, found '10', 'nan'")
    elif what == "csv":
        (tmp_path / "pts.csv").write_text("gbar_k_m.somatic,gbar_k_m.somatic\n0.001,0.002\n")
        data["sweep"] = {"design": "csv", "file": "pts.csv"}
        expected = ("sweep.file: ", "pts.csv:1: column 'gbar_k_m.somatic' appears twice in the "
                    "header")
    else:
        (tmp_path / "cells").mkdir()
        data["cell"]["morphology"] = "cells"
        expected = ("cell.morphology: ", "cells is a directory; expected a .swc or .asc file")
    check(tmp_path, data, list(expected))


def test_long_values_are_quoted_short(example):
    tmp_path, data = example
    data = copy.deepcopy(data)
    data["features"][0]["efel"] = "Spike" * 600
    data["cell"]["fixed"]["g_pas." + "x" * 150] = 1.0
    check(tmp_path, data, ["features[0].efel: unknown eFEL feature 'SpikeSpike",
                           "(3000 characters in all)"])
    validate, _ = both(tmp_path, data)
    assert all(len(line) < 2100 for line in validate.stderr.splitlines()), validate.stderr
