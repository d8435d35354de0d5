#!/bin/sh
# server_includes.sh — the layering rule for server/, checked on the sources: no #include in
# SERVER/*.c or SERVER/*.h may name <jansson.h> (JSON belongs to api/) or a header of API/ (by
# its name, as "problem.h" or "../api/problem.h"). Each offence is printed as file:line and the
# exit status is 1. The build's server poison directory is the compile-time fence; this check
# names the line and also covers headers no .c includes.
# Usage: tests/layers/server_includes.sh [SERVER] [API]   (defaults: server api)
set -eu
sdir=${1:-server}
adir=${2:-api}
[ -d "$sdir" ] || { echo "server_includes: no directory $sdir" >&2; exit 2; }
[ -d "$adir" ] || { echo "server_includes: no directory $adir" >&2; exit 2; }
api=$(cd "$adir" && for h in *.h; do [ -e "$h" ] && printf '%s ' "$h"; done; true)
set -- "$sdir"/*.c "$sdir"/*.h
files=
for f do [ -e "$f" ] && files="$files $f"; done
[ -n "$files" ] || { echo "server_includes: no .c or .h file in $sdir" >&2; exit 2; }
# shellcheck disable=SC2086
awk -v api="$api" '
  BEGIN { n = split(api, a, / +/); for (i = 1; i <= n; i++) if (a[i] != "") bad_h[a[i]] = 1 }
  /^[ \t]*#[ \t]*include/ {
    s = $0; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
    if (match(s, /^<[^>]*>/) || match(s, /^"[^"]*"/)) name = substr(s, RSTART, RLENGTH)
    else next
    inner = substr(name, 2, length(name) - 2)
    base = inner; sub(/.*\//, "", base)
    why = ""
    if (inner == "jansson.h") why = "server/ may not use jansson (JSON belongs to api/)"
    else if (inner ~ /(^|\/)api\//) why = "server/ may not include api/ headers"
    else if (substr(name, 1, 1) == "\"" && (base in bad_h))
      why = "server/ may not include api/ headers"
    if (why != "") { printf "%s:%d: #include %s: %s\n", FILENAME, FNR, name, why; bad = 1 }
  }
  END { exit bad }
' $files >&2 || {
  echo "server_includes: $sdir includes api/ or jansson" >&2
  exit 1
}
