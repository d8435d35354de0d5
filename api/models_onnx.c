/* models_onnx.c — POST /api/v1/models/{name}/versions with an ONNX body (models_onnx.h): reads
 * the file (the whole body, or the multipart part "file"), lets server/onnx_import.c turn it into
 * a net, settles the task, feature names and labels (query > metadata_props > graph), and
 * publishes it as a native import does. */
#include "models_onnx.h"

#include "config.h"
#include "models_ensemble.h"
#include "modelsvc.h"
#include "multipart.h"
#include "onnx.h"
#include "onnx_import.h"
#include "problem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int models_onnx_request(http_req *req)
{
    const char *ct = http_header(req, "Content-Type");
    return ct && (api_media_type_is(ct, "application/onnx") ||
                  api_media_type_is(ct, "multipart/form-data"));
}

/* The bytes of the multipart part "file", collected as the parser streams them. */
typedef struct {
    int in_file, seen;  /* inside the part; the part was there */
    unsigned char *buf; /* n bytes of cap, owned */
    size_t n, cap;
} mp_ctx;

static mlp_err mp_begin(void *ctx, const char *name, const char *filename, const char *content_type,
                        mlp_error *err)
{
    mp_ctx *c = ctx;
    (void)filename;
    (void)content_type;
    if (strcmp(name, "file") != 0)
        return mlp_fail(err, MLP_EINVAL, "unknown form field '%s' (an ONNX import takes 'file')",
                        name);
    if (c->seen) return mlp_fail(err, MLP_EINVAL, "form field 'file' given twice");
    c->seen = c->in_file = 1;
    return MLP_OK;
}

static mlp_err mp_data(void *ctx, const unsigned char *data, size_t len, mlp_error *err)
{
    mp_ctx *c = ctx;
    (void)err;
    if (!c->in_file) return MLP_OK;
    if (len > c->cap - c->n) {
        size_t cap = c->cap ? c->cap : 4096;
        while (len > cap - c->n) cap *= 2;
        unsigned char *b = realloc(c->buf, cap);
        if (!b) return MLP_ENOMEM;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->n, data, len);
    c->n += len;
    return MLP_OK;
}

static mlp_err mp_end(void *ctx, mlp_error *err)
{
    (void)err;
    ((mp_ctx *)ctx)->in_file = 0;
    return MLP_OK;
}

/* The file's bytes of a multipart body into *buf (new) and *len: 0, or -1 after answering. */
static int multipart_file(http_req *req, http_resp *resp, unsigned char **buf, size_t *len)
{
    static const multipart_callbacks cb = {mp_begin, mp_data, mp_end};
    char boundary[80];
    mlp_error err;
    mlp_error_clear(&err);
    mp_ctx c;
    memset(&c, 0, sizeof c);
    multipart *mp = NULL;
    mlp_err rc =
        multipart_boundary(http_header(req, "Content-Type"), boundary, sizeof boundary, &err);
    if (!rc) rc = multipart_new(boundary, &cb, &c, &mp);
    if (!rc) rc = multipart_feed(mp, (const unsigned char *)req->body, req->body_len, &err);
    if (!rc) rc = multipart_finish(mp, &err);
    multipart_free(mp);
    if (!rc && !c.seen) rc = mlp_fail(&err, MLP_EINVAL, "the form has no part 'file'");
    if (rc) {
        free(c.buf);
        if (rc == MLP_EINVAL) snprintf(err.field, sizeof err.field, "file");
        api_fail(req, resp, rc, &err);
        return -1;
    }
    *buf = c.buf;
    *len = c.n;
    return 0;
}

/* Names separated by commas (a query parameter) as a new JSON array. */
static json_t *split_names(const char *s)
{
    json_t *a = json_array();
    while (a && s && *s) {
        const char *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        json_array_append_new(a, json_stringn(s, n));
        s = e ? e + 1 : NULL;
    }
    return a;
}

/* A metadata value that must be a JSON array of strings, as a new array; NULL when it is not. */
static json_t *meta_names(const char *v)
{
    json_t *a = json_loads(v, 0, NULL);
    size_t i;
    json_t *x;
    int ok = json_is_array(a);
    json_array_foreach(a, i, x) ok = ok && json_is_string(x);
    if (!ok) json_decref(a);
    return ok ? a : NULL;
}

/* The names of `what` (feature names or labels): the query parameter `param`, else metadata key
 * `key`, else none. New array, or NULL after answering. */
static json_t *names_of(http_req *req, http_resp *resp, const onnx_import *im, const char *param,
                        const char *key)
{
    const char *q = http_query(req, param);
    if (q) return split_names(q);
    const char *m = onnx_import_meta(im, key);
    if (!m) return json_array();
    json_t *a = meta_names(m);
    if (!a)
        api_failf(req, resp, 400, param, "metadata_props %s must be a JSON array of strings", key);
    return a;
}

