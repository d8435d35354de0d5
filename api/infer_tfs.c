/* infer_tfs.c — inference in the TensorFlow Serving REST style at
 * /v1/models/{name}[/versions/{v}|/labels/{alias}]: status, metadata, :predict, :classify,
 * :reconstruct, :encode. Errors are {"error": "..."} naming the instance at fault.
 *
 * Hot path (:predict): the body is read by api/fastjson's strict single-pass reader straight
 * into a per-thread float matrix; bodies it does not handle (object rows, extra keys, errors)
 * go through jansson exactly as before, into the same matrix, so answers and error messages do
 * not depend on the path (but for --max-instances: the fast reader stops at the limit before
 * making room for more rows, so its 413 says "more than N" where jansson's counts them). X, Y and
 * the activations are per-thread buffers (grown as needed, never freed per request, freed at thread
 * exit); the answer is written straight into the connection's answer buffer (http_resp_buf, kept
 * for its next requests), which MHD sends without a copy, with fj_format_float. net_predict is the
 * only compute path. */
#include "config.h"
#include "fastjson.h"
#include "handlers.h"
#include "infer.h"
#include "infer_tfs.h"
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
#include <string.h>
#include <strings.h>

void tfs_status(http_req *req, http_resp *resp)
{
    const char *name = infer_model_name(req, resp);
    if (!name) return;
    json_t *list = json_array();
    if (!route_param(&req->m, "version") && !route_param(&req->m, "alias")) {
        store_model m;
        mlp_err rc = store_model_get(req->app->store, name, &m, NULL, NULL);
        if (rc) {
            json_decref(list);
            if (rc == MLP_ENOTFOUND)
                api_failf(req, resp, 404, NULL, "no model named '%s'", name);
            else
                api_fail(req, resp, rc, NULL);
            return;
        }
        for (int i = m.n_versions - 1; i >= 0; i--) {
            char vs[16];
            snprintf(vs, sizeof vs, "%d", m.versions[i]);
            json_array_append_new(list, json_pack("{s:s, s:s, s:{s:s, s:s}}", "version", vs,
                                                  "state", "AVAILABLE", "status", "error_code",
                                                  "OK", "error_message", ""));
        }
        store_model_clear(&m);
    } else {
        reg_model *m = infer_model(req, resp);
        if (!m) {
            json_decref(list);
            return;
        }
        char vs[16];
        snprintf(vs, sizeof vs, "%d", reg_model_version(m));
        json_array_append_new(list, json_pack("{s:s, s:s, s:{s:s, s:s}}", "version", vs, "state",
                                              "AVAILABLE", "status", "error_code", "OK",
                                              "error_message", ""));
        reg_release(req->app->reg, m);
    }
    api_json(resp, 200, json_pack("{s:o}", "model_version_status", list));
}

static json_t *tensor_info(const char *name, int dim)
{
    char ds[16];
    snprintf(ds, sizeof ds, "%d", dim);
    return json_pack("{s:s, s:s, s:{s:[{s:s}, {s:s}]}}", "name", name, "dtype", "DT_FLOAT",
                     "tensor_shape", "dim", "size", "-1", "size", ds);
}

void tfs_metadata(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    const net_spec *sp = reg_model_spec(m);
    const char *out_name = sp->task == TASK_CLASSIFICATION ? "probabilities"
                           : sp->task == TASK_REGRESSION   ? "prediction"
                                                           : "reconstruction";
    int nf, nl;
    char *const *features = reg_model_features(m, &nf), *const *labels = reg_model_labels(m, &nl);
    json_t *fn = json_array(), *lb = json_array();
    for (int i = 0; i < nf; i++) json_array_append_new(fn, json_string(features[i]));
    for (int i = 0; i < nl; i++) json_array_append_new(lb, json_string(labels[i]));
    char vs[16];
    snprintf(vs, sizeof vs, "%d", reg_model_version(m));
    json_t *outputs = json_object();
    json_object_set_new(outputs, out_name, tensor_info(out_name, sp->n_out));
    if (sp->task == TASK_AUTOENCODER)
        json_object_set_new(outputs, "code", tensor_info("code", net_code_dim(reg_model_net(m))));
    json_t *o = json_pack("{s:{s:s, s:s}, s:{s:s, s:i, s:i, s:o, s:o, s:{s:{s:{s:o}, s:o, s:s}}}}",
                          "model_spec", "name", reg_model_name(m), "version", vs, "metadata",
                          "task", task_name(sp->task), "input_dim", sp->n_in, "output_dim",
                          sp->n_out, "feature_names", fn, "labels", lb, "signature_def",
                          "serving_default", "inputs", "input", tensor_info("input", sp->n_in),
                          "outputs", outputs, "method_name", "tensorflow/serving/predict");
    reg_release(req->app->reg, m);
    api_json(resp, 200, o);
}

