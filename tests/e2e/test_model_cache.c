/* test_model_cache.c — --model-cache-bytes through the real daemon: three imported models of
 * ~131 KB each (2 inputs, one hidden layer of 8,192) predicted in turn; under a 300K budget the
 * cache keeps two of them (mlpd_models_loaded in /metrics) and every request is still served,
 * including the one for a model bigger than the whole budget; with the shipped defaults it keeps
 * all three. The byte accounting and the eviction order are tests/server/test_registry.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIDDEN 8192

/* An mlpd-model export document: regression 2-HIDDEN-1, weights scaled by `scale`. New. */
static char *model_doc(int hidden, double scale)
{
    size_t cap = (size_t)hidden * 48 + 1024, n = 0;
    char *d = malloc(cap);
    assert_non_null(d);
    n += (size_t)snprintf(d + n, cap - n,
                          "{\"format\":\"mlpd-model\",\"format_version\":1,\"task\":\"regression\","
                          "\"loss\":\"squared\",\"feature_names\":[\"a\",\"b\"],\"labels\":[],"
                          "\"layers\":[{\"in\":2,\"out\":%d,\"activation\":\"tanh\",\"weights\":[",
                          hidden);
    for (int i = 0; i < hidden; i++)
        n += (size_t)snprintf(d + n, cap - n, "%s[%.4f,%.4f]", i ? "," : "", scale * 0.001 * i,
                              -scale * 0.002);
    n += (size_t)snprintf(d + n, cap - n, "],\"bias\":[");
    for (int i = 0; i < hidden; i++) n += (size_t)snprintf(d + n, cap - n, "%s0", i ? "," : "");
    n += (size_t)snprintf(
        d + n, cap - n, "]},{\"in\":%d,\"out\":1,\"activation\":\"linear\",\"weights\":[[", hidden);
    for (int i = 0; i < hidden; i++)
        n += (size_t)snprintf(d + n, cap - n, "%s%.4f", i ? "," : "", scale * 0.0001);
    n += (size_t)snprintf(d + n, cap - n, "]],\"bias\":[0.5]}]}");
    assert_true(n < cap);
    return d;
}

static void publish(srv *s, const char *name, int hidden)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/models/%s/versions", name);
    char *doc = model_doc(hidden, 1.0);
    long st = 0;
    json_t *j = post_json(s, path, doc, &st);
    free(doc);
    assert_int_equal(st, 201);
    json_decref(j);
}

static void predict(srv *s, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/models/%s:predict", name);
    long st = 0;
    json_t *j = post_json(s, path, "{\"instances\":[[0.5,-1]]}", &st);
    assert_int_equal(st, 200);
    assert_non_null(json_object_get(j, "predictions"));
    json_decref(j);
}

/* mlpd_models_loaded from /metrics. */
static int models_loaded(srv *s)
{
    hresp r;
    memset(&r, 0, sizeof r);
    assert_int_equal(http_do(s, "GET", "/metrics", NULL, NULL, 0, NULL, &r), 200);
    const char *p = strstr(r.body, "\nmlpd_models_loaded ");
    assert_non_null(p);
    int n = atoi(p + strlen("\nmlpd_models_loaded "));
    hresp_free(&r);
    return n;
}

static void byte_budget_bounds_the_cache(void **state)
{
    (void)state;
    srv s;
    static const char *const budget[] = {"--quiet", "--model-cache-bytes", "300K", NULL};
    assert_int_equal(srv_start(&s, budget), 0);
    publish(&s, "a", HIDDEN);
    publish(&s, "b", HIDDEN);
    publish(&s, "c", HIDDEN);
    publish(&s, "huge", 4 * HIDDEN); /* ~525 KB: bigger than the whole budget */
    predict(&s, "a");
    predict(&s, "b");
    assert_int_equal(models_loaded(&s), 2);
    predict(&s, "c"); /* a, the least recently used, goes */
    assert_int_equal(models_loaded(&s), 2);
    predict(&s, "huge"); /* served, then dropped at its release; b and c stay */
    assert_int_equal(models_loaded(&s), 2);
    predict(&s, "a");
    assert_int_equal(models_loaded(&s), 2);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);

    /* the shipped defaults (16 versions, 512M) keep all four */
    assert_int_equal(srv_restart(&s, (const char *const[]){"--quiet", NULL}), 0);
    predict(&s, "a");
    predict(&s, "b");
    predict(&s, "c");
    predict(&s, "huge");
    assert_int_equal(models_loaded(&s), 4);
    assert_int_equal(srv_finish(&s), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(byte_budget_bounds_the_cache),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
