/* infer_tfs.c — inference in TensorFlow Serving's REST form (its "RESTful API" page, with
 * tensorflow_serving/util/json_tensor.cc for the exact JSON and error texts) at
 * /v1/models/{name}[/versions/{v}|/labels/{alias}]: status (GetModelStatusResponse), metadata
 * (GetModelMetadataResponse, with a SignatureDefMap), :predict, :classify, :regress, and mlpd's
 * own :reconstruct and :encode. Errors are {"error": "..."} naming the instance at fault.
 *
 * Request forms (read by infer_tfs_read.c): rows ({"instances": ...}: lists, objects keyed by
 * feature name, or bare numbers for a one-input model; answered as "predictions") and columnar
 * ({"inputs": ...}: rows, one named tensor, or one list per feature; answered as "outputs"), with
 * an optional "signature_name"; :classify and :regress also take TF Serving's {"context",
 * "examples"}. Each model's signature map is serving_default (predict), plus
 * tensorflow/serving/classify for a classifier and tensorflow/serving/regress for a one-output
 * regression or a binary classifier (signature_method). Classify and Regress answer "results", as
 * TF Serving's server does (the page's format section says "result"; its curl example and
 * json_tensor.cc say "results").
 *
 * Hot path (:predict): the body is read by api/fastjson's strict single-pass reader straight
 * into a per-thread float matrix; bodies it does not handle (object rows, extra keys, errors)
 * go through jansson exactly as before, into the same matrix, so answers and error messages do
 * not depend on the path (but for --max-instances: the fast reader stops at the limit before
 * making room for more rows, so its 413 says "more than N" where jansson's counts them). X, Y and
 * the activations are per-thread buffers (grown as needed, never freed per request, freed at thread
 * exit); the answer is written straight into the connection's answer buffer (http_resp_buf, kept
 * for its next requests), which MHD sends without a copy, with fj_format_float. net_predict is the
 * only compute path; a :predict whose rows server/batcher takes (batcher_wants: a large model, a
 * few rows) computes there instead, in a forward pass shared with other requests, and is
 * answered from the batcher's thread (predict_batched) while its connection is suspended. */
#include "batcher.h"
#include "config.h"
#include "fastjson.h"
#include "handlers.h"
#include "infer.h"
#include "infer_tfs.h"
#include "infer_tfs_int.h"
#include "metrics.h"
#include "problem.h"
#include "registry.h"
#include "store.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void tfs_not_found(http_req *req, http_resp *resp, const char *name)
{
    const char *alias = route_param(&req->m, "alias");
    const char *version = route_param(&req->m, "version");
    int status_route = req->m.rt && req->m.rt->fn == tfs_status;
    if (alias)
        api_failf(req, resp, 400, NULL, "Unrecognized servable version label: %s", alias);
    else if (status_route && version)
        api_failf(req, resp, 404, NULL, "Could not find version %s of model %s", version, name);
    else if (status_route)
        api_failf(req, resp, 404, NULL, "Could not find any versions of model %s", name);
    else if (version)
        api_failf(req, resp, 404, NULL, "Servable not found for request: Specific(%s, %s)", name,
                  version);
    else
        api_failf(req, resp, 404, NULL, "Servable not found for request: Latest(%s)", name);
}

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
                tfs_not_found(req, resp, name);
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

static const char *const sig_method_names[] = {
    "tensorflow/serving/predict", "tensorflow/serving/classify", "tensorflow/serving/regress"};
static const char *const sig_kind[] = {"predict", "classification", "regression"};

/* 1 when m has a two-label classifier's single score (the probability of labels[1]). */
static int binary_classifier(const reg_model *m)
{
    int nl;
    (void)reg_model_labels(m, &nl);
    return reg_model_spec(m)->task == TASK_CLASSIFICATION && nl == 2;
}

/* 1 when m answers :regress: a single-output regression, or a binary classifier (its
 * positive-class score). */
