/* microscope.c — an autoencoder as a microscope on a dataset:
 *   GET /api/v1/models/{name}/versions/{version}/outliers?dataset_id=&top=&label=
 *   GET /api/v1/models/{name}/versions/{version}/codes?dataset_id=&limit=&label=
 * Outliers scores every row of the dataset by reconstruction error (net_recon_error: the mean
 * squared error per value, in the data's own units) and answers the `top` worst, each with its
 * input and reconstruction; codes answers the code of each of the first `limit` rows and a 2-D
 * map of them: the code itself when it is 2-D (a 1-D code is drawn at y = 0), else the codes'
 * first two principal components (core/pca.h, fitted on the codes answered).
 *
 * Both read the dataset in blocks of at most MS_BLOCK rows and MS_BLOCK_VALUES values
 * (store_dataset_read_rows), so memory is bounded by a block plus the answer (at most
 * MS_ANSWER_VALUES numbers: a larger top or limit for so wide a model is a 400) whatever the
 * dataset's size, and run the model's own
 * forward pass (net_predict, net_encode) on each block, each followed by sched_infer_done as
 * every inference is.
 *
 * Columns: the model's inputs are the dataset's columns of the same names (the model's feature
 * names; a model without names reads the dataset's first input_dim columns); a missing or
 * categorical one is a 400 naming it. The label of a row is read from the column `?label=`
 * names; without it, from the first column outside the model's inputs named label, class, target
 * or y (any case); else the first categorical column outside them; else rows have no label. A
 * categorical cell's label is its level, a numeric one its value printed as %.9g. */
#include "handlers.h"
#include "infer.h"
#include "pca.h"
#include "problem.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MS_BLOCK         512               /* dataset rows read and run at a time, at most */
#define MS_BLOCK_VALUES  ((size_t)1 << 21) /* values of one block (inputs or dataset cells) */
#define MS_ANSWER_VALUES ((long)1 << 23)   /* numbers in one answer (8 Mi: some 100 MB of JSON) */
#define MS_TOP_MAX       200 /* ?top= bound: each answered row carries 2 × d values */
#define MS_TOP_DEFAULT   20
#define MS_LIMIT_MAX     100000 /* ?limit= bound of /codes */
#define MS_LIMIT_DEFAULT 5000

typedef struct {
    reg_model *m;     /* counted reference */
    const net *nt;    /* borrowed from m */
    int d;            /* model input width */
    store_dataset ds; /* the dataset's info */
    ds_table *cols;   /* its columns, without data (new) */
    int *col_of;      /* d: dataset column of each model input (new) */
    int label_col;    /* dataset column of the label, or -1 */
} ms_scope;

static void scope_close(http_req *req, ms_scope *s)
{
    reg_release(req->app->reg, s->m);
    ds_table_free(s->cols);
    free(s->col_of);
}

/* 1 when column c is one of the model's inputs. */
static int is_input(const ms_scope *s, int c)
{
    for (int i = 0; i < s->d; i++)
        if (s->col_of[i] == c) return 1;
    return 0;
}

static int find_label(http_req *req, http_resp *resp, ms_scope *s)
{
    const ds_table *t = s->cols;
    const char *want = http_query(req, "label");
    s->label_col = -1;
    if (want) {
        s->label_col = ds_table_find(t, want);
        if (s->label_col < 0) {
            api_failf(req, resp, 400, "label", "dataset '%s' has no column '%s'", s->ds.id, want);
            return -1;
        }
        return 0;
    }
    static const char *const names[] = {"label", "class", "target", "y"};
    for (size_t k = 0; k < sizeof names / sizeof *names && s->label_col < 0; k++)
        for (int c = 0; c < t->cols; c++)
            if (!strcasecmp(t->columns[c].name, names[k]) && !is_input(s, c)) {
                s->label_col = c;
                break;
            }
    for (int c = 0; c < t->cols && s->label_col < 0; c++)
        if (t->columns[c].type == COL_CATEGORICAL && !is_input(s, c)) s->label_col = c;
    return 0;
}

/* Resolves the model (an autoencoder), the dataset and the column mapping. 0, or -1 after
 * answering. */
