# prelude.sh — sourced by the session script that run_readme.sh makes from README.md. It defines
# what the README's blocks assume of a reader's terminal, and nothing they do not show:
#   curl        the real curl (`command curl`) with three additions: the README's hosts
#               (127.0.0.1:8080, http://host:8080) point at the harness's daemon of the moment;
#               --fail-with-body unless the command has its own -f or the README shows it
#               answering an error (READMEX_EXPECT_FAIL=1, set by run_readme.sh just before it),
#               so an HTTP error fails the block; and, when the command writes no file itself
#               (-o, -D), the response's headers and body are kept for readme_expect (the body
#               is still printed, and the progress meter that writing to a file would show is
#               turned off).
#   mlpd        a README block that starts the daemon gets $MLPD_BIN, started in the background
#               with the block's own flags, except that port 8080 becomes an ephemeral port and
#               --data-dir /var/lib/mlpd becomes the data dir of the daemon it replaces (which
#               is stopped first, as one would stop `make run`); it returns once the daemon
#               listens and fails if the daemon exits instead.
#   readme_*    the harness's own steps, which run_readme.sh inserts between blocks.
# Every name of the harness starts with readme_ or READMEX_, so the blocks' variables are theirs.
# run_readme.sh sets READMEX_WORK (its temporary directory), READMEX_DIR (tests/examples),
# READMEX_PYTHON and MLPD_BIN.

READMEX_PORT=
READMEX_PID=
READMEX_DATA=
READMEX_N=0
READMEX_EXPECTS=0
READMEX_LINE=

# readme_stop: stops the daemon of the moment (SIGTERM) and waits for it; fails, showing its log,
# unless it exits 0 (a clean drain; under ASan, no leak either).
readme_stop() {
  readme_st=0
  if [ -n "$READMEX_PID" ]; then
    kill "$READMEX_PID" 2>/dev/null || true
    wait "$READMEX_PID" 2>/dev/null || readme_st=$?
  fi
  READMEX_PID=
  READMEX_PORT=
  if [ "$readme_st" != 0 ]; then
    echo "run_readme: mlpd exited $readme_st after SIGTERM:" >&2
    tail -n 30 "$READMEX_WORK/mlpd$READMEX_N.log" >&2
    return 1
  fi
}

# readme_start ARGS...: starts $MLPD_BIN ARGS in the background and waits for its port file.
readme_start() {
  rm -f "$READMEX_WORK/port"
  READMEX_N=$((READMEX_N + 1))
  "$MLPD_BIN" "$@" --port-file "$READMEX_WORK/port" --quiet 2>"$READMEX_WORK/mlpd$READMEX_N.log" &
  READMEX_PID=$!
  echo "$READMEX_PID" >> "$READMEX_WORK/pids"
  readme_i=0
  while [ ! -s "$READMEX_WORK/port" ]; do
    if ! kill -0 "$READMEX_PID" 2>/dev/null; then
      echo "run_readme: mlpd $* exited before listening:" >&2
      cat "$READMEX_WORK/mlpd$READMEX_N.log" >&2
      READMEX_PID=
      return 1
    fi
    readme_i=$((readme_i + 1))
    [ "$readme_i" -lt 1000 ] || { echo "run_readme: mlpd $* did not start" >&2; return 1; }
    sleep 0.02
  done
  READMEX_PORT=$(cat "$READMEX_WORK/port")
}

# readme_fresh LINE: a fresh daemon with an empty data dir, as after `make run` on a new
# checkout, for the block at README.md:LINE.
readme_fresh() {
  READMEX_LINE=$1
  readme_stop
  READMEX_DATA=$READMEX_WORK/data$((READMEX_N + 1))
  mkdir -p "$READMEX_DATA"
  readme_start --listen 127.0.0.1:0 --data-dir "$READMEX_DATA"
}

mlpd() {
  readme_stop
  readme_old=$READMEX_DATA
  READMEX_DATA=$PWD/var
  readme_n=$#
  readme_dd=
  while [ "$readme_n" -gt 0 ]; do
    readme_a=$1
    shift
    readme_n=$((readme_n - 1))
    case $readme_a in
      *:8080) readme_a=${readme_a%:8080}:0 ;;
      /var/lib/mlpd) readme_a=$readme_old ;;
    esac
    if [ "$readme_dd" = 1 ]; then READMEX_DATA=$readme_a; fi
    readme_dd=
    if [ "$readme_a" = --data-dir ]; then readme_dd=1; fi
    set -- "$@" "$readme_a"
  done
  readme_start "$@"
}

