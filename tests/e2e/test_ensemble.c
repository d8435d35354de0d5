/* test_ensemble.c — ensembles end to end against the real daemon: three classifiers that differ
 * only in seed and two regressors become ensemble versions through POST
 * /api/v1/models/{name}/versions {"ensemble": [...]}; their /v1 :predict answers equal the mean
 * of the members' own answers (probabilities, predictions), /v2 infer gives the same numbers,
 * :classify and metadata work; every mismatch is a 400 naming the member; an ensemble can be
 * aliased, exported and imported again; deleting a member does not change it, and a restart
 * keeps it. */
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

#define N_ROWS 6
static const char *const ROWS = "[[-2.1,0.2],[1.9,-0.3],[0.1,3.2],[0.5,0.5],[-1,1.5],[3,3]]";

/* Three blobs of two features a, b with labels named by `names`. */
static char *blobs_csv(const char *header, const char *const names[3], unsigned seed)
{
    char *csv = malloc(32 * 1024), *p = csv;
    p += sprintf(p, "%s\n", header);
    for (int i = 0; i < 240; i++) {
        int k = i % 3;
        double x = (k == 0 ? -2 : k == 1 ? 2 : 0) + h_urand(&seed) - 0.5;
        double y = (k == 2 ? 3 : 0) + h_urand(&seed) - 0.5;
        p += sprintf(p, "%.4f,%.4f,%s\n", x, y, names[k]);
    }
    return csv;
}

static void train(const char *name, const char *csv, const char *tail)
{
    assert_int_equal(train_csv(&S, name, csv, tail, 120), 0);
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL) != 0) return -1;
    static const char *const animals[3] = {"cat", "dog", "emu"}, *const other[3] = {"cat", "dog",
                                                                                    "fox"};
    char *csv = blobs_csv("a,b,kind", animals, 11);
    char tail[512];
    for (int seed = 1; seed <= 3; seed++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", seed);
        snprintf(tail, sizeof tail,
                 "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[8],"
                 "\"epochs\":6,\"learning_rate\":0.02,\"batch_size\":16,\"seed\":%d}",
                 seed);
        train(name, csv, tail);
    }
    free(csv);
    /* the same data under other feature names, and with other labels */
    csv = blobs_csv("p,q,kind", animals, 11);
    train("renamed", csv,
          "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[8],"
          "\"epochs\":2,\"seed\":4}");
    free(csv);
    csv = blobs_csv("a,b,kind", other, 11);
    train("relabelled", csv,
          "\"task\":\"classification\",\"target\":\"kind\",\"params\":{\"hidden\":[8],"
          "\"epochs\":2,\"seed\":5}");
    free(csv);
    /* regressors of y from a, b (same data, two seeds), one of three inputs, an autoencoder */
    csv = malloc(32 * 1024);
    char *p = csv;
    unsigned s = 7;
    p += sprintf(p, "a,b,y\n");
    for (int i = 0; i < 200; i++) {
        double a = h_urand(&s) * 4 - 2, b = h_urand(&s) * 4 - 2;
        p += sprintf(p, "%.4f,%.4f,%.4f\n", a, b, 3 * a - b + 10);
    }
    train("r1", csv,
          "\"task\":\"regression\",\"target\":\"y\",\"params\":{\"hidden\":[6],\"epochs\":4,"
          "\"seed\":1}");
    train("r2", csv,
          "\"task\":\"regression\",\"target\":\"y\",\"params\":{\"hidden\":[6],\"epochs\":4,"
          "\"seed\":2}");
    train("ae", csv,
          "\"task\":\"autoencoder\",\"params\":{\"hidden\":[2],\"epochs\":2,\"seed\":3}");
    p = csv;
    p += sprintf(p, "a,b,c,y\n");
    for (int i = 0; i < 100; i++)
        p +=
            sprintf(p, "%.3f,%.3f,%.3f,%.3f\n", h_urand(&s), h_urand(&s), h_urand(&s), h_urand(&s));
    train("wide", csv,
          "\"task\":\"regression\",\"target\":\"y\",\"params\":{\"hidden\":[4],\"epochs\":2,"
          "\"seed\":1}");
    free(csv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S);
}

/* The "predictions" of POST /v1/models/{target}:predict for ROWS, flattened into out (n
 * values). */
