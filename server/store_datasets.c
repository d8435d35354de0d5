/* store_datasets.c — the datasets of store.h: a row in datasets (name, shape, image shape,
 * SHA-256 of the matrix), its columns and categorical levels in dataset_columns and dataset_levels,
 * and the matrix as blob "ds_N" (blob.h) in the .f32 format (f32.h), published inside the
 * transaction that inserts the row (see the DESIGN comment in store.c). */
#include "store_int.h"
#include "clock.h"

#include "f32.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_COLS_SQL                                                                                \
    "SELECT x.id, x.name, x.rows, x.cols, x.bytes, x.sha256, x.created_at, " STORE_OWNER_COLS      \
    ", x.rows_visible, x.image_height, x.image_width, x.image_channels FROM datasets x"

static void ds_from_row(sqlite3_stmt *st, store_dataset *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "ds_%lld", (long long)sqlite3_column_int64(st, 0));
    store_col_str(st, 1, d->name, sizeof d->name);
    d->rows = (long)sqlite3_column_int64(st, 2);
    d->cols = sqlite3_column_int(st, 3);
    d->bytes = sqlite3_column_int64(st, 4);
    store_col_str(st, 5, d->sha256, sizeof d->sha256);
    store_col_str(st, 6, d->created_at, sizeof d->created_at);
    store_owner_from_row(st, 7, &d->owner_id, d->owner, sizeof d->owner, &d->vis);
    d->rows_visible = sqlite3_column_int(st, 10);
    if (sqlite3_column_type(st, 11) != SQLITE_NULL)
        for (int k = 0; k < 3; k++) d->image[k] = sqlite3_column_int(st, 11 + k);
}

/* SQL NULL (NaN) for every part of an unset shape. */
static double image_part(const int image[3], int k)
{
    return image && image[0] > 0 ? (double)image[k] : NAN;
}

static mlp_err ds_get_tx(store_tx *t, long long id, store_dataset *out, mlp_error *err)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = store_prep(t, err, &st, DS_COLS_SQL " WHERE x.id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = store_step(t, st, &e, err);
    if (r == 1)
        ds_from_row(st, out);
    else if (r == 0)
        e = MLP_ENOTFOUND;
    sqlite3_finalize(st);
    return e;
}

/* Columns (with levels, no data) of dataset id into a new table. */
static mlp_err ds_load_columns(store_tx *t, long long id, long rows, int cols, ds_table **out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = MLP_OK;
    int oom = 0;
    ds_table *tb = calloc(1, sizeof *tb);
    if (!tb) return MLP_ENOMEM;
    tb->rows = rows;
    tb->columns = calloc((size_t)cols, sizeof *tb->columns);
    if (!tb->columns) {
        e = MLP_ENOMEM;
        goto out;
    }
    tb->cols = cols;
    e = store_prep(t, NULL, &st,
                   "SELECT idx, name, type, min, max, mean, std, n_levels, first_text_row"
                   " FROM dataset_columns WHERE dataset_id = ?1 ORDER BY idx",
                   "I", id);
    if (e != MLP_OK) goto out;
    int i = 0, r;
    while ((r = store_step(t, st, &e, NULL)) == 1) {
        if (i >= cols || sqlite3_column_int(st, 0) != i) {
            e = MLP_ECORRUPT;
            goto out;
        }
        ds_column *c = &tb->columns[i++];
        c->name = store_col_dup(st, 1, &oom);
        const unsigned char *type = sqlite3_column_text(st, 2);
        c->type =
            type && strcmp((const char *)type, "categorical") == 0 ? COL_CATEGORICAL : COL_NUMERIC;
        c->min = store_col_double(st, 3);
        c->max = store_col_double(st, 4);
        c->mean = store_col_double(st, 5);
        c->std = store_col_double(st, 6);
        int nl = sqlite3_column_int(st, 7);
        c->first_text_row = (long)sqlite3_column_int64(st, 8);
        if (nl > 0) {
            c->levels = calloc((size_t)nl, sizeof *c->levels);
            if (!c->levels)
                oom = 1;
            else
                c->n_levels = nl;
        }
        if (oom || !c->name) {
            e = MLP_ENOMEM;
            goto out;
        }
    }
    if (r < 0) goto out;
    if (i != cols) {
        e = MLP_ECORRUPT;
        goto out;
    }
    sqlite3_finalize(st);
    e = store_prep(t, NULL, &st,
                   "SELECT col, idx, value FROM dataset_levels WHERE dataset_id = ?1"
                   " ORDER BY col, idx",
                   "I", id);
    if (e != MLP_OK) goto out;
    while ((r = store_step(t, st, &e, NULL)) == 1) {
        int ci = sqlite3_column_int(st, 0), li = sqlite3_column_int(st, 1);
        if (ci < 0 || ci >= cols || li < 0 || li >= tb->columns[ci].n_levels ||
            tb->columns[ci].levels[li]) {
            e = MLP_ECORRUPT;
            goto out;
        }
        tb->columns[ci].levels[li] = store_col_dup(st, 2, &oom);
        if (oom || !tb->columns[ci].levels[li]) {
            e = MLP_ENOMEM;
            goto out;
        }
    }
    if (r < 0) goto out;
    for (int c = 0; c < cols; c++)
        for (int l = 0; l < tb->columns[c].n_levels; l++)
            if (!tb->columns[c].levels[l]) e = MLP_ECORRUPT;
out:
    sqlite3_finalize(st);
    if (e != MLP_OK) {
        ds_table_free(tb);
        return e;
    }
    *out = tb;
    return MLP_OK;
}

