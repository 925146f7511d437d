#!/usr/bin/env bash
# The cost of one eFEL call per feature (commit cb3ec1b, bit-equal to BluePyOpt's one-feature
# calls) against one call per group of features (BEFORE, default 1235366), side by side:
# bench/evaluator_bench.py breakdown alternated A B A B ... on simplecell and the bundled
# example. Prints the breakdown summaries as JSON lines with a "variant" key.
#
#   bash bench/features_before_after.sh [repeats] [BEFORE]
set -euo pipefail
cd "$(dirname "$0")/.."
export NEURON_INIT_MPI=0
ROOT=$PWD        # both sides read this checkout's configs (the same files in both commits)
PY=$ROOT/.venv/bin/python
BEFORE=${2:-1235366}
source bench/side_by_side.sh
# both sides laid out as installed: the editable install maps cellsweep.cells & co. to this
# checkout, so a plain checkout of BEFORE would run HEAD's code (it did until issue 16)
both_laid_out "$BEFORE"
for repeat in $(seq "${1:-5}"); do
    for side in before after; do
        lay=$(laid_out "$side")
        for spec in "tests/data/simplecell/simplecell.yaml 20" "configs/example/example.yaml 4"; do
            set -- $spec
            PYTHONPATH=$lay "$PY" "$lay/bench/evaluator_bench.py" breakdown --config "$ROOT/$1" \
                --n "$2" --repeats 1 | grep '"breakdown-summary"' \
                | sed "s/^{/{\"variant\": \"$side ($BEFORE vs HEAD)\", /"
        done
    done
done
