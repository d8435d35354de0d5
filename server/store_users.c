/* store_users.c — the users, API keys and audit log of store.h (class mode): rows of users
 * (migration 0003), api_keys and audit (migration 0004). A user's deletion hands their
 * datasets, runs, models and sweeps to an heir, or purges them, in the same transaction as the
 * delete. */
#include "store_int.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_COLS_SQL                                                                              \
    "SELECT id, name, role, display_name, created_at, quota_storage_bytes, quota_active_runs,"     \
    " quota_train_seconds_per_day, quota_models, quota_predict_per_second FROM users"

#define KEY_COLS_SQL                                                                               \
    "SELECT id, user_id, prefix, created_at, COALESCE(last_used_at, ''),"                          \
    " COALESCE(revoked_at, '') FROM api_keys"

/* Fills u from a USER_COLS_SQL row. MLP_ECORRUPT for a role the schema should have refused. */
static mlp_err user_from_row(sqlite3_stmt *st, store_user *u)
{
    char role[16];
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    store_col_str(st, 1, u->name, sizeof u->name);
    store_col_str(st, 2, role, sizeof role);
    store_col_str(st, 3, u->display_name, sizeof u->display_name);
    store_col_str(st, 4, u->created_at, sizeof u->created_at);
    for (int q = 0; q < STORE_QUOTA_N; q++)
        u->quota[q] =
            sqlite3_column_type(st, 5 + q) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 5 + q);
    return user_role_parse(role, &u->role) == MLP_OK ? MLP_OK : MLP_ECORRUPT;
}

static void key_from_row(sqlite3_stmt *st, store_key *k)
{
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(st, 0);
    k->user_id = sqlite3_column_int64(st, 1);
    store_col_str(st, 2, k->prefix, sizeof k->prefix);
    store_col_str(st, 3, k->created_at, sizeof k->created_at);
    store_col_str(st, 4, k->last_used_at, sizeof k->last_used_at);
    store_col_str(st, 5, k->revoked_at, sizeof k->revoked_at);
}

/* A quota for binding: -1 binds NULL. */
static const char *quota_text(long long v, char buf[24])
{
    if (v < 0) return NULL;
    snprintf(buf, 24, "%lld", v);
    return buf;
}

mlp_err store_user_create(store *s, store_user *u, const unsigned char *digest, const char *prefix,
                          long long *key_id, mlp_error *err)
{
    store_tx t;
    char created[CLOCK_RFC3339_LEN], qb[STORE_QUOTA_N][24];
    if (!store_name_ok(u->name, USER_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "name must be 1 to %d bytes", USER_NAME_MAX);
    if (u->role == ROLE_NONE) return mlp_fail(err, MLP_EINVAL, "a user needs a role");
    clock_rfc3339(0, created);
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    long long taken = 0;
    e = store_int64(&t, err, &taken, "SELECT id FROM users WHERE name = ?1", "t", u->name);
    if (e == MLP_OK) e = mlp_fail(err, MLP_ECONFLICT, "user %s already exists", u->name);
    if (e == MLP_ENOTFOUND)
        e = store_exec(&t, err, NULL,
                       "INSERT INTO users (name, role, display_name, created_at,"
                       " quota_storage_bytes, quota_active_runs, quota_train_seconds_per_day,"
                       " quota_models, quota_predict_per_second)"
                       " VALUES (?1, ?2, ?3, ?4, CAST(?5 AS INTEGER), CAST(?6 AS INTEGER),"
                       " CAST(?7 AS INTEGER), CAST(?8 AS INTEGER), CAST(?9 AS INTEGER))",
                       "ttttttttt", u->name, user_role_name(u->role), u->display_name, created,
                       quota_text(u->quota[0], qb[0]), quota_text(u->quota[1], qb[1]),
                       quota_text(u->quota[2], qb[2]), quota_text(u->quota[3], qb[3]),
                       quota_text(u->quota[4], qb[4]));
    long long id = e == MLP_OK ? sqlite3_last_insert_rowid(t.db) : 0;
    if (e == MLP_OK && digest) {
        e = store_exec(&t, err, NULL,
                       "INSERT INTO api_keys (user_id, digest, prefix, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)",
                       "Ibtt", id, digest, (size_t)32, prefix, created);
        if (e == MLP_OK && key_id) *key_id = sqlite3_last_insert_rowid(t.db);
    }
    e = store_tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    u->id = id;
    snprintf(u->created_at, sizeof u->created_at, "%s", created);
    return MLP_OK;
}

/* One user by the query's bound parameter. */
static mlp_err user_get_by(store *s, const char *where, const char *fmt, const void *arg,
                           store_user *out)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    char sql[512];
    snprintf(sql, sizeof sql, USER_COLS_SQL " WHERE %s", where);
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    if (fmt[0] == 'I')
        e = store_prep(&t, NULL, &st, sql, fmt, *(const long long *)arg);
    else
        e = store_prep(&t, NULL, &st, sql, fmt, (const char *)arg);
    if (e == MLP_OK) {
        int r = store_step(&t, st, &e, NULL);
        if (r == 1)
            e = user_from_row(st, out);
        else if (r == 0)
            e = MLP_ENOTFOUND;
    }
    sqlite3_finalize(st);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_user_get(store *s, const char *name, store_user *out)
{
    if (!name || !store_name_ok(name, USER_NAME_MAX)) return MLP_ENOTFOUND;
    return user_get_by(s, "name = ?1", "t", name, out);
}

mlp_err store_user_get_id(store *s, long long id, store_user *out)
{
    if (id < 1) return MLP_ENOTFOUND;
    return user_get_by(s, "id = ?1", "I", &id, out);
}

/* user_from_row as a store_row_fn. */
static mlp_err user_row(sqlite3_stmt *st, void *u)
{
    return user_from_row(st, u);
}

mlp_err store_user_list(store *s, int limit, int offset, store_user **items, int *n, long *total)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0) return MLP_EINVAL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM users", NULL);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &st, USER_COLS_SQL " ORDER BY id LIMIT ?1 OFFSET ?2", "ii", limit,
                       offset);
    e = store_list(&t, st, e, sizeof **items, user_row, NULL, (void **)items, n);
    if (e == MLP_OK && total) *total = (long)tot;
    return e;
}