static mlp_err ds_check_table(const char *name, const ds_table *t, mlp_error *err)
{
    if (!store_name_ok(name, STORE_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "dataset name must be 1 to %d bytes", STORE_NAME_MAX);
    if (!t || t->rows < 0 || t->cols < 1 || !t->columns || (t->rows > 0 && !t->data))
        return mlp_fail(err, MLP_EINVAL, "dataset table is empty or incomplete");
    if ((unsigned long long)t->rows > (unsigned long long)LLONG_MAX / 4 / (unsigned)t->cols ||
        (unsigned long long)t->rows * (unsigned)t->cols > SIZE_MAX / 4)
        return mlp_fail(err, MLP_ETOOLARGE, "dataset of %ld x %d values is too large", t->rows,
                        t->cols);
    for (int i = 0; i < t->cols; i++) {
        const ds_column *c = &t->columns[i];
        if (!c->name || c->n_levels < 0 || (c->n_levels > 0 && !c->levels))
            return mlp_fail(err, MLP_EINVAL, "dataset column %d is incomplete", i + 1);
        for (int l = 0; l < c->n_levels; l++)
            if (!c->levels[l])
                return mlp_fail(err, MLP_EINVAL, "dataset column %d has a missing level", i + 1);
    }
    return MLP_OK;
}

static mlp_err ds_insert_meta(store_tx *t, long long id, const ds_table *tb, mlp_error *err)
{
    sqlite3_stmt *cs = NULL, *ls = NULL;
    mlp_err e =
        store_prep(t, err, &cs,
                   "INSERT INTO dataset_columns (dataset_id, idx, name, type, min, max, mean,"
                   " std, n_levels, first_text_row) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                   NULL);
    if (e == MLP_OK)
        e = store_prep(
            t, err, &ls,
            "INSERT INTO dataset_levels (dataset_id, col, idx, value) VALUES (?1,?2,?3,?4)", NULL);
    for (int i = 0; e == MLP_OK && i < tb->cols; i++) {
        const ds_column *c = &tb->columns[i];
        int num = c->type == COL_NUMERIC;
        sqlite3_reset(cs);
        sqlite3_bind_int64(cs, 1, id);
        sqlite3_bind_int(cs, 2, i);
        sqlite3_bind_text(cs, 3, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(cs, 4, num ? "numeric" : "categorical", -1, SQLITE_STATIC);
        double st4[4] = {c->min, c->max, c->mean, c->std};
        for (int k = 0; k < 4; k++) {
            if (num && isfinite(st4[k]))
                sqlite3_bind_double(cs, 5 + k, st4[k]);
            else
                sqlite3_bind_null(cs, 5 + k);
        }
        sqlite3_bind_int(cs, 9, c->n_levels);
        sqlite3_bind_int64(cs, 10, c->first_text_row);
        if (store_step(t, cs, &e, err) < 0) break;
        for (int l = 0; l < c->n_levels; l++) {
            sqlite3_reset(ls);
            sqlite3_bind_int64(ls, 1, id);
            sqlite3_bind_int(ls, 2, i);
            sqlite3_bind_int(ls, 3, l);
            sqlite3_bind_text(ls, 4, c->levels[l], -1, SQLITE_STATIC);
            if (store_step(t, ls, &e, err) < 0) break;
        }
    }
    sqlite3_finalize(cs);
    sqlite3_finalize(ls);
    return e;
}

mlp_err store_dataset_create(store *s, const char *name, const ds_table *t, store_dataset *out,
                             mlp_error *err)
{
    return store_dataset_create_as(s, USER_BOOTSTRAP_ID, NULL, 0, 0, name, t, out, err);
}

mlp_err store_dataset_create_owned(store *s, const char *name, const ds_table *t,
                                   long long owner_id, long long storage_limit, store_dataset *out,
                                   mlp_error *err)
{
    return store_dataset_create_as(s, owner_id, NULL, 0, storage_limit, name, t, out, err);
}

mlp_err store_dataset_create_as(store *s, long long owner_id, const visibility *vis,
                                int rows_visible, long long storage_limit, const char *name,
                                const ds_table *t, store_dataset *out, mlp_error *err)
{
    user_role role = ROLE_NONE;
    visibility v = VIS_PRIVATE;
    char blob_id[32], sha[F32_SHA_HEX], created[CLOCK_RFC3339_LEN];
    blob_put *bp = NULL;
    int published = 0;
    store_tx x = {0};
    mlp_err e = ds_check_table(name, t, err);
    if (e != MLP_OK) return e;

    /* The heavy I/O (write and fsync) happens before the write transaction, so other writers
     * are not held up. */
    e = blob_put_begin(s->ds_blobs, &bp, err);
    if (e == MLP_OK) e = f32_write(bp, t->data, t->rows, t->cols, sha, err);
    if (e != MLP_OK) goto out;

    e = store_tx_begin(s, 1, &x, err);
    if (e != MLP_OK) goto out;
    clock_rfc3339(0, created);
    long long bytes = (long long)t->rows * t->cols * 4;
    e = store_quota_storage_tx(&x, owner_id, bytes, storage_limit, err);
    if (e != MLP_OK) goto out;
    e = store_user_role_tx(&x, owner_id, &role);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, MLP_EINVAL, "no user with id %lld", owner_id);
    if (e != MLP_OK) goto out;
    v = vis ? *vis : access_default_vis(role);
    e = store_exec(&x, err, NULL,
                   "INSERT INTO datasets (name, rows, cols, bytes, sha256, created_at, owner_id,"
                   " visibility, rows_visible, image_height, image_width, image_channels)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                   "tIiIttItiddd", name, (long long)t->rows, t->cols, bytes, sha, created, owner_id,
                   access_vis_name(v), rows_visible != 0, image_part(t->image, 0),
                   image_part(t->image, 1), image_part(t->image, 2));
    if (e != MLP_OK) goto out;
    long long id = sqlite3_last_insert_rowid(x.db);
    e = ds_insert_meta(&x, id, t, err);
    if (e != MLP_OK) goto out;
    snprintf(blob_id, sizeof blob_id, "ds_%lld", id);
    e = blob_put_commit(bp, blob_id, err); /* takes bp */
    bp = NULL;
    if (e != MLP_OK) goto out;
    published = 1;
    e = store_tx_end(&x, MLP_OK, err);
    if (e == MLP_OK && out) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "ds_%lld", id);
        snprintf(out->name, sizeof out->name, "%s", name);
        out->rows = t->rows;
        out->cols = t->cols;
        out->bytes = bytes;
        memcpy(out->sha256, sha, sizeof out->sha256);
        memcpy(out->created_at, created, sizeof out->created_at);
        out->owner_id = owner_id;
        out->vis = v;
        out->rows_visible = rows_visible != 0;
        store_access a;
        if (store_dataset_access(s, out->id, &a) == MLP_OK)
            memcpy(out->owner, a.owner, sizeof out->owner);
        if (t->image[0] > 0) memcpy(out->image, t->image, sizeof out->image);
    }
out:
    e = store_tx_end(&x, e, err);
    /* No committed row names the matrix: remove it under whichever name it has. */
    blob_put_abort(bp);
    if (e != MLP_OK && published) blob_delete(s->ds_blobs, blob_id);
    return e;
}

