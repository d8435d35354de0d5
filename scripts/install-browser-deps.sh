#!/bin/sh
# Installs, when missing, what the web dashboard's build and its browser test need: node and npm
# (uPlot and playwright-core come from the npm registry, pinned by package-lock.json files),
# Debian's chromium (driven headless by tests/browser) and a font for its text. Run as root (or
# with sudo). Called by scripts/install-deps.sh, by the Makefile when npm is missing, and by
# `make test-browser`. Exits non-zero when something cannot be installed: the browser test then
# fails rather than being skipped.
set -eu
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "ok installed" ||
  missing="$missing fonts-dejavu-core"
[ -z "$missing" ] && exit 0
echo "install-browser-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser-deps: run as root (apt-get needs it)" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
