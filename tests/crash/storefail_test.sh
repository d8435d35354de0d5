#!/usr/bin/env bash
# storefail_test.sh — a store error while a run trains must not leave it "running" with no
# worker. On a small tmpfs the run trains until a filler file takes the last free block: the next
# epoch cannot be committed, and neither can the run's failure at first. The worker retries
# that write (server/jobs.c, store_retry); once the filler is removed the run must end "failed"
# with an error naming the disk, and the daemon must keep working and exit 0 on SIGTERM.
# Needs root for mount(8): without it the test FAILS (it cannot prove anything otherwise).
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=storefail_test
. tests/crash/lib.sh
make_csvs
MNT=$T/mnt
mkdir -p "$MNT"
mount -t tmpfs -o size=8m tmpfs "$MNT" 2>/dev/null ||
    { MNT=""; fail "mount -t tmpfs is not permitted here (run as root)"; }
D=$MNT/data
start
[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 -H 'Content-Type: text/csv' \
    --data-binary @"$T/small.csv" "$U/api/v1/datasets?name=small")" = 201 ] || fail "upload"
RUN=$(curl -sS --max-time 30 "${J[@]}" -d '{"dataset_id":"ds_1","task":"classification",
  "target":"y","model_name":"full","params":{"hidden":[128,128],"epochs":100000,"batch_size":16}}' \
    "$U/api/v1/runs" | jq -r .id)
wait_epoch "$RUN" 2 60
# the disk is full: the next epoch's transaction fails, and so does recording the failure
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
for _ in $(seq 100); do
    grep -q "run $RUN failed" "$T/log" && break
    sleep 0.1
done
grep -q "run $RUN failed" "$T/log" || fail "the run did not stop on the full disk"
sleep 2 # the worker keeps trying to record the failure
rm -f "$MNT/filler"
S=""
for _ in $(seq 100); do
    S=$(get "/api/v1/runs/$RUN" | jq -r .status)
    [ "$S" = failed ] && break
    sleep 0.1
done
[ "$S" = failed ] || fail "run $RUN is still $S 10 s after space came back: a store error stranded it"
ERR=$(get "/api/v1/runs/$RUN" | jq -r .error)
grep -qi 'disk\|space\|ENOSPC' <<<"$ERR" || fail "the run's error does not name the disk: $ERR"
# still serving, and a new run trains to the end
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$U/healthz")" = 200 ] || fail "unhealthy"
R2=$(curl -sS --max-time 30 "${J[@]}" -d '{"dataset_id":"ds_1","task":"classification",
  "target":"y","model_name":"after","params":{"hidden":[16],"epochs":2}}' "$U/api/v1/runs" | jq -r .id)
for _ in $(seq 300); do
    S=$(get "/api/v1/runs/$R2" | jq -r .status)
    [ "$S" = succeeded ] && break
    sleep 0.1
done
[ "$S" = succeeded ] || fail "run $R2 after the full disk ended $S"
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM exit status $?"
PID=""
[ "$(sqlite3 "$D/mlpd.db" 'PRAGMA integrity_check;')" = ok ] || fail "integrity_check"
say "ok: a full disk failed run $RUN (\"$ERR\") once space came back; nothing stranded it running"
