/* test_predict_paths.c — /v1 :predict gives identical answers whichever way the body is read:
 * the strict fast reader (api/fastjson: {"instances"|"inputs": [[numbers]]}) or the jansson
 * fallback (extra keys, object rows keyed by feature name, columnar {"inputs": {"x": ...}}),
 * for rows full of tricky numbers (denormals, -0, 17-19 digit mantissas, exponents). Bodies the
 * fast reader must refuse get jansson's error messages; and a keep-alive connection's reused
 * buffers give every request its own answer. A body of FJ_SPLIT_MIN bytes or more (read by two
 * threads) gets the jansson path's answer too. (/v2 against /v1: tests/e2e/test_v2.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fastjson.h"
#include "harness.h"
#include "oacheck.h"

#include <curl/curl.h>

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
        assert_int_equal(fj_rows(bodies[i], strlen(bodies[i]), 4, FJ_NO_LIMIT, &X, &n, &col),
                         taken[i]);
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

/* "{"<prefix>instances": [" + rows cycling through rows[] + "]}", at least FJ_SPLIT_MIN bytes. */
static char *big_body(const char *prefix, int *nrows)
{
    size_t cap = FJ_SPLIT_MIN + 4096, used = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    used += (size_t)sprintf(b, "{%s\"instances\": [", prefix);
    int n = 0;
    while (used < FJ_SPLIT_MIN) {
        const char *const *r = rows[n % NROWS];
        used += (size_t)sprintf(b + used, "%s[%s,%s,%s,%s]", n ? "," : "", r[0], r[1], r[2], r[3]);
        n++;
    }
    sprintf(b + used, "]}");
    *nrows = n;
    return b;
}

/* A body the fast reader splits between two threads answers as the jansson path does, byte for
 * byte. */
static void split_body(void **state)
{
    (void)state;
    int n = 0, m = 0;
    char *fast = big_body("", &n);
    char *slow = big_body("\"signature_name\": \"serving_default\", ", &m);
    assert_int_equal(n, m);
    assert_true(n > 1000 && n < 10000); /* within the default --max-instances */
    assert_true(strlen(fast) >= FJ_SPLIT_MIN);
    char *a = predict(fast, 200), *b = predict(slow, 200);
    assert_string_equal(a, b);
    json_t *j = json_loads(a, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "predictions")), (size_t)n);
    json_decref(j);
    free(a), free(b), free(fast), free(slow);
}

/* TF Serving's named forms go through jansson and give the fast reader's bytes: columnar with
 * one list per feature ({"inputs": {"f1": [...], ...}}, answered as "outputs") against
 * {"inputs": [[...]]}, and :classify's {"context", "examples"} against its {"instances"}. */