mlp_err store_dataset_get(store *s, const char *id, store_dataset *out, ds_table **cols_out)
{
    store_tx t;
    store_dataset d;
    long long n = store_parse_id(id, "ds_");
    if (cols_out) *cols_out = NULL;
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = ds_get_tx(&t, n, &d, NULL);
    if (e == MLP_OK && cols_out) e = ds_load_columns(&t, n, d.rows, d.cols, cols_out);
    if (e == MLP_OK && cols_out) memcpy((*cols_out)->image, d.image, sizeof d.image);
    e = store_tx_end(&t, e, NULL);
    if (e == MLP_OK && out) *out = d;
    if (e != MLP_OK && cols_out && *cols_out) {
        ds_table_free(*cols_out);
        *cols_out = NULL;
    }
    return e;
}

mlp_err store_dataset_load(store *s, const char *id, ds_table **out)
{
    store_dataset d;
    ds_table *tb = NULL;
    blob_get *g = NULL;
    *out = NULL;
    mlp_err e = store_dataset_get(s, id, &d, &tb);
    if (e != MLP_OK) return e;
    e = blob_open(s->ds_blobs, d.id, &g);
    if (e == MLP_OK) e = f32_check(g, d.rows, d.cols);
    if (e == MLP_OK) e = f32_read_all(g, d.rows, d.cols, d.sha256, &tb->data);
    blob_close(g);
    if (e != MLP_OK) {
        ds_table_free(tb);
        return e;
    }
    *out = tb;
    return MLP_OK;
}