static void predict(const char *target, float *out, size_t *n)
{
    char path[160], body[256];
    snprintf(path, sizeof path, "/v1/models/%s:predict", target);
    snprintf(body, sizeof body, "{\"instances\":%s}", ROWS);
    long st;
    json_t *j = post_json(&S, path, body, &st);
    if (st != 200) fprintf(stderr, "predict %s: %ld\n", target, st);
    assert_int_equal(st, 200);
    json_t *pr = json_object_get(j, "predictions");
    assert_int_equal(json_array_size(pr), N_ROWS);
    *n = 0;
    for (size_t i = 0; i < json_array_size(pr); i++) {
        json_t *row = json_array_get(pr, i);
        if (json_is_number(row)) {
            out[(*n)++] = (float)json_number_value(row);
            continue;
        }
        for (size_t c = 0; c < json_array_size(row); c++)
            out[(*n)++] = (float)json_number_value(json_array_get(row, c));
    }
    json_decref(j);
}

/* POSTs body to /api/v1/models/{name}/versions: the parsed answer (new) and *st. */
static json_t *make(const char *name, const char *body, long *st)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/models/%s/versions", name);
    return post_json(&S, path, body, st);
}

/* Expects a 400 problem whose errors[0].field is `field` and whose detail contains `needle`. */
static void expect_400(const char *name, const char *body, const char *field, const char *needle)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/models/%s/versions", name);
    hresp r;
    long st = http_do(&S, "POST", path, NULL, body, strlen(body), NULL, &r);
    json_t *j = hresp_json(&r);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    const char *f = json_string_value(
        json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field"));
    if (st != 400 || !detail || !strstr(detail, needle) || !f || strcmp(f, field) != 0)
        fprintf(stderr, "body %s -> %ld %s\n", body, st, r.body);
    assert_int_equal(st, 400);
    assert_non_null(strstr(r.content_type, "application/problem+json"));
    assert_non_null(detail);
    assert_non_null(strstr(detail, needle));
    assert_non_null(f);
    assert_string_equal(f, field);
    json_decref(j);
    hresp_free(&r);
}

static void classifier_is_mean_of_members(void **state)
{
    (void)state;
    long st;
    json_t *j;
    hresp r;
    st =
        http_do(&S, "PUT", "/api/v1/models/c3/aliases/best", NULL, "{\"version\":1}", 13, NULL, &r);
    hresp_free(&r);
    assert_int_equal(st, 200);
    j = make("ens",
             "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"c2\",\"version\":1},"
             "{\"model\":\"c3\",\"alias\":\"best\"}]}",
             &st);
    assert_int_equal(st, 201);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "task")), "classification");
    json_t *e = json_object_get(j, "ensemble");
    assert_int_equal(json_array_size(e), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 2), "model")), "c3");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 2), "version")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 2), "alias")), "best");
    assert_int_equal(json_array_size(json_object_get(j, "labels")), 3);
    json_decref(j);

    float want[64] = {0}, got[64], m[64];
    size_t n = 0, nm;
    const char *members[] = {"c1", "c2", "c3"};
    for (int i = 0; i < 3; i++) {
        predict(members[i], m, &nm);
        assert_int_equal(nm, N_ROWS * 3);
        for (size_t c = 0; c < nm; c++) want[c] += m[c] / 3;
    }
    predict("ens", got, &n);
    assert_int_equal(n, N_ROWS * 3);
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], want[c], 2e-6);
    for (int row = 0; row < N_ROWS; row++)
        assert_float_equal(got[3 * row] + got[3 * row + 1] + got[3 * row + 2], 1.0, 1e-5);
    /* the members really differ, or the mean proves nothing */
    float m1[64], m2[64];
    predict("c1", m1, &nm);
    predict("c2", m2, &nm);
    double diff = 0;
    for (size_t c = 0; c < nm; c++) diff += fabs(m1[c] - m2[c]);
    assert_true(diff > 1e-3);

    /* :classify, /v1 metadata and the model's detail */
    j = post_json(&S, "/v1/models/ens:classify",
                  "{\"examples\":[{\"a\":-2.1,\"b\":0.2},{\"a\":0.1,\"b\":3.2}]}", &st);
    assert_int_equal(st, 200);
    json_decref(j);
    j = get_json(&S, "/v1/models/ens/metadata", &st);
    assert_int_equal(st, 200);
    json_decref(j);
    j = get_json(&S, "/api/v1/models/ens", &st);
    assert_int_equal(st, 200);
    e = json_object_get(json_array_get(json_object_get(j, "model_versions"), 0), "ensemble");
    assert_int_equal(json_array_size(e), 3);
    json_decref(j);
}

