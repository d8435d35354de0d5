/* test_batcher.c — the request batcher (server/batcher.h) through the real daemon: concurrent
 * one-row :predict requests on two models, gathered into shared forward passes, get the answers
 * the same rows get one at a time (within float rounding: a batch is an sgemm, a lone row an
 * sgemv); a lone request through the batcher is bit-identical to the same request with the
 * batcher off; the columnar form and a single-output regression keep their shapes; /metrics
 * counts the batches; SIGTERM while requests wait in the batcher ends cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

#define N_ROWS    48
#define N_THREADS 16
#define REPS      3
#define N_FEAT    4

static float rows_x[N_ROWS][N_FEAT];
static char *serial_cls[N_ROWS], *serial_reg[N_ROWS]; /* answers one request at a time */

static const char *const BATCH_ON[] = {"--batch-min-params", "0", "--batch-timeout-us", "2000",
                                       NULL};
static const char *const BATCH_OFF[] = {"--batch-min-params", "1G", NULL};

/* Four features; `kind` from blobs, `y` a smooth function of them. */
static char *make_csv(void)
{
    unsigned seed = 11;
    char *csv = malloc(64 * 1024), *p = csv;
    p += sprintf(p, "a,b,c,d,kind,y\n");
    for (int i = 0; i < 300; i++) {
        int k = i % 3;
        double v[N_FEAT];
        for (int j = 0; j < N_FEAT; j++) v[j] = (j == k ? 2.0 : 0.0) + h_urand(&seed) - 0.5;
        p += sprintf(p, "%.4f,%.4f,%.4f,%.4f,k%d,%.4f\n", v[0], v[1], v[2], v[3], k,
                     v[0] - 0.5 * v[1] + v[2] * v[3]);
    }
    return csv;
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, BATCH_ON) != 0) return -1;
    char *csv = make_csv();
    int rc = train_csv(&S, "cls", csv,
                       "\"task\":\"classification\",\"target\":\"kind\",\"features\":[\"a\",\"b\","
                       "\"c\",\"d\"],\"params\":{\"hidden\":[32,16],\"epochs\":20,\"seed\":3}",
                       120) ||
             train_csv(&S, "reg", csv,
                       "\"task\":\"regression\",\"target\":\"y\",\"features\":[\"a\",\"b\",\"c\","
                       "\"d\"],\"params\":{\"hidden\":[32],\"epochs\":20,\"seed\":4}",
                       120);
    free(csv);
    unsigned seed = 99;
    for (int i = 0; i < N_ROWS; i++)
        for (int j = 0; j < N_FEAT; j++) rows_x[i][j] = (float)(4.0 * h_urand(&seed) - 1.5);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_ROWS; i++) {
        free(serial_cls[i]);
        free(serial_reg[i]);
    }
    return srv_finish(&S);
}

/* The body of row i, in the row form or the columnar form. */
static void body_of(int i, int columnar, char *b, size_t cap)
{
    snprintf(b, cap, "{\"%s\":[[%.6g,%.6g,%.6g,%.6g]]}", columnar ? "inputs" : "instances",
             rows_x[i][0], rows_x[i][1], rows_x[i][2], rows_x[i][3]);
}

/* POSTs row i to model's :predict: the answer body (new), or NULL unless 200. */
static char *predict(const char *model, int i, int columnar)
{
    char path[64], body[256];
    snprintf(path, sizeof path, "/v1/models/%s:predict", model);
    body_of(i, columnar, body, sizeof body);
    hresp r;
    long st = http_do(&S, "POST", path, NULL, body, strlen(body), NULL, &r);
    if (st != 200) {
        fprintf(stderr, "%s row %d: %ld %s\n", model, i, st, r.body ? r.body : "");
        hresp_free(&r);
        return NULL;
    }
    return r.body; /* the caller frees it */
}

/* The numbers of an answer, in order: up to cap of them into v; the count, or -1. */
static int numbers(const char *answer, double *v, int cap)
{
    const char *p = strchr(answer, '[');
    int n = 0;
    while (p && *p && n < cap) {
        while (*p && !(*p == '-' || (*p >= '0' && *p <= '9'))) p++;
        if (!*p) break;
        char *e;
        v[n++] = strtod(p, &e);
        if (e == p) return -1;
        p = e;
    }
    return n;
}

/* 1 when two answers hold the same numbers within float rounding of a forward pass. */
static int close_answers(const char *a, const char *b)
{
    double x[16], y[16];
    int n = numbers(a, x, 16), m = numbers(b, y, 16);
    if (n <= 0 || n != m) return 0;
    for (int i = 0; i < n; i++)
        if (fabs(x[i] - y[i]) > 1e-5 * fmax(1.0, fabs(y[i]))) return 0;
    return 1;
}

static double metric(const char *name)
{
    hresp r;
    if (http_do(&S, "GET", "/metrics", NULL, NULL, 0, NULL, &r) != 200) return -1;
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(r.body, pat);
    double v = p ? strtod(p + strlen(pat), NULL) : -1;
    hresp_free(&r);
    return v;
}

