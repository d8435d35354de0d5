/* infer_tfs_read.c — the request reader of TensorFlow Serving's REST form (infer_tfs.c): rows
 * ({"instances": ...}), columns ({"inputs": ...}) and, for :classify and :regress, TF Serving's
 * {"context", "examples"}, into this thread's float matrix, with the 400s that name the instance,
 * feature or key at fault. The fast reader (api/fastjson) takes plain bodies; the rest goes
 * through jansson into the same matrix, so answers and messages do not depend on the path.
 *
 * Threading: as infer_tfs.c (per-thread buffers; nothing shared). */
#include "infer_tfs_int.h"
#include "config.h"
#include "cpusched.h"
#include "fastjson.h"
#include "handlers.h"
#include "infer.h"
#include "metrics.h"
#include "problem.h"
#include "registry.h"
#include "store.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Room for N rows of d floats in this thread's input buffer, after the --max-instances check:
 * NULL after answering 413 (too many) or 503 (out of memory). */
static float *rows_room(http_req *req, http_resp *resp, size_t N, int d)
{
    if (api_instances_check(req, resp, N)) return NULL;
    float *x = infer_room(&infer_bufs_get()->x, N * (size_t)d);
    if (!x) api_fail(req, resp, MLP_ENOMEM, NULL);
    return x;
}

/* 1 when a JSON number is a finite float32: the bound the fast reader uses (fastjson.h). */
static int float_ok(double v)
{
    return isfinite(v) && fabs(v) <= 3.4e38;
}

/* The first key of object o that is none of the d feature names, or NULL (borrowed from o). */
static const char *unknown_feature(json_t *o, char *const *features, int d)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        int known = 0;
        for (int c = 0; c < d && !known; c++) known = strcmp(k, features[c]) == 0;
        if (!known) return k;
    }
    return NULL;
}

/* One feature value of an Example: a number, or a list of exactly one number (TF Serving's
 * Feature is a list). 0 with *out set, else -1 after answering 400 naming where. */
static int example_value(http_req *req, http_resp *resp, json_t *v, const char *where,
                         const char *feature, float *out)
{
    if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
    if (!json_is_number(v)) {
        api_failf(req, resp, 400, NULL, "Feature: %s of %s is not a number or a list of one number",
                  feature, where);
        return -1;
    }
    double dv = json_number_value(v);
    if (!float_ok(dv)) {
        api_failf(req, resp, 400, NULL, "Feature: %s of %s is not a finite float", feature, where);
        return -1;
    }
    *out = (float)dv;
    return 0;
}

/* TF Serving's Example list: {"context": {feature: value}, "examples": [{feature: value}, ...]},
 * each example merged with the context into one row of the model's d features (by name).
 * Borrows body; x has room for the rows (grown here). Answers 400 and returns -1 on bad input. */
static int read_examples(http_req *req, http_resp *resp, const reg_model *m, json_t *body,
                         float **X, int *n)
{
    int d = reg_model_spec(m)->n_in, n_features;
    char *const *features = reg_model_features(m, &n_features);
    json_t *ctx = json_object_get(body, "context"), *ex = json_object_get(body, "examples");
    if (ctx && !json_is_object(ctx)) {
        api_failf(req, resp, 400, NULL, "Example must be JSON object but got JSON %s",
                  json_is_array(ctx) ? "Array" : "a value");
        return -1;
    }
    if (!ex) {
        api_failf(req, resp, 400, NULL, "key 'examples' is expected and was not found");
        return -1;
    }
    if (!json_is_array(ex)) {
        api_failf(req, resp, 400, NULL, "Expecting 'examples' value to be an list/array");
        return -1;
    }
    size_t N = json_array_size(ex);
    if (N == 0) {
        api_failf(req, resp, 400, NULL, "'examples' value is an empty array");
        return -1;
    }
    if (n_features != d) {
        api_failf(req, resp, 400, NULL, "this model has no feature names; send \"instances\"");
        return -1;
    }
    float *x = rows_room(req, resp, N, d);
    if (!x) return -1;
    for (size_t i = 0; i < N; i++) {
        json_t *e = json_array_get(ex, i);
        char where[40];
        snprintf(where, sizeof where, "examples[%zu]", i);
        if (!json_is_object(e)) {
            api_failf(req, resp, 400, NULL, "Example must be JSON object but got JSON %s",
                      json_is_array(e) ? "Array" : "a value");
            return -1;
        }
        size_t used = 0;
        for (int c = 0; c < d; c++) {
            json_t *v = json_object_get(e, features[c]),
                   *cv = ctx ? json_object_get(ctx, features[c]) : NULL;
            if (v && cv) {
                api_failf(req, resp, 400, NULL,
                          "Feature: %s is in both 'context' and %s; a context feature must not "
                          "appear in examples",
                          features[c], where);
                return -1;
            }
            if (v) used++;
            if (!v) v = cv;
            if (!v) {
                api_failf(req, resp, 400, NULL, "%s lacks feature '%s' (and 'context' has none)",
                          where, features[c]);
                return -1;
            }
            if (example_value(req, resp, v, where, features[c], x + i * (size_t)d + c)) return -1;
        }
        if (used != json_object_size(e)) {
            const char *k = unknown_feature(e, features, d);
            if (k) {
                api_failf(req, resp, 400, NULL, "%s has feature '%s', which the model lacks", where,
                          k);
                return -1;
            }
        }
    }
    if (ctx) {
        const char *k = unknown_feature(ctx, features, d);
        if (k) {
            api_failf(req, resp, 400, NULL, "context has feature '%s', which the model lacks", k);
            return -1;
        }
    }
    *X = x;
    *n = (int)N;
    return 0;
}

