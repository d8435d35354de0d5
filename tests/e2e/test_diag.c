/* test_diag.c — vanishing gradients made visible, against the real daemon. On generated 8×8
 * digit-like images (10 classes, each a blotchy prototype plus noise), a 10-layer sigmoid net with
 * small initialisation has a first-layer gradient norm below 1e-3 of the last layer's in every
 * epoch, and the same net with ReLU and He initialisation does not. The per-layer metrics come
 * through GET /runs/{id}/metrics (all of them, and ?name=grad_norm.l0), the run object, the SSE
 * epoch events, and GET /runs/{id}/plot.svg?diagnostics=true (one log-scale line per layer);
 * malformed names and parameters are 400s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS   600
#define EPOCHS 3
#define LAYERS 10 /* 9 hidden + output */

static srv S;
static char DS[32];
static char SIG[32], RELU[32]; /* the two runs */

/* 8×8 images with values 0..16, like the UCI digits: class c's prototype lights about 40% of
 * the pixels; each row jitters the prototype's intensities and adds noise. */
static char *digits_csv(void)
{
    char *csv = malloc((size_t)ROWS * 64 * 4 + 1024), *p = csv;
    if (!csv) return NULL;
    unsigned seed = 14;
    int proto[10][64];
    for (int c = 0; c < 10; c++)
        for (int i = 0; i < 64; i++) proto[c][i] = h_urand(&seed) < 0.4 ? 12 : 0;
    for (int i = 0; i < 64; i++) p += sprintf(p, "p%d,", i);
    p += sprintf(p, "digit\n");
    for (int r = 0; r < ROWS; r++) {
        int c = r % 10;
        for (int i = 0; i < 64; i++) {
            int v = proto[c][i] + (int)(h_urand(&seed) * 5.0) - (proto[c][i] ? 2 : 0);
            p += sprintf(p, "%d,", v < 0 ? 0 : v > 16 ? 16 : v);
        }
        p += sprintf(p, "d%d\n", c);
    }
    return csv;
}

static int start_run(const char *act, const char *init, char *id, size_t cap)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"digit\","
             "\"model_name\":\"deep-%s\",\"params\":{\"hidden\":[32,32,32,32,32,32,32,32,32],"
             "\"activation\":\"%s\",\"init\":\"%s\",\"epochs\":%d,\"batch_size\":32}}",
             DS, act, act, init, EPOCHS);
    long st;
    json_t *run = post_json(&S, "/api/v1/runs", body, &st);
    const char *rid = st == 202 ? json_string_value(json_object_get(run, "id")) : NULL;
    if (rid) snprintf(id, cap, "%s", rid);
    json_decref(run);
    if (!rid) return -1;
    json_t *done = wait_run(&S, id, 120);
    const char *status = done ? json_string_value(json_object_get(done, "status")) : NULL;
    int ok = status && strcmp(status, "succeeded") == 0;
    json_decref(done);
    return ok ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL)) return -1;
    char *csv = digits_csv();
    if (!csv) return -1;
    hresp r;
    long st = http_do(&S, "POST", "/api/v1/datasets?name=digits8", "text/csv", csv, strlen(csv),
                      NULL, &r);
    free(csv);
    json_t *j = hresp_json(&r);
    if (st == 201) snprintf(DS, sizeof DS, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);
    if (st != 201) return -1;
    if (start_run("sigmoid", "small", SIG, sizeof SIG)) return -1;
    if (start_run("relu", "he", RELU, sizeof RELU)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S) == 0 ? 0 : -1;
}

/* The values of metric `name` by epoch (1-based), through ?name=; returns the point count. */
static int history(const char *run, const char *name, double v[EPOCHS + 1])
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=%s", run, name);
    long st;
    json_t *j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    json_t *pts = json_object_get(j, "metrics");
    int n = (int)json_array_size(pts);
    for (int i = 0; i < n; i++) {
        json_t *p = json_array_get(pts, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(p, "name")), name);
        int step = (int)json_integer_value(json_object_get(p, "step"));
        assert_true(step >= 1 && step <= EPOCHS);
        v[step] = json_number_value(json_object_get(p, "value"));
    }
    json_decref(j);
    return n;
}

static void test_sigmoid_vanishes_relu_does_not(void **state)
{
    (void)state;
    double g0[EPOCHS + 1], g9[EPOCHS + 1], r0[EPOCHS + 1], r9[EPOCHS + 1];
    assert_int_equal(history(SIG, "grad_norm.l0", g0), EPOCHS);
    assert_int_equal(history(SIG, "grad_norm.l9", g9), EPOCHS);
    assert_int_equal(history(RELU, "grad_norm.l0", r0), EPOCHS);
    assert_int_equal(history(RELU, "grad_norm.l9", r9), EPOCHS);
    for (int e = 1; e <= EPOCHS; e++) {
        printf("epoch %d: sigmoid/small l0 %.3g l9 %.3g | relu/he l0 %.3g l9 %.3g\n", e, g0[e],
               g9[e], r0[e], r9[e]);
        assert_true(g9[e] > 0.0);
        assert_true(g0[e] >= 0.0 && g0[e] < 1e-3 * g9[e]);
        assert_true(r9[e] > 0.0);
        assert_true(r0[e] >= 1e-3 * r9[e]);
    }
}

