"""``cellsweep profile`` through the real command: one file with the same numbers serially, with
processes and under ``mpiexec -n 2``; the FI rows equal an FI curve inside one sweep
evaluation, bit for bit; a sweep with profile features; bad profile input refused up front."""

import shutil

import numpy as np
import pytest

from cellsweep.sweep.store import ResultsFile
from tests.helpers import DATA, assert_same_results, run_cellsweep, write_config

pytestmark = [pytest.mark.neuron, pytest.mark.slow]

CELL = """
cell:
  name: tiny_ball_stick
  morphology: ball_stick.swc
  insert: {somatic: [hh], basal: [pas]}
  fixed: {celsius: 6.3, Ra.all: 100, cm.all: 1.0, g_pas.basal: 1.0e-4, e_pas.basal: -65}
  free:
    gnabar_hh.somatic: {low: 0.05, high: 0.2, default: 0.12}
protocols:
  step:
    tstop_ms: 100
    stimuli: {stim: {kind: step, amp_nA: 0.3, delay_ms: 20, duration_ms: 60}}
profile:
  passive: {delay_ms: 50, duration_ms: 100, after_ms: 10, baseline_ms: 40, steady_ms: 20}
  fi: {amplitudes_nA: [0.0, 0.1, 0.2, 0.3, 0.4], delay_ms: 20, duration_ms: 200, after_ms: 30}
  rheobase: {delay_ms: 20, duration_ms: 200, after_ms: 30, tolerance_nA: 0.002}
  zap: {duration_ms: 2000, delay_ms: 100, f_end_hz: 10, grid_step_hz: 0.5}
  dendrite: {region: basal, step_um: 50, max_um: 250}
"""


@pytest.fixture
def config(tmp_path):
    shutil.copy(DATA / "tiny" / "ball_stick.swc", tmp_path / "ball_stick.swc")
    return write_config(tmp_path / "cell.yaml", CELL + "features:\n"
                        "  - {protocol: step, efel: Spikecount, mean: 5, std: 1}\n")


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profile_serial")
    shutil.copy(DATA / "tiny" / "ball_stick.swc", folder / "ball_stick.swc")
    path = write_config(folder / "cell.yaml", CELL)
    out = folder / "serial.h5"
    proc = run_cellsweep("profile", path, "-o", out, "--backend", "serial",
                         "--set", "gnabar_hh.somatic=0.11")
    return path, out, proc.stdout


def test_profile_prints_the_table_and_writes_one_file(serial):
    _, out, stdout = serial
    for name in ("v_rest", "input_resistance", "tau_m", "tau_m_exp2", "sag", "rheobase",
                 "fi_curve@0.2nA", "fi_slope", "resonance_frequency", "peak_impedance",
                 "bap_amplitude@50um", "local_input_resistance@100um"):
        assert f"\n{name} " in stdout, name
    results = ResultsFile(out)
    assert results.kind == "profile" and results.complete
    group = results.profile()
    names = [n.decode() if isinstance(n, bytes) else n for n in group["measures"]["names"]]
    values = dict(zip(names, group["measures"]["values"]))
    assert -70 < values["v_rest"] < -60 and values["input_resistance"] > 0
    assert values["rheobase_bracket_low"] < values["rheobase"]
    assert np.all(np.isfinite(results.curves()["passive.v"]["values"][0]))
    assert results.frame()["gnabar_hh.somatic"].eq(0.11).all()


@pytest.mark.mpi
@pytest.mark.parametrize("how", ["processes", "mpi2"])
def test_same_file_serially_with_processes_and_mpi(serial, how, tmp_path):
    path, reference, _ = serial
    out = tmp_path / f"{how}.h5"
    if how == "mpi2":
        run_cellsweep("profile", path, "-o", out, "--set", "gnabar_hh.somatic=0.11", mpi=2)
    else:
        run_cellsweep("profile", path, "-o", out, "--workers", "2",
                      "--set", "gnabar_hh.somatic=0.11")
    assert_same_results(reference, out)


