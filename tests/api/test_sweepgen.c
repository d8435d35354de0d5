/* test_sweepgen.c — expanding a sweep request (api/sweepgen.c): a grid's cartesian product in
 * order (first field slowest) over the base request, which keeps its own params and loses the
 * sweep's keys; a random search that is the same for the same seed, differs for another, and
 * stays in its lists and ranges (log and integer ranges included); and each refusal naming its
 * field: grid and random together, an empty list, a grid over the budget or over the limit, a
 * random search without a budget, a bad range, a bad early_stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sweepgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    if (!j) fprintf(stderr, "bad test JSON: %s: %s\n", s, je.text);
    assert_non_null(j);
    return j;
}

static void test_grid_order(void **state)
{
    (void)state;
    json_t *body = parse("{\"dataset_id\": \"ds_1\", \"params\": {\"epochs\": 3, "
                         "\"learning_rate\": 9}, \"grid\": {\"learning_rate\": [0.3, 0.1, 0.03], "
                         "\"optimizer\": [\"sgd\", \"adam\"]}, \"budget\": 6}");
    sweep_plan p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(sweep_expand(body, &p, &err), MLP_OK);
    assert_int_equal(p.n, 6);
    assert_int_equal(p.rung, 0);
    assert_int_equal(json_array_size(p.varying), 2);
    assert_string_equal(json_string_value(json_array_get(p.varying, 0)), "learning_rate");
    const double lr[6] = {0.3, 0.3, 0.1, 0.1, 0.03, 0.03};
    for (int i = 0; i < 6; i++) {
        json_t *params = json_object_get(p.runs[i], "params");
        assert_true(fabs(json_real_value(json_object_get(params, "learning_rate")) - lr[i]) <
                    1e-15);
        assert_string_equal(json_string_value(json_object_get(params, "optimizer")),
                            i % 2 ? "adam" : "sgd");
        assert_int_equal(json_integer_value(json_object_get(params, "epochs")), 3);
        assert_string_equal(json_string_value(json_object_get(p.runs[i], "dataset_id")), "ds_1");
        assert_null(json_object_get(p.runs[i], "grid")); /* the sweep's keys are not the run's */
        assert_null(json_object_get(p.runs[i], "budget"));
        assert_int_equal(json_object_size(p.params[i]), 2);
    }
    char txt[128];
    sweep_params_text(p.params[5], txt, sizeof txt);
    assert_string_equal(txt, "learning_rate=0.03, optimizer=adam");
    /* the caller's body is untouched */
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(body, "params"), "learning_rate")), 9);
    sweep_plan_clear(&p);
    sweep_plan_clear(&p); /* idempotent */
    json_decref(body);
}

static char *expand_text(const char *s)
{
    json_t *body = parse(s);
    sweep_plan p;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = sweep_expand(body, &p, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, MLP_OK);
    json_t *all = json_array();
    for (int i = 0; i < p.n; i++) json_array_append(all, p.params[i]);
    char *txt = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    sweep_plan_clear(&p);
    json_decref(body);
    return txt;
}

#define RANDOM(seed)                                                                               \
    "{\"random\": {\"learning_rate\": {\"min\": 0.001, \"max\": 0.3, \"log\": true}, "             \
    "\"momentum\": {\"min\": 0.5, \"max\": 0.9}, \"hidden\": [[8], [16, 8]], \"epochs\": "         \
    "{\"min\": 2, \"max\": 5}}, \"budget\": 40, \"seed\": " #seed "}"

static void test_random_seeded(void **state)
{
    (void)state;
    char *a = expand_text(RANDOM(7)), *b = expand_text(RANDOM(7)), *c = expand_text(RANDOM(8));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    json_t *all = parse(a);
    assert_int_equal(json_array_size(all), 40);
    int low = 0, high = 0, seen[6] = {0};
    for (size_t i = 0; i < 40; i++) {
        json_t *p = json_array_get(all, i);
        double lr = json_real_value(json_object_get(p, "learning_rate"));
        assert_true(lr >= 0.001 && lr <= 0.3);
        low += lr < 0.0173; /* the geometric middle: log-uniform puts half on each side */
        high += lr >= 0.0173;
        double m = json_real_value(json_object_get(p, "momentum"));
        assert_true(m >= 0.5 && m <= 0.9);
        json_t *h = json_object_get(p, "hidden");
        assert_true(json_array_size(h) == 1 || json_array_size(h) == 2);
        json_t *e = json_object_get(p, "epochs");
        assert_true(json_is_integer(e));
        assert_true(json_integer_value(e) >= 2 && json_integer_value(e) <= 5);
        seen[json_integer_value(e)] = 1;
    }
    assert_true(low >= 10 && high >= 10);
    assert_true(seen[2] && seen[3] && seen[4] && seen[5]);
    json_decref(all);
    free(a);
    free(b);
    free(c);
}

