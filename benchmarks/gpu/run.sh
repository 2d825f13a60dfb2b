#!/usr/bin/env bash
# On the device machine, through the device tool with carry [".gpu"] (made here by prepare.sh):
#   bash benchmarks/gpu/run.sh       (MINUTES: when no new schedule starts, default 5; COMPILE: auto or false)
# Installs what the device lacks, then runs bench_gpu.py; the figures land in $OUT as they come.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-benchmarks/out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .gpu/wheels/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1
export FASHION_MNIST_DIR=$PWD/.gpu/fashion COMPETITION_DATA_DIR=/tmp/competition-data
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; python3 -c 'import torch; print(torch.__version__)'; } \
    > "$out/machine.txt" 2>&1
# compile is off by default: the probe compiles every path it tries (six on CUDA), minutes of a short lease
python3 benchmarks/bench_gpu.py --minutes "${MINUTES:-5}" --compile "${COMPILE:-false}" --out "$out/gpu.jsonl" \
    2>&1 | tee "$out/log.txt"
