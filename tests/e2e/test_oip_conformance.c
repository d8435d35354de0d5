/* test_oip_conformance.c — the Open Inference Protocol's REST specification (KServe
 * open-inference-protocol, specification/protocol/inference_rest.md) and Triton's extensions that
 * mlpd reports (extension_model_repository.md, extension_classification.md), checked endpoint by
 * endpoint and field by field against the real daemon: the JSON objects each endpoint must answer
 * ($metadata_server_response, $live_server_response, $metadata_model_response, $metadata_tensor,
 * $ready_model_response, $inference_response, $response_output, $repository_index_response),
 * their status codes, the "id" echo, the versioned and unversioned paths, $parameters at the
 * three places the spec allows them, tensor data flat and nested, the BYTES datatype, and the
 * error object {"error": $string} with an HTTP error status. test_v2.c checks the numbers and the
 * binary extension; this suite checks the shapes of the conversation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

/* Uploads csv as a dataset and trains one version of model `name` from it. */
static void train(const char *name, const char *csv, const char *run_tail)
{
    assert_int_equal(train_csv(&S, name, csv, run_tail, 120), 0);
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL) != 0) return -1;
    unsigned s = 5;
    char *csv = malloc(64 * 1024), *p = csv;
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < 240; i++) {
        int k = i % 3;
        p += sprintf(p, "%.4f,%.4f,%s\n",
                     (k == 0   ? -2.0
                      : k == 1 ? 2.0
                               : 0.0) +
                         h_urand(&s) - 0.5,
                     (k == 2 ? 3.0 : 0.0) + h_urand(&s) - 0.5,
                     k == 0   ? "cat"
                     : k == 1 ? "dog"
                              : "emu");
    }
    const char *clf = "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[8],"
                      "\"epochs\":10,\"learning_rate\":0.02,\"batch_size\":16,\"seed\":1}";
    train("clf", csv, clf); /* version 1 */
    train("clf", csv, clf); /* version 2: the latest */
    p = csv;
    p += sprintf(p, "x1,x2,y\n");
    for (int i = 0; i < 160; i++) {
        double a = h_urand(&s) * 4 - 2, b = h_urand(&s) * 4 - 2;
        p += sprintf(p, "%.4f,%.4f,%.4f\n", a, b, 0.5 * a + 2 - b);
    }
    train("reg", csv,
          "\"task\":\"regression\",\"target\":\"y\",\"params\":{\"hidden\":[4],\"epochs\":3,"
          "\"seed\":2}");
    free(csv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S) == 0 ? 0 : -1;
}

/* The spec's error object: an HTTP error status (`want`) and a body that is exactly
 * {"error": $string}. */
static void expect_error(long st, hresp *r, long want)
{
    if (st != want) fprintf(stderr, "want %ld, got %ld %s\n", want, st, r->body ? r->body : "");
    assert_int_equal(st, want);
    json_t *j = hresp_json(r);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "error")));
    assert_true(strlen(json_string_value(json_object_get(j, "error"))) > 0);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
    hresp_free(r);
}

static long post(const char *path, const char *json, hresp *r)
{
    return http_do(&S, "POST", path, "application/json", json, json ? strlen(json) : 0, NULL, r);
}

static long get(const char *path, hresp *r)
{
    return http_do(&S, "GET", path, NULL, NULL, 0, NULL, r);
}

/* A $metadata_tensor: name, datatype, shape (numbers; -1 for variable size). */
static void check_metadata_tensor(json_t *t)
{
    assert_true(json_is_object(t));
    assert_true(json_is_string(json_object_get(t, "name")));
    const char *dt = json_string_value(json_object_get(t, "datatype"));
    assert_non_null(dt);
    static const char *const types[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
                                        "INT8", "INT16", "INT32",  "INT64",  "FP16",
                                        "FP32", "FP64",  "BYTES"};
    int known = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) known |= strcmp(dt, types[i]) == 0;
    assert_true(known);
    json_t *sh = json_object_get(t, "shape");
    assert_true(json_is_array(sh) && json_array_size(sh) >= 1);
    size_t i;
    json_t *d;
    json_array_foreach(sh, i, d)
    {
        assert_true(json_is_integer(d));
        assert_true(json_integer_value(d) >= -1);
    }
}

