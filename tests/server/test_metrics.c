/* test_metrics.c — the Prometheus counters and their exposition (server/metrics.h) on a small
 * route table handed to metrics_init: every series with its labels and value, the gauges taken
 * from the caller (and left out when absent), label escaping, and counts from many threads at
 * once with none lost. The counters are process-wide, so each test uses its own routes and
 * models, or compares before and after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void h(struct http_req *req, struct http_resp *resp)
{
    (void)req;
    (void)resp;
}

static const route table[] = {
    {"GET", "/a/{id}", h, SCOPE_NONE, FAM_PLAIN, 0, NULL, "a", RULE_OPEN},
    {"POST", "/b", h, SCOPE_NONE, FAM_PLAIN, 0, NULL, "b", RULE_OPEN},
    {"DELETE", "/c/\"q\"", h, SCOPE_NONE, FAM_PLAIN, 0, NULL, "c", RULE_OPEN},
};

static char *render(const metrics_gauges *g)
{
    size_t len = 0;
    char *text = metrics_render(g, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample whose name and labels are exactly `series`, or -1 when absent. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
    return -1;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    metrics_init(table, sizeof table / sizeof table[0]);
    return 0;
}

static void series_and_gauges(void **state)
{
    (void)state;
    metrics_request(0, "GET", 200, 1500);
    metrics_request(0, "GET", 200, 1500);
    metrics_request(0, "GET", 404, 20 * 1000 * 1000); /* past the last bucket */
    metrics_request(1, "POST", 201, 50);
    metrics_request(-1, "BREW", 418, 10);  /* unmatched, unknown method: OTHER */
    metrics_request(-1, "PATCH", 405, 10); /* unmatched, known method */
    metrics_request(7, "PUT", 200, 10);    /* beyond the table: unmatched */
    metrics_request(1, "POST", 1000, 10);  /* nonsense status: 599 */
    metrics_inference("iris", 2, 5);
    metrics_inference("iris", 3, 7);
    metrics_inference("iris", 2, 1);
    metrics_inference("we\"ird\\", 1, 1);
    metrics_epoch();
    metrics_epoch();
    metrics_connection(1);
    metrics_connection(1);
    metrics_connection(-1);
    const metrics_value runs[] = {{"queued", 2}, {"running", 1}, {"succeeded", 0}};
    metrics_gauges g = {.runs = runs, .n_runs = 3, .queue_depth = 4, .models_loaded = 1};
    char *t = render(&g);

    assert_true(
        value_of(t, "mlpd_http_requests_total{route=\"/a/{id}\",method=\"GET\",code=\"200\"}") ==
        2);
    assert_true(
        value_of(t, "mlpd_http_requests_total{route=\"/a/{id}\",method=\"GET\",code=\"404\"}") ==
        1);
    assert_true(
        value_of(t, "mlpd_http_requests_total{route=\"/b\",method=\"POST\",code=\"201\"}") == 1);
    assert_true(
        value_of(t, "mlpd_http_requests_total{route=\"/b\",method=\"POST\",code=\"599\"}") == 1);
    assert_true(
        value_of(t,
                 "mlpd_http_requests_total{route=\"(unmatched)\",method=\"OTHER\",code=\"418\"}") ==
        1);
    assert_true(
        value_of(t,
                 "mlpd_http_requests_total{route=\"(unmatched)\",method=\"PATCH\",code=\"405\"}") ==
        1);
    assert_true(
        value_of(
            t, "mlpd_http_requests_total{route=\"(unmatched)\",method=\"PUT\",code=\"200\"}") == 1);
    assert_true(
        value_of(
            t, "mlpd_http_requests_total{route=\"/c/\\\"q\\\"\",method=\"DELETE\",code=\"200\"}") ==
        -1);
    assert_true(has_line(t, "# TYPE mlpd_http_requests_total counter"));

    /* Cumulative buckets: 1.5 ms twice lands in le=0.0025; 20 s only in +Inf. */
    assert_true(has_line(t, "# TYPE mlpd_http_request_duration_seconds histogram"));
    assert_true(
        value_of(t, "mlpd_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.001\"}") ==
        0);
    assert_true(
        value_of(t, "mlpd_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"0.0025\"}") ==
        2);
    assert_true(
        value_of(t, "mlpd_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"10\"}") == 2);
    assert_true(
        value_of(t, "mlpd_http_request_duration_seconds_bucket{route=\"/a/{id}\",le=\"+Inf\"}") ==
        3);
    assert_true(value_of(t, "mlpd_http_request_duration_seconds_count{route=\"/a/{id}\"}") == 3);
    assert_true(has_line(t, "mlpd_http_request_duration_seconds_sum{route=\"/a/{id}\"} 20.003000"));
    assert_true(value_of(t, "mlpd_http_request_duration_seconds_count{route=\"/c/\\\"q\\\"\"}") ==
                -1);

    assert_true(value_of(t, "mlpd_inference_requests_total{model=\"iris\",version=\"2\"}") == 2);
    assert_true(value_of(t, "mlpd_inference_requests_total{model=\"iris\",version=\"3\"}") == 1);
    assert_true(value_of(t, "mlpd_inference_instances_total{model=\"iris\"}") == 13);
    assert_true(
        value_of(t, "mlpd_inference_requests_total{model=\"we\\\"ird\\\\\",version=\"1\"}") == 1);

    assert_true(has_line(t, "# TYPE mlpd_runs gauge"));
    assert_true(has_line(t, "mlpd_runs{state=\"queued\"} 2"));
    assert_true(has_line(t, "mlpd_runs{state=\"running\"} 1"));
    assert_true(has_line(t, "mlpd_runs{state=\"succeeded\"} 0"));
    assert_true(has_line(t, "mlpd_run_queue_depth 4"));
    assert_true(has_line(t, "mlpd_training_epochs_total 2"));
    assert_true(has_line(t, "mlpd_models_loaded 1"));
    assert_true(has_line(t, "mlpd_open_connections 1"));
    assert_true(value_of(t, "process_resident_memory_bytes") > 0);
    free(t);
}

