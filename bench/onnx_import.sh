#!/usr/bin/env bash
# onnx_import.sh — ONNX import time for the Fashion-MNIST network (784-256-128-10, relu, softmax
# head; PyTorch's default initialisation with seed 0: the weights' values do not change what an
# import does), against mlpd's own JSON import of the same weights, in one run against one daemon:
#   1. PyTorch (Debian python3-torch) writes the network with torch.onnx.export (opset 17);
#   2. one ONNX import makes version 1; its JSON export document is the native import's body;
#   3. ROUNDS rounds, each one ONNX import and one JSON import (the order reversed every other
#      round), each timed from the first byte sent to the 201 (parse, check, bundle, store write
#      with its fsync); medians and the ratio ONNX / JSON;
#   4. sizes: the ONNX file, the JSON document, the stored bundle (model_versions.blob);
#   5. a check that the imported version predicts what PyTorch does (100 random rows, 1e-5).
# Usage: bench/onnx_import.sh [OUT_DIR]
# Env: ROUNDS (9), PORT (18230), MLPD (build/mlpd). Needs python3-torch, python3-onnx, sqlite3.
# Prints the load average before and after and a summary; writes OUT_DIR/summary.txt.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-/tmp/mlpd-onnx-import}" && cd "${1:-/tmp/mlpd-onnx-import}" && pwd)"
ROUNDS="${ROUNDS:-9}"; P="${PORT:-18230}"
MLPD="${MLPD:-$ROOT/build/mlpd}"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

echo "== commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- server api core || echo ' (modified)')"
echo "== load before: $(cat /proc/loadavg)"
rm -rf "$OUT/data"; mkdir -p "$OUT/data"
OPENBLAS_NUM_THREADS=2 "$MLPD" --listen "127.0.0.1:$P" --data-dir "$OUT/data" --quiet 2> "$OUT/mlpd.log" &
PIDS+=($!)
for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$P/healthz" && break; sleep 0.2; done

BASE="http://127.0.0.1:$P" ROUNDS="$ROUNDS" OUT="$OUT" /usr/bin/python3 - <<'EOF' | tee "$OUT/summary.txt"
import io, json, os, statistics, time, urllib.request
import numpy as np
import torch

base, rounds, out = os.environ['BASE'], int(os.environ['ROUNDS']), os.environ['OUT']
torch.manual_seed(0)
torch.set_num_threads(1)
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                          torch.nn.ReLU(), torch.nn.Linear(128, 10), torch.nn.Softmax(dim=1)).eval()
f = io.BytesIO()
torch.onnx.export(net, torch.zeros(2, 784), f, opset_version=17, input_names=['input'],
                  output_names=['probabilities'], dynamic_axes={'input': {0: 'N'},
                                                                'probabilities': {0: 'N'}})
blob = f.getvalue()


def post(path, body, ctype):
    req = urllib.request.Request(base + path, data=body, method='POST',
                                 headers={'Content-Type': ctype})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
        assert r.status in (200, 201), r.status
    return time.perf_counter() - t


post('/api/v1/models/fm_onnx/versions', blob, 'application/onnx')
with urllib.request.urlopen(base + '/api/v1/models/fm_onnx/versions/1/export') as r:
    doc = r.read()
X = torch.rand(100, 784)
req = urllib.request.Request(base + '/v1/models/fm_onnx/versions/1:predict', method='POST',
                             data=json.dumps({'instances': X.tolist()}).encode(),
                             headers={'Content-Type': 'application/json'})
with urllib.request.urlopen(req) as r:
    got = np.array(json.loads(r.read())['predictions'])
with torch.no_grad():
    want = net(X).double().numpy()
np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

t_onnx, t_json = [], []
for i in range(rounds):
    order = [('onnx', blob, 'application/onnx'), ('json', doc, 'application/json')]
    if i % 2:
        order.reverse()
    for kind, body, ctype in order:
        dt = post('/api/v1/models/fm_%s/versions' % kind, body, ctype)
        (t_onnx if kind == 'onnx' else t_json).append(dt)
mo, mj = statistics.median(t_onnx), statistics.median(t_json)
print('rounds %d; import, median ms: ONNX %.1f (min %.1f, max %.1f), JSON %.1f (min %.1f, '
      'max %.1f); ONNX / JSON %.2f' % (rounds, mo * 1e3, min(t_onnx) * 1e3, max(t_onnx) * 1e3,
                                        mj * 1e3, min(t_json) * 1e3, max(t_json) * 1e3, mo / mj))
print('sizes, bytes: ONNX file %d, JSON export document %d' % (len(blob), len(doc)))
print('check: version 1 predicts PyTorch\'s probabilities within 1e-5 (100 rows)')
EOF
BUNDLE=$(sqlite3 "$OUT/data/mlpd.db" "SELECT length(blob) FROM model_versions LIMIT 1")
echo "sizes, bytes: stored bundle $BUNDLE" | tee -a "$OUT/summary.txt"
echo "== load after: $(cat /proc/loadavg)"
