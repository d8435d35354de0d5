/* store_runs.c — the runs of store.h: one row per run in runs (status, progress, the request,
 * the latest checkpoint as a BLOB), its metric points in run_metrics (one per metric and
 * epoch), and the state transitions queued -> running -> succeeded | failed | cancelled, each
 * checked inside its write transaction. A run's success publishes its model version in the
 * same transaction (store_model_add_tx, store_models.c). */
#include "store_int.h"
#include "clock.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_run_clear(store_run *r)
{
    if (!r) return;
    free(r->request_json);
    free(r->error);
    r->request_json = NULL;
    r->error = NULL;
}

void store_runs_free(store_run *items, int n)
{
    if (!items) return;
    for (int i = 0; i < n; i++) store_run_clear(&items[i]);
    free(items);
}

#define RUN_COLS_SQL                                                                               \
    "SELECT id, status, task, dataset_id, val_dataset_id, model_name, experiment, request_json,"   \
    " epoch, epochs, error, model_version, created_at, started_at, finished_at,"                   \
    " cancel_requested, resumes, COALESCE(resumed_from_epoch, 0), owner_id, wait_reason,"          \
    " COALESCE((SELECT name FROM users WHERE users.id = runs.owner_id), '') FROM runs"

/* Fills r from a RUN_COLS_SQL row (owned strings new). MLP_ENOMEM or MLP_ECORRUPT. */
static mlp_err run_from_row(sqlite3_stmt *st, store_run *r)
{
    int oom = 0;
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "run_%lld", (long long)sqlite3_column_int64(st, 0));
    const char *status = (const char *)sqlite3_column_text(st, 1);
    mlp_err e = run_state_parse(status, &r->status) == MLP_OK ? MLP_OK : MLP_ECORRUPT;
    store_col_str(st, 2, r->task, sizeof r->task);
    snprintf(r->dataset_id, sizeof r->dataset_id, "ds_%lld",
             (long long)sqlite3_column_int64(st, 3));
    if (sqlite3_column_type(st, 4) != SQLITE_NULL)
        snprintf(r->val_dataset_id, sizeof r->val_dataset_id, "ds_%lld",
                 (long long)sqlite3_column_int64(st, 4));
    store_col_str(st, 5, r->model_name, sizeof r->model_name);
    store_col_str(st, 6, r->experiment, sizeof r->experiment);
    r->request_json = store_col_dup(st, 7, &oom);
    r->epoch = sqlite3_column_int(st, 8);
    r->epochs = sqlite3_column_int(st, 9);
    r->error = store_col_dup(st, 10, &oom);
    r->model_version = sqlite3_column_int(st, 11);
    store_col_str(st, 12, r->created_at, sizeof r->created_at);
    store_col_str(st, 13, r->started_at, sizeof r->started_at);
    store_col_str(st, 14, r->finished_at, sizeof r->finished_at);
    r->cancel_requested = sqlite3_column_int(st, 15);
    r->resumes = sqlite3_column_int(st, 16);
    r->resumed_from_epoch = sqlite3_column_int(st, 17);
    r->owner_id = sqlite3_column_int64(st, 18);
    store_col_str(st, 19, r->wait_reason, sizeof r->wait_reason);
    store_col_str(st, 20, r->owner, sizeof r->owner);
    if (oom) e = MLP_ENOMEM;
    if (e != MLP_OK) store_run_clear(r);
    return e;
}

/* r->last from the points of r's current epoch. */
static mlp_err run_load_last(store_tx *t, store_run *r)
{
    sqlite3_stmt *st = NULL;
    memset(&r->last, 0, sizeof r->last);
    if (r->epoch <= 0) return MLP_OK;
    mlp_err e = store_prep(t, NULL, &st,
                           "SELECT name, value FROM run_metrics WHERE run_id = ?1 AND step = ?2",
                           "Ii", store_parse_id(r->id, "run_"), r->epoch);
    if (e != MLP_OK) return e;
    int rr;
    while ((rr = store_step(t, st, &e, NULL)) == 1) {
        metric_id m;
        if (metric_parse((const char *)sqlite3_column_text(st, 0), &m) != MLP_OK) continue;
        run_metrics_set(&r->last, m, store_col_double(st, 1));
    }
    sqlite3_finalize(st);
    return e;
}

