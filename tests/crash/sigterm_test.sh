#!/usr/bin/env bash
# sigterm_test.sh — SIGTERM drains (issue 6): with a slow upload streaming in and a long run
# training, SIGTERM makes the daemon stop accepting new connections, finish the in-flight upload
# (answered 201 and durable), pause the run at a checkpoint, and exit 0 within 10 s. At the next
# start the dataset is there and the run resumes from its checkpoint with one point per epoch:
# it counts one resume, from the epoch it was paused at, and the epochs up to that one keep the
# metric points (and timestamps) they had before the SIGTERM — none is trained again.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=sigterm_test
. tests/crash/lib.sh
make_csvs
start
curl -sS -o /dev/null --max-time 30 -H 'Content-Type: text/csv' --data-binary @"$T/small.csv" \
    "$U/api/v1/datasets?name=small"
RUN=$(curl -sS --max-time 30 "${J[@]}" -d '{"dataset_id":"ds_1","task":"classification",
  "target":"y","model_name":"long","params":{"hidden":[128,128],"epochs":100000,"batch_size":16}}' \
    "$U/api/v1/runs" | jq -r .id)
wait_epoch "$RUN" 2 60
# the in-flight request: ~2.4 MB at 800 KB/s, about 3 s
curl -sS -o "$T/up.json" -w '%{http_code}' --max-time 30 --limit-rate 800K \
    -H 'Content-Type: text/csv' --data-binary @"$T/big.csv" "$U/api/v1/datasets?name=inflight" \
    >"$T/up.st" 2>"$T/up.err" &
CURL=$!
sleep 0.8
T0=$(date +%s%N)
kill -TERM "$PID"
sleep 0.3
# no new connections: refused (curl exit 7) or closed without an answer
set +e
NEW=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 "$U/healthz" 2>/dev/null)
NEWRC=$?
set -e
wait "$PID" && RC=0 || RC=$?
MS=$((($(date +%s%N) - T0) / 1000000))
PID=""
wait "$CURL" || true
# what the run had when it paused (read from the database: the daemon is down)
PAUSED=$(sqlite3 "$D/mlpd.db" "SELECT epoch FROM run_checkpoints WHERE run_id = ${RUN#run_};")
BEFORE=$(sqlite3 "$D/mlpd.db" "SELECT step, timestamp FROM run_metrics WHERE run_id = ${RUN#run_}
    AND name = 'train_loss' ORDER BY step;" | tr '\n' ' ')
[ "$(sqlite3 "$D/mlpd.db" "SELECT status FROM runs WHERE id = ${RUN#run_};")" = running ] ||
    fail "run $RUN was not left running (unfinished) by SIGTERM"
[ "${PAUSED:-0}" -ge 2 ] || fail "run $RUN paused without a checkpoint of its epochs (${PAUSED:-none})"
[ "$RC" = 0 ] || fail "exit status $RC after SIGTERM"
[ "$MS" -lt 10000 ] || fail "took $MS ms to stop"
[ "$NEWRC" != 0 ] && [ "${NEW:-000}" = 000 ] || fail "a new connection after SIGTERM got $NEW"
[ "$(cat "$T/up.st")" = 201 ] || fail "in-flight upload answered $(cat "$T/up.st"): $(cat "$T/up.json" "$T/up.err")"
DS=$(jq -r .id "$T/up.json")
SHA=$(jq -r .sha256 "$T/up.json")
# after the restart: the upload is durable, the run resumes from its checkpoint
start
[ "$(get "/api/v1/datasets/$DS" | jq -r .sha256)" = "$SHA" ] || fail "drained upload not durable"
E=$(get "/api/v1/runs/$RUN" | jq .progress.epoch)
[ "$E" -ge 2 ] || fail "run lost its checkpoint (epoch $E)"
wait_epoch "$RUN" $((E + 2)) 60
R=$(get "/api/v1/runs/$RUN")
[ "$(jq -c '[.resumes, .resumed_from_epoch]' <<<"$R")" = "[1,$PAUSED]" ] ||
    fail "run paused at epoch $PAUSED, but resumes/resumed_from_epoch are $(jq -c '[.resumes, .resumed_from_epoch]' <<<"$R")"
# the checkpointed epochs were not trained again: their points are the ones from before SIGTERM
KEPT=$(get "/api/v1/runs/$RUN/metrics?name=train_loss" |
    jq -r --argjson k "$PAUSED" '.metrics[] | select(.step <= $k) | "\(.step)|\(.timestamp)"' | tr '\n' ' ')
[ "$KEPT" = "$BEFORE" ] || fail "epochs 1..$PAUSED were trained again after the restart" \
    "(step|timestamp before: ${BEFORE:0:70}...; after: ${KEPT:0:70}...)"
curl -sS -o /dev/null -X POST "${J[@]}" -d '{}' "$U/api/v1/runs/$RUN/cancel"
for _ in $(seq 100); do
    [ "$(get "/api/v1/runs/$RUN" | jq -r .status)" = cancelled ] && break
    sleep 0.1
done
N=$(get "/api/v1/runs/$RUN" | jq .progress.epoch)
STEPS=$(get "/api/v1/runs/$RUN/metrics?name=train_loss" | jq -c '[.metrics[].step]')
[ "$STEPS" = "$(jq -cn --argjson e "$N" '[range(1;$e+1)]')" ] || fail "metric steps $STEPS for $N epochs"
kill -TERM "$PID"
wait "$PID" || fail "second SIGTERM: exit $?"
PID=""
say "ok: exit 0 in $MS ms, new connection refused, in-flight upload 201 and durable, run resumed after epoch $PAUSED (not retrained)"
