#!/usr/bin/env bash
# crash_test.sh — kill -9 the real daemon at seeded random points and prove nothing acknowledged
# is lost (issue 6, crash safety). Part of `make test` (Makefile target crash-test).
#
# Each kill point is one of: a slow CSV upload (curl --limit-rate), a training run, a model export
# (1.8 MB JSON) or a model import (the same document POSTed slowly). After every kill -9 the
# daemon is restarted on the same data dir and the test checks:
#   - PRAGMA integrity_check on <data-dir>/mlpd.db is "ok";
#   - every acknowledged (2xx) dataset is there with the same sha256 and the same GET .../rows;
#     an upload that was not acknowledged is absent (or, if the kill fell between the commit and
#     the response, complete: same sha256 as the reference upload of the same file);
#   - the datasets directory holds exactly one ds_N.f32 per listed dataset (no temporary or
#     orphan file);
#   - every acknowledged run and model version is there; model exports are byte-identical to
#     the bytes first seen, and imported models predict exactly what their source predicts.
# At the end every run must finish "succeeded" with exactly one metric point per epoch.
#
# Resume, not retraining: right after every kill the test reads the database (sqlite3) for the
# runs that were training ("running") and the epoch of their checkpoint. A run killed with a
# checkpoint of k epochs must end with resumed_from_epoch = k (the checkpoint of the last kill
# that found it unfinished) and with exactly E - k of its metric points stamped after that kill:
# the epochs up to k are never trained again. A run killed before its first checkpoint must never
# count a resume. Each run kill point's run must be unfinished at its kill, and at least
# MIN_RESUMED runs must resume from a checkpoint, or the test proves nothing.
#
# Cancel kill points: a run with slow mini-batches is cancelled while it trains, and the daemon
# is killed the moment the 202 arrives; after the restart the run must be "cancelled" (never
# resumed) with one metric point per finished epoch.
#
# Environment: MLPD_BIN (default build/mlpd), CRASH_SEED (default 6), CRASH_KILLS (default 20),
# CRASH_KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${CRASH_SEED:-6}
KILLS=${CRASH_KILLS:-20}
EPOCHS=600 # ~5 s of training here: a kill 0.1-2.6 s after the submit finds it unfinished
NAME=crash_test
KEEP_TMP=${CRASH_KEEP:-0}
fail_context() { echo "seed $SEED, kill point ${KP:-setup}"; }
. tests/crash/lib.sh

kill9() {
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
    snapshot_runs
}
# ms -> seconds for sleep
msleep() { sleep "$(awk -v m="$1" 'BEGIN{printf "%.3f", m/1000}')"; }
code() { curl -sS -o /dev/null -w '%{http_code}' --max-time 30 "$U$1"; }

# ---- data: lib.sh's small.csv (1500 x 13) and big.csv (~2.4 MB: streamed at 1 MB/s, an
# upload lasts ~2.5 s)
make_csvs

RANDOM=$SEED
declare -A DS_SHA DS_ROWS MODEL_EXPORT LAST_K LAST_T CANCELLED
RUNS=()
KP=""
MIN_RESUMED=${CRASH_MIN_RESUMED:-2}
N_CANCEL=0

