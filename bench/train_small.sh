#!/bin/sh
# train_small.sh [ROUNDS [RUNS]] — the class burst's two tiny networks (bench/class_burst.sh:
# an iris-sized classifier, 100 epochs of 10 steps, and a digits-sized denoising autoencoder,
# 60 epochs of 57 steps; see bench/train_small.c) trained by this tree's core and by another
# tree's (BASE_COMMIT, default 834e477, archived into a temp dir and built there; or BASE_ROOT),
# both from this tree's bench/train_small.c, in ROUNDS (default 8) rounds in ABBA order, RUNS
# (default 3) runs of each net per leg. OpenBLAS on one thread (the daemon trains a run this
# small on its calling thread alone). Prints each leg's summary, then per net the median over
# rounds of ours / base (wall and CPU seconds per run) and ours' microseconds per step; the last
# line is one JSON object.
set -eu
ROUNDS=${1:-8}
RUNS=${2:-3}
BASE_COMMIT=${BASE_COMMIT:-834e477}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mktemp -d /tmp/mlpd-small.XXXXXX)
cd "$ROOT"
make -s build/libmlpcore.a
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore $(pkg-config --cflags openblas) -o build/bench/train_small \
   bench/train_small.c build/libmlpcore.a $(pkg-config --libs openblas) -lz -lm -pthread
if [ -z "${BASE_ROOT:-}" ]; then
  BASE_ROOT=$OUT/base
  mkdir -p "$BASE_ROOT"
  git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$BASE_ROOT"
fi
make -s -C "$BASE_ROOT" build/libmlpcore.a
cc -std=c11 -D_GNU_SOURCE -O2 -I"$BASE_ROOT/core" $(pkg-config --cflags openblas) \
   -o "$OUT/train_small_base" bench/train_small.c "$BASE_ROOT/build/libmlpcore.a" \
   $(pkg-config --libs openblas) -lz -lm -pthread
echo "== load: $(cat /proc/loadavg)  commit: $(git -C "$ROOT" rev-parse --short HEAD)  base: ${BASE_COMMIT}"
leg() { # leg NAME ROUND
  case $1 in
  ours) bin=./build/bench/train_small ;;
  base) bin=$OUT/train_small_base ;;
  esac
  OPENBLAS_NUM_THREADS=1 "$bin" "$RUNS" > "$OUT/$1.$2.txt"
  echo "== $1 round $2: $(tail -n 1 "$OUT/$1.$2.txt")"
}
r=1
while [ "$r" -le "$ROUNDS" ]; do
  if [ $((r % 2)) -eq 1 ]; then leg ours "$r"; leg base "$r"; else leg base "$r"; leg ours "$r"; fi
  r=$((r + 1))
done
echo "== load: $(cat /proc/loadavg)"
/usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
last = lambda f: json.loads(open(f).read().strip().splitlines()[-1])
med = statistics.median
o = [last(f"{out}/ours.{r}.txt") for r in range(1, rounds + 1)]
b = [last(f"{out}/base.{r}.txt") for r in range(1, rounds + 1)]
res = dict(mode="small", rounds=rounds, runs=o[0]["runs"])
for net in ("clf", "ae"):
    rw = [x[f"{net}_seconds"] / y[f"{net}_seconds"] for x, y in zip(o, b)]
    rc = [x[f"{net}_cpu_s"] / y[f"{net}_cpu_s"] for x, y in zip(o, b)]
    res.update({f"{net}_seconds": med([x[f"{net}_seconds"] for x in o]),
                f"{net}_base_seconds": med([y[f"{net}_seconds"] for y in b]),
                f"{net}_us_per_step": med([x[f"{net}_us_per_step"] for x in o]),
                f"{net}_base_us_per_step": med([y[f"{net}_us_per_step"] for y in b]),
                f"{net}_ratio": med(rw), f"{net}_ratio_rounds": [round(x, 3) for x in rw],
                f"{net}_cpu_ratio": med(rc)})
    print(f"== {net}: ours {res[net + '_us_per_step']:.2f} us/step, base "
          f"{res[net + '_base_us_per_step']:.2f} | ours/base wall {res[net + '_ratio']:.3f} "
          f"(rounds {res[net + '_ratio_rounds']}) cpu {res[net + '_cpu_ratio']:.3f}")
print(json.dumps(res))
PY
rm -rf "$OUT"
