#!/bin/sh
# check_exports.sh — every exported symbol has a user outside its file (jansson's check-exports,
# turned round: there the export list is a file; here the users are). For each global symbol an
# object defines (nm: functions and data), it must be referenced (undefined) by another object
# given, or named in a test or fuzz source under TESTS; otherwise it is printed as
# "object: symbol" and the exit status is 1. Such a symbol is dead or should be static.
# ALLOW lists symbols let through, one per line: "symbol  reason" ('#' starts a comment).
# Usage: tests/layers/check_exports.sh ALLOW TESTS OBJECT...
set -eu
[ $# -ge 3 ] || { echo "usage: check_exports.sh ALLOW TESTS OBJECT..." >&2; exit 2; }
allow=$1
tests=$2
shift 2
[ -f "$allow" ] || { echo "check_exports: no allow-list $allow" >&2; exit 2; }
[ -d "$tests" ] || { echo "check_exports: no directory $tests" >&2; exit 2; }
work=$(mktemp -d /tmp/mlpd-exports-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
for o do
  [ -f "$o" ] || { echo "check_exports: no object $o" >&2; exit 2; }
  # Symbols a sanitizer or the compiler adds (__odr_asan.*, __asan_*, __ubsan_*, __sancov_*)
  # are not the program's exports.
  nm -g --defined-only "$o" |
    awk -v o="$o" 'NF == 3 && $2 ~ /^[TDRBGSV]$/ && $3 !~ /^__(odr_asan|asan|ubsan|sancov)/ { print o, $3 }'
done > "$work/defs"
for o do nm -u "$o" | awk -v o="$o" '{ print o, $NF }'; done > "$work/uses"
# Every identifier the test and fuzz sources name (their binaries link the archives).
find "$tests" -name '*.[ch]' -exec cat {} + | tr -c 'A-Za-z0-9_' '\n' | sort -u > "$work/test_ids"
sed -e 's/#.*//' "$allow" | awk 'NF { print $1 }' > "$work/allow"
awk -v uses="$work/uses" -v ids="$work/test_ids" -v allow="$work/allow" '
  BEGIN {
    while ((getline l < uses) > 0) { split(l, a, " "); users[a[2]] = users[a[2]] " " a[1] " " }
    while ((getline l < ids) > 0) named[l] = 1
    while ((getline l < allow) > 0) ok[l] = 1
    ok["main"] = 1; ok["LLVMFuzzerTestOneInput"] = 1
  }
  {
    o = $1; s = $2
    if (s in ok || s in named) next
    u = users[s]; gsub(" " o " ", " ", u)
    if (u ~ /[^ ]/) next
    printf "%s: %s: exported, but no other object and no test uses it (make it static or remove it)\n", o, s
    bad = 1
  }
  END { exit bad }
' "$work/defs" >&2 || {
  echo "check_exports: dead exports (or list them in $allow with a reason)" >&2
  exit 1
}
