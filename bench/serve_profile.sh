#!/bin/bash
# serve_profile.sh — instructions per :predict request under valgrind --tool=callgrind (perf has no
# hardware counters on the VM). Starts BIN (mlpd) under callgrind with one request thread on DATA_DIR
# (which must hold a model named "fashion", e.g. bench/serve.sh's OUT/mlpd-data), sends one warm-up
# request and then N requests on one keep-alive connection, stops it, and leaves OUT/cg_TAG.out.
# Per request = (total(N) - total(1)) / (N - 1); see bench/RESULTS.md (serving section).
# Usage: bench/serve_profile.sh BIN TAG BODY N PORT DATA_DIR [OUT=/tmp/cg]
BIN=$1; TAG=$2; BODY=$3; N=$4; PORT=$5; DATA=$6; OUT=${7:-/tmp/cg}
mkdir -p "$OUT"
OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$OUT/cg_$TAG.out" "$BIN" \
  --listen "127.0.0.1:$PORT" --data-dir "$DATA" --quiet --threads 1 2> "$OUT/log_$TAG" &
VP=$!
for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.5; done
URL="http://127.0.0.1:$PORT/v1/models/fashion:predict"
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$BODY" "$URL"
URLS=()
for _ in $(seq 1 "$N"); do URLS+=("$URL"); done
curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$BODY" "${URLS[@]}" > /dev/null
kill -TERM "$VP"; wait "$VP"
callgrind_annotate --inclusive=yes "$OUT/cg_$TAG.out" | head -40