/* GET v2: $metadata_server_response, and the extensions this build implements. */
static void server_metadata(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/v2", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_string(json_object_get(j, "name")));
    assert_true(json_is_string(json_object_get(j, "version")));
    json_t *ext = json_object_get(j, "extensions");
    assert_true(json_is_array(ext));
    int repo = 0, cls = 0, bin = 0;
    size_t i;
    json_t *e;
    json_array_foreach(ext, i, e)
    {
        assert_true(json_is_string(e));
        repo |= strcmp(json_string_value(e), "model_repository") == 0;
        cls |= strcmp(json_string_value(e), "classification") == 0;
        bin |= strcmp(json_string_value(e), "binary_tensor_data") == 0;
    }
    assert_true(repo && cls && bin);
    json_decref(j);
}

/* GET v2/health/live and v2/health/ready: 200 and the boolean. */
static void health(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/v2/health/live", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "live")));
    json_decref(j);
    j = get_json(&S, "/v2/health/ready", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
}

/* GET v2/models/{m}[/versions/{v}]: $metadata_model_response; "versions" lists strings that may
 * be requested through the versioned path, and each of them answers. */
static void model_metadata(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/v2/models/clf", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "clf");
    assert_true(json_is_string(json_object_get(j, "platform")));
    json_t *vs = json_object_get(j, "versions");
    assert_int_equal(json_array_size(vs), 2);
    size_t i;
    json_t *v;
    json_array_foreach(vs, i, v)
    {
        assert_true(json_is_string(v));
        char path[128];
        snprintf(path, sizeof path, "/v2/models/clf/versions/%s", json_string_value(v));
        json_t *one = get_json(&S, path, &st);
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(one, "name")), "clf");
        assert_string_equal(json_string_value(json_array_get(json_object_get(one, "versions"), 0)),
                            json_string_value(v));
        json_decref(one);
    }
    json_t *t;
    json_t *ins = json_object_get(j, "inputs"), *outs = json_object_get(j, "outputs");
    assert_true(json_array_size(ins) >= 1 && json_array_size(outs) >= 1);
    json_array_foreach(ins, i, t) check_metadata_tensor(t);
    json_array_foreach(outs, i, t) check_metadata_tensor(t);
    /* the batch dimension is variable: -1 */
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(json_array_get(ins, 0), "shape"), 0)),
        -1);
    json_decref(j);

    hresp r;
    expect_error(get("/v2/models/nope", &r), &r, 404);
    expect_error(get("/v2/models/clf/versions/9", &r), &r, 404);
    expect_error(get("/v2/models/clf/versions/x", &r), &r, 400);
}

/* GET v2/models/{m}[/versions/{v}]/ready: $ready_model_response with 200 when ready; an unknown
 * model or version is not ready: an error status with the error object. */
static void model_ready(void **state)
{
    (void)state;
    static const char *const paths[] = {"/v2/models/clf/ready", "/v2/models/clf/versions/1/ready",
                                        "/v2/models/clf/versions/2/ready"};
    for (size_t i = 0; i < 3; i++) {
        long st;
        json_t *j = get_json(&S, paths[i], &st);
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(j, "name")), "clf");
        assert_true(json_is_true(json_object_get(j, "ready")));
        json_decref(j);
    }
    hresp r;
    expect_error(get("/v2/models/nope/ready", &r), &r, 404);
    expect_error(get("/v2/models/clf/versions/3/ready", &r), &r, 404);
}

/* A $response_output: name, shape, datatype, data with as many elements as the shape says. */
static json_t *check_response_output(json_t *res, const char *name, const char *datatype, long rows,
                                     long cols)
{
    json_t *o = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(res, "outputs"), i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "name")), name) == 0) o = x;
    }
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "datatype")), datatype);
    json_t *sh = json_object_get(o, "shape");
    assert_int_equal(json_array_size(sh), cols ? 2 : 1);
    assert_int_equal(json_integer_value(json_array_get(sh, 0)), rows);
    if (cols) assert_int_equal(json_integer_value(json_array_get(sh, 1)), cols);
    json_t *data = json_object_get(o, "data");
    assert_int_equal(json_array_size(data), (size_t)(rows * (cols ? cols : 1)));
    json_array_foreach(data, i, x)
    {
        if (strcmp(datatype, "BYTES") == 0)
            assert_true(json_is_string(x));
        else
            assert_true(json_is_number(x));
    }
    return o;
}

