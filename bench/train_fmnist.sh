#!/bin/sh
# train_fmnist.sh [EPOCHS] — Fashion-MNIST MLP 784-256-128-10 training: the mlpd core vs the
# PyTorch peer (2 threads, OMP_WAIT_POLICY=passive) vs the sgemm ceiling, side by side in one run.
# Builds build/libmlpcore.a and build/bench/train_fmnist; peers are copied to a temp dir.
# THREADS (default 2) threads everywhere. Legs:
#   alt        one process, ALT_ROUNDS (default 9) rounds, epoch by epoch in ABBA order: the
#              GEMM-only epoch (the exact cblas_sgemm calls of one mlpd epoch, OpenBLAS on
#              THREADS threads: what the targets divide by), ours (OpenBLAS on 1 thread,
#              params.threads = THREADS) and ours_blas (OpenBLAS on THREADS threads,
#              params.threads = 1); ratios per round, then medians; CPU seconds per epoch too;
#              an untimed ALT_PAUSE_MS (default 300) before each leg lets the previous leg's
#              OpenBLAS pool threads stop spinning (bench/train_fmnist.c, alt_mlp)
#   ours       the core, EPOCHS epochs in a process of its own (test accuracy after EPOCHS)
#   base       another tree's core (BASE_ROOT, or BASE_COMMIT archived into a temp dir and built
#              there), run as that tree ran it (OpenBLAS on THREADS threads); with it, ours and
#              base alternate ROUNDS (default 1) times in ABBA order: ours/base per round
# PyTorch runs once. Output: per-epoch lines, then a summary; the last line is one JSON object.
set -eu
EPOCHS=${1:-5}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
ALT_ROUNDS=${ALT_ROUNDS:-9}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/bench/peers}
OUT=$(mktemp -d /tmp/mlpd-bench.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore $(pkg-config --cflags openblas) -o build/bench/train_fmnist \
   bench/train_fmnist.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm -pthread
cp -r "$PEERS"/. "$OUT/"
cc -O2 -o "$OUT/sgemm_bench" "$OUT/sgemm_bench.c" $(pkg-config --cflags openblas) \
   $(pkg-config --libs openblas)
if [ -n "${BASE_COMMIT:-}" ] && [ -z "${BASE_ROOT:-}" ]; then
  BASE_ROOT=$OUT/base
  mkdir -p "$BASE_ROOT"
  git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$BASE_ROOT"
fi
if [ -n "${BASE_ROOT:-}" ]; then
  make -s -C "$BASE_ROOT" build/libmlpcore.a
  cc -std=c11 -D_GNU_SOURCE -O2 -I"$BASE_ROOT/core" $(pkg-config --cflags openblas) \
     -o "$OUT/train_fmnist_base" "$BASE_ROOT/bench/train_fmnist.c" "$BASE_ROOT/build/libmlpcore.a" \
     $(pkg-config --libs openblas) -lz -lm -pthread
fi
echo "== load: $(cat /proc/loadavg)  commit: $(git -C "$ROOT" rev-parse --short HEAD)${BASE_COMMIT:+  base: $BASE_COMMIT}"
echo "== sgemm_bench (peers' ceiling table), $THREADS threads"
OPENBLAS_NUM_THREADS=$THREADS "$OUT/sgemm_bench" "$THREADS" | sed -n '1p;6,12p'
echo "== alt: gemm-only, ours (OpenBLAS 1 thread, $THREADS trainer threads), ours_blas (OpenBLAS $THREADS threads), epoch by epoch"
OPENBLAS_NUM_THREADS=$THREADS TRAIN_THREADS=$THREADS ./build/bench/train_fmnist alt "$ALT_ROUNDS" \
  | tee "$OUT/alt.txt"
leg() { # leg NAME ROUND
  case $1 in
  ours) echo "== mlpd core (OpenBLAS 1 thread, $THREADS trainer threads), round $2"
        OPENBLAS_NUM_THREADS=1 TRAIN_THREADS=$THREADS ./build/bench/train_fmnist mlp "$EPOCHS" ;;
  base) echo "== base core ($BASE_ROOT), round $2"
        OPENBLAS_NUM_THREADS=$THREADS "$OUT/train_fmnist_base" mlp "$EPOCHS" ;;
  esac | tee "$OUT/$1.$2.txt"
}
if [ -n "${BASE_ROOT:-}" ]; then
  r=1
  while [ "$r" -le "$ROUNDS" ]; do
    if [ $((r % 2)) -eq 1 ]; then leg ours "$r"; leg base "$r"; else leg base "$r"; leg ours "$r"; fi
    r=$((r + 1))
  done
