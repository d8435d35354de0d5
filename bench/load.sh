#!/usr/bin/env bash
# load.sh — issue 6 load test (not CI): wrk on loopback against the real daemon.
#   phase 1 (LOAD_SECONDS, default 60): 64 connections of mixed single-instance :predict,
#     dataset reads and run listing (bench/load_mixed.lua), plus a 2-connection :predict-only
#     probe whose latency percentiles are the ":predict while training" figure; two runs train
#     meanwhile (--workers 2).
#   phase 2 (IDLE_SECONDS, default 20): 200 idle keep-alive connections and 20 SSE listeners on a
#     training run, while the probe measures :predict again.
# Prints non-2xx / socket errors / p50 / p99 per wrk, RSS and open fds before and after.
# Usage: bench/load.sh   (builds build/mlpd; needs wrk, curl, jq, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD_SECONDS=${LOAD_SECONDS:-60}
IDLE_SECONDS=${IDLE_SECONDS:-20}
make -s build/mlpd
T=$(mktemp -d /tmp/mlpd-load.XXXXXX)
PID="" HOLD=""
cleanup() {
    [ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null || true
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
# every client of this test is 127.0.0.1: lift the per-address connection limit (default 64)
build/mlpd --listen 127.0.0.1:0 --data-dir "$T/data" --port-file "$T/port" --quiet --workers 2 \
    --max-connections-per-ip 0 \
    2>"$T/log" </dev/null &
PID=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
U=http://127.0.0.1:$(cat "$T/port")
J=(-H 'Content-Type: application/json')
awk 'BEGIN{srand(3); printf "f0"; for(i=1;i<12;i++) printf ",f%d",i; print ",y";
  for(r=0;r<20000;r++){s=0; for(i=0;i<12;i++){v=rand(); s+=v*(i%3==0?1:-0.5); printf "%.4f,",v};
  print (s>0.5?2:(s>-0.5?1:0))}}' >"$T/d.csv"
curl -sS -o /dev/null -H 'Content-Type: text/csv' --data-binary @"$T/d.csv" "$U/api/v1/datasets?name=load"
run() { # model epochs hidden
    curl -sS "${J[@]}" -d "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\",
      \"model_name\":\"$1\",\"params\":{\"hidden\":$3,\"epochs\":$2,\"batch_size\":32}}" \
        "$U/api/v1/runs" | jq -r .id
}
R0=$(run lm 2 '[64,32]')
until [ "$(curl -sS "$U/api/v1/runs/$R0" | jq -r .status)" = succeeded ]; do sleep 0.2; done
# warm-up, then the baseline
for _ in $(seq 200); do curl -sS -o /dev/null "${J[@]}" -d '{"instances":[[1,2,3,4,5,6,7,8,9,10,11,12]]}' "$U/v1/models/lm:predict"; done
rss() { awk '/VmRSS/{print $2}' /proc/$PID/status; }
fds() { ls /proc/$PID/fd | wc -l; }
fdlist() { for f in /proc/$PID/fd/*; do readlink "$f"; done | sed 's/[0-9]\{3,\}/N/g' | sort | uniq -c; }
# warm-up at full concurrency (SQLite connection pool, thread-local buffers, allocator arenas),
# so that "after" is compared with a steady state rather than with a cold process
wrk -t2 -c64 -d5s -s bench/load_mixed.lua "$U" >/dev/null
sleep 1
RSS0=$(rss) FD0=$(fds)
fdlist >"$T/fd0"
echo "uptime: $(uptime)"
echo "baseline: RSS ${RSS0} kB, fds $FD0"
cat >"$T/predict.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"instances":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.1,0.2,0.3]]}'
wrk.path = "/v1/models/lm:predict"
LUA
if [ "${NO_TRAIN_PHASE:-1}" = 1 ]; then
    echo "== phase 0 (reference): the same 64 mixed + probe for ${LOAD_SECONDS}s, nothing training"
    wrk -t2 -c64 -d"${LOAD_SECONDS}s" --latency -s bench/load_mixed.lua "$U" >"$T/mixed0.txt" &
    W0=$!
    wrk -t1 -c2 -d"${LOAD_SECONDS}s" --latency -s "$T/predict.lua" "$U" >"$T/probe0.txt"
    wait $W0
    echo "-- mixed:"; grep -E '50%|99%|Requests/sec|Non-2xx|Socket errors' "$T/mixed0.txt"
    echo "-- :predict probe:"; grep -E '50%|99%|requests in|Non-2xx|Socket errors' "$T/probe0.txt"
fi
A=$(run train-a 100000 '[256,256]')
B=$(run train-b 100000 '[256,256]')
sleep 2
echo "== phase 1: 64 mixed connections for ${LOAD_SECONDS}s + 2-connection :predict probe, 2 runs training"
wrk -t2 -c64 -d"${LOAD_SECONDS}s" --latency -s bench/load_mixed.lua "$U" >"$T/mixed.txt" &
W1=$!
wrk -t1 -c2 -d"${LOAD_SECONDS}s" --latency -s "$T/predict.lua" "$U" >"$T/probe1.txt"
wait $W1
echo "-- mixed:"; grep -E 'Latency|50%|99%|requests in|Requests/sec|Non-2xx|Socket errors' "$T/mixed.txt"
echo "-- :predict probe:"; grep -E 'Latency|50%|99%|requests in|Non-2xx|Socket errors' "$T/probe1.txt"
echo "runs: $(curl -sS "$U/api/v1/runs/$A" | jq -c .progress) $(curl -sS "$U/api/v1/runs/$B" | jq -c .progress)"
echo "== phase 2: 200 idle keep-alive connections + 20 SSE listeners for ${IDLE_SECONDS}s"
python3 - "$(cat "$T/port")" "$A" "$IDLE_SECONDS" <<'PY' &
import socket, sys, time
port, run, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
idle = []
for _ in range(200):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(4096)
    idle.append(s)
sse = []
for _ in range(20):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("GET /api/v1/runs/%s/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n" % run).encode())
    sse.append(s)
time.sleep(secs)
for s in sse:
    s.setblocking(False)
    try: s.recv(65536)
    except BlockingIOError: pass
print("held %d idle + %d SSE connections" % (len(idle), len(sse)))
PY
HOLD=$!
sleep 2
echo "connections open (fds): $(fds)"
wrk -t1 -c2 -d"$((IDLE_SECONDS - 4))s" --latency -s "$T/predict.lua" "$U" >"$T/probe2.txt"
wait $HOLD || true
HOLD=""
echo "-- :predict probe with idle + SSE connections:"; grep -E 'Latency|50%|99%|requests in|Non-2xx|Socket errors' "$T/probe2.txt"
curl -sS -o /dev/null -X POST "${J[@]}" -d '{}' "$U/api/v1/runs/$A/cancel"
curl -sS -o /dev/null -X POST "${J[@]}" -d '{}' "$U/api/v1/runs/$B/cancel"
sleep 3
RSS1=$(rss) FD1=$(fds)
fdlist >"$T/fd1"
diff "$T/fd0" "$T/fd1" >/dev/null || { echo "fd kinds before -> after:"; diff "$T/fd0" "$T/fd1" || true; }
echo "after: RSS ${RSS1} kB ($(awk -v a="$RSS1" -v b="$RSS0" 'BEGIN{printf "%+.1f%%", (a-b)*100/b}')), fds $FD1 (baseline $FD0)"
echo "uptime: $(uptime)"
kill -TERM "$PID"
wait "$PID" && echo "SIGTERM: exit 0" || echo "SIGTERM: exit $?"
PID=""
