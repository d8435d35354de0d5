#!/usr/bin/env bash
# serve.sh — mlpd :predict against Flask+gunicorn+PyTorch and a bare libmicrohttpd server
# (epoll + 2-thread pool, fixed reply), side by side in ONE run, then inference vs training on
# the same daemon: mlpd's p99 while a run trains vs idle, and that run's epochs/s while the
# requests flow vs without them (--train-share). wrk -t2 -c16 on loopback, Fashion-MNIST
# 784-256-128-10.
#
# Usage: bench/serve.sh OUT_DIR
#   needs (scripts/install-bench-deps.sh installs them): build/mlpd (make), wrk and
#   python3-numpy (apt), and for the peers gunicorn,
#   /usr/bin/python3 with torch+flask (python3-torch, python3-flask) and
#   OUT_DIR/mlp_torch.pt (/usr/bin/python3 bench/peers/mlp_torch.py 2 OUT_DIR 1) for the Flask peer.
# Env: PEERS (bench/peers; copied to OUT_DIR/peers), DURATION (20), MLPD (build/mlpd),
#      PORT (18090, +1 mhd, +2 flask), ROUNDS (1: each server/body pair repeats ROUNDS times,
#      interleaved), SKIP_PEERS=1 skips those rounds (no peer is started), SKIP_TRAINING=1 skips
#      the under-training part, TRAIN_ROUNDS (3: idle / training alternations), TRAIN_SHARE
#      (passed as --train-share when set), MLPD_BASE=/path/to/an/older/mlpd
#      adds that binary (on a copy of the data dir, port +3) to the rounds as "base",
#      NO_FLASK=1 leaves the Flask peer out (the bare server stays),
#      CLASS_KEYS=1 adds class mode's key resolution: ROUNDS pairs of 1-instance rounds on the
#      same daemon (in ABBA order), without a key (open server) and with a student's key (a user
#      created through /api/v1/users: the key is resolved through the users' key cache).
# The mlpd model is trained through the daemon itself (IDX gzip upload, hidden [256,128], relu,
# momentum, lr 0.05, batch 128, 2 epochs) into OUT_DIR/mlpd-data, and reused on later runs.
# Prints one summary table (medians over rounds; with each server's CPU time per request, its
# processes' utime + stime over the wrk run / requests) and writes OUT_DIR/summary.md.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-/tmp/mlpd-serve}" && cd "${1:-/tmp/mlpd-serve}" && pwd)"
PEERS_SRC="${PEERS:-$ROOT/bench/peers}"
DUR="${DURATION:-20}"
ROUNDS="${ROUNDS:-1}"
MLPD="${MLPD:-$ROOT/build/mlpd}"
P="${PORT:-18090}"; PM=$((P + 1)); PF=$((P + 2))
PY=/usr/bin/python3
FM="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

SKIP_PEERS="${SKIP_PEERS:-0}"
rm -rf "$OUT/peers" && cp -r "$PEERS_SRC" "$OUT/peers"
[ -f "$OUT/body_1.json" ] || "$PY" "$OUT/peers/make_bodies.py" "$OUT" || exit 1
[ "$SKIP_PEERS" = 1 ] || gcc -O2 -o "$OUT/peers/mhd_fixed" "$OUT/peers/mhd_fixed.c" -lmicrohttpd || exit 1

wait_http() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }

# Rounds: each server/body pair once per round, servers in ABBA order (odd rounds mlpd, base,
# bare, Flask; even rounds the reverse), so a drift in the machine's load does not favour one.
# --- mlpd, with the model trained through its own API ---
mkdir -p "$OUT/mlpd-data"
"$MLPD" --listen "127.0.0.1:$P" --data-dir "$OUT/mlpd-data" --quiet \
  ${TRAIN_SHARE:+--train-share "$TRAIN_SHARE"} 2> "$OUT/mlpd.log" &