static mlp_err run_get_tx(store_tx *t, long long id, store_run *out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = store_prep(t, NULL, &st, RUN_COLS_SQL " WHERE id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = store_step(t, st, &e, NULL);
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1) e = run_from_row(st, out);
    sqlite3_finalize(st);
    if (e == MLP_OK) {
        e = run_load_last(t, out);
        if (e != MLP_OK) store_run_clear(out);
    }
    return e;
}

/* run_from_row as a store_row_fn. */
static mlp_err run_row(sqlite3_stmt *st, void *r)
{
    return run_from_row(st, r);
}

/* Runs st (RUN_COLS_SQL rows) into a new array. */
static mlp_err run_collect(store_tx *t, sqlite3_stmt *st, store_run **items, int *n)
{
    store_run *v = NULL;
    int cnt = 0;
    mlp_err e = store_collect(t, st, sizeof *v, run_row, (void **)&v, &cnt);
    sqlite3_reset(st);
    for (int i = 0; e == MLP_OK && i < cnt; i++) e = run_load_last(t, &v[i]);
    if (e != MLP_OK) {
        store_runs_free(v, cnt);
        return e;
    }
    *items = v;
    *n = cnt;
    return MLP_OK;
}

mlp_err store_run_create(store *s, store_run *r, mlp_error *err)
{
    return store_run_create_limited(s, r, 0, err);
}

mlp_err store_run_create_limited(store *s, store_run *r, int max_queued, mlp_error *err)
{
    return store_run_create_quota(s, r, max_queued, NULL, err);
}

mlp_err store_run_create_quota(store *s, store_run *r, int max_queued, const store_run_quota *q,
                               mlp_error *err)
{
    store_tx t;
    long long found = 0;
    long long ds = store_parse_id(r->dataset_id, "ds_");
    long long vds = r->val_dataset_id[0] ? store_parse_id(r->val_dataset_id, "ds_") : 0;
    if (!store_name_ok(r->task, STORE_TASK_MAX))
        return mlp_fail(err, MLP_EINVAL, "run task must be 1 to %d bytes", STORE_TASK_MAX);
    int default_name = r->model_name[0] == '\0'; /* API.md: default "run-{N}" */
    if (!default_name && !store_name_ok(r->model_name, STORE_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "model_name must be 1 to %d bytes", STORE_NAME_MAX);
    if (strlen(r->experiment) > STORE_NAME_MAX)
        return mlp_fail(err, MLP_EINVAL, "experiment must be at most %d bytes", STORE_NAME_MAX);
    if (!r->request_json) return mlp_fail(err, MLP_EINVAL, "run has no request_json");
    if (r->epochs < 0) return mlp_fail(err, MLP_EINVAL, "epochs must be >= 0");
    if (r->owner_id < 1) return mlp_fail(err, MLP_EINVAL, "run has no owner");
    if (ds <= 0) return mlp_fail(err, MLP_ENOTFOUND, "dataset %.24s not found", r->dataset_id);
    if (r->val_dataset_id[0] && vds <= 0)
        return mlp_fail(err, MLP_ENOTFOUND, "dataset %.24s not found", r->val_dataset_id);

    char created[CLOCK_RFC3339_LEN];
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    /* Checked inside the write transaction: a concurrent delete cannot slip in between, nor a
     * concurrent create past the queue limit. */
    if (max_queued > 0) {
        long long queued = 0;
        e = store_int64(&t, err, &queued, "SELECT COUNT(*) FROM runs WHERE status = 'queued'",
                        NULL);
        if (e == MLP_OK && queued >= max_queued)
            e = mlp_fail(err, MLP_EBUSY,
                         "%lld runs are already waiting in the queue (the limit, "
                         "--max-queued-runs); retry later",
                         queued);
    }
    if (e == MLP_OK && q) e = store_quota_run_tx(&t, r, q, err);
    if (e == MLP_OK)
        e = store_int64(&t, err, &found, "SELECT 1 FROM datasets WHERE id = ?1", "I", ds);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "dataset %.24s not found", r->dataset_id);
    if (e == MLP_OK && vds > 0) {
        e = store_int64(&t, err, &found, "SELECT 1 FROM datasets WHERE id = ?1", "I", vds);
        if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "dataset %.24s not found", r->val_dataset_id);
    }
    clock_rfc3339(0, created);
    if (e == MLP_OK)
        e = store_exec(&t, err, NULL,
                       "INSERT INTO runs (status, task, dataset_id, val_dataset_id, model_name,"
                       " experiment, request_json, epochs, created_at, owner_id)"
                       " VALUES ('queued', ?1, ?2, NULLIF(?3, 0), ?4, ?5, ?6, ?7, ?8, ?9)",
                       "tIItttitI", r->task, ds, vds, r->model_name, r->experiment, r->request_json,
                       r->epochs, created, r->owner_id);
    long long id = e == MLP_OK ? sqlite3_last_insert_rowid(t.db) : 0;
    if (e == MLP_OK && default_name)
        e = store_exec(&t, err, NULL, "UPDATE runs SET model_name = 'run-' || ?1 WHERE id = ?1",
                       "I", id);
    e = store_tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    snprintf(r->id, sizeof r->id, "run_%lld", id);
    if (default_name) snprintf(r->model_name, sizeof r->model_name, "run-%lld", id);
    r->status = RUN_QUEUED;
    r->epoch = 0;
    r->last.present = 0;
    r->model_version = 0;
    memcpy(r->created_at, created, sizeof r->created_at);
    r->started_at[0] = r->finished_at[0] = '\0';
    return MLP_OK;
}

