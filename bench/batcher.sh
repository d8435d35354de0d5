#!/usr/bin/env bash
# batcher.sh — the opportunistic request batcher (server/batcher.h) on a model where the forward
# pass dominates: Fashion-MNIST 784-1024-1024-10, 1-instance :predict bodies, wrk -t2 with
# CONNS (64) connections, mlpd with the batcher off (--batch-min-params 1G) and on (0, and the
# default queue delay --batch-timeout-us 0), plus on with TIMEOUT_US (500) of queue delay; the
# daemons run side by side on copies of one data dir and take turns in ABBA order, ROUNDS times.
# Also the small serving model of bench/serve.sh (784-256-128-10), off vs on, to decide where the
# batcher's default (--batch-min-params) draws the line.
#
# Usage: bench/batcher.sh OUT_DIR
#   needs build/mlpd (make), wrk, python3, Debian's dataset-fashion-mnist.
# Env: MLPD (build/mlpd), DURATION (10 s per wrk run), ROUNDS (2: ABBA pairs), CONNS (64),
#      TIMEOUT_US (500), PORT (18190..18195), SMALL=0 skips the small-model rounds.
# The models are trained through the daemon (IDX gzip upload; 1 epoch for the large model, 2 for
# the small one) into OUT_DIR/data and reused on later runs. Prints a table of medians (req/s,
# p50, p99, the daemon's CPU time per request, rows per batched forward pass from /metrics) and
# writes OUT_DIR/summary.md.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-/tmp/mlpd-batcher}" && cd "${1:-/tmp/mlpd-batcher}" && pwd)"
MLPD="${MLPD:-$ROOT/build/mlpd}"
DUR="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
CONNS="${CONNS:-64}"
TMO="${TIMEOUT_US:-500}"
P="${PORT:-18190}"
PY=/usr/bin/python3
FM="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }
json_field() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

cp "$ROOT/bench/peers/post.lua" "$OUT/post.lua"
[ -f "$OUT/body_1.json" ] || "$PY" "$ROOT/bench/peers/make_bodies.py" "$OUT" || exit 1

# --- the models, trained through the daemon ---
mkdir -p "$OUT/data"
"$MLPD" --listen "127.0.0.1:$P" --data-dir "$OUT/data" --quiet 2> "$OUT/train.log" &
TP=$!
wait_http "http://127.0.0.1:$P/healthz" || { echo "mlpd did not start"; cat "$OUT/train.log"; exit 1; }
API="http://127.0.0.1:$P/api/v1"
train() { # name hidden epochs
  curl -sf -o /dev/null "http://127.0.0.1:$P/v1/models/$1" && return 0
  [ -f "$OUT/dataset_id" ] || curl -s -F name=fashion-train -F "images=@$FM/train-images-idx3-ubyte.gz" \
      -F "labels=@$FM/train-labels-idx1-ubyte.gz" "$API/datasets" | json_field id > "$OUT/dataset_id" || exit 1
  echo "training $1 (hidden $2, $3 epochs)"
  local run st
  run=$(curl -s -X POST "$API/runs" -H 'Content-Type: application/json' -d '{
     "dataset_id": "'"$(cat "$OUT/dataset_id")"'", "task": "classification", "target": "label",
     "model_name": "'"$1"'", "params": {"hidden": '"$2"', "activation": "relu",
     "optimizer": "momentum", "learning_rate": 0.05, "batch_size": 128, "epochs": '"$3"'}}' | json_field id) || exit 1
  for _ in $(seq 1 1800); do
    st=$(curl -s "$API/runs/$run" | json_field status)
    [ "$st" = succeeded ] && return 0
    case "$st" in failed|cancelled) echo "training $1: $st"; exit 1;; esac
    sleep 1
  done
  echo "training $1: timed out"; exit 1
}
train fashion-large '[1024, 1024]' 1
[ "${SMALL:-1}" = 0 ] || train fashion '[256, 128]' 2
kill -TERM "$TP"; wait "$TP"