#define IN2(rows, data)                                                                            \
    "{\"name\":\"input\",\"shape\":[" #rows ",2],\"datatype\":\"FP32\",\"data\":" data "}"

/* POST v2/models/{m}[/versions/{v}]/infer: $inference_response — model_name, model_version (a
 * string, the version used), id echoed, every output when none is asked for, the data flat or
 * nested, the BYTES class labels. */
static void infer_response(void **state)
{
    (void)state;
    long st;
    json_t *j = post_json(&S, "/v2/models/clf/infer",
                          "{\"id\":\"42\",\"inputs\":[" IN2(2, "[[-2,0],[2,0]]") "]}", &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "model_name")), "clf");
    assert_string_equal(json_string_value(json_object_get(j, "model_version")), "2");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "42");
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 2);
    check_response_output(j, "probabilities", "FP32", 2, 3);
    json_t *lb = check_response_output(j, "label", "BYTES", 2, 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(lb, "data"), 0)), "cat");
    assert_string_equal(json_string_value(json_array_get(json_object_get(lb, "data"), 1)), "dog");
    json_decref(j);

    /* the versioned path uses that version; flat data is the same tensor; no id, no "id" */
    j = post_json(&S, "/v2/models/clf/versions/1/infer",
                  "{\"inputs\":[" IN2(2, "[-2,0,2,0]") "],\"outputs\":[{\"name\":\"label\"}]}",
                  &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(j, "model_version")), "1");
    assert_null(json_object_get(j, "id"));
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 1);
    check_response_output(j, "label", "BYTES", 2, 0);
    json_decref(j);

    j = post_json(&S, "/v2/models/reg/infer", "{\"inputs\":[" IN2(1, "[1,1]") "]}", &st);
    assert_int_equal(st, 200);
    check_response_output(j, "prediction", "FP32", 1, 1);
    json_decref(j);
}

/* $parameters: accepted at the request, on an input and on an output when each value is a
 * string, number or boolean (names the server does not use included); anything else, or a
 * parameters that is not an object, is a 400 with the error object. */
static void parameters(void **state)
{
    (void)state;
    long st;
    json_t *j = post_json(
        &S, "/v2/models/clf/infer",
        "{\"parameters\":{\"priority\":1,\"tag\":\"a\",\"flag\":true,\"ratio\":0.5},"
        "\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\","
        "\"parameters\":{\"note\":\"x\"},\"data\":[0,3]}],"
        "\"outputs\":[{\"name\":\"label\",\"parameters\":{\"binary_data\":false,\"k\":2}}]}",
        &st);
    assert_int_equal(st, 200);
    check_response_output(j, "label", "BYTES", 1, 0);
    json_decref(j);

    static const char *const bad[] = {
        "{\"parameters\":{\"p\":{\"nested\":1}},\"inputs\":[" IN2(1, "[0,0]") "]}",
        "{\"parameters\":{\"p\":[1]},\"inputs\":[" IN2(1, "[0,0]") "]}",
        "{\"parameters\":{\"p\":null},\"inputs\":[" IN2(1, "[0,0]") "]}",
        "{\"parameters\":[],\"inputs\":[" IN2(1, "[0,0]") "]}",
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\","
        "\"parameters\":\"x\",\"data\":[0,0]}]}",
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\","
        "\"parameters\":{\"a\":{}},\"data\":[0,0]}]}",
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"label\",\"parameters\":"
                                        "{\"a\":[]}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hresp r;
        expect_error(post("/v2/models/clf/infer", bad[i], &r), &r, 400);
    }
}

/* Triton's classification extension: an output's parameters.classification = k answers the k
 * best classes as BYTES [N, k] "score:index:label", best first, agreeing with the FP32
 * probabilities of the same rows. */
