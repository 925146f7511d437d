"""The job scripts parse as bash (the SLURM one also runs for real in test_slurm.py; the PBS
one cannot here: no PBS server), and neither can resubmit without the chain rule."""

import subprocess
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[2] / "launch" / "jobs"


@pytest.mark.parametrize("script", ["slurm.sbatch", "pbs.sh"])
def test_job_script_is_valid_bash_and_asks_the_chain_rule(script):
    path = JOBS / script
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = path.read_text()
    resubmit = "sbatch " if script == "slurm.sbatch" else "qsub "
    # the only resubmission sits inside the branch the chain rule opens
    rule = text.index("python -m cellsweep.launch.chain")
    assert text.count(f'{resubmit}"${{opts[@]}}"') == 1
    assert text.index(f'{resubmit}"${{opts[@]}}"') > rule
    assert "--summary" in text and "NEURON_INIT_MPI=0" in text