# After a kill: which runs were training, and from which checkpoint epoch the next start must
# resume them (0: no checkpoint, they start again from scratch). Every metric point recorded
# before the kill is stamped before $now.
snapshot_runs() {
    local now id k
    now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    while IFS='|' read -r id k; do
        [ -n "$id" ] || continue
        LAST_K[run_$id]=$k
        LAST_T[run_$id]=$now
    done < <(sqlite3 "$D/mlpd.db" "SELECT r.id, COALESCE(c.epoch, 0) FROM runs r
        LEFT JOIN run_checkpoints c ON c.run_id = r.id WHERE r.status = 'running';")
}
# the status of run_N in the database (the daemon must be down)
db_status() { sqlite3 "$D/mlpd.db" "SELECT status FROM runs WHERE id = ${1#run_};"; }

upload() { # name file -> status in $T/st, body in $T/body
    curl -sS -o "$T/body" -w '%{http_code}' --max-time 60 ${3:+--limit-rate $3} \
        -H 'Content-Type: text/csv' --data-binary @"$2" "$U/api/v1/datasets?name=$1" >"$T/st" \
        2>/dev/null || true
}
remember_ds() { # id
    DS_SHA[$1]=$(get "/api/v1/datasets/$1" | jq -r .sha256)
    DS_ROWS[$1]=$(get "/api/v1/datasets/$1/rows?limit=1000&offset=17" | sha256sum)
}
submit_run() { # model -> status in $T/st
    curl -sS -o "$T/body" -w '%{http_code}' --max-time 30 "${J[@]}" -d \
        "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\",\"model_name\":\"$1\",
          \"params\":{\"hidden\":[128,128],\"epochs\":$EPOCHS,\"batch_size\":16,\"seed\":7}}" \
        "$U/api/v1/runs" >"$T/st"
}
predict() { # model
    curl -sS --max-time 30 "${J[@]}" -d '{"instances":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.1,0.2,0.3]]}' \
        "$U/v1/models/$1:predict"
}
wait_run() { # id timeout_s -> prints final status
    local s=""
    for _ in $(seq $(($2 * 10))); do
        s=$(get "/api/v1/runs/$1" | jq -r .status)
        case $s in succeeded | failed | cancelled) break ;; esac
        sleep 0.1
    done
    echo "$s"
}

# ---- the reference state, acknowledged before any kill
start
upload small "$T/small.csv"
[ "$(cat "$T/st")" = 201 ] || fail "small upload: $(cat "$T/st") $(cat "$T/body")"
remember_ds ds_1
upload bigref "$T/big.csv"
[ "$(cat "$T/st")" = 201 ] || fail "big upload: $(cat "$T/st") $(cat "$T/body")"
BIG_SHA=$(jq -r .sha256 "$T/body")
BIG_ID=$(jq -r .id "$T/body")
remember_ds "$BIG_ID"
BIG_ROWS=${DS_ROWS[$BIG_ID]}
curl -sS -o "$T/body" --max-time 30 "${J[@]}" -d '{"dataset_id":"ds_1","task":"classification",
  "target":"y","model_name":"m","params":{"hidden":[512,256],"epochs":1,"batch_size":32,"seed":1}}' \
    "$U/api/v1/runs"
RUNS+=("$(jq -r .id "$T/body"):1")
[ "$(wait_run "$(jq -r .id "$T/body")" 60)" = succeeded ] || fail "reference run did not succeed"
get /api/v1/models/m/versions/1/export >"$T/m.json"
MODEL_EXPORT[m]=$(sha256sum <"$T/m.json")
PRED_M=$(predict m)
[ "$(jq '.predictions|length' <<<"$PRED_M")" = 1 ] || fail "predict m: $PRED_M"

check_all() {
    local ok
    ok=$(sqlite3 "$D/mlpd.db" 'PRAGMA integrity_check;') || fail "sqlite3 failed"
    [ "$ok" = ok ] || fail "integrity_check: $ok"
    start
    # datasets: every acknowledged one, byte-identical
    local id
    for id in "${!DS_SHA[@]}"; do
        [ "$(get "/api/v1/datasets/$id" | jq -r .sha256)" = "${DS_SHA[$id]}" ] ||
            fail "dataset $id lost or changed"
        [ "$(get "/api/v1/datasets/$id/rows?limit=1000&offset=17" | sha256sum)" = "${DS_ROWS[$id]}" ] ||
            fail "dataset $id rows changed"
    done
    # no dataset beyond the known ones, no half dataset, no orphan file
    local listed files
    listed=$(get "/api/v1/datasets?limit=1000" | jq -r '.items[].id' | sort)
    [ "$listed" = "$(printf '%s\n' "${!DS_SHA[@]}" | sort)" ] ||
        fail "datasets listed: $(echo $listed) expected: $(printf '%s ' "${!DS_SHA[@]}")"
    files=$(ls -A "$D/datasets" | sort)
    [ "$files" = "$(printf '%s.f32\n' "${!DS_SHA[@]}" | sort)" ] ||
        fail "dataset files: $(echo $files) (orphan or missing)"
    # runs
    local r
    for r in "${RUNS[@]}"; do
        [ "$(code "/api/v1/runs/${r%%:*}")" = 200 ] || fail "run ${r%%:*} lost"
    done
    # models: exports byte-identical
    local m
    for m in "${!MODEL_EXPORT[@]}"; do
        [ "$(get "/api/v1/models/$m/versions/1/export" | sha256sum)" = "${MODEL_EXPORT[$m]}" ] ||
            fail "model $m export changed"
    done
}

