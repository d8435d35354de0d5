/* infer_v2.c — the Open Inference Protocol (KServe V2) at /v2: server metadata and health, model
 * metadata and readiness, and infer, with three of Triton's extensions: binary tensor data,
 * classification (an output's parameters.classification = k answers the k best classes as BYTES
 * "score:index:label"), and the model repository (index, load, unload over the model cache).
 * Every $parameters object (request, input, output) must hold strings, numbers or booleans; names
 * this server does not use are accepted and ignored.
 *
 * Infer takes one input tensor "input" of shape [N, D] (FP32 or FP64; JSON "data" flat or nested,
 * row-major; or raw little-endian bytes after the JSON header, whose length is given by the
 * Inference-Header-Content-Length request header, with parameters.binary_data_size on the
 * input). Outputs by task: classification "probabilities" [N,K] FP32 and "label" [N] BYTES (the
 * class names as the dataset named them); regression "prediction" [N,K] FP32; autoencoder
 * "reconstruction" [N,D] FP32 and "reconstruction_error" [N] FP64 (mean squared error per
 * feature, net_recon_error, as /v1 :reconstruct gives it); the label is net_argmax_row's. The
 * request's "outputs" list selects and orders outputs; "parameters": {"binary_data": true} on an
 * output (or "binary_data_output": true on the request) returns it as raw bytes after the JSON
 * header, and the response then carries Inference-Header-Content-Length. The numbers are those of
 * /v1 :predict: both convert the inputs to float32 and call net_predict.
 *
 * Allocation: the input, output and network scratch matrices are per-thread buffers that grow
 * and are reused (freed at thread exit); a binary infer allocates only the jansson header tree
 * and the response body. */
#include "config.h"
#include "handlers.h"
#include "infer.h"
#include "infer_tfs.h"
#include "infer_v2.h"
#include "metrics.h"
#include "ops.h"
#include "problem.h"
#include "registry.h"
#include "store.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V2_SERVER_VERSION "0.1.0"
#define V2_MAX_OUTPUTS    2
#define V2_MAX_DEPTH      8 /* nesting levels of "data" */

/* ---- server and model metadata ---- */

void v2_server_meta(http_req *req, http_resp *resp)
{
    (void)req;
    api_json(resp, 200,
             json_pack("{s:s, s:s, s:[s, s, s]}", "name", "mlpd", "version", V2_SERVER_VERSION,
                       "extensions", "binary_tensor_data", "classification", "model_repository"));
}

void v2_live(http_req *req, http_resp *resp)
{
    (void)req;
    api_json(resp, 200, json_pack("{s:b}", "live", 1));
}

/* Ready as GET /readyz defines it (api/ops.h): the store answers and the disk has room. */
void v2_ready(http_req *req, http_resp *resp)
{
    mlp_error why;
    mlp_error_clear(&why);
    if (ops_ready(req->app, &why) != MLP_OK) {
        api_failf(req, resp, 503, NULL, "not ready: %s", why.msg);
        resp->retry_after = 5;
        return;
    }
    api_json(resp, 200, json_pack("{s:b}", "ready", 1));
}

static const char *const out_names[] = {"probabilities", "label", "prediction", "reconstruction",
                                        "reconstruction_error"};
static const char *const out_types[] = {"FP32", "BYTES", "FP32", "FP32", "FP64"};

/* Checks a $parameters object of the protocol: name -> string, number or boolean. Absent (NULL)
 * is fine; names this server does not know are accepted and ignored, as the protocol lets a
 * server define its own. Returns 0, or -1 after answering 400. */
static int params_check(http_req *req, http_resp *resp, json_t *p, const char *where)
{
    if (!p) return 0;
    if (!json_is_object(p)) {
        api_failf(req, resp, 400, NULL, "%s must be an object of name: string, number or boolean",
                  where);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        if (!json_is_string(v) && !json_is_number(v) && !json_is_boolean(v)) {
            api_failf(req, resp, 400, NULL, "%s.%s must be a string, number or boolean", where, k);
            return -1;
        }
    }
    return 0;
}

/* The outputs a task has, in their default order. Returns how many. */
static int task_outputs(net_task t, v2_out out[V2_MAX_OUTPUTS])
{
    switch (t) {
    case TASK_CLASSIFICATION:
        out[0] = OUT_PROB;
        out[1] = OUT_LABEL;
        return 2;
    case TASK_REGRESSION:
        out[0] = OUT_PRED;
        return 1;
    default:
        out[0] = OUT_RECON;
        out[1] = OUT_RECON_ERR;
        return 2;
    }
}