static int regress_ok(const reg_model *m)
{
    const net_spec *sp = reg_model_spec(m);
    return (sp->task == TASK_REGRESSION && sp->n_out == 1) || binary_classifier(m);
}

/* The signature_def map of m: "serving_default" (method predict, every model), plus
 * "tensorflow/serving/classify" for a classifier and "tensorflow/serving/regress" for a model
 * that answers :regress. The method of the signature named name, or -1 when m has none. */
static int signature_method(const reg_model *m, const char *name)
{
    if (strcmp(name, "serving_default") == 0) return SIG_PREDICT;
    if (strcmp(name, sig_method_names[SIG_CLASSIFY]) == 0 &&
        reg_model_spec(m)->task == TASK_CLASSIFICATION)
        return SIG_CLASSIFY;
    if (strcmp(name, sig_method_names[SIG_REGRESS]) == 0 && regress_ok(m)) return SIG_REGRESS;
    return -1;
}

/* A JSON value as TF Serving prints it in an error (JsonValueToString): an integer as written; a
 * real in float range as the float, in 6 significant digits when they read back to the same
 * float, else in 9, with ".0" added to a whole number; anything else as compact JSON. */
static void tfs_value_text(const json_t *v, char *out, size_t cap)
{
    if (json_is_real(v) && fabs(json_real_value(v)) <= FLT_MAX) {
        float f = (float)json_real_value(v);
        snprintf(out, cap, "%.6g", (double)f);
        if (strtof(out, NULL) != f) snprintf(out, cap, "%.9g", (double)f);
        if (!strpbrk(out, ".e") && strlen(out) + 2 < cap) strcat(out, ".0");
        return;
    }
    char *js = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(out, cap, "%s", js ? js : "?");
    free(js);
}

/* :predict naming the Example-list signature of :classify or :regress. TF Serving feeds the rows
 * to that signature's one input, "inputs" (DT_STRING, serialized tf.Example), which a number never
 * fits and a named input is not: its error for the request's first value (or first key). 0 when
 * the body has no value to object to (the row reader then answers), else -1 after answering 400. */
static int example_signature_predict(http_req *req, http_resp *resp, json_t *body)
{
    json_t *v = json_object_get(body, "instances");
    if (!v) v = json_object_get(body, "inputs");
    while (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0);
    char text[64];
    if (json_is_object(v) && json_object_size(v) > 0) {
        api_failf(req, resp, 400, NULL, "JSON object: does not have named input: %s",
                  json_object_iter_key(json_object_iter(v)));
        return -1;
    }
    if (!v || json_is_array(v) || json_is_object(v)) return 0;
    tfs_value_text(v, text, sizeof text);
    api_failf(req, resp, 400, NULL, "JSON Value: %s Type: %s is not of expected type: string", text,
              json_is_number(v)   ? "Number"
              : json_is_string(v) ? "String"
              : json_is_true(v)   ? "True"
              : json_is_false(v)  ? "False"
                                  : "Null");
    return -1;
}

/* The request's "signature_name" (in body, borrowed; absent is the default) checked as TF
 * Serving checks it (infer_tfs_int.h) for a verb of method want: absent or "serving_default" is
 * the default signature, which in mlpd serves every verb the model's task has; any other name
 * must be in the model's map and, for :classify and :regress, of the verb's method; :predict on
 * the Example-list signature of :classify or :regress fails as TF Serving's does (its input is
 * serialized tf.Example strings). 0, or -1 after answering 400 with TF Serving's text. */
