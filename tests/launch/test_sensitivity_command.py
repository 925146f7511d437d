"""``cellsweep sensitivity`` and ``cellsweep export --npz`` through the real commands.

- the table, ``--json`` and ``--plot`` (two PNGs with content) of the Ishigami sweep
  (support/ishigami.py: the engine with the function in place of NEURON);
- a file of another design, unknown features, a bad plot name, a file whose points failed
  too often: refused, one line each, exit 2;
- the sbi export: shapes, names, validity mask, prior bounds;
- real cells: a ball-and-stick whose probe features provably do not depend on a synaptic
  conductance of another protocol (total index exactly 0), and a Saltelli sweep of the
  bundled example cell's four free parameters (shortened protocols) run, printed, plotted;
  ``cellsweep validate`` refuses bad design settings before anything is written.
"""

import json
import shutil

import numpy as np
import pytest
import yaml

from cellsweep.sweep.store import ResultsFile
from support.ishigami import run_ishigami
from tests.browser import not_blank
from tests.helpers import DATA, assert_same_results, run_cellsweep

SENS = DATA / "sensitivity"


def ishigami_config(folder, **sweep):
    data = yaml.safe_load((SENS / "ishigami.yaml").read_text())
    data["sweep"].update(sweep)
    data["sweep"] = {k: v for k, v in data["sweep"].items() if v is not None}
    path = folder / "ishigami.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def sobol_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ishigami")
    out = folder / "ishigami.h5"
    run_ishigami(ishigami_config(folder, n=256, second_order=True), out, fail=(0.0, 0.01))
    return out


def test_table_json_and_plot(sobol_file, tmp_path):
    text = run_cellsweep("sensitivity", sobol_file).stdout
    assert "Sobol' indices (saltelli, N = 256, second order" in text
    for name in ("gnabar_hh.somatic", "gkbar_hh.somatic", "gl_hh.somatic", "el_hh.somatic"):
        assert name in text
    assert "ishigami  (" in text and "score.ishigami  (" in text and "total_score  (" in text
    assert "dropped: a failed, pending or NaN point" in text
    assert "S2 gnabar_hh.somatic,gl_hh.somatic:" in text
    data = json.loads(run_cellsweep("sensitivity", sobol_file, "--json", "--features",
                                    "ishigami", "--no-scores").stdout)
    assert data["method"] == "sobol" and data["parameters"][0] == "gnabar_hh.somatic"
    assert {r["output"] for r in data["indices"]} == {"ishigami"}
    assert len(data["indices"]) == 4 * 2 + 6          # S1, ST per parameter; S2 per pair
    (counts,) = data["counts"]
    assert counts["blocks"] == 256 and 0 < counts["dropped"] < 256
    assert counts["valid"] == int((np.array(ResultsFile(sobol_file).statuses()) == "ok").sum())
    png = tmp_path / "plots" / "indices.png"
    proc = run_cellsweep("sensitivity", sobol_file, "--plot", png)
    assert f"plot written to {png}" in proc.stdout
    heatmap = png.with_name("indices_heatmap.png")
    for path in (png, heatmap):
        assert not_blank(path.read_bytes())
    assert sorted(p.name for p in png.parent.iterdir()) == ["indices.png", "indices_heatmap.png"]


def test_morris_table(tmp_path):
    out = tmp_path / "morris.h5"
    shutil.copy(SENS / "morris.yaml", tmp_path / "morris.yaml")
    run_ishigami(tmp_path / "morris.yaml", out)
    text = run_cellsweep("sensitivity", out, "--no-scores").stdout
    assert "Morris screening (64 trajectories, 4 levels" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("el_hh.somatic"))
    assert line.split()[1:] == ["0", "0", "±", "0", "0"]       # mu, mu* ± conf, sigma


def refused(*args) -> str:
    proc = run_cellsweep(*args, check=False)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert all(x.startswith("error: ") for x in lines) and "Traceback" not in proc.stderr
    return proc.stderr


