"""An exported model, run where cellsweep cannot be imported, gives cellsweep's feature values.

Each case exports a parameter set, compiles the exported .mod files if there are any, runs
``python model.py`` in a subprocess whose Python cannot import cellsweep (``-S``: no site
processing, so the editable install's .pth hook never runs; ``PYTHONPATH`` holds only the
site-packages directories, for neuron, numpy and efel), and compares with
``cells.evaluate.evaluate`` in this process float for float.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cellsweep.cells.evaluate import evaluate, full_values
from cellsweep.cells.loader import load_model
from cellsweep.cells.neuron_cell import NeuronCell
from cellsweep.optimise.export import export_model

pytestmark = pytest.mark.neuron

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "tests" / "data" / "tiny"


def _template():
    """The standalone script's template, loaded from its file (it is not a package module)."""
    import importlib.util

    from cellsweep.optimise.export import TEMPLATE

    loader = importlib.machinery.SourceFileLoader("standalone_model", str(TEMPLATE))
    spec = importlib.util.spec_from_loader("standalone_model", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module

# every stimulus kind, a custom distance region, a distribution, a holding current, protocol
# and simulation parameters, eFEL settings, windows, weights and scoring options, on the tiny
# ball-and-stick cell with NEURON's built-in mechanisms only
STIMULI_CONFIG = """
cell:
  name: tiny_export_stimuli
  morphology: ball_stick.swc
  regions:
    distal: {within: basal, min_distance_um: 100}
  discretisation: {rule: length, length_um: 20}
  insert:
    somatic: [hh]
    basal: [pas]
  distributions:
    taper: {kind: linear, intercept: 1.0, slope_per_um: -0.002}
  fixed:
    Ra.all: 150
    cm.all: 1.0
    g_pas.basal: {value: 1.0e-4, distribution: taper}
    e_pas.basal: -65
    g_pas.distal: 2.0e-4
    sim.atol: 1.0e-4
    celsius: 8
  free:
    gnabar_hh.somatic: {low: 0.05, high: 0.2, default: 0.12}
protocols:
  ramp:
    tstop_ms: 100
    holding_nA: 0.01
    stimuli: {r: {kind: ramp, amp_start_nA: 0.0, amp_end_nA: 0.4, delay_ms: 10, duration_ms: 80}}
  zap:
    tstop_ms: 150
    stimuli: {z: {kind: zap, amp_nA: 0.3, f_start_hz: 1, f_end_hz: 40, delay_ms: 10,
                  duration_ms: 120}}
    recordings: {soma: soma, dend: "dend[0](0.8)"}
  wave:
    tstop_ms: 100
    stimuli: {w: {kind: waveform, times_ms: [0, 10, 20, 60], currents_nA: [0, 0.3, 0.5, 0],
                  delay_ms: 10}}
  syn:
    tstop_ms: 150
    stimuli:
      s: {kind: synapses, synapse: ExpSyn, start_ms: 10, interval_ms: 10, number: 10, noise: 0.5,
          weight_uS: 0.05, locations: ["dend[0](0.5)", {region: basal, distance_um: 150}],
          synapse_params: {tau: 2.0}}
features:
  - {protocol: ramp, efel: Spikecount, mean: 5, std: 1}
  - {protocol: ramp, efel: time_to_first_spike, mean: 20, std: 5, threshold_mV: -10}
  - {protocol: zap, efel: Spikecount, mean: 5, std: 1, weight: 2}
  - {protocol: zap, recording: dend, efel: voltage_base, mean: -65, std: 2}
  - {protocol: wave, efel: mean_frequency, mean: 50, std: 10, settings: {interp_step: 0.05}}
  - {protocol: wave, efel: voltage_deflection, mean: 10, std: 5, stimulus_current_nA: 0.3}
  - {protocol: wave, efel: AP_height, mean: 20, std: 5, threshold_mV: 60}    # missing
  - {protocol: syn, efel: Spikecount, mean: 3, std: 1}
  - {protocol: syn, efel: AP_width, mean: 3, std: 1, window_ms: [5, 140]}
scoring: {missing_penalty: 100, max_score: 50}
"""


# -- running the exported script without cellsweep --------------------------------------------
def _isolated_env() -> dict:
    paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
    env = {"PATH": os.environ.get("PATH", ""), "NEURON_INIT_MPI": "0",
           "PYTHONPATH": os.pathsep.join(paths)}
    for key in ("HOME", "LANG", "TMPDIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _python(out_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-S", "-s", *args], cwd=out_dir, env=_isolated_env(),
                          capture_output=True, text=True, timeout=600)


