#!/bin/sh
# class_burst.sh [ROUNDS [WORKERS [N]]] — issue 16's class burst, in one run: 40 small runs
# submitted at once to one mlpd (20 iris-sized classifiers: 150 x 4, hidden [16], 100 epochs,
# batch 16; 20 digits-sized denoising autoencoders: 1,797 x 64, hidden [32, 8, 32], 60 epochs,
# batch 32, gaussian noise std 0.3; adam lr 0.001, no validation split, no standardisation),
# against the same 40 fits by scikit-learn's MLPClassifier / MLPRegressor in a 2-process pool
# (one BLAS thread each). The data are sklearn's load_iris / load_digits (python3-sklearn), made
# into CSV uploads in the script.
#
# Each round: scikit-learn's 40 fits, then for each --workers value in WORKERS (comma-separated,
# default "default" = the flag left out) a fresh build/mlpd on an ephemeral port and a temp data
# dir (under $TMPDIR, else /tmp: a real disk, so each epoch's committed checkpoint pays its
# fsync), the two uploads, then the 40 POSTs at once from 40 client threads, each waiting on its
# run's event stream; the time is from the POSTs to the end of the last stream. Then N (default
# 50) 1-epoch runs on a 20-row dataset, one after another, on a default daemon: per-run overhead
# = wall (POST to the end of the run's event stream) - the run's epoch_seconds. Prints the
# medians, scikit-learn / mlpd per --workers value, the fastest value and the overhead; the last
# line is one JSON object. Each burst also reports the daemon's CPU-seconds (utime + stime of all
# its threads, from /proc: what the machine's load moves least). The driver is
# bench/class_burst.py. MLPD_BASE=/path/to/an/older/mlpd runs each --workers value on that binary
# too, right after ("base:W", ABBA across rounds), prints this binary's wall and CPU over base's
# per round, and measures the per-run overhead on both, the two daemons taking turns run by run:
# a before/after in one run.
set -eu
ROUNDS=${1:-2}
WORKERS=${2:-default}
N=${3:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
make -s build/mlpd
# Debian's python3-sklearn is /usr/bin/python3's (a pyenv python3 earlier in PATH lacks it).
exec /usr/bin/python3 bench/class_burst.py "$ROOT/build/mlpd" "$ROUNDS" "$WORKERS" "$N"
