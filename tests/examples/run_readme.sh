#!/bin/sh
# run_readme.sh — runs the README's examples against a live daemon so they stay true. Extracts
# every fenced block preceded by a line "<!-- example -->" from README.md, in order: the sh blocks
# run as one script (they share variables, like a terminal session), then each python block runs
# with Debian's python3 (python3-requests). 127.0.0.1:8080 is replaced by the daemon's ephemeral
# port. Fails when a command fails (the curl examples use -f), when a python block raises, or
# when fewer blocks than expected are found (so a renamed marker cannot make it pass vacuously).
# Usage: MLPD_BIN=build/mlpd tests/examples/run_readme.sh [README.md]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
readme=${1:-$root/README.md}
bin=${MLPD_BIN:-$root/build/mlpd}
python=/usr/bin/python3
work=$(mktemp -d /tmp/mlpd-readme-XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

awk -v dir="$work" '
  /^<!-- example -->$/ { want = 1; next }
  want && /^```(sh|python)$/ { lang = substr($0, 4); n++; file = sprintf("%s/%02d.%s", dir, n, lang == "python" ? "py" : "sh"); inblock = 1; want = 0; next }
  inblock && /^```$/ { inblock = 0; close(file); next }
  inblock { print > file; next }
  { want = 0 }
' "$readme"
nsh=$(ls "$work"/*.sh 2>/dev/null | wc -l)
npy=$(ls "$work"/*.py 2>/dev/null | wc -l)
echo "run_readme: $nsh sh and $npy python example blocks in $readme"
[ "$nsh" -ge 5 ] && [ "$npy" -ge 1 ] || { echo "run_readme: expected >= 5 sh and >= 1 python blocks" >&2; exit 1; }

mkdir "$work/data"
"$bin" --listen 127.0.0.1:0 --data-dir "$work/data" --port-file "$work/port" --quiet 2>"$work/mlpd.log" &
pid=$!
i=0
while [ ! -s "$work/port" ]; do
  i=$((i + 1))
  [ $i -lt 500 ] || { echo "run_readme: daemon did not start" >&2; cat "$work/mlpd.log" >&2; exit 1; }
  sleep 0.02
done
port=$(cat "$work/port")

{ echo 'set -eu'; for f in "$work"/*.sh; do echo "echo '--- $(basename "$f")'"; cat "$f"; done; } |
  sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" > "$work/session.sh"
(cd "$work" && timeout 120 sh "$work/session.sh") || { echo "run_readme: a shell example failed" >&2; exit 1; }
for f in "$work"/*.py; do
  echo "--- $(basename "$f")"
  sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" "$f" > "$f.run"
  (cd "$work" && timeout 60 "$python" "$f.run") || { echo "run_readme: $(basename "$f") failed" >&2; exit 1; }
done
echo "run_readme: all examples ran"
