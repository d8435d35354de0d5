/* test_v2.c — the Open Inference Protocol (/v2) end to end against the real daemon: server
 * metadata and health, model metadata and readiness, infer with JSON data flat and nested, FP64,
 * output selection, id echo, the binary tensor extension (binary request, binary response, BYTES
 * labels, the classification extension's BYTES in binary and JSON alike), the error cases, and
 * identical numbers to /v1 :predict, :classify and :reconstruct for the same model and rows
 * (classification, regression with two targets, autoencoder). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

static void upload_and_train(const char *name, const char *csv, const char *run_tail)
{
    assert_int_equal(train_csv(&S, name, csv, run_tail, 120), 0);
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL) != 0) return -1;
    unsigned s = 11;
    size_t cap = 64 * 1024;
    char *csv = malloc(cap), *p = csv;
    /* three blobs with string labels */
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < 240; i++) {
        int k = i % 3;
        p += sprintf(p, "%.4f,%.4f,%s\n",
                     (k == 0   ? -2
                      : k == 1 ? 2
                               : 0) +
                         h_urand(&s) - 0.5,
                     (k == 2 ? 3 : 0) + h_urand(&s) - 0.5,
                     k == 0   ? "cat"
                     : k == 1 ? "dog"
                              : "emu");
    }
    upload_and_train("clf", csv,
                     "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[8],"
                     "\"epochs\":15,\"learning_rate\":0.02,\"batch_size\":16,\"seed\":1}");
    /* two regression targets of three features */
    p = csv;
    p += sprintf(p, "x1,x2,x3,y1,y2\n");
    for (int i = 0; i < 200; i++) {
        double a = h_urand(&s) * 4 - 2, b = h_urand(&s) * 4 - 2, c = h_urand(&s) * 4 - 2;
        p += sprintf(p, "%.4f,%.4f,%.4f,%.4f,%.4f\n", a, b, c, 3 * a - b + 10, a * c - 100);
    }
    upload_and_train(
        "reg", csv,
        "\"task\":\"regression\",\"target\":[\"y1\",\"y2\"],\"params\":{\"hidden\":[6],"
        "\"epochs\":5,\"seed\":2}");
    /* an autoencoder of four correlated columns */
    p = csv;
    p += sprintf(p, "c1,c2,c3,c4\n");
    for (int i = 0; i < 200; i++) {
        double a = h_urand(&s), b = h_urand(&s);
        p += sprintf(p, "%.4f,%.4f,%.4f,%.4f\n", a, b, a + b, a - b);
    }
    upload_and_train("ae", csv,
                     "\"task\":\"autoencoder\",\"params\":{\"hidden\":[3,2,3],\"epochs\":5,"
                     "\"seed\":3}");
    free(csv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

/* Asserts status and that an error body is {"error": "..."} containing `needle`. */
static void expect_error(long st, hresp *r, long want, const char *needle)
{
    if (st != want || !strstr(r->body, needle))
        fprintf(stderr, "want %ld containing '%s', got %ld %s\n", want, needle, st, r->body);
    assert_int_equal(st, want);
    json_t *j = hresp_json(r);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "error")));
    assert_int_equal(json_object_size(j), 1);
    assert_non_null(strstr(r->body, needle));
    json_decref(j);
}

static json_t *output_named(json_t *resp, const char *name)
{
    json_t *outs = json_object_get(resp, "outputs");
    for (size_t i = 0; i < json_array_size(outs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(outs, i), "name")), name) == 0)
            return json_array_get(outs, i);
    return NULL;
}

static void assert_shape(json_t *out, long a, long b)
{
    json_t *sh = json_object_get(out, "shape");
    assert_int_equal(json_integer_value(json_array_get(sh, 0)), a);
    if (b >= 0) {
        assert_int_equal(json_array_size(sh), 2);
        assert_int_equal(json_integer_value(json_array_get(sh, 1)), b);
    } else {
        assert_int_equal(json_array_size(sh), 1);
    }
}

static void server_and_health(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/v2", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "mlpd");
    assert_true(json_is_string(json_object_get(j, "version")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "extensions"), 0)),
                        "binary_tensor_data");
    json_decref(j);
    j = get_json(&S, "/v2/health/live", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "live")));
    json_decref(j);
    j = get_json(&S, "/v2/health/ready", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
}