# --- the daemons: one per variant, each on its own copy of the data dir ---
declare -A PORTOF PIDOF
start() { # tag port flags...
  local tag=$1 port=$2; shift 2
  rm -rf "$OUT/data-$tag" && cp -r "$OUT/data" "$OUT/data-$tag"
  # no per-address limit: wrk's 64 connections plus a lingering one would meet the default 64
  "$MLPD" --listen "127.0.0.1:$port" --data-dir "$OUT/data-$tag" --quiet --max-connections-per-ip 0 \
    "$@" 2> "$OUT/mlpd-$tag.log" &
  PIDS+=($!); PIDOF[$tag]=$!; PORTOF[$tag]=$port
  wait_http "http://127.0.0.1:$port/healthz" || { echo "mlpd $tag did not start"; exit 1; }
}
start off $((P + 1)) --batch-min-params 1G
start on $((P + 2)) --batch-min-params 0
start ontmo $((P + 3)) --batch-min-params 0 --batch-timeout-us "$TMO"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
batches() { # port: "passes rows" from /metrics
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^mlpd_inference_batches_total /{b=$2} /^mlpd_inference_batched_rows_total /{r=$2} END{print b+0, r+0}'
}
run_wrk() { # tag variant model
  local port=${PORTOF[$2]} pid=${PIDOF[$2]} url c0 c1 b0 b1 js
  url="http://127.0.0.1:$port/v1/models/$3:predict"
  curl -s -o /dev/null -X POST --data-binary @"$OUT/body_1.json" "$url" # loads the model
  b0=$(batches "$port"); c0=$(cpu_ticks "$pid")
  BODY_FILE="$OUT/body_1.json" wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$OUT/post.lua" "$url" > "$OUT/wrk_$1.log" 2>&1
  c1=$(cpu_ticks "$pid"); b1=$(batches "$port")
  js=$(grep WRKJSON "$OUT/wrk_$1.log" | sed 's/^WRKJSON //')
  js=$("$PY" -c 'import json,sys,os
d=json.loads(sys.argv[1]); t=int(sys.argv[2]); b0=list(map(float,sys.argv[3].split())); b1=list(map(float,sys.argv[4].split()))
d["cpu_us_per_req"]=round(t*1e6/os.sysconf("SC_CLK_TCK")/max(d["requests"],1),1)
d["rows_per_batch"]=round((b1[1]-b0[1])/(b1[0]-b0[0]),2) if b1[0]>b0[0] else 0
print(json.dumps(d))' "$js" $((c1 - c0)) "$b0" "$b1")
  echo "$1 $js" >> "$OUT/results.txt"
  echo "  $1: $js"
}

# sanity: the same answer (within float rounding) from every variant
for v in off on ontmo; do
  curl -s -X POST --data-binary @"$OUT/body_1.json" "http://127.0.0.1:${PORTOF[$v]}/v1/models/fashion-large:predict" > "$OUT/answer_$v.json"
done
echo "answers: off $(head -c 80 "$OUT/answer_off.json") / on $(head -c 80 "$OUT/answer_on.json")"

: > "$OUT/results.txt"
echo "uptime before: $(uptime)" | tee "$OUT/uptime.txt"
for r in $(seq 1 "$ROUNDS"); do # ABBA: odd rounds off first, even rounds on first
  if [ $((r % 2)) = 1 ]; then ORDER="off on ontmo"; else ORDER="ontmo on off"; fi
  for v in $ORDER; do run_wrk "large_${v}_r$r" "$v" fashion-large; done
  if [ "${SMALL:-1}" != 0 ]; then
    if [ $((r % 2)) = 1 ]; then ORDER="off on"; else ORDER="on off"; fi
    for v in $ORDER; do run_wrk "small_${v}_r$r" "$v" fashion; done
  fi
done
echo "uptime after: $(uptime)" | tee -a "$OUT/uptime.txt"

"$PY" - "$OUT" "$CONNS" "$TMO" <<'EOF'
import json, sys, statistics as st, collections
out, conns, tmo = sys.argv[1], sys.argv[2], sys.argv[3]
res = collections.defaultdict(list)
for line in open(f"{out}/results.txt"):
    tag, js = line.split(" ", 1)
    res[tag.rsplit("_r", 1)[0]].append(json.loads(js))
med = lambda k, f: st.median(x[f] for x in res[k]) if k in res else float("nan")
name = {"off": "batcher off", "on": "batcher on, --batch-timeout-us 0", "ontmo": f"batcher on, --batch-timeout-us {tmo}"}
lines = [f"| model | mlpd | req/s | p50 ms | p99 ms | CPU µs/request | rows per batch | errors |", "|---|---|---|---|---|---|---|---|"]
for m, label in (("large", "784-1024-1024-10"), ("small", "784-256-128-10")):
    for v in ("off", "on", "ontmo"):
        k = f"{m}_{v}"
        if k not in res: continue
        errs = sum(x["err_status"] + x["err_connect"] + x["err_read"] + x["err_timeout"] for x in res[k])
        rps = ", ".join(f"{x['rps']:,.0f}" for x in res[k])
        lines.append(f"| {label} | {name[v]} | {med(k,'rps'):,.0f} ({rps}) | {med(k,'p50_ms'):.2f} | {med(k,'p99_ms'):.2f} | {med(k,'cpu_us_per_req'):.0f} | {med(k,'rows_per_batch'):.1f} | {errs} |")
lines.append("")
for m in ("large", "small"):
    for v in ("on", "ontmo"):
        a, b = f"{m}_{v}", f"{m}_off"
        if a in res and b in res:
            lines.append(f"- {m}: {name[v]} / off: req/s {med(a,'rps')/med(b,'rps'):.2f}, p99 {med(a,'p99_ms')/med(b,'p99_ms'):.2f}")
txt = "\n".join(lines)
print(txt)
open(f"{out}/summary.md", "w").write(txt + "\n")
EOF