/* Every per-layer family has one point per epoch where it applies: saturated for the sigmoid
 * hidden layers, dead for the ReLU ones, neither for the softmax output. */
static void test_families(void **state)
{
    (void)state;
    double v[EPOCHS + 1];
    char name[32];
    for (int l = 0; l < LAYERS; l++) {
        snprintf(name, sizeof name, "update_ratio.l%d", l);
        assert_int_equal(history(RELU, name, v), EPOCHS);
        assert_true(v[EPOCHS] > 0.0);
        snprintf(name, sizeof name, "dead.l%d", l);
        assert_int_equal(history(RELU, name, v), l < LAYERS - 1 ? EPOCHS : 0);
        if (l < LAYERS - 1) assert_true(v[EPOCHS] >= 0.0 && v[EPOCHS] <= 1.0);
        assert_int_equal(history(SIG, name, v), 0);
        snprintf(name, sizeof name, "saturated.l%d", l);
        assert_int_equal(history(SIG, name, v), l < LAYERS - 1 ? EPOCHS : 0);
        assert_int_equal(history(RELU, name, v), 0);
    }
    assert_int_equal(history(RELU, "grad_norm.l10", v), 0); /* a layer the net does not have */
    /* the whole history: 6 fixed metrics at most, 10 grad_norm, 10 update_ratio, 9 dead */
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics", RELU);
    long st;
    json_t *j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    int layered = 0;
    json_t *pts = json_object_get(j, "metrics");
    for (size_t i = 0; i < json_array_size(pts); i++)
        layered +=
            strchr(json_string_value(json_object_get(json_array_get(pts, i), "name")), '.') != NULL;
    assert_int_equal(layered, EPOCHS * (10 + 10 + 9));
    json_decref(j);
    /* the run object's metrics carry the last epoch's */
    snprintf(path, sizeof path, "/api/v1/runs/%s", SIG);
    j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    json_t *m = json_object_get(j, "metrics");
    assert_true(json_is_number(json_object_get(m, "grad_norm.l9")));
    assert_true(json_is_number(json_object_get(m, "saturated.l0")));
    assert_true(json_is_number(json_object_get(m, "train_loss")));
    json_decref(j);
}

static void test_bad_names(void **state)
{
    (void)state;
    const char *bad[] = {"grad_norm.l33", "grad_norm.l07", "grad_norm.l",
                         "grad_norm",     "dead.lx",       "bogus.l0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=%s", SIG, bad[i]);
        hresp r;
        assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
        assert_non_null(strstr(r.body, "grad_norm.l<i>"));
        hresp_free(&r);
    }
}

/* The replayed SSE epoch events of a finished run carry the per-layer metrics. */
static void test_events(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", SIG);
    hresp r;
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 200);
    int epochs = 0;
    for (const char *p = r.body; (p = strstr(p, "event: epoch\n")); p++) {
        const char *data = strstr(p, "data: ");
        const char *eol = data ? strchr(data, '\n') : NULL;
        assert_non_null(eol);
        char line[8192];
        size_t n = (size_t)(eol - data);
        assert_true(n < sizeof line);
        memcpy(line, data + 6, n - 6);
        line[n - 6] = '\0';
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        for (int l = 0; l < LAYERS; l++) {
            char name[32];
            snprintf(name, sizeof name, "grad_norm.l%d", l);
            assert_true(json_is_number(json_object_get(j, name)));
        }
        assert_true(json_is_number(json_object_get(j, "saturated.l8")));
        assert_null(json_object_get(j, "dead.l0"));
        json_decref(j);
        epochs++;
    }
    assert_int_equal(epochs, EPOCHS);
    hresp_free(&r);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_plot(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?diagnostics=true", RELU);
    hresp r;
    svg_doc x;
    assert_int_equal(svg_get(&S, path, &x, &r), 0);
    assert_int_equal(count(r.body, "<polyline class=\"series\""), LAYERS);
    assert_int_equal(x.n_polys, LAYERS);
    for (int l = 0; l < LAYERS; l++) {
        char want[64];
        snprintf(want, sizeof want, "data-series=\"grad_norm.l%d\"", l);
        assert_int_equal(count(r.body, want), 1);
    }
    assert_non_null(strstr(r.body, "log scale"));
    assert_non_null(strstr(r.body, "dead at epoch 3: l0 "));
    hresp_free(&r);
    /* the sigmoid net: the saturated fractions in the caption */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?diagnostics=true", SIG);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 200);
    assert_non_null(strstr(r.body, "saturated at epoch 3: l0 "));
    hresp_free(&r);
    /* false is the learning curves, unchanged */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?diagnostics=false", RELU);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 200);
    assert_null(strstr(r.body, "grad_norm"));
    assert_non_null(strstr(r.body, "data-series=\"train_loss\""));
    hresp_free(&r);
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?diagnostics=yes", RELU);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    assert_non_null(strstr(r.body, "diagnostics"));
    hresp_free(&r);
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?diagnostics=true&compare=%s", RELU, SIG);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    hresp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigmoid_vanishes_relu_does_not),
        cmocka_unit_test(test_families),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_plot),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