# A cancel answered 202, then kill -9 at once: a run whose mini-batches take ~1e10 flops, so
# the kill lands before the worker has seen the cancel flag.
cancel_kill() {
    N_CANCEL=$((N_CANCEL + 1))
    curl -sS -o "$T/body" -w '%{http_code}' --max-time 30 "${J[@]}" -d \
        "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\",\"model_name\":\"c$KP\",
          \"params\":{\"hidden\":[1024,1024],\"epochs\":3,\"batch_size\":1500,\"seed\":3}}" \
        "$U/api/v1/runs" >"$T/st"
    [ "$(cat "$T/st")" = 202 ] || fail "run submit: $(cat "$T/st") $(cat "$T/body")"
    local id
    id=$(jq -r .id "$T/body")
    RUNS+=("$id:3")
    CANCELLED[$id]=1
    wait_epoch "$id" 1 300
    curl -sS -o "$T/body" -w '%{http_code}' --max-time 30 -X POST "${J[@]}" -d '{}' \
        "$U/api/v1/runs/$id/cancel" >"$T/st"
    kill9
    [ "$(cat "$T/st")" = 202 ] || fail "cancel of $id answered $(cat "$T/st") $(cat "$T/body")"
    [ "$(jq -r .status "$T/body")" = running ] ||
        fail "run $id was $(jq -r .status "$T/body") when the cancel returned: the kill proves nothing"
    check_all
    local s
    s=$(get "/api/v1/runs/$id" | jq -r .status)
    [ "$s" = cancelled ] || fail "a cancel answered 202 was lost across kill -9: run $id is $s"
}

# ---- kill points
N_UP=0 N_RUN=0 N_EXP=0 N_IMP=0 LATE=0 ACKED=0
T0=$SECONDS
for KP in $(seq 1 "$KILLS"); do
    [ -n "${CRASH_VERBOSE:-}" ] && say "kill point $KP at $((SECONDS - T0)) s"
    kind=$((KP % 4))
    case $kind in
    0) # upload, killed while streaming (or just after)
        N_UP=$((N_UP + 1))
        name=up$KP
        upload "$name" "$T/big.csv" 1M &
        cpid=$!
        msleep $((150 + RANDOM % 2600))
        kill9
        wait $cpid || true
        st=$(cat "$T/st")
        if [ "${st:0:1}" = 2 ]; then
            ACKED=$((ACKED + 1))
            DS_SHA[$(jq -r .id "$T/body")]=$BIG_SHA
            DS_ROWS[$(jq -r .id "$T/body")]=$BIG_ROWS
        fi
        # not acknowledged: absent, unless the kill fell after the commit (then it is complete)
        if [ "${st:0:1}" != 2 ]; then
            start
            got=$(get "/api/v1/datasets?limit=1000" | jq -r --arg n "$name" '.items[]|select(.name==$n)|.id')
            if [ -n "$got" ]; then
                [ "$(get "/api/v1/datasets/$got" | jq -r .sha256)" = "$BIG_SHA" ] ||
                    fail "unacknowledged upload $name visible and incomplete"
                LATE=$((LATE + 1))
                DS_SHA[$got]=$BIG_SHA
                DS_ROWS[$got]=$BIG_ROWS
            fi
            kill9
        fi
        check_all
        ;;
    1 | 3) # a run (queued behind earlier ones when those resumed); killed while training
        if [ $((KP % 8)) = 7 ]; then
            cancel_kill
            continue
        fi
        N_RUN=$((N_RUN + 1))
        submit_run "r$KP"
        st=$(cat "$T/st")
        [ "$st" = 202 ] || fail "run submit: $st $(cat "$T/body")"
        id=$(jq -r .id "$T/body")
        RUNS+=("$id:$EPOCHS")
        msleep $((100 + RANDOM % 2500))
        kill9
        case $(db_status "$id") in
        queued | running) ;;
        *) fail "run $id was $(db_status "$id") at its kill: the kill point tested nothing" ;;
        esac
        check_all
        ;;
    2) # export or import of the 1.8 MB model document
        if [ $((KP % 8)) = 2 ]; then
            N_EXP=$((N_EXP + 1))
            curl -sS -o "$T/exp" --max-time 30 --limit-rate 4M "$U/api/v1/models/m/versions/1/export" \
                2>/dev/null &
            cpid=$!
            msleep $((RANDOM % 400))
            kill9
            wait $cpid || true
            check_all
        else
            N_IMP=$((N_IMP + 1))
            name=imp$KP
            curl -sS -o "$T/body" -w '%{http_code}' --max-time 30 --limit-rate 2M "${J[@]}" \
                --data-binary @"$T/m.json" "$U/api/v1/models/$name/versions" >"$T/st" 2>/dev/null &
            cpid=$!
            msleep $((RANDOM % 1000))
            kill9
            wait $cpid || true
            st=$(cat "$T/st")
            check_all
            present=$(code "/api/v1/models/$name/versions/1/export")
            if [ "${st:0:1}" = 2 ] || [ "$present" = 200 ]; then
                [ "${st:0:1}" = 2 ] && ACKED=$((ACKED + 1)) || LATE=$((LATE + 1))
                [ "$present" = 200 ] || fail "acknowledged import $name lost"
                [ "$(predict "$name")" = "$PRED_M" ] || fail "imported model $name predicts differently"
                MODEL_EXPORT[$name]=$(get "/api/v1/models/$name/versions/1/export" | sha256sum)
            fi
        fi
        ;;
    esac
