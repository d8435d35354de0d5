/* test_run.c — the metric vocabulary of server/run.h with its per-layer families: every name
 * reads back to its id, malformed layer names are refused, the record's accessors keep fixed and
 * per-layer metrics apart, an epoch's diagnostics become metrics (NaN and inapplicable fractions
 * left out), and the one renderer (events_metrics_json) prints them after the fixed ones in id
 * order, leaves a record without them as before, and fits every metric of the deepest net in
 * EVENTS_METRICS_JSON_MAX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events.h"
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void test_names_round_trip(void **state)
{
    (void)state;
    for (int m = 0; m < MET_ALL; m++) {
        metric_id back;
        assert_int_equal(metric_parse(metric_name((metric_id)m), &back), MLP_OK);
        assert_int_equal((int)back, m);
    }
    assert_string_equal(metric_name(metric_layer(MFAM_GRAD_NORM, 0)), "grad_norm.l0");
    assert_string_equal(metric_name(metric_layer(MFAM_UPDATE_RATIO, 12)), "update_ratio.l12");
    assert_string_equal(metric_name(metric_layer(MFAM_DEAD, 32)), "dead.l32");
    assert_string_equal(metric_name(metric_layer(MFAM_SATURATED, 3)), "saturated.l3");
    assert_string_equal(metric_name((metric_id)MET_ALL), "unknown");
    const char *bad[] = {"grad_norm.l33", "grad_norm.l07", "grad_norm.l",   "grad_norm",
                         "dead.l-1",      "Grad_norm.l0",  "saturated.l0 ", "",
                         "grad_norm.l1x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        metric_id m;
        if (metric_parse(bad[i], &m) == MLP_OK) fail_msg("'%s' parsed", bad[i]);
    }
}

static void test_layer_of(void **state)
{
    (void)state;
    metric_family f;
    int l;
    assert_int_equal(metric_layer_of(MET_EPOCH_SECONDS, &f, &l), 0);
    assert_int_equal(metric_layer_of(metric_layer(MFAM_DEAD, 7), &f, &l), 1);
    assert_int_equal(f, MFAM_DEAD);
    assert_int_equal(l, 7);
    assert_int_equal(metric_layer_of((metric_id)MET_ALL, NULL, NULL), 0);
}

static void test_set_get(void **state)
{
    (void)state;
    run_metrics m;
    memset(&m, 0, sizeof m);
    double v = 0.0;
    assert_int_equal(run_metrics_get(&m, MET_TRAIN_LOSS, &v), 0);
    run_metrics_set(&m, MET_TRAIN_LOSS, 0.5);
    run_metrics_set(&m, metric_layer(MFAM_GRAD_NORM, 32), 2.5);
    assert_int_equal(m.present, 1u << MET_TRAIN_LOSS);
    assert_true(m.lpresent[MFAM_GRAD_NORM] == (uint64_t)1 << 32);
    assert_int_equal(run_metrics_get(&m, metric_layer(MFAM_GRAD_NORM, 32), &v), 1);
    assert_true(v == 2.5);
    assert_int_equal(run_metrics_get(&m, metric_layer(MFAM_GRAD_NORM, 31), &v), 0);
    assert_int_equal(run_metrics_get(&m, metric_layer(MFAM_UPDATE_RATIO, 32), &v), 0);
    assert_int_equal(run_metrics_get(&m, MET_TRAIN_LOSS, &v), 1);
    assert_true(v == 0.5);
}

static void test_add_diag(void **state)
{
    (void)state;
    diag_layers d;
    memset(&d, 0, sizeof d);
    d.layers = 3;
    d.grad_norm[0] = 1e-30, d.grad_norm[1] = 0.0, d.grad_norm[2] = 0.5;
    d.update_ratio[0] = NAN, d.update_ratio[1] = 0.01, d.update_ratio[2] = 0.02;
    d.units[0] = DIAG_UNITS_DEAD, d.units_frac[0] = 0.25;
    d.units[1] = DIAG_UNITS_SATURATED, d.units_frac[1] = 0.75;
    d.units[2] = DIAG_UNITS_NONE, d.units_frac[2] = NAN;
    run_metrics m;
    memset(&m, 0, sizeof m);
    run_metrics_add_diag(&m, &d);
    assert_int_equal(m.present, 0);
    assert_true(m.lpresent[MFAM_GRAD_NORM] == 7);
    assert_true(m.lpresent[MFAM_UPDATE_RATIO] == 6); /* NaN left out */
    assert_true(m.lpresent[MFAM_DEAD] == 1);
    assert_true(m.lpresent[MFAM_SATURATED] == 2);
    assert_true(m.lv[MFAM_GRAD_NORM][1] == 0.0); /* a vanished gradient is a value */
    char buf[EVENTS_METRICS_JSON_MAX];
    m.v[MET_TRAIN_LOSS] = 0.1;
    m.present = 1u << MET_TRAIN_LOSS;
    assert_true(events_metrics_json(buf, sizeof buf, &m) > 0);
    assert_string_equal(buf, "{\"train_loss\":0.1,\"grad_norm.l0\":1e-30,\"grad_norm.l1\":0,"
                             "\"grad_norm.l2\":0.5,\"update_ratio.l1\":0.01,"
                             "\"update_ratio.l2\":0.02,\"dead.l0\":0.25,\"saturated.l1\":0.75}");
    assert_true(events_epoch_json(buf, sizeof buf, 4, &m) > 0);
    assert_int_equal(strncmp(buf, "{\"epoch\":4,\"train_loss\":0.1,\"grad_norm.l0\":1e-30,", 49),
                     0);
}

/* Without per-layer metrics the rendering is the fixed metrics' alone, as before them. */
static void test_fixed_only_unchanged(void **state)
{
    (void)state;
    run_metrics m;
    memset(&m, 0, sizeof m);
    run_metrics_set(&m, MET_VAL_LOSS, 0.41);
    run_metrics_set(&m, MET_LEARNING_RATE, 1e-3);
    char buf[128];
    assert_true(events_metrics_json(buf, sizeof buf, &m) > 0);
    assert_string_equal(buf, "{\"val_loss\":0.41,\"learning_rate\":0.001}");
}

/* Every metric of a 33-layer net, each needing 17 digits, fits the documented room. */
static void test_room(void **state)
{
    (void)state;
    run_metrics m;
    memset(&m, 0, sizeof m);
    for (int k = 0; k < MET_ALL; k++) run_metrics_set(&m, (metric_id)k, -1.0 / 3.0 * 1e-300);
    char buf[EVENTS_METRICS_JSON_MAX];
    size_t n = events_epoch_json(buf, sizeof buf, 100000, &m);
    assert_true(n > 0);
    printf("every metric of %d layers: %zu bytes of %d\n", RUN_LAYERS, n, EVENTS_METRICS_JSON_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip),
        cmocka_unit_test(test_layer_of),
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_add_diag),
        cmocka_unit_test(test_fixed_only_unchanged),
        cmocka_unit_test(test_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
