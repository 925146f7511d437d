#!/usr/bin/env bash
# Every benchmark behind BENCHMARKS.md, one after the other (never two at once: they would
# share the two cores), into bench-results/<UTC time>/*.jsonl. About 60 minutes on 2 cores,
# 15 more with BPO_EXAMPLES set (BluePyOpt's L5PC).
#
#   bash bench/run_all.sh                    # from the repository root, after `make demo`
#   BPO_EXAMPLES=<BluePyOpt checkout>/examples bash bench/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export NEURON_INIT_MPI=0
PY=.venv/bin/python
MPIEXEC=.venv/bin/mpiexec
OUT=${BENCH_OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
run() {   # run NAME COMMAND...: JSON lines to OUT/NAME.jsonl, progress to the terminal
    local name=$1; shift
    echo "$(date -u +%H:%M:%S) $name: $*" | tee -a "$OUT/commands.txt"
    "$@" > "$OUT/$name.jsonl"
}
{ date -u; uname -a; nproc; $PY -c 'import neuron, efel, bluepyopt, numpy, h5py, mpi4py;
print("NEURON", neuron.__version__, "eFEL", efel.__version__, "BluePyOpt", bluepyopt.__version__,
      "numpy", numpy.__version__, "h5py", h5py.__version__, "mpi4py", mpi4py.__version__)';
  git rev-parse HEAD 2>/dev/null || true; } > "$OUT/machine.txt"

run simplecell        $PY bench/evaluator_bench.py simplecell --repeats 5 --n 30
run breakdown-example $PY bench/evaluator_bench.py breakdown --config configs/example/example.yaml --n 20 --repeats 5
run breakdown-simple  $PY bench/evaluator_bench.py breakdown --config tests/data/simplecell/simplecell.yaml --n 20 --repeats 5
run multicompartment  $PY bench/evaluator_bench.py multicompartment --repeats 5 --n 8
if [ -n "${BPO_EXAMPLES:-}" ]; then
    run l5pc          $PY bench/evaluator_bench.py l5pc --repeats 5 --n 2
fi
run engine-example    $PY bench/engine_bench.py example --repeats 5 --points 40 --mpi1
run machine           $PY bench/engine_bench.py machine --repeats 5 --points 20
run trivial           $PY bench/engine_bench.py trivial --tasks 20000 --repeats 5
run trivial-mpi       $MPIEXEC -n 2 $PY bench/engine_bench.py trivial-mpi --tasks 20000 --repeats 5
run trivial-mpi3      $MPIEXEC -n 3 $PY bench/engine_bench.py trivial-mpi --tasks 20000 --repeats 5
run flood-b1          $MPIEXEC -n 3 $PY bench/engine_bench.py flood --tasks 20000 --repeats 5 --batch 1
run flood-b50         $MPIEXEC -n 3 $PY bench/engine_bench.py flood --tasks 100000 --repeats 5 --batch 50
run writer            bash bench/writer_before_after.sh 5
run store             bash bench/store_before_after.sh 8
run features          bash bench/features_before_after.sh 5
run rank0             bash bench/rank0_before_after.sh 5
if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix"; then     # a SLURM (tests/slurm/local_slurm.sh)
    run rank-loss     $PY bench/rank_loss.py --timeouts 3 10 30 --repeats 2
fi
run model             $PY bench/engine_bench.py model --fit "$OUT/flood-b1.jsonl" "$OUT/flood-b50.jsonl"
run optimise          $PY bench/optimise_bench.py --offspring 20 --generations 10 --repeats 5
run memory            $PY bench/memory_bench.py --evaluations 10000 --recycle 500 --repeats 5
run profile-fi        $PY bench/profile_bench.py fi --repeats 3 --amplitudes 20
run profile-rheobase  $PY bench/profile_bench.py rheobase --repeats 3
run report            $PY bench/report_bench.py --sizes 10000 100000 1000000 --repeats 3 --repeats-large 2
run sensitivity       $PY bench/sensitivity_bench.py --n 16384 --repeats 3
echo "results in $OUT"
