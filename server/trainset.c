/* trainset.c — a run's matrices from its dataset(s) and run spec (see trainset.h): the feature
 * and target columns resolved by name, the seeded validation split, the class list and each
 * row's class index, and the refusals (categorical inputs, unknown columns, a class only the
 * validation rows have) that end a run failed before it trains. */
#include "trainset.h"

#include "rng.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void trainset_clear(trainset *p)
{
    if (!p) return;
    free(p->X);
    free(p->Xv);
    free(p->Y);
    free(p->Yv);
    free(p->lab);
    free(p->labv);
    for (int i = 0; i < p->n_features; i++) free(p->features[i]);
    free(p->features);
    for (int i = 0; i < p->n_labels; i++) free(p->labels[i]);
    free(p->labels);
    memset(p, 0, sizeof *p);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Resolves column names to indices; a categorical column is refused as a numeric input. */
static mlp_err resolve_cols(const ds_table *t, int n, char *const *names, int need_numeric,
                            const char *what, int *idx, mlp_error *err)
{
    for (int i = 0; i < n; i++) {
        idx[i] = ds_table_find(t, names[i]);
        if (idx[i] < 0)
            return mlp_fail(err, MLP_EINVAL, "%s column '%s' is not in the dataset", what,
                            names[i]);
        const ds_column *c = &t->columns[idx[i]];
        if (need_numeric && c->type == COL_CATEGORICAL)
            return mlp_fail(err, MLP_EINVAL,
                            "%s column '%s' is categorical: row %ld is not a number", what, c->name,
                            c->first_text_row);
    }
    return MLP_OK;
}

/* Copies the chosen columns of rows `rows[0..n)` into a dense n x k matrix. */
static void gather(const ds_table *t, const int *rows, int n, const int *cols, int k, float *out)
{
    for (int i = 0; i < n; i++) {
        const float *src = t->data + (size_t)rows[i] * (size_t)t->cols;
        float *dst = out + (size_t)i * (size_t)k;
        for (int c = 0; c < k; c++) dst[c] = src[cols[c]];
    }
}

/* Class index of every row of column `col` of t, against the class list of the training set.
 * Training (classes == NULL): builds the list (levels of a categorical column, or the sorted
 * distinct values of a numeric one). */
static mlp_err class_labels(const ds_table *t, int col, const int *rows, int n, int *lab,
                            int *n_classes, char ***classes, int building, mlp_error *err)
{
    const ds_column *c = &t->columns[col];
    mlp_err rc = MLP_OK;
    if (building) {
        if (c->type == COL_CATEGORICAL) {
            *n_classes = c->n_levels;
            *classes = calloc((size_t)c->n_levels, sizeof **classes);
            if (!*classes) return MLP_ENOMEM;
            for (int i = 0; i < c->n_levels; i++)
                if (!((*classes)[i] = xstrdup(c->levels[i]))) return MLP_ENOMEM;
        } else {
            float *v = malloc((size_t)t->rows * sizeof *v);
            if (!v) return MLP_ENOMEM;
            for (long i = 0; i < t->rows; i++) v[i] = t->data[(size_t)i * (size_t)t->cols + col];
            qsort(v, (size_t)t->rows, sizeof *v, cmp_float);
            int k = 0;
            for (long i = 0; i < t->rows; i++)
                if (i == 0 || v[i] != v[k - 1]) v[k++] = v[i];
            if (k > 10000) {
                free(v);
                return mlp_fail(err, MLP_EINVAL,
                                "target column '%s' has %d distinct values; classification "
                                "takes at most 10000 classes (is this a regression?)",
                                c->name, k);
            }
            *n_classes = k;
            *classes = calloc((size_t)k, sizeof **classes);
            if (!*classes) {
                free(v);
                return MLP_ENOMEM;
            }
            for (int i = 0; i < k; i++) {
                char buf[32];
                snprintf(buf, sizeof buf, "%.9g", (double)v[i]);
                if (!((*classes)[i] = xstrdup(buf))) rc = MLP_ENOMEM;
            }
            free(v);
            if (rc) return rc;
        }
    }
    for (int i = 0; i < n; i++) {
        float cell = t->data[(size_t)rows[i] * (size_t)t->cols + col];
        char buf[32];
        const char *key;
        if (c->type == COL_CATEGORICAL) {
            key = c->levels[(int)cell];
        } else {
            snprintf(buf, sizeof buf, "%.9g", (double)cell);
            key = buf;
        }
        if (building && c->type == COL_CATEGORICAL) {
            lab[i] = (int)cell;
            continue;
        }
        int found = -1;
        for (int k = 0; k < *n_classes; k++)
            if (strcmp((*classes)[k], key) == 0) {
                found = k;
                break;
            }
        if (found < 0)
            return mlp_fail(err, MLP_EINVAL,
                            "validation row %d has class '%s' that the training rows lack",
                            rows[i] + 1, key);
        lab[i] = found;
    }
    return MLP_OK;
}

mlp_err trainset_build(const ds_table *t, const ds_table *tv, const runspec *rs, trainset *p,
                       mlp_error *err)
{
    assert(t && rs && p);
    memset(p, 0, sizeof *p);
    int *fidx = NULL, *tidx = NULL, *rows = NULL, *vrows = NULL;
    mlp_err rc = MLP_OK;
    /* Features: the given ones, or every column that is not a target. */
    tidx = calloc((size_t)rs->n_targets + 1, sizeof *tidx);
    fidx = calloc((size_t)t->cols + 1, sizeof *fidx);
    if (!tidx || !fidx) {
        rc = MLP_ENOMEM;
        goto out;
    }
    int need_numeric_target =
        rs->task == TASK_REGRESSION || (rs->task == TASK_CLASSIFICATION && rs->n_targets > 1);
    rc = resolve_cols(t, rs->n_targets, rs->targets, need_numeric_target, "target", tidx, err);
    if (rc) goto out;
    int d = 0;
    if (rs->n_features) {
        rc = resolve_cols(t, rs->n_features, rs->features, 1, "feature", fidx, err);
        if (rc) goto out;
        d = rs->n_features;
    } else {
        for (int c = 0; c < t->cols; c++) {
            int is_target = 0;
            for (int k = 0; k < rs->n_targets; k++) is_target |= tidx[k] == c;
            if (is_target) continue;
            /* An autoencoder has no target: by default it takes every numeric column. */
            if (t->columns[c].type == COL_CATEGORICAL && rs->task == TASK_AUTOENCODER) continue;
            if (t->columns[c].type == COL_CATEGORICAL) {
                rc = mlp_fail(err, MLP_EINVAL,
                              "feature column '%s' is categorical: row %ld is not a number "
                              "(list numeric columns in \"features\")",
                              t->columns[c].name, t->columns[c].first_text_row);
                goto out;
            }
            fidx[d++] = c;
        }
    }
    if (d == 0) {
        rc = mlp_fail(err, MLP_EINVAL, "no feature columns left");
        goto out;
    }
    p->d = d;
    p->n_features = d;
    p->features = calloc((size_t)d, sizeof *p->features);
    if (!p->features) {
        rc = MLP_ENOMEM;
        goto out;
    }
    for (int i = 0; i < d; i++)
        if (!(p->features[i] = xstrdup(t->columns[fidx[i]].name))) {
            rc = MLP_ENOMEM;
            goto out;
        }

    /* Rows: a seeded shuffle splits off the validation fraction. */
    long N = t->rows;
    rows = malloc((size_t)N * sizeof *rows);
    if (!rows) {
        rc = MLP_ENOMEM;
        goto out;
    }
    for (long i = 0; i < N; i++) rows[i] = (int)i;
    int nv = 0;
    if (!tv && rs->val_fraction > 0) {
        rng r;
        rng_seed(&r, rs->tp.seed ^ 0x5eedf00dULL);
        rng_shuffle(&r, rows, (int)N);
        nv = (int)lround((double)N * rs->val_fraction);
        if (nv == 0) nv = 1;
        if (nv >= N) {
            rc = mlp_fail(err, MLP_EINVAL,
                          "validation.fraction %.3g leaves no training rows out of %ld",
                          rs->val_fraction, N);
            goto out;
        }
        /* keep the row order stable inside each part, for readable debugging */
    }
    int n = (int)N - nv;
    p->n = n;
    int *train_rows = rows, *val_rows = rows + n;
    const ds_table *vt = t;
    if (tv) {
        nv = (int)tv->rows;
        vrows = malloc((size_t)nv * sizeof *vrows);
        if (!vrows) {
            rc = MLP_ENOMEM;
            goto out;
        }
        for (int i = 0; i < nv; i++) vrows[i] = i;
        val_rows = vrows;
        vt = tv;
    }
    p->nv = nv;
    int *vfidx = fidx, *vtidx = tidx, *vmap = NULL;
    if (tv) { /* the validation set's columns, by name */
        vmap = calloc((size_t)d + (size_t)rs->n_targets + 1, sizeof *vmap);
        if (!vmap) {
            rc = MLP_ENOMEM;
            goto out;
        }
        rc = resolve_cols(tv, d, p->features, 1, "validation feature", vmap, err);
        if (!rc && rs->n_targets)
            rc = resolve_cols(tv, rs->n_targets, rs->targets, need_numeric_target,
                              "validation target", vmap + d, err);
        if (rc) {
            free(vmap);
            goto out;
        }
        vfidx = vmap;
        vtidx = vmap + d;
    }
    p->X = malloc((size_t)n * (size_t)d * sizeof(float));
    p->Xv = nv ? malloc((size_t)nv * (size_t)d * sizeof(float)) : NULL;
    if (!p->X || (nv && !p->Xv)) {
        free(vmap);
        rc = MLP_ENOMEM;
        goto out;
    }
    gather(t, train_rows, n, fidx, d, p->X);
    if (nv) gather(vt, val_rows, nv, vfidx, d, p->Xv);

    if (rs->task == TASK_AUTOENCODER) {
        p->k = d;
    } else if (rs->task == TASK_REGRESSION ||
               (rs->task == TASK_CLASSIFICATION && rs->n_targets > 1)) {
        int k = rs->n_targets;
        p->k = k;
        p->Y = malloc((size_t)n * (size_t)k * sizeof(float));
        p->Yv = nv ? malloc((size_t)nv * (size_t)k * sizeof(float)) : NULL;
        if (!p->Y || (nv && !p->Yv)) {
            free(vmap);
            rc = MLP_ENOMEM;
            goto out;
        }
        gather(t, train_rows, n, tidx, k, p->Y);
        if (nv) gather(vt, val_rows, nv, vtidx, k, p->Yv);
        if (rs->task == TASK_CLASSIFICATION) { /* multi-label: targets are the labels */
            p->n_labels = k;
            p->labels = calloc((size_t)k, sizeof *p->labels);
            for (int i = 0; p->labels && i < k; i++) p->labels[i] = xstrdup(rs->targets[i]);
            if (!p->labels) rc = MLP_ENOMEM;
            for (size_t i = 0; !rc && i < (size_t)n * (size_t)k; i++)
                if (p->Y[i] != 0.0f && p->Y[i] != 1.0f)
                    rc = mlp_fail(err, MLP_EINVAL,
                                  "multi-label target columns must hold 0 or 1 (found %g)",
                                  (double)p->Y[i]);
        }
    } else {
        p->lab = malloc((size_t)n * sizeof *p->lab);
        p->labv = nv ? malloc((size_t)nv * sizeof *p->labv) : NULL;
        if (!p->lab || (nv && !p->labv)) {
            free(vmap);
            rc = MLP_ENOMEM;
            goto out;
        }
        rc = class_labels(t, tidx[0], train_rows, n, p->lab, &p->n_labels, &p->labels, 1, err);
        if (!rc && nv)
            rc =
                class_labels(vt, vtidx[0], val_rows, nv, p->labv, &p->n_labels, &p->labels, 0, err);
        if (!rc && p->n_labels < 2)
            rc = mlp_fail(err, MLP_EINVAL, "target column '%s' has only one class", rs->targets[0]);
        /* Binary logistic: one sigmoid output, P(second class). */
        p->k = (rs->net.loss == LOSS_LOGISTIC && p->n_labels == 2) ? 1 : p->n_labels;
    }
    free(vmap);
out:
    free(fidx);
    free(tidx);
    free(rows);
    free(vrows);
    if (rc) trainset_clear(p);
    return rc;
}

mlp_err trainset_prepare(store *st, const runspec *rs, trainset *out, mlp_error *err)
{
    ds_table *t = NULL, *tv = NULL;
    memset(out, 0, sizeof *out);
    mlp_err rc = store_dataset_load(st, rs->dataset_id, &t);
    if (rc) {
        rc = mlp_fail(err, rc == MLP_ENOTFOUND ? MLP_EINVAL : rc, "dataset %s %s", rs->dataset_id,
                      rc == MLP_ENOTFOUND ? "no longer exists" : "could not be read");
        goto out;
    }
    if (rs->val_dataset_id[0]) {
        rc = store_dataset_load(st, rs->val_dataset_id, &tv);
        if (rc) {
            rc = mlp_fail(err, MLP_EINVAL, "validation dataset %s could not be read",
                          rs->val_dataset_id);
            goto out;
        }
    }
    rc = trainset_build(t, tv, rs, out, err);
out:
    ds_table_free(t);
    ds_table_free(tv);
    return rc;
}
