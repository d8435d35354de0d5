#!/bin/sh
# many_models.sh [REQUESTS [CONNECTIONS [CONFIG...]]] — issue 13's many dormant models, in one
# run: one daemon with a bootstrap admin key creates 100 students and publishes 500
# Fashion-MNIST-sized classifiers (784-64-10) owned by them, each an imported export document
# with its own perturbed weights; then, per CONFIG (the cache flags, one argument each; default:
# the shipped defaults, then "--model-cache-bytes 4M"), a fresh daemon on the same data
# directory serves every model cold then hot once, and REQUESTS (default 20000) predictions
# from CONNECTIONS (default 4) keep-alive connections, each with the model owner's key, model
# popularity Zipf s = 1.1. Prints resident memory (VmRSS max, VmHWM), the hit rate, cold and hot
# p50/p99, the Zipf phase's p50/p99 and the errors; the last line is one JSON object. The driver
# is bench/many_models.py (it says how each figure is taken).
set -eu
REQUESTS=${1:-20000}
CONNECTIONS=${2:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
make -s build/mlpd
if [ $# -gt 2 ]; then
    shift 2
    exec /usr/bin/python3 bench/many_models.py "$ROOT/build/mlpd" "$REQUESTS" "$CONNECTIONS" "$@"
fi
exec /usr/bin/python3 bench/many_models.py "$ROOT/build/mlpd" "$REQUESTS" "$CONNECTIONS" \
    "" "--model-cache-bytes 4M"