static int scope_open(http_req *req, http_resp *resp, const char *what, ms_scope *s)
{
    memset(s, 0, sizeof *s);
    s->label_col = -1;
    if (!(s->m = infer_model(req, resp))) return -1;
    s->nt = reg_model_net(s->m);
    const net_spec *sp = reg_model_spec(s->m);
    s->d = sp->n_in;
    if (sp->task != TASK_AUTOENCODER || net_code_dim(s->nt) < 1) {
        api_failf(req, resp, 400, NULL,
                  "model '%s' version %d is a %s model: %s need an autoencoder",
                  reg_model_name(s->m), reg_model_version(s->m), reg_model_task(s->m), what);
        return -1;
    }
    const char *id = http_query(req, "dataset_id");
    if (!id || !*id) {
        api_failf(req, resp, 400, "dataset_id", "dataset_id is required (the dataset to read)");
        return -1;
    }
    mlp_err rc = store_dataset_get(req->app->store, id, &s->ds, &s->cols);
    /* The answer shows rows (inputs, labels, codes): the caller needs the dataset's rows rule,
     * as for GET …/rows; one it may not see is answered as missing. */
    access_verdict v =
        rc ? ACCESS_OK : access_rows(&req->who, s->ds.owner_id, s->ds.vis, s->ds.rows_visible);
    if (rc == MLP_ENOTFOUND || v == ACCESS_HIDDEN) {
        api_failf(req, resp, 404, "dataset_id", "no dataset '%s'", id);
        return -1;
    }
    if (v == ACCESS_DENIED) {
        api_failf(req, resp, 403, "dataset_id",
                  "the rows of dataset '%s' are visible only to its owner (%s), staff and admin "
                  "(rows_visible is false)",
                  id, s->ds.owner);
        return -1;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    if (!(s->col_of = malloc((size_t)s->d * sizeof *s->col_of))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return -1;
    }
    int nf = 0;
    char *const *feat = reg_model_features(s->m, &nf);
    if (nf != s->d && s->cols->cols < s->d) {
        api_failf(req, resp, 400, "dataset_id",
                  "dataset '%s' has %d columns; the model reads %d (it has no feature names)",
                  s->ds.id, s->cols->cols, s->d);
        return -1;
    }
    for (int i = 0; i < s->d; i++) {
        int c = nf == s->d ? ds_table_find(s->cols, feat[i]) : i;
        if (c < 0) {
            api_failf(req, resp, 400, "dataset_id",
                      "dataset '%s' has no column '%s' (input %d of model '%s')", s->ds.id, feat[i],
                      i + 1, reg_model_name(s->m));
            return -1;
        }
        if (s->cols->columns[c].type == COL_CATEGORICAL) {
            api_failf(req, resp, 400, "dataset_id",
                      "column '%s' of dataset '%s' is categorical; the model reads numbers there",
                      s->cols->columns[c].name, s->ds.id);
            return -1;
        }
        s->col_of[i] = c;
    }
    return find_label(req, resp, s);
}

/* Rows per block for this model and dataset: MS_BLOCK, fewer for wide rows, at least 1. */
static long block_rows(const ms_scope *s)
{
    size_t w = (size_t)(s->d > s->cols->cols ? s->d : s->cols->cols);
    size_t b = MS_BLOCK_VALUES / w;
    return b < 1 ? 1 : b > MS_BLOCK ? MS_BLOCK : (long)b;
}

/* 400 naming `name` when n rows of `per` numbers each pass MS_ANSWER_VALUES; -1 after it. */
static int answer_fits(http_req *req, http_resp *resp, const char *name, long n, long per)
{
    if (n <= MS_ANSWER_VALUES / per) return 0;
    api_failf(
        req, resp, 400, name,
        "%s %ld is too many for this model: an answer holds at most %ld numbers (%ld per row)",
        name, n, MS_ANSWER_VALUES, per);
    return -1;
}

/* ?name= as a whole number in [lo, hi] (def when absent) in *v; -1 after a 400. */
static int int_query(http_req *req, http_resp *resp, const char *name, long lo, long hi, long def,
                     long *v)
{
    const char *q = http_query(req, name);
    *v = def;
    if (!q) return 0;
    char *end;
    long x = strtol(q, &end, 10);
    if (end == q || *end || x < lo || x > hi) {
        api_failf(req, resp, 400, name, "%s must be a whole number from %ld to %ld, not '%s'", name,
                  lo, hi, q);
        return -1;
    }
    *v = x;
    return 0;
}

/* The label of a row whose dataset values are `row` (cols values), or JSON null. */
static json_t *label_json(const ms_scope *s, const float *row)
{
    if (s->label_col < 0) return json_null();
    const ds_column *c = &s->cols->columns[s->label_col];
    float v = row[s->label_col];
    if (c->type == COL_CATEGORICAL && v >= 0 && (int)v < c->n_levels)
        return json_string(c->levels[(int)v]);
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)v);
    return json_string(b);
}

static json_t *floats_json(const float *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
    return a;
}

/* Reads block [off, off+want) of the dataset: *vals (new, n × cols) and the model inputs X
 * (n × d, caller's). */
