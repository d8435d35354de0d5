/* test_plot.c — GET /api/v1/runs/{id}/plot.svg against the real daemon: the SVG is well-formed
 * XML (the harness's strict svg_check: one root, matched tags, quoted attributes without '<',
 * only the five predefined or numeric entities, no stray '&' or '<' in text, no control
 * characters), each series is one polyline with one point per epoch, a regression run plots
 * R², a run without validation only train loss, a queued run empty axes and a note, compare
 * mode one series per run, text from the user escaped, and 400/404 for bad compare lists. */
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
static char DS[32];

static void check_checker(void **state)
{
    (void)state;
    svg_doc x;
    const char *good = "<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><polyline data-series=\"s\" "
                       "points=\"1,2 3,4\"/></g><text>a &amp; b &#178;</text></svg>\n";
    assert_int_equal(svg_check(good, strlen(good), &x), 0);
    assert_int_equal(x.n_polys, 1);
    assert_int_equal(x.polys[0].points, 2);
    const char *bad[] = {"<svg><g></svg>",
                         "<svg>a & b</svg>",
                         "<svg a=1/>",
                         "<svg a=\"<\"/>",
                         "<svg/><svg/>",
                         "<svg>&nbsp;</svg>",
                         "<svg a=\"1\" a=\"2\"/>",
                         "<svg>\x01</svg>",
                         "<svg><g></h></svg>",
                         "<svg>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(svg_check(bad[i], strlen(bad[i]), &x), 0);
}

/* ---- fixtures ---- */

static char *run(const char *body_fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run(const char *body_fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, body_fmt);
    vsnprintf(body, sizeof body, body_fmt, ap);
    va_end(ap);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs", body, &st);
    if (st != 202) fprintf(stderr, "POST /api/v1/runs %s: %ld\n", body, st);
    assert_int_equal(st, 202);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    return id;
}

static int setup(void **state)
{
    (void)state;
    const char *one_worker[] = {"--workers", "1", NULL}; /* a run stays queued (below) */
    if (srv_start(&S, one_worker)) return -1;
    char *csv = malloc(400 * 48 + 64), *p = csv;
    unsigned seed = 5;
    p += sprintf(p, "a,b,y,kind\n");
    for (int i = 0; i < 400; i++) {
        double a = h_urand(&seed), b = h_urand(&seed);
        p += sprintf(p, "%.4f,%.4f,%.4f,%s\n", a, b, 2 * a - b, a > b ? "x" : "o");
    }
    long st = h_upload_csv(&S, "plot", csv, DS, sizeof DS);
    free(csv);
    return st == 201 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

/* GETs a plot; checks status, type and well-formedness; fills x (doc kept in *body). */
static void get_plot(const char *path, svg_doc *x, char **body)
{
    hresp r;
    assert_int_equal(svg_get(&S, path, x, &r), 0);
    *body = r.body; /* x points into it */
    r.body = NULL;
    hresp_free(&r);
}

static const svg_poly *find(const svg_doc *x, const char *series, const char *run_id)
{
    for (int i = 0; i < x->n_polys; i++)
        if (!strcmp(x->polys[i].series, series) && !strcmp(x->polys[i].run, run_id))
            return &x->polys[i];
    return NULL;
}

static void test_plots(void **state)
{
    (void)state;
    char *a = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                  "\"features\": [\"a\", \"b\"], \"model_name\": \"plot-a\", "
                  "\"experiment\": \"lr <0.1> & \\\"q\\\" 'x'\", "
                  "\"params\": {\"hidden\": [8], \"epochs\": 5, \"learning_rate\": 0.01}}",
                  DS);
    char *b = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                  "\"features\": [\"a\", \"b\"], "
                  "\"params\": {\"hidden\": [8], \"epochs\": 4, \"learning_rate\": 0.1}}",
                  DS);
    char *reg = run("{\"dataset_id\": \"%s\", \"task\": \"regression\", \"target\": \"y\", "
                    "\"features\": [\"a\", \"b\"], \"params\": {\"hidden\": [8], \"epochs\": 3}}",
                    DS);
    char *noval = run("{\"dataset_id\": \"%s\", \"task\": \"regression\", \"target\": \"y\", "
                      "\"features\": [\"a\", \"b\"], \"validation\": {\"fraction\": 0}, "
                      "\"params\": {\"hidden\": [8], \"epochs\": 2}}",
                      DS);
    const char *ids[] = {a, b, reg, noval};
    for (int i = 0; i < 4; i++) {
        json_t *j = wait_run(&S, ids[i], 60);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "succeeded");
        json_decref(j);
    }
    char path[512], *body = NULL;
    svg_doc x;
    const svg_poly *p;

    /* classification: train loss, val loss, val accuracy; 5 points each */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", a);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 3);
    assert_non_null(p = find(&x, "train_loss", a));
    assert_int_equal(p->points, 5);
    assert_non_null(p = find(&x, "val_loss", a));
    assert_int_equal(p->points, 5);
    assert_non_null(p = find(&x, "val_accuracy", a));
    assert_int_equal(p->points, 5);
    assert_non_null(strstr(body, "plot-a"));
    assert_non_null(strstr(body, "lr &lt;0.1&gt; &amp; &quot;q&quot; &#39;x&#39;"));
    assert_non_null(strstr(body, "learning_rate 0.01"));
    assert_non_null(strstr(body, "epoch</text>"));
    free(body);

    /* regression: R² on the right axis */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", reg);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 3);
    assert_non_null(p = find(&x, "val_r2", reg));
    assert_int_equal(p->points, 3);
    free(body);

    /* no validation rows: train loss only */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", noval);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 1);
    assert_non_null(p = find(&x, "train_loss", noval));
    assert_int_equal(p->points, 2);
    free(body);

    /* compare: one validation-loss series per run, train loss where a run has no validation */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s,%s,%s,%s", a, b, reg, noval,
             b);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 4);
    assert_int_equal(find(&x, "val_loss", a)->points, 5);
    assert_int_equal(find(&x, "val_loss", b)->points, 4);
    assert_int_equal(find(&x, "val_loss", reg)->points, 3);
    assert_int_equal(find(&x, "train_loss", noval)->points, 2);
    assert_non_null(strstr(body, "lr 0.1<"));
    assert_non_null(strstr(body, "lr 0.01<"));
    free(body);

    /* bad compare lists */
    hresp r;
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s,run_4242", a, b);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 404);
    assert_non_null(strstr(r.body, "run_4242"));
    hresp_free(&r);
    char list[128] = "";
    for (int i = 0; i < 12; i++) /* 12 others + this run = 13 */
        snprintf(list + strlen(list), sizeof list - strlen(list), "%srun_%d", i ? "," : "",
                 100 + i);
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s", a, list);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    assert_non_null(strstr(r.body, "12"));
    hresp_free(&r);
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s,,%s", a, b, b);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    hresp_free(&r);
    assert_int_equal(http_do(&S, "GET", "/api/v1/runs/run_999/plot.svg", NULL, NULL, 0, NULL, &r),
                     404);
    hresp_free(&r);
    free(a);
    free(b);
    free(reg);
    free(noval);
}

static void test_unfinished_run(void **state)
{
    (void)state;
    /* A long run holds the worker; a second one stays queued with no epoch. */
    char *lng = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                    "\"features\": [\"a\", \"b\"], \"params\": {\"hidden\": [8], "
                    "\"epochs\": 100000}}",
                    DS);
    char *q = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                  "\"features\": [\"a\", \"b\"], \"params\": {\"epochs\": 3}}",
                  DS);
    assert_int_equal(wait_epoch(&S, lng, 2, 60), 0);
    char path[128], *body;
    svg_doc x;
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", q);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 0);
    assert_non_null(strstr(body, "no finished epoch yet"));
    free(body);
    /* the running one draws what it has */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", lng);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 3);
    assert_true(find(&x, "train_loss", lng)->points >= 2);
    free(body);
    long st;
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", q);
    json_decref(post_json(&S, path, "{}", &st));
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", lng);
    json_decref(post_json(&S, path, "{}", &st));
    json_decref(wait_run(&S, lng, 60));
    free(lng);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_checker),
        cmocka_unit_test(test_plots),
        cmocka_unit_test(test_unfinished_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