mlp_err store_user_update(store *s, store_user *u, unsigned set, mlp_error *err)
{
    store_tx t;
    char qb[STORE_QUOTA_N][24];
    if (!store_name_ok(u->name, USER_NAME_MAX))
        return mlp_fail(err, MLP_ENOTFOUND, "user %.64s not found", u->name);
    if ((set & STORE_USER_SET_ROLE) && u->role == ROLE_NONE)
        return mlp_fail(err, MLP_EINVAL, "a user needs a role");
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    long long id = 0, is_role = (set & STORE_USER_SET_ROLE) != 0;
    char role[16] = "";
    e = store_int64(&t, err, &id, "SELECT id FROM users WHERE name = ?1", "t", u->name);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, MLP_ENOTFOUND, "user %s not found", u->name);
    if (e == MLP_OK && is_role && id == USER_BOOTSTRAP_ID && u->role != ROLE_ADMIN)
        e = mlp_fail(err, MLP_ECONFLICT,
                     "user %s is the bootstrap admin (the API key flags act as it): its role "
                     "stays admin",
                     u->name);
    if (e == MLP_OK) {
        snprintf(role, sizeof role, "%s", is_role ? user_role_name(u->role) : "");
        /* One statement for every field: ?k (0/1) says whether the field is written. */
        e = store_exec(
            &t, err, NULL,
            "UPDATE users SET role = CASE WHEN ?2 THEN ?3 ELSE role END,"
            " display_name = CASE WHEN ?4 THEN ?5 ELSE display_name END,"
            " quota_storage_bytes = CASE WHEN ?6 THEN CAST(?7 AS INTEGER)"
            " ELSE quota_storage_bytes END,"
            " quota_active_runs = CASE WHEN ?8 THEN CAST(?9 AS INTEGER) ELSE quota_active_runs END,"
            " quota_train_seconds_per_day = CASE WHEN ?10 THEN CAST(?11 AS INTEGER)"
            " ELSE quota_train_seconds_per_day END,"
            " quota_models = CASE WHEN ?12 THEN CAST(?13 AS INTEGER) ELSE quota_models END,"
            " quota_predict_per_second = CASE WHEN ?14 THEN CAST(?15 AS INTEGER)"
            " ELSE quota_predict_per_second END"
            " WHERE id = ?1",
            "Iititititititit", id, (int)is_role, role, (set & STORE_USER_SET_DISPLAY) != 0,
            u->display_name, (set & STORE_USER_SET_QUOTA(0)) != 0, quota_text(u->quota[0], qb[0]),
            (set & STORE_USER_SET_QUOTA(1)) != 0, quota_text(u->quota[1], qb[1]),
            (set & STORE_USER_SET_QUOTA(2)) != 0, quota_text(u->quota[2], qb[2]),
            (set & STORE_USER_SET_QUOTA(3)) != 0, quota_text(u->quota[3], qb[3]),
            (set & STORE_USER_SET_QUOTA(4)) != 0, quota_text(u->quota[4], qb[4]));
    }
    e = store_tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    return store_user_get_id(s, id, u);
}