int tfs_signature_check(http_req *req, http_resp *resp, const reg_model *m, json_t *body,
                        sig_method want)
{
    json_t *sig = json_object_get(body, "signature_name");
    if (!sig) return 0;
    if (!json_is_string(sig)) {
        api_failf(req, resp, 400, NULL,
                  "not formatted correctly. 'signature_name' key must be a string value.");
        return -1;
    }
    const char *name = json_string_value(sig);
    int have = signature_method(m, name);
    if (have < 0) {
        if (want == SIG_PREDICT)
            api_failf(req, resp, 400, NULL,
                      "Serving signature name: \"%s\" not found in signature def", name);
        else
            api_failf(req, resp, 400, NULL, "No signature was found with the name: %s", name);
        return -1;
    }
    if (want != SIG_PREDICT && have != (int)want && strcmp(name, "serving_default") != 0) {
        api_failf(req, resp, 400, NULL, "Expected %s signature method_name to be %s. Was: %s",
                  sig_kind[want], sig_method_names[want], sig_method_names[have]);
        return -1;
    }
    if (want == SIG_PREDICT && have != SIG_PREDICT)
        return example_signature_predict(req, resp, body);
    return 0;
}

/* A TensorInfo as TF Serving renders it (protobuf JSON with every field printed): dtype, and a
 * tensor_shape of a batch dimension (-1) followed by dim when dim > 0. New reference. */
static json_t *tensor_info(const char *name, const char *dtype, int dim)
{
    json_t *dims = json_array();
    json_array_append_new(dims, json_pack("{s:s, s:s}", "size", "-1", "name", ""));
    if (dim > 0) {
        char ds[16];
        snprintf(ds, sizeof ds, "%d", dim);
        json_array_append_new(dims, json_pack("{s:s, s:s}", "size", ds, "name", ""));
    }
    return json_pack("{s:s, s:s, s:{s:o, s:b}}", "name", name, "dtype", dtype, "tensor_shape",
                     "dim", dims, "unknown_rank", 0);
}

/* A SignatureDef: inputs, outputs (both taken), method_name, and the empty defaults map. */
static json_t *signature_def(json_t *inputs, json_t *outputs, const char *method)
{
    return json_pack("{s:o, s:o, s:s, s:{}}", "inputs", inputs, "outputs", outputs, "method_name",
                     method, "defaults");
}

/* The Example-list signature of :classify or :regress: one input, serialized Examples. */
static json_t *example_input(void)
{
    return json_pack("{s:o}", "inputs", tensor_info("input_example_tensor:0", "DT_STRING", 0));
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
    json_object_set_new(outputs, out_name, tensor_info(out_name, "DT_FLOAT", sp->n_out));
    if (sp->task == TASK_AUTOENCODER)
        json_object_set_new(outputs, "code",
                            tensor_info("code", "DT_FLOAT", net_code_dim(reg_model_net(m))));
    json_t *sigs = json_object();
    json_object_set_new(
        sigs, "serving_default",
        signature_def(json_pack("{s:o}", "input", tensor_info("input", "DT_FLOAT", sp->n_in)),
                      outputs, sig_method_names[SIG_PREDICT]));
    if (sp->task == TASK_CLASSIFICATION)
        json_object_set_new(
            sigs, sig_method_names[SIG_CLASSIFY],
            signature_def(example_input(),
                          json_pack("{s:o, s:o}", "classes",
                                    tensor_info("classes", "DT_STRING", nl), "scores",
                                    tensor_info("scores", "DT_FLOAT", nl)),
                          sig_method_names[SIG_CLASSIFY]));
    if (regress_ok(m))
        json_object_set_new(
            sigs, sig_method_names[SIG_REGRESS],
            signature_def(example_input(),
                          json_pack("{s:o}", "outputs", tensor_info("outputs", "DT_FLOAT", 1)),
                          sig_method_names[SIG_REGRESS]));
    json_t *o =
        json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:i, s:i, s:o, s:o, s:{s:s, s:o}}}", "model_spec",
                  "name", reg_model_name(m), "signature_name", "", "version", vs, "metadata",
                  "task", task_name(sp->task), "input_dim", sp->n_in, "output_dim", sp->n_out,
                  "feature_names", fn, "labels", lb, "signature_def", "@type",
                  "type.googleapis.com/tensorflow.serving.SignatureDefMap", "signature_def", sigs);
    reg_release(req->app->reg, m);
    if (o) /* json_pack fails whole, freeing what it took, when anything ran out of memory */
        api_json(resp, 200, o);
    else
        api_fail(req, resp, MLP_ENOMEM, NULL);
}