static void model_metadata(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/v2/models/clf", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "clf");
    assert_string_equal(json_string_value(json_object_get(j, "platform")), "mlpd");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "versions"), 0)), "1");
    json_t *in = json_array_get(json_object_get(j, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "input");
    assert_string_equal(json_string_value(json_object_get(in, "datatype")), "FP32");
    assert_shape(in, -1, 2);
    json_t *pr = output_named(j, "probabilities"), *lb = output_named(j, "label");
    assert_non_null(pr);
    assert_non_null(lb);
    assert_shape(pr, -1, 3);
    assert_shape(lb, -1, -1);
    assert_string_equal(json_string_value(json_object_get(lb, "datatype")), "BYTES");
    json_decref(j);

    j = get_json(&S, "/v2/models/reg/versions/1", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 1);
    assert_shape(output_named(j, "prediction"), -1, 2);
    json_decref(j);
    j = get_json(&S, "/v2/models/ae", &st);
    assert_int_equal(st, 200);
    assert_shape(output_named(j, "reconstruction"), -1, 4);
    json_t *re = output_named(j, "reconstruction_error");
    assert_shape(re, -1, -1);
    assert_string_equal(json_string_value(json_object_get(re, "datatype")), "FP64");
    json_decref(j);

    j = get_json(&S, "/v2/models/clf/ready", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
    j = get_json(&S, "/v2/models/clf/versions/1/ready", &st);
    assert_int_equal(st, 200);
    json_decref(j);

    hresp r;
    expect_error(http_do(&S, "GET", "/v2/models/nope", NULL, NULL, 0, NULL, &r), &r, 404, "nope");
    hresp_free(&r);
    expect_error(http_do(&S, "GET", "/v2/models/clf/versions/7/ready", NULL, NULL, 0, NULL, &r), &r,
                 404, "7");
    hresp_free(&r);
    expect_error(http_do(&S, "GET", "/v2/models/clf/versions/x", NULL, NULL, 0, NULL, &r), &r, 400,
                 "version");
    hresp_free(&r);
    expect_error(http_do(&S, "GET", "/v2/nothing/here", NULL, NULL, 0, NULL, &r), &r, 404, "route");
    hresp_free(&r);
    expect_error(http_do(&S, "DELETE", "/v2/models/clf", NULL, NULL, 0, NULL, &r), &r, 405, "GET");
    hresp_free(&r);
}

/* Rows shared by the comparisons: 5 rows of width d, text for /v1 and flat/nested for /v2. */
static void rows_text(int d, int n, char *v1, char *flat, char *nested, double *vals)
{
    unsigned s = 99;
    char *a = v1, *b = flat, *c = nested;
    a += sprintf(a, "{\"instances\":[");
    b += sprintf(b, "[");
    c += sprintf(c, "[");
    for (int i = 0; i < n; i++) {
        a += sprintf(a, "%s[", i ? "," : "");
        c += sprintf(c, "%s[", i ? "," : "");
        for (int k = 0; k < d; k++) {
            double x = h_urand(&s) * 6 - 3;
            vals[i * d + k] = x;
            a += sprintf(a, "%s%.17g", k ? "," : "", x);
            b += sprintf(b, "%s%.17g", i || k ? "," : "", x);
            c += sprintf(c, "%s%.17g", k ? "," : "", x);
        }
        a += sprintf(a, "]");
        c += sprintf(c, "]");
    }
    sprintf(a, "]}");
    sprintf(b, "]");
    sprintf(c, "]");
}

/* Flattened numbers of a JSON output as float32 (what both protocols computed). */
static void data_floats(json_t *data, float *out, size_t *n)
{
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *v = json_array_get(data, i);
        if (json_is_array(v))
            data_floats(v, out, n);
        else
            out[(*n)++] = (float)json_number_value(v);
    }
}

static json_t *infer(const char *model, const char *body, long *st)
{
    char path[128];
    snprintf(path, sizeof path, "/v2/models/%s/infer", model);
    json_t *j = post_json(&S, path, body, st);
    if (*st != 200) fprintf(stderr, "infer %s: %ld %s\n", model, *st, json_dumps(j, 0));
    return j;
}