PIDS+=($!); PID_MLPD=$!
wait_http "http://127.0.0.1:$P/healthz" || { echo "mlpd did not start"; cat "$OUT/mlpd.log"; exit 1; }
API="http://127.0.0.1:$P/api/v1"
if ! curl -sf -o /dev/null "http://127.0.0.1:$P/v1/models/fashion"; then
  echo "training the mlpd model (2 epochs)"
  DS=$(curl -s -F name=fashion-train -F "images=@$FM/train-images-idx3-ubyte.gz" \
         -F "labels=@$FM/train-labels-idx1-ubyte.gz" "$API/datasets" |
       "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])') || exit 1
  echo "$DS" > "$OUT/dataset_id"
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
DS=$(cat "$OUT/dataset_id" 2>/dev/null || echo ds_1)
URL_MLPD="http://127.0.0.1:$P/v1/models/fashion:predict"
echo "mlpd sanity: $(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$OUT/body_1.json" "$URL_MLPD" | head -c 200)"

if [ -n "${MLPD_BASE:-}" ] && [ "$SKIP_PEERS" != 1 ]; then # an older mlpd on a copy of the data
  rm -rf "$OUT/mlpd-data-base" && cp -r "$OUT/mlpd-data" "$OUT/mlpd-data-base"
  "$MLPD_BASE" --listen "127.0.0.1:$((P + 3))" --data-dir "$OUT/mlpd-data-base" --quiet 2> "$OUT/mlpd-base.log" &
  PIDS+=($!); PID_BASE=$!
  wait_http "http://127.0.0.1:$((P + 3))/healthz" || { echo "base mlpd did not start"; exit 1; }
  URL_BASE="http://127.0.0.1:$((P + 3))/v1/models/fashion:predict"
else
  URL_BASE=""
fi

# --- peers ---
if [ "$SKIP_PEERS" = 1 ]; then
  URL_MHD=""; URL_FLASK=""
else
"$OUT/peers/mhd_fixed" "$PM" epoll2 2> "$OUT/mhd.log" &
PIDS+=($!); PID_MHD=$!
URL_MHD="http://127.0.0.1:$PM/predict"
fi
if [ "$SKIP_PEERS" = 1 ]; then
  :
elif [ "${NO_FLASK:-0}" = 1 ]; then
  URL_FLASK=""
elif [ -f "$OUT/mlp_torch.pt" ]; then
  MODEL_PATH="$OUT/mlp_torch.pt" gunicorn -w 2 -k sync -b "127.0.0.1:$PF" --chdir "$OUT/peers" \
    --log-level warning serve_flask:app > "$OUT/gunicorn.log" 2>&1 &
  PIDS+=($!); PID_FLASK=$!
  URL_FLASK="http://127.0.0.1:$PF/predict"
else
  echo "no $OUT/mlp_torch.pt: Flask peer skipped"; URL_FLASK=""
fi
for u in $URL_MHD $URL_FLASK; do
  for _ in $(seq 1 150); do curl -s -o /dev/null -X POST --data '{}' "$u" && break; sleep 0.2; done
done

# CPU ticks (utime + stime) of a server: the process and its children (gunicorn's workers).
cpu_ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1"); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
run_wrk() { # tag body url [server pid]: also the server's CPU time per request, which the
  # machine's noise moves much less than req/s (wrk shares the 2 cores with the server)
  local c0=0 c1=0
  [ -n "${4:-}" ] && c0=$(cpu_ticks "$4")
  BODY_FILE="$2" wrk -t2 -c16 -d"${DUR}s" --latency -s "$OUT/peers/post.lua" "$3" > "$OUT/wrk_$1.log" 2>&1
  [ -n "${4:-}" ] && c1=$(cpu_ticks "$4")
  local js
  js=$(grep WRKJSON "$OUT/wrk_$1.log" | sed 's/^WRKJSON //')
  if [ -n "${4:-}" ]; then
    js=$("$PY" -c 'import json,sys,os; d=json.loads(sys.argv[1]); t=int(sys.argv[2]); d["cpu_us_per_req"]=round(t*1e6/os.sysconf("SC_CLK_TCK")/max(d["requests"],1),2); print(json.dumps(d))' "$js" $((c1 - c0)))
  fi
  echo "$1 $js" >> "$OUT/results.txt"
  echo "  $1: $js"
}

