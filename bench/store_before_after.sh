#!/usr/bin/env bash
# The results file's writer and rank 0's cost while saturated (BENCHMARKS.md §6) before and
# after the store got one owner (sweep.store), side by side in one run: a checkout of commit
# BEFORE (default f26e873, the last commit with the old store) and this checkout, alternated
# A B A B ... Prints JSON lines with a "variant" key.
#
#   bash bench/store_before_after.sh [repeats] [BEFORE]
set -euo pipefail
cd "$(dirname "$0")/.."
export NEURON_INIT_MPI=0
PY=$PWD/.venv/bin/python
MPIEXEC=$PWD/.venv/bin/mpiexec
BEFORE=${2:-f26e873}
source bench/side_by_side.sh
checkout_before "$BEFORE"
for repeat in $(seq "${1:-5}"); do
    for side in before after; do
        dir=$PWD
        [ "$side" = before ] && dir=$OLD
        for batch in 1 50; do
            (cd "$dir" && "$PY" bench/engine_bench.py writer --rows 100000 --repeats 1 \
                --batch "$batch") | grep '"writer"' \
                | sed "s/^{/{\"variant\": \"$side ($BEFORE vs HEAD), writer batches of $batch\", /"
        done
        for batch in 1 50; do
            tasks=$([ "$batch" = 1 ] && echo 20000 || echo 100000)
            (cd "$dir" && "$MPIEXEC" -n 3 "$PY" bench/engine_bench.py flood --tasks "$tasks" \
                --repeats 1 --batch "$batch") | grep '"flood"' \
                | sed "s/^{/{\"variant\": \"$side ($BEFORE vs HEAD), flood batches of $batch\", /"
        done
    done
done
