"""What a new user tripped over, through the real command line: ``evaluate --params`` with the
output of ``best``, the rate ``status`` reports, the DISPLAY banner, units in the results file,
and readers refusing what is not a results file with one line."""

import json
import subprocess

import pytest
import yaml

from cellsweep.sweep import results
from cellsweep.sweep import store as St
from tests.helpers import cellsweep_command, copy_tiny, env, run_cellsweep

pytestmark = pytest.mark.neuron


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny sweep, run once with two workers: (config, results file)."""
    folder = tmp_path_factory.mktemp("tiny")
    config = copy_tiny(folder)
    out = folder / "tiny.h5"
    run_cellsweep("run", config, "-o", out, "--workers", "2")
    return config, out


def features_of(stdout: str) -> dict:
    """{feature: value text} from evaluate's table."""
    rows = {}
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("step.soma."):
            rows[parts[0]] = parts[1]
    return rows


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
def test_evaluate_takes_the_output_of_best(finished, tmp_path, fmt):
    config, out = finished
    if fmt == "csv":
        run_cellsweep("export", out, "--csv", tmp_path / "all.csv")
        frame = results.load(out)
        best_id = int(frame.sort_values(["total_score", "eval_id"]).iloc[0]["eval_id"])
        lines = (tmp_path / "all.csv").read_text().splitlines()
        header = lines[0].split(",")
        row = next(r for r in lines[1:] if r.split(",")[header.index("eval_id")] == str(best_id))
        params = tmp_path / "best.csv"
        params.write_text(lines[0] + "\n" + row + "\n")
    else:
        params = tmp_path / f"best.{fmt}"
        params.write_text(run_cellsweep("best", out, "--format", fmt).stdout)
        best_id = (yaml.safe_load if fmt == "yaml" else json.loads)(params.read_text())[0][
            "eval_id"]
    via_file = run_cellsweep("evaluate", config, "--params", params, "--no-plot")
    chosen = results.best(out)[0]["parameters"] if fmt != "csv" else {
        k: float(v) for k, v in results.load(out).set_index("eval_id").loc[best_id][
            list(results.best(out)[0]["parameters"])].items()}
    sets = [f"--set={k}={v!r}" for k, v in chosen.items()]
    via_sets = run_cellsweep("evaluate", config, *sets, "--no-plot")
    assert features_of(via_file.stdout) and features_of(via_file.stdout) == \
        features_of(via_sets.stdout)
    stored = results.load(out).set_index("eval_id").loc[best_id]
    for name, text in features_of(via_file.stdout).items():
        if text != "missing":
            assert float(text) == pytest.approx(stored[name], rel=1e-4), name


def test_evaluate_refuses_a_bad_params_file(finished, tmp_path):
    config, _ = finished
    bad = tmp_path / "bad.yaml"
    bad.write_text("gnabar_hh.somatic: fast\n")
    proc = run_cellsweep("evaluate", config, "--params", bad, "--no-plot", check=False)
    assert proc.returncode == 2 and "gnabar_hh.somatic: expected a number" in proc.stderr
    bad.write_text("gnabar_hh.somatc: 0.1\n")
    proc = run_cellsweep("evaluate", config, "--params", bad, "--no-plot", check=False)
    assert proc.returncode == 2 and "unknown region 'somatc'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (("--set", "sim.dt_ms=-1"), "--set sim.dt_ms: expected a value > 0, found -1"),
    (("--set", "gnabar_hh.somatic=nan"), "--set gnabar_hh.somatic: expected a finite number"),
    (("--set", "nseg.somatic=0.5"), "--set nseg.somatic: expected a whole number of segments"),
])
def test_evaluate_refuses_values_no_evaluation_could_use(finished, args, message):
    config, _ = finished
    proc = run_cellsweep("evaluate", config, *args, "--no-plot", check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_params_file_goes_through_the_config_loader(finished, tmp_path):
    config, _ = finished
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    proc = run_cellsweep("evaluate", config, "--params", deep, "--no-plot", check=False)
    assert proc.returncode == 2 and "nested more than 100 levels deep" in proc.stderr
    twice = tmp_path / "twice.yaml"
    twice.write_text("gnabar_hh.somatic: 0.1\ngnabar_hh.somatic: 0.2\n")
    proc = run_cellsweep("evaluate", config, "--params", twice, "--no-plot", check=False)
    assert proc.returncode == 2 and "appears twice in one mapping" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_rate_is_evaluations_per_second_of_the_run(finished):
    _, out = finished
    info = results.status(out)
    frame = results.load(out)
    runs = json.loads(St.ResultsFile(out).attrs["runs"])
    assert info["complete"] and info["done"] == len(frame) == 12 and len(runs) == 1
    wall = runs[0]["ended"] - runs[0]["started"]
    assert runs[0]["evaluated"] == 12 and info["rate_per_s"] == pytest.approx(12 / wall)
    # two workers cannot finish faster than the evaluations' own time allows
    busy = frame["time.total_s"].sum()
    assert info["rate_per_s"] <= 12 / (busy / 2)


def test_no_display_banner(finished):
    config, _ = finished
    # neither a display nor the option this process may have set for itself
    environment = {k: v for k, v in env().items()
                   if k not in ("DISPLAY", "NEURON_MODULE_OPTIONS")}
    proc = subprocess.run(cellsweep_command("evaluate", config, "--no-plot"),
                          capture_output=True, text=True, env=environment, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "DISPLAY" not in proc.stdout + proc.stderr


def test_parameter_units_are_stored(repo, tmp_path):
    from cellsweep.launch.run import prepare

    _, plan = prepare(repo / "configs" / "example" / "example.yaml",
                      output=tmp_path / "x.h5")
    from cellsweep.sweep.engine import param_units

    units = dict(zip(plan.sweep.names, param_units(plan.model, plan.sweep.names)))
    assert units == {"gbar_k_m.somatic": "S/cm2", "step_pos.step.amp_nA": "nA"}
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("command", [("status",), ("export", "--csv", "x.csv"), ("best",),
                                     ("plot",), ("export-model",)])
def test_readers_refuse_what_is_not_a_results_file(tmp_path, command):
    bad = tmp_path / "notes.h5"
    bad.write_bytes(b"\x00" * 100)
    proc = subprocess.run(cellsweep_command(command[0], bad, *command[1:]), cwd=tmp_path,
                          capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "cannot open as an HDF5 file" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x.csv").exists()