: > "$OUT/results.txt"
echo "uptime before: $(uptime)" | tee "$OUT/uptime.txt"
one_server() { # server body round
  case "$1" in
    mlpd) run_wrk "mlpd_b${2}_r$3" "$OUT/body_$2.json" "$URL_MLPD" "$PID_MLPD" ;;
    mhd) run_wrk "mhd_b${2}_r$3" "$OUT/body_$2.json" "$URL_MHD" "$PID_MHD" ;;
    flask) [ -n "$URL_FLASK" ] && run_wrk "flask_b${2}_r$3" "$OUT/body_$2.json" "$URL_FLASK" "$PID_FLASK" ;;
    base) [ -n "$URL_BASE" ] && run_wrk "base_b${2}_r$3" "$OUT/body_$2.json" "$URL_BASE" "$PID_BASE" ;;
  esac
}
for r in $(seq 1 "$ROUNDS"); do # ABBA: odd rounds mlpd first, even rounds mlpd last
  [ "$SKIP_PEERS" = 1 ] && break
  if [ $((r % 2)) = 1 ]; then ORDER="mlpd base mhd flask"; else ORDER="flask mhd base mlpd"; fi
  for b in 1 64; do
    for sv in $ORDER; do one_server "$sv" "$b" "$r"; done
  done
done

# --- class mode: the same daemon, the same body, no key vs a student's key ---
if [ "${CLASS_KEYS:-0}" = 1 ]; then
  STUDENT=$(curl -s -X POST "$API/users" -d '{"name":"bench-student","role":"student"}' |
            "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key"]["key"])' 2>/dev/null) ||
  STUDENT=$(curl -s -X POST "$API/users/bench-student/keys" | # a data dir reused: one more key
            "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key"])') || exit 1
  echo "student key sanity: $(curl -s -H "Authorization: Bearer $STUDENT" "$API/me" | head -c 120)"
  for r in $(seq 1 "$ROUNDS"); do # ABBA: odd rounds open first, even rounds the key first
    [ $((r % 2)) = 1 ] && run_wrk "open_b1_r$r" "$OUT/body_1.json" "$URL_MLPD" "$PID_MLPD"
    AUTHORIZATION="Bearer $STUDENT" run_wrk "student_b1_r$r" "$OUT/body_1.json" "$URL_MLPD" "$PID_MLPD"
    [ $((r % 2)) = 0 ] && run_wrk "open_b1_r$r" "$OUT/body_1.json" "$URL_MLPD" "$PID_MLPD"
  done
fi

# --- inference vs training: TRAIN_ROUNDS rounds of (1) DURATION s of 1-instance load, nothing
# training: idle p99; (2) a run of the same network starts (hundreds of epochs: it is cancelled
# at the end of the round); once its first epoch is done, DURATION s with no request: the run's
# idle rate; (3) DURATION s of the same load while it trains: p99 under training and the run's
# rate under that load; (4) once the run finished one more epoch, it is cancelled. A rate is
# epochs of progress per second over the window, progress interpolated linearly between the
# timestamps of the epochs' metric points (an epoch straddling the window counts pro rata).
# One 10 s sample of p99 moves 2-4x from run to run on this VM, so the ratios are of medians. ---
epochs_done() { curl -s "$API/runs/$1/metrics?name=train_loss" | grep -o '"step"' | wc -l; }
wait_epochs() { # run n timeout_s: until the run has n epochs
  for _ in $(seq 1 $(($3 * 5))); do [ "$(epochs_done "$1")" -ge "$2" ] && return 0; sleep 0.2; done
  echo "  run $1: not $2 epochs after $3 s"; return 1
}
: > "$OUT/train_windows.txt"
if [ "${SKIP_TRAINING:-0}" != 1 ]; then
  for r in $(seq 1 "${TRAIN_ROUNDS:-3}"); do
    run_wrk "idle_b1_r$r" "$OUT/body_1.json" "$URL_MLPD"
    RUN=$(curl -s -X POST "$API/runs" -H 'Content-Type: application/json' -d '{
       "dataset_id": "'"$DS"'", "task": "classification", "target": "label", "model_name": "fashion-load",
       "params": {"hidden": [256, 128], "activation": "relu", "optimizer": "momentum",
                  "learning_rate": 0.05, "batch_size": 128, "epochs": 500}}' |
         "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    wait_epochs "$RUN" 1 120 || exit 1
    A0=$(date +%s.%N); sleep "$DUR"; A1=$(date +%s.%N)
    B0=$(date +%s.%N)
    run_wrk "training_b1_r$r" "$OUT/body_1.json" "$URL_MLPD"
    B1=$(date +%s.%N)
    E1=$(epochs_done "$RUN")
    wait_epochs "$RUN" $((E1 + 1)) 300 || exit 1
    curl -s "$API/runs/$RUN/metrics?name=train_loss" > "$OUT/train_metrics_r$r.json"
    curl -s -X POST "$API/runs/$RUN/cancel" > /dev/null
    echo "$r $RUN $A0 $A1 $B0 $B1" >> "$OUT/train_windows.txt"
    echo "  training run $RUN: $E1 epochs when the load ended"
    sleep 1
  done
