#!/bin/sh
# train_fmnist.sh [EPOCHS] — Fashion-MNIST MLP 784-256-128-10 training: the mlpd core vs the
# PyTorch peer (2 threads, OMP_WAIT_POLICY=passive) vs the sgemm ceiling, side by side in one run.
# Builds build/libmlpcore.a and build/bench/train_fmnist; peers are copied to a temp dir.
# Legs, each a fresh process of EPOCHS epochs (median epoch), THREADS (default 2) threads each:
#   gemm       the exact cblas_sgemm calls of one mlpd epoch, OpenBLAS on THREADS threads (the
#              "GEMM-only epoch" the targets divide by)
#   ours       the core with OpenBLAS on 1 thread and params.threads = THREADS (its own threads)
#   ours_blas  the core with OpenBLAS on THREADS threads and params.threads = 1
#   base       another tree's core (BASE_ROOT, or BASE_COMMIT archived into a temp dir and built
#              there), run as that tree ran it (OpenBLAS on THREADS threads)
# ROUNDS (default 1) repeats the legs, in reverse order on even rounds (ABBA); the summary takes
# the median over rounds. PyTorch runs once. Output: per-epoch lines, then a summary; the last
# line is one JSON object.
set -eu
EPOCHS=${1:-5}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
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
leg() { # leg NAME ROUND
  case $1 in
  gemm) echo "== gemm-only epoch (the exact cblas_sgemm calls of one mlpd epoch), round $2"
        OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist gemm "$EPOCHS" ;;
  ours) echo "== mlpd core (OpenBLAS 1 thread, $THREADS trainer threads), round $2"
        OPENBLAS_NUM_THREADS=1 TRAIN_THREADS=$THREADS ./build/bench/train_fmnist mlp "$EPOCHS" ;;
  ours_blas) echo "== mlpd core (OpenBLAS $THREADS threads, 1 trainer thread), round $2"
        OPENBLAS_NUM_THREADS=$THREADS TRAIN_THREADS=1 ./build/bench/train_fmnist mlp "$EPOCHS" ;;
  base) echo "== base core ($BASE_ROOT), round $2"
        OPENBLAS_NUM_THREADS=$THREADS "$OUT/train_fmnist_base" mlp "$EPOCHS" ;;
  esac | tee "$OUT/$1.$2.txt"
}
LEGS="gemm ours ours_blas"
[ -n "${BASE_ROOT:-}" ] && LEGS="$LEGS base"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  if [ $((r % 2)) -eq 1 ]; then order=$LEGS; else order=$(echo "$LEGS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
  for l in $order; do leg "$l" "$r"; done
  r=$((r + 1))
done
echo "== PyTorch (OMP_WAIT_POLICY=passive, $THREADS threads, 1 run of 5 epochs)"
(cd "$OUT" && OMP_WAIT_POLICY=passive /usr/bin/python3 mlp_torch.py "$THREADS" "$OUT" 1 \
   > "$OUT/torch.txt" 2>&1) || { cat "$OUT/torch.txt"; exit 1; }
grep '^\[torch' "$OUT/torch.txt"
echo "== load: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" "$ROUNDS" "$THREADS" <<'PY'
import glob, json, os, statistics, sys
out, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
last = lambda f: json.loads(open(f).read().strip().splitlines()[-1])
def legs(name):
    return [last(f"{out}/{name}.{r}.txt") for r in range(1, rounds + 1)
            if os.path.exists(f"{out}/{name}.{r}.txt")]
med = lambda xs: statistics.median(xs)
ours, gemm, ob, base = legs("ours"), legs("gemm"), legs("ours_blas"), legs("base")
torch = json.load(open(f"{out}/mlp_torch_t{threads}.json"))
r = dict(ours[0])
r.update(rounds=rounds, seconds_per_epoch=med([o["seconds_per_epoch"] for o in ours]),
         test_accuracy=med([o["test_accuracy"] for o in ours]),
         torch_seconds_per_epoch=torch["median_epoch_s"], torch_test_accuracy=torch["median_test_acc"],
         gemm_seconds_per_epoch=med([g["seconds_per_epoch"] for g in gemm]),
         ours_blas_seconds_per_epoch=med([o["seconds_per_epoch"] for o in ob]),
         ours_blas_test_accuracy=med([o["test_accuracy"] for o in ob]))
# per round ratios (legs of one round ran back to back), then their median
rg = [o["seconds_per_epoch"] / g["seconds_per_epoch"] for o, g in zip(ours, gemm)]
rb = [o["seconds_per_epoch"] / g["seconds_per_epoch"] for o, g in zip(ob, gemm)]
r.update(ratio_vs_torch=r["seconds_per_epoch"] / torch["median_epoch_s"],
         ratio_vs_gemm=med(rg), ratio_vs_gemm_rounds=[round(x, 3) for x in rg],
         ours_blas_ratio_vs_gemm=med(rb))
for i, (o, g, b) in enumerate(zip(ours, gemm, ob)):
    print(f"== round {i + 1}: ours {o['seconds_per_epoch']:.3f} ours_blas {b['seconds_per_epoch']:.3f}"
          f" gemm-only {g['seconds_per_epoch']:.3f}"
          + (f" base {base[i]['seconds_per_epoch']:.3f}" if i < len(base) else ""))
if base:
    rbase = [o["seconds_per_epoch"] / b["seconds_per_epoch"] for o, b in zip(ours, base)]
    r.update(base_seconds_per_epoch=med([b["seconds_per_epoch"] for b in base]),
             base_test_accuracy=med([b["test_accuracy"] for b in base]),
             ratio_vs_base=med(rbase),
             base_ratio_vs_gemm=med([b["seconds_per_epoch"] / g["seconds_per_epoch"] for b, g in zip(base, gemm)]))
    print(f"== base {r['base_seconds_per_epoch']:.3f} s/epoch | ours/base {r['ratio_vs_base']:.3f}"
          f" | base/gemm {r['base_ratio_vs_gemm']:.2f}")
print(f"== ours {r['seconds_per_epoch']:.3f} s/epoch acc {r['test_accuracy']:.4f} | torch "
      f"{r['torch_seconds_per_epoch']:.3f} s/epoch acc {r['torch_test_accuracy']:.4f} | gemm-only "
      f"{r['gemm_seconds_per_epoch']:.3f} | ours/torch {r['ratio_vs_torch']:.2f} ours/gemm {r['ratio_vs_gemm']:.2f}"
      f" | ours_blas/gemm {r['ours_blas_ratio_vs_gemm']:.2f}")
print(json.dumps(r))
PY
rm -rf "$OUT"
