/* store_models.c — the models of store.h: models (name, highest version ever given), their
 * versions in model_versions (task, dimensions, meta JSON and the bundle, server/bundle.h, as a
 * BLOB) and aliases. A version's number is never reused while its model exists. */
#include "store_int.h"
#include "clock.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mlp_err store_user_role_tx(store_tx *t, long long id, user_role *out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = store_prep(t, NULL, &st, "SELECT role FROM users WHERE id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = store_step(t, st, &e, NULL);
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1 && user_role_parse((const char *)sqlite3_column_text(st, 0), out) != MLP_OK)
        e = MLP_ECORRUPT;
    sqlite3_finalize(st);
    return e;
}

store_view_args store_view_of(const store_view *v)
{
    store_view_args a = {1, 0, 1, NULL};
    if (!v) return a;
    a.owner = v->owner;
    if (v->viewer) {
        a.all = access_sees_all(v->viewer);
        a.me = v->viewer->id;
        a.class_ok = v->viewer->role >= ROLE_STUDENT;
    }
    return a;
}

void store_owner_from_row(sqlite3_stmt *st, int i, long long *id, char *name, size_t n,
                          visibility *vis)
{
    *id = sqlite3_column_int64(st, i);
    store_col_str(st, i + 1, name, n);
    if (access_vis_parse((const char *)sqlite3_column_text(st, i + 2), vis) != MLP_OK)
        *vis = VIS_PRIVATE;
}

/* MLP_ECONFLICT naming the owner when model `name` exists and owner_id may not change it;
 * *role gets owner_id's role. */
static mlp_err model_publish_check(store_tx *t, const char *name, long long owner_id,
                                   user_role *role, mlp_error *err)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = store_user_role_tx(t, owner_id, role);
    if (e == MLP_ENOTFOUND) return mlp_fail(err, MLP_EINVAL, "no user with id %lld", owner_id);
    if (e != MLP_OK) return e;
    principal who = {.id = owner_id, .role = *role};
    e = store_prep(t, err, &st, "SELECT " STORE_OWNER_COLS " FROM models x WHERE x.name = ?1", "t",
                   name);
    if (e != MLP_OK) return e;
    if (store_step(t, st, &e, err) == 1) {
        long long oid;
        char oname[USER_NAME_MAX + 1];
        visibility vis;
        store_owner_from_row(st, 0, &oid, oname, sizeof oname, &vis);
        if (access_change(&who, oid, VIS_PUBLIC) != ACCESS_OK)
            e = mlp_fail(err, MLP_ECONFLICT,
                         "model '%s' is owned by user '%s': only its owner, staff or admin may "
                         "publish versions to it",
                         name, oname);
    }
    sqlite3_finalize(st);
    return e;
}

/* Adds version (last_version + 1) of model `name` inside t. */
mlp_err store_model_add_tx(store_tx *t, const char *name, long long run_id, long long owner_id,
                           const char *task, int input_dim, int output_dim, const char *meta_json,
                           const void *blob, size_t blob_len, int *version, mlp_error *err)
{
    char now[CLOCK_RFC3339_LEN];
    long long mid = 0, ver = 0;
    user_role role = ROLE_NONE;
    clock_rfc3339(0, now);
    mlp_err e = model_publish_check(t, name, owner_id, &role, err);
    if (e == MLP_OK)
        e = store_exec(t, err, NULL,
                       "INSERT INTO models (name, created_at, owner_id, visibility)"
                       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
                       "ttIt", name, now, owner_id, access_vis_name(access_default_vis(role)));
    if (e == MLP_OK)
        e = store_exec(t, err, NULL,
                       "UPDATE models SET last_version = last_version + 1 WHERE name = ?1", "t",
                       name);
    if (e == MLP_OK)
        e = store_int64(t, err, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e == MLP_OK)
        e = store_int64(t, err, &ver, "SELECT last_version FROM models WHERE id = ?1", "I", mid);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, MLP_EIO, "model %s vanished while adding", name);
    if (e == MLP_OK && ver > INT_MAX) e = mlp_fail(err, MLP_ETOOLARGE, "too many versions");
    if (e == MLP_OK)
        e = store_exec(t, err, NULL,
                       "INSERT INTO model_versions (model_id, version, run_id, task, input_dim,"
                       " output_dim, meta_json, blob, created_at)"
                       " VALUES (?1, ?2, NULLIF(?3, 0), ?4, ?5, ?6, ?7, ?8, ?9)",
                       "IIItiitbt", mid, ver, run_id, task, input_dim, output_dim, meta_json,
                       blob ? blob : (const void *)"", blob_len, now);
    if (e == MLP_OK) *version = (int)ver;
    return e;
}