fi
echo "uptime after: $(uptime)" | tee -a "$OUT/uptime.txt"

"$PY" - "$OUT" <<'EOF'
import json, sys, statistics as st, collections
out = sys.argv[1]
res = collections.defaultdict(list)
for line in open(f"{out}/results.txt"):
    tag, js = line.split(" ", 1)
    d = json.loads(js)
    key = tag.rsplit("_r", 1)[0] if "_r" in tag else tag
    res[key].append(d)
med = lambda k, f: st.median(x[f] for x in res[k]) if k in res else float("nan")
lines = ["| server | body | req/s | p50 ms | p99 ms | server CPU us/request | errors |", "|---|---|---|---|---|---|---|"]
for b in (1, 64):
    for s in ("mlpd", "mhd", "flask", "base"):
        k = f"{s}_b{b}"
        if k in res:
            errs = sum(x["err_status"] + x["err_connect"] + x["err_read"] + x["err_timeout"] for x in res[k])
            cpu = med(k, 'cpu_us_per_req') if all('cpu_us_per_req' in x for x in res[k]) else float('nan')
            lines.append(f"| {s} | {b} | {med(k,'rps'):,.0f} | {med(k,'p50_ms'):.3f} | {med(k,'p99_ms'):.3f} | {cpu:.1f} | {errs} |")
for k in ("open_b1", "student_b1"):
    if k in res:
        errs = sum(x["err_status"] + x["err_connect"] + x["err_read"] + x["err_timeout"] for x in res[k])
        rpss = ", ".join(f"{x['rps']:,.0f}" for x in res[k])
        lines.append(f"| mlpd {k.replace('_b1','')} | 1 | {med(k,'rps'):,.0f} (rounds: {rpss}) | {med(k,'p50_ms'):.3f} | {med(k,'p99_ms'):.3f} | {med(k,'cpu_us_per_req'):.1f} | {errs} |")
for k in ("idle_b1", "training_b1"):
    if k in res:
        p99s = ", ".join(f"{x['p99_ms']:.2f}" for x in res[k])
        lines.append(f"| mlpd {k.replace('_b1','')} | 1 | {med(k,'rps'):,.0f} | {med(k,'p50_ms'):.3f} | {med(k,'p99_ms'):.3f} (rounds: {p99s}) | - | - |")
lines.append("")
# the training run's progress: epochs per second in the window without requests and under them
from datetime import datetime, timezone
def ts(s):
    for f in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try: return datetime.strptime(s, f).replace(tzinfo=timezone.utc).timestamp()
        except ValueError: pass
    raise ValueError(s)
def progress(pts, t):  # epochs done at time t, linear between epoch completions
    for (e0, t0), (e1, t1) in zip(pts, pts[1:]):
        if t0 <= t <= t1: return e0 + (t - t0) / (t1 - t0) * (e1 - e0)
    raise ValueError(f"time {t} outside the epochs' span {pts[0][1]}..{pts[-1][1]}")
rates = []
for line in open(f"{out}/train_windows.txt"):
    r, run, a0, a1, b0, b1 = line.split()
    d = json.load(open(f"{out}/train_metrics_r{r}.json"))
    pts = sorted((p["step"], ts(p["timestamp"])) for p in d["metrics"])
    a0, a1, b0, b1 = map(float, (a0, a1, b0, b1))
    ra = (progress(pts, a1) - progress(pts, a0)) / (a1 - a0)
    rb = (progress(pts, b1) - progress(pts, b0)) / (b1 - b0)
    rates.append((ra, rb))
