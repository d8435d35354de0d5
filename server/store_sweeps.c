/* store_sweeps.c — the sweeps of store.h: one row per sweep in sweeps (its request as opaque
 * JSON, the successive-halving rung, its owner) and the runs it queued in sweep_runs (generation
 * order, the params varied, why a run was pruned). A run's best validation metrics are
 * aggregated from run_metrics when the sweep is read. The list filter states access_sweep
 * (server/access.h) in SQL: a sweep is private to its owner, staff and admin. */
#include "store_int.h"
#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_sweep_clear(store_sweep *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_runs; i++) {
        free(s->runs[i].params_json);
        free(s->runs[i].pruned);
    }
    free(s->runs);
    free(s->request_json);
    s->runs = NULL;
    s->n_runs = 0;
    s->request_json = NULL;
}

void store_sweeps_free(store_sweep *items, int n)
{
    if (!items) return;
    for (int i = 0; i < n; i++) store_sweep_clear(&items[i]);
    free(items);
}

mlp_err store_sweep_create(store *s, store_sweep *sw, mlp_error *err)
{
    if (!sw->request_json) return mlp_fail(err, MLP_EINVAL, "sweep has no request_json");
    if (sw->rung < 0) return mlp_fail(err, MLP_EINVAL, "rung must be >= 0");
    if (sw->owner_id < 0) return mlp_fail(err, MLP_EINVAL, "bad sweep owner");
    if (sw->owner_id == 0) sw->owner_id = USER_BOOTSTRAP_ID;
    store_tx t;
    char now[CLOCK_RFC3339_LEN];
    clock_rfc3339(0, now);
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    e = store_exec(&t, err, NULL,
                   "INSERT INTO sweeps (request_json, rung, created_at, owner_id)"
                   " VALUES (?1, ?2, ?3, ?4)",
                   "titI", sw->request_json, sw->rung, now, sw->owner_id);
    long long id = e == MLP_OK ? sqlite3_last_insert_rowid(t.db) : 0;
    if (e == MLP_OK) {
        sqlite3_stmt *st = NULL;
        e = store_prep(&t, err, &st, "SELECT name FROM users WHERE id = ?1", "I", sw->owner_id);
        int r = e == MLP_OK ? store_step(&t, st, &e, err) : -1;
        if (r == 0) e = mlp_fail(err, MLP_EINVAL, "sweep owner %lld is no user", sw->owner_id);
        if (r == 1) store_col_str(st, 0, sw->owner, sizeof sw->owner);
        sqlite3_finalize(st);
    }
    e = store_tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    snprintf(sw->id, sizeof sw->id, "swp_%lld", id);
    memcpy(sw->created_at, now, sizeof sw->created_at);
    return MLP_OK;
}

mlp_err store_sweep_add_run(store *s, const char *sweep_id, int idx, const char *run_id,
                            const char *params_json, mlp_error *err)
{
    long long sid = store_parse_id(sweep_id, "swp_"), rid = store_parse_id(run_id, "run_");
    if (sid <= 0) return mlp_fail(err, MLP_ENOTFOUND, "no sweep %.24s", sweep_id);
    if (rid <= 0) return mlp_fail(err, MLP_ENOTFOUND, "no run %.24s", run_id);
    if (!params_json || idx < 0) return mlp_fail(err, MLP_EINVAL, "bad sweep run link");
    store_tx t;
    long long found = 0;
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    e = store_int64(&t, err, &found, "SELECT 1 FROM sweeps WHERE id = ?1", "I", sid);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "no sweep %.24s", sweep_id);
    if (e == MLP_OK) {
        e = store_int64(&t, err, &found, "SELECT 1 FROM runs WHERE id = ?1", "I", rid);
        if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "no run %.24s", run_id);
    }
    if (e == MLP_OK)
        e = store_exec(&t, err, NULL,
                       "INSERT INTO sweep_runs (sweep_id, idx, run_id, params_json)"
                       " VALUES (?1, ?2, ?3, ?4)",
                       "IiIt", sid, idx, rid, params_json);
    return store_tx_end(&t, e, err);
}

