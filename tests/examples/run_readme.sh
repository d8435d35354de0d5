#!/bin/sh
# run_readme.sh — runs every command block of README.md against live daemons, in the README's
# order, so that the README shows commands that work and the answers they really give.
#
# Every fenced block whose language is sh, python or js runs; a fence of any other language
# fails the test (plain ``` blocks are diagrams, not commands). A block may be preceded by one
# marker line:
#   <!-- readme-test: fresh -->            start a fresh daemon (empty data dir) for it, as the
#                                          README's "against a fresh make run" means;
#   <!-- readme-test: not run: REASON -->  do not run it; REASON is printed. Only the Quick start
#                                          may use it (make test cannot run itself); a second
#                                          such block fails the test.
#   <!-- readme-test: covered by make test-X: REASON -->  a block that needs what no test machine
#                                          has (a Docker engine): make test-X, which make test
#                                          runs, checks it another way; the runner fails when
#                                          the target is missing or not part of make test.
# The sh blocks run as one POSIX sh script with `set -eu` (they share variables and the working
# directory, like a terminal session); tests/examples/prelude.sh gives them `curl` and `mlpd`
# as a reader's terminal would have them, pointing the README's 127.0.0.1:8080 and host:8080 at
# the daemon of the moment, and turning any HTTP error into a failure. Python blocks run with
# Debian's python3 (python3-requests); js blocks with node (tests/examples/browser.mjs, which
# supplies the page's origin and an EventSource). A line `... # -> ANSWER` is checked against the
# answer of the command that ends on it (tests/examples/expect.py: status, JSON with `...`,
# Location); when ANSWER is an HTTP error status, the curl that starts the command (the nearest
# line starting with curl) is let through that error. tests/examples/blocks.awk does the
# extraction. Fails when a command fails, an answer differs, or a block cannot be run.
# Usage: MLPD_BIN=build/mlpd tests/examples/run_readme.sh [README.md]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
readme=${1:-$root/README.md}
bin=${MLPD_BIN:-$root/build/mlpd}
python=/usr/bin/python3
work=$(mktemp -d /tmp/mlpd-readme-XXXXXX)
cleanup() {
  if [ -f "$work/pids" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done < "$work/pids"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
command -v node >/dev/null || "$root/scripts/install-browser-deps.sh" >&2 || true
command -v node >/dev/null || { echo "run_readme: node is needed for the js blocks" >&2; exit 1; }
"$python" -c 'import requests' || { echo "run_readme: python3-requests is needed" >&2; exit 1; }
"$python" "$here/expect.py" --selftest
# The Fashion-MNIST session needs Debian's dataset-fashion-mnist (scripts/install-deps.sh has it).
fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
[ -f "$fmnist" ] || "$root/scripts/install-deps.sh" >&2 || true
[ -f "$fmnist" ] || {
  echo "run_readme: $fmnist is missing (apt-get install dataset-fashion-mnist)" >&2
  exit 1
}

mkdir "$work/cwd"
awk -v dir="$work" -f "$here/blocks.awk" "$readme" > "$work/blocks.sh"

{
  echo 'set -eu'
  echo ". '$here/prelude.sh'"
  echo "trap 'readme_exit' EXIT"
  echo "trap 'exit 1' INT TERM"
  cat "$work/blocks.sh"
} > "$work/session.sh"

(cd "$work/cwd" && READMEX_WORK=$work READMEX_DIR=$here READMEX_PYTHON=$python MLPD_BIN=$bin \
  timeout 300 sh "$work/session.sh") || {
  echo "run_readme: FAILED" >&2
  for f in "$work"/mlpd*.log; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
