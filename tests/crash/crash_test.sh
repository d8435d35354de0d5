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
# Environment: MLPD_BIN (default build/mlpd), CRASH_SEED (default 6), CRASH_KILLS (default 20),
# CRASH_KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${CRASH_SEED:-6}
KILLS=${CRASH_KILLS:-20}
EPOCHS=12
NAME=crash_test
KEEP_TMP=${CRASH_KEEP:-0}
fail_context() { echo "seed $SEED, kill point ${KP:-setup}"; }
. tests/crash/lib.sh

kill9() {
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    PID=""
}
# ms -> seconds for sleep
msleep() { sleep "$(awk -v m="$1" 'BEGIN{printf "%.3f", m/1000}')"; }
code() { curl -sS -o /dev/null -w '%{http_code}' --max-time 30 "$U$1"; }

# ---- data: lib.sh's small.csv (1500 x 13) and big.csv (~2.4 MB: streamed at 1 MB/s, an
# upload lasts ~2.5 s)
make_csvs

RANDOM=$SEED
declare -A DS_SHA DS_ROWS MODEL_EXPORT
RUNS=()
KP=""

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
        N_RUN=$((N_RUN + 1))
        submit_run "r$KP"
        st=$(cat "$T/st")
        [ "$st" = 202 ] || fail "run submit: $st $(cat "$T/body")"
        RUNS+=("$(jq -r .id "$T/body"):$EPOCHS")
        msleep $((100 + RANDOM % 2500))
        kill9
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

# ---- the end (the daemon check_all started): every run finishes, one point per epoch
for r in "${RUNS[@]}"; do
    id=${r%%:*} e=${r##*:}
    s=$(wait_run "$id" 180)
    [ "$s" = succeeded ] || fail "run $id ended $s"
    pts=$(get "/api/v1/runs/$id/metrics?name=train_loss" | jq -c '[.metrics[].step]')
    [ "$pts" = "$(jq -cn --argjson e "$e" '[range(1;$e+1)]')" ] || fail "run $id metric steps $pts"
done
KP=final
[ -n "${CRASH_VERBOSE:-}" ] && say "all runs finished at $((SECONDS - T0)) s"
kill9
check_all
kill -TERM "$PID"
wait "$PID" || fail "SIGTERM exit status $?"
PID=""
say "ok: seed $SEED, $KILLS kill -9 points (uploads $N_UP, runs $N_RUN, exports $N_EXP," \
    "imports $N_IMP; $ACKED acknowledged under fire, $LATE committed-but-unacknowledged)," \
    "${#RUNS[@]} runs resumed to exactly $EPOCHS points per epoch"