mlp_err store_model_check(const char *name, const char *task, int input_dim, int output_dim,
                          const char *meta_json, const void *blob, size_t blob_len, mlp_error *err)
{
    if (!store_name_ok(name, STORE_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "model name must be 1 to %d bytes", STORE_NAME_MAX);
    if (!store_name_ok(task, STORE_TASK_MAX))
        return mlp_fail(err, MLP_EINVAL, "task must be 1 to %d bytes", STORE_TASK_MAX);
    if (input_dim < 1 || output_dim < 1)
        return mlp_fail(err, MLP_EINVAL, "model dimensions must be >= 1");
    if (!meta_json) return mlp_fail(err, MLP_EINVAL, "model has no meta_json");
    if (!blob && blob_len) return mlp_fail(err, MLP_EINVAL, "model blob is missing");
    return MLP_OK;
}

void store_model_versions_free(store_model_version *v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i].meta_json);
    free(v);
}

void store_model_clear(store_model *m)
{
    if (!m) return;
    free(m->versions);
    free(m->aliases);
    m->versions = NULL;
    m->aliases = NULL;
    m->n_versions = m->n_aliases = 0;
}

void store_models_free(store_model *m, int n)
{
    if (!m || n <= 0) return; /* store_model_list never hands out an empty array */
    for (int i = 0; i < n; i++) store_model_clear(&m[i]);
    free(m);
}

/* Versions (ascending) and aliases of model mid into m (name already set). */
static mlp_err model_fill(store_tx *t, long long mid, store_model *m)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, r;
    mlp_err e = store_prep(
        t, NULL, &st, "SELECT version FROM model_versions WHERE model_id = ?1 ORDER BY version",
        "I", mid);
    while (e == MLP_OK && (r = store_step(t, st, &e, NULL)) == 1) {
        if (!store_grow((void **)&m->versions, &cap, m->n_versions + 1, sizeof *m->versions)) {
            e = MLP_ENOMEM;
            break;
        }
        m->versions[m->n_versions++] = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    m->latest_version = m->n_versions ? m->versions[m->n_versions - 1] : 0;
    cap = 0;
    if (e == MLP_OK)
        e = store_prep(
            t, NULL, &st,
            "SELECT alias, version FROM model_aliases WHERE model_id = ?1 ORDER BY alias", "I",
            mid);
    while (e == MLP_OK && (r = store_step(t, st, &e, NULL)) == 1) {
        if (!store_grow((void **)&m->aliases, &cap, m->n_aliases + 1, sizeof *m->aliases)) {
            e = MLP_ENOMEM;
            break;
        }
        store_alias *a = &m->aliases[m->n_aliases++];
        store_col_str(st, 0, a->alias, sizeof a->alias);
        a->version = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (e != MLP_OK) store_model_clear(m);
    return e;
}

mlp_err store_model_add_version(store *s, const char *name, const char *run_id, const char *task,
                                int input_dim, int output_dim, const char *meta_json,
                                const void *blob, size_t blob_len, int *version)
{
    return store_model_add_version_as(s, USER_BOOTSTRAP_ID, name, run_id, task, input_dim,
                                      output_dim, meta_json, blob, blob_len, version, NULL);
}

mlp_err store_model_add_version_as(store *s, long long owner_id, const char *name,
                                   const char *run_id, const char *task, int input_dim,
                                   int output_dim, const char *meta_json, const void *blob,
                                   size_t blob_len, int *version, mlp_error *err)
{
    store_tx t;
    int ver = 0;
    long long rid = 0;
    mlp_err e =
        store_model_check(name, task, input_dim, output_dim, meta_json, blob, blob_len, err);
    if (e != MLP_OK) return e;
    if (run_id && run_id[0] && (rid = store_parse_id(run_id, "run_")) <= 0)
        return mlp_fail(err, MLP_EINVAL, "run id %s is malformed", run_id);
    e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    e = store_model_add_tx(&t, name, rid, owner_id, task, input_dim, output_dim, meta_json, blob,
                           blob_len, &ver, err);
    e = store_tx_end(&t, e, err);
    if (e == MLP_OK && version) *version = ver;
    return e;
}

mlp_err store_model_list(store *s, int limit, int offset, store_model **items, int *n, long *total)
{
    return store_model_list_for(s, NULL, limit, offset, items, n, total);
}

mlp_err store_model_list_for(store *s, const store_view *view, int limit, int offset,
                             store_model **items, int *n, long *total)
{
    store_view_args va = store_view_of(view);
    store_tx t;
    sqlite3_stmt *st = NULL;
    store_model *v = NULL;
    long long *ids = NULL;
    int cnt = 0, cap = 0, idcap = 0, r;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0) return MLP_EINVAL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM models x WHERE " STORE_VIEW_SQL,
                    STORE_VIEW_FMT, va.all, va.me, va.class_ok, va.owner);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &st,
                       "SELECT x.id, x.name, " STORE_OWNER_COLS
                       " FROM models x WHERE " STORE_VIEW_SQL " ORDER BY x.name LIMIT ?5 OFFSET ?6",
                       STORE_VIEW_FMT "ii", va.all, va.me, va.class_ok, va.owner, limit, offset);
    if (e != MLP_OK) goto out;
    if (!store_grow((void **)&v, &cap, 1, sizeof *v)) {
        e = MLP_ENOMEM;
        goto out;
    }
    while ((r = store_step(&t, st, &e, NULL)) == 1) {
        if (!store_grow((void **)&v, &cap, cnt + 1, sizeof *v) ||
            !store_grow((void **)&ids, &idcap, cnt + 1, sizeof *ids)) {
            e = MLP_ENOMEM;
            goto out;
        }
        ids[cnt] = sqlite3_column_int64(st, 0);
        store_col_str(st, 1, v[cnt].name, sizeof v[cnt].name);
        store_owner_from_row(st, 2, &v[cnt].owner_id, v[cnt].owner, sizeof v[cnt].owner,
                             &v[cnt].vis);
        cnt++;
    }
    sqlite3_finalize(st);
    st = NULL;
    for (int i = 0; e == MLP_OK && i < cnt; i++) e = model_fill(&t, ids[i], &v[i]);
