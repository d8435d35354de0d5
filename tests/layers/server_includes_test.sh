#!/bin/sh
# server_includes_test.sh — the server layer checker's self-test: server_includes.sh must accept
# a fake server/ that includes its own headers, core's and the C libraries it wraps, and must
# refuse <jansson.h> and each spelling of an api/ header, naming file:line. Run by
# `make check-layers` before the real check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=$here/server_includes.sh
work=$(mktemp -d /tmp/mlpd-slayers-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail=0

mkdir "$work/api" "$work/ok"
printf '#include <jansson.h>\n' > "$work/api/problem.h"
printf '#include <stddef.h>\n' > "$work/api/routes.h"
printf '#include <stddef.h>\n' > "$work/ok/mine.h"
cat > "$work/ok/a.c" <<'C'
/* fake: mentions problem.h only in a comment */
#include "mine.h"
#include "mlp.h"

#include <microhttpd.h>
#  include <sqlite3.h>
#include <zlib.h>
#include <pthread.h> /* why */
C
if ! "$check" "$work/ok" "$work/api" 2>"$work/ok.log"; then
  echo "server_includes_test: a server/ with only allowed includes was refused:" >&2
  cat "$work/ok.log" >&2
  fail=1
fi

i=0
for inc in '<jansson.h>' '"problem.h"' '"../api/problem.h"' '"api/routes.h"' '#  include "routes.h"'; do
  i=$((i + 1))
  d=$work/bad$i
  mkdir "$d"
  printf '#include <string.h>\n' > "$d/own.h"
  case $inc in
    \#*) line=$inc; shown=${inc#*include } ;;
    *) line="#include $inc"; shown=$inc ;;
  esac
  printf '#include <stdio.h>\n#include "own.h"\n%s\n' "$line" > "$d/x.h"
  if "$check" "$d" "$work/api" 2>"$d.log"; then
    echo "server_includes_test: $line was accepted" >&2
    fail=1
  elif ! grep -qF "$d/x.h:3: #include $shown" "$d.log"; then
    echo "server_includes_test: $line refused without naming $d/x.h:3:" >&2
    cat "$d.log" >&2
    fail=1
  fi
done
[ $fail = 0 ] && echo "server_includes_test: own, core and library headers accepted; $i others refused"
exit $fail
