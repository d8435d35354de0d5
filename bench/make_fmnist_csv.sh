#!/bin/sh
# make_fmnist_csv.sh — writes the Fashion-MNIST training set as one CSV (label first, then
# p0..p783, 60000 rows) to /tmp/fmnist_train.csv (or $1), for bench/csv_parse.
set -eu
SRC=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
OUT=${1:-/tmp/fmnist_train.csv}
python3 - "$SRC/train-images-idx3-ubyte.gz" "$SRC/train-labels-idx1-ubyte.gz" "$OUT" <<'PY'
import gzip, struct, sys
img, lab, out = sys.argv[1:4]
with gzip.open(img) as f:
    _, n, r, c = struct.unpack(">IIII", f.read(16)); pix = f.read()
with gzip.open(lab) as f:
    _, m = struct.unpack(">II", f.read(8)); labels = f.read()
assert n == m and len(pix) == n * r * c
d = r * c
with open(out, "w") as f:
    f.write("label," + ",".join("p%d" % i for i in range(d)) + "\n")
    for i in range(n):
        row = pix[i * d:(i + 1) * d]
        f.write(str(labels[i]) + "," + ",".join(map(str, row)) + "\n")
PY
ls -l "$OUT"
