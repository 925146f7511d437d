"""A DendroTweaks model folder in a campaign: built with DendroTweaks' API in the test, swept
by ``cellsweep run`` (the real engine, two points), and the best point written back with
``cellsweep export-model --format dendrotweaks``: DendroTweaks opens that folder and simulates
it with the traces cellsweep computes for the same parameters (within 1e-9 mV; see
tests/cells/test_dendrotweaks.py for why not bit for bit). Bad uses are one line, exit 2."""

from __future__ import annotations

import json
import os
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
    # a model DendroTweaks cannot express in another workspace: its Default/ holds another
    # Leak, or none (the model's Leak came from this workspace's Default/)
    (root / "elsewhere" / "Default").mkdir(parents=True, exist_ok=True)
    (root / "elsewhere" / "Default" / "Leak.mod").write_text(
        (root / "Default" / "Leak.mod").read_text().replace("e = -70", "e = -60"))
    (root / "bare").mkdir(exist_ok=True)
    for out, message in (
            ("elsewhere/other", "mechanism 'Leak': DendroTweaks always uses its own Leak from "
                                "../Default (next to the output folder), and that file is not "
                                "this one"),
            ("bare/other", "mechanism 'Leak': DendroTweaks always uses its own Leak from "
                           f"../Default (next to the output folder), and "
                           f"{Path('bare') / 'Default' / 'Leak.mod'} is not there")):
        done = cellsweep("export-model", "sweep.h5", "--format", "dendrotweaks", "-o", out,
                         cwd=root)
        assert done.returncode == 2, done.stdout
        lines = done.stderr.strip().splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), done.stderr
        assert message in lines[0], lines
        assert not (root / out).exists()
        assert "Traceback" not in done.stderr
        assert not any(p.name.startswith(".other.") for p in (root / out).parent.iterdir())


def test_written_folder_reads_back_with_the_same_mechanisms(swept):
    """The exported folder has no Leak.mod of its own (DendroTweaks reads it from Default/):
    cellsweep reads it back with the campaign's mechanisms folder, the same files."""
    from cellsweep.cells.loader import load_model

    root = swept
    if not (root / "best").exists():
        done = cellsweep("export-model", "sweep.h5", "--format", "dendrotweaks", "-o", "best",
                         cwd=root)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (root / "best" / "biophys" / "mod").glob("*.mod")) == [
        "Kv.mod", "Na.mod"]
    (root / "best.yaml").write_text("cell:\n  dendrotweaks: best\n")
    campaign, _ = load_model(root / "sweep.yaml")
    written, _ = load_model(root / "best.yaml")
    assert written.cell.mechanisms_dir == campaign.cell.mechanisms_dir
    assert sorted(p.name for p in campaign.cell.mechanisms_dir.glob("*.mod")) == [
        "Kv.mod", "Leak.mod", "Na.mod"]