static void classification_same_as_v1(void **state)
{
    (void)state;
    enum { N = 5, D = 2 };
    char v1[4096], flat[4096], nested[4096], body[8192];
    double vals[N * D];
    rows_text(D, N, v1, flat, nested, vals);
    long st;
    json_t *p1 = post_json(&S, "/v1/models/clf:predict", v1, &st);
    assert_int_equal(st, 200);
    float want[N * 3];
    size_t nw = 0;
    data_floats(json_object_get(p1, "predictions"), want, &nw);
    assert_int_equal(nw, N * 3);
    json_decref(p1);
    json_t *c1 = post_json(&S, "/v1/models/clf:classify", v1, &st);
    assert_int_equal(st, 200);

#define V2_FMT                                                                                     \
    "{\"id\":\"req-42\",\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"%s\","    \
    "\"data\":%s}]}"
    const char *variants[3][2] = {{"FP32", flat}, {"FP32", nested}, {"FP64", flat}};
    for (int v = 0; v < 3; v++) {
        snprintf(body, sizeof body, V2_FMT, N, D, variants[v][0], variants[v][1]);
        json_t *r = infer("clf", body, &st);
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(r, "id")), "req-42");
        assert_string_equal(json_string_value(json_object_get(r, "model_name")), "clf");
        assert_string_equal(json_string_value(json_object_get(r, "model_version")), "1");
        json_t *pr = output_named(r, "probabilities"), *lb = output_named(r, "label");
        assert_shape(pr, N, 3);
        assert_shape(lb, N, -1);
        assert_string_equal(json_string_value(json_object_get(pr, "datatype")), "FP32");
        float got[N * 3];
        size_t ng = 0;
        data_floats(json_object_get(pr, "data"), got, &ng);
        assert_int_equal(ng, N * 3);
        for (int i = 0; i < N * 3; i++) assert_true(got[i] == want[i]); /* bit-identical floats */
        for (int i = 0; i < N; i++) { /* the label is :classify's best */
            const char *best = json_string_value(json_array_get(
                json_array_get(json_array_get(json_object_get(c1, "results"), (size_t)i), 0), 0));
            assert_string_equal(
                json_string_value(json_array_get(json_object_get(lb, "data"), (size_t)i)), best);
        }
        json_decref(r);
    }
    json_decref(c1);

    /* outputs selects (and orders); no id in, no id out */
    snprintf(
        body, sizeof body,
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP32\",\"data\":%s}],"
        "\"outputs\":[{\"name\":\"label\"}]}",
        N, D, flat);
    json_t *r = infer("clf", body, &st);
    assert_int_equal(st, 200);
    assert_null(json_object_get(r, "id"));
    assert_int_equal(json_array_size(json_object_get(r, "outputs")), 1);
    assert_non_null(output_named(r, "label"));
    json_decref(r);
}

static void regression_and_autoencoder_same_as_v1(void **state)
{
    (void)state;
    enum { N = 5 };
    char v1[4096], flat[4096], nested[4096], body[8192];
    double vals[N * 4];
    long st;

    rows_text(3, N, v1, flat, nested, vals);
    json_t *p1 = post_json(&S, "/v1/models/reg:predict", v1, &st);
    assert_int_equal(st, 200);
    float want[N * 4], got[N * 4];
    size_t nw = 0, ng = 0;
    data_floats(json_object_get(p1, "predictions"), want, &nw);
    assert_int_equal(nw, N * 2);
    json_decref(p1);
    snprintf(
        body, sizeof body,
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,3],\"datatype\":\"FP64\",\"data\":%s}]}", N,
        nested);
    json_t *r = infer("reg", body, &st);
    assert_int_equal(st, 200);
    json_t *pr = output_named(r, "prediction");
    assert_shape(pr, N, 2);
    data_floats(json_object_get(pr, "data"), got, &ng);
    assert_int_equal(ng, N * 2);
    for (int i = 0; i < N * 2; i++) assert_true(got[i] == want[i]);
    json_decref(r);

    rows_text(4, N, v1, flat, nested, vals);
    p1 = post_json(&S, "/v1/models/ae:reconstruct", v1, &st);
    assert_int_equal(st, 200);
    nw = 0;
    data_floats(json_object_get(p1, "reconstructions"), want, &nw);
    assert_int_equal(nw, N * 4);
    snprintf(
        body, sizeof body,
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,4],\"datatype\":\"FP32\",\"data\":%s}]}", N,
        flat);
    r = infer("ae", body, &st);
    assert_int_equal(st, 200);
    ng = 0;
    data_floats(json_object_get(output_named(r, "reconstruction"), "data"), got, &ng);
    assert_int_equal(ng, N * 4);
    for (int i = 0; i < N * 4; i++) assert_true(got[i] == want[i]);
    json_t *re = json_object_get(output_named(r, "reconstruction_error"), "data");
    json_t *e1 = json_object_get(p1, "errors");
    assert_int_equal(json_array_size(re), N);
    for (size_t i = 0; i < N; i++)
        assert_true(json_number_value(json_array_get(re, i)) ==
                    json_number_value(json_array_get(e1, i)));
    json_decref(r);
    json_decref(p1);
}

