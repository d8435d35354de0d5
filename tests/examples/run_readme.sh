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
# The sh blocks run as one POSIX sh script with `set -eu` (they share variables and the working
# directory, like a terminal session); tests/examples/prelude.sh gives them `curl` and `mlpd`
# as a reader's terminal would have them, pointing the README's 127.0.0.1:8080 and host:8080 at
# the daemon of the moment, and turning any HTTP error into a failure. Python blocks run with
# Debian's python3 (python3-requests); js blocks with node (tests/examples/browser.mjs, which
# supplies the page's origin and an EventSource). A line `... # -> ANSWER` is checked against the
# answer of the command that ends on it (tests/examples/expect.py: status, JSON with `...`,
# Location); when ANSWER is an HTTP error status, the curl that starts the command (the nearest
# line starting with curl) is let through that error. Fails when a command fails, an answer
# differs, or a block cannot be run.
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
[ -f "$fmnist" ] || { echo "run_readme: $fmnist is missing (apt-get install dataset-fashion-mnist)" >&2; exit 1; }

mkdir "$work/cwd"
awk -v dir="$work" '
  function flush_marker() { if (marker != "") { printf "run_readme: README.md:%d: marker not followed by a block\n", mline > "/dev/stderr"; bad = 1 } marker = "" }
  function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
  # An sh block is kept until its end: a command shown answering an HTTP error (`# -> 4xx`) is
  # told so on the line before the curl that starts it, so that the error does not fail it.
  inblock && /^```$/ {
    inblock = 0
    if (lang != "sh") close(file)
    if (lang == "sh" && !skip) {
      for (i = 1; i <= nl; i++) {
        wantfail[i] = 0
        if (match(body[i], /# -> [45][0-9][0-9]/)) {
          for (j = i; j >= 1 && body[j] !~ /^[ \t]*curl /; j--) ;
          if (j < 1) { printf "run_readme: README.md:%d: an error answer shown, but no curl starts the command\n", bline[i] > "/dev/stderr"; bad = 1 }
          else wantfail[j] = 1
        }
      }
      for (i = 1; i <= nl; i++) {
        if (wantfail[i]) print "READMEX_EXPECT_FAIL=1"
        print body[i]
        if (match(body[i], /# -> /)) { print "readme_expect " bline[i] " " q(substr(body[i], RSTART + 5)); expects++ }
      }
    }
    nl = 0
    next
  }
  inblock {
    if (skip) next
    if (lang == "sh") { body[++nl] = $0; bline[nl] = NR }
    else print > file
    next
  }
  /^<!-- readme-test: .* -->$/ {
    flush_marker()
    marker = substr($0, 19, length($0) - 22); mline = NR
    next
  }
  /^```/ {
    lang = substr($0, 4)
    if (lang == "") { flush_marker(); inblock = 1; skip = 1; lang = "text"; next }
    if (lang != "sh" && lang != "python" && lang != "js") {
      printf "run_readme: README.md:%d: a ```%s block; only sh, python and js blocks are run\n", NR, lang > "/dev/stderr"; bad = 1
    }
    inblock = 1; skip = 0; n++
    if (marker == "fresh") print "readme_fresh " NR
    else if (marker ~ /^not run: ./) {
      skip = 1; notrun++
      print "readme_skip " NR " " q(substr(marker, 10))
    } else if (marker != "") {
      printf "run_readme: README.md:%d: unknown marker \"%s\"\n", mline, marker > "/dev/stderr"; bad = 1
    }
    marker = ""
    if (skip) next
    ran[lang]++
    file = sprintf("%s/b%02d.%s", dir, n, lang == "python" ? "py" : "mjs")
    if (lang == "sh") print "readme_block " NR " sh"
    else if (lang == "python") print "readme_python " NR " " file
    else print "readme_node " NR " " file
    next
  }
  { flush_marker() }
  END {
    if (inblock) { print "run_readme: README.md ends inside a block" > "/dev/stderr"; bad = 1 }
    if (notrun > 1) { printf "run_readme: %d blocks marked not run; only the Quick start may be\n", notrun > "/dev/stderr"; bad = 1 }
    if (ran["sh"] < 10 || ran["python"] < 1 || ran["js"] < 1) {
      printf "run_readme: found %d sh, %d python, %d js blocks to run; expected >= 10, 1, 1\n", ran["sh"], ran["python"], ran["js"] > "/dev/stderr"; bad = 1
    }
    printf "readme_stop\n[ \"$READMEX_EXPECTS\" = %d ] || { echo \"run_readme: $READMEX_EXPECTS of %d answers checked\" >&2; exit 1; }\n", expects, expects
    printf "echo \"run_readme: %d blocks run (%d sh, %d python, %d js), %d not run, %d answers checked\"\n", n - notrun, ran["sh"], ran["python"], ran["js"], notrun, expects
    exit bad
  }
' "$readme" > "$work/blocks.sh"

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