def _run_script(out_dir: Path, *args: str):
    proc = _python(out_dir, "model.py", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DISPLAY" not in proc.stderr, proc.stderr        # no NEURON GUI banner
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compile(out_dir: Path) -> None:
    local = Path(sys.executable).parent / "nrnivmodl"
    nrnivmodl = str(local) if local.exists() else shutil.which("nrnivmodl")
    proc = subprocess.run([nrnivmodl, "mechanisms"], cwd=out_dir, capture_output=True, text=True,
                          env={**os.environ, "NEURON_INIT_MPI": "0"}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _same(a: float, b) -> bool:
    b = math.nan if b is None else b
    return (math.isnan(a) and math.isnan(b)) or a == b


def _assert_no_machine_paths(out_dir: Path, *paths: Path) -> None:
    needles = {str(p) for p in paths} | {str(p.resolve()) for p in paths}
    for path in out_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for needle in needles:
                assert needle not in text, f"{path.name} contains {needle}"


def _original_geometry(model, params) -> dict:
    cell = NeuronCell(model)
    cell.apply(full_values(model, params))
    return json.loads(json.dumps(_template().geometry(cell.base["all"])))


def check_export(model, params: dict, out_dir: Path, scores: bool = True) -> dict:
    """Export, run the script without cellsweep, compare with cellsweep; return its values."""
    expected = evaluate(model, params)
    assert expected.status == "ok", expected.message
    export_model(model, params, out_dir)
    _assert_no_machine_paths(out_dir, REPO, out_dir.parent)
    if (out_dir / "mechanisms").is_dir():
        _compile(out_dir)
    assert _run_script(out_dir, "--geometry") == _original_geometry(model, params)
    found = _run_script(out_dir, "--json")
    assert list(found) == list(expected.features)
    differ = {k: (v, found[k]) for k, v in expected.features.items() if not _same(v, found[k])}
    assert not differ, differ
    if scores:
        assert _run_script(out_dir, "--json", "--scores") == expected.scores
    return found


# -- tests -------------------------------------------------------------------------------------
def test_cellsweep_cannot_be_imported_where_the_script_runs(tmp_path):
    proc = _python(tmp_path, "-c", "import cellsweep")
    assert proc.returncode != 0 and "No module named 'cellsweep'" in proc.stderr, proc.stderr
    proc = _python(tmp_path, "-c", "import neuron, numpy, efel")
    assert proc.returncode == 0, proc.stderr


def test_tiny_model_gives_cellsweep_values_exactly(tmp_path):
    model, _ = load_model(TINY / "tiny.yaml")
    check_export(model, {"gnabar_hh.somatic": 0.1, "gkbar_hh.somatic": 0.03}, tmp_path / "tiny")
    assert not (tmp_path / "tiny" / "mechanisms").exists()


def test_every_stimulus_kind_gives_cellsweep_values_exactly(tmp_path):
    src = tmp_path / "config"
    src.mkdir()
    shutil.copyfile(TINY / "ball_stick.swc", src / "ball_stick.swc")
    (src / "stimuli.yaml").write_text(STIMULI_CONFIG)
    model, _ = load_model(src / "stimuli.yaml", extra_parameters=["zap.z.amp_nA"])
    found = check_export(model, {"gnabar_hh.somatic": 0.15, "zap.z.amp_nA": 0.35},
                         tmp_path / "out")
    assert found["wave.soma.AP_height"] is None      # missing features travel as null
    data = json.loads((tmp_path / "out" / "cell.json").read_text())
    zap = next(p for p in data["protocols"] if p["name"] == "zap")
    assert zap["stimuli"][0]["values"]["amp_nA"] == 0.35    # protocol parameters applied


@pytest.mark.slow
def test_bundled_example_gives_cellsweep_values_exactly(tmp_path, example_config):
    model, _ = load_model(example_config, extra_parameters=["step_pos.step.amp_nA"])
    params = {"g_pas.all": 4.0e-5, "gbar_na_t.somatic": 0.15, "gbar_k_dr.somatic": 0.07,
              "gbar_k_m.somatic": 0.003, "step_pos.step.amp_nA": 0.3}
    out = tmp_path / "example"
    check_export(model, params, out, scores=False)
    assert sorted(p.name for p in (out / "mechanisms").glob("*.mod")) == \
        sorted(p.name for p in model.cell.mechanisms_dir.glob("*.mod"))


def test_exported_folder_holds_no_absolute_path(tmp_path):
    src = tmp_path / "config"
    src.mkdir()
    shutil.copyfile(TINY / "ball_stick.swc", src / "ball_stick.swc")
    data = yaml.safe_load((TINY / "tiny.yaml").read_text())
    (src / "tiny.yaml").write_text(yaml.safe_dump(data))
    model, _ = load_model(src / "tiny.yaml")
    out = export_model(model, {}, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "cell.json", "model.py"]
    _assert_no_machine_paths(out, REPO, tmp_path)
    assert "nrnivmodl" not in (out / "README.md").read_text()   # nothing to compile


def test_export_refuses_unknown_and_non_finite_parameters(tmp_path):
    model, _ = load_model(TINY / "tiny.yaml")
    with pytest.raises(KeyError, match="gbar_nope"):
        export_model(model, {"gbar_nope.somatic": 1.0}, tmp_path)
    with pytest.raises(ValueError, match="not finite"):
        export_model(model, {"gnabar_hh.somatic": math.nan}, tmp_path)
    assert not list(tmp_path.iterdir())


def test_given_spike_times_travel_to_the_script(tmp_path):
    """Synapses driven by given event times (``spike_times_ms``, played by VecStim from the
    model's own .mod files) give the standalone script cellsweep's values exactly. Through the
    commands (a one-point sweep, export-model), each in its own process: the model's mechanism
    set is not the one this process may already hold."""
    data = yaml.safe_load((REPO / "tests" / "data" / "dendrotweaks" / "given_spikes.yaml")
                          .read_text())
    folder = REPO / "tests" / "data" / "dendrotweaks"
    data["cell"]["morphology"] = str(folder / data["cell"]["morphology"])
    data["cell"]["mechanisms_dir"] = str(folder / data["cell"]["mechanisms_dir"])
    data["protocols"].pop("netstim")
    data["features"] = [
        {"protocol": "given", "efel": "maximum_voltage", "mean": -60, "std": 1},
        {"protocol": "given", "recording": "soma", "efel": "maximum_voltage", "mean": -65,
         "std": 1, "window_ms": [18, 30], "name": "late_peak"},
        {"protocol": "given", "efel": "minimum_voltage", "mean": -65, "std": 1}]
    data["sweep"] = {"design": "grid", "parameters": {"gbar_Leak.all": {"values": [3.0e-4]}}}
    data["run"] = {"output": "given.h5", "progress": "none"}
    config = tmp_path / "given.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    from tests.helpers import run_cellsweep

    run_cellsweep("run", config, "--output", tmp_path / "given.h5", "--backend", "serial")
    out = tmp_path / "model"
    run_cellsweep("export-model", tmp_path / "given.h5", "--out", out)
    cell = json.loads((out / "cell.json").read_text())
    (stim,) = cell["protocols"][0]["stimuli"]
    assert stim["spike_times_ms"] == [[5.0, 15.0, 25.0], [10.0, 20.0]]
    assert "VecStim" in cell["mechanisms"]["point"] and "NetStim" not in cell["mechanisms"]["point"]
    _compile(out)
    found = _run_script(out, "--json")
    from cellsweep.sweep.store import ResultsFile

    f = ResultsFile(tmp_path / "given.h5")
    expected = dict(zip(f.feature_names, f.column("features")[0].tolist()))
    assert found == expected
    assert expected["given.soma.maximum_voltage"] >= expected["late_peak"] > -64.9  # events came
