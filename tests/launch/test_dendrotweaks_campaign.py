"""A DendroTweaks model folder in a campaign: built with DendroTweaks' API in the test, swept
by ``cellsweep run`` (the real engine, two points), and the best point written back with
``cellsweep export-model --format dendrotweaks``: DendroTweaks opens that folder and simulates
it with the traces cellsweep computes for the same parameters (within 1e-9 mV; see
tests/cells/test_dendrotweaks.py for why not bit for bit). Bad uses are one line, exit 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dendrotweaks")

from tests.cells.test_dendrotweaks import (BUILD, SWC, TOLERANCE_MV, VENV_BIN,  # noqa: E402
                                           new_folder, run_python, simulate_cellsweep,
                                           simulate_dendrotweaks)

CONFIG = """
cell:
  dendrotweaks: cell
  morphology: cell
  biophys: biophys
  stimuli: step
  free:
    gbar_Na.somatic: {low: 0.05, high: 0.2}
features:
  - {protocol: step, recording: v_sec0_0p5, efel: Spikecount, mean: 3, std: 1}
sweep:
  design: grid
  parameters:
    gbar_Na.somatic: {values: [0.08, 0.15]}
    gbar_Na.apical_far.slope: {values: [2.0e-4]}
run:
  output: sweep.h5
  progress: none
"""


def cellsweep(*args, cwd):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               NEURON_INIT_MPI="0")
    return subprocess.run([sys.executable, "-m", "cellsweep", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("dt_campaign")
    folder = new_folder(root)
    (folder / "morphology" / "cell.swc").write_text(SWC)
    run_python(BUILD, folder, root / "built.json", cwd=root)
    (root / "sweep.yaml").write_text(CONFIG)
    done = cellsweep("run", "sweep.yaml", "--backend", "serial", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_best_of_a_sweep_opens_in_dendrotweaks(swept):
    root = swept
    best = cellsweep("best", "sweep.h5", "--format", "json", cwd=root)
    assert best.returncode == 0, best.stderr
    chosen = json.loads(best.stdout)[0]["parameters"]
    assert set(chosen) == {"gbar_Na.somatic", "gbar_Na.apical_far.slope"}
    done = cellsweep("export-model", "sweep.h5", "--format", "dendrotweaks", "-o", "best",
                     cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "written as the DendroTweaks folder" in done.stdout
    bio = json.loads((root / "best" / "biophys" / "biophys.json").read_text())
    assert bio["metadata"]["name"] == "best"
    assert bio["params"]["gbar_Na"]["somatic"]["parameters"]["value"] == \
        chosen["gbar_Na.somatic"]
    assert bio["params"]["gbar_Na"]["apical_far"]["parameters"]["slope"] == \
        chosen["gbar_Na.apical_far.slope"]
    dt = simulate_dendrotweaks(root / "best", root / "dt_best.json")
    cs = simulate_cellsweep(root / "sweep.yaml", root / "cs_best.json", chosen)["step"]
    assert list(cs) == [f"v_sec{k.split(':')[0]}_0p5" for k in dt["v"]]
    for (name, (t, v)), values in zip(cs.items(), dt["v"].values()):
        assert np.array_equal(t, dt["t"]), name
        assert np.max(np.abs(np.asarray(v) - np.asarray(values))) < TOLERANCE_MV, name


def test_export_refusals_are_one_line(swept):
    root = swept
    (root / "taken").mkdir(exist_ok=True)
    (root / "taken" / "x").write_text("")
    done = cellsweep("export-model", "sweep.h5", "--format", "dendrotweaks", "-o", "taken",
                     cwd=root)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --out taken: exists and is not an empty folder; expected a new folder for the "
        "DendroTweaks model"]
    # a model DendroTweaks cannot express: its Leak is not DendroTweaks' own default
    shutil.copyfile(root / "Default" / "Leak.mod", root / "Leak.keep")
    (root / "Default" / "Leak.mod").write_text("changed\n")
    try:
        done = cellsweep("export-model", "sweep.h5", "--format", "dendrotweaks", "-o", "other",
                         cwd=root)
    finally:
        shutil.copyfile(root / "Leak.keep", root / "Default" / "Leak.mod")
    assert done.returncode == 2, done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), done.stderr
    assert "mechanism 'Leak': DendroTweaks always uses its own Leak from ../Default" in lines[0]
    assert not (root / "other").exists()
    assert "Traceback" not in done.stderr
    assert not any(p.name.startswith(".other.") for p in Path(root).iterdir())
