/* datasets.c — /api/v1/datasets: streaming upload (CSV, JSON, multipart, IDX, gzip; parsed
 * while the body arrives), list, get (columns and statistics), rows (a page capped at
 * --max-body bytes), patch (a dispatcher over the fields a dataset lets change), delete. The
 * image shape's logic is api/augment.c's. */
#include "audit.h"
#include "augment_api.h"
#include "config.h"
#include "guard.h"
#include "handlers.h"
#include "ingest.h"
#include "jsonout.h"
#include "problem.h"
#include "quota.h"
#include "store.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ingest *in;
    char name[72];  /* from ?name=, or "" */
    visibility vis; /* from ?visibility= when has_vis, else the owner's default */
    int has_vis, rows_visible;
    int image[3]; /* from ?image=, or all 0 */
    mlp_err rc;   /* first error while feeding */
    mlp_error err;
} upload;

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Adds owner, visibility and rows_visible of d to o; returns o. */
static json_t *ds_access_json(json_t *o, const store_dataset *d)
{
    json_object_set_new(o, "owner", json_string(d->owner));
    json_object_set_new(o, "visibility", json_string(access_vis_name(d->vis)));
    json_object_set_new(o, "rows_visible", json_boolean(d->rows_visible));
    return o;
}

/* ?visibility= and ?rows_visible= of an upload into u; answers 400 and returns -1 when bad. */
static int up_access(http_req *req, http_resp *resp, upload *u)
{
    const char *v = http_query(req, "visibility"), *rv = http_query(req, "rows_visible");
    if (v && access_vis_parse(v, &u->vis) != MLP_OK) {
        api_failf(req, resp, 400, "visibility", "visibility must be private, class or public");
        return -1;
    }
    u->has_vis = v != NULL;
    if (rv && strcmp(rv, "true") != 0 && strcmp(rv, "false") != 0) {
        api_failf(req, resp, 400, "rows_visible", "rows_visible must be true or false");
        return -1;
    }
    u->rows_visible = rv && strcmp(rv, "true") == 0;
    return 0;
}

static json_t *dataset_to_json(const store_dataset *d, const ds_table *cols)
{
    json_t *c = json_array();
    for (int i = 0; cols && i < cols->cols; i++) {
        const ds_column *col = &cols->columns[i];
        json_t *o;
        if (col->type == COL_CATEGORICAL) {
            json_t *lv = json_array();
            for (int k = 0; k < col->n_levels; k++)
                json_array_append_new(lv, json_string(col->levels[k]));
            o = json_pack("{s:s, s:s, s:o}", "name", col->name, "type", "categorical", "levels",
                          lv);
        } else {
            o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", col->name, "type", "numeric",
                          "min", num(col->min), "max", num(col->max), "mean", num(col->mean), "std",
                          num(col->std));
        }
        json_array_append_new(c, o);
    }
    return ds_access_json(json_pack("{s:s, s:s, s:I, s:i, s:I, s:s, s:s, s:o, s:o}", "id", d->id,
                                    "name", d->name, "rows", (json_int_t)d->rows, "cols", d->cols,
                                    "bytes", (json_int_t)d->bytes, "sha256", d->sha256,
                                    "created_at", d->created_at, "image",
                                    augapi_image_json(d->image), "columns", c),
                          d);
}

/* The caller's storage_bytes quota and use (server/quota.h): the ingest refuses an upload that
 * would pass it while it arrives, the store again when it commits. *limit 0 = none. */
static int ds_storage_quota(http_req *req, http_resp *resp, long long *limit, long long *used)
{
    quota_limits lim;
    *limit = *used = 0;
    if (!req->app->quota) return 0;
    mlp_err rc = quota_limits_of(req->app->quota, req->who.id, &lim);
    if (!rc && lim.v[QUOTA_STORAGE_BYTES] > 0)
        rc = store_usage_storage(req->app->store, req->who.id, used);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    *limit = lim.v[QUOTA_STORAGE_BYTES];
    return 0;
}

