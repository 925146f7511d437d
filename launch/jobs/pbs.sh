#!/bin/bash
# cellsweep on a PBS/Torque cluster:  qsub -v CONFIG=configs/my_campaign.yaml launch/jobs/pbs.sh
# At the wall-time limit PBS sends SIGTERM (then SIGKILL after its kill_delay); mpiexec forwards
# it to every rank and cellsweep stops cleanly (exit status 3). Resubmit to resume.
#PBS -N cellsweep
#PBS -l select=8:ncpus=64:mpiprocs=64
#PBS -l walltime=04:00:00
#PBS -j oe
set -uo pipefail

cd "${PBS_O_WORKDIR:-.}"
source "${CELLSWEEP_VENV:-.venv}/bin/activate"
export NEURON_INIT_MPI=0

NP=$(wc -l < "${PBS_NODEFILE:?not running under PBS}")
mpiexec -n "$NP" cellsweep run "${CONFIG:?pass -v CONFIG=path/to/config.yaml}"
status=$?
if [ "$status" -eq 3 ]; then
    qsub -v CONFIG="$CONFIG" "$0"
fi
exit "$status"
