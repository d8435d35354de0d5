#!/usr/bin/env bash
# diskfull_test.sh — an unwritable data dir and a full disk (issue 6): the daemon refuses to
# start with a non-zero exit and a message naming the dir; on a full disk an upload answers 507
# problem+json "insufficient_storage", leaves no file behind, corrupts nothing, and the daemon
# keeps serving (and accepts uploads again once they fit).
#
# Three modes, each run in turn where it can run (DISKFULL_MODES, default "tmpfs userns fsize"):
#   tmpfs   a 2 MB tmpfs mounted as root, also remounted read-only for the unwritable case;
#   userns  the same checks on a tmpfs mounted inside an unprivileged user and mount namespace
#           (unshare -rm): no root needed;
#   fsize   a 1 MiB file size limit on the daemon (ulimit -f, RLIMIT_FSIZE): a write past it
#           fails with EFBIG, which the store reports as a full disk. Needs nothing.
# By default a mode that cannot run here is reported and the others carry the checks; when no
# tmpfs can be mounted at all, a directory without write permission stands in for the read-only
# file system (for a non-root user; as root that check cannot run and the test fails). A mode
# named in DISKFULL_MODES that cannot run fails the test, and so does a run with no full-disk
# check.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=diskfull_test
. tests/crash/lib.sh
make_csvs

up() { # name file -> status; body in $T/body
    curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' --max-time 60 -H 'Content-Type: text/csv' \
        --data-binary @"$2" "$U/api/v1/datasets?name=$1"
}
# refuses DIR WHAT: the daemon must not start on DIR, and must name it
refuses() {
    set +e
    "$BIN" --listen 127.0.0.1:0 --data-dir "$1" --quiet 2>"$T/err" </dev/null
    local rc=$?
    set -e
    [ "$rc" != 0 ] || fail "started with a data dir $2"
    grep -q "$(dirname "$1")" "$T/err" || fail "startup error does not name the dir: $(cat "$T/err")"
}
# full_disk_507 WHERE DETAIL_RE: after ds_1 (small) fits, big uploads until one answers 507; the 507
# is problem+json insufficient_storage, leaves no file behind, and nothing else changes.
full_disk_507() {
    [ "$(up small "$T/small.csv")" = 201 ] || fail "small upload: $(cat "$T/body")"
    SHA=$(jq -r .sha256 "$T/body")
    local got="" st i
    for i in 1 2 3; do
        st=$(up "big$i" "$T/big.csv")
        case $st in
        201) ;;
        507) got=1; break ;;
        *) fail "upload big$i on a full disk answered $st: $(cat "$T/body")" ;;
        esac
    done
    [ -n "$got" ] || fail "three 1.2 MB datasets fit in $1?"
    grep -qi '^content-type: application/problem+json' "$T/hdr" || fail "507 is not problem+json"
    say "507 body: $(cat "$T/body")"
    [ "$(jq -r .code "$T/body")" = insufficient_storage ] || fail "507 body: $(cat "$T/body")"
    jq -r .detail "$T/body" | grep -qi "$2" || fail "507 detail: $(cat "$T/body")"
    ! ls -A "$D/datasets" | grep -v '^ds_[0-9]*\.f32$' || fail "temporary file left after 507"
    [ "$(curl -sS -o /dev/null -w '%{http_code}' "$U/healthz")" = 200 ] || fail "unhealthy after 507"
    [ "$(get /api/v1/datasets/ds_1 | jq -r .sha256)" = "$SHA" ] || fail "ds_1 changed"
    local n
    n=$(get "/api/v1/datasets?limit=1000" | jq '.items|length')
    [ "$n" = "$(ls "$D/datasets" | wc -l)" ] || fail "$n datasets listed, files: $(ls "$D/datasets")"
}
# stop_and_verify: SIGTERM exits 0, the database is intact, and ds_1 survives a restart
stop_and_verify() {
    kill -TERM "$PID"
    wait "$PID" || fail "SIGTERM exit $?"
    PID=""
    [ "$(sqlite3 "$D/mlpd.db" 'PRAGMA integrity_check;')" = ok ] || fail "integrity_check"
    start
    [ "$(get /api/v1/datasets/ds_1 | jq -r .sha256)" = "$SHA" ] || fail "ds_1 changed after restart"
    kill -TERM "$PID"
    wait "$PID" || fail "SIGTERM exit $?"
    PID=""
}