if rates:
    lines.append("| round | run epochs/s, no requests | run epochs/s, under the load | ratio |")
    lines.append("|---|---|---|---|")
    for i, (ra, rb) in enumerate(rates, 1):
        lines.append(f"| {i} | {ra:.3f} | {rb:.3f} | {rb / ra:.2f} |")
    lines.append("")
train_ratio = st.median(rb / ra for ra, rb in rates) if rates else float("nan")
# the p99 rule: mlpd's p99 against the bare server's in the same round
p99_pairs = [(a["p99_ms"], b["p99_ms"]) for a, b in zip(res.get("mlpd_b1", []), res.get("mhd_b1", []))]
p99_vs_bare = st.median(a / b for a, b in p99_pairs) if p99_pairs else float("nan")
if p99_pairs:
    lines.append("1 instance, per round: mlpd / bare req/s " +
                 ", ".join(f"{a['rps'] / b['rps']:.2f}" for a, b in zip(res["mlpd_b1"], res["mhd_b1"])) +
                 "; mlpd / bare p99 " + ", ".join(f"{a:.2f}/{b:.2f} ms" for a, b in p99_pairs))
    if "base_b1" in res:
        lines.append("1 instance, per round: older mlpd (MLPD_BASE) / bare req/s " +
                     ", ".join(f"{a['rps'] / b['rps']:.2f}" for a, b in zip(res["base_b1"], res["mhd_b1"])))
    lines.append("")
def ratio(a, b, f="rps"):
    return med(a, f) / med(b, f) if a in res and b in res else float("nan")
checks = [
    ("1 instance: mlpd / Flask req/s (target >= 10)", ratio("mlpd_b1", "flask_b1"), lambda v: v >= 10),
    ("1 instance: mlpd / bare MHD req/s (target >= 0.7)", ratio("mlpd_b1", "mhd_b1"), lambda v: v >= 0.7),
    ("1 instance: mlpd p99 ms (target <= 1)", med("mlpd_b1", "p99_ms"), lambda v: v <= 1),
    ("1 instance: mlpd p99 / bare MHD p99, median of the rounds' ratios (target <= 1)", p99_vs_bare, lambda v: v <= 1),
    ("64 instances: mlpd / Flask req/s (target >= 8)", ratio("mlpd_b64", "flask_b64"), lambda v: v >= 8),
    ("64 instances: mlpd / bare MHD req/s", ratio("mlpd_b64", "mhd_b64"), lambda v: True),
    ("1 instance: bare MHD / mlpd server CPU per request (the req/s ratio without wrk's share)", ratio("mhd_b1", "mlpd_b1", "cpu_us_per_req"), lambda v: True),
    ("1 instance: mlpd / older mlpd (MLPD_BASE) req/s", ratio("mlpd_b1", "base_b1"), lambda v: True),
    ("64 instances: mlpd / older mlpd (MLPD_BASE) req/s", ratio("mlpd_b64", "base_b64"), lambda v: True),
    ("class mode: student key / open server req/s, same daemon (target >= 0.95)", ratio("student_b1", "open_b1"), lambda v: v >= 0.95),
    ("class mode: student key / open server CPU per request", ratio("student_b1", "open_b1", "cpu_us_per_req"), lambda v: True),
    ("under training: p99 / idle p99 (target <= 2)", ratio("training_b1", "idle_b1", "p99_ms"), lambda v: v <= 2),
    ("under the load: the run's epochs/s / its epochs/s without requests, median of rounds (target >= 0.15)", train_ratio, lambda v: v >= 0.15),
]
for name, v, ok in checks:
    if v == v:
        lines.append(f"- {name}: {v:.2f} — {'met' if ok(v) else 'NOT met'}")
    else:
        lines.append(f"- {name}: not measured in this run")
txt = "\n".join(lines)
print(txt)
open(f"{out}/summary.md", "w").write(txt + "\n")
EOF