/* Frees a NULL-terminated array of strings. */
static void names_free(char **names)
{
    if (!names) return;
    for (char **p = names; *p; p++) free(*p);
    free(names);
}

/* Appends a copy of text column 0 of every row of st to *v, keeping it NULL-terminated. */
static mlp_err collect_names(store_tx *t, sqlite3_stmt *st, char ***v, int *n, mlp_error *err)
{
    mlp_err e = MLP_OK;
    int cap = *n + 1, r, oom = 0;
    while ((r = store_step(t, st, &e, err)) == 1) {
        if (!store_grow((void **)v, &cap, *n + 2, sizeof **v)) return MLP_ENOMEM;
        (*v)[*n] = store_col_dup(st, 0, &oom);
        if (oom) return MLP_ENOMEM;
        (*n)++;
    }
    return e;
}

/* The models of owner (name and latest_version) into *v (new). */
static mlp_err collect_models(store_tx *t, long long owner, store_model **v, int *n, mlp_error *err)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, r;
    mlp_err e = store_prep(t, err, &st, "SELECT name, last_version FROM models WHERE owner_id = ?1",
                           "I", owner);
    while (e == MLP_OK && (r = store_step(t, st, &e, err)) == 1) {
        if (!store_grow((void **)v, &cap, *n + 1, sizeof **v)) {
            e = MLP_ENOMEM;
            break;
        }
        store_col_str(st, 0, (*v)[*n].name, sizeof(*v)[*n].name);
        (*v)[*n].latest_version = sqlite3_column_int(st, 1);
        (*n)++;
    }
    sqlite3_finalize(st);
    return e;
}