/* A binary request: header JSON then the tensor bytes. Returns the status; *r the response. */
static long binary_infer(const char *model, const char *hdr, const void *tensor, size_t tlen,
                         hresp *r)
{
    size_t hl = strlen(hdr);
    char *body = malloc(hl + tlen);
    memcpy(body, hdr, hl);
    memcpy(body + hl, tensor, tlen);
    char path[128], h[80];
    snprintf(path, sizeof path, "/v2/models/%s/infer", model);
    snprintf(h, sizeof h, "Inference-Header-Content-Length: %zu", hl);
    long st = http_do(&S, "POST", path, "application/octet-stream", body, hl + tlen, h, r);
    free(body);
    return st;
}

static void binary_extension(void **state)
{
    (void)state;
    enum { N = 64, D = 2 };
    char v1[16384], flat[16384], nested[16384];
    double vals[N * D];
    rows_text(D, N, v1, flat, nested, vals);
    float x32[N * D];
    for (int i = 0; i < N * D; i++) x32[i] = (float)vals[i];
    long st;
    json_t *p1 = post_json(&S, "/v1/models/clf:predict", v1, &st);
    assert_int_equal(st, 200);
    float want[N * 3];
    size_t nw = 0;
    data_floats(json_object_get(p1, "predictions"), want, &nw);
    json_decref(p1);

    /* binary in, JSON out */
    char hdr[512];
    snprintf(
        hdr, sizeof hdr,
        "{\"id\":\"b1\",\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP32\","
        "\"parameters\":{\"binary_data_size\":%zu}}]}",
        N, D, sizeof x32);
    hresp r;
    st = binary_infer("clf", hdr, x32, sizeof x32, &r);
    assert_int_equal(st, 200);
    assert_string_equal(r.content_type, "application/json");
    json_t *j = hresp_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "b1");
    float got[N * 3];
    size_t ng = 0;
    data_floats(json_object_get(output_named(j, "probabilities"), "data"), got, &ng);
    assert_int_equal(ng, N * 3);
    for (int i = 0; i < N * 3; i++) assert_true(got[i] == want[i]);
    json_t *labels_json = json_incref(json_object_get(output_named(j, "label"), "data"));
    json_decref(j);
    hresp_free(&r);

    /* FP64 binary in, both outputs binary out */
    double x64[N * D];
    for (int i = 0; i < N * D; i++) x64[i] = vals[i];
    snprintf(hdr, sizeof hdr,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP64\","
             "\"parameters\":{\"binary_data_size\":%zu}}],\"outputs\":[{\"name\":\"label\","
             "\"parameters\":{\"binary_data\":true}},{\"name\":\"probabilities\",\"parameters\":"
             "{\"binary_data\":true}}]}",
             N, D, sizeof x64);
    st = binary_infer("clf", hdr, x64, sizeof x64, &r);
    assert_int_equal(st, 200);
    assert_string_equal(r.content_type, "application/octet-stream");
    size_t rhl = strtoul(r.infer_header_len, NULL, 10);
    assert_true(rhl > 0 && rhl < r.len);
    j = json_loadb(r.body, rhl, 0, NULL);
    assert_non_null(j);
    json_t *lo = json_array_get(json_object_get(j, "outputs"), 0);
    json_t *po = json_array_get(json_object_get(j, "outputs"), 1);
    assert_string_equal(json_string_value(json_object_get(lo, "name")), "label");
    assert_string_equal(json_string_value(json_object_get(po, "name")), "probabilities");
    assert_null(json_object_get(po, "data"));
    size_t lsz = (size_t)json_integer_value(
        json_object_get(json_object_get(lo, "parameters"), "binary_data_size"));
    size_t psz = (size_t)json_integer_value(
        json_object_get(json_object_get(po, "parameters"), "binary_data_size"));
    assert_int_equal(psz, N * 3 * 4);
    assert_int_equal(rhl + lsz + psz, r.len);
    /* BYTES: 4-byte little-endian length, then the bytes, per element */
    const unsigned char *b = (const unsigned char *)r.body + rhl;
    for (int i = 0; i < N; i++) {
        uint32_t len;
        memcpy(&len, b, 4);
        const char *w = json_string_value(json_array_get(labels_json, (size_t)i));
        assert_int_equal(len, strlen(w));
        assert_memory_equal(b + 4, w, len);
        b += 4 + len;
    }
    assert_ptr_equal(b, (const unsigned char *)r.body + rhl + lsz);
    float bin[N * 3];
    memcpy(bin, b, sizeof bin);
    for (int i = 0; i < N * 3; i++) assert_true(bin[i] == want[i]);
    json_decref(j);
    json_decref(labels_json);
    hresp_free(&r);

    /* request-wide binary_data_output, JSON (no binary input) request */
    char body[20000];
    snprintf(body, sizeof body,
             "{\"parameters\":{\"binary_data_output\":true},\"inputs\":[{\"name\":\"input\","
             "\"shape\":[%d,%d],\"datatype\":\"FP32\",\"data\":%s}],\"outputs\":[{\"name\":"
             "\"probabilities\"}]}",
             N, D, flat);
    st = http_do(&S, "POST", "/v2/models/clf/infer", NULL, body, strlen(body), NULL, &r);
    assert_int_equal(st, 200);
    rhl = strtoul(r.infer_header_len, NULL, 10);
    assert_int_equal(r.len, rhl + N * 3 * 4);
    memcpy(bin, r.body + rhl, sizeof bin);
    for (int i = 0; i < N * 3; i++) assert_true(bin[i] == want[i]);
    hresp_free(&r);

    /* binary errors */
    snprintf(hdr, sizeof hdr,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":%zu}}]}",
             N, D, sizeof x32);
    expect_error(binary_infer("clf", hdr, x32, sizeof x32 - 4, &r), &r, 400, "bytes after");
    hresp_free(&r);
    float bad[N * D];
    memcpy(bad, x32, sizeof bad);
    bad[7] = NAN;
    expect_error(binary_infer("clf", hdr, bad, sizeof bad, &r), &r, 400, "row 3, column 1");
    hresp_free(&r);
    snprintf(hdr, sizeof hdr,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":12}}]}",
             N, D);
    expect_error(binary_infer("clf", hdr, x32, sizeof x32, &r), &r, 400, "binary_data_size");
    hresp_free(&r);
    st = http_do(&S, "POST", "/v2/models/clf/infer", "application/octet-stream", "{}", 2,
                 "Inference-Header-Content-Length: 99", &r);
    expect_error(st, &r, 400, "Inference-Header-Content-Length");
    hresp_free(&r);
    st = http_do(&S, "POST", "/v2/models/clf/infer", "application/octet-stream", "{\"inp", 5,
                 "Inference-Header-Content-Length: 5", &r);
    expect_error(st, &r, 400, "not valid JSON");
    hresp_free(&r);
}