/* Columns of an output per row (0: a vector [N]). */
static int out_cols(v2_out o, const net_spec *sp)
{
    return o == OUT_PROB || o == OUT_PRED || o == OUT_RECON ? sp->n_out : 0;
}

static json_t *shape_json(long rows, int cols)
{
    return cols ? json_pack("[I, i]", (json_int_t)rows, cols) : json_pack("[I]", (json_int_t)rows);
}

void v2_model_meta(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    const net_spec *sp = reg_model_spec(m);
    json_t *versions = json_array();
    store_model sm;
    if (route_param(&req->m, "version") == NULL &&
        store_model_get(req->app->store, reg_model_name(m), &sm, NULL, NULL) == MLP_OK) {
        for (int i = 0; i < sm.n_versions; i++) {
            char vs[16];
            snprintf(vs, sizeof vs, "%d", sm.versions[i]);
            json_array_append_new(versions, json_string(vs));
        }
        store_model_clear(&sm);
    } else {
        char vs[16];
        snprintf(vs, sizeof vs, "%d", reg_model_version(m));
        json_array_append_new(versions, json_string(vs));
    }
    v2_out outs[V2_MAX_OUTPUTS];
    int n_out = task_outputs(sp->task, outs);
    json_t *outputs = json_array();
    for (int i = 0; i < n_out; i++)
        json_array_append_new(outputs, json_pack("{s:s, s:s, s:o}", "name", out_names[outs[i]],
                                                 "datatype", out_types[outs[i]], "shape",
                                                 shape_json(-1, out_cols(outs[i], sp))));
    json_t *o =
        json_pack("{s:s, s:o, s:s, s:[{s:s, s:s, s:o}], s:o}", "name", reg_model_name(m),
                  "versions", versions, "platform", "mlpd", "inputs", "name", "input", "datatype",
                  "FP32", "shape", shape_json(-1, sp->n_in), "outputs", outputs);
    reg_release(req->app->reg, m);
    api_json(resp, 200, o);
}

void v2_model_ready(http_req *req, http_resp *resp)
{
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    json_t *o = json_pack("{s:s, s:b}", "name", reg_model_name(m), "ready", 1);
    reg_release(req->app->reg, m);
    api_json(resp, 200, o);
}

/* ---- infer ---- */

/* Flattens nested "data" (row-major, d per row) into x as float32 (FP32 and FP64 alike: a JSON
 * number is read as a double, then rounded as /v1 does); counts values into *k (stores < cap;
 * with cap 0, x may be NULL: it only counts and checks).
 * Returns 0, or -1 after answering 400. */
static int flatten(http_req *req, http_resp *resp, json_t *a, int depth, float *x, size_t cap,
                   size_t d, size_t *k)
{
    if (depth > V2_MAX_DEPTH) {
        api_failf(req, resp, 400, NULL, "inputs[0].data is nested deeper than %d levels",
                  V2_MAX_DEPTH);
        return -1;
    }
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (json_is_array(v)) {
            if (flatten(req, resp, v, depth + 1, x, cap, d, k)) return -1;
            continue;
        }
        if (!json_is_number(v)) {
            api_failf(req, resp, 400, NULL,
                      "inputs[0].data value %zu (row %zu, column %zu) is not a number", *k, *k / d,
                      *k % d);
            return -1;
        }
        double dv = json_number_value(v);
        if (!isfinite(dv) || fabs(dv) > FLT_MAX) {
            api_failf(req, resp, 400, NULL,
                      "inputs[0].data value %zu (row %zu, column %zu) is not a finite float", *k,
                      *k / d, *k % d);
            return -1;
        }
        if (*k < cap) x[*k] = (float)dv;
        (*k)++;
    }
    return 0;
}

/* Reads one whole-number shape entry; -1 when not one. */
static json_int_t shape_dim(json_t *v)
{
    if (!json_is_integer(v)) return -1;
    json_int_t d = json_integer_value(v);
    return d < 0 ? -1 : d;
}

