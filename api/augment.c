/* augment.c — image shapes, params.augment and the augmentation preview (see augment_api.h). */
#include "augment_api.h"

#include "handlers.h"
#include "problem.h"
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW_MAX 64 /* copies one preview may ask for */

static mlp_err field_fail(mlp_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static mlp_err field_fail(mlp_error *err, const char *field, const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof err->field, "%s", field);
    return mlp_fail(err, MLP_EINVAL, "%s", msg);
}

static int numeric_cols(const ds_table *cols)
{
    int n = 0;
    for (int c = 0; c < cols->cols; c++) n += cols->columns[c].type == COL_NUMERIC;
    return n;
}

mlp_err augapi_image_check(const ds_table *cols, const int image[3], const char *field,
                           mlp_error *err)
{
    long px = (long)image[0] * image[1] * image[2];
    int num = numeric_cols(cols);
    if (px == num || px == num - 1) return MLP_OK;
    snprintf(err->field, sizeof err->field, "%s", field);
    return mlp_fail(err, MLP_EINVAL,
                    "%s: %d x %d x %d = %ld values, but the dataset has %d numeric columns (an "
                    "image takes them all, or all but a numeric label after the pixels)",
                    field, image[0], image[1], image[2], px, num);
}

/* A side of an image: 1..65536. */
static int side_ok(long v)
{
    return v >= 1 && v <= 65536;
}

mlp_err augapi_image_parse_text(const char *s, const char *field, int image[3], mlp_error *err)
{
    long v[3] = {0, 0, 1};
    int n = 0;
    const char *p = s;
    while (n < 3) {
        char *end;
        errno = 0;
        if (*p < '0' || *p > '9') break;
        v[n++] = strtol(p, &end, 10);
        if (errno) break;
        p = end;
        if (*p != 'x' || n == 3) break;
        p++;
    }
    if (*p || n < 2 || !side_ok(v[0]) || !side_ok(v[1]) || !side_ok(v[2]) || v[2] > 4096)
        return field_fail(err, field,
                          "%s must be HEIGHTxWIDTHxCHANNELS, e.g. 28x28x1 (or HEIGHTxWIDTH for one "
                          "channel), not '%s'",
                          field, s);
    for (int k = 0; k < 3; k++) image[k] = (int)v[k];
    return MLP_OK;
}

/* {"height", "width", "channels" (default 1)} into image; MLP_EINVAL naming field (or
 * field.height ...) otherwise. */
static mlp_err image_parse_json(json_t *x, const char *field, int image[3], mlp_error *err)
{
    static const char *const keys[3] = {"height", "width", "channels"};
    if (!json_is_object(x))
        return field_fail(err, field, "%s must be an object {height, width, channels}", field);
    const char *key;
    json_t *val;
    json_object_foreach(x, key, val)
    {
        if (strcmp(key, keys[0]) && strcmp(key, keys[1]) && strcmp(key, keys[2]))
            return field_fail(err, field, "%s.%s: unknown field (height, width, channels)", field,
                              key);
    }
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(x, keys[k]);
        char f[160];
        snprintf(f, sizeof f, "%s.%s", field, keys[k]);
        if (!v && k == 2) {
            image[k] = 1;
            continue;
        }
        if (!v || !json_is_integer(v) || !side_ok((long)json_integer_value(v)) ||
            (k == 2 && json_integer_value(v) > 4096))
            return field_fail(err, f, "%s must be a whole number from 1 to %d", f,
                              k == 2 ? 4096 : 65536);
        image[k] = (int)json_integer_value(v);
    }
    return MLP_OK;
}

json_t *augapi_image_json(const int image[3])
{
    if (image[0] <= 0) return json_null();
    return json_pack("{s:i, s:i, s:i}", "height", image[0], "width", image[1], "channels",
                     image[2]);
}

void augapi_no_image(mlp_error *err, const char *field, const char *dataset_id)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    mlp_fail(err, MLP_EINVAL,
             "%s needs an image dataset, and dataset '%s' has no image shape: its columns are "
             "plain features, with nothing to shift or rotate. If its rows are images, declare "
             "their shape: PATCH /api/v1/datasets/%s with {\"image\": {\"height\": 8, "
             "\"width\": 8, \"channels\": 1}}, or upload with ?image=8x8x1 (IDX image files "
             "carry theirs)",
             field, dataset_id, dataset_id);
}

/* A [lo, hi] pair of finite numbers. */
static mlp_err get_range(json_t *o, const char *key, double *lo, double *hi, mlp_error *err)
{
    json_t *x = json_object_get(o, key);
    if (!x) return MLP_OK;
    char f[64];
    snprintf(f, sizeof f, "params.augment.%s", key);
    json_t *a = json_array_get(x, 0), *b = json_array_get(x, 1);
    if (!json_is_array(x) || json_array_size(x) != 2 || !json_is_number(a) || !json_is_number(b) ||
        !isfinite(json_number_value(a)) || !isfinite(json_number_value(b)))
        return field_fail(err, f, "%s must be a range [lo, hi] of two numbers", f);
    *lo = json_number_value(a);
    *hi = json_number_value(b);
    return MLP_OK;
}

