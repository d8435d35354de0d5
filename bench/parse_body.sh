#!/bin/sh
# parse_body.sh OUT_DIR — fj_rows (api/fastjson.c) on bench/serve.sh's OUT_DIR/body_1.json and
# body_64.json, 3 times each, interleaved; each run times the body in one piece and split between
# two threads (fj_rows_split), alternating. Not part of CI.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/mlpd-serve}
cd "$ROOT"
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Iapi -Ibench -pthread -o build/bench/parse_body bench/parse_body.c api/fastjson.c -lm
echo "== load: $(cat /proc/loadavg)"
for _ in 1 2 3; do
    ./build/bench/parse_body "$OUT/body_1.json" 784 3000
    ./build/bench/parse_body "$OUT/body_64.json" 784 50
done