done

# ---- the end (the daemon check_all started): every run finishes, one point per epoch, and a
# run killed while training resumed from its checkpoint and trained only the epochs after it
RESUMED=0
for r in "${RUNS[@]}"; do
    id=${r%%:*} e=${r##*:}
    s=$(wait_run "$id" 300)
    if [ -n "${CANCELLED[$id]:-}" ]; then
        [ "$s" = cancelled ] || fail "cancelled run $id ended $s"
        e=$(get "/api/v1/runs/$id" | jq .progress.epoch)
    else
        [ "$s" = succeeded ] || fail "run $id ended $s"
    fi
    pts=$(get "/api/v1/runs/$id/metrics?name=train_loss" | jq -c '[.metrics[].step]')
    [ "$pts" = "$(jq -cn --argjson e "$e" '[range(1;$e+1)]')" ] || fail "run $id metric steps $pts"
    [ -n "${LAST_K[$id]:-}" ] || continue # never training at a kill
    [ -z "${CANCELLED[$id]:-}" ] || continue
    k=${LAST_K[$id]} t=${LAST_T[$id]}
    run=$(get "/api/v1/runs/$id")
    if [ "$k" = 0 ]; then
        [ "$(jq .resumes <<<"$run")" = 0 ] || fail "run $id had no checkpoint but resumed: $run"
        continue
    fi
    RESUMED=$((RESUMED + 1))
    [ "$(jq .resumed_from_epoch <<<"$run")" = "$k" ] ||
        fail "run $id was killed with $k epochs checkpointed but resumed from $(jq -c '[.resumes, .resumed_from_epoch]' <<<"$run")"
    after=$(get "/api/v1/runs/$id/metrics?name=train_loss" |
        jq --arg t "$t" --argjson k "$k" '[.metrics[] | select((.timestamp > $t) != (.step > $k))] | length')
    [ "$after" = 0 ] || fail "run $id resumed after epoch $k, yet $after epochs were trained on the wrong side of its kill at $t"
done
[ "$RESUMED" -ge "$MIN_RESUMED" ] ||
    fail "only $RESUMED runs resumed from a checkpoint (at least $MIN_RESUMED needed to prove anything)"
KP=final
[ -n "${CRASH_VERBOSE:-}" ] && say "all runs finished at $((SECONDS - T0)) s"
kill9
check_all
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM exit status $?"
PID=""
say "ok: seed $SEED, $KILLS kill -9 points (uploads $N_UP, runs $N_RUN, cancels $N_CANCEL," \
    "exports $N_EXP, imports $N_IMP; $ACKED acknowledged under fire, $LATE" \
    "committed-but-unacknowledged), ${#RUNS[@]} runs finished with one point per epoch," \
    "$RESUMED of them resumed from their checkpoint and trained only the epochs after it"