static void test_serial_answers(void **state)
{
    (void)state;
    for (int i = 0; i < N_ROWS; i++) {
        serial_cls[i] = predict("cls", i, 0);
        serial_reg[i] = predict("reg", i, 0);
        assert_non_null(serial_cls[i]);
        assert_non_null(serial_reg[i]);
        assert_non_null(strstr(serial_cls[i], "{\"predictions\":[["));
        /* a single-output regression answers a flat list */
        assert_true(strncmp(serial_reg[i], "{\"predictions\":[", 16) == 0 &&
                    serial_reg[i][16] != '[');
    }
    char *col = predict("cls", 0, 1);
    assert_non_null(col);
    assert_true(strncmp(col, "{\"outputs\":[[", 13) == 0);
    assert_string_equal(col + strlen("{\"outputs\""), serial_cls[0] + strlen("{\"predictions\""));
    free(col);
}

typedef struct {
    int idx;
    int failed, mismatched, exact, total;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int rep = 0; rep < REPS; rep++)
        for (int i = w->idx; i < N_ROWS; i += N_THREADS / 2) {
            int cls = (w->idx + rep + i) % 2 == 0;
            char *a = predict(cls ? "cls" : "reg", i, 0);
            const char *want = cls ? serial_cls[i] : serial_reg[i];
            w->total++;
            if (!a) {
                w->failed++;
                continue;
            }
            if (!close_answers(a, want)) {
                fprintf(stderr, "row %d: concurrent %s, serial %s\n", i, a, want);
                w->mismatched++;
            }
            w->exact += strcmp(a, want) == 0;
            free(a);
        }
    return NULL;
}

static void test_concurrent_same_answers(void **state)
{
    (void)state;
    double b0 = metric("mlpd_inference_batches_total");
    double r0 = metric("mlpd_inference_batched_rows_total");
    assert_true(b0 >= 0 && r0 >= 2 * N_ROWS); /* the serial requests went through it too */
    worker w[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].idx = t % (N_THREADS / 2);
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    int failed = 0, mismatched = 0, exact = 0, total = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        failed += w[t].failed;
        mismatched += w[t].mismatched;
        exact += w[t].exact;
        total += w[t].total;
    }
    double batches = metric("mlpd_inference_batches_total") - b0;
    double rows = metric("mlpd_inference_batched_rows_total") - r0;
    fprintf(stderr, "%d requests, %.0f forward passes, %d answers bit-identical to serial\n", total,
            batches, exact);
    assert_int_equal(failed, 0);
    assert_int_equal(mismatched, 0);
    assert_true(rows == total);  /* every request went through the batcher */
    assert_true(batches < rows); /* and some shared a forward pass */
    assert_true(batches >= 1);
}

/* With the batcher off, a lone request computes on its HTTP thread: the same bits as a lone
 * request through the batcher (both one-row forward passes). */
static void test_off_same_bits(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
    assert_int_equal(srv_restart(&S, BATCH_OFF), 0);
    for (int i = 0; i < N_ROWS; i++) {
        char *c = predict("cls", i, 0), *r = predict("reg", i, 0);
        assert_non_null(c);
        assert_non_null(r);
        assert_string_equal(c, serial_cls[i]);
        assert_string_equal(r, serial_reg[i]);
        free(c);
        free(r);
    }
    assert_true(metric("mlpd_inference_batches_total") == 0);
}

/* SIGTERM while requests wait in the batcher (a 20 ms queue delay keeps them there): the daemon
 * exits 0 (libmicrohttpd aborts if it stops with a suspended connection), and every request got a
 * 200, a 503 (shutting down) or no connection at all. */
typedef struct {
    int idx;
    int ok, refused, other;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *h = arg;
    for (int k = 0; k < 40; k++) {
        char body[256];
        body_of((h->idx + k) % N_ROWS, 0, body, sizeof body);
        hresp r;
        long st = http_do(&S, "POST", "/v1/models/cls:predict", NULL, body, strlen(body), NULL, &r);
        hresp_free(&r);
        if (st == 200)
            h->ok++;
        else if (st == 503 || st <= 0)
            h->refused++;
        else
            h->other++;
    }
    return NULL;
}

static void test_sigterm_while_batching(void **state)
{
    (void)state;
    static const char *const slow[] = {"--batch-min-params", "0", "--batch-timeout-us", "20000",
                                       NULL};
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
    assert_int_equal(srv_restart(&S, slow), 0);
    hammer h[N_THREADS];
    pthread_t th[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        memset(&h[t], 0, sizeof h[t]);
        h[t].idx = t;
        assert_int_equal(pthread_create(&th[t], NULL, hammer_main, &h[t]), 0);
    }
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int rc = srv_stop(&S, SIGTERM);
    int ok = 0, refused = 0, other = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        ok += h[t].ok;
        refused += h[t].refused;
        other += h[t].other;
    }
    fprintf(stderr, "SIGTERM under load: %d answered, %d refused or 503\n", ok, refused);
    assert_int_equal(rc, 0);
    assert_int_equal(other, 0);
    assert_true(ok > 0);
    srv_cleanup(&S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_answers),
        cmocka_unit_test(test_concurrent_same_answers),
        cmocka_unit_test(test_off_same_bits),
        cmocka_unit_test(test_sigterm_while_batching),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