mlp_err augapi_parse_json(json_t *x, aug_spec *a, mlp_error *err)
{
    mlp_err rc;
    if (!json_is_object(x))
        return field_fail(err, "params.augment",
                          "params.augment must be an object {shift, rotate, scale, brightness, "
                          "hflip}");
    const char *key;
    json_t *val;
    json_object_foreach(x, key, val)
    {
        if (strcmp(key, "shift") && strcmp(key, "rotate") && strcmp(key, "scale") &&
            strcmp(key, "brightness") && strcmp(key, "hflip") && strcmp(key, "image"))
            return field_fail(err, "params.augment",
                              "params.augment.%s: unknown field (shift, rotate, scale, "
                              "brightness, hflip)",
                              key);
    }
    json_t *v = json_object_get(x, "shift");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000)
            return field_fail(err, "params.augment.shift",
                              "params.augment.shift must be a whole number of pixels from 0 "
                              "to 1000");
        a->shift = (int)json_integer_value(v);
    }
    const char *nums[2] = {"rotate", "hflip"};
    double *dst[2] = {&a->rotate, &a->hflip};
    for (int k = 0; k < 2; k++) {
        v = json_object_get(x, nums[k]);
        if (!v) continue;
        char f[64];
        snprintf(f, sizeof f, "params.augment.%s", nums[k]);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return field_fail(err, f, "%s must be a number", f);
        *dst[k] = json_number_value(v);
    }
    if ((rc = get_range(x, "scale", &a->scale_lo, &a->scale_hi, err)) ||
        (rc = get_range(x, "brightness", &a->bright_lo, &a->bright_hi, err)))
        return rc;
    v = json_object_get(x, "image");
    if (v) {
        int image[3];
        if ((rc = image_parse_json(v, "params.augment.image", image, err))) return rc;
        a->height = image[0];
        a->width = image[1];
        a->channels = image[2];
    }
    return MLP_OK;
}

json_t *augapi_json(const aug_spec *a)
{
    int image[3] = {a->height, a->width, a->channels};
    return json_pack("{s:i, s:f, s:[f, f], s:[f, f], s:f, s:o}", "shift", a->shift, "rotate",
                     a->rotate, "scale", a->scale_lo, a->scale_hi, "brightness", a->bright_lo,
                     a->bright_hi, "hflip", a->hflip, "image", augapi_image_json(image));
}

int augapi_patch_image(http_req *req, http_resp *resp, const char *id, const ds_table *cols,
                       json_t *value, int apply)
{
    mlp_error err;
    mlp_error_clear(&err);
    int image[3] = {0, 0, 0};
    mlp_err rc = MLP_OK;
    if (!json_is_null(value)) {
        rc = image_parse_json(value, "image", image, &err);
        if (rc == MLP_OK) rc = augapi_image_check(cols, image, "image", &err);
    }
    if (rc == MLP_OK && apply) rc = store_dataset_set_image(req->app->store, id, image, &err);
    if (rc == MLP_OK) return 0;
    api_fail(req, resp, rc, &err);
    return -1;
}

/* ---- GET /api/v1/datasets/{id}/rows/{i}/augmented ---- */

/* ?name= as a finite number (lo = hi) or "lo,hi"; 0 when absent, -1 (answered) when bad. */
static int query_range(http_req *req, http_resp *resp, const char *name, int range, double *lo,
                       double *hi)
{
    const char *s = http_query(req, name);
    if (!s) return 0;
    char *end;
    double a = strtod(s, &end), b = a;
    if (end != s && range && *end == ',') {
        const char *t = end + 1;
        b = strtod(t, &end);
        if (end == t) end = (char *)s;
    }
    if (end == s || *end || !isfinite(a) || !isfinite(b)) {
        api_failf(req, resp, 400, name, "%s must be %s, not '%s'", name,
                  range ? "a number or a range lo,hi" : "a number", s);
        return -1;
    }
    *lo = a;
    *hi = b;
    return 0;
}

/* ?name= as a whole number in [lo, hi] (default kept when absent); -1 (answered) when bad. */
static int query_long(http_req *req, http_resp *resp, const char *name, long long lo, long long hi,
                      long long *v)
{
    const char *s = http_query(req, name);
    if (!s) return 0;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end || errno || x < lo || x > hi) {
        api_failf(req, resp, 400, name, "%s must be a whole number from %lld to %lld, not '%s'",
                  name, lo, hi, s);
        return -1;
    }
    *v = x;
    return 0;
}

