#!/usr/bin/env bash
# onnx_fmnist.sh — ONNX export (and, once it exists, import) of the Fashion-MNIST model, in one
# run against one daemon (issue 15):
#   1. model "fm" v1: 784-256-128-10, relu, batch norm, EPOCHS epochs, trained through the daemon
#      from the IDX upload (reused when OUT_DIR already holds it);
#   2. export time, GET .../export?format=onnx against the JSON document (GET .../export), ROUNDS
#      rounds in ABBA order, medians and their ratio; sizes of the ONNX file, the JSON document
#      and the native bundle (the stored blob, read from the data dir's mlpd.db);
#   3. Debian python3-onnx's checker on the exported file;
#   4. the round trip: the size of the file's "mlpd.exact" metadata, and the file imported as fm
#      v2, whose :predict answers on 1000 test images must be byte-identical to v1's.
#   (ONNX import times: bench/onnx_import.sh.)
# Usage: bench/onnx_fmnist.sh [OUT_DIR]
# Env: EPOCHS (1), ROUNDS (10), PORT (18290), MLPD (build/mlpd),
#      FASHION_MNIST_DIR (/usr/share/datasets/fashion-mnist).
# Prints the load average before and after and the commit; a copy goes to OUT_DIR/summary.txt.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-/tmp/mlpd-onnx}" && cd "${1:-/tmp/mlpd-onnx}" && pwd)"
EPOCHS="${EPOCHS:-1}"; ROUNDS="${ROUNDS:-10}"; P="${PORT:-18290}"
MLPD="${MLPD:-$ROOT/build/mlpd}"
FM="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
DRIVER="$ROOT/bench/onnx_fmnist.py"
PID=
cleanup() { [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }; true; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }

exec > >(tee "$OUT/summary.txt") 2>&1
echo "== commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- . || echo ' (with uncommitted changes)')"
echo "== load before: $(cat /proc/loadavg)"
mkdir -p "$OUT/data"
OPENBLAS_NUM_THREADS=2 "$MLPD" --listen "127.0.0.1:$P" --data-dir "$OUT/data" --quiet 2> "$OUT/mlpd.log" &
PID=$!
wait_http "http://127.0.0.1:$P/healthz" || { echo "mlpd did not start"; cat "$OUT/mlpd.log"; exit 1; }
URL="http://127.0.0.1:$P"
if ! curl -sf -o /dev/null "$URL/v1/models/fm"; then
  echo "== training fm v1 (784-256-128-10, relu, batch norm, $EPOCHS epochs)"
  T0=$(date +%s)
  python3 "$DRIVER" train "$URL" "$FM" "$EPOCHS"
  echo "trained in $(( $(date +%s) - T0 )) s"
fi

echo "== export: ONNX vs the JSON document, $ROUNDS ABBA rounds"
python3 "$DRIVER" export "$URL" "$OUT/data" "$ROUNDS" "$OUT"
echo "== check"
/usr/bin/python3 "$DRIVER" check "$OUT"
echo "== round trip"
/usr/bin/python3 "$DRIVER" roundtrip "$URL" "$FM" "$OUT"

echo "== load after: $(cat /proc/loadavg)"