/* The task: query `task`, else metadata mlpd.task, else the graph's. 0, or -1 after answering. */
static int task_of(http_req *req, http_resp *resp, const onnx_import *im, net_task *t)
{
    const char *q = http_query(req, "task");
    if (q && task_parse(q, t)) {
        api_failf(req, resp, 400, "task", "task must be classification, regression or autoencoder");
        return -1;
    }
    if (q) return 0;
    const char *m = onnx_import_meta(im, ONNX_META_TASK);
    if (m && task_parse(m, t)) {
        api_failf(req, resp, 400, "task", "metadata_props " ONNX_META_TASK " '%s' is not a task",
                  m);
        return -1;
    }
    if (!m) *t = onnx_import_task(im);
    return 0;
}

/* Checks the counts of names against the net; 0, or -1 after answering. */
static int check_names(http_req *req, http_resp *resp, const net *n, json_t *fn, json_t *lb)
{
    const net_spec *sp = net_get_spec(n);
    size_t nf = json_array_size(fn), nl = json_array_size(lb);
    if (nf && nf != (size_t)sp->n_in) {
        api_failf(req, resp, 400, "features", "features must name the %d inputs, got %zu names",
                  sp->n_in, nf);
        return -1;
    }
    if (sp->task != TASK_CLASSIFICATION) {
        if (nl) {
            api_failf(req, resp, 400, "labels", "labels are for classification, not %s",
                      task_name(sp->task));
            return -1;
        }
        return 0;
    }
    size_t want = sp->n_out == 1 ? 2 : (size_t)sp->n_out;
    if (nl && nl != want) {
        api_failf(req, resp, 400, "labels", "labels must name the %zu classes, got %zu names", want,
                  nl);
        return -1;
    }
    return 0;
}

/* A new NULL-terminated copy of a JSON array of strings (count in *n), or NULL. */
static char **strv(json_t *a, int *n)
{
    *n = (int)json_array_size(a);
    char **v = calloc((size_t)*n + 1, sizeof *v);
    for (int i = 0; v && i < *n; i++) {
        v[i] = strdup(json_string_value(json_array_get(a, (size_t)i)));
        if (!v[i]) {
            for (int k = 0; k < i; k++) free(v[k]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static void strv_free(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

int models_onnx_import(http_req *req, http_resp *resp, const char *name, int *version)
{
    int ret = -1, nf = 0, nl = 0;
    unsigned char *mbuf = NULL;
    const void *buf = req->body;
    size_t len = req->body_len;
    onnx_import *im = NULL;
    net *n = NULL;
    json_t *fn = NULL, *lb = NULL, *meta = NULL;
    char **fv = NULL, **lv = NULL, *meta_s = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    if (api_media_type_is(http_header(req, "Content-Type"), "multipart/form-data")) {
        if (multipart_file(req, resp, &mbuf, &len)) goto out;
        buf = mbuf;
    }
    mlp_err rc = onnx_import_parse(buf, len, req->app->cfg->max_params, &im, &err);
    if (rc) {
        if (rc == MLP_ETOOLARGE && !strstr(err.msg, "bytes"))
            snprintf(err.msg + strlen(err.msg), sizeof err.msg - strlen(err.msg),
                     " (--max-params)");
        api_fail(req, resp, rc, &err);
        goto out;
    }
    net_task task;
    if (task_of(req, resp, im, &task)) goto out;
    if (!(fn = names_of(req, resp, im, "features", ONNX_META_FEATURES))) goto out;
    if (!(lb = names_of(req, resp, im, "labels", ONNX_META_LABELS))) goto out;
    rc = onnx_import_net(im, task, &n, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        goto out;
    }
    if (check_names(req, resp, n, fn, lb)) goto out;
    const char *run = onnx_import_meta(im, ONNX_META_RUN_ID);
    meta = json_pack("{s:O, s:O, s:n, s:n, s:{s:s, s:s, s:i, s:s?}}", "feature_names", fn, "labels",
                     lb, "metrics", "params", "source", "format", "onnx", "producer",
                     onnx_import_producer(im), "opset", onnx_import_opset(im), "run_id",
                     run && *run ? run : NULL);
    fv = strv(fn, &nf);
    lv = strv(lb, &nl);
    meta_s = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    if (!fv || !lv || !meta_s) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    if (models_import_quota(req, resp, name, (long long)onnx_import_param_count(im) * 4)) goto out;
    rc = modelsvc_import_as(req->app->store, req->app->reg, req->who.id, name, n, nf, fv, nl, lv,
                            meta_s, version, &err);
    if (rc) {
        models_publish_fail(req, resp, rc, &err);
        goto out;
    }
    ret = 0;
out:
    free(mbuf);
    onnx_import_free(im);
    net_free(n);
    json_decref(fn);
    json_decref(lb);
    json_decref(meta);
    strv_free(fv, nf);
    strv_free(lv, nl);
    free(meta_s);
    return ret;
}
