#!/bin/sh
# ae_fmnist.sh [EPOCHS] — Fashion-MNIST autoencoder 784-256-32-256-784 (relu, sigmoid out, adam
# 1e-3, batch 128), plain and denoising (gaussian 0.3): the mlpd core vs PyTorch's ae_torch.py,
# side by side. PCA(32) is skipped unless PCA=1 (the issue measured 0.0151).
# Output: per-epoch lines, then a summary; the last line is one JSON object.
set -eu
EPOCHS=${1:-5}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/bench/peers}
OUT=$(mktemp -d /tmp/mlpd-ae.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore $(pkg-config --cflags openblas) -o build/bench/train_fmnist \
   bench/train_fmnist.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
cp -r "$PEERS"/. "$OUT/"
echo "== load: $(cat /proc/loadavg)"
echo "== mlpd core, plain"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist ae "$EPOCHS" 0 | tee "$OUT/ae.txt"
echo "== mlpd core, denoising sigma 0.3"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist ae "$EPOCHS" 0.3 | tee "$OUT/dae.txt"
echo "== PyTorch ae_torch.py (OMP_WAIT_POLICY=passive, $THREADS threads, 1 run, 5 epochs)"
if [ "${PCA:-0}" = 1 ]; then unset SKIP_PCA; else export SKIP_PCA=1; fi
(cd "$OUT" && OMP_WAIT_POLICY=passive /usr/bin/python3 ae_torch.py "$THREADS" "$OUT" 1 \
   > "$OUT/torch.txt" 2>&1) || { cat "$OUT/torch.txt"; exit 1; }
grep '^\[' "$OUT/torch.txt"
/usr/bin/python3 - "$OUT" "$THREADS" <<'PY'
import json, sys
out, th = sys.argv[1], sys.argv[2]
last = lambda f: json.loads(open(f"{out}/{f}").read().strip().splitlines()[-1])
ae, dae = last("ae.txt"), last("dae.txt")
t = json.load(open(f"{out}/ae_torch_t{th}.json"))
r = dict(ae_seconds_per_epoch=ae["seconds_per_epoch"], ae_test_mse=ae["test_mse"],
         dae_seconds_per_epoch=dae["seconds_per_epoch"], dae_test_mse=dae["test_mse"],
         torch_ae_seconds_per_epoch=t["ae"]["median_epoch_s"],
         torch_ae_test_mse=t["ae"]["median_test_mse_clean_input"],
         torch_dae_seconds_per_epoch=t["dae"]["median_epoch_s"],
         torch_dae_test_mse=t["dae"]["median_test_mse_clean_input"], threads=ae["threads"],
         pca32_test_mse=t.get("pca32", {}).get("test_mse"))
r["ratio_ae_vs_torch"] = r["ae_seconds_per_epoch"] / r["torch_ae_seconds_per_epoch"]
r["ratio_dae_vs_torch"] = r["dae_seconds_per_epoch"] / r["torch_dae_seconds_per_epoch"]
print(f"== ae: ours {r['ae_seconds_per_epoch']:.3f} s/ep mse {r['ae_test_mse']:.5f} | torch "
      f"{r['torch_ae_seconds_per_epoch']:.3f} s/ep mse {r['torch_ae_test_mse']:.5f}")
print(f"== dae: ours {r['dae_seconds_per_epoch']:.3f} s/ep mse {r['dae_test_mse']:.5f} | torch "
      f"{r['torch_dae_seconds_per_epoch']:.3f} s/ep mse {r['torch_dae_test_mse']:.5f}")
print(json.dumps(r))
PY
rm -rf "$OUT"