static int up_begin(http_req *req, http_resp *resp)
{
    const char *name = http_query(req, "name");
    if (name && !api_name_ok(name)) {
        api_failf(req, resp, 400, "name", "name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        return -1;
    }
    ingest_opts o;
    memset(&o, 0, sizeof o);
    mlp_error err;
    mlp_error_clear(&err);
    const char *h = http_query(req, "header");
    if (h && csv_header_parse(h, &o.header, &err) != MLP_OK) {
        api_failf(req, resp, 400, "header", "header must be auto, true or false");
        return -1;
    }
    /* One flag bounds the bytes received, the bytes decoded and the memory of the decoded table:
     * a gzip bomb then costs at most --max-upload of matrix, not 4x to 8x of it. */
    o.max_bytes = req->app->cfg->max_upload;
    o.max_table_bytes = req->app->cfg->max_upload;
    o.max_depth = req->app->cfg->max_json_depth;
    if (ds_storage_quota(req, resp, &o.storage_limit, &o.storage_used) != 0) return -1;
    const char *cl = http_header(req, "Content-Length");
    if (cl) { /* a size hint only (bounded: a lie costs address space, never a wrong answer) */
        unsigned long long v = strtoull(cl, NULL, 10);
        o.size_hint = o.max_bytes && v > o.max_bytes ? o.max_bytes : (size_t)v;
    }
    upload *u = calloc(1, sizeof *u);
    if (!u) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return -1;
    }
    if (name) snprintf(u->name, sizeof u->name, "%s", name);
    if (up_access(req, resp, u)) {
        free(u);
        return -1;
    }
    const char *image = http_query(req, "image");
    if (image && augapi_image_parse_text(image, "image", u->image, &err) != MLP_OK) {
        free(u);
        api_fail(req, resp, MLP_EINVAL, &err);
        return -1;
    }
    mlp_err rc = ingest_new(http_header(req, "Content-Type"), http_header(req, "Content-Encoding"),
                            &o, &u->in, &err);
    if (rc) {
        free(u);
        api_fail(req, resp, rc, &err);
        return -1;
    }
    req->upload = u;
    return 0;
}

/* A 413 from the ingest names the limit in bytes; say which flag sets it. */
static void upload_fail(http_req *req, http_resp *resp, mlp_err rc, mlp_error *err)
{
    size_t n = strlen(err->msg);
    if (rc == MLP_ETOOLARGE && n + 16 < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - n, " (--max-upload)");
    api_fail(req, resp, rc, err);
}

static int up_feed(http_req *req, http_resp *resp, const char *data, size_t len)
{
    upload *u = req->upload;
    mlp_err rc = ingest_feed(u->in, data, len, &u->err);
    if (rc) {
        upload_fail(req, resp, rc, &u->err);
        return -1;
    }
    return 0;
}

static void up_abort(http_req *req)
{
    upload *u = req->upload;
    if (!u) return;
    ingest_free(u->in);
    free(u);
    req->upload = NULL;
}

const route_upload ds_upload_hooks = {up_begin, up_feed, up_abort};

void ds_create(http_req *req, http_resp *resp)
{
    upload *u = req->upload;
    ds_table *t = NULL;
    char *form_name = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = ingest_finish(u->in, &t, &form_name, &err);
    if (rc) {
        upload_fail(req, resp, rc, &err);
        goto out;
    }
    const char *name = u->name[0] ? u->name : form_name;
    if (!name) {
        api_failf(req, resp, 400, "name",
                  "name is required: ?name=NAME, a multipart field \"name\" or a JSON \"name\"");
        goto out;
    }
    if (!api_name_ok(name)) {
        api_failf(req, resp, 400, "name", "name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        goto out;
    }
    if (u->image[0]) { /* declared: it wins over an IDX file's own */
        if ((rc = augapi_image_check(t, u->image, "image", &err)) != MLP_OK) {
            api_fail(req, resp, rc, &err);
            goto out;
        }
        memcpy(t->image, u->image, sizeof t->image);
    }
    store_dataset d;
    long long limit = 0, used = 0;
    if (ds_storage_quota(req, resp, &limit, &used) != 0) goto out;
    rc = store_dataset_create_as(req->app->store, req->who.id, u->has_vis ? &u->vis : NULL,
                                 u->rows_visible, limit, name, t, &d, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        goto out;
    }
    guard_audit(req, "dataset.create", "datasets", d.id,
                json_pack("{s:s, s:I, s:i, s:I}", "name", d.name, "rows", (json_int_t)d.rows,
                          "cols", d.cols, "bytes", (json_int_t)d.bytes));
    snprintf(resp->location, sizeof resp->location, "/api/v1/datasets/%s", d.id);
    free(t->data); /* the response needs only the columns */
    t->data = NULL;
    api_json(resp, 201, dataset_to_json(&d, t));
out:
    free(form_name);
    ds_table_free(t);
    malloc_trim(0); /* an upload's freed pages back to the OS: idle RSS (bench/RESULTS.md) */
}

void ds_list(http_req *req, http_resp *resp)
{
    int limit, offset;
    if (api_paging(req, resp, &limit, &offset)) return;
    store_dataset *items = NULL;
    int n = 0;
    long total = 0;
    store_view view = guard_view(req);
    mlp_err rc = store_dataset_list_for(req->app->store, &view, limit, offset, &items, &n, &total);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:s, s:s, s:I, s:i, s:I, s:s, s:s, s:o}", "id", items[i].id, "name",
                      items[i].name, "rows", (json_int_t)items[i].rows, "cols", items[i].cols,
                      "bytes", (json_int_t)items[i].bytes, "sha256", items[i].sha256, "created_at",
                      items[i].created_at, "image", augapi_image_json(items[i].image));
        json_array_append_new(arr, ds_access_json(o, &items[i]));
    }
    free(items);
    api_json(resp, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
}

