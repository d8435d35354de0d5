#!/usr/bin/env bash
# ensemble_fmnist.sh — ensembles on Fashion-MNIST, in one run against one daemon:
#   1. 5 runs that differ only in seed (784-HIDDEN-10, relu, momentum lr 0.05, batch 128, EPOCHS
#      epochs, trained through the daemon from the IDX upload) become versions 1-5 of model "fm";
#      ensembles "ens3" (versions 1-3) and "ens5" (1-5) are made from them;
#   2. test accuracy (10,000 test rows, through /v1 :predict) of each member and of both
#      ensembles, with a check that the served ensemble equals the mean of its served members;
#   3. :predict req/s for K = 1 (fm v1), 3 (ens3) and 5 (ens5), with bodies of 1 and 64
#      instances: wrk -t1 -c4, ROUNDS interleaved rounds of DURATION s each (the order reversed
#      every other round); medians and ratios to K = 1.
#      MLPD_BASE=/path/to/an/older/mlpd adds that binary serving fm v1 (on a copy of the data
#      dir) to every round: single-model serving before and after, side by side;
#   4. the forward pass alone (bench/ensemble_forward.c): ens_predict for K = 1, 3, 5 against
#      net_predict, 1 and 64 rows, in process.
# Usage: bench/ensemble_fmnist.sh [OUT_DIR]
# Env: HIDDEN (128), EPOCHS (3), SEEDS (1,2,3,4,5), DURATION (8), ROUNDS (3), PORT (18190),
#      MLPD (build/mlpd), FASHION_MNIST_DIR (/usr/share/datasets/fashion-mnist); KS ("1 3 5")
#      and BODIES ("1 64") choose the req/s cases; SKIP_ACCURACY=1 and SKIP_FORWARD=1 reuse
#      OUT_DIR's accuracy.txt and forward.txt (KS=1 BODIES=1 MLPD_BASE=... SKIP_ACCURACY=1
#      SKIP_FORWARD=1 is the single-model before/after alone).
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
if [ "${SKIP_ACCURACY:-0}" != 1 ]; then
  echo "== test accuracy"
  python3 "$DRIVER" accuracy "$URL" "$FM" "$K" | tee "$OUT/accuracy.txt"
fi

python3 "$DRIVER" body "$FM" "$OUT"
TARGETS=()
for k in ${KS:-1 3 5}; do
  case $k in 1) TARGETS+=("K=1 fm/versions/1 $URL");; 3) TARGETS+=("K=3 ens3 $URL");; 5) TARGETS+=("K=5 ens5 $URL");; esac
done
if [ -n "${MLPD_BASE:-}" ]; then
  rm -rf "$OUT/data-base" && cp -r "$OUT/data" "$OUT/data-base"
  OPENBLAS_NUM_THREADS=2 "$MLPD_BASE" --listen "127.0.0.1:$((P + 1))" --data-dir "$OUT/data-base" \
    --quiet 2> "$OUT/mlpd-base.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$((P + 1))/healthz" || { echo "base mlpd did not start"; exit 1; }
  TARGETS=("K=1(base) fm/versions/1 http://127.0.0.1:$((P + 1))" "${TARGETS[@]}")