def test_fi_rows_equal_the_fi_curve_inside_one_sweep_evaluation(serial, tmp_path):
    path, out, _ = serial
    shutil.copy(DATA / "tiny" / "ball_stick.swc", tmp_path / "ball_stick.swc")
    sweep = write_config(tmp_path / "sweep.yaml", CELL + """
features:
  - {profile: fi_curve, mean: [0, 5, 10, 15, 20], std: 5}
  - {profile: fi_slope, mean: 50, std: 10}
  - {profile: resonance_frequency, mean: 2, std: 1}
sweep:
  design: grid
  parameters: {gnabar_hh.somatic: {values: [0.11, 0.15]}}
run: {progress: none}
""")
    run_cellsweep("run", sweep, "-o", tmp_path / "sweep.h5", "--workers", "2")
    swept = ResultsFile(tmp_path / "sweep.h5").frame()
    profile = ResultsFile(out)
    group = profile.profile()
    row = swept[swept["gnabar_hh.somatic"] == 0.11].iloc[0]
    amps = [0.0, 0.1, 0.2, 0.3, 0.4]
    assert [row[f"fi_curve@{a:g}nA"] for a in amps] == group["fi"]["rates_Hz"].tolist()
    names = [n.decode() if isinstance(n, bytes) else n for n in group["measures"]["names"]]
    values = dict(zip(names, group["measures"]["values"]))
    assert row["fi_slope"] == values["fi_slope"]
    # the sweep keeps the small curves per row: a family of impedance curves
    curves = ResultsFile(tmp_path / "sweep.h5").curves()
    assert curves["zap.impedance"]["values"].shape[0] == 2
    assert np.isfinite(curves["zap.impedance"]["values"]).any(axis=1).all()


def test_rerun_is_complete_and_prints_the_table_again(serial):
    path, out, _ = serial
    proc = run_cellsweep("profile", path, "-o", out, "--set", "gnabar_hh.somatic=0.11")
    assert "already complete" in proc.stdout and "\nrheobase " in proc.stdout


@pytest.mark.parametrize("profile, expected", [
    ("profile: {passive: {amp_nA: 0}}", "profile.passive.amp_nA: expected a non-zero step"),
    ("profile: {fi: {amplitudes_nA: [0.1, 0.1]}}", "profile.fi.amplitudes_nA: values must be"),
    ("profile: {rheobase: {low_nA: 1, high_nA: 0.5}}", "expected low_nA < high_nA <= max_nA"),
    ("profile: {zap: {sample_dt_ms: 40}}", "cannot resolve f_end_hz"),
    ("profile: {dendrite: {region: apicl}}", "unknown region 'apicl'"),
    ("profile: {passive: {amp_na: 1}}", "profile.passive.amp_na: unknown key"),
    ("profile: {measures: [rheobse]}", "unknown measure or kind 'rheobse'"),
])
def test_bad_profile_input_is_refused_before_any_work(config, profile, expected, tmp_path):
    text = config.read_text().replace("\nprofile:\n", "\nold_profile:\n", 1)
    text = text.split("old_profile:")[0] + profile + "\nfeatures:\n" + text.split("features:\n")[1]
    bad = write_config(tmp_path / "bad.yaml", text)
    for command in (["validate", bad], ["profile", bad, "-o", tmp_path / "bad.h5"]):
        proc = run_cellsweep(*command, check=False)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "bad.h5").exists()


@pytest.mark.parametrize("feature, expected", [
    ("{profile: input_resistnce, mean: 1, std: 1}", "unknown profile measure"),
    ("{profile: fi_curve, mean: [1, 2], std: 1}", "expected 5 values"),
    ("{profile: impedance, mean: 1, std: 1}", "needs the frequency"),
    ("{profile: rheobase, experiment: {amp_nA: 1}, mean: 1, std: 1}",
     "unknown setting of a rheobase experiment"),
    ("{profile: tau_m, efel: Spikecount, mean: 1, std: 1}", "either an eFEL feature"),
])
def test_bad_profile_features_are_refused(config, feature, expected, tmp_path):
    bad = write_config(tmp_path / "bad.yaml", config.read_text() + f"  - {feature}\n")
    proc = run_cellsweep("validate", bad, check=False)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr


def test_status_prints_the_table_and_best_refuses_a_profile(serial):
    _, out, _ = serial
    proc = run_cellsweep("status", out)
    assert "complete" in proc.stdout and "\ninput_resistance " in proc.stdout
    for command in ("best", "export-model"):
        proc = run_cellsweep(command, out, check=False)
        assert proc.returncode == 2 and "a profile (one parameter set" in proc.stderr
