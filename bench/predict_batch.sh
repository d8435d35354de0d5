#!/usr/bin/env bash
# predict_batch.sh — issue 16's 64-instance JSON :predict, this build against an older one in ONE
# run: build/mlpd and a base mlpd (MLPD_BASE, or commit BASE_COMMIT built from `git archive` into
# OUT_DIR/base-src) serve the same Fashion-MNIST 784-256-128-10 model from copies of one data dir;
# wrk posts make_bodies.py's body_64.json (64 test images, 562,016 bytes) to each in turn, ROUNDS
# rounds of DURATION s per connection count in CONNS, the two binaries alternating and the order
# flipped every round (ABBA). Each run records req/s, p50/p99 and the server's CPU time per
# request (utime + stime of the process over the run / requests). Before the rounds, both answer
# the body once and the answers must agree: byte-identical, or every prediction within 1e-5 x
# (1 + its row's largest magnitude) (the sparse first layer rounds differently). Then
# the reader alone: each tree's bench/parse_body.c on the body, 5 alternations (when the base was
# built here). Then instructions per request of each binary under callgrind
# (bench/serve_profile.sh: (I(21) - I(1)) / 20 requests on one keep-alive connection, one request
# thread, OpenBLAS on one thread).
#
# Usage: bench/predict_batch.sh OUT_DIR
#   needs build/mlpd (make), wrk, python3-numpy, valgrind (for the instruction counts).
# Env: ROUNDS (3), DURATION (10), CONNS ("16 1": wrk -t2 -cC, -t1 for C = 1), PORT (18190, +1 base,
#      +2/+3 callgrind), BASE_COMMIT (834e477), MLPD_BASE (an older binary instead of building
#      BASE_COMMIT), MLPD (build/mlpd), SKIP_CALLGRIND=1.
# The model is trained through the daemon (IDX gzip upload, hidden [256, 128], relu, momentum,
# lr 0.05, batch 128, 2 epochs) into OUT_DIR/mlpd-data on the first run and reused. Prints a
# table of medians and the ratios, and writes OUT_DIR/summary.md.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-/tmp/mlpd-predict-batch}" && cd "${1:-/tmp/mlpd-predict-batch}" && pwd)"
ROUNDS="${ROUNDS:-3}"
DUR="${DURATION:-10}"
CONNS="${CONNS:-16 1}"
P="${PORT:-18190}"
MLPD="${MLPD:-$ROOT/build/mlpd}"
BASE_COMMIT="${BASE_COMMIT:-834e477}"
PY=/usr/bin/python3
FM="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }

# --- the base binary ---
BASE_SRC=""
if [ -z "${MLPD_BASE:-}" ]; then
  if [ ! -x "$OUT/base-src/build/mlpd" ] || [ "$(cat "$OUT/base-src/COMMIT" 2>/dev/null)" != "$BASE_COMMIT" ]; then
    echo "building $BASE_COMMIT into $OUT/base-src"
    rm -rf "$OUT/base-src" && mkdir -p "$OUT/base-src"
    git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$OUT/base-src" || exit 1
    make -C "$OUT/base-src" -j2 -s build/mlpd > "$OUT/base-build.log" 2>&1 || { tail "$OUT/base-build.log"; exit 1; }
    echo "$BASE_COMMIT" > "$OUT/base-src/COMMIT"
  fi
  MLPD_BASE="$OUT/base-src/build/mlpd"
  BASE_SRC="$OUT/base-src"
fi