static void test_rung(void **state)
{
    (void)state;
    json_t *body = parse("{\"grid\": {\"learning_rate\": [0.1]}, \"early_stopping\": {\"rule\": "
                         "\"successive_halving\", \"rung\": 3}}");
    sweep_plan p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(sweep_expand(body, &p, &err), MLP_OK);
    assert_int_equal(p.rung, 3);
    assert_int_equal(p.n, 1);
    assert_non_null(json_object_get(p.runs[0], "params")); /* created when the base has none */
    assert_null(json_object_get(p.runs[0], "early_stopping"));
    sweep_plan_clear(&p);
    json_decref(body);
}

static void refused(const char *s, const char *field, const char *needle)
{
    json_t *body = parse(s);
    sweep_plan p;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(sweep_expand(body, &p, &err), MLP_EINVAL);
    if (!strstr(err.msg, needle) || strcmp(err.field, field))
        fprintf(stderr, "%s: field %s, msg %s\n", s, err.field, err.msg);
    assert_string_equal(err.field, field);
    assert_non_null(strstr(err.msg, needle));
    assert_int_equal(p.n, 0);
    assert_null(p.runs);
    json_decref(body);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("{}", "grid", "exactly one of grid or random");
    refused("{\"grid\": {\"a\": [1]}, \"random\": {\"a\": [1]}}", "grid", "exactly one");
    refused("{\"grid\": []}", "grid", "must be an object");
    refused("{\"grid\": {}}", "grid", "not empty");
    refused("{\"grid\": {\"learning_rate\": []}}", "grid.learning_rate", "empty");
    refused("{\"grid\": {\"learning_rate\": 0.1}}", "grid.learning_rate", "list of values");
    refused("{\"grid\": {\"a\": [1, 2, 3]}, \"budget\": 2}", "budget",
            "3 combinations, more than the budget of 2");
    /* 10 x 10 x 10 combinations: refused on the count, before any is built */
    refused("{\"grid\": {\"a\": [1,2,3,4,5,6,7,8,9,10], \"b\": [1,2,3,4,5,6,7,8,9,10], \"c\": "
            "[1,2,3,4,5,6,7,8,9,10]}}",
            "grid", "at most 64 runs");
    refused("{\"grid\": {\"a\": [1]}, \"budget\": 0}", "budget", "1 to 64");
    refused("{\"grid\": {\"a\": [1]}, \"budget\": 65}", "budget", "1 to 64");
    refused("{\"grid\": {\"a\": [1]}, \"seed\": 3}", "seed", "only a random search");
    refused("{\"random\": {\"a\": [1]}}", "budget", "budget is required");
    refused("{\"random\": {\"a\": [1]}, \"budget\": 2, \"seed\": -1}", "seed", ">= 0");
    refused("{\"random\": {\"a\": {\"min\": 2, \"max\": 1}}, \"budget\": 2}", "random.a",
            "min <= max");
    refused("{\"random\": {\"a\": {\"min\": 0, \"max\": 1, \"log\": true}}, \"budget\": 2}",
            "random.a", "min > 0");
    refused("{\"random\": {\"a\": {\"min\": 0, \"max\": 1, \"step\": 2}}, \"budget\": 2}",
            "random.a", "unknown field");
    refused("{\"random\": {\"a\": \"x\"}, \"budget\": 2}", "random.a", "a range");
    refused("{\"grid\": {\"a\": [1]}, \"early_stopping\": {\"rule\": \"successive_halving\"}}",
            "early_stopping", "rung");
    refused("{\"grid\": {\"a\": [1]}, \"early_stopping\": {\"rule\": \"hyperband\", \"rung\": 1}}",
            "early_stopping", "successive_halving");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_order),
        cmocka_unit_test(test_random_seeded),
        cmocka_unit_test(test_rung),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
