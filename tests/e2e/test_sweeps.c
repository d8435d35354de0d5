/* test_sweeps.c — /api/v1/sweeps against the real daemon (one worker, so runs train in
 * generation order): a grid queues every combination as runs of their own, orders them by best
 * validation loss once finished, overlays their curves in plot.svg labelled by the varied params,
 * and :promote points an alias at the best run's version; a seeded random search draws the same
 * runs for the same seed and stays inside its ranges; one invalid combination refuses the whole
 * sweep with nothing queued; successive halving cancels the run that is worse than the better
 * half at its rung, with a reason; DELETE cancels the unfinished runs and keeps them; a sweep
 * survives a restart. Its owner and the class-mode rules are tests/e2e/test_access.c's. */
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
#include <unistd.h>

static srv S;
static char DS[32];

static const char *const one_worker[] = {"--workers", "1", NULL}; /* runs in order */

/* A linearly separable 2-class problem: large steps learn it fast, tiny ones barely move. */
static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, one_worker)) return -1;
    char *csv = malloc(300 * 40 + 64), *p = csv;
    unsigned seed = 11;
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < 300; i++) {
        double a = 2 * h_urand(&seed) - 1, b = 2 * h_urand(&seed) - 1;
        p += sprintf(p, "%.4f,%.4f,%s\n", a, b, a + b > 0 ? "p" : "n");
    }
    long st = h_upload_csv(&S, "swp", csv, DS, sizeof DS);
    free(csv);
    return st == 201 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S) == 0 ? 0 : -1;
}

static json_t *post_sweep(const char *tail, long want)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", %s}", DS,
             tail);
    long st;
    json_t *j = post_json(&S, "/api/v1/sweeps", body, &st);
    if (st != want) fprintf(stderr, "POST /api/v1/sweeps %s: %ld\n", body, st);
    assert_int_equal(st, want);
    return j;
}

static json_t *get_sweep(const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", id);
    long st;
    json_t *j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    return j;
}

/* Waits until the sweep's status is "finished"; returns it. */
static json_t *wait_sweep(const char *id, double timeout_s)
{
    for (int i = 0; i < timeout_s * 50; i++) {
        json_t *j = get_sweep(id);
        if (!strcmp(json_string_value(json_object_get(j, "status")), "finished")) return j;
        json_decref(j);
        usleep(20000);
    }
    fail_msg("sweep %s did not finish within %.0f s", id, timeout_s);
    return NULL;
}

static long runs_total(void)
{
    long st;
    json_t *j = get_json(&S, "/api/v1/runs?limit=1", &st);
    assert_int_equal(st, 200);
    long n = (long)json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return n;
}

