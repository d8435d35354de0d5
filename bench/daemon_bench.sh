#!/bin/sh
# daemon_bench.sh — the daemon's own targets (issue 3, Performance), in one run:
#   upload   Fashion-MNIST IDX gz pair through HTTP (curl -F), UPLOADS times (default 5)
#   rss      ps -o rss right after start, and after upload + run + predict has settled
#   latency  :predict of one instance of a 784-256-128-10 model, keep-alive, N requests
#            (bench/predict_client.c), idle and while a run trains
#   modes    wrk -t2 -c16 -d${WRK_SECS}s on /healthz and on 1-instance :predict for libmicrohttpd
#            epoll + thread pool of 1, 2, 4 vs thread per connection (MLPD_HTTP_MODE)
# Usage: bench/daemon_bench.sh [upload] [rss] [latency] [modes]   (default: all)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
UPLOADS=${UPLOADS:-5}
N=${N:-2000}
WRK_SECS=${WRK_SECS:-10}
STEPS=${*:-upload rss latency modes}
cd "$ROOT"
make -s build/mlpd
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -o build/bench/predict_client bench/predict_client.c \
   $(pkg-config --cflags --libs libcurl zlib)
TMP=$(mktemp -d /tmp/mlpd-dbench.XXXXXX)
PID=
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$TMP"' EXIT INT TERM
start() { # start [threads] [env...]
    stop
    rm -f "$TMP/port"
    env "$@" ./build/mlpd --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$TMP/var" \
        --quiet ${THR:+--threads $THR} >> "$TMP/mlpd.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
    B="http://127.0.0.1:$(cat "$TMP/port")"
    P=$(cat "$TMP/port")
}
rss() { ps -o rss= -p "$PID" | tr -d ' '; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
run() { # run EPOCHS -> run id
    curl -sf -H 'Content-Type: application/json' -d "{\"dataset_id\": \"$DS\",
      \"task\": \"classification\", \"target\": \"label\", \"model_name\": \"fashion\",
      \"validation\": {\"fraction\": 0}, \"params\": {\"hidden\": [256, 128],
      \"optimizer\": \"momentum\", \"learning_rate\": 0.05, \"batch_size\": 128,
      \"epochs\": $1, \"standardize\": false}}" "$B/api/v1/runs" | json '["id"]'
}
wait_run() {
    while :; do
        st=$(curl -sf "$B/api/v1/runs/$1" | json '["status"]')
        case $st in succeeded) return 0 ;; failed|cancelled) echo "run $1 $st"; exit 1 ;; esac
        sleep 0.3
    done
}
echo "== load: $(cat /proc/loadavg); nproc $(nproc)"
THR=
start ${RUN_ENV:-}
echo "== rss after start: $(rss) KB"
RSS0=$(rss)
times=
for i in $(seq "$UPLOADS"); do
    t=$(curl -sf -o "$TMP/ds.json" -w '%{time_total}' -F images=@"$D/train-images-idx3-ubyte.gz" \
        -F labels=@"$D/train-labels-idx1-ubyte.gz" "$B/api/v1/datasets?name=fmnist$i")
    times="$times $t"
    case " $STEPS " in *" upload "*) ;; *) break ;; esac
done
DS=$(json '["id"]' < "$TMP/ds.json")
case " $STEPS " in *" upload "*)
    echo "== upload (IDX gz pair, curl -F) seconds:$times"
    python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print('== upload median %.3f s, min %.3f s (%d uploads)' % (statistics.median(v), min(v), len(v)))" $times
esac
R=$(run 1)
wait_run "$R"
build/bench/predict_client "$P" fashion 200 > /dev/null
sleep 3
echo "== rss after upload + 1-epoch run + 250 predicts, settled 3 s: $(rss) KB (at start $RSS0 KB)"
if [ -n "${SMAPS:-}" ]; then # where the RSS is: the biggest mappings
    grep -E '^(RssAnon|RssFile)' "/proc/$PID/status"
    awk '/^[0-9a-f]+-/{h=$0} /^Rss:/{if ($2 > 100) print $2 " KB " h}' "/proc/$PID/smaps" | sort -rn | head -40
fi
case " $STEPS " in *" latency "*)
    echo "== :predict latency, idle (keep-alive, $N requests)"
    build/bench/predict_client "$P" fashion "$N"
    R=$(run 30)
    sleep 2
    echo "== :predict latency while run $R trains"
    build/bench/predict_client "$P" fashion "$N"
    curl -sf -X POST "$B/api/v1/runs/$R/cancel" > /dev/null || true
    sleep 1
esac
case " $STEPS " in *" modes "*)
    python3 - "$D/t10k-images-idx3-ubyte.gz" > "$TMP/predict.lua" <<'PY'
import gzip, sys
px = gzip.open(sys.argv[1]).read()[16:16 + 784]
body = '{"instances": [[' + ",".join("%.6g" % (p / 255) for p in px) + "]]}"
print('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]' % body)
PY
    for m in $(seq "${MODE_ROUNDS:-2}" | sed 's/.*/pool:1 pool:2 pool:4 per-connection:0/'); do
        m=$(echo "$m" | tr : ' ')
        set -- $m
        if [ "$1" = pool ]; then THR=$2; start; else THR=; start MLPD_HTTP_MODE=per-connection; fi
        build/bench/predict_client "$P" fashion 100 > /dev/null  # loads the model
        h=$(wrk -t2 -c16 -d"${WRK_SECS}s" --latency "$B/healthz" | awk '/Requests\/sec/{r=$2} /^ +50%/{m=$2} /^ +99%/{p=$2} END{print r, m, p}')
        p=$(wrk -t2 -c16 -d"${WRK_SECS}s" --latency -s "$TMP/predict.lua" "$B/v1/models/fashion:predict" | awk '/Requests\/sec/{r=$2} /^ +50%/{m=$2} /^ +99%/{p=$2} /Non-2xx/{e=$NF} END{print r, m, p, (e ? "non2xx=" e : "")}')
        echo "== mode $m | healthz req/s p50 p99: $h | predict req/s p50 p99: $p"
    done
    THR=
esac
echo "== load: $(cat /proc/loadavg)"