/* {"inputs": {"<feature>": [v, ...], ...}}: one list per feature of the model, all of the same
 * length, into the n x d rows of x (grown here). 0, or -1 after answering 400. */
static int read_columns(http_req *req, http_resp *resp, const reg_model *m, json_t *cols, float **X,
                        int *n)
{
    int d = reg_model_spec(m)->n_in, n_features;
    char *const *features = reg_model_features(m, &n_features);
    if (n_features != d) {
        api_failf(req, resp, 400, NULL, "this model has no feature names; send arrays");
        return -1;
    }
    size_t N = 0;
    for (int c = 0; c < d; c++) {
        json_t *col = json_object_get(cols, features[c]);
        if (!col) {
            api_failf(req, resp, 400, NULL, "Missing named input: %s in 'inputs' object.",
                      features[c]);
            return -1;
        }
        if (!json_is_array(col) || json_array_size(col) == 0) {
            api_failf(req, resp, 400, NULL, "inputs.%s must be a non-empty list of numbers",
                      features[c]);
            return -1;
        }
        if (c == 0) N = json_array_size(col);
        if (json_array_size(col) != N) {
            api_failf(req, resp, 400, NULL,
                      "inputs.%s has %zu values and inputs.%s has %zu; every input needs one "
                      "value per instance",
                      features[c], json_array_size(col), features[0], N);
            return -1;
        }
    }
    if (json_object_size(cols) != (size_t)d) { /* every feature is there: a key is not one */
        const char *k = unknown_feature(cols, features, d);
        if (k) {
            api_failf(req, resp, 400, NULL, "inputs has named input '%s', which the model lacks",
                      k);
            return -1;
        }
    }
    float *x = rows_room(req, resp, N, d);
    if (!x) return -1;
    for (int c = 0; c < d; c++) {
        json_t *col = json_object_get(cols, features[c]);
        for (size_t i = 0; i < N; i++) {
            json_t *v = json_array_get(col, i);
            if (json_is_array(v) && json_array_size(v) == 1) v = json_array_get(v, 0);
            if (!json_is_number(v)) {
                api_failf(req, resp, 400, NULL, "inputs.%s[%zu] is not a number", features[c], i);
                return -1;
            }
            double dv = json_number_value(v);
            if (!float_ok(dv)) {
                api_failf(req, resp, 400, NULL, "inputs.%s[%zu] is not a finite float", features[c],
                          i);
                return -1;
            }
            x[i * (size_t)d + c] = (float)dv;
        }
    }
    *X = x;
    *n = (int)N;
    return 0;
}

/* The rows of a request: {"instances": [...]} or {"inputs": [...] | {"<one name>": [...]} |
 * {"<feature>": [...], ...}}, with an optional "signature_name" (serving_default). Each row is an
 * array of d numbers, an object keyed by feature name, or (for a one-input model) a bare number.
 * For :classify and :regress (form) a body with "examples" is read as TF Serving's Example list. *X
 * (borrowed: this thread's buffer, valid until the thread's next request) gets the n x d rows.
 * The fast reader takes plain bodies; everything else goes through jansson. Answers 400 naming
 * the instance and returns -1 on bad input. */