curl() {
  readme_fail=--fail-with-body
  readme_cap=1
  readme_n=$#
  while [ "$readme_n" -gt 0 ]; do
    readme_a=$1
    shift
    readme_n=$((readme_n - 1))
    case $readme_a in
      --fail | --fail-with-body) readme_fail= ;;
      --*) ;;
      -*f*) readme_fail= ;;
    esac
    case $readme_a in
      --output | --dump-header | --remote-name) readme_cap= ;;
      --*) ;;
      -*[oDO]) readme_cap= ;;
    esac
    case $readme_a in
      *127.0.0.1:8080* | *http://host:8080*)
        readme_a=$(printf '%s\n' "$readme_a" |
          sed -e "s#127\.0\.0\.1:8080#127.0.0.1:$READMEX_PORT#g" \
            -e "s#http://host:8080#http://127.0.0.1:$READMEX_PORT#g")
        ;;
    esac
    set -- "$@" "$readme_a"
  done
  if [ "${READMEX_EXPECT_FAIL:-}" = 1 ]; then
    readme_fail=
    READMEX_EXPECT_FAIL=
  fi
  rm -f "$READMEX_WORK/last.h" "$READMEX_WORK/last.b"
  if [ -z "$readme_cap" ]; then
    command curl $readme_fail "$@"
    return
  fi
  readme_rc=0
  command curl $readme_fail --no-progress-meter -D "$READMEX_WORK/last.h" \
    -o "$READMEX_WORK/last.b" "$@" || readme_rc=$?
  if [ -f "$READMEX_WORK/last.b" ]; then
    cat "$READMEX_WORK/last.b"
    echo
  fi
  return $readme_rc
}

# readme_block LINE LANG: announces the block that starts at README.md:LINE.
readme_block() {
  READMEX_LINE=$1
  echo "--- README.md:$1 ($2)"
}

# readme_exit: the session's EXIT trap; stops the daemon and names the block that failed.
readme_exit() {
  readme_rc=$?
  readme_stop || readme_rc=1
  if [ "$readme_rc" != 0 ]; then
    echo "run_readme: the block at README.md:${READMEX_LINE:-?} failed (exit $readme_rc)" >&2
  fi
  exit "$readme_rc"
}

# readme_expect LINE TEXT: checks the last curl's answer against the `# -> TEXT` shown on
# README.md:LINE (tests/examples/expect.py says how).
readme_expect() {
  [ -f "$READMEX_WORK/last.h" ] || {
    echo "run_readme: README.md:$1 shows an answer, but its command's answer was not kept" >&2
    return 1
  }
  "$READMEX_PYTHON" "$READMEX_DIR/expect.py" "README.md:$1" "$2" "$READMEX_WORK/last.h" \
    "$READMEX_WORK/last.b"
  rm -f "$READMEX_WORK/last.h" "$READMEX_WORK/last.b"
  READMEX_EXPECTS=$((READMEX_EXPECTS + 1))
}

# readme_python LINE FILE: a python block, with the README's 127.0.0.1:8080 pointed at the daemon.
readme_python() {
  readme_block "$1" python
  sed "s/127\.0\.0\.1:8080/127.0.0.1:$READMEX_PORT/g" "$2" > "$2.run"
  timeout 60 "$READMEX_PYTHON" "$2.run"
}

# readme_node LINE FILE: a js block for a page served by mlpd, run by node (browser.mjs).
readme_node() {
  readme_block "$1" js
  READMEX_BASE=http://127.0.0.1:$READMEX_PORT timeout 60 node "$READMEX_DIR/browser.mjs" "$2"
}

# readme_covered LINE TARGET REASON: a block that cannot run on a test machine, checked instead by
# TARGET, which must be a make target that `make test` runs.
readme_covered() {
  READMEX_LINE=$1
  mk=$READMEX_DIR/../../Makefile
  grep -q "^$2:" "$mk" || { echo "run_readme: README.md:$1 names $2, which the Makefile lacks" >&2; exit 1; }
  grep -q "for x in .*$2" "$mk" || { echo "run_readme: README.md:$1 names $2, which make test does not run" >&2; exit 1; }
  echo "--- README.md:$1 not run here ($3); make $2 covers it"
}

# readme_skip LINE REASON: a block the README marks as not run, and why.
readme_skip() {
  READMEX_LINE=$1
  echo "--- README.md:$1 not run: $2"
}