mlp_err store_dataset_read_rows(store *s, const char *id, long offset, long limit, float **vals,
                                long *n_rows)
{
    store_dataset d;
    blob_get *g = NULL;
    float *v = NULL;
    *vals = NULL;
    *n_rows = 0;
    if (offset < 0 || limit < 0) return MLP_EINVAL;
    mlp_err e = store_dataset_get(s, id, &d, NULL);
    if (e != MLP_OK) return e;
    long n = 0;
    if (offset < d.rows) n = limit < d.rows - offset ? limit : d.rows - offset;
    size_t cells = (size_t)n * (size_t)d.cols;
    v = f32_alloc(cells * 4);
    if (!v) return MLP_ENOMEM;
    if (cells) {
        e = blob_open(s->ds_blobs, d.id, &g);
        if (e == MLP_OK) e = f32_check(g, d.rows, d.cols);
        if (e == MLP_OK) e = f32_read_rows(g, d.cols, offset, n, v);
        blob_close(g);
    }
    if (e != MLP_OK) {
        free(v);
        return e;
    }
    *vals = v;
    *n_rows = n;
    return MLP_OK;
}

/* ds_from_row as a store_row_fn. */
static mlp_err ds_row(sqlite3_stmt *st, void *d)
{
    ds_from_row(st, d);
    return MLP_OK;
}

mlp_err store_dataset_list(store *s, int limit, int offset, store_dataset **items, int *n,
                           long *total)
{
    return store_dataset_list_for(s, NULL, limit, offset, items, n, total);
}