out:
    sqlite3_finalize(st);
    free(ids);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK || cnt == 0) {
        for (int i = 0; i < cnt; i++) store_model_clear(&v[i]);
        free(v);
        v = NULL;
        if (e != MLP_OK) return e;
    }
    *items = v;
    *n = cnt;
    if (total) *total = (long)tot;
    return MLP_OK;
}

#define MV_COLS_SQL_NOFROM                                                                         \
    "SELECT v.version, v.run_id, v.task, v.input_dim, v.output_dim, v.meta_json, v.created_at"
#define MV_COLS_SQL MV_COLS_SQL_NOFROM " FROM model_versions v"

static mlp_err mv_from_row(sqlite3_stmt *st, const char *name, store_model_version *v)
{
    int oom = 0;
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->version = sqlite3_column_int(st, 0);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL)
        snprintf(v->run_id, sizeof v->run_id, "run_%lld", (long long)sqlite3_column_int64(st, 1));
    store_col_str(st, 2, v->task, sizeof v->task);
    v->input_dim = sqlite3_column_int(st, 3);
    v->output_dim = sqlite3_column_int(st, 4);
    v->meta_json = store_col_dup(st, 5, &oom);
    store_col_str(st, 6, v->created_at, sizeof v->created_at);
    return oom ? MLP_ENOMEM : MLP_OK;
}

/* mv_from_row as a store_row_fn; the caller fills in the model's name. */
static mlp_err mv_row(sqlite3_stmt *st, void *v)
{
    return mv_from_row(st, "", v);
}

