"""BluePyOpt's JSON format (cells.bluepyopt_json) and equality with BluePyOpt's own evaluator.

BluePyOpt's side is built here the way its examples build it (examples/simplecell/simplecell.ipynb,
examples/l5pc/l5pc_model.py and l5pc_evaluator.py) and always runs in a fresh Python process
(this file run as a script), so it sees NEURON as the examples do: no sections of other tests,
NEURON's default celsius. cellsweep's side runs in the test process through ``cells.evaluate``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support.l5pc import RELEASE

HERE = Path(__file__).resolve()
TEST_DATA = HERE.parents[1] / "data"

# -- the simplecell problem --------------------------------------------------------------------
N_SETS = 20
SEED = 20160501
BOUNDS = {"gnabar_hh": (0.05, 0.125), "gkbar_hh": (0.01, 0.075)}     # as in the example
EXAMPLE_MEANS = {"step1": {"Spikecount": 1}, "step2": {"Spikecount": 5}}  # std = 0.05 * mean
# added for the comparison; AP_height, time_to_first_spike and mean_frequency are missing
# (penalty 250) when a parameter set does not spike in step1
EXTRA_TARGETS = {
    "step1": {"AP_height": (20, 5), "voltage_base": (-65, 2), "time_to_first_spike": (5, 2),
              "mean_frequency": (200, 40)},
    "step2": {"AP_height": (20, 5), "voltage_base": (-65, 2), "time_to_first_spike": (2, 1),
              "mean_frequency": (100, 20)},
}


def targets() -> dict:
    """protocol -> eFEL name -> (mean, std), exactly as both sides configure them."""
    out = {}
    for protocol, means in EXAMPLE_MEANS.items():
        out[protocol] = {name: (mean, 0.05 * mean) for name, mean in means.items()}
        out[protocol].update(EXTRA_TARGETS[protocol])
    return out


def parameter_sets() -> list[dict]:
    rng = np.random.default_rng(SEED)
    return [{name: float(rng.uniform(low, high)) for name, (low, high) in BOUNDS.items()}
            for _ in range(N_SETS)]


def bluepyopt_simplecell(swc: str):
    """BluePyOpt's simplecell CellEvaluator, built as examples/simplecell/simplecell.ipynb does,
    with the extra features of EXTRA_TARGETS defined the same way as the example's Spikecount."""
    import bluepyopt.ephys as ephys

    morph = ephys.morphologies.NrnFileMorphology(swc)
    somatic_loc = ephys.locations.NrnSeclistLocation("somatic", seclist_name="somatic")
    hh_mech = ephys.mechanisms.NrnMODMechanism(name="hh", suffix="hh", locations=[somatic_loc])
    cm_param = ephys.parameters.NrnSectionParameter(
        name="cm", param_name="cm", value=1.0, locations=[somatic_loc], frozen=True)
    free = [ephys.parameters.NrnSectionParameter(
        name=name, param_name=name, locations=[somatic_loc], bounds=list(bounds), frozen=False)
        for name, bounds in BOUNDS.items()]
    cell = ephys.models.CellModel(name="simple_cell", morph=morph, mechs=[hh_mech],
                                  params=[cm_param, *free])
    soma_loc = ephys.locations.NrnSeclistCompLocation(
        name="soma", seclist_name="somatic", sec_index=0, comp_x=0.5)
    sweep_protocols = []
    for protocol_name, amplitude in [("step1", 0.01), ("step2", 0.05)]:
        stim = ephys.stimuli.NrnSquarePulse(step_amplitude=amplitude, step_delay=100,
                                            step_duration=50, location=soma_loc, total_duration=200)
        rec = ephys.recordings.CompRecording(name=f"{protocol_name}.soma.v", location=soma_loc,
                                             variable="v")
        sweep_protocols.append(ephys.protocols.SweepProtocol(protocol_name, [stim], [rec]))
    twostep = ephys.protocols.SequenceProtocol("twostep", protocols=sweep_protocols)
    objectives = []
    wanted = targets()
    for protocol in sweep_protocols:
        stim_start = protocol.stimuli[0].step_delay
        stim_end = stim_start + protocol.stimuli[0].step_duration
        for efel_name, (mean, std) in wanted[protocol.name].items():
            name = f"{protocol.name}.{efel_name}"
            feature = ephys.efeatures.eFELFeature(
                name, efel_feature_name=efel_name,
                recording_names={"": f"{protocol.name}.soma.v"},
                stim_start=stim_start, stim_end=stim_end, exp_mean=mean, exp_std=std)
            objectives.append(ephys.objectives.SingletonObjective(name, feature))
    return ephys.evaluators.CellEvaluator(
        cell_model=cell, param_names=list(BOUNDS), fitness_protocols={twostep.name: twostep},
        fitness_calculator=ephys.objectivescalculators.ObjectivesCalculator(objectives),
        sim=ephys.simulators.NrnSimulator())