int tfs_read_rows(http_req *req, http_resp *resp, const reg_model *m, sig_method form, float **X,
                  int *n, int *columnar)
{
    const net_spec *sp = reg_model_spec(m);
    int d = sp->n_in, n_features;
    char *const *features = reg_model_features(m, &n_features);
    infer_bufs *t = infer_bufs_get();
    if (!t) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return -1;
    }
    if (req->body && req->body_len && api_json_type_ok(req)) {
        size_t max = (size_t)req->app->cfg->max_instances; /* >= 1 (config.c) */
        /* a second thread reads half a large body only while serving is not busy: with every
         * core taken by requests it is pure overhead (bench/RESULTS.md, 64-instance :predict) */
        size_t split = sched_serving_busy(req->app->sched) ? SIZE_MAX : FJ_SPLIT_MIN;
        int r = fj_rows_split(req->body, req->body_len, d, max, split, &t->x, n, columnar);
        if (r == FJ_ROWS) {
            *X = t->x.p;
            return 0;
        }
        if (r == FJ_TOO_MANY) { /* the reader stopped there: the total is not known */
            api_failf(req, resp, 413, NULL,
                      "more than %zu instances in one request; the limit is %zu (--max-instances)",
                      max, max);
            return -1;
        }
        if (r == FJ_ENOMEM) {
            api_fail(req, resp, MLP_ENOMEM, NULL);
            return -1;
        }
    }
    json_t *body = api_body_object(req, resp);
    if (!body) return -1;
    if (tfs_signature_check(req, resp, m, body, form)) {
        json_decref(body);
        return -1;
    }
    *columnar = 0;
    if (form != SIG_PREDICT && !json_object_get(body, "instances") &&
        !json_object_get(body, "inputs")) {
        int rc = read_examples(req, resp, m, body, X, n);
        json_decref(body);
        return rc;
    }
    json_t *rows = json_object_get(body, "instances");
    const char *key = "instances";
    if (rows && json_object_get(body, "inputs")) {
        json_decref(body);
        api_failf(req, resp, 400, NULL,
                  "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to "
                  "exist");
        return -1;
    }
    if (!rows) {
        rows = json_object_get(body, "inputs");
        key = "inputs";
        *columnar = 1;
        /* one list per feature; a single key that names a feature of a wider model is that
         * form with the other features missing, not one named tensor of rows */
        int per_feature = json_is_object(rows) && json_object_size(rows) > 1;
        if (json_is_object(rows) && json_object_size(rows) == 1 && d > 1 && n_features == d) {
            const char *only = json_object_iter_key(json_object_iter(rows));
            for (int c = 0; c < d && !per_feature; c++)
                per_feature = strcmp(only, features[c]) == 0;
        }
        if (per_feature) {
            int rc = read_columns(req, resp, m, rows, X, n);
            json_decref(body);
            return rc;
        }
        if (json_is_object(rows) && json_object_size(rows) == 1) {
            void *it = json_object_iter(rows);
            rows = json_object_iter_value(it);
        }
    }
    if (!json_is_array(rows)) {
        json_decref(body);
        api_failf(req, resp, 400, NULL, "body needs \"instances\": [[...], ...] or \"inputs\"");
        return -1;
    }
    size_t N = json_array_size(rows);
    if (N == 0) {
        json_decref(body);
        api_failf(req, resp, 400, NULL, "%s is empty", key);
        return -1;
    }
    float *x = rows_room(req, resp, N, d);
    if (!x) {
        json_decref(body);
        return -1;
    }
    for (size_t i = 0; i < N; i++) {
        json_t *r = json_array_get(rows, i);
        float *dst = x + i * (size_t)d;
        if (json_is_array(r)) {
            if (json_array_size(r) != (size_t)d) {
                api_failf(req, resp, 400, NULL, "%s[%zu] has %zu values; the model takes %d", key,
                          i, json_array_size(r), d);
                goto bad;
            }
            for (int c = 0; c < d; c++) {
                json_t *v = json_array_get(r, (size_t)c);
                if (!json_is_number(v)) {
                    api_failf(req, resp, 400, NULL, "%s[%zu][%d] is not a number", key, i, c);
                    goto bad;
                }
                double dv = json_number_value(v);
                if (!float_ok(dv)) {
                    api_failf(req, resp, 400, NULL, "%s[%zu][%d] is not a finite float", key, i, c);
                    goto bad;
                }
                dst[c] = (float)dv;
            }
        } else if (json_is_object(r)) {
            if (n_features != d) {
                api_failf(req, resp, 400, NULL, "this model has no feature names; send arrays");
                goto bad;
            }
            if (json_object_size(r) != (size_t)d) {
                api_failf(req, resp, 400, NULL, "%s[%zu] has %zu fields; the model takes %d", key,
                          i, json_object_size(r), d);
                goto bad;
            }
            for (int c = 0; c < d; c++) {
                json_t *v = json_object_get(r, features[c]);
                if (!v) {
                    api_failf(req, resp, 400, NULL, "%s[%zu] lacks feature '%s'", key, i,
                              features[c]);
                    goto bad;
                }
                if (!json_is_number(v)) {
                    api_failf(req, resp, 400, NULL, "%s[%zu].%s is not a number", key, i,
                              features[c]);
                    goto bad;
                }
                double dv = json_number_value(v);
                if (!float_ok(dv)) {
                    api_failf(req, resp, 400, NULL, "%s[%zu].%s is not a finite float", key, i,
                              features[c]);
                    goto bad;
                }
                dst[c] = (float)dv;
            }
        } else if (d == 1 && json_is_number(r)) { /* {"instances": [1.0, 2.0, 5.0]} */
            double dv = json_number_value(r);
            if (!float_ok(dv)) {
                api_failf(req, resp, 400, NULL, "%s[%zu] is not a finite float", key, i);
                goto bad;
            }
            dst[0] = (float)dv;
        } else {
            api_failf(req, resp, 400, NULL, "%s[%zu] must be a list of numbers or an object", key,
                      i);
            goto bad;
        }
    }
    json_decref(body);
    *X = x;
    *n = (int)N;
    return 0;
bad:
    json_decref(body);
    return -1;
}
