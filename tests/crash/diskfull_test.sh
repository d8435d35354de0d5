#!/usr/bin/env bash
# diskfull_test.sh — an unwritable data dir and a full disk (issue 6): the daemon refuses to
# start with a non-zero exit and a message naming the dir; on a full disk (a 2 MB tmpfs) an
# upload answers 507 problem+json "insufficient_storage", leaves no file behind, corrupts
# nothing, and the daemon keeps serving (and accepts uploads again once space is freed).
# Needs root for mount(8); without it the tmpfs half is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=diskfull_test
. tests/crash/lib.sh
make_csvs

# 1. a data dir below a regular file
touch "$T/file"
set +e
"$BIN" --listen 127.0.0.1:0 --data-dir "$T/file/data" --quiet 2>"$T/err1" </dev/null
RC=$?
set -e
[ "$RC" != 0 ] || fail "started with a data dir below a regular file"
grep -q "$T/file" "$T/err1" || fail "startup error does not name the dir: $(cat "$T/err1")"

MNT=$T/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=2m tmpfs "$MNT" 2>/dev/null; then
    MNT=""
    say "SKIPPED the read-only and full-disk checks: mount -t tmpfs is not permitted here"
    say "ok (unwritable dir only)"
    exit 0
fi
# 2. a read-only file system
mkdir -p "$MNT/ro"
mount -o remount,ro "$MNT"
set +e
"$BIN" --listen 127.0.0.1:0 --data-dir "$MNT/ro/data" --quiet 2>"$T/err2" </dev/null
RC=$?
set -e
mount -o remount,rw "$MNT"
[ "$RC" != 0 ] || fail "started on a read-only file system"
grep -q "$MNT/ro" "$T/err2" || fail "startup error does not name the dir: $(cat "$T/err2")"

# 3. a full disk: 2 MB holds the database and the small dataset, not three big ones (1.2 MB each)
D=$MNT/data
start
up() { # name file -> status; body in $T/body
    curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' --max-time 60 -H 'Content-Type: text/csv' \
        --data-binary @"$2" "$U/api/v1/datasets?name=$1"
}
[ "$(up small "$T/small.csv")" = 201 ] || fail "small upload: $(cat "$T/body")"
SHA=$(jq -r .sha256 "$T/body")
GOT=""
for i in 1 2 3; do
    st=$(up "big$i" "$T/big.csv")
    case $st in
    201) ;;
    507) GOT=1; break ;;
    *) fail "upload big$i on a full disk answered $st: $(cat "$T/body")" ;;
    esac
done
[ -n "$GOT" ] || fail "three 1.2 MB datasets fit on a 2 MB tmpfs?"
grep -qi '^content-type: application/problem+json' "$T/hdr" || fail "507 is not problem+json"
say "507 body: $(cat "$T/body")"
[ "$(jq -r .code "$T/body")" = insufficient_storage ] || fail "507 body: $(cat "$T/body")"
jq -r .detail "$T/body" | grep -qi 'disk\|space\|storage' || fail "507 detail: $(cat "$T/body")"
ls -A "$D/datasets" | grep -v '^ds_[0-9]*\.f32$' && fail "temporary file left after 507"
# still healthy; nothing corrupted; the listing matches the files
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$U/healthz")" = 200 ] || fail "unhealthy after 507"
[ "$(get /api/v1/datasets/ds_1 | jq -r .sha256)" = "$SHA" ] || fail "ds_1 changed"
N=$(get "/api/v1/datasets?limit=1000" | jq '.items|length')
[ "$N" = "$(ls "$D/datasets" | wc -l)" ] || fail "$N datasets listed, files: $(ls "$D/datasets")"
# freeing space makes uploads work again
for id in $(get "/api/v1/datasets?limit=1000" | jq -r '.items[].id' | grep -v '^ds_1$'); do
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$U/api/v1/datasets/$id")" = 204 ] ||
        fail "delete $id"
done
[ "$(up again "$T/big.csv")" = 201 ] || fail "upload after freeing space: $(cat "$T/body")"
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM exit $?"
PID=""
[ "$(sqlite3 "$D/mlpd.db" 'PRAGMA integrity_check;')" = ok ] || fail "integrity_check"
start
[ "$(get /api/v1/datasets/ds_1 | jq -r .sha256)" = "$SHA" ] || fail "ds_1 changed after restart"
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM exit $?"
PID=""
say "ok: startup refused for a dir below a file and on a read-only fs; full disk -> 507 insufficient_storage, no file left, no corruption, uploads work after a delete"
