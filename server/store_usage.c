/* store_usage.c — usage and quotas in the SQLite backend of store.h: the training-seconds
 * ledger (usage_ledger, migration 0006), what a user uses now (stored bytes, active runs, model
 * names), a queued run's wait_reason and the pause of a running run back to queued; and the quota
 * checks that other resource files make inside their own insert transactions (store_int.h), so that
 * two concurrent requests cannot pass a quota together. */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

mlp_err store_usage_charge(store *s, long long user_id, const char *run_id, int epoch,
                           double seconds, long long at)
{
    store_tx t;
    long long rid = store_parse_id(run_id, "run_");
    if (rid <= 0) return MLP_ENOTFOUND;
    if (user_id < 1 || epoch < 1 || !(seconds >= 0)) return MLP_EINVAL;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, NULL,
                   "INSERT INTO usage_ledger (user_id, run_id, epoch, seconds, at)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
                   "IIidI", user_id, rid, epoch, seconds, at);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_usage_seconds(store *s, long long user_id, long long since, double *out)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    *out = 0;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   "SELECT COALESCE(SUM(seconds), 0) FROM usage_ledger WHERE user_id = ?1"
                   " AND at > ?2",
                   "II", user_id, since);
    if (e == MLP_OK && store_step(&t, st, &e, NULL) == 1) *out = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_usage_frees_at(store *s, long long user_id, long long since, double keep,
                             long long *at)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    *at = since;
    double total = 0;
    mlp_err e = store_usage_seconds(s, user_id, since, &total);
    if (e != MLP_OK || total <= keep) return e;
    e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    /* Oldest charges first: once the ones dropped leave at most `keep`, their time is when. */
    e = store_prep(&t, NULL, &st,
                   "SELECT seconds, at FROM usage_ledger WHERE user_id = ?1 AND at > ?2"
                   " ORDER BY at, id",
                   "II", user_id, since);
    int r;
    while (e == MLP_OK && (r = store_step(&t, st, &e, NULL)) == 1) {
        total -= sqlite3_column_double(st, 0);
        *at = sqlite3_column_int64(st, 1);
        if (total <= keep) break;
    }
    sqlite3_finalize(st);
    return store_tx_end(&t, e, NULL);
}

static mlp_err storage_tx(store_tx *t, long long user_id, long long *bytes)
{
    long long ds = 0, models = 0;
    mlp_err e = store_int64(t, NULL, &ds,
                            "SELECT COALESCE(SUM(bytes), 0) FROM datasets WHERE owner_id = ?1", "I",
                            user_id);
    if (e == MLP_OK)
        e = store_int64(t, NULL, &models,
                        "SELECT COALESCE(SUM(length(v.blob)), 0) FROM model_versions v"
                        " JOIN models m ON m.id = v.model_id WHERE m.owner_id = ?1",
                        "I", user_id);
    *bytes = ds + models;
    return e;
}

static mlp_err count_tx(store_tx *t, const char *sql, long long user_id, long long *n)
{
    return store_int64(t, NULL, n, sql, "I", user_id);
}

#define ACTIVE_SQL                                                                                 \
    "SELECT COUNT(*) FROM runs WHERE owner_id = ?1 AND status IN ('queued', 'running')"
#define MODELS_SQL "SELECT COUNT(*) FROM models WHERE owner_id = ?1"

/* One counting query in a read transaction. */
static mlp_err read_one(store *s, long long user_id, long long *out, int storage, const char *sql)
{
    store_tx t;
    *out = 0;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = storage ? storage_tx(&t, user_id, out) : count_tx(&t, sql, user_id, out);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_usage_storage(store *s, long long user_id, long long *bytes)
{
    return read_one(s, user_id, bytes, 1, NULL);
}

mlp_err store_usage_active_runs(store *s, long long user_id, long long *n)
{
    return read_one(s, user_id, n, 0, ACTIVE_SQL);
}

mlp_err store_usage_models(store *s, long long user_id, long long *n)
{
    return read_one(s, user_id, n, 0, MODELS_SQL);
}

mlp_err store_run_set_wait_reason(store *s, const char *id, const char *reason)
{
    store_tx t;
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    int changes = 0;
    e = store_exec(&t, NULL, &changes, "UPDATE runs SET wait_reason = ?2 WHERE id = ?1", "It", n,
                   reason);
    if (e == MLP_OK && changes == 0) e = MLP_ENOTFOUND;
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_wait_reason(store *s, const char *id, char *buf, size_t cap)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    buf[0] = '\0';
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st, "SELECT wait_reason FROM runs WHERE id = ?1", "I", n);
    if (e == MLP_OK) {
        int r = store_step(&t, st, &e, NULL);
        if (r == 0) e = MLP_ENOTFOUND;
        if (r == 1) store_col_str(st, 0, buf, cap);
    }
    sqlite3_finalize(st);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_pause(store *s, const char *id, const char *reason)
{
    store_tx t;
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    long long cancel = 0;
    e = store_int64(&t, NULL, &cancel,
                    "SELECT cancel_requested FROM runs WHERE id = ?1 AND status = 'running'", "I",
                    n);
    if (e == MLP_ENOTFOUND) e = MLP_ECONFLICT;
    if (e == MLP_OK && cancel) e = MLP_ECANCELLED;
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL,
                       "UPDATE runs SET status = 'queued', wait_reason = ?2 WHERE id = ?1", "It", n,
                       reason);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_quota_run_tx(store_tx *t, const store_run *r, const store_run_quota *q,
                           mlp_error *err)
{
    long long n = 0;
    mlp_err e = MLP_OK;
    if (q->active_runs > 0) {
        e = count_tx(t, ACTIVE_SQL, r->owner_id, &n);
        if (e == MLP_OK && n + 1 > q->active_runs)
            return mlp_fail(err, MLP_EBUSY,
                            "quota active_runs exceeded: limit %lld, used %lld (queued and "
                            "running runs); retry when one ends",
                            q->active_runs, n);
    }
    if (e == MLP_OK && q->models > 0 && r->model_name[0]) {
        long long mine = 0, exists = 0;
        e = store_int64(t, NULL, &exists, "SELECT COUNT(*) FROM models WHERE name = ?1", "t",
                        r->model_name);
        if (e == MLP_OK && !exists) e = count_tx(t, MODELS_SQL, r->owner_id, &mine);
        if (e == MLP_OK && !exists && mine + 1 > q->models)
            return mlp_fail(err, MLP_EBUSY,
                            "quota models exceeded: limit %lld, used %lld (model names owned); "
                            "the run would publish a new model %s",
                            q->models, mine, r->model_name);
    }
    return e;
}

mlp_err store_quota_storage_tx(store_tx *t, long long owner_id, long long bytes, long long limit,
                               mlp_error *err)
{
    long long used = 0;
    if (limit <= 0) return MLP_OK;
    mlp_err e = storage_tx(t, owner_id, &used);
    if (e == MLP_OK && used + bytes > limit)
        e = mlp_fail(err, MLP_ENOSPC,
                     "quota storage_bytes exceeded: limit %lld, used %lld, this upload %lld "
                     "bytes; delete datasets or model versions to make room",
                     limit, used, bytes);
    return e;
}