mlp_err store_run_get(store *s, const char *id, store_run *out)
{
    store_tx t;
    long long n = store_parse_id(id, "run_");
    memset(out, 0, sizeof *out);
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_get_tx(&t, n, out);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_list(store *s, const run_state *status, const char *experiment,
                       const char *model_name, int limit, int offset, store_run **items, int *n,
                       long *total)
{
    return store_run_list_for(s, NULL, status, experiment, model_name, limit, offset, items, n,
                              total);
}

mlp_err store_run_list_for(store *s, const store_view *view, const run_state *status,
                           const char *experiment, const char *model_name, int limit, int offset,
                           store_run **items, int *n, long *total)
{
    store_view_args va = store_view_of(view);
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long tot = 0;
    const char *sn = status ? run_state_name(*status) : NULL;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0 || (status && (unsigned)*status >= RUN_STATE_COUNT))
        return MLP_EINVAL;
/* The view (?1 to ?4) states access_run in SQL: the owner, staff and admin, or whoever sees
 * the run's model when that model is class or public. */
#define RUN_FILTER                                                                                 \
    " WHERE (?1 OR owner_id = ?2 OR EXISTS (SELECT 1 FROM models m WHERE m.name = runs.model_name" \
    " AND (m.visibility = 'public' OR (?3 AND m.visibility = 'class'))))"                          \
    " AND (?4 IS NULL OR owner_id = (SELECT id FROM users WHERE name = ?4))"                       \
    " AND (?5 IS NULL OR status = ?5) AND (?6 IS NULL OR experiment = ?6)"                         \
    " AND (?7 IS NULL OR model_name = ?7)"
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM runs" RUN_FILTER, STORE_VIEW_FMT "ttt",
                    va.all, va.me, va.class_ok, va.owner, sn, experiment, model_name);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &st,
                       RUN_COLS_SQL RUN_FILTER " ORDER BY id DESC LIMIT ?8 OFFSET ?9",
                       STORE_VIEW_FMT "tttii", va.all, va.me, va.class_ok, va.owner, sn, experiment,
                       model_name, limit, offset);
#undef RUN_FILTER
    if (e == MLP_OK) e = run_collect(&t, st, items, n);
    sqlite3_finalize(st);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        store_runs_free(*items, *n);
        *items = NULL;
        *n = 0;
        return e;
    }
    if (total) *total = (long)tot;
    return MLP_OK;
}

mlp_err store_run_list_unfinished(store *s, store_run **items, int *n)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    *items = NULL;
    *n = 0;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   RUN_COLS_SQL " WHERE status IN ('running', 'queued')"
                                " ORDER BY status = 'queued', id",
                   NULL);
    if (e == MLP_OK) e = run_collect(&t, st, items, n);
    sqlite3_finalize(st);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        store_runs_free(*items, *n);
        *items = NULL;
        *n = 0;
    }
    return e;
}

/* A set of run states, for run_status_in. */
#define RUN_IN(state) (1u << (unsigned)(state))
#define RUN_ACTIVE    (RUN_IN(RUN_QUEUED) | RUN_IN(RUN_RUNNING))
#define RUN_FINAL     (~RUN_ACTIVE)

/* The status of run id inside t, which must be one of the set allowed (RUN_IN): MLP_ENOTFOUND
 * for no such run, MLP_ECONFLICT (with *out filled) for a status outside the set. Each write
 * below reads the status in its own transaction, so a cancel or a finish cannot slip in
 * between the check and the write. */