mlp_err store_user_delete(store *s, const char *name, long long heir_id, int purge,
                          store_user *deleted, store_model **purged, int *n_purged, mlp_error *err)
{
    store_tx t;
    store_user u;
    sqlite3_stmt *st = NULL;
    store_model *models = NULL;
    char **datasets = NULL;
    int n_models = 0, n_datasets = 0, cap = 1;
    if (purged) *purged = NULL;
    if (n_purged) *n_purged = 0;
    mlp_err e = store_user_get(s, name, &u);
    if (e == MLP_ENOTFOUND) return mlp_fail(err, e, "user %.64s not found", name ? name : "");
    if (e != MLP_OK) return e;
    if (u.id == USER_BOOTSTRAP_ID)
        return mlp_fail(err, MLP_ECONFLICT,
                        "user %s is the bootstrap admin (the API key flags act as it) and cannot "
                        "be deleted",
                        u.name);
    if (!purge && (heir_id < 1 || heir_id == u.id))
        return mlp_fail(err, MLP_EINVAL, "a deleted user's resources need another owner");
    if (!store_grow((void **)&datasets, &cap, 1, sizeof *datasets)) return MLP_ENOMEM;
    if ((e = store_tx_begin(s, 1, &t, err)) != MLP_OK) goto out;
    long long chk = 0;
    /* The user may have been deleted, or renamed, since the read above. */
    e = store_int64(&t, err, &chk, "SELECT id FROM users WHERE id = ?1 AND name = ?2", "It", u.id,
                    u.name);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "user %s not found", u.name);
    if (e == MLP_OK && !purge) {
        e = store_int64(&t, err, &chk, "SELECT id FROM users WHERE id = ?1", "I", heir_id);
        if (e == MLP_ENOTFOUND) e = mlp_fail(err, MLP_EINVAL, "the heir user does not exist");
        const char *const moves[] = {"UPDATE datasets SET owner_id = ?2 WHERE owner_id = ?1",
                                     "UPDATE runs SET owner_id = ?2 WHERE owner_id = ?1",
                                     "UPDATE models SET owner_id = ?2 WHERE owner_id = ?1",
                                     "UPDATE sweeps SET owner_id = ?2 WHERE owner_id = ?1"};
        for (size_t i = 0; e == MLP_OK && i < sizeof moves / sizeof moves[0]; i++)
            e = store_exec(&t, err, NULL, moves[i], "II", u.id, heir_id);
    } else if (e == MLP_OK) {
        long long run = 0;
        e = store_int64(&t, err, &run,
                        "SELECT r.id FROM runs r WHERE r.status IN ('queued', 'running') AND"
                        " (r.owner_id = ?1 OR r.dataset_id IN (SELECT id FROM datasets WHERE"
                        " owner_id = ?1) OR r.val_dataset_id IN (SELECT id FROM datasets WHERE"
                        " owner_id = ?1)) ORDER BY r.id LIMIT 1",
                        "I", u.id);
        if (e == MLP_OK)
            e = mlp_fail(err, MLP_ECONFLICT,
                         "run run_%lld (of user %s or on their data) is queued or running: "
                         "cancel it before purging",
                         run, u.name);
        else if (e == MLP_ENOTFOUND)
            e = collect_models(&t, u.id, &models, &n_models, err);
        if (e == MLP_OK)
            e = store_prep(&t, err, &st, "SELECT 'ds_' || id FROM datasets WHERE owner_id = ?1",
                           "I", u.id);
        if (e == MLP_OK) e = collect_names(&t, st, &datasets, &n_datasets, err);
        sqlite3_finalize(st);
        st = NULL;
        /* Aliases first: their version foreign key refuses to lose its version. */
        const char *const drops[] = {
            ("DELETE FROM model_aliases WHERE model_id IN"
             " (SELECT id FROM models WHERE owner_id = ?1)"),
            "DELETE FROM models WHERE owner_id = ?1",
            "DELETE FROM sweeps WHERE owner_id = ?1",
            "DELETE FROM runs WHERE owner_id = ?1",
            "DELETE FROM datasets WHERE owner_id = ?1",
        };
        for (size_t i = 0; e == MLP_OK && i < sizeof drops / sizeof drops[0]; i++)
            e = store_exec(&t, err, NULL, drops[i], "I", u.id);
    }
    if (e == MLP_OK) e = store_exec(&t, err, NULL, "DELETE FROM users WHERE id = ?1", "I", u.id);
    e = store_tx_end(&t, e, err);
    if (e != MLP_OK) goto out;
    /* The rows are gone; a matrix that cannot be removed now is an orphan removed at the next
     * open. */
    for (int i = 0; i < n_datasets; i++) blob_delete(s->ds_blobs, datasets[i]);
    if (deleted) *deleted = u;
    if (purged) {
        *purged = models;
        *n_purged = n_models;
        models = NULL;
    }
out:
    store_models_free(models, n_models);
    names_free(datasets);
    return e;
}

mlp_err store_key_create(store *s, long long user_id, const unsigned char *digest,
                         const char *prefix, store_key *out)
{
    store_tx t;
    char created[CLOCK_RFC3339_LEN];
    clock_rfc3339(0, created);
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    long long chk = 0;
    e = store_int64(&t, NULL, &chk, "SELECT id FROM users WHERE id = ?1", "I", user_id);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL,
                       "INSERT INTO api_keys (user_id, digest, prefix, created_at)"
                       " VALUES (?1, ?2, ?3, ?4)",
                       "Ibtt", user_id, digest, (size_t)32, prefix, created);
    long long id = e == MLP_OK ? sqlite3_last_insert_rowid(t.db) : 0;
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK || !out) return e;
    memset(out, 0, sizeof *out);
    out->id = id;
    out->user_id = user_id;
    snprintf(out->prefix, sizeof out->prefix, "%s", prefix);
    snprintf(out->created_at, sizeof out->created_at, "%s", created);
    return MLP_OK;
}

/* key_from_row as a store_row_fn. */
static mlp_err key_row(sqlite3_stmt *st, void *k)
{
    key_from_row(st, k);
    return MLP_OK;
}

mlp_err store_key_list(store *s, long long user_id, store_key **items, int *n)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    *items = NULL;
    *n = 0;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st, KEY_COLS_SQL " WHERE user_id = ?1 ORDER BY id", "I", user_id);
    e = store_list(&t, st, e, sizeof **items, key_row, NULL, (void **)items, n);
    return e;
}

