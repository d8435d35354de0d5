#!/bin/sh
# augment_fmnist.sh [SPEED_EPOCHS] [EFFECT_EPOCHS] [SEEDS] — data augmentation on Fashion-MNIST
# (issue 14), in one run: (1) the epoch time of 784-256-128-10, batch 128, on all 60,000 rows,
# without and with params.augment {shift: 2, rotate: 10}, the two trainers taking turns epoch by
# epoch (bench/train_fmnist.c's setup; the issue's bound is a ratio <= 1.15), then the same with
# shift 2 alone (the exact path); (2) the effect: the
# same net on a 5,000-row subset for EFFECT_EPOCHS epochs, without and with that augmentation,
# seeds 1..SEEDS, accuracy on the 10,000 test rows clean, shifted 2 px, rotated 10° and both.
# Builds build/libmlpcore.a and build/bench/augment_fmnist. The last line is one JSON object.
set -eu
SPEED_EPOCHS=${1:-5}
EFFECT_EPOCHS=${2:-30}
SEEDS=${3:-3}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d /tmp/mlpd-bench-aug.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Ibench $(pkg-config --cflags openblas) -o build/bench/augment_fmnist \
   bench/augment_fmnist.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm
echo "== load: $(cat /proc/loadavg)"
echo "== speed: $SPEED_EPOCHS epochs each, taking turns, $THREADS threads"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/augment_fmnist speed "$SPEED_EPOCHS" | tee "$OUT/speed.txt"
echo "== speed, shift 2 alone (the exact path): $SPEED_EPOCHS epochs each, taking turns"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/augment_fmnist speed "$SPEED_EPOCHS" 2 0 | tee "$OUT/shift.txt"
echo "== effect: 5,000 rows, $EFFECT_EPOCHS epochs, seeds 1..$SEEDS"
OPENBLAS_NUM_THREADS=$THREADS ./build/bench/augment_fmnist effect "$EFFECT_EPOCHS" 5000 "$SEEDS" | tee "$OUT/effect.txt"
echo "== load: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
last = lambda f: json.loads(open(f"{out}/{f}").read().strip().splitlines()[-1])
s, e, sh = last("speed.txt"), last("effect.txt"), last("shift.txt")
print(f"== epoch {s['plain_seconds_per_epoch']:.3f} s plain, {s['augment_seconds_per_epoch']:.3f} s "
      f"augmented (medians); paired ratio {s['ratio']:.3f} (bound 1.15); the transforms alone {s['transform_seconds']:.3f} s "
      f"({s['transform_cpu_seconds']:.3f} s CPU) per 60,000 rows")
print(f"== shift alone: epoch {sh['plain_seconds_per_epoch']:.3f} s plain, {sh['augment_seconds_per_epoch']:.3f} s "
      f"augmented (medians); paired ratio {sh['ratio']:.3f}")
for t in ("clean", "shift2", "rot10", "shift2_rot10"):
    p, a = e[f"plain_{t}_median"], e[f"augment_{t}_median"]
    print(f"== {t:13s} accuracy median of {e['seeds']} seeds: plain {p:.4f}  augmented {a:.4f}  ({a - p:+.4f})")
r = {"speed": s, "shift_only": sh, "effect": e}
print(json.dumps(r))
PY
rm -rf "$OUT"
