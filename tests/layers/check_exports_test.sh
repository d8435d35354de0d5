#!/bin/sh
# check_exports_test.sh — check_exports.sh's self-test: two objects where one calls the other's
# used() must pass; a dead() that no other object and no test names must fail, naming the
# object and the symbol; the same dead() named by a test source, or on the allow-list, passes.
# Run by `make check-exports` before the real check.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=$here/check_exports.sh
cc=${CC:-cc}
work=$(mktemp -d /tmp/mlpd-exports-test-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail=0
mkdir "$work/tests" "$work/tests2"
: > "$work/allow"
printf 'int used(void);\nint used(void) { return 1; }\nint dead(void);\nint dead(void) { return 2; }\nstatic int local(void) { return 3; }\nint table[2] = {1, 2};\nint keep(void);\nint keep(void) { return local(); }\n' > "$work/a.c"
printf 'int used(void);\nextern int table[2];\nint main(void);\nint main(void) { return used() + table[0]; }\n' > "$work/b.c"
printf 'int keep(void);\nint t(void);\nint t(void) { return keep(); }\n' > "$work/tests/t.c"
"$cc" -c -o "$work/a.o" "$work/a.c"
"$cc" -c -o "$work/b.o" "$work/b.c"

if "$check" "$work/allow" "$work/tests" "$work/a.o" "$work/b.o" 2>"$work/1.log"; then
  echo "check_exports_test: dead() was not reported" >&2
  fail=1
elif ! grep -qF "$work/a.o: dead: exported" "$work/1.log"; then
  echo "check_exports_test: dead() refused without naming $work/a.o: dead:" >&2
  cat "$work/1.log" >&2
  fail=1
elif grep -qE ': (used|keep|table|main):' "$work/1.log"; then
  echo "check_exports_test: a used symbol was reported:" >&2
  cat "$work/1.log" >&2
  fail=1
fi
printf 'int dead(void);\n' > "$work/tests/d.c"
if ! "$check" "$work/allow" "$work/tests" "$work/a.o" "$work/b.o" 2>"$work/2.log"; then
  echo "check_exports_test: dead() named by a test source was still reported:" >&2
  cat "$work/2.log" >&2
  fail=1
fi
printf '# comment\ndead  kept for a reason\nkeep  used by a test anyway\n' > "$work/allow"
if ! "$check" "$work/allow" "$work/tests2" "$work/a.o" "$work/b.o" 2>"$work/3.log"; then
  echo "check_exports_test: allow-listed symbols were still reported:" >&2
  cat "$work/3.log" >&2
  fail=1
fi
[ $fail = 0 ] && echo "check_exports_test: a dead export refused; used, test-named and allow-listed ones accepted"
exit $fail