static mlp_err read_block(http_req *req, const ms_scope *s, long off, long want, float **vals,
                          long *n, float *X)
{
    mlp_err rc = store_dataset_read_rows(req->app->store, s->ds.id, off, want, vals, n);
    if (rc) return rc;
    size_t nc = (size_t)s->cols->cols;
    for (long r = 0; r < *n; r++)
        for (int i = 0; i < s->d; i++)
            X[(size_t)r * (size_t)s->d + (size_t)i] =
                (*vals)[(size_t)r * nc + (size_t)s->col_of[i]];
    return MLP_OK;
}

typedef struct {
    double err; /* ranking key: NaN ranks as +inf */
    long row;
    float *x, *y; /* d values each, into the heap's slab */
    json_t *label;
} worst;

/* a ranks below b: smaller error, or equal error and a later row. */
static int below(const worst *a, const worst *b)
{
    return a->err < b->err || (a->err == b->err && a->row > b->row);
}

static void sift_down(worst *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && below(&h[l], &h[m])) m = l;
        if (r < n && below(&h[r], &h[m])) m = r;
        if (m == i) return;
        worst t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(worst *h, int i)
{
    while (i > 0 && below(&h[i], &h[(i - 1) / 2])) {
        worst t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static int by_rank(const void *a, const void *b)
{
    const worst *x = a, *y = b;
    return below(y, x) ? -1 : below(x, y) ? 1 : 0;
}

void ms_outliers(http_req *req, http_resp *resp)
{
    ms_scope s;
    long top;
    float *X = NULL, *Y = NULL, *scratch = NULL, *vals = NULL, *slab = NULL;
    worst *h = NULL;
    int nh = 0;
    if (scope_open(req, resp, "outliers", &s) ||
        int_query(req, resp, "top", 1, MS_TOP_MAX, MS_TOP_DEFAULT, &top) ||
        answer_fits(req, resp, "top", top, 2 * (long)s.d))
        goto out;
    size_t d = (size_t)s.d;
    long bl = block_rows(&s);
    X = malloc((size_t)bl * d * sizeof *X);
    Y = malloc((size_t)bl * d * sizeof *Y);
    scratch = malloc(net_scratch_floats(s.nt, (int)bl) * sizeof *scratch);
    slab = malloc((size_t)top * 2 * d * sizeof *slab);
    h = calloc((size_t)top, sizeof *h);
    if (!X || !Y || !scratch || !slab || !h) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    for (long i = 0; i < top; i++) {
        h[i].x = slab + (size_t)i * 2 * d;
        h[i].y = h[i].x + d;
    }
    double sum = 0;
    long scored = 0;
    for (long off = 0; off < s.ds.rows; off += bl) {
        long n = 0;
        free(vals);
        vals = NULL;
        mlp_err rc = read_block(req, &s, off, bl, &vals, &n, X);
        if (!rc) {
            rc = net_predict(s.nt, X, (int)n, Y, scratch);
            sched_infer_done(req->app->sched);
        }
        if (rc) {
            api_fail(req, resp, rc, NULL);
            goto out;
        }
        for (long r = 0; r < n; r++) {
            const float *x = X + (size_t)r * d, *y = Y + (size_t)r * d;
            double e = net_recon_error(x, y, s.d);
            worst w = {isnan(e) ? INFINITY : e, off + r, NULL, NULL, NULL};
            if (isfinite(e)) sum += e;
            scored++;
            int slot, appended = nh < top;
            if (appended)
                slot = nh++;
            else if (below(&h[0], &w))
                slot = 0;
            else
                continue;
            w.x = h[slot].x;
            w.y = h[slot].y;
            json_decref(h[slot].label);
            memcpy(w.x, x, d * sizeof *x);
            memcpy(w.y, y, d * sizeof *y);
            w.label = label_json(&s, vals + (size_t)r * (size_t)s.cols->cols);
            h[slot] = w;
            if (appended)
                sift_up(h, slot);
            else
                sift_down(h, nh, slot);
        }
    }
    qsort(h, (size_t)nh, sizeof *h, by_rank);
    json_t *items = json_array();
    for (int i = 0; i < nh; i++) {
        json_t *it = json_pack("{s:I, s:o, s:O, s:o, s:o}", "row", (json_int_t)h[i].row, "error",
                               isfinite(h[i].err) ? json_real(h[i].err) : json_null(), "label",
                               h[i].label, "input", floats_json(h[i].x, s.d), "reconstruction",
                               floats_json(h[i].y, s.d));
        json_array_append_new(items, it);
    }
    api_json(
        resp, 200,
        json_pack("{s:s, s:i, s:s, s:I, s:o, s:o, s:o}", "model", reg_model_name(s.m), "version",
                  reg_model_version(s.m), "dataset_id", s.ds.id, "rows_scored", (json_int_t)scored,
                  "mean_error", json_real(scored ? sum / scored : 0), "label_column",
                  s.label_col >= 0 ? json_string(s.cols->columns[s.label_col].name) : json_null(),
                  "items", items));
out:
    for (int i = 0; h && i < nh; i++) json_decref(h[i].label);
    free(h);
    free(slab);
    free(X);
    free(Y);
    free(scratch);
    free(vals);
    scope_close(req, &s);
}

void ms_codes(http_req *req, http_resp *resp)
{
    ms_scope s;
    long limit;
    float *X = NULL, *scratch = NULL, *vals = NULL, *codes = NULL, *map = NULL;
    json_t *labels = NULL;
    pca *p = NULL;
    if (scope_open(req, resp, "codes", &s) ||
        int_query(req, resp, "limit", 1, MS_LIMIT_MAX, MS_LIMIT_DEFAULT, &limit) ||
        answer_fits(req, resp, "limit", limit, net_code_dim(s.nt) + 2))
        goto out;
    int c = net_code_dim(s.nt);
    if (c > PCA_MAX_D) {
        api_failf(req, resp, 400, NULL,
                  "model '%s' has a code of %d values; its map needs a PCA of at most %d",
                  reg_model_name(s.m), c, PCA_MAX_D);
        goto out;
    }
    long total = s.ds.rows < limit ? s.ds.rows : limit, bl = block_rows(&s);
    X = malloc((size_t)bl * (size_t)s.d * sizeof *X);
    scratch = malloc(net_scratch_floats(s.nt, (int)bl) * sizeof *scratch);
    codes = malloc((size_t)total * (size_t)c * sizeof *codes);
    map = calloc((size_t)total * 2, sizeof *map);
    labels = json_array();
    if (!X || !scratch || !codes || !map || !labels) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    for (long off = 0; off < total; off += bl) {
        long n = 0, want = total - off < bl ? total - off : bl;
        free(vals);
        vals = NULL;
        mlp_err rc = read_block(req, &s, off, want, &vals, &n, X);
        if (!rc) {
            rc = net_encode(s.nt, X, (int)n, codes + (size_t)off * (size_t)c, scratch);
            sched_infer_done(req->app->sched);
        }
        if (rc) {
            api_fail(req, resp, rc, NULL);
            goto out;
        }
        for (long r = 0; r < n; r++)
            json_array_append_new(labels, label_json(&s, vals + (size_t)r * (size_t)s.cols->cols));
    }
    json_t *proj = NULL;
    if (c <= 2) {
        for (long r = 0; r < total; r++)
            for (int j = 0; j < c; j++) map[r * 2 + j] = codes[r * c + j];
    } else {
        mlp_error err;
        mlp_error_clear(&err);
        mlp_err rc = pca_fit(codes, total, c, 2, &p, &err);
        if (!rc) rc = pca_project(p, codes, total, map);
        if (rc) {
            api_fail(req, resp, rc, &err);
            goto out;
        }
        json_t *comp = json_array();
        for (int k = 0; k < 2; k++)
            json_array_append_new(comp, floats_json(p->components + (size_t)k * (size_t)c, c));
        proj =
            json_pack("{s:o, s:o, s:[f, f], s:f}", "mean", floats_json(p->mean, c), "components",
                      comp, "variance", p->variance[0], p->variance[1], "total_variance", p->total);
    }
    json_t *items = json_array();
    for (long r = 0; r < total; r++)
        json_array_append_new(items, json_pack("{s:I, s:o, s:o, s:O}", "row", (json_int_t)r, "code",
                                               floats_json(codes + (size_t)r * (size_t)c, c), "map",
                                               floats_json(map + (size_t)r * 2, 2), "label",
                                               json_array_get(labels, (size_t)r)));
    api_json(
        resp, 200,
        json_pack("{s:s, s:i, s:s, s:I, s:i, s:s, s:o, s:o, s:o}", "model", reg_model_name(s.m),
                  "version", reg_model_version(s.m), "dataset_id", s.ds.id, "dataset_rows",
                  (json_int_t)s.ds.rows, "code_dim", c, "projection", c <= 2 ? "code" : "pca",
                  "pca", proj ? proj : json_null(), "label_column",
                  s.label_col >= 0 ? json_string(s.cols->columns[s.label_col].name) : json_null(),
                  "items", items));
out:
    pca_free(p);
    json_decref(labels);
    free(X);
    free(scratch);
    free(vals);
    free(codes);
    free(map);
    scope_close(req, &s);
}