/* The verbs of /v1/models/{name}:{verb} and the tasks that answer each. */
typedef struct {
    const char *verb;
    route_fn fn;
    unsigned tasks;   /* bit 1u << net_task per task that answers the verb */
    const char *need; /* the tasks, for the message when the model's task is not one of them */
} tfs_verb_def;

#define TASK_BIT(t) (1u << (t))
static const tfs_verb_def tfs_verbs[] = {
    {"predict", tfs_predict,
     TASK_BIT(TASK_CLASSIFICATION) | TASK_BIT(TASK_REGRESSION) | TASK_BIT(TASK_AUTOENCODER),
     "any model"},
    {"classify", tfs_classify, TASK_BIT(TASK_CLASSIFICATION), "classification"},
    {"reconstruct", tfs_reconstruct, TASK_BIT(TASK_AUTOENCODER), "an autoencoder"},
    {"encode", tfs_encode, TASK_BIT(TASK_AUTOENCODER), "an autoencoder"},
};
#define N_TFS_VERBS (sizeof tfs_verbs / sizeof tfs_verbs[0])

static const tfs_verb_def *verb_def(const char *verb)
{
    for (size_t i = 0; i < N_TFS_VERBS; i++)
        if (strcmp(tfs_verbs[i].verb, verb) == 0) return &tfs_verbs[i];
    return NULL;
}

/* 1 when model m answers verb; else answers 400 naming the verbs m's task has ("..., a
 * classification model answers :predict, :classify") and returns 0. */
static int verb_ok(http_req *req, http_resp *resp, const reg_model *m, const char *verb)
{
    net_task task = reg_model_spec(m)->task;
    const tfs_verb_def *v = verb_def(verb);
    if (v && (v->tasks & TASK_BIT(task))) return 1;
    char list[128];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < N_TFS_VERBS; i++) {
        if (!(tfs_verbs[i].tasks & TASK_BIT(task))) continue;
        int w =
            snprintf(list + used, sizeof list - used, "%s:%s", used ? ", " : "", tfs_verbs[i].verb);
        if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
    }
    const char *a = task == TASK_AUTOENCODER ? "an" : "a";
    if (v)
        api_failf(req, resp, 400, NULL, "model '%s' is %s %s model; :%s needs %s (it answers %s)",
                  reg_model_name(m), a, task_name(task), verb, v->need, list);
    else
        api_failf(req, resp, 400, NULL, "model '%s' has no verb ':%s'; %s %s model answers %s",
                  reg_model_name(m), verb, a, task_name(task), list);
    return 0;
}

/* 1 when a JSON number is a finite float32: the bound the fast reader uses (fastjson.h). */
static int float_ok(double v)
{
    return isfinite(v) && fabs(v) <= 3.4e38;
}

/* The rows of a request: {"instances": [...]} or {"inputs": [...] | {"<one name>": [...]}}.
 * Each row is an array of d numbers or an object keyed by feature name. *X (borrowed: this
 * thread's buffer, valid until the thread's next request) gets the n x d rows. The fast reader
 * takes plain bodies; everything else goes through jansson. Answers 400 naming the instance and
 * returns -1 on bad input. */
