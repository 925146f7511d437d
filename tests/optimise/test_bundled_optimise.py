"""The bundled optimisation example (configs/example/optimise.yaml): it validates, its targets
are the features of the ground truth its comment states, and the truth lies within the bounds.

The run itself (1000 evaluations, about 2.5 minutes on 2 cores) is longer than a test should
take; its measured outcome is in the README ("Quick start")."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cellsweep

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "example" / "optimise.yaml"
TRUTH = {"g_pas.all": 3.0e-5, "gbar_na_t.somatic": 0.1, "gbar_k_dr.somatic": 0.08,
         "gbar_k_m.somatic": 0.005}


def test_bundled_optimisation_validates():
    proc = subprocess.run([sys.executable, "-m", "cellsweep", "validate", str(CONFIG)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NEURON_INIT_MPI": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IBEA optimisation, 20 offspring x 50 generations (1000 evaluations)" in proc.stdout, \
        proc.stdout


def test_truth_stated_in_the_config_and_within_its_bounds():
    stated = {name: float(value) for name, value in
              re.findall(r"(\S+\.\S+) = ([0-9.e-]+)", CONFIG.read_text())}
    assert stated == TRUTH
    model = cellsweep.load_model(CONFIG)
    free = {p.name: p for p in model.free_parameters}
    assert set(free) == set(TRUTH)
    for name, value in TRUTH.items():
        assert free[name].low < value < free[name].high, name


@pytest.mark.neuron
def test_targets_are_the_features_of_the_truth():
    model = cellsweep.load_model(CONFIG)
    truth = cellsweep.evaluate(model, TRUTH)
    assert truth.status == "ok" and not truth.missing
    # the means are the truth's values rounded to 4 digits: every score stays far below 1
    assert max(truth.scores.values()) < 0.05, truth.scores
    assert truth.total_score < 0.1
    # and the middle of the bounds, where `cellsweep evaluate` starts, is far from them
    assert cellsweep.evaluate(model).total_score > 50
