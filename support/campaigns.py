"""Campaigns of the tiny test model that last a few seconds: what the kill, signal and
lost-rank tests and the rank-loss benchmark interrupt."""

from pathlib import Path

import yaml

TINY = Path(__file__).resolve().parents[1] / "tests" / "data" / "tiny"


def bigger_tiny(folder, n_side: int, **run) -> Path:
    """The tiny model with an n_side x n_side grid (about 20 ms an evaluation); ``run`` keys
    are added to its run section."""
    data = yaml.safe_load((TINY / "tiny.yaml").read_text())
    data["cell"]["morphology"] = str(TINY / "ball_stick.swc")
    data["sweep"]["parameters"] = {
        "gnabar_hh.somatic": {"linspace": [0.05, 0.2, n_side]},
        "step.stim.amp_nA": {"linspace": [0.0, 0.6, n_side]}}
    data["protocols"]["step"]["tstop_ms"] = 400
    data["run"] = {"progress": "log", "log_interval_s": 0.5, "commit_interval_s": 0.3, **run}
    path = Path(folder) / "campaign.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