mlp_err store_dataset_list_for(store *s, const store_view *view, int limit, int offset,
                               store_dataset **items, int *n, long *total)
{
    store_view_args va = store_view_of(view);
    store_tx t;
    sqlite3_stmt *st = NULL;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0) return MLP_EINVAL;
    mlp_err e = store_tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM datasets x WHERE " STORE_VIEW_SQL,
                    STORE_VIEW_FMT, va.all, va.me, va.class_ok, va.owner);
    if (e == MLP_OK)
        e = store_prep(&t, NULL, &st,
                       DS_COLS_SQL " WHERE " STORE_VIEW_SQL
                                   " ORDER BY x.id DESC LIMIT ?5 OFFSET ?6",
                       STORE_VIEW_FMT "ii", va.all, va.me, va.class_ok, va.owner, limit, offset);
    e = store_list(&t, st, e, sizeof **items, ds_row, NULL, (void **)items, n);
    if (e == MLP_OK && total) *total = (long)tot;
    return e;
}

mlp_err store_dataset_set_image(store *s, const char *id, const int image[3], mlp_error *err)
{
    store_tx t;
    long long n = store_parse_id(id, "ds_");
    if (n <= 0) return mlp_fail(err, MLP_ENOTFOUND, "no dataset '%s'", id ? id : "(null)");
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    int changes = 0;
    e = store_exec(&t, err, &changes,
                   "UPDATE datasets SET image_height = ?2, image_width = ?3, image_channels = ?4"
                   " WHERE id = ?1",
                   "Iddd", n, image_part(image, 0), image_part(image, 1), image_part(image, 2));
    if (e == MLP_OK && changes == 0) e = mlp_fail(err, MLP_ENOTFOUND, "no dataset '%s'", id);
    return store_tx_end(&t, e, err);
}

mlp_err store_dataset_delete(store *s, const char *id, mlp_error *err)
{
    store_tx t;
    long long n = store_parse_id(id, "ds_"), run = 0;
    char name[48];
    if (n <= 0) return mlp_fail(err, MLP_ENOTFOUND, "dataset %s not found", id ? id : "(null)");
    mlp_err e = store_tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    int changes = 0;
    e = store_int64(&t, err, &run,
                    "SELECT id FROM runs WHERE status IN ('queued', 'running')"
                    " AND (dataset_id = ?1 OR val_dataset_id = ?1) ORDER BY id LIMIT 1",
                    "I", n);
    if (e == MLP_OK) {
        e = mlp_fail(err, MLP_ECONFLICT,
                     "dataset %s is used by run run_%lld, which is queued or "
                     "running",
                     id, run);
    } else if (e == MLP_ENOTFOUND) {
        e = store_exec(&t, err, &changes, "DELETE FROM datasets WHERE id = ?1", "I", n);
        if (e == MLP_OK && changes == 0)
            e = mlp_fail(err, MLP_ENOTFOUND, "dataset %s not found", id);
    }
    e = store_tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    /* The row is gone; a matrix that cannot be removed now is an orphan removed at the next
     * open. */
    snprintf(name, sizeof name, "ds_%lld", n);
    blob_delete(s->ds_blobs, name);
    return MLP_OK;
}

mlp_err store_dataset_access(store *s, const char *id, store_access *out)
{
    store_dataset d;
    memset(out, 0, sizeof *out);
    mlp_err e = store_dataset_get(s, id, &d, NULL);
    if (e != MLP_OK) return e;
    out->owner_id = d.owner_id;
    memcpy(out->owner, d.owner, sizeof out->owner);
    out->vis = d.vis;
    out->rows_visible = d.rows_visible;
    return MLP_OK;
}

mlp_err store_dataset_set_access(store *s, const char *id, const visibility *vis,
                                 const int *rows_visible)
{
    store_tx t;
    int changes = 0;
    long long n = store_parse_id(id, "ds_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = store_tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = store_exec(&t, NULL, &changes,
                   "UPDATE datasets SET visibility = COALESCE(?2, visibility),"
                   " rows_visible = COALESCE(?3, rows_visible) WHERE id = ?1",
                   "Itt", n, vis ? access_vis_name(*vis) : NULL,
                   rows_visible ? (*rows_visible ? "1" : "0") : NULL);
    if (e == MLP_OK && changes == 0) e = MLP_ENOTFOUND;
    return store_tx_end(&t, e, NULL);
}
