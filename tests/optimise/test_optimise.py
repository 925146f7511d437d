"""Optimisation campaigns: BluePyOpt's own results, any number of workers, kills and resumes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import (DATA, assert_same_results, env, optimisation_group, plain,
                           run_cellsweep)

pytestmark = pytest.mark.neuron
HERE = Path(__file__).resolve().parent


@pytest.fixture()
def simplecell(tmp_path, bluepyopt_simplecell):
    """The simplecell optimisation config, pointing at the installed BluePyOpt's simple.swc."""
    data = yaml.safe_load((DATA / "simplecell" / "optimise_simplecell.yaml").read_text())
    data["cell"]["morphology"] = str(bluepyopt_simplecell / "simple.swc")
    return data, tmp_path


def write(data, folder, name="opt.yaml", **optimise):
    data = json.loads(json.dumps(data))
    data["optimise"].update(optimise)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_ibea_equals_bluepyopts_own_optimisation_and_reaches_the_good_region(simplecell):
    data, tmp = simplecell
    config = write(data, tmp)
    out = tmp / "ours.h5"
    run_cellsweep("run", config, "-o", out, "--workers", "2")
    reference = tmp / "bluepyopt.json"
    proc = subprocess.run([sys.executable, str(HERE.parents[1] / "support" / "bluepyopt_reference.py"),
                           data["cell"]["morphology"], str(reference), "10", "5", "1"],
                          capture_output=True, text=True, env=env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(reference.read_text())
    ours = optimisation_group(out)
    assert np.array_equal(ours["hall_of_fame/parameters"], np.array(theirs["hall_of_fame"]))
    assert np.array_equal(ours["hall_of_fame/scores"], np.array(theirs["hall_of_fame_scores"]))
    for key in ("gen", "nevals", "avg", "std", "min", "max"):
        assert ours[f"logbook/{key}"].tolist() == theirs["logbook"][key], key
    assert np.array_equal(ours["final_population/parameters"], np.array(theirs["population"]))
    # the known good region: both spike counts exactly right
    assert ours["hall_of_fame/scores"][0].tolist() == [0.0, 0.0]
    best = ours["hall_of_fame/parameters"][0]
    assert 0.09 < best[0] < 0.125 and 0.01 < best[1] < 0.04
    with plain(out) as f:
        assert f.attrs["kind"] == "optimise" and f.attrs["complete"]
        assert f["generation"][:].tolist() == [g for g in range(1, 6) for _ in range(10)]
        front = f["optimisation/pareto_front/eval_id"][:]
        assert len(front) >= 1 and (f["total_score"][:][front] == 0).all()


@pytest.mark.parametrize("workers, mpi", [("1", None), ("3", None),
                                          pytest.param(None, 2, marks=pytest.mark.mpi),
                                          pytest.param(None, 3, marks=pytest.mark.mpi)])
def test_same_seed_same_result_with_any_number_of_workers(simplecell, workers, mpi):
    data, tmp = simplecell
    config = write(data, tmp, offspring_size=8, max_generations=3, seed=7)
    reference = tmp / "two.h5"
    run_cellsweep("run", config, "-o", reference, "--workers", "2")
    out = tmp / "other.h5"
    args = ("--workers", workers) if workers else ()
    run_cellsweep("run", config, "-o", out, *args, mpi=mpi)
    assert_same_results(reference, out)


@pytest.mark.parametrize("algorithm", ["NSGA2", "SO-CMA", "MO-CMA"])
def test_other_algorithms_run_and_record_every_evaluation(simplecell, algorithm):
    data, tmp = simplecell
    config = write(data, tmp, algorithm=algorithm, offspring_size=6, max_generations=3)
    out = tmp / f"{algorithm}.h5"
    run_cellsweep("run", config, "-o", out)
    group = optimisation_group(out)
    with plain(out) as f:
        n = f["status"].shape[0]
        assert n >= 12 and (f["status"][:] == 0).all()
        assert len(group["logbook/gen"]) >= 2
        assert group["hall_of_fame/parameters"].shape[1] == 2
        first_generation = 0 if algorithm == "MO-CMA" else 1
        assert f["generation"][0] == first_generation


@pytest.mark.slow
@pytest.mark.parametrize("mpi", [None, pytest.param(2, marks=pytest.mark.mpi)])
def test_killed_optimisation_resumes_to_the_uninterrupted_result(simplecell, mpi):
    data, tmp = simplecell
    # ~3 s of campaign (60 generations of 5 ms evaluations), so that kills land inside it
    config = write(data, tmp, offspring_size=12, max_generations=60, seed=3)
    reference = tmp / "reference.h5"
    run_cellsweep("run", config, "-o", reference)
    out = tmp / "killed.h5"
    from tests.launch.test_reliability import kill_and_resume

    seen = kill_and_resume(config, out, kills=10, mpi=mpi, seed=5)
    assert max(seen) > 0, "the kills must land while evaluations are journaled"
    run_cellsweep("run", config, "-o", out, mpi=mpi)
    assert_same_results(reference, out)


def test_changed_optimiser_settings_are_refused(simplecell):
    data, tmp = simplecell
    config = write(data, tmp, offspring_size=6, max_generations=2)
    out = tmp / "o.h5"
    run_cellsweep("run", config, "-o", out)
    config = write(data, tmp, offspring_size=6, max_generations=3)
    refused = run_cellsweep("run", config, "-o", out, check=False)
    assert refused.returncode == 2 and "different config" in refused.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["optimise"].update(algorithm="IBAE"),
     "optimise.algorithm: unknown value 'IBAE'; expected one of IBEA, NSGA2, SO-CMA, MO-CMA"),
    (lambda d: d["optimise"].update(offspring_size=1),
     "optimise.offspring_size: expected a value >= 2, found 1"),
    (lambda d: (d["cell"]["fixed"].update({"gnabar_hh.somatic": 0.1, "gkbar_hh.somatic": 0.03}),
                d["cell"].update(free={})),
     "optimise: nothing to optimise: declare free parameters"),
    (lambda d: d.update(sweep={"design": "grid"}),
     "has both sweep: and optimise:"),
])
def test_bad_optimise_sections(simplecell, edit, message):
    data, tmp = simplecell
    data = json.loads(json.dumps(data))
    edit(data)
    config = tmp / "bad.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_cellsweep("run", config, "-o", tmp / "x.h5", check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp / "x.h5").exists()