/* Fills the runs of sweep sid (generation order) with their best metrics. */
static mlp_err sweep_runs_tx(store_tx *t, long long sid, store_sweep *out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = store_prep(t, NULL, &st,
                           "SELECT l.run_id, l.params_json, l.pruned,"
                           " (SELECT MIN(m.value) FROM run_metrics m WHERE m.run_id = l.run_id"
                           "  AND m.name = 'val_loss'),"
                           " (SELECT MAX(m.value) FROM run_metrics m WHERE m.run_id = l.run_id"
                           "  AND m.name = 'val_accuracy')"
                           " FROM sweep_runs l WHERE l.sweep_id = ?1 ORDER BY l.idx",
                           "I", sid);
    if (e != MLP_OK) return e;
    int cap = 0, r, oom = 0;
    while ((r = store_step(t, st, &e, NULL)) == 1) {
        if (!store_grow((void **)&out->runs, &cap, out->n_runs + 1, sizeof *out->runs)) {
            e = MLP_ENOMEM;
            break;
        }
        store_sweep_run *sr = &out->runs[out->n_runs++];
        snprintf(sr->run_id, sizeof sr->run_id, "run_%lld", (long long)sqlite3_column_int64(st, 0));
        sr->params_json = store_col_dup(st, 1, &oom);
        sr->pruned = store_col_dup(st, 2, &oom);
        sr->best_val_loss = store_col_double(st, 3);
        sr->best_val_acc = store_col_double(st, 4);
        if (!sr->params_json && !oom) e = MLP_ECORRUPT;
        if (oom) e = MLP_ENOMEM;
        if (e != MLP_OK) break;
    }
    sqlite3_finalize(st);
    return e;
}

#define SWEEP_COLS_SQL                                                                             \
    "SELECT id, request_json, rung, created_at, owner_id,"                                         \
    " COALESCE((SELECT name FROM users WHERE users.id = sweeps.owner_id), '') FROM sweeps"

static mlp_err sweep_from_row(sqlite3_stmt *st, store_sweep *sw)
{
    int oom = 0;
    memset(sw, 0, sizeof *sw);
    snprintf(sw->id, sizeof sw->id, "swp_%lld", (long long)sqlite3_column_int64(st, 0));
    sw->request_json = store_col_dup(st, 1, &oom);
    sw->rung = sqlite3_column_int(st, 2);
    store_col_str(st, 3, sw->created_at, sizeof sw->created_at);
    sw->owner_id = sqlite3_column_int64(st, 4);
    store_col_str(st, 5, sw->owner, sizeof sw->owner);
    if (oom) return MLP_ENOMEM;
    return sw->request_json ? MLP_OK : MLP_ECORRUPT;
}

mlp_err store_sweep_get(store *s, const char *id, store_sweep *out)
{
    long long sid = store_parse_id(id, "swp_");
    memset(out, 0, sizeof *out);
    if (sid <= 0) return MLP_ENOTFOUND;
    store_tx t;
    sqlite3_stmt *st = NULL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st, SWEEP_COLS_SQL " WHERE id = ?1", "I", sid);
    if (e == MLP_OK) {
        int r = store_step(&t, st, &e, NULL);
        if (r == 0) e = MLP_ENOTFOUND;
        if (r == 1) e = sweep_from_row(st, out);
        sqlite3_finalize(st);
    }
    if (e == MLP_OK) e = sweep_runs_tx(&t, sid, out);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK) store_sweep_clear(out);
    return e;
}

mlp_err store_sweep_list(store *s, int limit, int offset, store_sweep **items, int *n, long *total)
{
    return store_sweep_list_for(s, NULL, limit, offset, items, n, total);
}

/* The view (?1, ?2, ?4 of store_view_args) states access_sweep: the owner, staff and admin. */
#define SWEEP_FILTER                                                                               \
    " WHERE (?1 OR owner_id = ?2) AND (?3 IS NULL OR owner_id = (SELECT id FROM users"             \
    " WHERE name = ?3))"

/* sweep_from_row as a store_row_fn. */
static mlp_err sweep_row(sqlite3_stmt *st, void *sw)
{
    return sweep_from_row(st, sw);
}

/* store_sweeps_free for store_list. */
static void sweeps_free(void *items, int n)
{
    store_sweeps_free(items, n);
}

mlp_err store_sweep_list_for(store *s, const store_view *view, int limit, int offset,
                             store_sweep **items, int *n, long *total)
{
    if (limit < 0 || offset < 0) return MLP_EINVAL;
    store_view_args va = store_view_of(view);
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    if (total)
        e = store_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM sweeps" SWEEP_FILTER, "iIt", va.all,
                        va.me, va.owner);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &st,
                       SWEEP_COLS_SQL SWEEP_FILTER " ORDER BY id DESC LIMIT ?4 OFFSET ?5", "iItii",
                       va.all, va.me, va.owner, limit, offset);
    e = store_list(&t, st, e, sizeof **items, sweep_row, sweeps_free, (void **)items, n);
    if (e == MLP_OK && total) *total = (long)tot;
    return e;
}
#undef SWEEP_FILTER