static const char *sweep_id(json_t *sw)
{
    return json_string_value(json_object_get(sw, "id"));
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void test_grid(void **state)
{
    (void)state;
    long before = runs_total();
    json_t *sw = post_sweep("\"model_name\": \"swgrid\", \"params\": {\"hidden\": [8], "
                            "\"epochs\": 4}, \"grid\": {\"learning_rate\": [0.3, 0.001], "
                            "\"optimizer\": [\"sgd\", \"adam\"]}",
                            201);
    json_t *runs = json_object_get(sw, "runs");
    assert_int_equal(json_array_size(runs), 4);
    assert_int_equal(runs_total(), before + 4); /* runs of their own, in GET /runs */
    assert_string_equal(json_string_value(json_object_get(sw, "search")), "grid");
    assert_int_equal(json_integer_value(json_object_get(sw, "budget")), 4);
    /* without users, everything is the bootstrap admin's (class mode: tests/e2e/test_access.c) */
    assert_string_equal(json_string_value(json_object_get(sw, "owner")), "admin");
    /* generation order while nothing has a metric: the first field varies slowest */
    const double lr[4] = {0.3, 0.3, 0.001, 0.001};
    const char *opt[4] = {"sgd", "adam", "sgd", "adam"};
    for (int i = 0; i < 4; i++) {
        json_t *p = json_object_get(json_array_get(runs, i), "params");
        assert_true(fabs(num(p, "learning_rate") - lr[i]) < 1e-12);
        assert_string_equal(json_string_value(json_object_get(p, "optimizer")), opt[i]);
        assert_int_equal(json_object_size(p), 2);
        char path[64];
        snprintf(path, sizeof path, "/api/v1/runs/%s",
                 json_string_value(json_object_get(json_array_get(runs, i), "run_id")));
        long st;
        json_t *r = get_json(&S, path, &st);
        assert_int_equal(st, 200);
        json_t *rp = json_object_get(r, "params");
        assert_true(fabs(num(rp, "learning_rate") - lr[i]) < 1e-12);
        assert_int_equal(json_integer_value(json_object_get(rp, "epochs")), 4); /* the base's */
        json_decref(r);
    }
    char id[32];
    snprintf(id, sizeof id, "%s", sweep_id(sw));
    json_decref(sw);

    /* finished: best first by best_val_loss, each with its accuracy */
    sw = wait_sweep(id, 120);
    runs = json_object_get(sw, "runs");
    assert_int_equal(json_array_size(runs), 4);
    double prev = -1;
    for (size_t i = 0; i < 4; i++) {
        json_t *r = json_array_get(runs, i);
        assert_string_equal(json_string_value(json_object_get(r, "status")), "succeeded");
        double v = num(r, "best_val_loss");
        assert_true(isfinite(v) && v >= prev);
        prev = v;
        double acc = num(r, "best_val_accuracy");
        assert_true(acc >= 0 && acc <= 1);
    }
    json_t *best = json_array_get(runs, 0);
    assert_string_equal(json_string_value(json_object_get(sw, "best_run_id")),
                        json_string_value(json_object_get(best, "run_id")));
    int best_version =
        (int)json_integer_value(json_object_get(json_object_get(best, "model"), "version"));
    assert_true(best_version >= 1);

    /* plot.svg: one val_loss line per run, labelled by the varied params */
    char path[128];
    snprintf(path, sizeof path, "/api/v1/sweeps/%s/plot.svg", id);
    hresp r;
    svg_doc x;
    assert_int_equal(svg_get(&S, path, &x, &r), 0);
    assert_true(r.len > 6 && !strncmp(r.body, "<?xml", 5));
    assert_non_null(strstr(r.body, "</svg>\n"));
    int lines = 0;
    for (const char *p = r.body; (p = strstr(p, "<polyline class=\"series\" "
                                                "data-series=\"val_loss\"")) != NULL;
         p++)
        lines++;
    assert_int_equal(lines, 4);
    assert_int_equal(x.n_polys, 4);
    for (int i = 0; i < x.n_polys; i++) assert_string_equal(x.polys[i].series, "val_loss");
    for (int i = 0; i < 4; i++) {
        char label[96];
        snprintf(label, sizeof label, ">learning_rate=%g, optimizer=%s</text>", lr[i], opt[i]);
        assert_non_null(strstr(r.body, label));
        snprintf(label, sizeof label, "data-run=\"%s\"",
                 json_string_value(json_object_get(json_array_get(runs, i), "run_id")));
        assert_non_null(strstr(r.body, label));
    }
    hresp_free(&r);

    /* promote: the alias moves to the best run's version */
    long st;
    snprintf(path, sizeof path, "/api/v1/sweeps/%s:promote", id);
    json_t *pr = post_json(&S, path, "{\"alias\": \"best\"}", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(pr, "version")), best_version);
    json_decref(pr);
    json_t *m = get_json(&S, "/api/v1/models/swgrid", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "aliases"), "best")),
                     best_version);
    json_decref(m);
    json_decref(post_json(&S, path, "{}", &st));
    assert_int_equal(st, 400); /* no alias */

    /* listed; and unknown ids are 404 */
    json_t *l = get_json(&S, "/api/v1/sweeps", &st);
    assert_int_equal(st, 200);
    assert_true(json_integer_value(json_object_get(l, "total")) >= 1);
    json_decref(l);
    json_decref(get_json(&S, "/api/v1/sweeps/swp_999", &st));
    assert_int_equal(st, 404);
    json_decref(sw);
}

