#!/bin/sh
# augment_fmnist.sh [SPEED_EPOCHS] [EFFECT_EPOCHS] [SEEDS] — data augmentation on Fashion-MNIST
# (issue 14), in one run: (1) the epoch time of 784-256-128-10, batch 128, on all 60,000 rows,
# without and with params.augment {shift: 2, rotate: 10}, the two trainers taking turns epoch by
# epoch (bench/train_fmnist.c's setup; the issue's bound is a ratio <= 1.15), then the same with
# shift 2 alone (the exact path); (2) the effect: the
# same net on a 5,000-row subset for EFFECT_EPOCHS epochs, without and with that augmentation,
# seeds 1..SEEDS, accuracy on the 10,000 test rows clean, shifted 2 px, rotated 10° and both.
# BASE=<commit>: also builds that commit's core and bench in a temporary directory, and runs
# the {shift: 2, rotate: 10} speed measurement ROUNDS times (default 2) for each build in turn
# (this tree, BASE, BASE, this tree, ...), so that the two versions see the same machine load;
# the last line then also has each round and the medians per build. MODE=speed or MODE=effect
# runs one part only (default: both). Builds build/libmlpcore.a and build/bench/augment_fmnist. The last line is one JSON
# object.
set -eu
SPEED_EPOCHS=${1:-5}
EFFECT_EPOCHS=${2:-30}
SEEDS=${3:-3}
THREADS=${THREADS:-2}
BASE=${BASE:-}
ROUNDS=${ROUNDS:-2}
MODE=${MODE:-both}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d /tmp/mlpd-bench-aug.XXXXXX)
cd "$ROOT"
build() { # build DIR: DIR's core and this bench driver of DIR
    (cd "$1" && make -s build/libmlpcore.a && mkdir -p build/bench &&
        cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Ibench $(pkg-config --cflags openblas) \
            -o build/bench/augment_fmnist bench/augment_fmnist.c build/libmlpcore.a \
            $(pkg-config --libs openblas) -lz -lm)
}
build "$ROOT"
echo "== commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- core bench || echo ' (with uncommitted changes)')"
if [ -n "$BASE" ]; then
    mkdir -p "$OUT/base"
    git archive "$BASE" | tar -x -C "$OUT/base"
    build "$OUT/base"
    echo "== base: $(git rev-parse --short "$BASE")"
fi
echo "== load: $(cat /proc/loadavg)"
: >"$OUT/rounds.txt"
if [ "$MODE" = effect ]; then
    echo '{"mode": "speed", "skipped": true}' >"$OUT/speed.txt"
    cp "$OUT/speed.txt" "$OUT/shift.txt"
else
    echo "== speed: $SPEED_EPOCHS epochs each, taking turns, $THREADS threads"
    OPENBLAS_NUM_THREADS=$THREADS ./build/bench/augment_fmnist speed "$SPEED_EPOCHS" | tee "$OUT/speed.txt"
    echo "== speed, shift 2 alone (the exact path): $SPEED_EPOCHS epochs each, taking turns"
    OPENBLAS_NUM_THREADS=$THREADS ./build/bench/augment_fmnist speed "$SPEED_EPOCHS" 2 0 | tee "$OUT/shift.txt"
fi
if [ -n "$BASE" ] && [ "$MODE" != effect ]; then
    i=1
    while [ "$i" -le "$ROUNDS" ]; do
        if [ $((i % 2)) -eq 1 ]; then order="head base"; else order="base head"; fi
        for v in $order; do
            if [ "$v" = head ]; then bin=./build/bench/augment_fmnist; else bin="$OUT/base/build/bench/augment_fmnist"; fi
            echo "== round $i, $v: $SPEED_EPOCHS epochs each, taking turns"
            OPENBLAS_NUM_THREADS=$THREADS "$bin" speed "$SPEED_EPOCHS" | tee "$OUT/r.txt"
            printf '%s %s\n' "$v" "$(tail -n 1 "$OUT/r.txt")" >>"$OUT/rounds.txt"
        done
        i=$((i + 1))
    done
fi
if [ "$MODE" = speed ]; then
    echo '{"mode": "effect", "skipped": true}' >"$OUT/effect.txt"
else
    echo "== effect: 5,000 rows, $EFFECT_EPOCHS epochs, seeds 1..$SEEDS"
    OPENBLAS_NUM_THREADS=$THREADS ./build/bench/augment_fmnist effect "$EFFECT_EPOCHS" 5000 "$SEEDS" | tee "$OUT/effect.txt"
fi
echo "== load: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
last = lambda f: json.loads(open(f"{out}/{f}").read().strip().splitlines()[-1])
s, e, sh = last("speed.txt"), last("effect.txt"), last("shift.txt")
if not s.get("skipped"):
  print(f"== epoch {s['plain_seconds_per_epoch']:.3f} s plain, {s['augment_seconds_per_epoch']:.3f} s "
      f"augmented (medians); paired ratio {s['ratio']:.3f} (bound 1.15), of CPU time {s['cpu_ratio']:.3f}; the transforms alone {s['transform_seconds']:.3f} s "
      f"({s['transform_cpu_seconds']:.3f} s CPU; {s['transform_cpu_seconds_4_lanes']:.3f} s at four lanes) per 60,000 rows")
  print(f"== shift alone: epoch {sh['plain_seconds_per_epoch']:.3f} s plain, {sh['augment_seconds_per_epoch']:.3f} s "
      f"augmented (medians); paired ratio {sh['ratio']:.3f}, of CPU time {sh['cpu_ratio']:.3f}")
r = {"speed": s, "shift_only": sh, "effect": e}
rounds = [l.split(" ", 1) for l in open(f"{out}/rounds.txt").read().splitlines()]
if rounds:
    rs = [{"build": v, **json.loads(j)} for v, j in rounds]
    for v in ("head", "base"):
        mine = [x for x in rs if x["build"] == v]
        med = lambda k: statistics.median(x[k] for x in mine)
        ratios = " ".join("%.3f" % x["ratio"] for x in mine)
        cpu = " ".join("%.3f" % x["cpu_ratio"] for x in mine if "cpu_ratio" in x) or "-"
        print(f"== {v}: ratios {ratios} (median {med('ratio'):.3f}), of CPU time {cpu}; "
              f"epoch {med('plain_seconds_per_epoch'):.3f} s plain, {med('augment_seconds_per_epoch'):.3f} s augmented; "
              f"transforms {med('transform_cpu_seconds'):.3f} s CPU")
    r["rounds"] = rs
if not e.get("skipped"):
    for t in ("clean", "shift2", "rot10", "shift2_rot10"):
        p, a = e[f"plain_{t}_median"], e[f"augment_{t}_median"]
        print(f"== {t:13s} accuracy median of {e['seeds']} seeds: plain {p:.4f}  augmented {a:.4f}  ({a - p:+.4f})")
print(json.dumps(r))
PY
rm -rf "$OUT"