# The tmpfs mode, as (namespace) root: a read-only file system, then a 2 MB disk that holds the
# database and the small dataset but not three big ones (1.2 MB each).
tmpfs_mode() {
    MNT=$T/mnt
    mkdir -p "$MNT"
    mount -t tmpfs -o size=2m tmpfs "$MNT" || fail "mount -t tmpfs failed as (namespace) root"
    mkdir -p "$MNT/ro"
    mount -t tmpfs -o remount,ro tmpfs "$MNT" # source and type given: no mtab in a namespace
    refuses "$MNT/ro/data" "on a read-only file system"
    mount -t tmpfs -o remount,rw tmpfs "$MNT"
    D=$MNT/data
    start
    full_disk_507 "a 2 MB tmpfs" 'disk\|space\|storage'
    # freeing space makes uploads work again
    local id
    for id in $(get "/api/v1/datasets?limit=1000" | jq -r '.items[].id' | grep -v '^ds_1$'); do
        [ "$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$U/api/v1/datasets/$id")" = 204 ] ||
            fail "delete $id"
    done
    [ "$(up again "$T/big.csv")" = 201 ] || fail "upload after freeing space: $(cat "$T/body")"
    stop_and_verify
    say "tmpfs ($1): read-only fs refused; full disk -> 507, no file left, no corruption, uploads work after a delete"
}

# The fsize mode: the daemon runs with a 1 MiB file size limit, so the 1.2 MB matrix of big.csv
# cannot be written while the small one (78 KB) and the database can. The daemon ignores
# SIGXFSZ itself (server/main.c), so the write fails with EFBIG instead of killing it; the
# wrapper sets only the limit.
fsize_mode() {
    local real=$BIN
    printf '#!/bin/sh\nulimit -f 1024 || exit 97\nexec "%s" "$@"\n' "$real" >"$T/mlpd-fsize"
    chmod +x "$T/mlpd-fsize"
    (ulimit -f 1024) || fail "ulimit -f is not available: the fsize mode cannot run"
    D=$T/fsize-data
    BIN=$T/mlpd-fsize
    start
    full_disk_507 "a 1 MiB file size limit" 'file too large'
    # what fits still goes in after a 507
    [ "$(up small2 "$T/small.csv")" = 201 ] || fail "upload after the 507: $(cat "$T/body")"
    stop_and_verify
    BIN=$real
    say "fsize (ulimit -f 1024): full disk -> 507, no file left, no corruption, smaller uploads still work"
}

# probe_mount / probe_userns: 0 when a tmpfs can be mounted as root / in a user namespace; the
# reason why not is in $T/why.
probe_mount() {
    mkdir -p "$T/probe"
    [ "$(id -u)" = 0 ] || { echo "not root" >"$T/why"; return 1; }
    mount -t tmpfs -o size=1m tmpfs "$T/probe" 2>"$T/why" || return 1
    umount "$T/probe"
}
probe_userns() {
    mkdir -p "$T/probe"
    command -v unshare >/dev/null || { echo "unshare(1) is missing" >"$T/why"; return 1; }
    unshare --user --map-root-user --mount sh -c 'mount -t tmpfs -o size=1m tmpfs "$1"' _ \
        "$T/probe" 2>"$T/why"
}
# cannot MODE: a mode that cannot run fails the test when DISKFULL_MODES named it, else is noted
cannot() {
    local why
    why=$(tr '\n' ' ' <"$T/why")
    [ -z "${DISKFULL_MODES:-}" ] || fail "DISKFULL_MODES asks for $1, which cannot run here: $why"
    say "the $1 mode cannot run here: $why"
    WHY_NOT="$WHY_NOT $1: $why;"
}

# 1. a data dir below a regular file
touch "$T/file"
refuses "$T/file/data" "below a regular file"

if [ -n "${DISKFULL_IN_USERNS:-}" ]; then # the re-run inside the namespace: the tmpfs mode only
    tmpfs_mode "user namespace"
    exit 0
fi

RO_DONE="" FULL_DONE="" WHY_NOT=""
for mode in ${DISKFULL_MODES:-tmpfs userns fsize}; do
    case $mode in
    tmpfs)
        if probe_mount; then
            tmpfs_mode "mounted as root"
            RO_DONE=1 FULL_DONE=1
        else
            cannot tmpfs
        fi
        ;;
    userns)
        if probe_userns; then
            unshare --user --map-root-user --mount env DISKFULL_IN_USERNS=1 MLPD_BIN="$BIN" "$0" ||
                fail "the tmpfs checks in a user namespace failed (output above)"
            RO_DONE=1 FULL_DONE=1
        else
            cannot userns
        fi
        ;;
    fsize)
        fsize_mode
        FULL_DONE=1
        ;;
    *) fail "DISKFULL_MODES: unknown mode '$mode' (tmpfs, userns, fsize)" ;;
    esac
done
[ -n "$FULL_DONE" ] || fail "no full-disk check ran:$WHY_NOT"
if [ -z "$RO_DONE" ] && [ -z "${DISKFULL_MODES:-}" ]; then
    # No tmpfs at all: a directory without write permission stands in for a read-only file
    # system, which only works for a user that permissions bind.
    [ "$(id -u)" != 0 ] || fail "no tmpfs can be mounted here, so the read-only check cannot run:$WHY_NOT"
    mkdir -p "$T/nowrite"
    chmod a-w "$T/nowrite"
    refuses "$T/nowrite/data" "in a directory without write permission"
    say "unwritable: a directory without write permission refused (no read-only fs to try)"
fi
say "ok: startup refused for a dir below a file; modes: ${DISKFULL_MODES:-tmpfs userns fsize}"
