#!/bin/bash
# cellsweep on a PBS Pro / OpenPBS / Torque cluster:
#   qsub -v CONFIG=configs/my_campaign.yaml launch/jobs/pbs.sh
# PBS has no warning before the wall-time limit (at the limit it sends SIGTERM, then SIGKILL
# after its kill_delay), so this script makes its own: CELLSWEEP_WARNING_S (120) seconds before
# the job's walltime it sends SIGUSR1 to the ranks (mpiexec passes it on). cellsweep stops
# handing out work, commits and exits with status 3, and the script queues the continuation
# with the same resources, queue and account. It resubmits only after that warning, only when
# the link finished evaluations, at most CELLSWEEP_MAX_LINKS (20) times, and never after a
# cancellation (qdel: SIGTERM, status 4). A link that resubmitted exits 0.
#
# Environment (qsub -v ... or exported with qsub -V): CONFIG (required), CELLSWEEP_ARGS (extra
# `cellsweep run` options), CELLSWEEP_VENV (.venv, relative to the submission directory),
# CELLSWEEP_LAUNCH (default: the venv's `mpiexec -n <ranks>`), CELLSWEEP_WARNING_S,
# CELLSWEEP_MAX_LINKS.
#PBS -N cellsweep
#PBS -l select=8:ncpus=64:mpiprocs=64
#PBS -l walltime=04:00:00
#PBS -j oe
set -uo pipefail

cd "${PBS_O_WORKDIR:-.}"
CONFIG=${CONFIG:?pass -v CONFIG=path/to/config.yaml}
VENV=${CELLSWEEP_VENV:-.venv}
if [ ! -x "$VENV/bin/cellsweep" ]; then
    echo "cellsweep: no cellsweep in '$VENV' (relative to $(pwd)): set CELLSWEEP_VENV" >&2
    exit 2
fi
source "$VENV/bin/activate"
export NEURON_INIT_MPI=0
LINK=${CELLSWEEP_LINK:-1}
MAX_LINKS=${CELLSWEEP_MAX_LINKS:-20}
WARNING_S=${CELLSWEEP_WARNING_S:-120}
read -r -a extra <<< "${CELLSWEEP_ARGS:-}"
NP=$(wc -l < "${PBS_NODEFILE:?not running under PBS}")
if [ -n "${CELLSWEEP_LAUNCH:-}" ]; then
    read -r -a launch <<< "$CELLSWEEP_LAUNCH"
else
    launch=("$VENV/bin/mpiexec" -n "$NP")
fi

info=$(qstat -f "$PBS_JOBID" 2>/dev/null | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n\t//g')
field() { sed -n "s|^ *$1 = \(.*\)$|\1|p" <<< "$info" | head -n 1; }
walltime=$(field Resource_List.walltime)
seconds() { local IFS=:; set -- $1; echo $(( 10#${1:-0} * 3600 + 10#${2:-0} * 60 + 10#${3:-0} )); }

summary=".cellsweep-${PBS_JOBID:-local}.summary.json"
rm -f "$summary"
cancelled=0 pid= timer=
trap 'cancelled=1; [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' TERM INT
echo "cellsweep: link $LINK of at most $MAX_LINKS; ${launch[*]} ($NP rank(s))," \
    "walltime ${walltime:-unknown}"
"${launch[@]}" cellsweep run "$CONFIG" --summary "$summary" "${extra[@]}" &
pid=$!
if [ -n "$walltime" ]; then
    used=$(seconds "$(field resources_used.walltime)")
    delay=$(( $(seconds "$walltime") - used - WARNING_S ))
    [ "$delay" -lt 1 ] && delay=1
    ( sleep "$delay" && kill -USR1 "$pid" 2>/dev/null ) &
    timer=$!
fi
status=
while [ -z "$status" ]; do
    wait "$pid"
    rc=$?
    if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
    status=$rc
done
pid=
[ -n "$timer" ] && kill "$timer" 2>/dev/null

flags=(--link "$LINK" --max-links "$MAX_LINKS")
[ "$cancelled" -eq 1 ] && flags+=(--cancelled)
if python -m cellsweep.launch.chain "$summary" "${flags[@]}"; then
    opts=(-W "depend=afterany:$PBS_JOBID" -N "${PBS_JOBNAME:-cellsweep}")
    [ -n "${PBS_QUEUE:-}" ] && opts+=(-q "$PBS_QUEUE")
    value=$(field Account_Name); [ -n "$value" ] && opts+=(-A "$value")
    [ -n "$walltime" ] && opts+=(-l "walltime=$walltime")
    value=$(field Resource_List.select); [ -n "$value" ] && opts+=(-l "select=$value")
    value=$(field Resource_List.nodes); [ -n "$value" ] && opts+=(-l "nodes=$value")
    vars="CONFIG=$CONFIG,CELLSWEEP_LINK=$((LINK + 1)),CELLSWEEP_MAX_LINKS=$MAX_LINKS"
    vars+=",CELLSWEEP_VENV=$VENV,CELLSWEEP_WARNING_S=$WARNING_S"
    [ -n "${CELLSWEEP_ARGS:-}" ] && vars+=",CELLSWEEP_ARGS=$CELLSWEEP_ARGS"
    [ -n "${CELLSWEEP_LAUNCH:-}" ] && vars+=",CELLSWEEP_LAUNCH=$CELLSWEEP_LAUNCH"
    if qsub "${opts[@]}" -v "$vars" "$0"; then
        exit 0
    fi
    echo "cellsweep: the continuation could not be queued; resume with the same qsub" >&2
fi
exit "$status"