static mlp_err run_status_in(store_tx *t, long long id, unsigned allowed, run_state *out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = store_prep(t, NULL, &st, "SELECT status FROM runs WHERE id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = store_step(t, st, &e, NULL);
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1 && run_state_parse((const char *)sqlite3_column_text(st, 0), out) != MLP_OK)
        e = MLP_ECORRUPT;
    sqlite3_finalize(st);
    if (e == MLP_OK && !(allowed & RUN_IN(*out))) e = MLP_ECONFLICT;
    return e;
}

mlp_err store_run_start(store *s, const char *id)
{
    store_tx t;
    run_state st;
    char now[CLOCK_RFC3339_LEN];
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_in(&t, n, RUN_ACTIVE, &st);
    clock_rfc3339(0, now);
    if (e == MLP_OK && st == RUN_QUEUED)
        e = store_exec(&t, NULL, NULL,
                       "UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?2),"
                       " wait_reason = NULL WHERE id = ?1",
                       "It", n, now);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_epoch(store *s, const char *id, int epoch, const run_metrics *m, const void *ckpt,
                        size_t ckpt_len)
{
    if (!m) return MLP_EINVAL;
    store_epoch e = {.epoch = epoch, .m = *m};
    return store_run_epochs(s, id, &e, 1, ckpt, ckpt_len, NULL);
}

mlp_err store_run_epochs(store *s, const char *id, const store_epoch *eps, int n, const void *ckpt,
                         size_t ckpt_len, const store_charge *charge)
{
    store_tx t;
    run_state st;
    char now[CLOCK_RFC3339_LEN];
    long long rid = store_parse_id(id, "run_");
    if (rid <= 0) return MLP_ENOTFOUND;
    if (!eps || n < 1) return MLP_EINVAL;
    double weight = 0; /* the charge is shared by the epochs' epoch_seconds */
    for (int i = 0; i < n; i++) {
        double v = 0;
        if (eps[i].epoch < 1 || (i > 0 && eps[i].epoch <= eps[i - 1].epoch)) return MLP_EINVAL;
        if (run_metrics_get(&eps[i].m, MET_EPOCH_SECONDS, &v) && v > 0) weight += v;
    }
    if (charge && (charge->user_id < 1 || !(charge->seconds >= 0))) return MLP_EINVAL;
    mlp_err e = store_tx_begin_lazy(s, &t, NULL); /* redone after a power loss: store.c */
    if (e != MLP_OK) return e;
    e = run_status_in(&t, rid, RUN_IN(RUN_RUNNING), &st);
    clock_rfc3339(1, now);
    /* Each statement is prepared once for the whole batch and bound again per row. */
    sqlite3_stmt *ins = NULL, *led = NULL;
    for (int i = 0; e == MLP_OK && i < n; i++) {
        for (int k = 0; e == MLP_OK && k < MET_ALL; k++) {
            double v;
            if (!run_metrics_get(&eps[i].m, (metric_id)k, &v)) continue;
            const char *name = metric_name((metric_id)k);
            if (!ins) {
                e = store_prep(&t, NULL, &ins,
                               "INSERT OR REPLACE INTO run_metrics (run_id, name, step, value,"
                               " timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
                               "Itidt", rid, name, eps[i].epoch, v, now);
            } else {
                sqlite3_reset(ins);
                sqlite3_bind_text(ins, 2, name, -1, SQLITE_STATIC);
                sqlite3_bind_int(ins, 3, eps[i].epoch);
                if (isfinite(v))
                    sqlite3_bind_double(ins, 4, v);
                else
                    sqlite3_bind_null(ins, 4); /* as the binder does */
            }
            if (e == MLP_OK) store_step(&t, ins, &e, NULL);
        }
        double v = 0;
        double share =
            weight > 0
                ? (run_metrics_get(&eps[i].m, MET_EPOCH_SECONDS, &v) && v > 0 ? v / weight : 0)
                : 1.0 / n;
        if (e != MLP_OK || !charge) continue;
        if (!led) {
            e = store_prep(&t, NULL, &led,
                           "INSERT INTO usage_ledger (user_id, run_id, epoch, seconds, at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           "IIidI", charge->user_id, rid, eps[i].epoch, charge->seconds * share,
                           charge->at);
        } else {
            sqlite3_reset(led);
            sqlite3_bind_int(led, 3, eps[i].epoch);
            sqlite3_bind_double(led, 4, charge->seconds * share);
        }
        if (e == MLP_OK) store_step(&t, led, &e, NULL);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(led);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL, "UPDATE runs SET epoch = ?2 WHERE id = ?1", "Ii", rid,
                       eps[n - 1].epoch);
    if (e == MLP_OK && ckpt)
        e = store_exec(&t, NULL, NULL,
                       "INSERT OR REPLACE INTO run_checkpoints (run_id, epoch, data, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)",
                       "Iibt", rid, eps[n - 1].epoch, ckpt, ckpt_len, now);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_resume_point(store *s, const char *id, void **ckpt, size_t *len, int *epoch)
{
    store_tx t;
    run_state st;
    sqlite3_stmt *q = NULL;
    void *buf = NULL;
    size_t blen = 0;
    int ep = 0;
    long long n = store_parse_id(id, "run_");
    *ckpt = NULL;
    *len = 0;
    *epoch = 0;
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_in(&t, n, RUN_ACTIVE, &st);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &q, "SELECT epoch, data FROM run_checkpoints WHERE run_id = ?1",
                       "I", n);
    int found = 0;
    if (e == MLP_OK && (found = store_step(&t, q, &e, NULL)) == 1) {
        ep = sqlite3_column_int(q, 0);
        const void *p = sqlite3_column_blob(q, 1);
        blen = (size_t)sqlite3_column_bytes(q, 1);
        buf = malloc(blen ? blen : 1);
        if (!buf)
            e = MLP_ENOMEM;
        else if (blen)
            memcpy(buf, p, blen);
    }
    sqlite3_finalize(q);
    /* Without a checkpoint the run restarts from scratch: its progress goes back to 0. */
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL, "DELETE FROM run_metrics WHERE run_id = ?1 AND step > ?2",
                       "Ii", n, ep);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL, "UPDATE runs SET epoch = ?2 WHERE id = ?1", "Ii", n, ep);
    if (e == MLP_OK && found == 1)
        e = store_exec(
            &t, NULL, NULL,
            "UPDATE runs SET resumes = resumes + 1, resumed_from_epoch = ?2 WHERE id = ?1", "Ii", n,
            ep);
    e = store_tx_end(&t, e, NULL);
    if (e == MLP_OK && found != 1) e = MLP_ENOTFOUND;
    if (e != MLP_OK) {
        free(buf);
        return e;
    }
    *ckpt = buf;
    *len = blen;
    *epoch = ep;
    return MLP_OK;
}

