#!/bin/sh
# core_includes.sh — the layering rule for core/, checked on the sources: every #include in
# DIR/*.c and DIR/*.h (DIR defaults to core) must name a C11 standard header, <cblas.h>, or one of
# DIR's own headers in quotes. Anything else (<pthread.h>, <zlib.h>, <openssl/sha.h>, <sched.h>,
# a quoted header of another folder, a macro) is printed as file:line and the exit status is 1.
# An allow-list, so a library nobody thought of is refused too; the poison include directory in
# the Makefile is the compile-time fence for the usual suspects.
# Usage: tests/layers/core_includes.sh [DIR]
set -eu
dir=${1:-core}
[ -d "$dir" ] || { echo "core_includes: no directory $dir" >&2; exit 2; }
# The C11 standard headers (ISO/IEC 9899:2011, 7.1.2); libm is <math.h> (and <tgmath.h>).
std="assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h locale.h
math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h
stdlib.h stdnoreturn.h string.h tgmath.h threads.h time.h uchar.h wchar.h wctype.h"
own=$(cd "$dir" && for h in *.h; do [ -e "$h" ] && printf '%s ' "$h"; done; true)
set -- "$dir"/*.c "$dir"/*.h
files=
for f do [ -e "$f" ] && files="$files $f"; done
[ -n "$files" ] || { echo "core_includes: no .c or .h file in $dir" >&2; exit 2; }
# shellcheck disable=SC2086
awk -v std="$std" -v own="$own" '
  BEGIN {
    n = split(std, a, /[ \n]+/); for (i = 1; i <= n; i++) ok["<" a[i] ">"] = 1
    ok["<cblas.h>"] = 1
    n = split(own, a, / +/); for (i = 1; i <= n; i++) if (a[i] != "") ok["\"" a[i] "\""] = 1
  }
  /^[ \t]*#[ \t]*include/ {
    s = $0; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
    if (match(s, /^<[^>]*>/) || match(s, /^"[^"]*"/)) name = substr(s, RSTART, RLENGTH)
    else name = s
    if (!(name in ok)) {
      printf "%s:%d: #include %s: core/ may include only the C11 standard headers, " \
             "<cblas.h> and its own headers\n", FILENAME, FNR, name
      bad = 1
    }
  }
  END { exit bad }
' $files >&2 || {
  echo "core_includes: $dir includes a header outside libc, libm and cblas" >&2
  exit 1
}