static void v2_infer_equals_v1(void **state)
{
    (void)state;
    float want[64], got[64];
    size_t n = 0;
    predict("ens", want, &n);
    const char *body = "{\"inputs\":[{\"name\":\"input\",\"shape\":[6,2],\"datatype\":\"FP32\","
                       "\"data\":[-2.1,0.2,1.9,-0.3,0.1,3.2,0.5,0.5,-1,1.5,3,3]}]}";
    long st;
    json_t *j = post_json(&S, "/v2/models/ens/infer", body, &st);
    assert_int_equal(st, 200);
    json_t *outs = json_object_get(j, "outputs"), *probs = NULL;
    for (size_t i = 0; i < json_array_size(outs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(outs, i), "name")),
                   "probabilities") == 0)
            probs = json_object_get(json_array_get(outs, i), "data");
    assert_non_null(probs);
    assert_int_equal(json_array_size(probs), n);
    for (size_t c = 0; c < n; c++) got[c] = (float)json_number_value(json_array_get(probs, c));
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], want[c], 1e-6);
    json_decref(j);
    j = get_json(&S, "/v2/models/ens", &st);
    assert_int_equal(st, 200);
    json_decref(j);
}

static void regressor_is_mean_of_members(void **state)
{
    (void)state;
    long st;
    json_t *j = make("rens",
                     "{\"ensemble\":[{\"model\":\"r1\",\"version\":1},{\"model\":\"r2\","
                     "\"version\":1}]}",
                     &st);
    assert_int_equal(st, 201);
    assert_string_equal(json_string_value(json_object_get(j, "task")), "regression");
    json_decref(j);
    float a[16], b[16], got[16];
    size_t n;
    predict("r1", a, &n);
    predict("r2", b, &n);
    predict("rens", got, &n);
    assert_int_equal(n, N_ROWS);
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], (a[c] + b[c]) / 2, 1e-4);
    j = post_json(&S, "/v1/models/rens:regress", "{\"examples\":[{\"a\":1,\"b\":2}]}", &st);
    assert_int_equal(st, 200);
    json_decref(j);
}

static void mismatches_are_400(void **state)
{
    (void)state;
    expect_400("bad", "{\"ensemble\":[{\"model\":\"c1\",\"version\":1}]}", "ensemble",
               "2 to 16 members");
    char big[2048], *p = big;
    p += sprintf(p, "{\"ensemble\":[");
    for (int i = 0; i < 17; i++)
        p += sprintf(p, "%s{\"model\":\"c1\",\"version\":1}", i ? "," : "");
    sprintf(p, "]}");
    expect_400("bad", big, "ensemble", "2 to 16 members");
    expect_400("bad", "{\"ensemble\":\"c1\"}", "ensemble", "list");
    expect_400(
        "bad",
        "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"nope\",\"version\":1}]}",
        "ensemble[1]", "no version 1");
    expect_400("bad",
               "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"c2\",\"version\":9}]}",
               "ensemble[1]", "'c2' has no version 9");
    expect_400(
        "bad",
        "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"c2\",\"alias\":\"x\"}]}",
        "ensemble[1]", "no alias 'x'");
    expect_400("bad", "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"c2\"}]}",
               "ensemble[1]", "exactly one of version and alias");
    expect_400("bad",
               "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"c2\",\"version\":1,"
               "\"alias\":\"best\"}]}",
               "ensemble[1]", "exactly one of version and alias");
    expect_400("bad",
               "{\"ensemble\":[{\"model\":\"c1\",\"version\":0},{\"model\":\"c2\",\"version\":1}]}",
               "ensemble[0]", "whole number");
    expect_400("bad",
               "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"r1\",\"version\":1}]}",
               "ensemble[1]", "is a regression model, but c1 v1 is a classification model");
    expect_400(
        "bad",
        "{\"ensemble\":[{\"model\":\"r1\",\"version\":1},{\"model\":\"wide\",\"version\":1}]}",
        "ensemble[1]", "takes 3 inputs, but r1 v1 takes 2");
    expect_400(
        "bad",
        "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"renamed\",\"version\":1}]}",
        "ensemble[1]", "feature 0 named 'p', but c1 v1 names it 'a'");
    expect_400("bad",
               "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"relabelled\","
               "\"version\":1}]}",
               "ensemble[1]", "label 2 'fox', but c1 v1 has 'emu'");
    expect_400("bad",
               "{\"ensemble\":[{\"model\":\"ae\",\"version\":1},{\"model\":\"ae\",\"version\":1}]}",
               "ensemble[0]", "autoencoder");
    expect_400(
        "bad",
        "{\"ensemble\":[{\"model\":\"c1\",\"version\":1},{\"model\":\"ens\",\"version\":1}]}",
        "ensemble[1]", "itself an ensemble");
    long st;
    json_t *j = get_json(&S, "/api/v1/models/bad", &st);
    assert_int_equal(st, 404); /* nothing was made */
    json_decref(j);
}