mlp_err store_run_succeed(store *s, const char *id, const char *model_name, const char *task,
                          int input_dim, int output_dim, const char *meta_json, const void *blob,
                          size_t blob_len, int *version)
{
    store_tx t;
    run_state st;
    char now[CLOCK_RFC3339_LEN];
    int ver = 0;
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e =
        store_model_check(model_name, task, input_dim, output_dim, meta_json, blob, blob_len, NULL);
    if (e != MLP_OK) return e;
    e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_in(&t, n, RUN_IN(RUN_RUNNING), &st);
    long long cancel = 0;
    if (e == MLP_OK)
        e = store_int64(&t, NULL, &cancel, "SELECT cancel_requested FROM runs WHERE id = ?1", "I",
                        n);
    if (e == MLP_OK && cancel) e = MLP_ECANCELLED;
    long long owner = 0;
    if (e == MLP_OK)
        e = store_int64(&t, NULL, &owner, "SELECT owner_id FROM runs WHERE id = ?1", "I", n);
    if (e == MLP_OK)
        e = store_model_add_tx(&t, model_name, n, owner, task, input_dim, output_dim, meta_json,
                               blob, blob_len, &ver, NULL);
    clock_rfc3339(0, now);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL,
                       "UPDATE runs SET status = 'succeeded', model_name = ?2, model_version = ?3,"
                       " finished_at = ?4 WHERE id = ?1",
                       "Itit", n, model_name, ver, now);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL, "DELETE FROM run_checkpoints WHERE run_id = ?1", "I", n);
    e = store_tx_end(&t, e, NULL);
    if (e == MLP_OK && version) *version = ver;
    return e;
}

/* queued/running -> final state `to` (failed or cancelled), dropping the checkpoint. A cancel
 * (error NULL) keeps an error text set before it: why a sweep pruned the run. */