static void named_forms(void **state)
{
    (void)state;
    char percol[4096], *p = percol;
    p += sprintf(p, "{\"inputs\": {");
    for (int j = 0; j < 4; j++) {
        p += sprintf(p, "%s\"%s\": [", j ? ", " : "", names[j]);
        for (int i = 0; i < NROWS; i++) p += sprintf(p, "%s%s", i ? ", " : "", rows[i][j]);
        p += sprintf(p, "]");
    }
    sprintf(p, "}}");
    fj_floats X = {NULL, 0};
    int n = 0, col = 0;
    assert_int_equal(fj_rows(percol, strlen(percol), 4, FJ_NO_LIMIT, &X, &n, &col), FJ_OTHER);
    free(X.p);
    char *cols = build("{\"inputs\": [", 0, "]}");
    char *a = predict(cols, 200), *b = predict(percol, 200);
    assert_string_equal(a, b);
    free(a), free(b), free(cols);

    /* f4 in the context (every row's f4 the first row's), the rest per example */
    char ex[4096], rowsb[4096];
    p = ex;
    p += sprintf(p, "{\"context\": {\"f4\": %s}, \"examples\": [", rows[0][3]);
    char *q = rowsb;
    q += sprintf(q, "{\"instances\": [");
    for (int i = 0; i < NROWS; i++) {
        p += sprintf(p, "%s{\"f1\": %s, \"f2\": %s, \"f3\": [%s]}", i ? ", " : "", rows[i][0],
                     rows[i][1], rows[i][2]);
        q += sprintf(q, "%s[%s, %s, %s, %s]", i ? ", " : "", rows[i][0], rows[i][1], rows[i][2],
                     rows[0][3]);
    }
    sprintf(p, "]}");
    sprintf(q, "]}");
    hresp r1, r2;
    assert_int_equal(http_do(&S, "POST", "/v1/models/paths:classify", "application/json", rowsb,
                             strlen(rowsb), NULL, &r1),
                     200);
    assert_int_equal(http_do(&S, "POST", "/v1/models/paths:classify", "application/json", ex,
                             strlen(ex), NULL, &r2),
                     200);
    assert_string_equal(r1.body, r2.body);
    assert_non_null(strstr(r1.body, "{\"results\":[[["));
    hresp_free(&r1);
    hresp_free(&r2);
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

/* One request on a keep-alive connection (curl handle c), like http_do on a fresh one. */
static long on_conn(CURL *c, const char *method, const char *path, const char *body, hresp *r,
                    long *new_conns)
{
    memset(r, 0, sizeof *r);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", S.port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    long st = -1;
    char *ct = NULL;
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    }
    long nc = 0;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
    *new_conns += nc;
    curl_slist_free_all(h);
    if (!r->body) r->body = strdup("");
    oa_check(S.port, method, path, st, ct, r->body, r->len);
    return st;
}

/* {"instances": [[...4 values...] x n]} */
static char *many_rows(int n)
{
    char *b = malloc((size_t)n * 48 + 32), *p = b;
    p += sprintf(p, "{\"instances\": [");
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s[%d.25,-0.5,0.0038999998942017555,%d]", i ? "," : "", i % 7, i % 3);
    sprintf(p, "]}");
    return b;
}

/* The connection's reused request struct, body buffer and answer buffer (server/http.c,
 * http_conn): a sequence of small, large (body and answer beyond the 64 KiB kept), failing,
 * bodiless and small again requests on ONE keep-alive connection gives each the answer it gets
 * on a fresh connection. */
static void keep_alive_reuse(void **state)
{
    (void)state;
    char *small = build("{\"instances\": [", 0, "]}");
    char *big = many_rows(3000); /* ~130 KB body, ~110 KB answer */
    const char *bad = "{\"instances\": [[1, 2, 3]]}";
    char *want_small = predict(small, 200), *want_big = predict(big, 200);
    char *want_bad = predict(bad, 400);
    hresp g;
    assert_int_equal(http_do(&S, "GET", "/v1/models/paths", NULL, NULL, 0, NULL, &g), 200);
    assert_true(strlen(want_big) > 65536 && strlen(big) > 65536);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    long conns = 0;
    for (int round = 0; round < 2; round++) {
        const char *seq[] = {small, big, small, bad, NULL, big, small};
        for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
            hresp r;
            long st = seq[i] ? on_conn(c, "POST", "/v1/models/paths:predict", seq[i], &r, &conns)
                             : on_conn(c, "GET", "/v1/models/paths", NULL, &r, &conns);
            const char *want = seq[i] == small ? want_small
                               : seq[i] == big ? want_big
                               : seq[i] == bad ? want_bad
                                               : g.body;
            assert_int_equal(st, seq[i] == bad ? 400 : 200);
            if (strcmp(r.body, want) != 0)
                fail_msg("request %zu of round %d on the kept connection: %.200s\nwant %.200s", i,
                         round, r.body, want);
            hresp_free(&r);
        }
    }
    assert_int_equal(conns, 1); /* all of it on one connection */
    curl_easy_cleanup(c);
    hresp_free(&g);
    free(small), free(big), free(want_small), free(want_big), free(want_bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_answers),  cmocka_unit_test(named_forms),
        cmocka_unit_test(strict_errors), cmocka_unit_test(keep_alive_reuse),
        cmocka_unit_test(split_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