mlp_err store_sweep_access(store *s, const char *id, store_access *out)
{
    long long sid = store_parse_id(id, "swp_");
    memset(out, 0, sizeof *out);
    out->vis = VIS_PRIVATE;
    if (sid <= 0) return MLP_ENOTFOUND;
    store_tx t;
    sqlite3_stmt *st = NULL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   "SELECT owner_id, COALESCE((SELECT name FROM users WHERE users.id ="
                   " sweeps.owner_id), '') FROM sweeps WHERE id = ?1",
                   "I", sid);
    if (e == MLP_OK) {
        int r = store_step(&t, st, &e, NULL);
        if (r == 0) e = MLP_ENOTFOUND;
        if (r == 1) {
            out->owner_id = sqlite3_column_int64(st, 0);
            store_col_str(st, 1, out->owner, sizeof out->owner);
        }
        sqlite3_finalize(st);
    }
    return store_tx_end(&t, e, NULL);
}

mlp_err store_sweep_delete(store *s, const char *id)
{
    long long sid = store_parse_id(id, "swp_");
    if (sid <= 0) return MLP_ENOTFOUND;
    store_tx t;
    int changes = 0;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, &changes, "DELETE FROM sweeps WHERE id = ?1", "I", sid);
    if (e == MLP_OK && changes == 0) e = MLP_ENOTFOUND;
    return store_tx_end(&t, e, NULL);
}

mlp_err store_sweep_of_run(store *s, const char *run_id, char *sweep_id, int *rung)
{
    long long rid = store_parse_id(run_id, "run_");
    if (rid <= 0) return MLP_ENOTFOUND;
    store_tx t;
    sqlite3_stmt *st = NULL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   "SELECT w.id, w.rung FROM sweep_runs l JOIN sweeps w ON w.id = l.sweep_id"
                   " WHERE l.run_id = ?1",
                   "I", rid);
    if (e == MLP_OK) {
        int r = store_step(&t, st, &e, NULL);
        if (r == 0) e = MLP_ENOTFOUND;
        if (r == 1) {
            snprintf(sweep_id, 24, "swp_%lld", (long long)sqlite3_column_int64(st, 0));
            *rung = sqlite3_column_int(st, 1);
        }
        sqlite3_finalize(st);
    }
    return store_tx_end(&t, e, NULL);
}

mlp_err store_sweep_rung_losses(store *s, const char *sweep_id, int epoch, char (**run_ids)[24],
                                double **vals, int *n)
{
    long long sid = store_parse_id(sweep_id, "swp_");
    if (sid <= 0) return MLP_ENOTFOUND;
    store_tx t;
    sqlite3_stmt *st = NULL;
    char(*ids)[24] = NULL;
    double *v = NULL;
    int cnt = 0, cap = 0, vcap = 0, r;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   "SELECT l.run_id, m.value FROM sweep_runs l JOIN run_metrics m"
                   " ON m.run_id = l.run_id AND m.name = 'val_loss' AND m.step = ?2"
                   " WHERE l.sweep_id = ?1 AND m.value IS NOT NULL ORDER BY l.idx",
                   "Ii", sid, epoch);
    while (e == MLP_OK && (r = store_step(&t, st, &e, NULL)) == 1) {
        if (!store_grow((void **)&ids, &cap, cnt + 1, sizeof *ids) ||
            !store_grow((void **)&v, &vcap, cnt + 1, sizeof *v)) {
            e = MLP_ENOMEM;
            break;
        }
        snprintf(ids[cnt], sizeof ids[cnt], "run_%lld", (long long)sqlite3_column_int64(st, 0));
        v[cnt++] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        free(ids);
        free(v);
        return e;
    }
    *run_ids = ids;
    *vals = v;
    *n = cnt;
    return MLP_OK;
}

mlp_err store_sweep_prune(store *s, const char *run_id, const char *reason)
{
    long long rid = store_parse_id(run_id, "run_");
    if (rid <= 0) return MLP_ENOTFOUND;
    store_tx t;
    int changes = 0;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, &changes,
                   "UPDATE runs SET error = ?2 WHERE id = ?1 AND status IN ('queued', 'running')",
                   "It", rid, reason);
    if (e == MLP_OK && changes == 0) e = MLP_ECONFLICT;
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL, "UPDATE sweep_runs SET pruned = ?2 WHERE run_id = ?1", "It",
                       rid, reason);
    return store_tx_end(&t, e, NULL);
}
