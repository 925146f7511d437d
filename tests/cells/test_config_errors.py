"""Bad input: one test per kind of problem, through the real command line.

Each case edits a copy of the bundled example config and asserts: exit status 2, a message that
names the file, the key path and what was expected, no traceback, and nothing written.
"""

import copy
import json
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from cellsweep.launch.cli import main


def run_cli(tmp_path, data, *args, command="validate"):
    config = tmp_path / "bad.yaml"
    if isinstance(data, str):
        config.write_text(data)
    else:
        config.write_text(yaml.safe_dump(data, sort_keys=False))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(main, [command, str(config), *args], catch_exceptions=False)
    after = sorted(p.name for p in tmp_path.rglob("*"))
    assert after == before, "bad input must not write anything"
    return result


def edited(data, edit):
    data = copy.deepcopy(data)
    edit(data)
    return data


CASES = {
    "unknown top-level key": (
        lambda d: d.update(sweeep={}),
        ["bad.yaml: sweeep: unknown key; did you mean 'sweep'?"]),
    "unknown cell key": (
        lambda d: d["cell"].update(morpholgy="x.swc"),
        ["cell.morpholgy: unknown key; did you mean 'morphology'?"]),
    "missing morphology file": (
        lambda d: d["cell"].update(morphology="missing.swc"),
        ["cell.morphology: file not found: ", "missing.swc"]),
    "unsupported morphology format": (
        lambda d: d["cell"].update(morphology="cell.h5"),
        ["cell.morphology: unsupported morphology format '.h5'; expected a .swc or .asc file"]),
    "unknown mechanism": (
        lambda d: d["cell"]["insert"]["somatic"].append("na_tt"),
        ["cell.insert.somatic[3]: unknown mechanism 'na_tt'", "did you mean 'na_t'?"]),
    "unknown parameter variable": (
        lambda d: d["cell"]["fixed"].update({"gbar_na_x.somatic": 0.1}),
        ["cell.fixed['gbar_na_x.somatic']: unknown variable 'gbar_na_x'",
         "did you mean 'gbar_na_t'?"]),
    "parameter on a region without its mechanism": (
        lambda d: d["cell"]["fixed"].update({"gbar_k_m.apical": 0.1}),
        ["cell.fixed['gbar_k_m.apical']: gbar_k_m needs mechanism 'k_m' in every section of "
         "region 'apical'"]),
    "unknown region": (
        lambda d: d["cell"]["fixed"].update({"g_pas.apicall": 0.1}),
        ["cell.fixed['g_pas.apicall']: unknown region 'apicall'", "did you mean 'apical'?"]),
    "low not below high": (
        lambda d: d["cell"]["free"].update({"gbar_k_m.somatic": {"low": 0.01, "high": 0.001}}),
        ["cell.free['gbar_k_m.somatic']: expected low < high, found low=0.01, high=0.001"]),
    "default outside bounds": (
        lambda d: d["cell"]["free"]["gbar_k_m.somatic"].update(default=1.0),
        ["cell.free['gbar_k_m.somatic'].default: expected a value within [0, 0.01], found 1"]),
    "wrong type": (
        lambda d: d["cell"]["fixed"].update({"celsius": "warm"}),
        ["cell.fixed.celsius: expected a number, found a string 'warm'"]),
    "stimulus after the end of the protocol": (
        lambda d: d["protocols"]["step_pos"]["stimuli"]["step"].update(duration_ms=5000),
        ["protocols.step_pos.stimuli.step: stimulus ends at 5200 ms, after the protocol's "
         "tstop_ms (1400 ms)"]),
    "unknown eFEL feature": (
        lambda d: d["features"][0].update(efel="Spikecont"),
        ["features[0].efel: unknown eFEL feature 'Spikecont'; did you mean 'Spikecount'?"]),
    "unknown protocol in a feature": (
        lambda d: d["features"][1].update(protocol="step_po"),
        ["features[1].protocol: unknown protocol 'step_po'", "did you mean 'step_pos'?"]),
    "unknown recording in a feature": (
        lambda d: d["features"][1].update(recording="dend"),
        ["features[1].recording: protocol 'step_pos' has no recording 'dend'"]),
    "non-positive std": (
        lambda d: d["features"][2].update(std=0),
        ["features[2].std: expected a value > 0, found 0"]),
    "unknown distribution": (
        lambda d: d["cell"]["fixed"]["gbar_ih.apical"].update(distribution="ih_gradiant"),
        ["cell.fixed['gbar_ih.apical'].distribution: unknown distribution 'ih_gradiant'",
         "did you mean 'ih_gradient'?"]),
    "unsafe distribution expression": (
        lambda d: d["cell"]["distributions"].update(
            evil={"kind": "expression", "expression": "__import__('os').getcwd()"}),
        ["cell.distributions.evil.expression: only plain function calls"]),
    "unknown stimulus kind": (
        lambda d: d["protocols"]["step_neg"]["stimuli"]["step"].update(kind="stepp"),
        ["protocols.step_neg.stimuli.step.kind: unknown value 'stepp'", "did you mean 'step'?"]),
    "missing mechanisms directory": (
        lambda d: d["cell"].update(mechanisms_dir="nowhere"),
        ["cell.mechanisms_dir: directory not found: "]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_is_refused_with_a_precise_message(example_dir, case):
    tmp_path, data = example_dir
    edit, expected = CASES[case]
    result = run_cli(tmp_path, edited(data, edit))
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())


def test_all_problems_are_listed_together(example_dir):
    tmp_path, data = example_dir
    bad = edited(data, lambda d: (d["features"][0].update(efel="Nope"),
                                  d["cell"]["fixed"].update(celsius="x")))
    result = run_cli(tmp_path, bad)
    assert result.exit_code == 2
    assert "features[0].efel" in result.stderr and "cell.fixed.celsius" in result.stderr


def test_a_refused_protocol_is_reported_once_not_by_every_feature(example_dir):
    """A protocol with its own problem is refused with that problem; the features that use
    it (eFEL and trace features) do not each add "unknown protocol"; a misspelt one still
    does."""
    tmp_path, data = example_dir

    def edit(d):
        d["protocols"]["step_neg"]["stimuli"]["step"].update(kind="stepp")
        d["features"].append({"protocol": "step_neg", "trace": "max", "mean": 0, "std": 1})
        d["features"].append({"protocol": "step_nge", "trace": "min", "mean": 0, "std": 1})

    result = run_cli(tmp_path, edited(data, edit))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert sum("protocols.step_neg.stimuli.step.kind: unknown value 'stepp'" in x
               for x in lines) == 1, result.stderr
    assert [x for x in lines if "unknown protocol" in x] == [next(
        x for x in lines if "unknown protocol 'step_nge'" in x)], result.stderr
    assert any(f["protocol"] == "step_neg" for f in data["features"])   # the case is real


def test_invalid_yaml_names_the_line(example_dir):
    tmp_path, _ = example_dir
    result = run_cli(tmp_path, "cell:\n  name: x\n  fixed: {a: 1\n")
    assert result.exit_code == 2
    assert "bad.yaml:4: invalid YAML" in result.stderr


def test_invalid_morphology_is_refused_before_neuron_sees_it(example_dir):
    tmp_path, data = example_dir
    # A whole SWC file as one Python bytes literal on a single line, as a real NeuroMorpho
    # file was once committed upstream: NEURON 9 crashes on lines of ~40,000 characters.
    body = (tmp_path / "example_pyramid.swc").read_bytes()
    while len(repr(body)) < 40_000:
        body += body
    bad = tmp_path / "one_line.swc"
    bad.write_text(repr(body) + "\n")
    data["cell"]["morphology"] = str(bad)
    result = run_cli(tmp_path, data)
    assert result.exit_code == 2
    assert "cell.morphology: " in result.stderr and "one_line.swc:1: line is " in result.stderr


def test_unknown_set_parameter_and_bad_plot_path(example_dir):
    tmp_path, data = example_dir
    result = run_cli(tmp_path, data, "--set", "gbar_na_t.soma=1", command="evaluate")
    assert result.exit_code == 2
    assert "gbar_na_t.soma: unknown region 'soma'" in result.stderr
    result = run_cli(tmp_path, data, "--set", "celsius=hot", command="evaluate")
    assert result.exit_code == 2 and "value 'hot' is not a number" in result.stderr
    (tmp_path / "a_dir").mkdir()
    result = run_cli(tmp_path, data, "--plot", str(tmp_path / "a_dir"), command="evaluate")
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_real_process_exit_status_and_no_traceback(example_dir):
    """The installed console script itself: status 2 and a one-line message."""
    tmp_path, data = example_dir
    config = tmp_path / "bad.yaml"
    config.write_text(json.dumps(edited(data, lambda d: d["features"][0].update(efel="Nope"))))
    proc = subprocess.run([sys.executable, "-m", "cellsweep", "validate", str(config)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "features[0].efel" in proc.stderr
    assert "Traceback" not in proc.stderr
