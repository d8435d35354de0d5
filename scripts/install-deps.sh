#!/bin/sh
# Installs every Debian package mlpd needs to build, run and test. Run as root (or with sudo).
# The Makefile calls this when pkg-config cannot find a library; `make deps` calls it directly.
# Benchmark-only peers (PyTorch, scikit-learn, wrk, ...) are installed by bench/install-peers.sh.
set -eu
PKGS="make gcc libc6-dev pkg-config ca-certificates curl sqlite3 jq \
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libopenblas-dev libcmocka-dev \
  libcurl4-openssl-dev zlib1g-dev libssl-dev \
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev \
  python3-prometheus-client python3-requests python3-onnx python3-torch openssl dataset-fashion-mnist"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# node, npm and chromium (the dashboard build and its browser test), checked by command.
"$(dirname "$0")/install-browser-deps.sh"
[ -z "$missing" ] && { echo "install-deps: all packages present"; exit 0; }
echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root (apt-get needs it)" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