def test_best_and_export_model_from_the_command_line(simplecell):
    data, tmp = simplecell
    config = write(data, tmp, offspring_size=6, max_generations=3)
    out = tmp / "o.h5"
    run_cellsweep("run", config, "-o", out)
    listed = yaml.safe_load(run_cellsweep("best", out, "-n", "2").stdout)
    assert len(listed) == 2 and listed[0]["total_score"] <= listed[1]["total_score"]
    with plain(out) as f:
        best_id = int(f["optimisation/hall_of_fame/eval_id"][0])
        names = [n.decode() if isinstance(n, bytes) else n for n in f["features"].attrs["names"]]
        stored = dict(zip(names, f["features"][best_id].tolist()))
    assert listed[0]["eval_id"] == best_id
    run_cellsweep("export-model", out, "--out", tmp / "model")
    proc = subprocess.run([sys.executable, "model.py", "--json"], cwd=tmp / "model",
                          capture_output=True, text=True, env=env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    exported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert exported == stored
    changed = yaml.safe_load(config.read_text())
    changed["features"][0]["std"] = 0.1
    other = tmp / "other.yaml"
    other.write_text(yaml.safe_dump(changed, sort_keys=False))
    refused = run_cellsweep("export-model", out, "--config", other, check=False)
    assert refused.returncode == 2 and "is not the config that produced" in refused.stderr