static void alias_export_import_round_trip(void **state)
{
    (void)state;
    hresp r;
    long st = http_do(&S, "PUT", "/api/v1/models/ens/aliases/prod", NULL, "{\"version\":1}", 13,
                      NULL, &r);
    hresp_free(&r);
    assert_int_equal(st, 200);
    float want[64], got[64];
    size_t n, n2;
    predict("ens", want, &n);
    predict("ens/labels/prod", got, &n2);
    assert_int_equal(n, n2);
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], want[c], 0);

    st = http_do(&S, "GET", "/api/v1/models/ens/versions/1/export", NULL, NULL, 0, NULL, &r);
    assert_int_equal(st, 200);
    json_t *doc = hresp_json(&r);
    assert_int_equal(json_array_size(json_object_get(doc, "members")), 3);
    assert_int_equal(json_array_size(json_object_get(doc, "ensemble")), 3);
    assert_null(json_object_get(doc, "layers"));
    json_decref(doc);
    json_t *j = make("ens2", r.body, &st);
    hresp_free(&r);
    assert_int_equal(st, 201);
    assert_int_equal(json_array_size(json_object_get(j, "ensemble")), 3);
    json_decref(j);
    predict("ens2", got, &n2);
    assert_int_equal(n, n2);
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], want[c], 0);

    /* a broken member in the document is a 400, and a single export still imports */
    expect_400("ens3",
               "{\"format\":\"mlpd-model\",\"task\":\"classification\",\"members\":[{\"task\":"
               "\"classification\",\"loss\":\"cross_entropy\",\"layers\":[]}]}",
               "members", "2 to 16");
    st = http_do(&S, "GET", "/api/v1/models/c1/versions/1/export", NULL, NULL, 0, NULL, &r);
    assert_int_equal(st, 200);
    json_t *c1doc = hresp_json(&r);
    j = make("single", r.body, &st);
    hresp_free(&r);
    assert_int_equal(st, 201);
    assert_null(json_object_get(j, "ensemble"));
    json_decref(j);
    /* members that do not match in a document are a 400 too: a classifier and a regressor */
    st = http_do(&S, "GET", "/api/v1/models/r1/versions/1/export", NULL, NULL, 0, NULL, &r);
    assert_int_equal(st, 200);
    json_t *r1doc = hresp_json(&r);
    hresp_free(&r);
    json_t *mixed = json_pack("{s:s, s:s, s:[o, o]}", "format", "mlpd-model", "task",
                              "classification", "members", c1doc, r1doc);
    char *text = json_dumps(mixed, JSON_COMPACT);
    expect_400("ens3", text, "members[1]",
               "members[1] is a regression model, but members[0] is a classification model");
    free(text);
    json_decref(mixed);
}

static void self_contained_and_restart(void **state)
{
    (void)state;
    float want[64], got[64];
    size_t n, n2;
    predict("ens", want, &n);
    hresp r;
    long st = http_do(&S, "DELETE", "/api/v1/models/c2/versions/1", NULL, NULL, 0, NULL, &r);
    hresp_free(&r);
    assert_int_equal(st, 204);
    predict("ens", got, &n2);
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], want[c], 0);
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
    assert_int_equal(srv_restart(&S, NULL), 0);
    predict("ens/labels/prod", got, &n2);
    assert_int_equal(n, n2);
    for (size_t c = 0; c < n; c++) assert_float_equal(got[c], want[c], 0);
    long st2;
    json_t *j = get_json(&S, "/api/v1/models/ens", &st2);
    assert_int_equal(st2, 200);
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(j, "model_versions"), 0), "ensemble")),
                     3);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classifier_is_mean_of_members),
        cmocka_unit_test(v2_infer_equals_v1),
        cmocka_unit_test(regressor_is_mean_of_members),
        cmocka_unit_test(mismatches_are_400),
        cmocka_unit_test(alias_export_import_round_trip),
        cmocka_unit_test(self_contained_and_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
