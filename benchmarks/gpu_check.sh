#!/usr/bin/env bash
# The GPU checks of issue 4 (cuda-timer, NVML energy) and issue 19 (ONNX Runtime's GPU providers) as one short script for a GPU machine.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (OUT_DIR default: $OUT, else gpu-check)
#
# What it runs, each step logged to OUT_DIR and never stopping the next one:
#   1. the tests marked `gpu` (CUDA-event timer protocol, supernet on CUDA);
#   2. `nascost measure DARTS_V2 --measurer cuda-timer --setting imagenet --json` (batch 32);
#   3. `nascost measure DARTS_V2 --measurer power --setting imagenet --json` (NVML energy);
#   4. a small cuda-timer campaign (imagenet, batch 32, N architectures, seed 2026: the seed
#      of the CPU campaign in data/, so `nascost compare --devices` finds common architectures;
#      like that campaign, with the paper's normal-cell encoding, --space-opt cells=normal, so
#      the seed draws the same architectures), a second campaign over its first 100
#      architectures (repeatability), and an export;
#   5. `nascost measure DARTS_V2 --measurer ort-cuda` and `ort-tensorrt` (issue 19): they need
#      onnxruntime-gpu (put its wheel into .whl/); without it each step logs which execution
#      provider is missing and the script goes on.
# It needs PyTorch with CUDA and nascost's dependencies. On a machine without internet, put
# wheels of what is missing into .whl/ first; they are installed into /tmp/site. For the
# workplace's GPU image (PyTorch, click, pluggy, rich, scikit-learn, nvidia-ml-py, but no pydantic):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
# and carry .whl. About 5 minutes on an H100 (N=300).
set -uo pipefail
OUT_DIR=${1:-${OUT:-gpu-check}}
N=${N:-300}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# nascost's own plugins register through entry points, so install it (offline, no dependencies)
$PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT_DIR/install.log" 2>&1 \
    || { echo "install failed, see $OUT_DIR/install.log"; tail -5 "$OUT_DIR/install.log"; }
NASCOST=("$PY" -m nascost)
PAPER=(--space-opt cells=normal)  # data/ was measured with the paper's normal-cell encoding
export PYTHONUNBUFFERED=1 NASCOST_PROGRESS_INTERVAL=10

step() {  # step NAME COMMAND...: run, log to OUT_DIR/NAME.log, report the exit code
    local name=$1; shift
    local t0=$SECONDS
    "$@" >"$OUT_DIR/$name.log" 2>&1
    local rc=$?
    echo "== $name: exit $rc, $((SECONDS - t0)) s"
    tail -4 "$OUT_DIR/$name.log"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT_DIR/gpu.txt" 2>&1
cat "$OUT_DIR/gpu.txt"
step pytest-gpu "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/measure tests/darts
step list-measurers "${NASCOST[@]}" list measurers
step measure-cuda "${NASCOST[@]}" measure DARTS_V2 --measurer cuda-timer --setting imagenet --json
step measure-energy "${NASCOST[@]}" measure DARTS_V2 --measurer power --setting imagenet --json
step collect-cuda "${NASCOST[@]}" collect --space darts "${PAPER[@]}" --measurer cuda-timer --setting imagenet --n "$N" \
    --seed 2026 --db "$OUT_DIR/cuda-imagenet.db" --json
step repeat-cuda "${NASCOST[@]}" collect --space darts "${PAPER[@]}" --measurer cuda-timer --setting imagenet --n 100 \
    --seed 2026 --db "$OUT_DIR/cuda-imagenet-repeat.db" --json
step agree-cuda "${NASCOST[@]}" compare --db "$OUT_DIR/cuda-imagenet.db" --db "$OUT_DIR/cuda-imagenet-repeat.db" \
    --devices --json
if [ -f data/darts-cpu-paired-imagenet.csv.gz ]; then  # the same architectures on this repo's CPU
    step import-cpu "${NASCOST[@]}" data import data/darts-cpu-paired-imagenet.csv.gz "${PAPER[@]}" --db "$OUT_DIR/cpu-imagenet.db"
    step agree-cpu-gpu "${NASCOST[@]}" compare --db "$OUT_DIR/cpu-imagenet.db" --db "$OUT_DIR/cuda-imagenet.db" \
        --devices --json
    rm -f "$OUT_DIR/cpu-imagenet.db"
fi
step info-cuda "${NASCOST[@]}" data info "$OUT_DIR/cuda-imagenet.db" --json
step export-cuda "${NASCOST[@]}" data export "$OUT_DIR/cuda-imagenet.db" --format csv --no-samples \
    -o "$OUT_DIR/darts-cuda-imagenet.csv.gz"
step measure-ort-cuda "${NASCOST[@]}" measure DARTS_V2 --measurer ort-cuda --setting imagenet --json
step measure-ort-tensorrt "${NASCOST[@]}" measure DARTS_V2 --measurer ort-tensorrt --setting imagenet --json
rm -f "$OUT_DIR"/*.db-wal "$OUT_DIR"/*.db-shm
echo "== done: results in $OUT_DIR"
