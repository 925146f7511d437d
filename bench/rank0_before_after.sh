#!/usr/bin/env bash
# Rank 0's cost per result before and after lost-rank detection (heartbeats both ways, a lease
# per task: issue 16), side by side in one run: commit BEFORE (default 4b65aba) and this
# checkout, both laid out as installed, alternated A B A B ... The trivial campaign through the
# real executor (mpiexec -n 3) and rank 0 saturated (flood, 1 and 50 results a message).
# Prints JSON lines with a "variant" key.
#
#   bash bench/rank0_before_after.sh [repeats] [BEFORE]
set -euo pipefail
cd "$(dirname "$0")/.."
export NEURON_INIT_MPI=0
PY=$PWD/.venv/bin/python
MPIEXEC=$PWD/.venv/bin/mpiexec
BEFORE=${2:-4b65aba}
source bench/side_by_side.sh
both_laid_out "$BEFORE"
for repeat in $(seq "${1:-5}"); do
    for side in before after; do
        lay=$(laid_out "$side")
        export PYTHONPATH=$lay        # evaluation children import from the same copy
        "$MPIEXEC" -n 3 "$PY" "$lay/bench/engine_bench.py" trivial-mpi --tasks 20000 --repeats 1 \
            | grep '"trivial"' | sed "s/^{/{\"variant\": \"$side ($BEFORE vs HEAD), trivial\", /"
        for batch in 1 50; do
            tasks=$([ "$batch" = 1 ] && echo 20000 || echo 100000)
            "$MPIEXEC" -n 3 "$PY" "$lay/bench/engine_bench.py" flood --tasks "$tasks" \
                --repeats 1 --batch "$batch" | grep '"flood"' \
                | sed "s/^{/{\"variant\": \"$side ($BEFORE vs HEAD), flood batches of $batch\", /"
        done
    done
done