mlp_err store_model_get(store *s, const char *name, store_model *out,
                        store_model_version **versions, int *n_versions)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    store_model m;
    store_model_version *v = NULL;
    int cnt = 0, r;
    long long mid = 0;
    memset(&m, 0, sizeof m);
    if (versions) *versions = NULL;
    if (n_versions) *n_versions = 0;
    if (!name) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st,
                   "SELECT x.id, " STORE_OWNER_COLS " FROM models x WHERE x.name = ?1", "t", name);
    if (e == MLP_OK) {
        r = store_step(&t, st, &e, NULL);
        if (r == 0) e = MLP_ENOTFOUND;
        if (r == 1) {
            mid = sqlite3_column_int64(st, 0);
            store_owner_from_row(st, 1, &m.owner_id, m.owner, sizeof m.owner, &m.vis);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (e != MLP_OK) goto out;
    snprintf(m.name, sizeof m.name, "%s", name);
    e = model_fill(&t, mid, &m);
    if (e != MLP_OK || !versions) goto out;
    e = store_prep(&t, NULL, &st, MV_COLS_SQL " WHERE v.model_id = ?1 ORDER BY v.version", "I",
                   mid);
    if (e == MLP_OK) e = store_collect(&t, st, sizeof *v, mv_row, (void **)&v, &cnt);
    for (int i = 0; i < cnt; i++) snprintf(v[i].name, sizeof v[i].name, "%s", name);
out:
    sqlite3_finalize(st);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        store_model_clear(&m);
        store_model_versions_free(v, cnt);
        return e;
    }
    if (out)
        *out = m;
    else
        store_model_clear(&m);
    if (versions) {
        *versions = v;
        if (n_versions) *n_versions = cnt;
    }
    return MLP_OK;
}

mlp_err store_model_version_get(store *s, const char *name, int version, store_model_version *info,
                                void **blob, size_t *len)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    store_model_version v;
    void *buf = NULL;
    size_t blen = 0;
    memset(&v, 0, sizeof v);
    if (blob) *blob = NULL;
    if (len) *len = 0;
    if (!name || version < 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    /* The blob column is only read when the caller wants it (it may be large). */
    e = store_prep(&t, NULL, &st,
                   MV_COLS_SQL_NOFROM ", CASE WHEN ?3 THEN v.blob END"
                                      " FROM model_versions v JOIN models m ON m.id = v.model_id"
                                      " WHERE m.name = ?1 AND (?2 = 0 OR v.version = ?2)"
                                      " ORDER BY v.version DESC LIMIT 1",
                   "tii", name, version, blob != NULL);
    int r = e == MLP_OK ? store_step(&t, st, &e, NULL) : -1;
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1) e = mv_from_row(st, name, &v);
    if (r == 1 && e == MLP_OK && blob) {
        const void *p = sqlite3_column_blob(st, 7);
        blen = (size_t)sqlite3_column_bytes(st, 7);
        buf = malloc(blen ? blen : 1);
        if (!buf)
            e = MLP_ENOMEM;
        else if (blen)
            memcpy(buf, p, blen);
    }
    sqlite3_finalize(st);
    e = store_tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        free(v.meta_json);
        free(buf);
        return e;
    }
    if (info)
        *info = v;
    else
        free(v.meta_json);
    if (blob) *blob = buf;
    if (len) *len = blen;
    return MLP_OK;
}

mlp_err store_model_alias_resolve(store *s, const char *name, const char *alias, int *version)
{
    store_tx t;
    long long v = 0;
    if (!name || !alias) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &v,
                    "SELECT a.version FROM model_aliases a JOIN models m ON m.id = a.model_id"
                    " WHERE m.name = ?1 AND a.alias = ?2",
                    "tt", name, alias);
    e = store_tx_end(&t, e, NULL);
    if (e == MLP_OK) *version = (int)v;
    return e;
}

mlp_err store_model_alias_set(store *s, const char *name, const char *alias, int version)
{
    store_tx t;
    long long mid = 0, found = 0;
    if (!store_name_ok(alias, STORE_NAME_MAX) || version < 1) return MLP_EINVAL;
    if (!name) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e == MLP_OK)
        e = store_int64(&t, NULL, &found,
                        "SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2", "Ii",
                        mid, version);
    if (e == MLP_OK)
        e = store_exec(&t, NULL, NULL,
                       "INSERT INTO model_aliases (model_id, alias, version) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version",
                       "Iti", mid, alias, version);
    return store_tx_end(&t, e, NULL);
}

mlp_err store_model_alias_delete(store *s, const char *name, const char *alias)
{
    store_tx t;
    int changes = 0;
    if (!name || !alias) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, &changes,
                   "DELETE FROM model_aliases WHERE alias = ?2"
                   " AND model_id = (SELECT id FROM models WHERE name = ?1)",
                   "tt", name, alias);
    if (e == MLP_OK && changes == 0) e = MLP_ENOTFOUND;
    return store_tx_end(&t, e, NULL);
}