/* The classification extension's BYTES tensor is the same in binary (4-byte little-endian length,
 * then the bytes, per element) as in JSON, for every row and rank. */
static void classification_binary_equals_json(void **state)
{
    (void)state;
    enum { N = 64, D = 2 };
    char v1[16384], flat[16384], nested[16384];
    double vals[N * D];
    rows_text(D, N, v1, flat, nested, vals);
    static const char out[] =
        "\"outputs\":[{\"name\":\"probabilities\",\"parameters\":{\"classification\":3%s}}]}";
    char body[20000], tail[256];
    snprintf(tail, sizeof tail, out, "");
    snprintf(body, sizeof body,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP32\","
             "\"data\":%s}],%s",
             N, D, flat, tail);
    long st;
    json_t *j = post_json(&S, "/v2/models/clf/infer", body, &st);
    assert_int_equal(st, 200);
    json_t *o = output_named(j, "probabilities");
    assert_string_equal(json_string_value(json_object_get(o, "datatype")), "BYTES");
    assert_shape(o, N, 3);
    json_t *data = json_object_get(o, "data");
    assert_int_equal(json_array_size(data), N * 3);

    snprintf(tail, sizeof tail, out, ",\"binary_data\":true");
    snprintf(body, sizeof body,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[%d,%d],\"datatype\":\"FP32\","
             "\"data\":%s}],%s",
             N, D, flat, tail);
    hresp r;
    st = http_do(&S, "POST", "/v2/models/clf/infer", NULL, body, strlen(body), NULL, &r);
    assert_int_equal(st, 200);
    size_t rhl = strtoul(r.infer_header_len, NULL, 10);
    json_t *h = json_loadb(r.body, rhl, 0, NULL);
    assert_non_null(h);
    json_t *ho = json_array_get(json_object_get(h, "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(ho, "datatype")), "BYTES");
    size_t sz = (size_t)json_integer_value(
        json_object_get(json_object_get(ho, "parameters"), "binary_data_size"));
    assert_int_equal(rhl + sz, r.len);
    const unsigned char *b = (const unsigned char *)r.body + rhl;
    for (size_t i = 0; i < N * 3; i++) {
        uint32_t len;
        memcpy(&len, b, 4);
        const char *w = json_string_value(json_array_get(data, i));
        assert_int_equal(len, strlen(w));
        assert_memory_equal(b + 4, w, len);
        b += 4 + len;
    }
    assert_ptr_equal(b, (const unsigned char *)r.body + r.len);
    json_decref(h);
    json_decref(j);
    hresp_free(&r);
}

static void infer_errors(void **state)
{
    (void)state;
    static const struct {
        const char *model, *body, *needle;
        long status;
    } cases[] = {
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"INT32\",\"data\":[1,2]}]"
         "}",
         "INT32", 400},
        {"clf", "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"data\":[1,2]}]}", "datatype",
         400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]"
         "}",
         "[N, 2]", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[1,2,3]}]"
         "}",
         "has 3 values", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,\"x\"]"
         "}]}",
         "row 0, column 1", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,1e300]"
         "}]}",
         "finite", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[0,2],\"datatype\":\"FP32\",\"data\":[]}]}",
         "N >= 1", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]"
         "}",
         "\\\"input\\\"", 400},
        {"clf", "{\"inputs\":[]}", "exactly one", 400},
        {"clf", "{}", "exactly one", 400},
        {"clf", "[1]", "JSON object", 400},
        {"clf", "{\"inputs\":", "not valid JSON", 400},
        {"clf",
         "{\"id\":7,\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":"
         "[1,2]}]}",
         "id must be a string", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}],"
         "\"outputs\":[{\"name\":\"prediction\"}]}",
         "not an output", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}],"
         "\"outputs\":[{\"name\":\"label\"},{\"name\":\"label\"}]}",
         "twice", 400},
        {"clf",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2],"
         "\"parameters\":{\"binary_data_size\":8}}]}",
         "both data", 400},
        {"nope",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
         "nope", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v2/models/%s/infer", cases[i].model);
        hresp r;
        long st = http_do(&S, "POST", path, NULL, cases[i].body, strlen(cases[i].body), NULL, &r);
        expect_error(st, &r, cases[i].status, cases[i].needle);
        hresp_free(&r);
    }
    hresp r;
    long st = http_do(&S, "POST", "/v2/models/clf/versions/9/infer", NULL, "{}", 2, NULL, &r);
    expect_error(st, &r, 404, "9");
    hresp_free(&r);
    st = http_do(&S, "POST", "/v2/models/clf/infer", "text/plain", "{}", 2, NULL, &r);
    expect_error(st, &r, 415, "Content-Type");
    hresp_free(&r);
}