/* The verbs of /v1/models/{name}:{verb} and the tasks that answer each. */
typedef struct {
    const char *verb;
    route_fn fn;
    unsigned tasks;                     /* bit 1u << net_task per task that answers the verb */
    int (*answers)(const reg_model *m); /* when set, decides instead of tasks */
    const char *need; /* the tasks, for the message when the model's task is not one of them */
} tfs_verb_def;

#define TASK_BIT(t) (1u << (t))
static const tfs_verb_def tfs_verbs[] = {
    {"predict", tfs_predict,
     TASK_BIT(TASK_CLASSIFICATION) | TASK_BIT(TASK_REGRESSION) | TASK_BIT(TASK_AUTOENCODER), NULL,
     "any model"},
    {"classify", tfs_classify, TASK_BIT(TASK_CLASSIFICATION), NULL, "classification"},
    {"regress", tfs_regress, 0, regress_ok, "a one-output regression or a binary classifier"},
    {"reconstruct", tfs_reconstruct, TASK_BIT(TASK_AUTOENCODER), NULL, "an autoencoder"},
    {"encode", tfs_encode, TASK_BIT(TASK_AUTOENCODER), NULL, "an autoencoder"},
};
#define N_TFS_VERBS (sizeof tfs_verbs / sizeof tfs_verbs[0])

/* 1 when model m answers verb v. */
static int verb_answers(const tfs_verb_def *v, const reg_model *m)
{
    return v->answers ? v->answers(m) : (v->tasks & TASK_BIT(reg_model_spec(m)->task)) != 0;
}

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
    if (v && verb_answers(v, m)) return 1;
    char list[128];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < N_TFS_VERBS; i++) {
        if (!verb_answers(&tfs_verbs[i], m)) continue;
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

/* Runs m on the n rows of X: *Y (n x n_out) borrowed, this thread's buffer. 0, or -1 after
 * answering 503. */
static int compute(http_req *req, http_resp *resp, reg_model *m, const float *X, int n, float **Y)
{
    infer_bufs *t = infer_bufs_get(); /* non-NULL: tfs_read_rows got it */
    float *s = infer_room(&t->s, reg_model_scratch_floats(m, n));
    *Y = infer_room(&t->y, (size_t)n * (size_t)reg_model_spec(m)->n_out);
    if (!s || !*Y) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return -1;
    }
    reg_model_predict(m, X, n, *Y, s);
    sched_infer_done(req->app->sched);
    metrics_inference(reg_model_name(m), reg_model_version(m), n);
    return 0;
}

