#!/bin/sh
# diag_cost.sh [EPOCHS] — what the per-layer gradient diagnostics (issue 14, core/diag.h) add to
# a training epoch of the Fashion-MNIST MLP of bench/train_fmnist.sh (784-256-128-10 relu,
# momentum, batch 128, 60,000 rows, 2 BLAS threads): bench/diag_cost.c trains two trainers in one
# process, diagnostics on and off, one epoch each in turn, and reports the median epoch of each
# and the median of the per-epoch ratios on / off, in wall time and in process CPU time. The last
# line is one JSON object. THREADS=1 takes OpenBLAS's spinning workers out of the CPU figure.
set -eu
EPOCHS=${1:-10}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Ibench $(pkg-config --cflags openblas) -o build/bench/diag_cost \
   bench/diag_cost.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
echo "== load: $(cat /proc/loadavg)"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/diag_cost "$EPOCHS"
echo "== load: $(cat /proc/loadavg)"
