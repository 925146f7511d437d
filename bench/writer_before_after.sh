#!/usr/bin/env bash
# The writer before and after results travelled as batches (BENCHMARKS.md §6), alternated
# A B C A B C ... in one run: commit 2475f01's writer (one JSON journal line and one Python
# row per result) vs this checkout's with 1 and 50 results per batch. Prints JSON lines.
#
#   bash bench/writer_before_after.sh [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
export NEURON_INIT_MPI=0
PY=$PWD/.venv/bin/python
OLD=$(mktemp -d)
trap 'git worktree remove --force "$OLD" >/dev/null 2>&1 || true' EXIT
git worktree add --detach -f "$OLD" 2475f01 >/dev/null 2>&1
for repeat in $(seq "${1:-5}"); do
    (cd "$OLD" && "$PY" bench/engine_bench.py writer --rows 100000 --repeats 1) \
        | grep '"writer"' | sed 's/^{/{"variant": "2475f01 per row", /'
    for batch in 1 50; do
        "$PY" bench/engine_bench.py writer --rows 100000 --repeats 1 --batch "$batch" \
            | grep '"writer"' | sed "s/^{/{\"variant\": \"batches of $batch\", /"
    done
done