/* The random sweep's varied params, as text, in generation order. */
static char *random_params(const char *tail)
{
    json_t *sw = post_sweep(tail, 201);
    char *txt = json_dumps(json_object_get(sw, "runs"), JSON_COMPACT);
    /* keep only the params: the run ids differ between sweeps */
    json_t *runs = json_object_get(sw, "runs");
    json_t *ps = json_array();
    for (size_t i = 0; i < json_array_size(runs); i++)
        json_array_append(ps, json_object_get(json_array_get(runs, i), "params"));
    free(txt);
    txt = json_dumps(ps, JSON_COMPACT);
    json_decref(ps);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", sweep_id(sw));
    hresp r;
    assert_int_equal(http_do(&S, "DELETE", path, NULL, NULL, 0, NULL, &r), 204);
    hresp_free(&r);
    json_decref(sw);
    return txt;
}

static void test_random(void **state)
{
    (void)state;
#define RANDOM_TAIL(seed)                                                                          \
    "\"params\": {\"hidden\": [4], \"epochs\": 1}, \"budget\": 6, \"seed\": " #seed                \
    ", \"random\": {\"learning_rate\": {\"min\": 0.001, \"max\": 0.3, \"log\": true}, "            \
    "\"batch_size\": [8, 16, 32], \"epochs\": {\"min\": 1, \"max\": 3}}"
    const char *t7 = RANDOM_TAIL(7), *t8 = RANDOM_TAIL(8);
    char *a = random_params(t7), *b = random_params(t7), *c = random_params(t8);
    assert_string_equal(a, b); /* the same seed draws the same runs */
    assert_string_not_equal(a, c);
    json_t *ps = json_loads(a, 0, NULL);
    assert_int_equal(json_array_size(ps), 6);
    for (size_t i = 0; i < 6; i++) {
        json_t *p = json_array_get(ps, i);
        double lr = num(p, "learning_rate");
        assert_true(lr >= 0.001 && lr <= 0.3);
        json_int_t bs = json_integer_value(json_object_get(p, "batch_size"));
        assert_true(bs == 8 || bs == 16 || bs == 32);
        json_t *ep = json_object_get(p, "epochs");
        assert_true(json_is_integer(ep)); /* integer bounds draw integers */
        assert_true(json_integer_value(ep) >= 1 && json_integer_value(ep) <= 3);
    }
    json_decref(ps);
    free(a);
    free(b);
    free(c);
}

static void expect_400(const char *tail, const char *needle)
{
    long before = runs_total();
    json_t *j = post_sweep(tail, 400);
    const char *detail = json_string_value(json_object_get(j, "detail"));
    if (!detail || !strstr(detail, needle))
        fprintf(stderr, "detail %s lacks %s\n", detail ? detail : "(none)", needle);
    assert_non_null(detail);
    assert_non_null(strstr(detail, needle));
    json_decref(j);
    assert_int_equal(runs_total(), before); /* nothing queued */
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    /* the third of four combinations is not a valid run: nothing is queued, and it is named */
    expect_400("\"params\": {\"epochs\": 2}, \"grid\": {\"learning_rate\": [0.1, -1], "
               "\"optimizer\": [\"sgd\", \"adam\"]}",
               "sweep run 3 of 4 (learning_rate=-1, optimizer=sgd)");
    expect_400("\"params\": {\"epochs\": 2}, \"grid\": {\"no_such_param\": [1, 2]}",
               "no_such_param");
    expect_400("\"grid\": {\"learning_rate\": [0.1, 0.2, 0.3]}, \"budget\": 2",
               "3 combinations, more than the budget of 2");
    expect_400("\"grid\": {\"learning_rate\": [1, 2, 3, 4, 5, 6, 7, 8, 9], \"batch_size\": [1, 2, "
               "3, 4, 5, 6, 7, 8]}",
               "at most 64 runs");
    expect_400("\"grid\": {\"learning_rate\": [0.1]}, \"random\": {\"learning_rate\": [0.1]}",
               "exactly one of grid or random");
    expect_400("\"random\": {\"learning_rate\": [0.1]}", "budget is required");
    expect_400("\"random\": {\"learning_rate\": {\"min\": 0, \"max\": 1, \"log\": true}}, "
               "\"budget\": 2",
               "min > 0");
    expect_400("\"grid\": {\"learning_rate\": []}", "grid.learning_rate");
    expect_400("\"grid\": {\"learning_rate\": [0.1]}, \"early_stopping\": {\"rule\": \"median\"}",
               "successive_halving");
    expect_400("\"grid\": {\"learning_rate\": [0.1]}, \"budget\": 65", "budget");

    /* promote before any run finished: 409; DELETE cancels the unfinished runs, keeps them */
    json_t *sw = post_sweep("\"params\": {\"epochs\": 100000}, \"grid\": {\"learning_rate\": "
                            "[0.1, 0.2]}",
                            201);
    char id[32], r0[32], r1[32], path[128];
    snprintf(id, sizeof id, "%s", sweep_id(sw));
    json_t *runs = json_object_get(sw, "runs");
    snprintf(r0, sizeof r0, "%s",
             json_string_value(json_object_get(json_array_get(runs, 0), "run_id")));
    snprintf(r1, sizeof r1, "%s",
             json_string_value(json_object_get(json_array_get(runs, 1), "run_id")));
    json_decref(sw);
    assert_int_equal(wait_epoch(&S, r0, 1, 60), 0);
    long st;
    snprintf(path, sizeof path, "/api/v1/sweeps/%s:promote", id);
    json_t *j = post_json(&S, path, "{\"alias\": \"best\"}", &st);
    assert_int_equal(st, 409);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", id);
    hresp r;
    assert_int_equal(http_do(&S, "DELETE", path, NULL, NULL, 0, NULL, &r), 204);
    hresp_free(&r);
    json_decref(get_json(&S, path, &st));
    assert_int_equal(st, 404);
    for (int i = 0; i < 2; i++) {
        json_t *run = wait_run(&S, i ? r1 : r0, 60);
        assert_non_null(run);
        assert_string_equal(json_string_value(json_object_get(run, "status")), "cancelled");
        json_decref(run);
    }
}

