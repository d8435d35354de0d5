/* test_predict_paths.c — /v1 :predict gives identical answers whichever way the body is read:
 * the strict fast reader (api/fastjson: {"instances"|"inputs": [[numbers]]}) or the jansson
 * fallback (extra keys, object rows keyed by feature name, columnar {"inputs": {"x": ...}}),
 * for rows full of tricky numbers (denormals, -0, 17-19 digit mantissas, exponents). Bodies the
 * fast reader must refuse get jansson's error messages. (/v2 against /v1: tests/e2e/test_v2.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fastjson.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

static int setup(void **state)
{
    (void)state;
    return srv_start(&S, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

/* Four features, three classes. */
static char *dataset_csv(int n)
{
    char *b = malloc((size_t)n * 80 + 64), *p = b;
    unsigned s = 11;
    p += sprintf(p, "f1,f2,f3,f4,kind\n");
    for (int i = 0; i < n; i++) {
        double v[4];
        for (int j = 0; j < 4; j++) {
            s = s * 1103515245u + 12345u;
            v[j] = ((s >> 8) & 0xFFFF) / 65536.0 - 0.5 + (i % 3 == j ? 1.5 : 0);
        }
        p += sprintf(p, "%.5f,%.5f,%.5f,%.5f,k%d\n", v[0], v[1], v[2], v[3], i % 3);
    }
    return b;
}

static void train_model(void)
{
    char *csv = dataset_csv(300);
    hresp r;
    long st =
        http_do(&S, "POST", "/api/v1/datasets?name=paths", "text/csv", csv, strlen(csv), NULL, &r);
    free(csv);
    assert_int_equal(st, 201);
    hresp_free(&r);
    json_t *run = post_json(&S, "/api/v1/runs",
                            "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":"
                            "\"kind\",\"model_name\":\"paths\",\"params\":{\"hidden\":[8],"
                            "\"epochs\":3,\"seed\":5}}",
                            &st);
    assert_int_equal(st, 202);
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(run, "id")));
    json_decref(run);
    json_t *done = wait_run(&S, id, 120);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);
}

/* The rows, as JSON number tokens. */
static const char *const rows[][4] = {
    {"1e-310", "-0", "0.0038999998942017555", "1E2"},
    {"-2.5e-1", "0.14509999752044678", "12345678901234567890.5", "-0.0"},
    {"1.0000000596046447753", "1.0000000596046447754", "0.0", "-3"},
    {"0.1", "4.9e-324", "-1.17549435e-38", "33554431.5"},
};
#define NROWS 4
static const char *const names[4] = {"f1", "f2", "f3", "f4"};

/* body: prefix, then each row as [a,b,c,d] (or {"f1":a,...} when obj), then suffix */
static char *build(const char *prefix, int obj, const char *suffix)
{
    char *b = malloc(4096), *p = b;
    p += sprintf(p, "%s", prefix);
    for (int i = 0; i < NROWS; i++) {
        p += sprintf(p, "%s%s", i ? ", " : "", obj ? "{" : "[");
        for (int j = 0; j < 4; j++) {
            if (obj)
                p += sprintf(p, "%s\"%s\": %s", j ? ", " : "", names[j], rows[i][j]);
            else
                p += sprintf(p, "%s%s", j ? "," : "", rows[i][j]);
        }
        p += sprintf(p, "%s", obj ? "}" : "]");
    }
    sprintf(p, "%s", suffix);
    return b;
}

static char *predict(const char *body, long want)
{
    hresp r;
    long st = http_do(&S, "POST", "/v1/models/paths:predict", "application/json", body,
                      strlen(body), NULL, &r);
    if (st != want) fprintf(stderr, "%ld %s\nfor %s\n", st, r.body, body);
    assert_int_equal(st, want);
    char *out = strdup(r.body);
    hresp_free(&r);
    return out;
}

static void same_answers(void **state)
{
    (void)state;
    train_model();
    char *fast = build("{\"instances\": [", 0, "]}");
    char *slow = build("{\"signature_name\": \"serving_default\", \"instances\": [", 0, "]}");
    char *objs = build("{\"instances\": [", 1, "]}");
    char *cols = build("{\"inputs\": [", 0, "]}");
    char *colx = build("{\"inputs\": {\"x\": [", 0, "]}}");
    /* which reader takes which body (the same code the daemon runs) */
    const char *bodies[5] = {fast, slow, objs, cols, colx};
    const int taken[5] = {1, 0, 0, 1, 0};
    for (int i = 0; i < 5; i++) {
        fj_floats X = {NULL, 0};
        int n = 0, col = 0;
        assert_int_equal(fj_rows(bodies[i], strlen(bodies[i]), 4, &X, &n, &col), taken[i]);
        free(X.p);
    }
    char *a = predict(fast, 200), *b = predict(slow, 200), *c = predict(objs, 200);
    char *d = predict(cols, 200), *e = predict(colx, 200);
    /* the same floats, formatted by the same formatter: the same bytes */
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    assert_string_equal(d, e);
    assert_non_null(strstr(a, "{\"predictions\":[["));
    assert_non_null(strstr(d, "{\"outputs\":[["));
    assert_string_equal(a + strlen("{\"predictions\""), d + strlen("{\"outputs\""));
    json_t *j = json_loads(a, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "predictions")), NROWS);
    for (int i = 0; i < NROWS; i++) {
        json_t *r = json_array_get(json_object_get(j, "predictions"), (size_t)i);
        assert_int_equal(json_array_size(r), 3);
        double sum = 0;
        for (int k = 0; k < 3; k++) sum += json_real_value(json_array_get(r, (size_t)k));
        assert_true(sum > 0.999 && sum < 1.001); /* probabilities */
    }
    json_decref(j);
    free(fast), free(slow), free(objs), free(cols), free(colx);
    free(a), free(b), free(c), free(d), free(e);
}

/* Bodies the fast reader refuses get jansson's (or the handler's) errors. */
static void strict_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *msg;
    } cases[] = {
        {"{\"instances\": [[01, 1, 2, 3]]}", "not valid JSON"},
        {"{\"instances\": [[NaN, 1, 2, 3]]}", "not valid JSON"},
        {"{\"instances\": [[1, 2, 3, 4],]}", "not valid JSON"},
        {"{\"instances\": [[1., 2, 3, 4]]}", "not valid JSON"},
        {"{\"instances\": [[1, 2, 3, 4]]} x", "not valid JSON"},
        {"{\"instances\": [[1, 2, 3, 4]], \"instances\": [[1, 2, 3, 4]]}", "not valid JSON"},
        {"{\"instances\": [[1e39, 2, 3, 4]]}", "is not a finite float"},
        {"{\"instances\": [[1, 2, 3]]}", "has 3 values; the model takes 4"},
        {"{\"instances\": []}", "instances is empty"},
        {"{\"instances\": [[1, 2, \"3\", 4]]}", "instances[0][2] is not a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *r = predict(cases[i].body, 400);
        if (!strstr(r, cases[i].msg))
            fail_msg("%s -> %s (want %s)", cases[i].body, r, cases[i].msg);
        free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_answers),
        cmocka_unit_test(strict_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
