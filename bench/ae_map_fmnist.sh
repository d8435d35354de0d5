#!/bin/sh
# ae_map_fmnist.sh [EPOCHS] — the autoencoder microscope on Fashion-MNIST (issue 14), through the
# daemon: for each seed of $SEEDS (default "1 2 3"), trains a 784-256-2-256-784 autoencoder
# (tanh, linear output, adam, lr 0.001, batch 128, EPOCHS epochs, default 10, the default 10%
# validation split) on the 60,000 training images, then on the 10,000 test images, 20 of them
# replaced by uniform noise (rows picked with seed 14):
#   - the map: GET .../codes?dataset_id=<test>&limit=10000 gives each held-out row's 2-D code;
#     k-NN (k = 5, Euclidean, majority vote, ties to the nearest) with test rows 0-4999 as the
#     reference and 5000-9999 as queries, planted rows left out of both. Chance is 0.1.
#   - the outliers: GET .../outliers?dataset_id=<test>&top=20, how many are planted rows.
#   - the version's compression: d / code, reconstruction MSE against PCA at 2 components.
# The computation is bench/ae_map_fmnist.py (python3, no numpy): one JSON line per seed, then
# the medians over the seeds as the last line (one JSON object).
set -eu
EPOCHS=${1:-10}
SEEDS=${SEEDS:-1 2 3}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
cd "$ROOT"
make -s build/mlpd
TMP=$(mktemp -d /tmp/mlpd-aemap.XXXXXX)
MLPD_PID=
cleanup() {
    [ -n "$MLPD_PID" ] && kill "$MLPD_PID" 2>/dev/null && wait "$MLPD_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
./build/mlpd --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$TMP/var" --quiet \
    --threads "$THREADS" > "$TMP/mlpd.log" 2>&1 &
MLPD_PID=$!
for _ in $(seq 50); do [ -s "$TMP/port" ] && break; sleep 0.1; done
B="http://127.0.0.1:$(cat "$TMP/port")"
echo "== load: $(cat /proc/loadavg); nproc $(nproc)"
python3 bench/ae_map_fmnist.py plant "$D/t10k-images-idx3-ubyte.gz" "$TMP/test-images.gz" > "$TMP/planted.json"
curl -sf -F images=@"$D/train-images-idx3-ubyte.gz" -F labels=@"$D/train-labels-idx1-ubyte.gz" \
    "$B/api/v1/datasets?name=fmnist-train" > "$TMP/ds_train.json"
curl -sf -F images=@"$TMP/test-images.gz" -F labels=@"$D/t10k-labels-idx1-ubyte.gz" \
    "$B/api/v1/datasets?name=fmnist-test-planted" > "$TMP/ds_test.json"
id() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$1"; }
TRAIN=$(id "$TMP/ds_train.json")
TEST=$(id "$TMP/ds_test.json")
: > "$TMP/results.jsonl"
V=0
for SEED in $SEEDS; do
    V=$((V + 1))
    RUN=$(curl -sf -H 'Content-Type: application/json' "$B/api/v1/runs" -d '{"dataset_id": "'"$TRAIN"'",
      "task": "autoencoder", "model_name": "fmnist-map",
      "params": {"hidden": [256, 2, 256], "activation": "tanh", "output_activation": "linear",
                 "optimizer": "adam", "learning_rate": 0.001, "batch_size": 128,
                 "epochs": '"$EPOCHS"', "seed": '"$SEED"'}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    echo "== seed $SEED: training $RUN ($EPOCHS epochs)"
    T0=$(date +%s)
    curl -sfN "$B/api/v1/runs/$RUN/events" > /dev/null
    echo "== trained in $(( $(date +%s) - T0 )) s"
    curl -sf "$B/api/v1/runs/$RUN" | grep -q '"status": *"succeeded"' || { curl -s "$B/api/v1/runs/$RUN"; exit 1; }
    T0=$(date +%s)
    curl -sf "$B/api/v1/models/fmnist-map/versions/$V/codes?dataset_id=$TEST&limit=10000" > "$TMP/codes.json"
    T1=$(date +%s)
    curl -sf "$B/api/v1/models/fmnist-map/versions/$V/outliers?dataset_id=$TEST&top=20" > "$TMP/outliers.json"
    T2=$(date +%s)
    echo "== codes of 10000 rows: $((T1 - T0)) s; outliers over 10000 rows: $((T2 - T1)) s"
    curl -sf "$B/api/v1/models/fmnist-map" > "$TMP/model.json"
    python3 bench/ae_map_fmnist.py report "$TMP/planted.json" "$TMP/codes.json" "$TMP/outliers.json" \
        "$TMP/model.json" "$EPOCHS" "$V" "$SEED" | tee "$TMP/report.txt"
    tail -n 1 "$TMP/report.txt" >> "$TMP/results.jsonl"
done
python3 bench/ae_map_fmnist.py summary "$TMP/results.jsonl"
