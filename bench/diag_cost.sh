#!/bin/sh
# diag_cost.sh [EPOCHS] [ROUNDS] — what the per-layer gradient diagnostics (issue 14, core/diag.h)
# add to a training epoch: the Fashion-MNIST MLP of bench/train_fmnist.sh (784-256-128-10 relu,
# momentum, batch 128, 60,000 rows) with diagnostics on and off (DIAGNOSTICS=0), alternated
# ROUNDS times in one run so that load drift hits both alike. Each process reports the median
# epoch of its EPOCHS; the summary gives the median over rounds of each and the ratio on / off.
# The last line is one JSON object.
set -eu
EPOCHS=${1:-5}
ROUNDS=${2:-3}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d /tmp/mlpd-diag.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore $(pkg-config --cflags openblas) -o build/bench/train_fmnist \
   bench/train_fmnist.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
echo "== load: $(cat /proc/loadavg)"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  for d in 1 0; do
    DIAGNOSTICS=$d OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist mlp "$EPOCHS" \
      | tail -1 | tee -a "$OUT/diag$d.txt"
  done
  r=$((r + 1))
done
echo "== load: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" "$EPOCHS" "$ROUNDS" <<'PY'
import json, statistics, sys
out, epochs, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = lambda d: [json.loads(l) for l in open(f"{out}/diag{d}.txt")]
on, off = runs(1), runs(0)
m_on = statistics.median(r["seconds_per_epoch"] for r in on)
m_off = statistics.median(r["seconds_per_epoch"] for r in off)
pairs = [a["seconds_per_epoch"] / b["seconds_per_epoch"] for a, b in zip(on, off)]
r = {"epochs": epochs, "rounds": rounds, "threads": on[0]["threads"],
     "on_seconds_per_epoch": m_on, "off_seconds_per_epoch": m_off, "ratio_on_off": m_on / m_off,
     "round_ratios": [round(x, 4) for x in pairs],
     "on_test_accuracy": on[0]["test_accuracy"], "off_test_accuracy": off[0]["test_accuracy"]}
print(f"== diagnostics on {m_on:.4f} s/epoch | off {m_off:.4f} s/epoch | on/off {m_on / m_off:.4f}"
      f" | accuracy on {r['on_test_accuracy']:.4f} off {r['off_test_accuracy']:.4f} (same weights)")
print(json.dumps(r))
PY
rm -rf "$OUT"