# --- bodies and the model ---
rm -rf "$OUT/peers" && cp -r "$ROOT/bench/peers" "$OUT/peers"
[ -f "$OUT/body_64.json" ] || "$PY" "$OUT/peers/make_bodies.py" "$OUT" || exit 1
BODY="$OUT/body_64.json"
mkdir -p "$OUT/mlpd-data"
"$MLPD" --listen "127.0.0.1:$P" --data-dir "$OUT/mlpd-data" --quiet 2> "$OUT/mlpd.log" &
PIDS+=($!); PID_NEW=$!
wait_http "http://127.0.0.1:$P/healthz" || { echo "mlpd did not start"; cat "$OUT/mlpd.log"; exit 1; }
API="http://127.0.0.1:$P/api/v1"
if ! curl -sf -o /dev/null "http://127.0.0.1:$P/v1/models/fashion"; then
  echo "training the model (2 epochs)"
  DS=$(curl -s -F name=fashion-train -F "images=@$FM/train-images-idx3-ubyte.gz" \
         -F "labels=@$FM/train-labels-idx1-ubyte.gz" "$API/datasets" |
       "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])') || exit 1
  RUN=$(curl -s -X POST "$API/runs" -H 'Content-Type: application/json' -d '{
     "dataset_id": "'"$DS"'", "task": "classification", "target": "label", "model_name": "fashion",
     "params": {"hidden": [256, 128], "activation": "relu", "optimizer": "momentum",
                "learning_rate": 0.05, "batch_size": 128, "epochs": 2}}' |
       "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])') || exit 1
  for _ in $(seq 1 600); do
    ST=$(curl -s "$API/runs/$RUN" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"])')
    [ "$ST" = succeeded ] && break
    case "$ST" in failed|cancelled) echo "training $ST"; exit 1;; esac
    sleep 1
  done
fi
rm -rf "$OUT/mlpd-data-base" && cp -r "$OUT/mlpd-data" "$OUT/mlpd-data-base"
rm -f "$OUT/mlpd-data-base/mlpd.lock"
"$MLPD_BASE" --listen "127.0.0.1:$((P + 1))" --data-dir "$OUT/mlpd-data-base" --quiet 2> "$OUT/mlpd-base.log" &
PIDS+=($!); PID_BASE=$!
wait_http "http://127.0.0.1:$((P + 1))/healthz" || { echo "base mlpd did not start"; cat "$OUT/mlpd-base.log"; exit 1; }
URL_NEW="http://127.0.0.1:$P/v1/models/fashion:predict"
URL_BASE="http://127.0.0.1:$((P + 1))/v1/models/fashion:predict"

post() { curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$BODY" "$1"; }
post "$URL_NEW" > "$OUT/answer_new.json"
post "$URL_BASE" > "$OUT/answer_base.json"
# The sparse first layer (core/sparse.h) adds in another order than the base's sgemm, so the last
# bits may differ: every prediction must agree within 1e-5 x (1 + its row's largest magnitude).
if cmp -s "$OUT/answer_new.json" "$OUT/answer_base.json"; then
  echo "answers identical ($(wc -c < "$OUT/answer_new.json") bytes): $(head -c 120 "$OUT/answer_new.json")"
elif "$PY" - "$OUT/answer_new.json" "$OUT/answer_base.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(f))["predictions"] for f in sys.argv[1:3])
assert len(a) == len(b), "row counts differ"
worst = 0.0
for ra, rb in zip(a, b):
    assert len(ra) == len(rb), "row widths differ"
    big = 1 + max(abs(v) for v in rb)
    worst = max(worst, max(abs(x - y) for x, y in zip(ra, rb)) / big)
print("answers agree within %.3g of 1 + each row's largest magnitude (bound 1e-5)" % worst)
sys.exit(0 if worst <= 1e-5 else 1)
PYEOF
then :; else
  echo "the two binaries answer differently:"; head -c 300 "$OUT/answer_new.json"; echo; head -c 300 "$OUT/answer_base.json"; exit 1
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run_wrk() { # tag url pid conns
  local c0 c1 js t=2
  [ "$4" = 1 ] && t=1
  c0=$(cpu_ticks "$3")
  BODY_FILE="$BODY" wrk -t"$t" -c"$4" -d"${DUR}s" --latency -s "$OUT/peers/post.lua" "$2" > "$OUT/wrk_$1.log" 2>&1
  c1=$(cpu_ticks "$3")
  js=$(grep WRKJSON "$OUT/wrk_$1.log" | sed 's/^WRKJSON //')
  js=$("$PY" -c 'import json,sys,os; d=json.loads(sys.argv[1]); t=int(sys.argv[2]); d["cpu_us_per_req"]=round(t*1e6/os.sysconf("SC_CLK_TCK")/max(d["requests"],1),1); print(json.dumps(d))' "$js" $((c1 - c0)))
  echo "$1 $js" >> "$OUT/results.txt"
  echo "  $1: $js"
}

: > "$OUT/results.txt"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- api server core main.c || echo "+uncommitted")
echo "commit $COMMIT vs base $MLPD_BASE ($BASE_COMMIT)" | tee "$OUT/uptime.txt"
echo "load before: $(cat /proc/loadavg)" | tee -a "$OUT/uptime.txt"
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONNS; do
    if [ $((r % 2)) = 1 ]; then
      run_wrk "new_c${c}_r$r" "$URL_NEW" "$PID_NEW" "$c"
      run_wrk "base_c${c}_r$r" "$URL_BASE" "$PID_BASE" "$c"
    else
      run_wrk "base_c${c}_r$r" "$URL_BASE" "$PID_BASE" "$c"
      run_wrk "new_c${c}_r$r" "$URL_NEW" "$PID_NEW" "$c"
    fi
  done
done
echo "load after: $(cat /proc/loadavg)" | tee -a "$OUT/uptime.txt"
cleanup; PIDS=()

# --- the reader alone (bench/parse_body.c, each tree's own): 5 alternations on body_64.json ---
: > "$OUT/parse.txt"
if [ -n "$BASE_SRC" ]; then
  cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$ROOT/api" -I"$ROOT/bench" -o "$OUT/parse_new" \
    "$ROOT/bench/parse_body.c" "$ROOT/api/fastjson.c" -lm &&
  cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$OUT/base-src/api" -I"$OUT/base-src/bench" -o "$OUT/parse_base" \
    "$OUT/base-src/bench/parse_body.c" "$OUT/base-src/api/fastjson.c" -lm &&
  for _ in 1 2 3 4 5; do
    echo "new $("$OUT/parse_new" "$BODY" 784 20)" >> "$OUT/parse.txt"
    echo "base $("$OUT/parse_base" "$BODY" 784 20)" >> "$OUT/parse.txt"
  done
fi

# --- instructions per request (callgrind), each binary on a copy of the data ---
: > "$OUT/instructions.txt"
if [ "${SKIP_CALLGRIND:-0}" != 1 ]; then
  k=2
  for b in new base; do
    bin=$MLPD; [ $b = base ] && bin=$MLPD_BASE
    rm -rf "$OUT/cg-data" && cp -r "$OUT/mlpd-data" "$OUT/cg-data" && rm -f "$OUT/cg-data/mlpd.lock"
    bash "$ROOT/bench/serve_profile.sh" "$bin" "${b}_n1" "$BODY" 1 $((P + k)) "$OUT/cg-data" "$OUT/cg" > /dev/null 2>&1
    bash "$ROOT/bench/serve_profile.sh" "$bin" "${b}_n21" "$BODY" 21 $((P + k)) "$OUT/cg-data" "$OUT/cg" > /dev/null 2>&1
    i1=$(callgrind_annotate "$OUT/cg/cg_${b}_n1.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    i21=$(callgrind_annotate "$OUT/cg/cg_${b}_n21.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    echo "$b $i1 $i21" >> "$OUT/instructions.txt"
    callgrind_annotate "$OUT/cg/cg_${b}_n21.out" 2>/dev/null | sed -n '/file:function/,$p' | head -14 > "$OUT/cg/top_${b}.txt"
    k=$((k + 1))
  done
fi

"$PY" - "$OUT" <<'EOF'
import json, sys, statistics as st, collections
out = sys.argv[1]
res = collections.defaultdict(list)
for line in open(f"{out}/results.txt"):
    tag, js = line.split(" ", 1)
    res[tag.rsplit("_r", 1)[0]].append(json.loads(js))
med = lambda k, f: st.median(x[f] for x in res[k])
conns = sorted({k.split("_c")[1] for k in res}, key=int, reverse=True)
lines = open(f"{out}/uptime.txt").read().strip().splitlines() + [""]
lines += ["| binary | connections | req/s (median) | rounds | p50 ms | p99 ms | server CPU µs/request | errors |",
          "|---|---|---|---|---|---|---|---|"]
for c in conns:
    for b in ("new", "base"):
        k = f"{b}_c{c}"
        errs = sum(x["err_status"] + x["err_connect"] + x["err_read"] + x["err_timeout"] for x in res[k])
        rounds = ", ".join(f"{x['rps']:,.0f}" for x in res[k])
        lines.append(f"| {b} | {c} | {med(k,'rps'):,.0f} | {rounds} | {med(k,'p50_ms'):.3f} | {med(k,'p99_ms'):.3f} | {med(k,'cpu_us_per_req'):,.1f} | {errs} |")
lines.append("")
for c in conns:
    n, b = f"new_c{c}", f"base_c{c}"
    per = ", ".join(f"{x['rps'] / y['rps']:.2f}" for x, y in zip(res[n], res[b]))
    lines.append(f"- {c} connection(s): new / base req/s = {med(n,'rps') / med(b,'rps'):.2f} (per round: {per}); "
                 f"base / new server CPU per request = {med(b,'cpu_us_per_req') / med(n,'cpu_us_per_req'):.2f}")
try:
    ins = {l.split()[0]: (int(l.split()[2]) - int(l.split()[1])) / 20 for l in open(f"{out}/instructions.txt") if len(l.split()) == 3}
    if ins:
        lines.append(f"- instructions per request (callgrind): new {ins['new']:,.0f}, base {ins['base']:,.0f}, base / new = {ins['base'] / ins['new']:.2f}")
except (KeyError, ValueError, ZeroDivisionError):
    pass
pr = collections.defaultdict(list)
for line in open(f"{out}/parse.txt"):
    b, js = line.split(" ", 1)
    pr[b].append(json.loads(js))
if pr:
    pn, pb = st.median(x["us"] for x in pr["new"]), st.median(x["us"] for x in pr["base"])
    ps = st.median(x["split_us"] for x in pr["new"])
    lines.append(f"- the reader alone (parse_body, medians of 5 alternations): new {pn:,.0f} µs in one piece, "
                 f"{ps:,.0f} µs split between two threads; base {pb:,.0f} µs; base / new one piece = {pb / pn:.2f}")
txt = "\n".join(lines)
print(txt)
open(f"{out}/summary.md", "w").write(txt + "\n")
EOF