mlp_err store_key_revoke(store *s, long long user_id, long long key_id)
{
    store_tx t;
    char now[CLOCK_RFC3339_LEN];
    clock_rfc3339(0, now);
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    long long chk = 0;
    e = store_int64(&t, NULL, &chk, "SELECT id FROM api_keys WHERE id = ?1 AND user_id = ?2", "II",
                    key_id, user_id);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL,
                       "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                       "It", key_id, now);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_key_lookup(store *s, const unsigned char *digest, principal *who, long long *key_id,
                         long long *last_used)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   "SELECT k.id, u.id, u.name, u.role,"
                   " COALESCE(CAST(strftime('%s', k.last_used_at) AS INTEGER), 0)"
                   " FROM api_keys k JOIN users u ON u.id = k.user_id"
                   " WHERE k.digest = ?1 AND k.revoked_at IS NULL",
                   "b", digest, (size_t)32);
    if (e == MLP_OK) {
        int r = store_step(&t, st, &e, NULL);
        if (r == 0) e = MLP_ENOTFOUND;
        if (r == 1) {
            char role[16];
            memset(who, 0, sizeof *who);
            *key_id = sqlite3_column_int64(st, 0);
            who->id = sqlite3_column_int64(st, 1);
            store_col_str(st, 2, who->name, sizeof who->name);
            store_col_str(st, 3, role, sizeof role);
            *last_used = sqlite3_column_int64(st, 4);
            if (user_role_parse(role, &who->role) != MLP_OK) e = MLP_ECORRUPT;
        }
    }
    sqlite3_finalize(st);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_key_touch(store *s, long long key_id)
{
    store_tx t;
    char now[CLOCK_RFC3339_LEN];
    clock_rfc3339(0, now);
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, NULL, "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1", "It",
                   key_id, now);
    return store_tx_end(&t, e, NULL);
}

void store_audits_free(store_audit *items, int n)
{
    if (!items) return;
    for (int i = 0; i < n; i++) free(items[i].detail);
    free(items);
}

mlp_err store_audit_append(store *s, const principal *actor, const char *action,
                           const char *resource, const char *detail_json)
{
    store_tx t;
    char now[CLOCK_RFC3339_LEN];
    clock_rfc3339(0, now);
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, NULL,
                   "INSERT INTO audit (at, actor_id, actor_name, action, resource, detail)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                   "tItttt", now, actor->id, actor->name, action, resource,
                   detail_json ? detail_json : "{}");
    return store_tx_end(&t, e, NULL);
}

/* One row of the audit list's SELECT. */
static mlp_err audit_row(sqlite3_stmt *st, void *elem)
{
    store_audit *a = elem;
    int oom = 0;
    a->id = sqlite3_column_int64(st, 0);
    store_col_str(st, 1, a->at, sizeof a->at);
    a->actor_id = sqlite3_column_int64(st, 2);
    store_col_str(st, 3, a->actor_name, sizeof a->actor_name);
    store_col_str(st, 4, a->action, sizeof a->action);
    store_col_str(st, 5, a->resource, sizeof a->resource);
    a->detail = store_col_dup(st, 6, &oom);
    return oom ? MLP_ENOMEM : MLP_OK;
}

/* store_audits_free for store_list. */
static void audits_free(void *items, int n)
{
    store_audits_free(items, n);
}

mlp_err store_audit_list(store *s, const char *actor, const char *action, const char *resource,
                         int limit, int offset, store_audit **items, int *n, long *total)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0) return MLP_EINVAL;
#define AUDIT_WHERE                                                                                \
    " WHERE (?1 IS NULL OR actor_name = ?1) AND (?2 IS NULL OR action = ?2)"                       \
    " AND (?3 IS NULL OR resource = ?3)"
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM audit" AUDIT_WHERE, "ttt", actor, action,
                    resource);
    if (e == MLP_OK)
        e = store_prep(
            &t, NULL, &st,
            "SELECT id, at, actor_id, actor_name, action, resource, detail FROM audit" AUDIT_WHERE
            " ORDER BY id DESC LIMIT ?4 OFFSET ?5",
            "tttii", actor, action, resource, limit, offset);
#undef AUDIT_WHERE
    e = store_list(&t, st, e, sizeof **items, audit_row, audits_free, (void **)items, n);
    if (e == MLP_OK && total) *total = (long)tot;
    return e;
}