static int read_rows(http_req *req, http_resp *resp, const reg_model *m, float **X, int *n,
                     int *columnar)
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
        int r = fj_rows(req->body, req->body_len, d, max, &t->x, n, columnar);
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
    json_t *rows = json_object_get(body, "instances");
    const char *key = "instances";
    *columnar = 0;
    if (!rows) {
        rows = json_object_get(body, "inputs");
        key = "inputs";
        *columnar = 1;
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
    if (api_instances_check(req, resp, N)) {
        json_decref(body);
        return -1;
    }
    float *x = infer_room(&t->x, N * (size_t)d);
    if (!x) {
        json_decref(body);
        api_fail(req, resp, MLP_ENOMEM, NULL);
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

/* Runs the model on the request's rows: *X and *Y (n x n_out) borrowed, this thread's buffers. */
static int run(http_req *req, http_resp *resp, reg_model *m, float **X, float **Y, int *n,
               int *columnar)
{
    if (read_rows(req, resp, m, X, n, columnar)) return -1;
    const net *nt = reg_model_net(m);
    const net_spec *sp = net_get_spec(nt);
    infer_bufs *t = infer_bufs_get(); /* non-NULL: read_rows got it */
    float *s = infer_room(&t->s, net_scratch_floats(nt, *n));
    *Y = infer_room(&t->y, (size_t)*n * (size_t)sp->n_out);
    if (!s || !*Y) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return -1;
    }
    sched_infer_enter(req->app->sched);
    net_predict(nt, *X, *n, *Y, s);
    sched_infer_leave(req->app->sched);
    metrics_inference(reg_model_name(m), reg_model_version(m), *n);
    return 0;
}

json_t *tfs_real_json(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* [v0, ..., v(k-1)] as JSON reals: a new reference, or NULL when any allocation failed. */
static json_t *row_json(const float *v, int k)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (int i = 0; i < k; i++)
        if (json_array_append_new(a, tfs_real_json(v[i]))) { /* fails on a NULL value too */
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {"<key>": o}: a new reference, or NULL when any allocation failed. Takes o, even on failure. */
static json_t *keyed(const char *key, json_t *o)
{
    json_t *out = json_object();
    if (!out) {
        json_decref(o);
        return NULL;
    }
    if (json_object_set_new(out, key, o)) { /* frees o; fails on o == NULL too */
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Answers 200 with o, or 503 when o is NULL (its builder ran out of memory). */
static void answer(http_req *req, http_resp *resp, json_t *o)
{
    if (o)
        api_json(resp, 200, o);
    else
        api_fail(req, resp, MLP_ENOMEM, NULL);
}

/* {"<key>":[[y00,y01,...],...]} (or [y0,y1,...] for a single-output regression), written into
 * the connection's answer buffer (http_resp_buf; malloc when there is none) handed to resp. */
static void predict_answer(http_req *req, http_resp *resp, const char *key, const float *Y, int n,
                           int k, int flat)
{
    size_t cap = strlen(key) + 16 + (size_t)n * ((size_t)k * (FJ_FLOAT_MAX + 1) + 3);
    char *b = http_resp_buf(req, cap), *o;
    int conn_buf = b != NULL;
    if (!b && !(b = malloc(cap))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    o = b;
    *o++ = '{';
    *o++ = '"';
    size_t kl = strlen(key);
    memcpy(o, key, kl);
    o += kl;
    memcpy(o, "\":[", 3);
    o += 3;
    for (int i = 0; i < n; i++) {
        const float *y = Y + (size_t)i * (size_t)k;
        if (i) *o++ = ',';
        if (flat) {
            o += fj_format_float(y[0], o);
            continue;
        }
        *o++ = '[';
        for (int j = 0; j < k; j++) {
            if (j) *o++ = ',';
            o += fj_format_float(y[j], o);
        }
        *o++ = ']';
    }
    *o++ = ']';
    *o++ = '}';
    if (conn_buf)
        resp_conn(resp, 200, "application/json", b, (size_t)(o - b));
    else
        resp_take(resp, 200, "application/json", b, (size_t)(o - b));
}

void tfs_predict(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    float *X = NULL, *Y = NULL;
    int n = 0, columnar = 0;
    if (run(req, resp, m, &X, &Y, &n, &columnar) == 0) {
        const net_spec *sp = reg_model_spec(m);
        predict_answer(req, resp, columnar ? "outputs" : "predictions", Y, n, sp->n_out,
                       sp->task == TASK_REGRESSION && sp->n_out == 1);
    }
    infer_bufs_done();
    reg_release(req->app->reg, m);
}

json_t *tfs_classify_json(const float *Y, int n, int n_out, char *const *labels, int n_labels)
{
    int K = n_labels;
    int binary = n_out == 1 && K == 2;
    size_t k1 = (size_t)(K > 0 ? K : 1);
    int *order = malloc(k1 * sizeof *order);
    float *sc = malloc(k1 * sizeof *sc);
    json_t *results = json_array(), *out = NULL;
    if (!order || !sc || !results) goto out;
    for (int i = 0; i < n; i++) {
        const float *y = Y + (size_t)i * (size_t)n_out;
        for (int k = 0; k < K; k++) {
            sc[k] = binary ? (k == 1 ? y[0] : 1.0f - y[0]) : y[k];
            order[k] = k;
        }
        for (int a = 1; a < K; a++) { /* insertion sort, best first */
            int o = order[a], b = a - 1;
            while (b >= 0 && sc[order[b]] < sc[o]) {
                order[b + 1] = order[b];
                b--;
            }
            order[b + 1] = o;
        }
        /* each append frees its value on failure, and fails on a NULL value */
        json_t *r = json_array();
        if (json_array_append_new(results, r)) goto out;
        for (int k = 0; k < K; k++) {
            json_t *pair = json_array();
            if (json_array_append_new(r, pair) ||
                json_array_append_new(pair, json_string(labels[order[k]])) ||
                json_array_append_new(pair, tfs_real_json(sc[order[k]])))
                goto out;
        }
    }
    out = keyed("results", results);
    results = NULL; /* keyed took it */
out:
    json_decref(results);
    free(order);
    free(sc);
    return out;
}

void tfs_classify(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    float *X = NULL, *Y = NULL;
    int n = 0, columnar = 0;
    if (verb_ok(req, resp, m, "classify") && run(req, resp, m, &X, &Y, &n, &columnar) == 0) {
        int nl;
        char *const *labels = reg_model_labels(m, &nl);
        answer(req, resp, tfs_classify_json(Y, n, reg_model_spec(m)->n_out, labels, nl));
    }
    infer_bufs_done();
    reg_release(req->app->reg, m);
}

json_t *tfs_reconstruct_json(const float *X, const float *Y, int n, int d)
{
    json_t *rec = json_array(), *errs = json_array(), *out = NULL;
    if (!rec || !errs) goto out;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * (size_t)d, *y = Y + (size_t)i * (size_t)d;
        /* each append frees its value on failure, and fails on a NULL value */
        if (json_array_append_new(rec, row_json(y, d)) ||
            json_array_append_new(errs, tfs_real_json(net_recon_error(x, y, d))))
            goto out;
    }
    out = keyed("reconstructions", rec);
    rec = NULL; /* keyed took it */
    if (out) {
        int set_rc = json_object_set_new(out, "errors", errs);
        errs = NULL; /* json_object_set_new took it, even on failure */
        if (set_rc) {
            json_decref(out);
            out = NULL;
        }
    }
out:
    json_decref(rec);
    json_decref(errs);
    return out;
}

json_t *tfs_encode_json(const float *C, int n, int k)
{
    json_t *codes = json_array();
    if (!codes) return NULL;
    for (int i = 0; i < n; i++)
        if (json_array_append_new(codes, row_json(C + (size_t)i * (size_t)k, k))) {
            json_decref(codes);
            return NULL;
        }
    return keyed("codes", codes);
}

void tfs_reconstruct(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    float *X = NULL, *Y = NULL;
    int n = 0, columnar = 0;
    if (verb_ok(req, resp, m, "reconstruct") && run(req, resp, m, &X, &Y, &n, &columnar) == 0)
        answer(req, resp, tfs_reconstruct_json(X, Y, n, reg_model_spec(m)->n_in));
    infer_bufs_done();
    reg_release(req->app->reg, m);
}

void tfs_encode(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    const net *nt = reg_model_net(m);
    float *X = NULL;
    int n = 0, columnar = 0;
    if (verb_ok(req, resp, m, "encode") && read_rows(req, resp, m, &X, &n, &columnar) == 0) {
        int k = net_code_dim(nt);
        float *C = malloc((size_t)n * (size_t)k * sizeof *C);
        float *s =
            infer_room(&infer_bufs_get()->s, net_scratch_floats(nt, n)); /* read_rows got them */
        if (!C || !s) {
            api_fail(req, resp, MLP_ENOMEM, NULL);
        } else {
            sched_infer_enter(req->app->sched);
            net_encode(nt, X, n, C, s);
            sched_infer_leave(req->app->sched);
            metrics_inference(reg_model_name(m), reg_model_version(m), n);
            answer(req, resp, tfs_encode_json(C, n, k));
        }
        free(C);
    }
    infer_bufs_done();
    reg_release(req->app->reg, m);
}

/* Any verb on a model path: the verb's handler when the model's task answers it, else 400 naming
 * the verbs it has (an unknown model is a 404 first). The router tries the literal verb routes
 * before this one, so in practice only verbs they lack arrive here. */
void tfs_verb(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    const char *verb = route_param(&req->m, "verb");
    int ok = verb && verb_ok(req, resp, m, verb);
    reg_release(req->app->reg, m);
    if (ok) verb_def(verb)->fn(req, resp);
}