static json_t *floats_json(const float *v, long n)
{
    json_t *a = json_array();
    for (long i = 0; a && i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

/* The query's options as params.augment would give them: rotate, hflip plain numbers;
 * scale and brightness a number (both ends) or lo,hi. */
static int preview_spec(http_req *req, http_resp *resp, aug_spec *a, long long *n, long long *seed)
{
    long long shift = 0;
    double r = 0, h = 0;
    if (query_long(req, resp, "shift", 0, 1000, &shift) ||
        query_range(req, resp, "rotate", 0, &r, &r) ||
        query_range(req, resp, "scale", 1, &a->scale_lo, &a->scale_hi) ||
        query_range(req, resp, "brightness", 1, &a->bright_lo, &a->bright_hi) ||
        query_range(req, resp, "hflip", 0, &h, &h) ||
        query_long(req, resp, "n", 1, PREVIEW_MAX, n) ||
        query_long(req, resp, "seed", 0, (long long)1 << 53, seed))
        return -1;
    a->shift = (int)shift;
    a->rotate = r;
    a->hflip = h;
    mlp_error err;
    mlp_error_clear(&err);
    if (aug_check(a, &err) != MLP_OK) { /* fields are the query's names, not params.augment.* */
        const char *dot = strrchr(err.field, '.');
        const char *f = dot && strcmp(err.field, "params.augment") ? dot + 1 : "image";
        char msg[sizeof err.msg];
        snprintf(msg, sizeof msg, "%s", err.msg);
        const char *m = strncmp(msg, "params.augment.", 15) == 0 ? msg + 15 : msg;
        api_failf(req, resp, 400, f, "%s", m);
        return -1;
    }
    return 0;
}

void ds_augmented(http_req *req, http_resp *resp)
{
    const char *id = route_param(&req->m, "id");
    store_dataset d;
    ds_table *cols = NULL;
    float *vals = NULL, *img = NULL, *out = NULL, *pad = NULL;
    json_t *copies = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = store_dataset_get(req->app->store, id, &d, &cols);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "no dataset '%s'", id);
        goto out;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    long long row = 0, n = 8, seed = 0;
    const char *rs = route_param(&req->m, "i");
    char *end;
    errno = 0;
    row = strtoll(rs, &end, 10);
    if (end == rs || *end || errno || row < 0) {
        api_failf(req, resp, 400, "i", "the row must be a whole number >= 0, not '%s'", rs);
        goto out;
    }
    if (row >= d.rows) {
        api_failf(req, resp, 404, NULL, "dataset '%s' has %ld rows (0 to %ld); no row %lld", id,
                  d.rows, d.rows - 1, row);
        goto out;
    }
    if (!d.image[0]) {
        augapi_no_image(&err, "image", id);
        api_fail(req, resp, MLP_EINVAL, &err);
        goto out;
    }
    aug_spec a;
    aug_default(&a);
    a.height = d.image[0];
    a.width = d.image[1];
    a.channels = d.image[2];
    if (preview_spec(req, resp, &a, &n, &seed)) goto out;
    long n_rows = 0, len = aug_row_len(&a);
    rc = store_dataset_read_rows(req->app->store, id, (long)row, 1, &vals, &n_rows);
    if (rc == MLP_OK && n_rows != 1) rc = MLP_ENOTFOUND;
    img = malloc((size_t)len * sizeof *img);
    out = malloc((size_t)len * sizeof *out);
    pad = malloc((size_t)aug_scratch_len(&a) * sizeof *pad);
    if (rc == MLP_OK && (!img || !out || !pad)) rc = MLP_ENOMEM;
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    long k = 0; /* the image: the first len numeric columns */
    for (int c = 0; c < cols->cols && k < len; c++)
        if (cols->columns[c].type == COL_NUMERIC) img[k++] = vals[c];
    if (k != len) {
        api_failf(req, resp, 500, NULL, "dataset '%s' has fewer numeric columns than its image",
                  id);
        goto out;
    }
    rng r;
    rng_seed(&r, (uint64_t)seed);
    copies = json_array();
    for (long long i = 0; i < n; i++) {
        aug_draw dr;
        aug_draw_one(&a, &r, &dr);
        aug_apply(&a, &dr, img, out, pad);
        json_t *draw = json_pack("{s:i, s:i, s:f, s:f, s:f, s:b}", "dx", dr.dx, "dy", dr.dy,
                                 "rotate", dr.angle * 180.0 / 3.14159265358979323846, "scale",
                                 dr.scale, "brightness", dr.bright, "hflip", dr.flip);
        json_array_append_new(
            copies, json_pack("{s:o, s:o}", "draw", draw, "values", floats_json(out, len)));
    }
    int image[3] = {a.height, a.width, a.channels};
    a.height = a.width = a.channels = 0; /* the options alone; the image is beside them */
    json_t *opts = augapi_json(&a);
    json_object_del(opts, "image");
    api_json(resp, 200,
             json_pack("{s:s, s:I, s:o, s:o, s:I, s:o, s:o}", "dataset_id", id, "row",
                       (json_int_t)row, "image", augapi_image_json(image), "augment", opts, "seed",
                       (json_int_t)seed, "original", floats_json(img, len), "copies", copies));
    copies = NULL;
out:
    json_decref(copies);
    free(vals);
    free(img);
    free(out);
    free(pad);
    ds_table_free(cols);
}
