#!/bin/sh
# Installs what the benchmarks in bench/ need on top of scripts/install-deps.sh: wrk (load),
# python3-numpy (request bodies), and the peers they are measured against: PyTorch on CPU and
# scikit-learn (training), Flask behind gunicorn (serving). Debian packages only. Run as root
# (or sudo).
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
missing=""
for p in wrk python3-numpy python3-torch python3-sklearn python3-flask gunicorn; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-bench-deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
