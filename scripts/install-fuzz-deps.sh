#!/bin/sh
# Installs what `make fuzz` / `make fuzz-smoke` need on top of scripts/install-deps.sh: clang and
# its libFuzzer runtime (Debian bookworm: clang-14 + libclang-rt-14-dev). Run as root (or sudo).
set -eu
./scripts/install-deps.sh
missing=""
command -v clang >/dev/null 2>&1 || missing="$missing clang"
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
    missing="$missing libclang-rt-14-dev"
[ -z "$missing" ] && exit 0
echo "install-fuzz-deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
