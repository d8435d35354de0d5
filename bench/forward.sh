#!/bin/sh
# forward.sh [IMAGE_INDEX] — builds and runs bench/forward.c (one-row forward pass, dense vs the
# sparse first layer of net_prepare_serving, hot and cold cache). Not part of CI.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Ibench $(pkg-config --cflags openblas) -o build/bench/forward \
   bench/forward.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
echo "== load: $(cat /proc/loadavg)"
./build/bench/forward "${1:-0}"