mlp_err store_model_version_delete(store *s, const char *name, int version, mlp_error *err)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long mid = 0, found = 0, left = 0;
    if (!name) return mlp_fail(err, MLP_ENOTFOUND, "model not found");
    if (version < 1) return mlp_fail(err, MLP_EINVAL, "version must be >= 1");
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    e = store_int64(&t, err, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e == MLP_ENOTFOUND) {
        e = mlp_fail(err, e, "model %s not found", name);
        goto out;
    }
    if (e == MLP_OK)
        e = store_int64(&t, err, &found,
                        "SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2", "Ii",
                        mid, version);
    if (e == MLP_ENOTFOUND) {
        e = mlp_fail(err, e, "model %s has no version %d", name, version);
        goto out;
    }
    if (e == MLP_OK)
        e = store_prep(&t, err, &st,
                       "SELECT alias FROM model_aliases WHERE model_id = ?1 AND version = ?2"
                       " ORDER BY alias LIMIT 1",
                       "Ii", mid, version);
    if (e == MLP_OK && store_step(&t, st, &e, err) == 1)
        e = mlp_fail(err, MLP_ECONFLICT, "version %d of model %s is aliased as \"%s\"", version,
                     name, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if (e == MLP_OK)
        e = store_exec(&t, err, NULL,
                       "DELETE FROM model_versions WHERE model_id = ?1 AND version = ?2", "Ii", mid,
                       version);
    if (e == MLP_OK)
        e = store_int64(&t, err, &left, "SELECT COUNT(*) FROM model_versions WHERE model_id = ?1",
                        "I", mid);
    if (e == MLP_OK && left == 0)
        e = store_exec(&t, err, NULL, "DELETE FROM models WHERE id = ?1", "I", mid);
out:
    sqlite3_finalize(st);
    return store_tx_end(&t, e, err);
}

/* The slot of name in s->acache (FNV-1a). */
static struct store_acache *acache_slot(store *s, const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return &s->acache[h % (sizeof s->acache / sizeof s->acache[0])];
}

mlp_err store_model_access(store *s, const char *name, store_access *out)
{
    store_tx t;
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    if (!name || strlen(name) > STORE_NAME_MAX) return MLP_ENOTFOUND;
    /* A cached answer stands while no write has committed since it was read; gen is taken
     * before the read, so a write racing the read makes the entry stale, never wrong. */
    struct store_acache *slot = acache_slot(s, name);
    unsigned long long gen = atomic_load(&s->wgen) + 1; /* + 1: 0 marks an empty slot */
    int hit = 0, found = 0;
    pthread_mutex_lock(&s->amu);
    if (slot->gen == gen && strcmp(slot->name, name) == 0) {
        hit = 1;
        found = slot->found;
        *out = slot->a;
    }
    pthread_mutex_unlock(&s->amu);
    if (hit) return found ? MLP_OK : MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_prep(&t, NULL, &st, "SELECT " STORE_OWNER_COLS " FROM models x WHERE x.name = ?1",
                   "t", name);
    int r = e == MLP_OK ? store_step(&t, st, &e, NULL) : -1;
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1)
        store_owner_from_row(st, 0, &out->owner_id, out->owner, sizeof out->owner, &out->vis);
    sqlite3_finalize(st);
    e = store_tx_end(&t, e, NULL);
    if (e == MLP_OK || e == MLP_ENOTFOUND) {
        pthread_mutex_lock(&s->amu);
        snprintf(slot->name, sizeof slot->name, "%s", name);
        slot->gen = gen;
        slot->found = e == MLP_OK;
        slot->a = *out;
        pthread_mutex_unlock(&s->amu);
    }
    return e;
}

mlp_err store_model_set_visibility(store *s, const char *name, visibility vis)
{
    store_tx t;
    int changes = 0;
    if (!name) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, &changes, "UPDATE models SET visibility = ?2 WHERE name = ?1", "tt",
                   name, access_vis_name(vis));
    if (e == MLP_OK && changes == 0) e = MLP_ENOTFOUND;
    return store_tx_end(&t, e, NULL);
}
