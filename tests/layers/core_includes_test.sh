#!/bin/sh
# core_includes_test.sh — the layer checker's self-test: core_includes.sh must accept a fake core
# that includes only standard headers, <cblas.h> and its own header, and must refuse each of a
# list of other includes, naming file:line. Run by `make check-layers` before the real check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=$here/core_includes.sh
work=$(mktemp -d /tmp/mlpd-layers-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail=0

mkdir "$work/ok"
printf '#include <stddef.h>\n' > "$work/ok/mine.h"
cat > "$work/ok/a.c" <<'C'
/* fake */
#include "mine.h"

#include <assert.h>
#  include <math.h>
#include <cblas.h>
#include <stdatomic.h> /* why */
#include <time.h>
C
if ! "$check" "$work/ok" 2>"$work/ok.log"; then
  echo "core_includes_test: a core with only allowed includes was refused:" >&2
  cat "$work/ok.log" >&2
  fail=1
fi

i=0
for inc in '<pthread.h>' '<zlib.h>' '<openssl/sha.h>' '<sched.h>' '<unistd.h>' '<jansson.h>' \
  '"../server/store.h"' '"absent.h"' 'HEADER_MACRO'; do
  i=$((i + 1))
  d=$work/bad$i
  mkdir "$d"
  printf '#include <string.h>\n' > "$d/own.h"
  printf '#include <math.h>\n#include "own.h"\n#include %s\n' "$inc" > "$d/x.c"
  if "$check" "$d" 2>"$d.log"; then
    echo "core_includes_test: #include $inc was accepted" >&2
    fail=1
  elif ! grep -qF "$d/x.c:3: #include $inc" "$d.log"; then
    echo "core_includes_test: #include $inc refused without naming $d/x.c:3:" >&2
    cat "$d.log" >&2
    fail=1
  fi
done
[ $fail = 0 ] && echo "core_includes_test: ISO C, cblas and own headers accepted; $i others refused"
exit $fail
