#!/bin/sh
# bench/v2.sh — /v2 infer throughput with 64 Fashion-MNIST instances per request: the binary
# tensor extension vs the JSON path of the same route vs a bare libmicrohttpd server that reads the
# same (binary) body and answers a fixed reply (bench/peers/mhd_fixed.c, built from a
# copy in /tmp). One run, interleaved back to back with wrk; prints requests/s and the ratios.
# Trains the 784-256-128-10 classifier through the daemon first (2 epochs; accuracy is not the
# point). Not part of CI. Usage: bench/v2.sh [seconds per wrk run, default 8]
# Env: MLPD_BIN (default build/mlpd), WRK_THREADS (2), WRK_CONNS (8), MLPD_THREADS (2),
#      PEERS (bench/peers).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-8}
bin=${MLPD_BIN:-$root/build/mlpd}
D=/usr/share/datasets/fashion-mnist
t=${WRK_THREADS:-2}
c=${WRK_CONNS:-8}
work=$(mktemp -d /tmp/mlpd-bench-v2-XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

cp -r "${PEERS:-$root/bench/peers}" "$work/peers"
gcc -O2 -o "$work/mhd_fixed" "$work/peers/mhd_fixed.c" -lmicrohttpd

mkdir "$work/data"
"$bin" --listen 127.0.0.1:0 --data-dir "$work/data" --port-file "$work/port" --quiet \
  --threads "${MLPD_THREADS:-2}" 2>"$work/mlpd.log" &
pids="$pids $!"
while [ ! -s "$work/port" ]; do sleep 0.05; done
M=http://127.0.0.1:$(cat "$work/port")
curl -fsS -o /dev/null -F name=fmnist -F images=@$D/train-images-idx3-ubyte.gz \
  -F labels=@$D/train-labels-idx1-ubyte.gz "$M/api/v1/datasets"
curl -fsS -o /dev/null "$M/api/v1/runs" -H 'Content-Type: application/json' -d '{"dataset_id":"ds_1",
  "task":"classification","target":"label","model_name":"fmnist","params":{"hidden":[256,128],
  "epochs":2,"batch_size":128,"optimizer":"adam","seed":1}}'
until curl -fsS "$M/api/v1/runs/run_1" | grep -q '"status":"succeeded"'; do sleep 1; done

# Bodies: the first 64 test images, pixels as the dataset stores them (0..255).
/usr/bin/python3 - "$work" "$D/t10k-images-idx3-ubyte.gz" <<'PY'
import gzip, json, struct, sys
out, path = sys.argv[1], sys.argv[2]
raw = gzip.open(path).read()
n, d = 64, 784
px = raw[16:16 + n * d]
rows = [list(px[i * d:(i + 1) * d]) for i in range(n)]
inp = {"name": "input", "shape": [n, d], "datatype": "FP32"}
open(out + "/v2.json", "w").write(json.dumps({"inputs": [dict(inp, data=rows)]}, separators=(",", ":")))
head = json.dumps({"inputs": [dict(inp, parameters={"binary_data_size": n * d * 4})],
                   "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}},
                               {"name": "label", "parameters": {"binary_data": True}}]},
                  separators=(",", ":")).encode()
open(out + "/v2.bin", "wb").write(head + struct.pack("<%df" % (n * d), *[float(v) for v in px]))
open(out + "/v2.ihcl", "w").write(str(len(head)))
PY
ihcl=$(cat "$work/v2.ihcl")
# Both paths answer 200 with the same probabilities before timing anything.
curl -fsS -o /dev/null "$M/v2/models/fmnist/infer" -H 'Content-Type: application/json' --data-binary @"$work/v2.json"
curl -fsS -o /dev/null "$M/v2/models/fmnist/infer" -H 'Content-Type: application/octet-stream' \
  -H "Inference-Header-Content-Length: $ihcl" --data-binary @"$work/v2.bin"

"$work/mhd_fixed" 18097 epoll2 &
pids="$pids $!"
sleep 0.3
run() { # name url body ctype ihcl
  BODY_FILE=$3 CTYPE=$4 IHCL=$5 wrk -t"$t" -c"$c" -d"${secs}s" -s "$root/bench/v2_post.lua" "$2" |
    sed -n "s/^WRK /$1 /p"
}
echo "uptime: $(uptime)"
echo "bodies: json $(wc -c < "$work/v2.json") bytes, binary $(wc -c < "$work/v2.bin") bytes; wrk -t$t -c$c -d${secs}s"
{
  run json "$M/v2/models/fmnist/infer" "$work/v2.json" application/json ""
  run binary "$M/v2/models/fmnist/infer" "$work/v2.bin" application/octet-stream "$ihcl"
  run bare "http://127.0.0.1:18097/v2/models/fmnist/infer" "$work/v2.bin" application/octet-stream "$ihcl"
} | tee "$work/results"
awk '{ split($2, a, "="); r[$1] = a[2] } END {
  printf "binary/json = %.2fx (target >= 5)   binary/bare = %.0f%% (target >= 50%%)\n", r["binary"] / r["json"], 100 * r["binary"] / r["bare"] }' "$work/results"