/* Parses the outputs list (or the defaults). Returns how many, or -1 after answering 400. */
static int read_outputs(http_req *req, http_resp *resp, json_t *hdr, const net_spec *sp,
                        v2_want want[V2_MAX_OUTPUTS])
{
    v2_out avail[V2_MAX_OUTPUTS];
    int n_avail = task_outputs(sp->task, avail);
    int all_binary = 0;
    json_t *params = json_object_get(hdr, "parameters");
    if (params_check(req, resp, params, "parameters")) return -1;
    json_t *bdo = json_object_get(params, "binary_data_output");
    if (bdo && !json_is_boolean(bdo)) {
        api_failf(req, resp, 400, NULL, "parameters.binary_data_output must be true or false");
        return -1;
    }
    all_binary = json_is_true(bdo);
    json_t *outs = json_object_get(hdr, "outputs");
    if (!outs) {
        for (int i = 0; i < n_avail; i++) want[i] = (v2_want){avail[i], all_binary, 0};
        return n_avail;
    }
    if (!json_is_array(outs) || json_array_size(outs) == 0) {
        api_failf(req, resp, 400, NULL, "outputs must be a non-empty list of {\"name\": ...}");
        return -1;
    }
    if (json_array_size(outs) > (size_t)n_avail) {
        api_failf(req, resp, 400, NULL, "outputs lists %zu tensors; this model has %d",
                  json_array_size(outs), n_avail);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < json_array_size(outs); i++) {
        json_t *o = json_array_get(outs, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!json_is_object(o) || !name) {
            api_failf(req, resp, 400, NULL, "outputs[%zu] needs a \"name\"", i);
            return -1;
        }
        int found = -1;
        for (int a = 0; a < n_avail; a++)
            if (strcmp(name, out_names[avail[a]]) == 0) found = a;
        if (found < 0) {
            api_failf(req, resp, 400, NULL,
                      "outputs[%zu].name '%s' is not an output of this %s model (%s%s%s)", i, name,
                      task_name(sp->task), out_names[avail[0]], n_avail > 1 ? ", " : "",
                      n_avail > 1 ? out_names[avail[1]] : "");
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (want[k].which == avail[found]) {
                api_failf(req, resp, 400, NULL, "outputs[%zu]: '%s' is listed twice", i, name);
                return -1;
            }
        json_t *op = json_object_get(o, "parameters");
        char where[48];
        snprintf(where, sizeof where, "outputs[%zu].parameters", i);
        if (params_check(req, resp, op, where)) return -1;
        json_t *bd = json_object_get(op, "binary_data");
        if (bd && !json_is_boolean(bd)) {
            api_failf(req, resp, 400, NULL,
                      "outputs[%zu].parameters.binary_data must be true or false", i);
            return -1;
        }
        /* Triton's classification extension: the k best classes instead of the probabilities */
        json_t *cl = json_object_get(op, "classification");
        int top = 0;
        if (cl) {
            if (avail[found] != OUT_PROB) {
                api_failf(req, resp, 400, NULL,
                          "outputs[%zu].parameters.classification applies to the probabilities "
                          "output of a classification model, not to '%s'",
                          i, name);
                return -1;
            }
            if (!json_is_integer(cl) || json_integer_value(cl) < 1 ||
                json_integer_value(cl) > sp->n_out) {
                api_failf(req, resp, 400, NULL,
                          "outputs[%zu].parameters.classification must be a whole number of "
                          "classes from 1 to %d",
                          i, sp->n_out);
                return -1;
            }
            top = (int)json_integer_value(cl);
        }
        want[n++] = (v2_want){avail[found], bd ? json_is_true(bd) : all_binary, top};
    }
    return n;
}

/* Reads the input tensor of the header into per-thread X (N×D float32). bin/bin_len: the bytes
 * after the JSON header (binary extension), or NULL. Returns 0, or -1 after answering. */
static int read_input(http_req *req, http_resp *resp, json_t *hdr, const net_spec *sp,
                      const char *bin, size_t bin_len, infer_bufs *t, float **X, long *rows)
{
    json_t *inputs = json_object_get(hdr, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
        api_failf(req, resp, 400, NULL,
                  "inputs must be a list of exactly one tensor {\"name\": \"input\", ...}");
        return -1;
    }
    json_t *in = json_array_get(inputs, 0);
    const char *name = json_string_value(json_object_get(in, "name"));
    const char *dt = json_string_value(json_object_get(in, "datatype"));
    json_t *shape = json_object_get(in, "shape");
    if (!json_is_object(in) || !name || strcmp(name, "input") != 0) {
        api_failf(req, resp, 400, NULL, "inputs[0].name must be \"input\"");
        return -1;
    }
    int fp64 = 0;
    if (!dt) {
        api_failf(req, resp, 400, NULL, "inputs[0].datatype is missing (FP32 or FP64)");
        return -1;
    } else if (strcmp(dt, "FP64") == 0) {
        fp64 = 1;
    } else if (strcmp(dt, "FP32") != 0) {
        api_failf(req, resp, 400, NULL,
                  "inputs[0].datatype %s is not supported; this model takes FP32 (or FP64)", dt);
        return -1;
    }
    /* Every limit is checked before the N x D floats are allocated. */
    json_int_t N = json_is_array(shape) && json_array_size(shape) == 2
                       ? shape_dim(json_array_get(shape, 0))
                       : -1;
    json_int_t D = N >= 0 ? shape_dim(json_array_get(shape, 1)) : -1;
    if (N < 1 || D < 0) {
        api_failf(req, resp, 400, NULL, "inputs[0].shape must be [N, %d] with N >= 1 whole numbers",
                  sp->n_in);
        return -1;
    }
    size_t esz = fp64 ? 8 : 4;
    if (D && (unsigned long long)N > SIZE_MAX / esz / (unsigned long long)D) {
        api_failf(req, resp, 400, NULL,
                  "inputs[0].shape [%lld, %lld] overflows: N x D x %zu bytes is not addressable",
                  (long long)N, (long long)D, esz);
        return -1;
    }
    if (D != sp->n_in) {
        api_failf(req, resp, 400, NULL, "inputs[0].shape is [%lld, %lld]; the model takes [N, %d]",
                  (long long)N, (long long)D, sp->n_in);
        return -1;
    }
    if (api_instances_check(req, resp, (size_t)N)) return -1;
    size_t count = (size_t)N * (size_t)D;
    json_t *data = json_object_get(in, "data");
    if (params_check(req, resp, json_object_get(in, "parameters"), "inputs[0].parameters"))
        return -1;
    json_t *bds = json_object_get(json_object_get(in, "parameters"), "binary_data_size");
    float *x = NULL;
    if (bds) {
        if (!json_is_integer(bds) || json_integer_value(bds) < 0 ||
            (unsigned long long)json_integer_value(bds) != count * esz) {
            api_failf(req, resp, 400, NULL,
                      "inputs[0].parameters.binary_data_size must be %zu (shape [%lld, %lld] of "
                      "%s)",
                      count * esz, (long long)N, (long long)D, dt);
            return -1;
        }
        if (data) {
            api_failf(req, resp, 400, NULL, "inputs[0] has both data and binary_data_size");
            return -1;
        }
        if (!bin) {
            api_failf(req, resp, 400, NULL,
                      "inputs[0].parameters.binary_data_size needs the binary tensor extension: "
                      "send the Inference-Header-Content-Length header");
            return -1;
        }
        if (bin_len != count * esz) {
            api_failf(req, resp, 400, NULL,
                      "the body has %zu bytes after the JSON header; binary_data_size says %zu",
                      bin_len, count * esz);
            return -1;
        }
        if (!(x = infer_room(&t->x, count))) {
            api_fail(req, resp, MLP_ENOMEM, NULL);
            return -1;
        }
        /* Little-endian on the wire; memcpy also avoids unaligned loads (any header length). */
        if (fp64) {
            for (size_t i = 0; i < count; i++) {
                double dv;
                memcpy(&dv, bin + i * 8, 8);
                if (!isfinite(dv) || fabs(dv) > FLT_MAX) goto not_finite;
                x[i] = (float)dv;
            }
        } else {
            memcpy(x, bin, count * 4);
            for (size_t i = 0; i < count; i++)
                if (!isfinite(x[i])) goto not_finite;
        }
        *X = x;
        *rows = (long)N;
        return 0;
    not_finite : {
        size_t i = 0;
        for (; i < count; i++) {
            double dv;
            if (fp64)
                memcpy(&dv, bin + i * 8, 8);
            else {
                float fv;
                memcpy(&fv, bin + i * 4, 4);
                dv = fv;
            }
            if (!isfinite(dv) || fabs(dv) > FLT_MAX) break;
        }
        api_failf(req, resp, 400, NULL,
                  "inputs[0] value at row %zu, column %zu is not a finite float", i / (size_t)D,
                  i % (size_t)D);
        return -1;
    }
    }
    if (bin && bin_len) {
        api_failf(req, resp, 400, NULL,
                  "the body has %zu bytes after the JSON header but no input declares "
                  "parameters.binary_data_size",
                  bin_len);
        return -1;
    }
    if (!json_is_array(data)) {
        api_failf(req, resp, 400, NULL,
                  "inputs[0].data must be a list of numbers (flat or nested)");
        return -1;
    }
    size_t k = 0; /* count (and check) the values before anything is allocated for them */
    if (flatten(req, resp, data, 0, NULL, 0, (size_t)D, &k)) return -1;
    if (k != count) {
        api_failf(req, resp, 400, NULL,
                  "inputs[0].data has %zu values; shape [%lld, %lld] needs %zu", k, (long long)N,
                  (long long)D, count);
        return -1;
    }
    if (!(x = infer_room(&t->x, count))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return -1;
    }
    k = 0;
    if (flatten(req, resp, data, 0, x, count, (size_t)D, &k)) return -1;
    *X = x;
    *rows = (long)N;
    return 0;
}

/* Whether class i ranks before class j in a row: higher probability first, the lower index on
 * ties, NaN last. A strict total order, so "the next after prev" is well defined. */
static int ranks_before(const float *row, int i, int j)
{
    int ni = isnan(row[i]), nj = isnan(row[j]);
    if (ni != nj) return nj;
    if (!ni && row[i] != row[j]) return row[i] > row[j];
    return i < j;
}

/* The class ranked right after class prev in a row (prev -1: the best). O(K), no memory. */
static int next_class(const float *row, int K, int prev)
{
    int best = -1;
    for (int j = 0; j < K; j++)
        if ((prev < 0 || ranks_before(row, prev, j)) && (best < 0 || ranks_before(row, j, best)))
            best = j;
    return best;
}

/* One element of the classification extension, "score:index:label" (Triton's form; the score
 * with float32's 9 significant digits), into buf; returns its length (snprintf's: may exceed
 * cap, then buf holds a prefix). */
static int class_str(char *buf, size_t cap, const v2_result *r, float p, int c)
{
    return c < r->n_labels ? snprintf(buf, cap, "%.9g:%d:%s", (double)p, c, r->labels[c])
                           : snprintf(buf, cap, "%.9g:%d", (double)p, c);
}

/* Bytes of an output's binary form. */
static size_t out_bytes(v2_want w, const v2_result *r, const float *Y, long N, int K)
{
    v2_out o = w.which;
    if (w.top) {
        size_t n = 0;
        for (long i = 0; i < N; i++) {
            const float *row = Y + (size_t)i * K;
            for (int k = 0, c = -1; k < w.top; k++) {
                c = next_class(row, K, c);
                n += 4 + (size_t)class_str(NULL, 0, r, row[c], c);
            }
        }
        return n;
    }
    if (o == OUT_LABEL) {
        size_t n = 0;
        for (long i = 0; i < N; i++) {
            int c = net_argmax_row(Y + (size_t)i * K, K);
            n += 4 + (c < r->n_labels ? strlen(r->labels[c]) : 0);
        }
        return n;
    }
    if (o == OUT_RECON_ERR) return (size_t)N * 8;
    return (size_t)N * (size_t)K * 4;
}

/* Writes an output's binary form at p (out_bytes long). */
static void out_write(v2_want w, const v2_result *r, const float *X, const float *Y, long N, int K,
                      int D, unsigned char *p)
{
    v2_out o = w.which;
    if (w.top) {
        for (long i = 0; i < N; i++) {
            const float *row = Y + (size_t)i * K;
            for (int k = 0, c = -1; k < w.top; k++) {
                c = next_class(row, K, c);
                uint32_t n = (uint32_t)class_str(NULL, 0, r, row[c], c);
                memcpy(p, &n, 4);
                /* snprintf writes n + 1 bytes; the NUL lands on the next length prefix, or on the
                 * byte after the body's end, which is why the caller allocates one spare byte */
                class_str((char *)p + 4, (size_t)n + 1, r, row[c], c);
                p += 4 + n;
            }
        }
    } else if (o == OUT_LABEL) {
        for (long i = 0; i < N; i++) {
            int c = net_argmax_row(Y + (size_t)i * K, K);
            const char *s = c < r->n_labels ? r->labels[c] : "";
            uint32_t n = (uint32_t)strlen(s);
            memcpy(p, &n, 4);
            memcpy(p + 4, s, n);
            p += 4 + n;
        }
    } else if (o == OUT_RECON_ERR) {
        for (long i = 0; i < N; i++) {
            double e = net_recon_error(X + (size_t)i * D, Y + (size_t)i * K, D);
            memcpy(p + (size_t)i * 8, &e, 8);
        }
    } else {
        memcpy(p, Y, (size_t)N * (size_t)K * 4);
    }
}

/* An output's JSON "data" (flat, row-major): a new reference, or NULL when any allocation
 * failed. */
static json_t *out_json_data(v2_want w, const v2_result *r, const float *X, const float *Y, long N,
                             int K, int D)
{
    v2_out o = w.which;
    json_t *a = json_array();
    if (!a) return NULL;
    size_t n = w.top                                  ? (size_t)N * (size_t)w.top
               : o == OUT_LABEL || o == OUT_RECON_ERR ? (size_t)N
                                                      : (size_t)N * (size_t)K;
    int c = -1; /* the classification extension's class of the previous element */
    for (size_t i = 0; i < n; i++) {
        json_t *v;
        if (w.top) {
            const float *row = Y + i / (size_t)w.top * (size_t)K;
            c = next_class(row, K, i % (size_t)w.top ? c : -1);
            char small[64];
            int len = class_str(small, sizeof small, r, row[c], c);
            if (len < (int)sizeof small) {
                v = json_string(small);
            } else { /* a long label */
                char *big = malloc((size_t)len + 1);
                if (big) class_str(big, (size_t)len + 1, r, row[c], c);
                v = big ? json_string(big) : NULL;
                free(big);
            }
        } else if (o == OUT_LABEL) {
            int best = net_argmax_row(Y + i * (size_t)K, K);
            v = json_string(best < r->n_labels ? r->labels[best] : "");
        } else if (o == OUT_RECON_ERR) {
            v = tfs_real_json(net_recon_error(X + i * (size_t)D, Y + i * (size_t)K, D));
        } else {
            v = tfs_real_json(Y[i]);
        }
        if (json_array_append_new(a, v)) { /* frees v; fails on v == NULL too */
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *v2_answer_json(const v2_result *r, size_t *bin_total)
{
    int K = r->sp->n_out, D = r->sp->n_in;
    size_t total = 0;
    char vs[16];
    json_t *outputs = json_array(), *res = NULL;
    if (!outputs) goto fail;
    /* each append and set frees its value on failure, and fails on a NULL value */
    for (int i = 0; i < r->n_want; i++) {
        v2_want w = r->want[i];
        v2_out o = w.which;
        json_t *ot = json_object();
        if (json_array_append_new(outputs, ot) ||
            json_object_set_new(ot, "name", json_string(out_names[o])) ||
            json_object_set_new(ot, "datatype", json_string(w.top ? "BYTES" : out_types[o])) ||
            json_object_set_new(ot, "shape", shape_json(r->N, w.top ? w.top : out_cols(o, r->sp))))
            goto fail;
        if (w.binary) {
            size_t nb = out_bytes(w, r, r->Y, r->N, K);
            if (json_object_set_new(ot, "parameters",
                                    json_pack("{s:I}", "binary_data_size", (json_int_t)nb)))
                goto fail;
            total += nb;
        } else if (json_object_set_new(ot, "data", out_json_data(w, r, r->X, r->Y, r->N, K, D))) {
            goto fail;
        }
    }
    snprintf(vs, sizeof vs, "%d", r->version);
    res = json_pack("{s:s, s:s}", "model_name", r->name, "model_version", vs);
    if (!res || (r->id && json_object_set(res, "id", r->id))) goto fail;
    int set_rc = json_object_set_new(res, "outputs", outputs);
    outputs = NULL; /* json_object_set_new took it, even on failure */
    if (set_rc) goto fail;
    *bin_total = total;
    return res;
fail:
    json_decref(outputs);
    json_decref(res);
    return NULL;
}

void v2_infer(http_req *req, http_resp *resp)
{
    json_t *hdr = NULL, *res = NULL;
    char *head = NULL, *body = NULL;
    reg_model *m = infer_model(req, resp);
    if (!m) return;
    const net_spec *sp = reg_model_spec(m);
    infer_bufs *t = infer_bufs_get();
    if (!t) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }

    /* The JSON header: the whole body, or its first Inference-Header-Content-Length bytes. */
    const char *ihcl = http_header(req, "Inference-Header-Content-Length");
    const char *bin = NULL;
    size_t bin_len = 0;
    if (ihcl) {
        char *end;
        unsigned long long hl = strtoull(ihcl, &end, 10);
        if (end == ihcl || *end || hl == 0 || hl > req->body_len) {
            api_failf(req, resp, 400, NULL,
                      "Inference-Header-Content-Length '%s' must be a number of bytes from 1 to "
                      "the body length (%zu)",
                      ihcl, req->body_len);
            goto out;
        }
        if (!api_json_depth_ok(req->body, (size_t)hl, req->app->cfg->max_json_depth)) {
            api_failf(req, resp, 400, NULL, "the JSON header nests deeper than --max-json-depth %d",
                      req->app->cfg->max_json_depth);
            goto out;
        }
        json_error_t je;
        hdr = json_loadb(req->body, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
        if (!hdr) {
            api_failf(req, resp, 400, NULL,
                      "the JSON header is not valid JSON: %s (line %d, column %d)", je.text,
                      je.line, je.column);
            goto out;
        }
        if (!json_is_object(hdr)) {
            api_failf(req, resp, 400, NULL, "the JSON header must be a JSON object");
            goto out;
        }
        bin = req->body + hl;
        bin_len = req->body_len - (size_t)hl;
    } else if (!(hdr = api_body_object(req, resp))) {
        goto out;
    }
    json_t *id = json_object_get(hdr, "id");
    if (id && !json_is_string(id)) {
        api_failf(req, resp, 400, NULL, "id must be a string");
        goto out;
    }
    v2_want want[V2_MAX_OUTPUTS];
    int n_want = read_outputs(req, resp, hdr, sp, want);
    if (n_want < 0) goto out;
    float *X = NULL;
    long N = 0;
    if (read_input(req, resp, hdr, sp, bin, bin_len, t, &X, &N)) goto out;

    int K = sp->n_out, D = sp->n_in;
    float *Y = infer_room(&t->y, (size_t)N * (size_t)K);
    float *S = infer_room(&t->s, reg_model_scratch_floats(m, (int)N));
    if (!Y || !S) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    reg_model_predict(m, X, (int)N, Y, S);
    sched_infer_done(req->app->sched);

    /* Response header (JSON), then the binary outputs in order. */
    size_t bin_total = 0;
    v2_result r = {reg_model_name(m), reg_model_version(m), NULL, 0, sp, id, want, n_want, X, Y, N};
    r.labels = reg_model_labels(m, &r.n_labels);
    if (!(res = v2_answer_json(&r, &bin_total))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    if (bin_total == 0) {
        metrics_inference(reg_model_name(m), reg_model_version(m), N);
        api_json(resp, 200, res);
        res = NULL;
        goto out;
    }
    head = json_dumps(res, JSON_COMPACT | JSON_REAL_PRECISION(9));
    size_t hl = head ? strlen(head) : 0;
    body = head ? malloc(hl + bin_total + 1) : NULL; /* + 1: out_write's last NUL */
    if (!body) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    memcpy(body, head, hl);
    unsigned char *p = (unsigned char *)body + hl;
    for (int i = 0; i < n_want; i++) {
        if (!want[i].binary) continue;
        out_write(want[i], &r, X, Y, N, K, D, p);
        p += out_bytes(want[i], &r, Y, N, K);
    }
    resp_take(resp, 200, "application/octet-stream", body, hl + bin_total);
    body = NULL;
    snprintf(resp->hdr_name, sizeof resp->hdr_name, "Inference-Header-Content-Length");
    snprintf(resp->hdr_value, sizeof resp->hdr_value, "%zu", hl);
    metrics_inference(reg_model_name(m), reg_model_version(m), N);
out:
    free(head);
    free(body);
    json_decref(res);
    json_decref(hdr);
    infer_bufs_done();
    reg_release(req->app->reg, m);
}

/* ---- model repository extension (Triton's): index, load, unload over the model cache ----
 *
 * mlpd's repository is its store; every stored version is servable, and the first request for
 * one loads it into the registry's cache (--model-cache). So "load" warms the latest version into
 * the cache, "unload" drops every cached version of the model (the store keeps them: the next
 * request loads again), and the index lists each stored version as READY when it is cached,
 * UNAVAILABLE (reason: not loaded) when it is not. */

/* The optional request body of the repository calls: NULL when empty, else an object (*o, new)
 * whose "parameters" are checked. Returns 0, or -1 after answering. */
static int repo_body(http_req *req, http_resp *resp, json_t **o)
{
    *o = NULL;
    if (!req->body || req->body_len == 0) return 0;
    if (!(*o = api_body_object(req, resp))) return -1;
    if (params_check(req, resp, json_object_get(*o, "parameters"), "parameters")) {
        json_decref(*o);
        *o = NULL;
        return -1;
    }
    return 0;
}

#define V2_INDEX_PAGE 1000 /* models per store read while listing them all */

void v2_repo_index(http_req *req, http_resp *resp)
{
    json_t *body = NULL, *arr = NULL;
    store_model *items = NULL;
    int n = 0;
    if (repo_body(req, resp, &body)) return;
    json_t *ready = json_object_get(body, "ready");
    if (ready && !json_is_boolean(ready)) {
        api_failf(req, resp, 400, NULL, "ready must be true or false");
        goto out;
    }
    int only_ready = json_is_true(ready);
    if (!(arr = json_array())) goto nomem;
    for (int offset = 0;; offset += V2_INDEX_PAGE) {
        long total = 0;
        store_view view = {&req->who, NULL}; /* only the models the caller sees (model-see) */
        mlp_err rc =
            store_model_list_for(req->app->store, &view, V2_INDEX_PAGE, offset, &items, &n, &total);
        if (rc) {
            api_fail(req, resp, rc, NULL);
            goto out;
        }
        for (int i = 0; i < n; i++)
            for (int k = 0; k < items[i].n_versions; k++) {
                int cached = reg_cached(req->app->reg, items[i].name, items[i].versions[k]);
                if (only_ready && !cached) continue;
                char vs[16];
                snprintf(vs, sizeof vs, "%d", items[i].versions[k]);
                if (json_array_append_new(
                        arr, json_pack("{s:s, s:s, s:s, s:s}", "name", items[i].name, "version", vs,
                                       "state", cached ? "READY" : "UNAVAILABLE", "reason",
                                       cached ? "" : "not loaded; the first request loads it")))
                    goto nomem;
            }
        store_models_free(items, n);
        items = NULL;
        if (n < V2_INDEX_PAGE || offset + n >= total) break;
    }
    api_json(resp, 200, arr);
    arr = NULL;
    goto out;
nomem:
    api_fail(req, resp, MLP_ENOMEM, NULL);
out:
    store_models_free(items, n);
    json_decref(arr);
    json_decref(body);
}

void v2_repo_load(http_req *req, http_resp *resp)
{
    json_t *body = NULL;
    if (!infer_model_name(req, resp) || repo_body(req, resp, &body)) return;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(body, "parameters"), k, v)
    {
        if (strcmp(k, "config") == 0 || strncmp(k, "file:", 5) == 0) {
            api_failf(req, resp, 400, NULL,
                      "parameters.%s is not supported: mlpd loads the versions in its store "
                      "(POST /api/v1/models/{name}/versions imports one)",
                      k);
            json_decref(body);
            return;
        }
    }
    json_decref(body);
    reg_model *m = infer_model(req, resp); /* loads the latest version into the cache */
    if (!m) return;
    reg_release(req->app->reg, m);
    resp_take(resp, 200, NULL, NULL, 0);
}

void v2_repo_unload(http_req *req, http_resp *resp)
{
    json_t *body = NULL;
    const char *name = infer_model_name(req, resp);
    if (!name || repo_body(req, resp, &body)) return;
    json_t *dep = json_object_get(json_object_get(body, "parameters"), "unload_dependents");
    int bad_dep = dep && !json_is_boolean(dep);
    json_decref(body);
    if (bad_dep) { /* a model has no dependents here; the flag is accepted for Triton's clients */
        api_failf(req, resp, 400, NULL, "parameters.unload_dependents must be true or false");
        return;
    }
    store_model sm;
    memset(&sm, 0, sizeof sm);
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = store_model_get(req->app->store, name, &sm, NULL, NULL);
    if (rc) {
        if (rc == MLP_ENOTFOUND) mlp_fail(&err, rc, "no model named '%s'", name);
        api_fail(req, resp, rc, rc == MLP_ENOTFOUND ? &err : NULL);
        return;
    }
    /* waits for the requests using a version; the store keeps every one */
    for (int i = 0; i < sm.n_versions; i++) reg_evict(req->app->reg, name, sm.versions[i]);
    store_model_clear(&sm);
    resp_take(resp, 200, NULL, NULL, 0);
}