/* Runs the model on the request's rows: *X and *Y (n x n_out) borrowed, this thread's buffers. */
static int run(http_req *req, http_resp *resp, reg_model *m, sig_method form, float **X, float **Y,
               int *n, int *columnar)
{
    if (tfs_read_rows(req, resp, m, form, X, n, columnar)) return -1;
    return compute(req, resp, m, *X, *n, Y);
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

/* The answer's key and shape for m: "outputs" for a columnar request, a flat list for a
 * single-output regression. */
static void predict_reply(http_req *req, http_resp *resp, const reg_model *m, const float *Y, int n,
                          int columnar)
{
    const net_spec *sp = reg_model_spec(m);
    predict_answer(req, resp, columnar ? "outputs" : "predictions", Y, n, sp->n_out,
                   sp->task == TASK_REGRESSION && sp->n_out == 1);
}

/* A :predict request waiting in the batcher (server/batcher.h): its connection is suspended
 * (http_defer) and the batcher's thread answers it. */
typedef struct {
    http_req *req;
    reg_model *m; /* the request's reference, released once answered */
    int columnar;
} predict_wait;

static void predict_batched(void *ctx, mlp_err rc, const float *Y, int rows)
{
    predict_wait *w = ctx;
    http_req *req = w->req;
    if (rc) {
        api_fail(req, &req->resp, rc, NULL);
    } else {
        metrics_inference(reg_model_name(w->m), reg_model_version(w->m), rows);
        predict_reply(req, &req->resp, w->m, Y, rows, w->columnar);
    }
    reg_release(req->app->reg, w->m);
    free(w);
    http_answer_later(req);
}

/* Hands the request to the batcher, which answers it later and releases m; 0. -1 (nothing
 * changed) when it could not be queued; the caller computes it itself. */
static int predict_later(http_req *req, reg_model *m, const float *X, int n, int columnar)
{
    predict_wait *w = malloc(sizeof *w);
    if (!w) return -1;
    *w = (predict_wait){req, m, columnar};
    http_defer(req); /* before the batcher can answer: it resumes a suspended connection */
    mlp_err rc = batcher_submit(req->app->batch, m, X, n, predict_batched, w);
    if (rc) /* stopping or out of memory: answered at once, as the batcher would */
        predict_batched(w, rc, NULL, n);
    return 0;
}

void tfs_predict(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    float *X = NULL, *Y = NULL;
    int n = 0, columnar = 0;
    if (tfs_read_rows(req, resp, m, SIG_PREDICT, &X, &n, &columnar) == 0) {
        if (batcher_wants(req->app->batch, m, n) && predict_later(req, m, X, n, columnar) == 0) {
            infer_bufs_done();
            return; /* m is the batcher's callback's now */
        }
        if (compute(req, resp, m, X, n, &Y) == 0) predict_reply(req, resp, m, Y, n, columnar);
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
    if (verb_ok(req, resp, m, "classify") &&
        run(req, resp, m, SIG_CLASSIFY, &X, &Y, &n, &columnar) == 0) {
        int nl;
        char *const *labels = reg_model_labels(m, &nl);
        answer(req, resp, tfs_classify_json(Y, n, reg_model_spec(m)->n_out, labels, nl));
    }
    infer_bufs_done();
    reg_release(req->app->reg, m);
}

json_t *tfs_regress_json(const float *Y, int n, int n_out, int col)
{
    json_t *results = json_array();
    if (!results) return NULL;
    for (int i = 0; i < n; i++)
        if (json_array_append_new(results,
                                  tfs_real_json(Y[(size_t)i * (size_t)n_out + (size_t)col]))) {
            json_decref(results);
            return NULL;
        }
    return keyed("results", results);
}

void tfs_regress(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    float *X = NULL, *Y = NULL;
    int n = 0, columnar = 0;
    const net_spec *sp = reg_model_spec(m);
    if (!regress_ok(m))
        api_failf(req, resp, 400, NULL, "Expected %s signature method_name to be %s. Was: %s",
                  sig_kind[SIG_REGRESS], sig_method_names[SIG_REGRESS],
                  sig_method_names[sp->task == TASK_CLASSIFICATION ? SIG_CLASSIFY : SIG_PREDICT]);
    else if (run(req, resp, m, SIG_REGRESS, &X, &Y, &n, &columnar) == 0)
        /* a binary classifier's score of labels[1]: its one sigmoid output, or softmax's second */
        answer(req, resp, tfs_regress_json(Y, n, sp->n_out, sp->n_out == 2 ? 1 : 0));
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
    if (verb_ok(req, resp, m, "reconstruct") &&
        run(req, resp, m, SIG_PREDICT, &X, &Y, &n, &columnar) == 0)
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
    if (verb_ok(req, resp, m, "encode") &&
        tfs_read_rows(req, resp, m, SIG_PREDICT, &X, &n, &columnar) == 0) {
        int k = net_code_dim(nt);
        float *C = malloc((size_t)n * (size_t)k * sizeof *C);
        float *s = infer_room(&infer_bufs_get()->s,
                              net_scratch_floats(nt, n)); /* tfs_read_rows got them */
        if (!C || !s) {
            api_fail(req, resp, MLP_ENOMEM, NULL);
        } else {
            net_encode(nt, X, n, C, s);
            sched_infer_done(req->app->sched);
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