def test_refusals(sobol_file, tmp_path):
    grid = {"design": "grid", "n": None, "second_order": None, "seed": None,
            "parameters": {"gnabar_hh.somatic": {"values": [0.1, 0.2]},
                           "gkbar_hh.somatic": {"values": [0.02]},
                           "gl_hh.somatic": {"values": [0.0003]}}}
    other = tmp_path / "grid.h5"
    run_ishigami(ishigami_config(tmp_path, **grid), other)
    err = refused("sensitivity", other)
    assert err.count("\n") == 1 and "a sweep of design 'grid'; cellsweep sensitivity needs a " \
        "sweep of design saltelli or morris" in err
    err = refused("sensitivity", sobol_file, "--features", "ishigami,nope")
    assert err.count("\n") == 1 and "no feature 'nope'" in err
    err = refused("sensitivity", sobol_file, "--plot", tmp_path / "x.pdf")
    assert err.count("\n") == 1 and "expected a .png file name" in err
    assert not list(tmp_path.glob("x*"))
    err = refused("sensitivity", tmp_path / "missing.h5")
    assert "no such results file" in err
    broken = tmp_path / "broken.h5"
    run_ishigami(ishigami_config(tmp_path, n=32, second_order=False), broken, fail=(0.0, 0.95))
    err = refused("sensitivity", broken)
    complete = int((np.array(ResultsFile(broken).statuses()) == "ok").reshape(32, 6)
                   .all(axis=1).sum())
    assert f"ishigami: not analysed: {complete} of 32 base samples complete" in err
    assert "at least 8 needed" in err