static void classification_extension(void **state)
{
    (void)state;
    long st;
    json_t *p = post_json(
        &S, "/v2/models/clf/infer",
        "{\"inputs\":[" IN2(2, "[[-2,0],[0,3]]") "],"
                                                 "\"outputs\":[{\"name\":\"probabilities\"}]}",
        &st);
    assert_int_equal(st, 200);
    json_t *pd = json_object_get(check_response_output(p, "probabilities", "FP32", 2, 3), "data");
    json_t *j = post_json(
        &S, "/v2/models/clf/infer",
        "{\"inputs\":[" IN2(2, "[[-2,0],[0,3]]") "],"
                                                 "\"outputs\":[{\"name\":\"probabilities\","
                                                 "\"parameters\":{\"classification\":2}}]}",
        &st);
    assert_int_equal(st, 200);
    json_t *cd = json_object_get(check_response_output(j, "probabilities", "BYTES", 2, 2), "data");
    static const char *const labels[] = {"cat", "dog", "emu"};
    static const int want_best[] = {0, 2}; /* the rows sit on the cat and emu blobs */
    for (int row = 0; row < 2; row++) {
        double prev = 2;
        for (int k = 0; k < 2; k++) {
            const char *s = json_string_value(json_array_get(cd, (size_t)(row * 2 + k)));
            double score;
            int idx, n = 0;
            char label[16];
            assert_int_equal(sscanf(s, "%lf:%d:%15s%n", &score, &idx, label, &n), 3);
            assert_int_equal((size_t)n, strlen(s));
            assert_true(idx >= 0 && idx < 3);
            assert_string_equal(label, labels[idx]);
            double pv = json_number_value(json_array_get(pd, (size_t)(row * 3 + idx)));
            assert_true(score - pv < 1e-6 && pv - score < 1e-6);
            assert_true(score <= prev);
            prev = score;
            if (k == 0) assert_int_equal(idx, want_best[row]);
        }
    }
    json_decref(j);
    json_decref(p);

    static const char *const bad[] = {
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"probabilities\","
                                        "\"parameters\":{\"classification\":0}}]}",
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"probabilities\","
                                        "\"parameters\":{\"classification\":4}}]}",
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"probabilities\","
                                        "\"parameters\":{\"classification\":\"2\"}}]}",
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"label\","
                                        "\"parameters\":{\"classification\":1}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hresp r;
        expect_error(post("/v2/models/clf/infer", bad[i], &r), &r, 400);
    }
    hresp r;
    expect_error(post("/v2/models/reg/infer",
                      "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"prediction\","
                                                      "\"parameters\":{\"classification\":1}}]}",
                      &r),
                 &r, 400);
}

/* The inference error object and status codes: a bad request is a 400, an unknown model or
 * version a 404, and the body is {"error": $string} alone. */
static void infer_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{}",                                          /* inputs is required */
        "{\"inputs\":[]}",                             /* the model's one input is missing */
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"id\":7}", /* id is a $string */
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"UINT32\","
        "\"data\":[1,2]}]}", /* a datatype this model does not take */
        "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"data\":[1,2]}]}", /* datatype required
                                                                               */
        "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"data\":[1,2]}]}", /* shape */
        "{\"inputs\":[" IN2(2, "[0,0]") "]}",     /* data and shape disagree */
        "{\"inputs\":[" IN2(1, "[0,\"a\"]") "]}", /* not a number */
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{\"name\":\"nope\"}]}", /* no such output */
        "{\"inputs\":[" IN2(1, "[0,0]") "],\"outputs\":[{}]}",                  /* name required */
        "{\"inputs\":",                                                         /* not JSON */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hresp r;
        expect_error(post("/v2/models/clf/infer", bad[i], &r), &r, 400);
    }
    hresp r;
    expect_error(post("/v2/models/nope/infer", "{\"inputs\":[" IN2(1, "[0,0]") "]}", &r), &r, 404);
    expect_error(post("/v2/models/clf/versions/9/infer", "{\"inputs\":[" IN2(1, "[0,0]") "]}", &r),
                 &r, 404);
}

/* The index entry of (name, version), or NULL. */
static json_t *index_entry(json_t *idx, const char *name, const char *version)
{
    size_t i;
    json_t *e;
    json_array_foreach(idx, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0 &&
            strcmp(json_string_value(json_object_get(e, "version")), version) == 0)
            return e;
    }
    return NULL;
}

/* POST v2/repository/index: $repository_index_response, each entry name, version, state, reason
 * strings; {"ready": true} lists only the loaded ones. */
