#!/bin/sh
# ae_fmnist.sh [EPOCHS] — Fashion-MNIST autoencoder 784-256-32-256-784 (relu, sigmoid out, adam
# 1e-3, batch 128), plain and denoising (gaussian 0.3): the mlpd core vs PyTorch's ae_torch.py,
# side by side. PCA(32) is skipped unless PCA=1 (the issue measured 0.0151).
# SEEDS=n (default 1) repeats everything with seeds 1234 .. 1234+n-1, interleaved (per seed: ours
# plain, ours denoising, PyTorch both), and the summary takes medians over seeds: one seed's test
# MSE moves by ±7% from seed to seed, as much as the differences being measured.
# BEFORE=1 adds, per seed, our two legs with init=he_out (He's N(0, 2/fan_in) on the first and
# sigmoid output layers as well: the core's init before issue 16), so before and after share the run.
# Output: per-epoch lines, then a summary; the last line is one JSON object.
set -eu
EPOCHS=${1:-5}
THREADS=${THREADS:-2}
SEEDS=${SEEDS:-1}
BEFORE=${BEFORE:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${PEERS:-$ROOT/bench/peers}
OUT=$(mktemp -d /tmp/mlpd-ae.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore $(pkg-config --cflags openblas) -o build/bench/train_fmnist \
   bench/train_fmnist.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
cp -r "$PEERS"/. "$OUT/"
echo "== load: $(cat /proc/loadavg)  commit $(git rev-parse --short HEAD)"
if [ "${PCA:-0}" = 1 ]; then unset SKIP_PCA; else export SKIP_PCA=1; fi
i=0
while [ "$i" -lt "$SEEDS" ]; do
    seed=$((1234 + i))
    echo "== seed $seed: mlpd core, plain"
    OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist ae "$EPOCHS" 0 seed=$seed \
        | tee "$OUT/ae.$i.txt"
    echo "== seed $seed: mlpd core, denoising sigma 0.3"
    OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist ae "$EPOCHS" 0.3 seed=$seed \
        | tee "$OUT/dae.$i.txt"
    if [ "$BEFORE" = 1 ]; then
        for sg in 0 0.3; do
            echo "== seed $seed: mlpd core, sigma $sg, init=he_out (before issue 16)"
            OPENBLAS_NUM_THREADS=$THREADS ./build/bench/train_fmnist ae "$EPOCHS" $sg seed=$seed \
                init=he_out | tee "$OUT/before$sg.$i.txt"
        done
    fi
    echo "== seed $seed: PyTorch ae_torch.py (OMP_WAIT_POLICY=passive, $THREADS threads, 5 epochs)"
    (cd "$OUT" && OMP_WAIT_POLICY=passive AE_SEED0=$seed TAG=.$i /usr/bin/python3 ae_torch.py \
        "$THREADS" "$OUT" 1 > "$OUT/torch.$i.txt" 2>&1) || { cat "$OUT/torch.$i.txt"; exit 1; }
    grep '^\[' "$OUT/torch.$i.txt"
    export SKIP_PCA=1 # PCA=1: the first seed's run only
    i=$((i + 1))
done
echo "== load after: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" "$THREADS" "$SEEDS" "$BEFORE" <<'PY'
import json, sys, statistics as st
out, th, n, before = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
last = lambda f: json.loads(open(f"{out}/{f}").read().strip().splitlines()[-1])
ae = [last(f"ae.{i}.txt") for i in range(n)]
dae = [last(f"dae.{i}.txt") for i in range(n)]
t = [json.load(open(f"{out}/ae_torch_t{th}.{i}.json")) for i in range(n)]
med = st.median
r = dict(seeds=n, ae_seconds_per_epoch=med(a["seconds_per_epoch"] for a in ae),
         ae_test_mse=med(a["test_mse"] for a in ae),
         dae_seconds_per_epoch=med(a["seconds_per_epoch"] for a in dae),
         dae_test_mse=med(a["test_mse"] for a in dae),
         torch_ae_seconds_per_epoch=med(x["ae"]["median_epoch_s"] for x in t),
         torch_ae_test_mse=med(x["ae"]["median_test_mse_clean_input"] for x in t),
         torch_dae_seconds_per_epoch=med(x["dae"]["median_epoch_s"] for x in t),
         torch_dae_test_mse=med(x["dae"]["median_test_mse_clean_input"] for x in t),
         threads=ae[0]["threads"], pca32_test_mse=t[0].get("pca32", {}).get("test_mse"),
         ae_test_mse_each=[a["test_mse"] for a in ae], dae_test_mse_each=[a["test_mse"] for a in dae],
         torch_ae_test_mse_each=[round(x["ae"]["median_test_mse_clean_input"], 5) for x in t],
         torch_dae_test_mse_each=[round(x["dae"]["median_test_mse_clean_input"], 5) for x in t])
if before:
    for leg, sg in (("ae", "0"), ("dae", "0.3")):
        b = [last(f"before{sg}.{i}.txt") for i in range(n)]
        r[f"before_{leg}_test_mse"] = med(x["test_mse"] for x in b)
        r[f"before_{leg}_seconds_per_epoch"] = med(x["seconds_per_epoch"] for x in b)
        r[f"before_{leg}_test_mse_each"] = [x["test_mse"] for x in b]
        r[f"before_mse_ratio_{leg}_vs_torch"] = r[f"before_{leg}_test_mse"] / r[f"torch_{leg}_test_mse"]
        print(f"== {leg} before (init=he_out): {r[f'before_{leg}_seconds_per_epoch']:.3f} s/ep mse "
              f"{r[f'before_{leg}_test_mse']:.5f} | mse ratio {r[f'before_mse_ratio_{leg}_vs_torch']:.3f}")
r["ratio_ae_vs_torch"] = r["ae_seconds_per_epoch"] / r["torch_ae_seconds_per_epoch"]
r["ratio_dae_vs_torch"] = r["dae_seconds_per_epoch"] / r["torch_dae_seconds_per_epoch"]
r["mse_ratio_ae_vs_torch"] = r["ae_test_mse"] / r["torch_ae_test_mse"]
r["mse_ratio_dae_vs_torch"] = r["dae_test_mse"] / r["torch_dae_test_mse"]
print(f"== ae: ours {r['ae_seconds_per_epoch']:.3f} s/ep mse {r['ae_test_mse']:.5f} | torch "
      f"{r['torch_ae_seconds_per_epoch']:.3f} s/ep mse {r['torch_ae_test_mse']:.5f} | mse ratio "
      f"{r['mse_ratio_ae_vs_torch']:.3f}")
print(f"== dae: ours {r['dae_seconds_per_epoch']:.3f} s/ep mse {r['dae_test_mse']:.5f} | torch "
      f"{r['torch_dae_seconds_per_epoch']:.3f} s/ep mse {r['torch_dae_test_mse']:.5f} | mse ratio "
      f"{r['mse_ratio_dae_vs_torch']:.3f}")
print(json.dumps(r))
PY
rm -rf "$OUT"