/* Every limit of an input tensor is checked before its N x D floats are allocated: a short
 * request naming a huge N is a 413 naming --max-instances (not a 503 after a failed allocation,
 * nor a 400 about its data), JSON and binary alike; a shape whose N x D x element size overflows
 * is a 400 saying so; and a request over the limit by one instance is a 413 whatever its data. */
static void limits_before_allocation(void **state)
{
    (void)state;
    char body[512];
    hresp r;
    /* the JSON form: under 200 bytes asking for 1e8 x 2 floats */
    snprintf(body, sizeof body,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[100000000,2],\"datatype\":\"FP32\","
             "\"data\":[1,2]}]}");
    assert_true(strlen(body) < 200);
    long st = http_do(&S, "POST", "/v2/models/clf/infer", NULL, body, strlen(body), NULL, &r);
    expect_error(st, &r, 413, "--max-instances");
    hresp_free(&r);
    /* the binary form, with a binary_data_size that matches the shape but not the body */
    float two[2] = {1, 2};
    snprintf(body, sizeof body,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[100000000,2],\"datatype\":\"FP32\","
             "\"parameters\":{\"binary_data_size\":800000000}}]}");
    assert_true(strlen(body) < 200);
    expect_error(binary_infer("clf", body, two, sizeof two, &r), &r, 413, "--max-instances");
    hresp_free(&r);
    /* one over the default limit (10000): 413 before the data is looked at */
    snprintf(body, sizeof body,
             "{\"inputs\":[{\"name\":\"input\",\"shape\":[10001,2],\"datatype\":\"FP64\","
             "\"data\":[1,2]}]}");
    st = http_do(&S, "POST", "/v2/models/clf/infer", NULL, body, strlen(body), NULL, &r);
    expect_error(st, &r, 413, "10001 instances");
    hresp_free(&r);
    /* shapes whose byte count overflows 64 bits: 400, JSON and binary, FP32 and FP64 */
    static const char *const overflow[] = {
        "[4611686018427387904,2],\"datatype\":\"FP32\"",
        "[2305843009213693952,2],\"datatype\":\"FP64\"",
        "[2,9223372036854775807],\"datatype\":\"FP32\"",
    };
    for (size_t i = 0; i < sizeof overflow / sizeof overflow[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"inputs\":[{\"name\":\"input\",\"shape\":%s,\"data\":[1,2]}]}", overflow[i]);
        st = http_do(&S, "POST", "/v2/models/clf/infer", NULL, body, strlen(body), NULL, &r);
        expect_error(st, &r, 400, "overflows");
        hresp_free(&r);
        snprintf(body, sizeof body,
                 "{\"inputs\":[{\"name\":\"input\",\"shape\":%s,\"parameters\":"
                 "{\"binary_data_size\":8}}]}",
                 overflow[i]);
        expect_error(binary_infer("clf", body, two, sizeof two, &r), &r, 400, "overflows");
        hresp_free(&r);
    }
    /* the largest request the limit allows still answers */
    size_t cap = 10000 * 4 + 256;
    char *big = malloc(cap), *p = big;
    assert_non_null(big);
    p += sprintf(p, "{\"inputs\":[{\"name\":\"input\",\"shape\":[10000,2],\"datatype\":"
                    "\"FP32\",\"data\":[");
    for (int i = 0; i < 20000; i++) p += sprintf(p, "%s0", i ? "," : "");
    p += sprintf(p, "]}],\"outputs\":[{\"name\":\"label\"}]}");
    st = http_do(&S, "POST", "/v2/models/clf/infer", NULL, big, (size_t)(p - big), NULL, &r);
    free(big);
    assert_int_equal(st, 200);
    hresp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_and_health),
        cmocka_unit_test(model_metadata),
        cmocka_unit_test(classification_same_as_v1),
        cmocka_unit_test(regression_and_autoencoder_same_as_v1),
        cmocka_unit_test(binary_extension),
        cmocka_unit_test(classification_binary_equals_json),
        cmocka_unit_test(infer_errors),
        cmocka_unit_test(limits_before_allocation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