static int load(http_req *req, http_resp *resp, store_dataset *d, ds_table **cols)
{
    const char *id = route_param(&req->m, "id");
    mlp_err rc = store_dataset_get(req->app->store, id, d, cols);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "no dataset '%s'", id);
        return -1;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    return 0;
}

void ds_get(http_req *req, http_resp *resp)
{
    store_dataset d;
    ds_table *cols = NULL;
    if (load(req, resp, &d, &cols)) return;
    api_json(resp, 200, dataset_to_json(&d, cols));
    ds_table_free(cols);
}

/* Bytes cell c of a row may take in the answer, its comma included. */
static size_t cell_max(const ds_column *col)
{
    if (col->type != COL_CATEGORICAL) return FJ_FLOAT_MAX + 1;
    size_t m = FJ_FLOAT_MAX; /* an index outside the levels is written as a number */
    for (int k = 0; k < col->n_levels; k++) {
        size_t n = JO_STR_MAX(strlen(col->levels[k]));
        if (n > m) m = n;
    }
    return m + 1;
}

/* {"columns":[..],"rows":[[..],..],"offset":O,"total":T,"next_offset":N|null}, written straight
 * into the answer buffer and capped at --max-body bytes: rows that would pass the cap are left
 * for the next page (next_offset says where it starts; null at the end), and a row that alone
 * would pass it is a 413. The floats read are bounded by the cap too (a cell is at least 4
 * bytes of JSON, as many as its float). */