else
  ROUNDS=1
  leg ours 1
fi
echo "== PyTorch (OMP_WAIT_POLICY=passive, $THREADS threads, 1 run of 5 epochs)"
(cd "$OUT" && OMP_WAIT_POLICY=passive /usr/bin/python3 mlp_torch.py "$THREADS" "$OUT" 1 \
   > "$OUT/torch.txt" 2>&1) || { cat "$OUT/torch.txt"; exit 1; }
grep '^\[torch' "$OUT/torch.txt"
echo "== load: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" "$ROUNDS" "$THREADS" <<'PY'
import json, os, statistics, sys
out, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
last = lambda f: json.loads(open(f).read().strip().splitlines()[-1])
med = statistics.median
alt = last(f"{out}/alt.txt")
ours = [last(f"{out}/ours.{r}.txt") for r in range(1, rounds + 1)]
base = [last(f"{out}/base.{r}.txt") for r in range(1, rounds + 1) if os.path.exists(f"{out}/base.{r}.txt")]
torch = json.load(open(f"{out}/mlp_torch_t{threads}.json"))
r = dict(mode="mlp", epochs=ours[0]["epochs"], threads=threads, alt_rounds=alt["epochs"],
         seconds_per_epoch=alt["seconds_per_epoch"], test_accuracy=med([o["test_accuracy"] for o in ours]),
         process_seconds_per_epoch=med([o["seconds_per_epoch"] for o in ours]),
         gemm_seconds_per_epoch=alt["gemm_seconds_per_epoch"], ratio_vs_gemm=alt["ratio_vs_gemm"],
         ours_blas_seconds_per_epoch=alt["ours_blas_seconds_per_epoch"],
         ours_blas_ratio_vs_gemm=alt["ours_blas_ratio_vs_gemm"],
         gemm_cpu_s=alt["gemm_cpu_s"], ours_cpu_s=alt["ours_cpu_s"], ours_blas_cpu_s=alt["ours_blas_cpu_s"],
         torch_seconds_per_epoch=torch["median_epoch_s"], torch_test_accuracy=torch["median_test_acc"])
r["ratio_vs_torch"] = r["seconds_per_epoch"] / r["torch_seconds_per_epoch"]
if base:
    rb = [o["seconds_per_epoch"] / b["seconds_per_epoch"] for o, b in zip(ours, base)]
    r.update(base_seconds_per_epoch=med([b["seconds_per_epoch"] for b in base]),
             base_test_accuracy=med([b["test_accuracy"] for b in base]),
             ratio_vs_base=med(rb), ratio_vs_base_rounds=[round(x, 3) for x in rb])
    print(f"== base {r['base_seconds_per_epoch']:.3f} s/epoch | ours (own process) "
          f"{r['process_seconds_per_epoch']:.3f} | ours/base {r['ratio_vs_base']:.3f} (rounds {r['ratio_vs_base_rounds']})")
print(f"== cpu s/epoch: gemm-only {r['gemm_cpu_s']:.3f} ours {r['ours_cpu_s']:.3f} ours_blas {r['ours_blas_cpu_s']:.3f}")
print(f"== ours {r['seconds_per_epoch']:.3f} s/epoch acc {r['test_accuracy']:.4f} | torch "
      f"{r['torch_seconds_per_epoch']:.3f} s/epoch acc {r['torch_test_accuracy']:.4f} | gemm-only "
      f"{r['gemm_seconds_per_epoch']:.3f} | ours/torch {r['ratio_vs_torch']:.2f} ours/gemm {r['ratio_vs_gemm']:.2f}"
      f" | ours_blas/gemm {r['ours_blas_ratio_vs_gemm']:.2f}")
print(json.dumps(r))
PY
rm -rf "$OUT"
