#!/bin/sh
# sse_listeners.sh [REPS] [LISTENERS] — does watching a run slow it down? Trains the same run
# (same data, params and seed) with 0 and with LISTENERS (default 200) concurrent SSE listeners
# on its /events stream, interleaved REPS times (default 3), on one mlpd, and compares the
# median seconds per epoch (the run's own epoch_seconds metric). Listeners run in one process
# (bench/sse_listeners.c, libcurl multi, one thread). Output: one line per run, then a summary.
set -eu
REPS=${1:-3}
N=${2:-200}
EPOCHS=${EPOCHS:-12}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d /tmp/mlpd-sse-bench.XXXXXX)
cd "$ROOT"
make -s build/mlpd
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -o build/bench/sse_listeners bench/sse_listeners.c \
   $(pkg-config --cflags --libs libcurl)
ulimit -n 4096 2>/dev/null || true
# 200 listeners from one address: lift the per-address connection limit (default 64)
./build/mlpd --listen 127.0.0.1:0 --data-dir "$OUT/data" --port-file "$OUT/port" --quiet \
   --max-connections-per-ip 0 \
   2> "$OUT/mlpd.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$OUT"' EXIT
while [ ! -s "$OUT/port" ]; do sleep 0.05; done
P=$(cat "$OUT/port")
B="http://127.0.0.1:$P/api/v1"
awk 'BEGIN { srand(7); print "a,b,c,d,kind";
  for (i = 0; i < 4000; i++) { a = rand(); b = rand(); c = rand(); d = rand();
    printf "%.4f,%.4f,%.4f,%.4f,%s\n", a, b, c, d, (a + b > c + d) ? "hi" : "lo" } }' > "$OUT/d.csv"
DS=$(curl -s --data-binary @"$OUT/d.csv" -H 'Content-Type: text/csv' "$B/datasets?name=sse" |
     sed 's/.*"id":"\([^"]*\)".*/\1/')
BODY="{\"dataset_id\": \"$DS\", \"task\": \"classification\", \"target\": \"kind\",
  \"params\": {\"hidden\": [128, 128], \"epochs\": $EPOCHS, \"batch_size\": 4, \"seed\": 1}}"
echo "== load before: $(uptime)"
echo "== $REPS reps x (0 listeners, $N listeners), $EPOCHS epochs each, interleaved"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run_once() { # $1 = listeners; prints the run's median epoch_seconds
  ID=$(curl -s -X POST "$B/runs" -H 'Content-Type: application/json' -d "$BODY" |
       sed 's/^{"id":"\([^"]*\)".*/\1/')
  if [ "$1" -gt 0 ]; then
    ./build/bench/sse_listeners "$P" "$ID" "$1" > "$OUT/lis.txt"
  fi
  while ! curl -s "$B/runs/$ID" | grep -q '"status":"succeeded"'; do sleep 0.1; done
  S=$(curl -s "$B/runs/$ID/metrics?name=epoch_seconds" | tr '{' '\n' | sed -n 's/.*"value":\([^,]*\),.*/\1/p' | median)
  echo "$ID listeners=$1 median_epoch_s=$S $( [ "$1" -gt 0 ] && cat "$OUT/lis.txt")" >&2
  echo "$S"
}
: > "$OUT/zero"; : > "$OUT/many"
for r in $(seq "$REPS"); do
  run_once 0 >> "$OUT/zero"
  run_once "$N" >> "$OUT/many"
done
Z=$(median < "$OUT/zero"); M=$(median < "$OUT/many")
echo "== load after: $(uptime)"
echo "median of medians: 0 listeners ${Z} s/epoch, $N listeners ${M} s/epoch, ratio $(echo "$M $Z" | awk '{ printf "%.3f", $1 / $2 }')"
