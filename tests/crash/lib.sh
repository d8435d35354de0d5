# lib.sh — helpers shared by the shell tests in tests/crash/ (sourced, not run): a temporary
# dir, starting the real daemon on an ephemeral port, and failing with the daemon's log.
# Callers set NAME before sourcing; optionally KEEP_TMP=1 (keep the temporary dir) and a
# function fail_context that prints what fail() should add to its first line.
BIN=${MLPD_BIN:-$PWD/build/mlpd}
for t in curl jq sqlite3 sha256sum awk; do
    command -v $t >/dev/null || { echo "$NAME: $t is required (scripts/install-deps.sh)" >&2; exit 1; }
done
T=$(mktemp -d /tmp/mlpd-$NAME.XXXXXX)
D=$T/data
PID=""
cleanup() {
    if [ -n "$PID" ]; then
        kill -9 "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true # gone before the umount, or the mount stays busy
    fi
    if [ -n "${MNT:-}" ]; then umount "$MNT" 2>/dev/null || true; fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "$NAME: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail() {
    local ctx=""
    if declare -F fail_context >/dev/null; then ctx=" ($(fail_context))"; fi
    echo "$NAME: FAIL$ctx: $*" >&2
    echo "--- daemon log (tail)" >&2
    tail -n 20 "$T/log" >&2 || true
    exit 1
}
say() { echo "$NAME: $*"; }
# start [extra flags...]: the daemon on $D, $PID and $U set
start() {
    rm -f "$T/port"
    "$BIN" --listen 127.0.0.1:0 --data-dir "$D" --port-file "$T/port" --quiet --workers 1 "$@" \
        2>>"$T/log" </dev/null &
    PID=$!
    for _ in $(seq 200); do
        [ -s "$T/port" ] && break
        kill -0 "$PID" 2>/dev/null || fail "daemon exited at start"
        sleep 0.05
    done
    [ -s "$T/port" ] || fail "daemon did not write its port file"
    U=http://127.0.0.1:$(cat "$T/port")
}
get() { curl -sS --max-time 30 "$U$1"; }
J=(-H 'Content-Type: application/json')
# the 1500 x 13 CSV (3 classes, column y) and a ~2.4 MB one (16 numbers and a category)
make_csvs() {
    awk 'BEGIN{srand(3); printf "f0"; for(i=1;i<12;i++) printf ",f%d",i; print ",y";
      for(r=0;r<1500;r++){s=0; for(i=0;i<12;i++){v=rand(); s+=v*(i%3==0?1:-0.5); printf "%.4f,",v};
      print (s>0.5?2:(s>-0.5?1:0))}}' >"$T/small.csv"
    awk 'BEGIN{srand(5); printf "a0"; for(i=1;i<16;i++) printf ",a%d",i; print ",cls";
      for(r=0;r<18000;r++){for(i=0;i<16;i++) printf "%.5f,",rand()*100; print (r%7==0?"x":"y")}}' \
        >"$T/big.csv"
}
# wait_epoch ID N TIMEOUT_S: until the run has N epochs done
wait_epoch() {
    for _ in $(seq $(($3 * 10))); do
        [ "$(get "/api/v1/runs/$1" | jq .progress.epoch)" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "run $1 did not reach epoch $2"
}