static mlp_err run_finish(store *s, const char *id, run_state to, const char *error)
{
    store_tx t;
    run_state st;
    char now[CLOCK_RFC3339_LEN];
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_in(&t, n, RUN_ACTIVE, &st);
    clock_rfc3339(0, now);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL,
                       "UPDATE runs SET status = ?2, error = COALESCE(?3, error), finished_at = ?4"
                       " WHERE id = ?1",
                       "Ittt", n, run_state_name(to), error, now);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL, "DELETE FROM run_checkpoints WHERE run_id = ?1", "I", n);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_fail(store *s, const char *id, const char *error)
{
    return run_finish(s, id, RUN_FAILED, error ? error : "failed");
}

mlp_err store_run_cancel(store *s, const char *id)
{
    return run_finish(s, id, RUN_CANCELLED, NULL);
}

mlp_err store_run_request_cancel(store *s, const char *id, run_state *now)
{
    store_tx t;
    run_state st = RUN_QUEUED;
    char ts[CLOCK_RFC3339_LEN];
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_in(&t, n, RUN_ACTIVE, &st);
    clock_rfc3339(0, ts);
    if (e == MLP_OK && st == RUN_QUEUED) {
        e = store_exec(
            &t, NULL, NULL,
            "UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished_at = ?2"
            " WHERE id = ?1",
            "It", n, ts);
        if (e == MLP_OK)
            e = store_exec(&t, NULL, NULL, "DELETE FROM run_checkpoints WHERE run_id = ?1", "I", n);
        st = RUN_CANCELLED;
    } else if (e == MLP_OK) {
        e = store_exec(&t, NULL, NULL, "UPDATE runs SET cancel_requested = 1 WHERE id = ?1", "I",
                       n);
    }
    if (now && (e == MLP_OK || e == MLP_ECONFLICT)) *now = st;
    return store_tx_end(&t, e, NULL);
}

mlp_err store_run_delete(store *s, const char *id)
{
    store_tx t;
    run_state st;
    long long n = store_parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_in(&t, n, RUN_FINAL, &st);
    if (e == MLP_OK) e = store_exec(&t, NULL, NULL, "DELETE FROM runs WHERE id = ?1", "I", n);
    return store_tx_end(&t, e, NULL);
}

/* One (name, step, value, timestamp) row of run_metrics; a name this build does not know is
 * left out. */
static mlp_err metric_row(sqlite3_stmt *st, void *elem)
{
    store_metric *m = elem;
    metric_id id;
    if (metric_parse((const char *)sqlite3_column_text(st, 0), &id) != MLP_OK) return MLP_ENOTFOUND;
    m->name = id;
    m->step = sqlite3_column_int(st, 1);
    m->value = store_col_double(st, 2);
    store_col_str(st, 3, m->timestamp, sizeof m->timestamp);
    return MLP_OK;
}

mlp_err store_run_metrics(store *s, const char *id, const metric_id *name, int after_step,
                          store_metric **items, int *n)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long rid = store_parse_id(id, "run_"), found = 0;
    *items = NULL;
    *n = 0;
    if (rid <= 0) return MLP_ENOTFOUND;
    if (name && (unsigned)*name >= MET_ALL) return MLP_EINVAL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &found, "SELECT 1 FROM runs WHERE id = ?1", "I", rid);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &st,
                       "SELECT name, step, value, timestamp FROM run_metrics"
                       " WHERE run_id = ?1 AND (?2 IS NULL OR name = ?2) AND step > ?3"
                       " ORDER BY step, name",
                       "Iti", rid, name ? metric_name(*name) : NULL,
                       after_step > 0 ? after_step : 0);
    e = store_list(&t, st, e, sizeof **items, metric_row, NULL, (void **)items, n);
    return e;
}

mlp_err store_run_access(store *s, const char *id, store_access *run, int *has_model,
                         store_access *model)
{
    store_run r;
    memset(run, 0, sizeof *run);
    *has_model = 0;
    mlp_err e = store_run_get(s, id, &r);
    if (e != MLP_OK) return e;
    run->owner_id = r.owner_id;
    memcpy(run->owner, r.owner, sizeof run->owner);
    run->vis = VIS_PRIVATE;
    e = store_model_access(s, r.model_name, model);
    store_run_clear(&r);
    if (e == MLP_ENOTFOUND) return MLP_OK;
    if (e == MLP_OK) *has_model = 1;
    return e;
}
