#!/bin/sh
# augment_fmnist.sh [SPEED_EPOCHS] [EFFECT_EPOCHS] [SEEDS] — data augmentation on Fashion-MNIST
# (issue 14), in one run: (1) the epoch time of 784-256-128-10, batch 128, on all 60,000 rows,
# without and with params.augment {shift: 2, rotate: 10}, the two trainers taking turns epoch by
# epoch (bench/train_fmnist.c's setup; the issue's bound is a ratio <= 1.15), in two modes taking
# turns run by run, ROUNDS times (default 2): "ours", as the daemon trains (OpenBLAS on 1 thread,
# params.threads = THREADS: the step and the augmented gather in pieces on the trainer's
# threads), and "blas", OpenBLAS on THREADS threads with params.threads 1; then shift 2 alone
# (the exact path) in the ours mode; (2) the effect: the same net on a 5,000-row subset for
# EFFECT_EPOCHS epochs, without and with that augmentation, seeds 1..SEEDS, accuracy on the
# 10,000 test rows clean, shifted 2 px, rotated 10° and both (OpenBLAS on THREADS threads).
# BASE=<commit>: also builds that commit's core (with this tree's bench driver) in a temporary
# directory, and each round runs both modes for both builds, the order turning round by round
# (head, base, base, head, ...), so that the versions see the same machine load. The last line
# has each run and the medians per build and mode. MODE=speed or MODE=effect runs one part only
# (default: both). Builds build/libmlpcore.a and build/bench/augment_fmnist. The last line is one
# JSON object.
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
build() { # build DIR: DIR's core, and this tree's bench driver against it
    (cd "$1" && make -s build/libmlpcore.a && mkdir -p build/bench &&
        cc -std=c11 -D_GNU_SOURCE -O2 -I"$1/core" -I"$ROOT/bench" $(pkg-config --cflags openblas) \
            -o build/bench/augment_fmnist "$ROOT/bench/augment_fmnist.c" build/libmlpcore.a \
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
run_speed() { # run_speed BUILD MODE [SHIFT ROTATE]: one speed run, its last line to $OUT/r.txt
    if [ "$1" = head ]; then bin=./build/bench/augment_fmnist; else bin="$OUT/base/build/bench/augment_fmnist"; fi
    if [ "$2" = ours ]; then blas=1 tt=$THREADS; else blas=$THREADS tt=1; fi
    shift 2
    echo "== $v $m: OpenBLAS $blas threads, params.threads $tt, $SPEED_EPOCHS epochs each, taking turns"
    OPENBLAS_NUM_THREADS=$blas TRAIN_THREADS=$tt "$bin" speed "$SPEED_EPOCHS" "$@" | tee "$OUT/r.txt"
}
if [ "$MODE" = effect ]; then
    echo '{"mode": "speed", "skipped": true}' >"$OUT/shift.txt"
else
    if [ -n "$BASE" ]; then builds="head base"; else builds=head; fi
    i=1
    while [ "$i" -le "$ROUNDS" ]; do
        runs=""
        for v in $builds; do for m in ours blas; do runs="$runs $v:$m"; done; done
        if [ $((i % 2)) -eq 0 ]; then runs=$(echo $runs | tr ' ' '\n' | tac | tr '\n' ' '); fi
        for vm in $runs; do
            v=${vm%:*} m=${vm#*:}
            echo "== round $i"
            run_speed "$v" "$m"
            printf '%s %s %s\n' "$v" "$m" "$(tail -n 1 "$OUT/r.txt")" >>"$OUT/rounds.txt"
        done
        i=$((i + 1))
    done
    v=head m=ours
    run_speed head ours 2 0
    cp "$OUT/r.txt" "$OUT/shift.txt"
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
e, sh = last("effect.txt"), last("shift.txt")
r = {"effect": e}
rounds = [l.split(" ", 2) for l in open(f"{out}/rounds.txt").read().splitlines()]
if rounds:
    rs = [{**json.loads(j), "build": v, "mode": m} for v, m, j in rounds]
    for v in ("head", "base"):
        for m in ("ours", "blas"):
            mine = [x for x in rs if x["build"] == v and x["mode"] == m]
            if not mine:
                continue
            med = lambda k: statistics.median(x[k] for x in mine)
            ratios = " ".join("%.3f" % x["ratio"] for x in mine)
            cpu = " ".join("%.3f" % x["cpu_ratio"] for x in mine)
            print(f"== {v} {m} (OpenBLAS {mine[0]['threads']}, params.threads {mine[0]['train_threads']}): "
                  f"ratios {ratios} (median {med('ratio'):.3f}, bound 1.15), of CPU time {cpu}; "
                  f"epoch {med('plain_seconds_per_epoch'):.3f} s plain, {med('augment_seconds_per_epoch'):.3f} s augmented (medians); "
                  f"transforms {med('transform_cpu_seconds'):.3f} s CPU per 60,000 rows")
    r["rounds"] = rs
if not sh.get("skipped"):
    print(f"== shift alone, head ours: epoch {sh['plain_seconds_per_epoch']:.3f} s plain, {sh['augment_seconds_per_epoch']:.3f} s "
          f"augmented (medians); paired ratio {sh['ratio']:.3f}, of CPU time {sh['cpu_ratio']:.3f}")
    r["shift_only"] = sh
if not e.get("skipped"):
    for t in ("clean", "shift2", "rot10", "shift2_rot10"):
        p, a = e[f"plain_{t}_median"], e[f"augment_{t}_median"]
        print(f"== {t:13s} accuracy median of {e['seeds']} seeds: plain {p:.4f}  augmented {a:.4f}  ({a - p:+.4f})")
print(json.dumps(r))
PY
rm -rf "$OUT"