static json_t *repo_index(int ready_only)
{
    hresp r;
    long st = ready_only ? post("/v2/repository/index", "{\"ready\":true}", &r)
                         : post("/v2/repository/index", NULL, &r);
    assert_int_equal(st, 200);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    assert_true(json_is_array(j));
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e)
    {
        assert_true(json_is_string(json_object_get(e, "name")));
        assert_true(json_is_string(json_object_get(e, "version")));
        assert_true(json_is_string(json_object_get(e, "reason")));
        const char *state = json_string_value(json_object_get(e, "state"));
        assert_non_null(state);
        if (ready_only) assert_string_equal(state, "READY");
    }
    return j;
}

/* The model repository extension: index, load (warms the latest version: READY), unload (drops
 * it from memory: UNAVAILABLE, still in the index and still served), an empty body or a
 * parameters object, and the error object for an unknown model and bad input. */
static void model_repository(void **state)
{
    (void)state;
    hresp r;
    long st = post("/v2/repository/models/clf/unload", NULL, &r);
    assert_int_equal(st, 200);
    assert_int_equal(r.len, 0);
    hresp_free(&r);
    json_t *idx = repo_index(0);
    assert_int_equal(json_array_size(idx), 3); /* clf 1 and 2, reg 1 */
    assert_string_equal(json_string_value(json_object_get(index_entry(idx, "clf", "2"), "state")),
                        "UNAVAILABLE");
    assert_non_null(index_entry(idx, "clf", "1"));
    assert_non_null(index_entry(idx, "reg", "1"));
    json_decref(idx);
    idx = repo_index(1);
    assert_null(index_entry(idx, "clf", "2"));
    json_decref(idx);

    st = post("/v2/repository/models/clf/load", "{\"parameters\":{}}", &r);
    assert_int_equal(st, 200);
    assert_int_equal(r.len, 0);
    hresp_free(&r);
    idx = repo_index(1);
    json_t *e = index_entry(idx, "clf", "2");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "reason")), "");
    json_decref(idx);

    st = post("/v2/repository/models/clf/unload", "{\"parameters\":{\"unload_dependents\":true}}",
              &r);
    assert_int_equal(st, 200);
    hresp_free(&r);
    idx = repo_index(1);
    assert_null(index_entry(idx, "clf", "2"));
    assert_null(index_entry(idx, "clf", "1"));
    json_decref(idx);
    /* unloaded is not deleted: the store keeps it and the next request loads it again */
    json_t *j = post_json(&S, "/v2/models/clf/infer", "{\"inputs\":[" IN2(1, "[0,0]") "]}", &st);
    assert_int_equal(st, 200);
    json_decref(j);
    idx = repo_index(1);
    assert_non_null(index_entry(idx, "clf", "2"));
    json_decref(idx);

    expect_error(post("/v2/repository/models/nope/load", NULL, &r), &r, 404);
    expect_error(post("/v2/repository/models/nope/unload", NULL, &r), &r, 404);
    expect_error(post("/v2/repository/models/bad%20name/load", NULL, &r), &r, 400);
    expect_error(post("/v2/repository/index", "{\"ready\":\"yes\"}", &r), &r, 400);
    expect_error(post("/v2/repository/index", "[]", &r), &r, 400);
    expect_error(post("/v2/repository/models/clf/load", "{\"parameters\":{\"config\":\"{}\"}}", &r),
                 &r, 400);
    expect_error(post("/v2/repository/models/clf/load",
                      "{\"parameters\":{\"file:1/model.onnx\":\"AAAA\"}}", &r),
                 &r, 400);
    expect_error(post("/v2/repository/models/clf/unload",
                      "{\"parameters\":{\"unload_dependents\":\"yes\"}}", &r),
                 &r, 400);
    expect_error(post("/v2/repository/models/clf/load", "{\"parameters\":{\"a\":[1]}}", &r), &r,
                 400);
    /* the repository is POST only, as the extension defines it */
    st = get("/v2/repository/index", &r);
    assert_int_equal(st, 405);
    hresp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(server_metadata),          cmocka_unit_test(health),
        cmocka_unit_test(model_metadata),           cmocka_unit_test(model_ready),
        cmocka_unit_test(infer_response),           cmocka_unit_test(parameters),
        cmocka_unit_test(classification_extension), cmocka_unit_test(infer_errors),
        cmocka_unit_test(model_repository),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