def simplecell_reference(swc: str, sets: list) -> list:
    """BluePyOpt's feature values (None when missing) and scores for each parameter set."""
    evaluator = bluepyopt_simplecell(swc)
    out = []
    for params in sets:
        responses = evaluator.run_protocols(evaluator.fitness_protocols.values(), params)
        values = {}
        for objective in evaluator.fitness_calculator.objectives:
            value = objective.features[0].calculate_feature(responses)
            values[objective.name] = None if value is None else float(value)
        scores = evaluator.evaluate_with_dicts(params)
        out.append({"values": values, "scores": {k: float(v) for k, v in scores.items()}})
    return out


def run_here(*args, env=None) -> dict:
    """Run this file as a script in a fresh process; return the JSON it writes to ``args[-1]``."""
    out = Path(args[-1])
    # the repository on the path: run as a script, this file still imports support/
    path = os.pathsep.join(filter(None, [str(HERE.parents[2]), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(HERE), *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, "NEURON_INIT_MPI": "0",
                                          "PYTHONPATH": path, **(env or {})},
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def copy_config(source: Path, folder: Path, morphology: Path) -> Path:
    """Copy the config folder ``source`` into ``folder`` with its YAML's ``morphology:`` set to
    ``morphology``; return the copied simplecell.yaml."""
    for path in source.iterdir():
        shutil.copy(path, folder / path.name)
    config = folder / "simplecell.yaml"
    text, count = re.subn(r"(?m)^(\s*morphology:).*$", lambda m: f"{m[1]} {morphology}",
                          config.read_text())
    assert count == 1, f"{source}/simplecell.yaml: expected one 'morphology:' line"
    config.write_text(text)
    return config


@pytest.fixture(scope="module")
def simplecell_configs(tmp_path_factory, bluepyopt_simplecell) -> dict:
    """tests/data/simplecell and simplecell_json, their morphology BluePyOpt's own simple.swc."""
    swc = bluepyopt_simplecell / "simple.swc"
    return {name: copy_config(TEST_DATA / name, tmp_path_factory.mktemp(name), swc)
            for name in ("simplecell", "simplecell_json")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, bluepyopt_simplecell):
    swc = bluepyopt_simplecell / "simple.swc"
    work = tmp_path_factory.mktemp("bluepyopt")
    sets = parameter_sets()
    (work / "sets.json").write_text(json.dumps(sets))
    return sets, run_here("simplecell", swc, work / "sets.json", work / "reference.json")


def compare_with_reference(config: Path, reference) -> dict:
    """Evaluate every parameter set with cells.evaluate; assert values and scores are equal."""
    from neuron import h

    from cellsweep.cells.evaluate import drop_cells, evaluate
    from cellsweep.cells.loader import load_model

    sets, expected = reference
    model, _ = load_model(config)
    wanted = targets()
    assert {(f.protocol, f.efel): (f.mean, f.std) for f in model.features} == \
        {(p, name): stats for p, feats in wanted.items() for name, stats in feats.items()}
    drop_cells()
    assert not list(h.allsec()), ("NEURON sections of another test are alive in this process; "
                                  "with CVode they change the integration steps of every cell")
    stats = {"sets": 0, "values": 0, "missing": 0, "max_abs_diff": 0.0}
    for params, ref in zip(sets, expected):
        result = evaluate(model, {f"{name}.somatic": v for name, v in params.items()})
        assert result.status == "ok", result.message
        for bpo_name, value in ref["values"].items():
            protocol, efel_name = bpo_name.split(".")
            ours = f"{protocol}.soma.{efel_name}"
            if value is None:
                assert math.isnan(result.features[ours]), (params, ours, result.features[ours])
                assert ours in result.missing
                stats["missing"] += 1
            else:
                assert result.features[ours] == value, (params, ours, result.features[ours], value)
                stats["values"] += 1
            assert result.scores[ours] == ref["scores"][bpo_name], (params, ours)
            stats["max_abs_diff"] = max(stats["max_abs_diff"],
                                        abs(result.scores[ours] - ref["scores"][bpo_name]))
        stats["sets"] += 1
    return stats


@pytest.mark.neuron
@pytest.mark.slow
def test_simplecell_yaml_equals_bluepyopt_cell_evaluator(simplecell_configs, reference):
    """The issue's acceptance test: same feature values and scores, bit for bit."""
    stats = compare_with_reference(simplecell_configs["simplecell"], reference)
    assert stats["sets"] == N_SETS >= 20
    assert stats["missing"] > 0 and stats["values"] > 0     # both paths of the score compared
    assert stats["max_abs_diff"] == 0.0


@pytest.mark.neuron
@pytest.mark.slow
def test_simplecell_json_equals_bluepyopt_cell_evaluator(simplecell_configs, reference):
    stats = compare_with_reference(simplecell_configs["simplecell_json"], reference)
    assert stats["sets"] == N_SETS and stats["missing"] > 0
    assert stats["max_abs_diff"] == 0.0


# -- conversion without NEURON -----------------------------------------------------------------
def test_simplecell_json_is_the_simplecell_yaml_model(simplecell_configs):
    from cellsweep.cells.loader import load_model

    yaml_model, _ = load_model(simplecell_configs["simplecell"])
    json_model, data = load_model(simplecell_configs["simplecell_json"])
    assert json_model.parameters == yaml_model.parameters
    assert json_model.protocols == yaml_model.protocols
    assert json_model.simulation == yaml_model.simulation
    assert json_model.scoring == yaml_model.scoring
    assert json_model.cell.insert == yaml_model.cell.insert
    assert json_model.cell.discretisation == yaml_model.cell.discretisation
    assert json_model.cell.axon.replace is yaml_model.cell.axon.replace is False
    by_name = {f.name: f for f in yaml_model.features}
    assert sorted(by_name) == sorted(f.name for f in json_model.features)
    for feature in json_model.features:
        # BluePyOpt's L5PC reader sets the soma threshold explicitly; -20 mV is eFEL's default
        assert feature.settings == (("Threshold", -20.0),)
        assert feature.window_ms == by_name[feature.name].window_ms == (100.0, 150.0)
        same = by_name[feature.name]
        assert (feature.mean, feature.std) == (same.mean, same.std)
    assert data["cell"]["name"] == "simplecell_json"


@pytest.fixture
def simple_json(tmp_path, bluepyopt_simplecell):
    """A writable copy of tests/data/simplecell_json whose YAML points at BluePyOpt's SWC."""
    copy_config(TEST_DATA / "simplecell_json", tmp_path, bluepyopt_simplecell / "simple.swc")
    return tmp_path


def load_errors(config: Path) -> list[str]:
    from cellsweep.cells.errors import ConfigError
    from cellsweep.cells.loader import load_model

    with pytest.raises(ConfigError) as info:
        load_model(config)
    return info.value.problems


def edit_json(folder: Path, name: str, edit):
    """Apply ``edit`` (which changes the parsed JSON in place) to file ``name``."""
    path = folder / name
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _set(container, key, value):
    container[key] = value


@pytest.mark.parametrize("name, edit, file, expected", [
    ("parameters.json", lambda d: _set(d[1], "type", "rnage"), "parameters.json",
     "[1].type: unknown value 'rnage'; expected one of global, section, range; "
     "did you mean 'range'?"),
    ("parameters.json", lambda d: _set(d[2], "dist_type", "expo"), "parameters.json",
     "[2].dist_type: unknown value 'expo'; expected one of uniform, exp"),
    ("parameters.json", lambda d: d[1].pop("bounds"), "parameters.json",
     "[1]: needs 'value' (a fixed parameter) or 'bounds' (a free one)"),
    ("parameters.json", lambda d: _set(d[1], "bounds", [0.05]), "parameters.json",
     "[1].bounds: expected [low, high], found [0.05]"),
    ("parameters.json", lambda d: _set(d[0], "sectionlist", "somatc"), "parameters.json",
     "[0].sectionlist: unknown value 'somatc'"),
    ("parameters.json", lambda d: _set(d[1], "dist_typ", "uniform"), "parameters.json",
     "[1].dist_typ: unknown key; did you mean 'dist_type'?"),
    ("parameters.json", lambda d: _set(d[2], "param_name", "gkbar_hx"), "parameters.json",
     "[2] (gkbar_hx.somatic): unknown variable 'gkbar_hx'"),
    ("parameters.json", lambda d: d.append(dict(d[1])), "parameters.json",
     "[3]: parameter 'gnabar_hh.somatic' is defined again (first at [1])"),
    ("parameters.json", lambda d: d.append({"param_name": "cm", "sectionlist": "all",
                                            "type": "section", "dist_type": "uniform",
                                            "value": 1}),
     "parameters.json", "[3]: cm.all comes after cm.somatic ([0])"),
    ("parameters.json", lambda d: _set(d[1], "bounds", [0.2, 0.1]), "parameters.json",
     "[1] (gnabar_hh.somatic): expected low < high"),
    ("mechanisms.json", lambda d: _set(d, "somatic", ["hh", "na_t"]), "mechanisms.json",
     "somatic[1]: unknown mechanism 'na_t' (not a NEURON built-in, and "
     "bluepyopt.mechanisms_dir is not set)"),
    ("mechanisms.json", lambda d: _set(d, "dendritic", ["pas"]), "mechanisms.json",
     "dendritic: unknown section list 'dendritic'"),
    ("protocols.json", lambda d: d["step1"].pop("stimuli"), "protocols.json",
     "step1.stimuli: missing required key"),
    ("protocols.json", lambda d: d["step1"]["stimuli"][0].pop("amp"), "protocols.json",
     "step1.stimuli[0].amp: missing required key"),
    ("protocols.json", lambda d: _set(d["step1"]["stimuli"][0], "duration", 500), "protocols.json",
     "step1.stimuli[0]: delay + duration = 600 ms ends after the protocol"),
    ("protocols.json", lambda d: _set(d["step1"], "extra_recordings", [
        {"type": "compartment", "name": "dend1", "seclist_name": "apical", "var": "v",
         "somadistance": 10}]), "protocols.json",
     "step1.extra_recordings[0].type: recording type 'compartment' is not supported"),
    ("protocols.json", lambda d: _set(d["step1"], "stimulus", []), "protocols.json",
     "step1.stimulus: unknown key; did you mean 'stimuli'?"),
    ("features.json", lambda d: _set(d, "step3", d.pop("step2")), "features.json",
     "step3: unknown protocol 'step3'; protocols.json defines step1, step2"),
    ("features.json", lambda d: _set(d["step1"], "axon", {"Spikecount": [1, 1]}), "features.json",
     "step1.axon: location 'axon': BluePyOpt's L5PC example sets a spike threshold only"),
    ("features.json", lambda d: _set(d["step1"]["soma"], "Spikecount", [1]), "features.json",
     "step1.soma.Spikecount: expected [mean, std], found [1]"),
    ("features.json", lambda d: _set(d["step1"]["soma"], "Spikecnt", [1, 1]), "features.json",
     "step1.soma.Spikecnt: unknown eFEL feature 'Spikecnt'; did you mean 'Spikecount'?"),
    ("features.json", lambda d: _set(d["step1"]["soma"], "Spikecount", [1, 0]), "features.json",
     "step1.soma.Spikecount[1]: expected a value > 0"),
    ("features.json", lambda d: _set(d["step1"], "dend1", {"Spikecount": [1, 1]}),
     "features.json", "step1.dend1: protocol 'step1' has no recording 'dend1'"),
])
def test_json_problems_name_the_file_and_key(simple_json, name, edit, file, expected):
    edit_json(simple_json, name, edit)
    problems = load_errors(simple_json / "simplecell.yaml")
    from cellsweep.cells.config import display_path

    problems = [p for p in problems if "bluepyopt.mechanisms_dir: not set" not in p]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{display_path(simple_json / file)}: "), problems
    assert expected in problems[0], problems


@pytest.mark.parametrize("name, text, expected", [
    ("parameters.json", '{"cm": 1}', "expected a list of parameter objects, found a mapping"),
    ("mechanisms.json", '["hh"]', "expected a mapping of section list to a list of mechanism "
                                  "suffixes, found a list"),
    ("protocols.json", '[]', "expected a mapping of protocol name to protocol, found a list"),
    ("features.json", '3', "expected a mapping of protocol -> location -> eFEL feature -> "
                           "[mean, std], found a number"),
])
def test_json_files_of_the_wrong_shape(simple_json, name, text, expected):
    from cellsweep.cells.config import display_path

    (simple_json / name).write_text(text)
    problems = load_errors(simple_json / "simplecell.yaml")
    assert f"{display_path(simple_json / name)}: {expected}" in problems, problems


def test_unreadable_json_files(simple_json):
    (simple_json / "protocols.json").write_text('{"step1": {"stimuli": [}\n')
    (simple_json / "features.json").unlink()
    problems = load_errors(simple_json / "simplecell.yaml")
    assert len(problems) == 2, problems
    assert "protocols.json:1: invalid JSON: Expecting value (column 24)" in problems[0]
    assert "features.json: file not found (named by bluepyopt.features in" in problems[1]


def test_every_problem_of_every_file_at_once(simple_json):
    edit_json(simple_json, "parameters.json", lambda d: _set(d[1], "type", "nope"))
    edit_json(simple_json, "protocols.json", lambda d: d["step2"]["stimuli"][0].pop("delay"))
    edit_json(simple_json, "features.json", lambda d: _set(d["step1"]["soma"], "x", "y"))
    problems = load_errors(simple_json / "simplecell.yaml")
    assert [p.split(": ")[1] for p in problems] == [
        "[1].type", "step2.stimuli[0].delay", "step1.soma.x"], problems


def test_bluepyopt_section_problems(simple_json):
    config = simple_json / "simplecell.yaml"
    text = config.read_text()
    config.write_text(text.replace("morphology:", "morphologie:").replace("replace_axon: false",
                                                                             "replace_axon: 1")
                      + "cell: {name: x}\n")
    problems = load_errors(config)
    assert any(p.endswith("cell: cannot be combined with 'bluepyopt' (the JSON files define "
                          "the model, and the converted config sets 'cell'); remove it")
               for p in problems), problems
    assert any("bluepyopt.morphology: missing required key" in p for p in problems), problems
    assert any("bluepyopt.replace_axon: expected true or false, found 1" in p for p in problems)
    assert any("bluepyopt.morphologie: unknown key; did you mean 'morphology'?" in p
               for p in problems), problems


# -- BluePyOpt's L5PC config, as released ------------------------------------------------------
# ion of each stand-in channel (so that ena/ek of parameters.json have a mechanism using them)
STAND_IN_IONS = {"NaTs2_t": "na", "NaTa_t": "na", "Nap_Et2": "na", "SKv3_1": "k", "SK_E2": "k",
                 "K_Tst": "k", "K_Pst": "k", "Im": "k", "Ca_HVA": "ca", "Ca_LVAst": "ca"}


def write_stand_in_mechanisms(config_dir: Path, out: Path) -> list[str]:
    """One .mod file per suffix of mechanisms.json (NEURON's built-ins excepted) declaring the
    RANGE variables parameters.json sets, with a leak current g*(v - e) through the channel's
    ion (or a non-specific one for Ih; none for CaDynamics_E2). Not the L5PC channels."""
    mechanisms = json.loads((config_dir / "mechanisms.json").read_text())
    parameters = json.loads((config_dir / "parameters.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    suffixes = sorted({m for names in mechanisms.values() for m in names} - {"pas", "hh"})
    for suffix in suffixes:
        names = sorted({p["param_name"][:-len(suffix) - 1] for p in parameters
                        if p["param_name"].endswith("_" + suffix)})
        conductance = next((n for n in names if n.startswith("g") and n.endswith("bar")), None)
        ion = STAND_IN_IONS.get(suffix)
        current, erev = (f"i{ion}", f"e{ion}") if ion else ("i", "e")
        block = [f"SUFFIX {suffix}"]
        if conductance and ion:
            block.append(f"USEION {ion} READ {erev} WRITE {current}")
        elif conductance:
            block += ["NONSPECIFIC_CURRENT i", "RANGE e"]
        block.append(f"RANGE {', '.join(names)}")
        params = [f"{n} = 0" for n in names] + (["e = -45 (mV)"] if conductance and not ion else [])
        text = ["NEURON {", *(f"    {line}" for line in block), "}",
                "UNITS { (mV) = (millivolt) (mA) = (milliamp) }",
                "PARAMETER {", *(f"    {line}" for line in params), "}"]
        if conductance:
            assigned = ["v (mV)", f"{current} (mA/cm2)"] + ([f"{erev} (mV)"] if ion else [])
            text += ["ASSIGNED {", *(f"    {line}" for line in assigned), "}",
                     "BREAKPOINT {", f"    {current} = {conductance}*(v - {erev})", "}"]
        (out / f"{suffix}.mod").write_text("\n".join(text) + "\n")
    return suffixes


def write_l5pc_config(folder: Path, config_dir: Path, morphology: Path,
                      mechanisms_dir: Path | None, name: str = "l5pc_cellsweep") -> Path:
    lines = ["bluepyopt:", f"  name: {name}"]
    lines += [f"  {key}: {config_dir / f'{key}.json'}"
              for key in ("parameters", "mechanisms", "protocols", "features")]
    lines.append(f"  morphology: {morphology}")
    if mechanisms_dir is not None:
        lines.append(f"  mechanisms_dir: {mechanisms_dir}")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def l5pc(shared_data) -> Path:
    """BluePyOpt's L5PC example as released (config/ and morphology/), from the shared data."""
    folder = shared_data / "bluepyopt_l5pc"
    if not (folder / "config").is_dir():
        pytest.skip(f"the shared data has no {folder}")
    return folder


@pytest.fixture
def l5pc_config(tmp_path, l5pc) -> Path:
    mods = tmp_path / "mechanisms"
    write_stand_in_mechanisms(l5pc / "config", mods)
    return write_l5pc_config(tmp_path, l5pc / "config", l5pc / "morphology" / "C060114A7.asc",
                             mods)


def test_l5pc_config_loads_as_released(l5pc_config, l5pc):
    from cellsweep.cells.loader import load_model

    model, data = load_model(l5pc_config)
    released = json.loads((l5pc / "config" / "parameters.json").read_text())
    names = [p["param_name"] if p["type"] == "global" else f"{p['param_name']}.{p['sectionlist']}"
             for p in released]
    assert sorted(p.name for p in model.parameters) == sorted(names)
    assert len(names) == 37
    assert sorted(p.name for p in model.free_parameters) == sorted(RELEASE)
    bounds = {f"{p['param_name']}.{p['sectionlist']}": tuple(p["bounds"]) for p in released
              if "bounds" in p}
    assert {p.name: (p.low, p.high) for p in model.free_parameters} == bounds
    fixed = {p.name: p for p in model.parameters if not p.free}
    assert (fixed["celsius"].kind, fixed["celsius"].value) == ("global", 34)
    assert (fixed["v_init"].kind, fixed["v_init"].value) == ("global", -65)
    assert fixed["cm.apical"].value == 2 and fixed["Ra.all"].kind == "section"
    ih = fixed["gIhbar_Ih.apical"]
    assert model.cell.distribution(ih.distribution).expression == \
        "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"
    assert fixed["gIhbar_Ih.basal"].distribution == ""

    cell = model.cell
    assert cell.axon.replace and (cell.axon.stub_length_um, cell.axon.nseg_frequency_um) == (60, 40)
    assert (cell.discretisation.rule, cell.discretisation.length_um) == ("length", 40)
    assert dict(cell.insert)["axonal"][-1] == "NaTa_t" and dict(cell.insert)["all"] == ("pas",)
    assert model.simulation.cvode and model.scoring.missing_penalty == 250

    assert [p.name for p in model.protocols] == ["bAP", "Step3", "Step2", "Step1"]
    for protocol in model.protocols:
        step = protocol.stimuli[0]
        assert step.name == "step" and step.location.kind == "soma"
        if protocol.name == "bAP":
            assert protocol.tstop_ms == 600 and len(protocol.stimuli) == 1
            assert dict(step.values) == {"amp_nA": 1.9, "delay_ms": 295, "duration_ms": 5}
            recordings = {r.name: r.location for r in protocol.recordings}
            assert list(recordings) == ["soma", "dend1", "dend2"]
            assert recordings["soma"].kind == "soma"
            assert [(loc.kind, loc.region, loc.distance_um) for loc in
                    (recordings["dend1"], recordings["dend2"])] == [
                ("distance", "apical", 660), ("distance", "apical", 800)]
        else:
            assert protocol.tstop_ms == 3000 and [r.name for r in protocol.recordings] == ["soma"]
            holding = protocol.stimuli[1]
            assert holding.name == "holding" and holding.location.kind == "soma"
            assert dict(holding.values) == {"amp_nA": -0.126, "delay_ms": 0, "duration_ms": 3000}
    assert {p.name: p.stimuli[0].value("amp_nA") for p in model.protocols} == \
        {"bAP": 1.9, "Step3": 0.95, "Step2": 0.562, "Step1": 0.458}

    assert len(model.features) == 35
    released_features = json.loads((l5pc / "config" / "features.json").read_text())
    expected = {f"{p}.{loc}.{name}": stats for p, locs in released_features.items()
                for loc, feats in locs.items() for name, stats in feats.items()}
    assert {f.name: [f.mean, f.std] for f in model.features} == expected
    for feature in model.features:
        window = (295.0, 600.0) if feature.protocol == "bAP" else (700.0, 2700.0)
        assert feature.window_ms == window, feature.name
        threshold = -20.0 if feature.recording == "soma" else -55.0
        assert feature.settings == (("Threshold", threshold),), feature.name
    assert sorted({f.recording for f in model.features}) == ["dend1", "dend2", "soma"]
    assert data["cell"]["mechanisms_dir"].endswith("mechanisms")


def test_l5pc_without_mechanisms_dir_names_the_missing_mechanisms(tmp_path, l5pc):
    from cellsweep.cells.config import display_path

    problems = load_errors(write_l5pc_config(tmp_path, l5pc / "config",
                                             l5pc / "morphology" / "C060114A7.asc", None))
    mechanisms_json = l5pc / "config" / "mechanisms.json"
    suffixes = {m for names in json.loads(mechanisms_json.read_text()).values()
                for m in names} - {"pas"}
    per_mechanism = [p for p in problems if "unknown mechanism" in p]
    assert len(per_mechanism) == len(suffixes) == 12
    assert all(p.startswith(f"{display_path(mechanisms_json)}: ") for p in per_mechanism)
    assert f"{display_path(mechanisms_json)}: apical[2], axonal[3], somatic[1]: unknown " \
           "mechanism 'SKv3_1' (not a NEURON built-in, and bluepyopt.mechanisms_dir is not " \
           "set)" in per_mechanism
    [hint] = [p for p in problems if "bluepyopt.mechanisms_dir: not set" in p]
    assert all(suffix in hint for suffix in suffixes)
    assert len(problems) == 13, problems          # no follow-on errors for their parameters


def bluepyopt_l5pc(config_dir: Path, morphology: Path):
    """BluePyOpt's L5PC CellEvaluator, following examples/l5pc/l5pc_model.py (cell) and
    l5pc_evaluator.py (protocols, features); protocols run in this process."""
    import bluepyopt.ephys as ephys

    def read(name):
        return json.loads((config_dir / name).read_text())

    def seclist(name):
        return ephys.locations.NrnSeclistLocation(name, seclist_name=name)

    mechs = [ephys.mechanisms.NrnMODMechanism(name=f"{suffix}.{name}", mod_path=None,
                                              suffix=suffix, locations=[seclist(name)],
                                              preloaded=True)
             for name, suffixes in read("mechanisms.json").items() for suffix in suffixes]
    params = []
    for p in read("parameters.json"):
        frozen = "value" in p
        common = {"value": p["value"] if frozen else None, "frozen": frozen,
                  "bounds": None if frozen else p["bounds"]}
        if p["type"] == "global":
            params.append(ephys.parameters.NrnGlobalParameter(
                name=p["param_name"], param_name=p["param_name"], **common))
            continue
        scaler = (ephys.parameterscalers.NrnSegmentLinearScaler() if p["dist_type"] == "uniform"
                  else ephys.parameterscalers.NrnSegmentSomaDistanceScaler(distribution=p["dist"]))
        kind = {"section": ephys.parameters.NrnSectionParameter,
                "range": ephys.parameters.NrnRangeParameter}[p["type"]]
        params.append(kind(name=f"{p['param_name']}.{p['sectionlist']}",
                           param_name=p["param_name"], value_scaler=scaler,
                           locations=[seclist(p["sectionlist"])], **common))
    cell = ephys.models.CellModel(
        "l5pc", morph=ephys.morphologies.NrnFileMorphology(str(morphology), do_replace_axon=True),
        mechs=mechs, params=params)

    soma = ephys.locations.NrnSeclistCompLocation(name="soma", seclist_name="somatic",
                                                  sec_index=0, comp_x=0.5)
    protocols = {}
    for name, definition in read("protocols.json").items():
        recordings = [ephys.recordings.CompRecording(name=f"{name}.soma.v", location=soma)]
        for r in definition.get("extra_recordings", []):
            location = ephys.locations.NrnSomaDistanceCompLocation(
                name=r["name"], soma_distance=r["somadistance"], seclist_name=r["seclist_name"])
            recordings.append(ephys.recordings.CompRecording(
                name=f"{name}.{r['name']}.{r['var']}", location=location, variable=r["var"]))
        stimuli = [ephys.stimuli.NrnSquarePulse(
            step_amplitude=s["amp"], step_delay=s["delay"], step_duration=s["duration"],
            location=soma, total_duration=s["totduration"]) for s in definition["stimuli"]]
        protocols[name] = ephys.protocols.SweepProtocol(name, stimuli, recordings)

    objectives = []
    for protocol_name, locations in read("features.json").items():
        step = protocols[protocol_name].stimuli[0]
        end = (step.total_duration if protocol_name == "bAP"
               else step.step_delay + step.step_duration)
        for location, features in locations.items():
            threshold = -20 if location == "soma" else -55      # the example: 'dend' in location
            for efel_name, (mean, std) in features.items():
                name = f"{protocol_name}.{location}.{efel_name}"
                feature = ephys.efeatures.eFELFeature(
                    name, efel_feature_name=efel_name,
                    recording_names={"": f"{protocol_name}.{location}.v"},
                    stim_start=step.step_delay, stim_end=end, exp_mean=mean, exp_std=std,
                    threshold=threshold)
                objectives.append(ephys.objectives.SingletonObjective(name, feature))
    return ephys.evaluators.CellEvaluator(
        cell_model=cell, param_names=[p.name for p in cell.params.values() if not p.frozen],
        fitness_protocols=protocols,
        fitness_calculator=ephys.objectivescalculators.ObjectivesCalculator(objectives),
        sim=ephys.simulators.NrnSimulator(), isolate_protocols=False)


def l5pc_comparison(config: Path, params: dict) -> dict:
    """BluePyOpt's L5PC and cellsweep's, on the free parameters' values ``params``, in this
    (fresh) process."""
    from neuron import h

    from cellsweep.cells import mechanisms
    from cellsweep.cells.evaluate import evaluate
    from cellsweep.cells.loader import load_model
    from cellsweep.cells.schema import load_yaml

    model, _ = load_model(config)
    section = load_yaml(config)["bluepyopt"]
    mechanisms.load(model.cell.mechanisms_dir)
    evaluator = bluepyopt_l5pc(Path(section["parameters"]).parent, Path(section["morphology"]))
    responses = evaluator.run_protocols(evaluator.fitness_protocols.values(), params)
    values = {o.name: o.features[0].calculate_feature(responses)
              for o in evaluator.fitness_calculator.objectives}
    scores = evaluator.fitness_calculator.calculate_scores(responses)
    assert not list(h.allsec()), "BluePyOpt left sections behind"

    result = evaluate(model, params, traces=True)
    equal = {}
    for protocol, recordings in (result.traces or {}).items():
        for name, (t, v) in recordings.items():
            theirs = responses[f"{protocol}.{name}.v"]
            equal[f"{protocol}.{name}"] = bool(
                np.array_equal(np.asarray(theirs["time"]), t)
                and np.array_equal(np.asarray(theirs["voltage"]), v))
    return {"status": result.status, "message": result.message, "nseg": result.nseg,
            "features": {k: None if math.isnan(v) else v for k, v in result.features.items()},
            "scores": result.scores, "traces_equal": equal,
            "bluepyopt_values": {k: None if v is None else float(v) for k, v in values.items()},
            "bluepyopt_scores": {k: float(v) for k, v in scores.items()}}


def assert_l5pc_equals_bluepyopt(config: Path, values: dict, tmp_path: Path) -> dict:
    """Evaluate ``values`` with cellsweep and with BluePyOpt's L5PC construction in one fresh
    process; assert status ok and the same traces, feature values and scores, bit for bit."""
    (tmp_path / "values.json").write_text(json.dumps(values))
    result = run_here("l5pc", config, tmp_path / "values.json", tmp_path / "l5pc.json",
                      env={"CELLSWEEP_CACHE": str(tmp_path / "build-cache")})
    assert result["status"] == "ok", result["message"]
    assert result["nseg"]["axonal"] == 2                # the 60 um stub: two 1-segment sections
    assert all(result["traces_equal"].values()), result["traces_equal"]
    assert result["features"] == result["bluepyopt_values"]
    assert result["scores"] == result["bluepyopt_scores"]
    return result


@pytest.mark.neuron
@pytest.mark.slow
def test_l5pc_evaluates_and_equals_bluepyopt_with_the_same_mechanisms(l5pc_config, tmp_path):
    """One evaluation of the released values runs to status ok, and BluePyOpt's own L5PC
    construction on the same stand-in mechanisms gives the same traces, bit for bit (axon stub,
    nseg, exp distribution, holding current, the apical recording sites, celsius)."""
    result = assert_l5pc_equals_bluepyopt(l5pc_config, RELEASE, tmp_path)
    assert sorted(result["traces_equal"]) == sorted(
        [f"{p}.soma" for p in ("bAP", "Step1", "Step2", "Step3")] + ["bAP.dend1", "bAP.dend2"])
    assert len(result["features"]) == 35


# -- an L5PC-style config of our own on BluePyOpt's L5PC morphology ------------------------------
# tests/data/l5pc_like: the released config's structure (section lists, global celsius and
# v_init, section and range parameters, Ih with the exp distribution, bAP recorded at 660 and
# 800 um on the apical tree, steps with a holding current, 35 -> 13 features) with hh and two
# stand-in channels, shorter protocols and values of our own. The morphology is the L5PC cell
# (C060114A7.asc) as the installed BluePyOpt ships it with its tests, so this equality runs
# without the shared data.
L5PC_LIKE = TEST_DATA / "l5pc_like"
L5PC_LIKE_VALUES = {      # the cell fires once in bAP (ISI_CV missing) and tonically in Step1
    "gnabar_hh.somatic": 0.3, "gkbar_hh.somatic": 0.05, "gnabar_hh.axonal": 1.0,
    "gkbar_hh.axonal": 0.1, "gnabar_hh.apical": 0.04, "gkbar_hh.apical": 0.01,
    "gImbar_Im.apical": 0.0002,
}


@pytest.mark.neuron
@pytest.mark.slow
def test_l5pc_like_config_equals_bluepyopt_on_its_l5pc_morphology(bluepyopt_l5pc_morphology,
                                                                    tmp_path):
    mods = tmp_path / "mechanisms"
    assert write_stand_in_mechanisms(L5PC_LIKE, mods) == ["Ih", "Im"]
    config = write_l5pc_config(tmp_path, L5PC_LIKE, bluepyopt_l5pc_morphology, mods,
                               name="l5pc_like")
    result = assert_l5pc_equals_bluepyopt(config, L5PC_LIKE_VALUES, tmp_path)
    assert sorted(result["traces_equal"]) == ["Step1.soma", "bAP.dend1", "bAP.dend2", "bAP.soma"]
    features = json.loads((L5PC_LIKE / "features.json").read_text())
    assert sorted(result["features"]) == sorted(
        f"{p}.{loc}.{name}" for p, locs in features.items() for loc, feats in locs.items()
        for name in feats)
    # one spike in bAP that reaches both apical sites, tonic firing in Step1, and both paths
    # of the score compared: features found and features missing (penalty 250)
    values = result["features"]
    assert values["bAP.soma.Spikecount"] == 1 and values["Step1.soma.Spikecount"] > 5, values
    assert None not in (values["bAP.dend1.AP_amplitude_from_voltagebase"],
                        values["bAP.dend2.AP_amplitude_from_voltagebase"]), values
    assert values["bAP.soma.ISI_CV"] is None and result["scores"]["bAP.soma.ISI_CV"] == 250


def main(argv: list[str]) -> None:
    """``simplecell SWC SETS.json OUT.json`` or ``l5pc CONFIG.yaml VALUES.json OUT.json``."""
    mode, *args = argv
    if mode == "simplecell":
        swc, sets, out = args
        result = simplecell_reference(swc, json.loads(Path(sets).read_text()))
    elif mode == "l5pc":
        config, values, out = args
        result = l5pc_comparison(Path(config), json.loads(Path(values).read_text()))
    else:
        raise SystemExit(f"unknown mode {mode!r}; expected simplecell or l5pc")
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