def test_sbi_export(sobol_file, tmp_path):
    out = tmp_path / "sbi" / "training.npz"
    proc = run_cellsweep("export", sobol_file, "--npz", out)
    assert "2560 rows exported" in proc.stdout
    with np.load(out, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    assert set(data) == {"theta", "x", "valid", "ids", "theta_names", "x_names", "lower",
                         "upper"}
    f = ResultsFile(sobol_file)
    assert data["theta"].shape == (2560, 4) and data["x"].shape == (2560, 1)
    assert data["theta"].dtype == np.float64 and data["valid"].dtype == bool
    assert data["theta_names"].tolist() == f.param_names
    assert data["x_names"].tolist() == ["ishigami"]
    np.testing.assert_array_equal(data["ids"], np.arange(2560))
    np.testing.assert_array_equal(data["theta"], f.column("parameters"))
    ok = np.array(f.statuses()) == "ok"
    assert 0 < (~ok).sum() and np.array_equal(data["valid"], ok)
    assert np.isnan(data["x"][~data["valid"]]).all() and np.isfinite(data["x"][ok]).all()
    np.testing.assert_array_equal(data["lower"], [0.05, 0.01, 0.0001, -70])
    np.testing.assert_array_equal(data["upper"], [0.2, 0.06, 0.001, -50])
    assert (data["theta"] >= data["lower"]).all() and (data["theta"] <= data["upper"]).all()
    err = refused("export", sobol_file, "--npz", tmp_path / "training.zip")
    assert "expected a file name ending in .npz" in err


@pytest.mark.neuron
def test_validate_refuses_bad_design_settings(tmp_path):
    data = yaml.safe_load((SENS / "ball_stick.yaml").read_text())
    data["sweep"] = {"design": "morris", "trajectories": 1, "levels": 3,
                     "parameters": {"gnabar_hh.somatic": {}, "e_pas.basal": {"values": [-65]}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for command in ("validate", "run"):
        err = refused(command, path)
        assert len(err.strip().splitlines()) == 4, err
        for expected in ("sweep.trajectories: expected a value >= 2",
                         "sweep.levels: expected an even number of levels",
                         "sweep.parameters['e_pas.basal'].values: unknown key",
                         "sweep.parameters['e_pas.basal']: expected low and high"):
            assert expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.neuron
def test_a_feature_that_cannot_depend_on_a_conductance_gets_zero(tmp_path):
    config = tmp_path / "ball_stick.yaml"
    shutil.copy(SENS / "ball_stick.yaml", config)
    ran = run_cellsweep("run", config, "-n", "2").stdout
    out = tmp_path / "ball_stick_sensitivity.h5"
    # the run ends with each feature's parameters by total index, the zero ones last
    brief = ran[ran.index("sensitivity (total Sobol' index ST"):].splitlines()
    probe = next(line for line in brief if line.strip().startswith("probe_mean_v:"))
    assert probe.rstrip().endswith("synaptic.syn.weight_uS 0.00")
    assert probe.index("probe.step.amp_nA") < probe.index("synaptic.syn.weight_uS")
    peak = next(line for line in brief if line.strip().startswith("synaptic_peak:"))
    assert peak.split(":")[1].split()[0] in ("synaptic.syn.weight_uS", "gnabar_hh.somatic")
    assert "score." not in "\n".join(brief)
    data = json.loads(run_cellsweep("sensitivity", out, "--json", "--no-scores").stdout)
    values = {(r["output"], r["parameter"], r["index"]): (r["value"], r["conf"])
              for r in data["indices"]}
    for output in ("probe_mean_v", "probe_max_v"):
        assert values[(output, "synaptic.syn.weight_uS", "ST")] == (0.0, 0.0)
        assert values[(output, "synaptic.syn.weight_uS", "S1")] == (0.0, 0.0)
        st, conf = values[(output, "probe.step.amp_nA", "ST")]
        assert st - conf > 0                      # its own stimulus does matter
    assert values[("synaptic_peak", "probe.step.amp_nA", "ST")] == (0.0, 0.0)
    st, conf = values[("synaptic_peak", "synaptic.syn.weight_uS", "ST")]
    assert st - conf > 0
    assert all(c["outcome"] == "analysed" and c["dropped"] == 0 for c in data["counts"])


@pytest.mark.neuron
@pytest.mark.slow
def test_saltelli_sweep_of_the_example_cell(repo, tmp_path):
    """The example cell's four free parameters, protocols shortened to keep it cheap."""
    data = yaml.safe_load((repo / "configs" / "example" / "sensitivity.yaml").read_text())
    folder = repo / "configs" / "example"
    data["cell"]["morphology"] = str(folder / data["cell"]["morphology"])
    data["cell"]["mechanisms_dir"] = str((folder / data["cell"]["mechanisms_dir"]).resolve())
    data["protocols"] = {"step_pos": data["protocols"]["step_pos"]}
    data["protocols"]["step_pos"]["tstop_ms"] = 250
    data["protocols"]["step_pos"]["stimuli"]["step"].update(delay_ms=50, duration_ms=150)
    data["features"] = [f for f in data["features"] if f["protocol"] == "step_pos"
                        and f["efel"] in ("Spikecount", "AP_height", "voltage_base")]
    data["sweep"]["n"] = 8
    data["run"] = {"output": "example_sensitivity.h5", "progress": "none"}
    config = tmp_path / "sensitivity.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    run_cellsweep("run", config, "-n", "2")
    out = tmp_path / "example_sensitivity.h5"
    assert ResultsFile(out).n_rows == 8 * 6
    png = tmp_path / "example.png"
    text = run_cellsweep("sensitivity", out, "--plot", png).stdout
    for name in ("g_pas.all", "gbar_na_t.somatic", "gbar_k_dr.somatic", "gbar_k_m.somatic"):
        assert name in text
    assert "step_pos.soma.Spikecount  (48 of 48 points valid" in text
    assert not_blank(png.read_bytes()) and not_blank(png.with_name("example_heatmap.png")
                                                     .read_bytes())


@pytest.mark.neuron
@pytest.mark.mpi
def test_a_saltelli_sweep_is_the_same_serially_and_under_mpi(tmp_path):
    data = yaml.safe_load((SENS / "ball_stick.yaml").read_text())
    data["sweep"]["n"] = 8
    config = tmp_path / "ball_stick.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    run_cellsweep("run", config, "--backend", "serial", "-o", tmp_path / "serial.h5")
    run_cellsweep("run", config, "-o", tmp_path / "mpi.h5", mpi=2)
    assert_same_results(tmp_path / "serial.h5", tmp_path / "mpi.h5")
    a, b = (json.loads(run_cellsweep("sensitivity", tmp_path / name, "--json").stdout)
            for name in ("serial.h5", "mpi.h5"))
    assert a["indices"] == b["indices"] and len(a["indices"]) == 7 * 2 * 3