fi
echo "== :predict req/s, wrk -t1 -c4, $ROUNDS rounds of ${DUR}s"
: > "$OUT/rps.txt"
CASES=()
for b in ${BODIES:-1 64}; do for t in "${TARGETS[@]}"; do CASES+=("$b $t"); done; done
for r in $(seq 1 "$ROUNDS"); do
  ORDER=("${CASES[@]}")
  if [ $((r % 2)) = 0 ]; then ORDER=(); for ((i = ${#CASES[@]} - 1; i >= 0; i--)); do ORDER+=("${CASES[$i]}"); done; fi
  for c in "${ORDER[@]}"; do
    set -- $c
    u="$4/v1/models/$3:predict"
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$OUT/body_$1.json" "$u" ||
      { echo "$u failed"; exit 1; }
    line=$(BODY_FILE="$OUT/body_$1.json" wrk -t1 -c4 -d"${DUR}s" -s "$ROOT/bench/peers/post.lua" "$u" | grep '^WRKJSON' | cut -d' ' -f2-)
    echo "$1 $2 $line" >> "$OUT/rps.txt"
    echo "round $r, $1 row(s), $2: $line"
  done
done
if [ "${SKIP_FORWARD:-0}" != 1 ]; then
echo "== forward pass alone (bench/ensemble_forward.c, 784-$HIDDEN-10)"
make -s -C "$ROOT" build/libmlpserver.a build/libmlpcore.a
mkdir -p "$ROOT/build/bench"
cc -std=c11 -D_GNU_SOURCE -O2 -I"$ROOT/core" -I"$ROOT/server" -I"$ROOT/bench" $(pkg-config --cflags openblas) \
   -o "$ROOT/build/bench/ensemble_forward" "$ROOT/bench/ensemble_forward.c" "$ROOT/build/libmlpserver.a" \
   "$ROOT/build/libmlpcore.a" $(pkg-config --libs openblas) -lsqlite3 -lz -lcrypto -lm -pthread
"$ROOT/build/bench/ensemble_forward" "$HIDDEN" | tee "$OUT/forward.txt"
fi
python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
acc = json.loads(open(f"{out}/accuracy.txt").read().strip().splitlines()[-1])
rps = {}
for line in open(f"{out}/rps.txt"):
    b, k, j = line.split(" ", 2)
    j = json.loads(j)
    rps.setdefault((int(b), k), []).append((j["rps"], j["p99_ms"], j["err_status"]))
lines = ["| model | test accuracy |", "|--|--|"]
for i, a in enumerate(acc["members"], 1):
    lines.append(f"| member fm v{i} | {a:.4f} |")
lines.append(f"| best member | {acc['best_member']:.4f} |")
lines.append(f"| mean of members | {acc['mean_member']:.4f} |")
lines.append(f"| **ensemble of 3 (v1-v3)** | **{acc['ens3']:.4f}** |")
lines.append(f"| **ensemble of 5** | **{acc['ens5']:.4f}** |")
lines += ["", "| rows a request | members | req/s (median) | per round | p99 ms (median) | / K=1 |",
          "|--|--|--|--|--|--|"]
for (b, k), v in sorted(rps.items()):
    base = statistics.median(r for r, _, _ in rps[(b, "K=1")])
    m = statistics.median(r for r, _, _ in v)
    errs = sum(e for _, _, e in v)
    lines.append(f"| {b} | {k} | {m:.0f} | {', '.join(f'{r:.0f}' for r, _, _ in v)} | "
                 f"{statistics.median(p for _, p, _ in v):.2f} | {m / base:.2f} |"
                 + (f" ({errs} non-2xx)" if errs else ""))
fw = json.loads(open(f"{out}/forward.txt").read().strip().splitlines()[-1])
lines += ["", "| forward pass alone, us a call | net_predict | K=1 | K=3 | K=5 | K=5 / K=1 |",
          "|--|--|--|--|--|--|"]
for key, label in (("us_1row", "1 row"), ("us_64rows", "64 rows")):
    f = fw[key]
    lines.append(f"| {label} | {f['net']:.1f} | {f['k1']:.1f} | {f['k3']:.1f} | {f['k5']:.1f} | "
                 f"{f['k5'] / f['k1']:.2f} |")
lines.append("")
lines.append(f"served ensemble vs mean of its served members, max |diff|: ens3 "
             f"{acc['ens3_max_abs_diff_vs_mean_of_members']:.1e}, ens5 "
             f"{acc['ens5_max_abs_diff_vs_mean_of_members']:.1e}")
s = "\n".join(lines)
print(s)
open(f"{out}/summary.md", "w").write(s + "\n")
PY
echo "== load: $(cat /proc/loadavg)"