void ds_rows(http_req *req, http_resp *resp)
{
    int limit, offset;
    if (api_paging(req, resp, &limit, &offset)) return;
    store_dataset d;
    ds_table *cols = NULL;
    float *vals = NULL;
    char *buf = NULL;
    int conn_buf = 0;
    if (load(req, resp, &d, &cols)) return;
    size_t cap = req->app->cfg->max_body, nc = (size_t)cols->cols;
    size_t head = 128, row_max = 3;
    for (size_t c = 0; c < nc; c++) {
        head += JO_STR_MAX(strlen(cols->columns[c].name)) + 1;
        row_max += cell_max(&cols->columns[c]);
    }
    long want = cap / (nc * 4 + 2);
    if (want > limit) want = limit;
    if (want < 1) want = 1;
    long n = 0;
    mlp_err rc = store_dataset_read_rows(req->app->store, d.id, offset, want, &vals, &n);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    size_t size = head + row_max; /* the cap, or one worst-case row past it: checked below */
    if (size < cap + row_max) size = cap + row_max;
    buf = http_resp_buf(req, size);
    conn_buf = buf != NULL;
    if (!buf && !(buf = malloc(size))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    char *o = buf;
    o = JO_LIT(o, "{\"columns\":[");
    for (size_t c = 0; c < nc; c++) {
        if (c) *o++ = ',';
        o = jo_str(o, cols->columns[c].name);
    }
    o = JO_LIT(o, "],\"rows\":[");
    long served = 0;
    for (long i = 0; i < n; i++) {
        char *row = o;
        if (i) *o++ = ',';
        *o++ = '[';
        for (size_t c = 0; c < nc; c++) {
            float v = vals[(size_t)i * nc + c];
            const ds_column *col = &cols->columns[c];
            if (c) *o++ = ',';
            if (col->type == COL_CATEGORICAL && v >= 0 && (int)v < col->n_levels)
                o = jo_str(o, col->levels[(int)v]);
            else
                o += fj_format_float(v, o);
        }
        *o++ = ']';
        if ((size_t)(o - buf) + 128 > cap) { /* 128: room for the tail */
            o = row;
            break;
        }
        served++;
    }
    if (served == 0 && n > 0) {
        api_failf(req, resp, 413, NULL,
                  "one row of dataset '%s' (%d columns) takes more than the %zu bytes an answer "
                  "may hold (--max-body)",
                  d.id, cols->cols, cap);
        goto out;
    }
    o = JO_LIT(o, "],\"offset\":");
    o = jo_long(o, offset);
    o = JO_LIT(o, ",\"total\":");
    o = jo_long(o, d.rows);
    o = JO_LIT(o, ",\"next_offset\":");
    if (offset + served < d.rows)
        o = jo_long(o, offset + served);
    else
        o = JO_LIT(o, "null");
    *o++ = '}';
    if (conn_buf)
        resp_conn(resp, 200, "application/json", buf, (size_t)(o - buf));
    else
        resp_take(resp, 200, "application/json", buf, (size_t)(o - buf));
    buf = NULL;
out:
    if (!conn_buf) free(buf);
    free(vals);
    ds_table_free(cols);
}

void ds_delete(http_req *req, http_resp *resp)
{
    store_dataset d;
    if (load(req, resp, &d, NULL)) return;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = store_dataset_delete(req->app->store, d.id, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        return;
    }
    guard_audit(req, "dataset.delete", "datasets", d.id, json_pack("{s:s}", "name", d.name));
    resp_take(resp, 204, NULL, NULL, 0);
}

/* PATCH /api/v1/datasets/{id}: a dispatcher over the fields that may change, each checked (apply
 * 0) and then applied (apply 1) by its own function, so a bad field changes nothing. Who may
 * call it is the route's rule (dataset-change). */
typedef int (*ds_patch_fn)(http_req *req, http_resp *resp, const char *id, json_t *v, int apply);

static int patch_visibility(http_req *req, http_resp *resp, const char *id, json_t *v, int apply)
{
    visibility vis;
    if (!json_is_string(v) || access_vis_parse(json_string_value(v), &vis) != MLP_OK) {
        api_failf(req, resp, 400, "visibility", "visibility must be private, class or public");
        return -1;
    }
    mlp_err rc = apply ? store_dataset_set_access(req->app->store, id, &vis, NULL) : MLP_OK;
    if (rc) api_fail(req, resp, rc, NULL);
    return rc ? -1 : 0;
}

static int patch_rows_visible(http_req *req, http_resp *resp, const char *id, json_t *v, int apply)
{
    if (!json_is_boolean(v)) {
        api_failf(req, resp, 400, "rows_visible", "rows_visible must be true or false");
        return -1;
    }
    int rv = json_is_true(v);
    mlp_err rc = apply ? store_dataset_set_access(req->app->store, id, NULL, &rv) : MLP_OK;
    if (rc) api_fail(req, resp, rc, NULL);
    return rc ? -1 : 0;
}

/* The image shape {height, width, channels} (or null to clear it), checked against the columns
 * (api/augment.c). */
static int patch_image(http_req *req, http_resp *resp, const char *id, json_t *v, int apply)
{
    store_dataset d;
    ds_table *cols = NULL;
    mlp_err rc = store_dataset_get(req->app->store, id, &d, &cols);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    int r = augapi_patch_image(req, resp, id, cols, v, apply);
    ds_table_free(cols);
    return r;
}

static const struct {
    const char *field;
    ds_patch_fn fn;
} ds_patch_fields[] = {
    {"visibility", patch_visibility}, {"rows_visible", patch_rows_visible}, {"image", patch_image}};

void ds_patch(http_req *req, http_resp *resp)
{
    store_dataset d;
    ds_table *cols = NULL;
    if (load(req, resp, &d, NULL)) return;
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    const size_t nf = sizeof ds_patch_fields / sizeof ds_patch_fields[0];
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < nf && strcmp(key, ds_patch_fields[i].field) != 0) i++;
        if (i == nf) {
            api_failf(req, resp, 400, key,
                      "%s cannot be changed (fields: visibility, rows_visible, image)", key);
            goto out;
        }
    }
    for (int apply = 0; apply < 2; apply++)
        for (size_t i = 0; i < nf; i++)
            if ((v = json_object_get(body, ds_patch_fields[i].field)) &&
                ds_patch_fields[i].fn(req, resp, d.id, v, apply) != 0)
                goto out;
    guard_audit_patch(req, "dataset.update", "datasets", d.id, body);
    if (load(req, resp, &d, &cols)) goto out;
    api_json(resp, 200, dataset_to_json(&d, cols));
out:
    ds_table_free(cols);
    json_decref(body);
}
