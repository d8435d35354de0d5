#!/bin/sh
# forward.sh [row [IMAGE_INDEX] | batch [ROWS] | cg] — builds and runs bench/forward.c: the forward
# pass of a 784-256-128-10 relu net, dense layer 0 (cblas) against net_prepare_serving's sparse
# first layer, the two in turns in one process (see forward.c). `cg` counts instructions per call
# under callgrind instead: one row and 64 rows, dense and sparse. Not part of CI.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Ibench $(pkg-config --cflags openblas) -o build/bench/forward \
   bench/forward.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
echo "== commit $(git rev-parse --short HEAD), load: $(cat /proc/loadavg)"
if [ "${1:-row}" = cg ]; then
  # instructions per call: (200 calls - 0 calls) / 200, the 0-call run being `forward cg` of
  # rows 1 with a bad mode (it loads the images and builds the nets, then stops)
  tmp=$(mktemp -d)
  for rows in 1 64; do
    for m in dense sparse; do
      OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/$m$rows" \
        ./build/bench/forward cg "$m" "$rows" > /dev/null 2>&1
      OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/base" \
        ./build/bench/forward cg none 0 > /dev/null 2>&1 || true
      a=$(callgrind_annotate "$tmp/$m$rows" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
      b=$(callgrind_annotate "$tmp/base" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
      echo "$rows row(s), $m: $(( (a - b) / 200 )) instructions per call"
    done
  done
  rm -rf "$tmp"
else
  ./build/bench/forward "$@"
fi
echo "== load after: $(cat /proc/loadavg)"