/* One worker: runs train in order. lr 0.03 reaches the rung alone (kept); lr 0.3 beats it
 * (kept, the better half of 2); lr 1e-5 is the worst of 3 (pruned, the reason in its error). */
static void test_halving(void **state)
{
    (void)state;
    json_t *sw = post_sweep("\"params\": {\"hidden\": [8], \"epochs\": 6, \"optimizer\": \"sgd\"}, "
                            "\"grid\": {\"learning_rate\": [0.03, 0.3, 0.00001]}, "
                            "\"early_stopping\": {\"rule\": \"successive_halving\", \"rung\": 2}",
                            201);
    char id[32];
    snprintf(id, sizeof id, "%s", sweep_id(sw));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(sw, "early_stopping"), "rung")), 2);
    json_decref(sw);
    sw = wait_sweep(id, 120);
    json_t *runs = json_object_get(sw, "runs");
    assert_int_equal(json_array_size(runs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *r = json_array_get(runs, i);
        double lr = num(json_object_get(r, "params"), "learning_rate");
        const char *status = json_string_value(json_object_get(r, "status"));
        const char *err = json_string_value(json_object_get(r, "error"));
        if (lr < 1e-4) {
            assert_string_equal(status, "cancelled");
            assert_true(json_is_true(json_object_get(r, "pruned")));
            assert_non_null(err);
            assert_non_null(strstr(err, "pruned by sweep"));
            assert_true(json_integer_value(json_object_get(r, "epoch")) < 6);
            assert_int_equal(i, 2); /* the worst: last */
            char path[64];
            snprintf(path, sizeof path, "/api/v1/runs/%s",
                     json_string_value(json_object_get(r, "run_id")));
            long st;
            json_t *run = get_json(&S, path, &st);
            assert_non_null(strstr(json_string_value(json_object_get(run, "error")), id));
            json_decref(run);
        } else {
            assert_string_equal(status, "succeeded");
            assert_false(json_is_true(json_object_get(r, "pruned")));
        }
    }
    json_decref(sw);
}

static void test_restart(void **state)
{
    (void)state;
    json_t *sw = post_sweep("\"params\": {\"hidden\": [4], \"epochs\": 2}, \"grid\": "
                            "{\"batch_size\": [16, 32]}",
                            201);
    char id[32];
    snprintf(id, sizeof id, "%s", sweep_id(sw));
    json_decref(sw);
    json_t *before = wait_sweep(id, 60);
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
    assert_int_equal(srv_restart(&S, one_worker), 0);
    json_t *after = get_sweep(id);
    char *a = json_dumps(before, JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(before);
    json_decref(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid),           cmocka_unit_test(test_random),
        cmocka_unit_test(test_all_or_nothing), cmocka_unit_test(test_halving),
        cmocka_unit_test(test_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
