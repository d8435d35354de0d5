#!/bin/sh
# train_fmnist.sh [EPOCHS] — Fashion-MNIST MLP 784-256-128-10 training: the mlpd core vs the
# PyTorch peer (2 threads, OMP_WAIT_POLICY=passive) vs the sgemm ceiling, side by side in one run.
# Builds build/libmlpcore.a and build/bench/train_fmnist; peers are copied to a temp dir.
# Output: per-epoch lines, then a summary; the last line is one JSON object.
# BASE_ROOT=/path/to/another/checkout (already built with make) adds that tree's core, built and
# run the same way right after ours, and the ratio ours/base (a before/after in one run).
set -eu
EPOCHS=${1:-5}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/bench/peers}
OUT=$(mktemp -d /tmp/mlpd-bench.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore $(pkg-config --cflags openblas) -o build/bench/train_fmnist \
   bench/train_fmnist.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
cp -r "$PEERS"/. "$OUT/"
cc -O2 -o "$OUT/sgemm_bench" "$OUT/sgemm_bench.c" $(pkg-config --cflags openblas) \
   $(pkg-config --libs openblas)
echo "== load: $(cat /proc/loadavg)"
echo "== sgemm_bench (peers' ceiling table), $THREADS threads"
OPENBLAS_NUM_THREADS=$THREADS "$OUT/sgemm_bench" "$THREADS" | sed -n '1p;6,12p'
echo "== gemm-only epoch (the exact cblas_sgemm calls of one mlpd epoch)"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist gemm "$EPOCHS" | tee "$OUT/gemm.txt"
echo "== mlpd core"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist mlp "$EPOCHS" | tee "$OUT/ours.txt"
if [ -n "${BASE_ROOT:-}" ]; then
  make -s -C "$BASE_ROOT" build/libmlpcore.a
  cc -std=c11 -D_GNU_SOURCE -O2 -I"$BASE_ROOT/core" $(pkg-config --cflags openblas) \
     -o build/bench/train_fmnist_base "$BASE_ROOT/bench/train_fmnist.c" "$BASE_ROOT/build/libmlpcore.a" \
     $(pkg-config --libs openblas) -lz -lm
  echo "== base core ($BASE_ROOT)"
  OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist_base mlp "$EPOCHS" | tee "$OUT/base.txt"
fi
echo "== PyTorch (OMP_WAIT_POLICY=passive, $THREADS threads, 1 run of 5 epochs)"
(cd "$OUT" && OMP_WAIT_POLICY=passive /usr/bin/python3 mlp_torch.py "$THREADS" "$OUT" 1 \
   > "$OUT/torch.txt" 2>&1) || { cat "$OUT/torch.txt"; exit 1; }
grep '^\[torch' "$OUT/torch.txt"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
last = lambda f: json.loads(open(f"{out}/{f}").read().strip().splitlines()[-1])
ours, gemm = last("ours.txt"), last("gemm.txt")
torch = json.load(open(f"{out}/mlp_torch_t{ours['threads']}.json"))
r = dict(ours)
r.update(torch_seconds_per_epoch=torch["median_epoch_s"], torch_test_accuracy=torch["median_test_acc"],
         gemm_seconds_per_epoch=gemm["seconds_per_epoch"],
         ratio_vs_torch=ours["seconds_per_epoch"] / torch["median_epoch_s"],
         ratio_vs_gemm=ours["seconds_per_epoch"] / gemm["seconds_per_epoch"])
import os
if os.path.exists(f"{out}/base.txt"):
    base = last("base.txt")
    r.update(base_seconds_per_epoch=base["seconds_per_epoch"],
             ratio_vs_base=ours["seconds_per_epoch"] / base["seconds_per_epoch"])
    print(f"== base {base['seconds_per_epoch']:.3f} s/epoch | ours/base {r['ratio_vs_base']:.3f}")
print(f"== ours {r['seconds_per_epoch']:.3f} s/epoch acc {r['test_accuracy']:.4f} | torch "
      f"{r['torch_seconds_per_epoch']:.3f} s/epoch acc {r['torch_test_accuracy']:.4f} | gemm-only "
      f"{r['gemm_seconds_per_epoch']:.3f} | ours/torch {r['ratio_vs_torch']:.2f} ours/gemm {r['ratio_vs_gemm']:.2f}")
print(json.dumps(r))
PY
rm -rf "$OUT"
