#!/bin/sh
# One prepared command for a GPU machine: the speed, SAM and memory-bank benchmarks on CUDA
# (BENCH_DEVICE=cuda), results in bench/results (or the folder given with --out).
# Without a visible CUDA GPU it stops with exit code 2 and says why.
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
[ -x .venv/bin/python ] && PYTHON=.venv/bin/python
exec "$PYTHON" -m bench --gpu "$@"
