#!/usr/bin/env bash
# ensemble_fmnist.sh — ensembles on Fashion-MNIST, in one run against one daemon:
#   1. 5 runs that differ only in seed (784-HIDDEN-10, relu, momentum lr 0.05, batch 128, EPOCHS
#      epochs, trained through the daemon from the IDX upload) become versions 1-5 of model "fm";
#      ensembles "ens3" (versions 1-3) and "ens5" (1-5) are made from them;
#   2. test accuracy (10,000 test rows, through /v1 :predict) of each member and of both
#      ensembles, with a check that the served ensemble equals the mean of its served members;
#   3. one-instance :predict req/s for K = 1 (fm v1), 3 (ens3) and 5 (ens5): wrk -t1 -c4, ROUNDS
#      interleaved rounds of DURATION s each; medians and ratios to K = 1.
#      MLPD_BASE=/path/to/an/older/mlpd adds that binary serving fm v1 (on a copy of the data
#      dir) to every round: single-model serving before and after, side by side.
# Usage: bench/ensemble_fmnist.sh [OUT_DIR]
# Env: HIDDEN (128), EPOCHS (3), SEEDS (1,2,3,4,5), DURATION (8), ROUNDS (3), PORT (18190),
#      MLPD (build/mlpd), FASHION_MNIST_DIR (/usr/share/datasets/fashion-mnist).
# Needs wrk and python3 (standard library only). The trained data dir is reused on a later run
# with the same OUT_DIR. Prints one summary table and writes OUT_DIR/summary.md.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-/tmp/mlpd-ensemble}" && cd "${1:-/tmp/mlpd-ensemble}" && pwd)"
HIDDEN="${HIDDEN:-128}"; EPOCHS="${EPOCHS:-3}"; SEEDS="${SEEDS:-1,2,3,4,5}"
DUR="${DURATION:-8}"; ROUNDS="${ROUNDS:-3}"; P="${PORT:-18190}"
MLPD="${MLPD:-$ROOT/build/mlpd}"
FM="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
DRIVER="$ROOT/bench/ensemble_fmnist.py"
K=$(echo "$SEEDS" | tr ',' '\n' | wc -l)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
wait_http() { for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done; return 1; }

echo "== load: $(cat /proc/loadavg)"
mkdir -p "$OUT/data"
OPENBLAS_NUM_THREADS=2 "$MLPD" --listen "127.0.0.1:$P" --data-dir "$OUT/data" --quiet 2> "$OUT/mlpd.log" &
PIDS+=($!)
wait_http "http://127.0.0.1:$P/healthz" || { echo "mlpd did not start"; cat "$OUT/mlpd.log"; exit 1; }
URL="http://127.0.0.1:$P"
if ! curl -sf -o /dev/null "$URL/v1/models/ens5"; then
  echo "== training $K runs (784-$HIDDEN-10, $EPOCHS epochs, seeds $SEEDS)"
  T0=$(date +%s)
  python3 "$DRIVER" train "$URL" "$FM" "$SEEDS" "$HIDDEN" "$EPOCHS"
  echo "trained in $(( $(date +%s) - T0 )) s"
fi
echo "== test accuracy"
python3 "$DRIVER" accuracy "$URL" "$FM" "$K" | tee "$OUT/accuracy.txt"

python3 "$DRIVER" body "$FM" "$OUT/body_1.json"
TARGETS=("K=1 fm/versions/1 $URL" "K=3 ens3 $URL" "K=5 ens5 $URL")
if [ -n "${MLPD_BASE:-}" ]; then
  rm -rf "$OUT/data-base" && cp -r "$OUT/data" "$OUT/data-base"
  OPENBLAS_NUM_THREADS=2 "$MLPD_BASE" --listen "127.0.0.1:$((P + 1))" --data-dir "$OUT/data-base" \
    --quiet 2> "$OUT/mlpd-base.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$((P + 1))/healthz" || { echo "base mlpd did not start"; exit 1; }
  TARGETS=("K=1(base) fm/versions/1 http://127.0.0.1:$((P + 1))" "${TARGETS[@]}")
fi
echo "== :predict req/s, one instance, wrk -t1 -c4, $ROUNDS rounds of ${DUR}s"
: > "$OUT/rps.txt"
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    set -- $t
    u="$3/v1/models/$2:predict"
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$OUT/body_1.json" "$u" ||
      { echo "$u failed"; exit 1; }
    line=$(BODY_FILE="$OUT/body_1.json" wrk -t1 -c4 -d"${DUR}s" -s "$ROOT/bench/peers/post.lua" "$u" | grep '^WRKJSON' | cut -d' ' -f2-)
    echo "$1 $line" >> "$OUT/rps.txt"
    echo "round $r $1: $line"
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
acc = json.loads(open(f"{out}/accuracy.txt").read().strip().splitlines()[-1])
rps = {}
for line in open(f"{out}/rps.txt"):
    k, j = line.split(" ", 1)
    j = json.loads(j)
    rps.setdefault(k, []).append((j["rps"], j["p99_ms"], j["err_status"]))
lines = ["| model | test accuracy |", "|--|--|"]
for i, a in enumerate(acc["members"], 1):
    lines.append(f"| member fm v{i} | {a:.4f} |")
lines.append(f"| best member | {acc['best_member']:.4f} |")
lines.append(f"| mean of members | {acc['mean_member']:.4f} |")
lines.append(f"| **ensemble of 3 (v1-v3)** | **{acc['ens3']:.4f}** |")
lines.append(f"| **ensemble of 5** | **{acc['ens5']:.4f}** |")
lines += ["", "| members | req/s (median) | per round | p99 ms (median) | / K=1 |", "|--|--|--|--|--|"]
base = statistics.median(r for r, _, _ in rps["K=1"])
for k, v in rps.items():
    m = statistics.median(r for r, _, _ in v)
    errs = sum(e for _, _, e in v)
    lines.append(f"| {k} | {m:.0f} | {', '.join(f'{r:.0f}' for r, _, _ in v)} | "
                 f"{statistics.median(p for _, p, _ in v):.2f} | {m / base:.2f} |"
                 + (f" ({errs} non-2xx)" if errs else ""))
lines.append("")
lines.append(f"served ensemble vs mean of its served members, max |diff|: ens3 "
             f"{acc['ens3_max_abs_diff_vs_mean_of_members']:.1e}, ens5 "
             f"{acc['ens5_max_abs_diff_vs_mean_of_members']:.1e}")
s = "\n".join(lines)
print(s)
open(f"{out}/summary.md", "w").write(s + "\n")
PY
echo "== load: $(cat /proc/loadavg)"