/* The batcher's counters: forward passes and the rows they computed, both from 0. */
static void batcher_counters(void **state)
{
    (void)state;
    char *t = render(NULL);
    double b0 = value_of(t, "mlpd_inference_batches_total");
    double r0 = value_of(t, "mlpd_inference_batched_rows_total");
    free(t);
    assert_true(b0 >= 0 && r0 >= 0);
    metrics_batch(5);
    metrics_batch(3);
    t = render(NULL);
    assert_true(has_line(t, "# TYPE mlpd_inference_batches_total counter"));
    assert_true(value_of(t, "mlpd_inference_batches_total") == b0 + 2);
    assert_true(value_of(t, "mlpd_inference_batched_rows_total") == r0 + 8);
    free(t);
}

static void absent_gauges_left_out(void **state)
{
    (void)state;
    char *t = render(NULL);
    assert_null(strstr(t, "mlpd_runs"));
    assert_null(strstr(t, "mlpd_run_queue_depth"));
    assert_null(strstr(t, "mlpd_models_loaded"));
    assert_non_null(strstr(t, "\nmlpd_training_epochs_total "));
    assert_non_null(strstr(t, "\nmlpd_open_connections "));
    free(t);
    metrics_gauges g = {.runs = NULL, .n_runs = 0, .queue_depth = -1, .models_loaded = -1};
    t = render(&g);
    assert_null(strstr(t, "mlpd_runs"));
    assert_null(strstr(t, "mlpd_run_queue_depth"));
    assert_null(strstr(t, "mlpd_models_loaded"));
    free(t);
    /* An empty list still declares the metric; zeroes are printed, not dropped. */
    const metrics_value none[1] = {{"queued", 0}};
    metrics_gauges z = {.runs = none, .n_runs = 0, .queue_depth = 0, .models_loaded = 0};
    t = render(&z);
    assert_true(has_line(t, "# TYPE mlpd_runs gauge"));
    assert_null(strstr(t, "mlpd_runs{"));
    assert_true(has_line(t, "mlpd_run_queue_depth 0"));
    assert_true(has_line(t, "mlpd_models_loaded 0"));
    free(t);
}

#define THREADS 4
#define ROUNDS  50000

static void *hammer(void *arg)
{
    char model[16];
    snprintf(model, sizeof model, "m%d", (int)(intptr_t)arg % 2); /* two threads per model */
    for (int i = 0; i < ROUNDS; i++) {
        metrics_request(2, "DELETE", 204, (uint64_t)(i % 3000));
        metrics_inference(model, 9, 3);
        metrics_epoch();
        metrics_connection(1);
        metrics_connection(-1);
    }
    return NULL;
}

static void concurrent_updates_all_counted(void **state)
{
    (void)state;
    char *t = render(NULL);
    double epochs0 = value_of(t, "mlpd_training_epochs_total");
    double conns0 = value_of(t, "mlpd_open_connections");
    free(t);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i), 0);
    /* Renders while the counters move must hold together too. */
    for (int i = 0; i < 5; i++) free(render(NULL));
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    t = render(NULL);
    const double total = (double)THREADS * ROUNDS;
    const char *labels = "{route=\"/c/\\\"q\\\"\"";
    char series[160];
    snprintf(series, sizeof series, "mlpd_http_requests_total%s,method=\"DELETE\",code=\"204\"}",
             labels);
    assert_true(value_of(t, series) == total);
    snprintf(series, sizeof series, "mlpd_http_request_duration_seconds_count%s}", labels);
    assert_true(value_of(t, series) == total);
    snprintf(series, sizeof series, "mlpd_http_request_duration_seconds_bucket%s,le=\"+Inf\"}",
             labels);
    assert_true(value_of(t, series) == total);
    assert_true(value_of(t, "mlpd_inference_requests_total{model=\"m0\",version=\"9\"}") ==
                total / 2);
    assert_true(value_of(t, "mlpd_inference_requests_total{model=\"m1\",version=\"9\"}") ==
                total / 2);
    assert_true(value_of(t, "mlpd_inference_instances_total{model=\"m0\"}") == 3 * total / 2);
    assert_true(value_of(t, "mlpd_training_epochs_total") == epochs0 + total);
    assert_true(value_of(t, "mlpd_open_connections") == conns0);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(series_and_gauges),
        cmocka_unit_test(absent_gauges_left_out),
        cmocka_unit_test(batcher_counters),
        cmocka_unit_test(concurrent_updates_all_counted),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
