/* test_memory.c — what the daemon says about a run before and after it trains, against the real
 * build/mlpd started with --max-train-memory 64M:
 *  - POST /api/v1/runs:validate answers the training-memory estimate and its limit, and leaves
 *    model_name out of the normalised request when none was given (api/openapi.json: a string);
 *  - a run whose estimate passes the limit gets 400 naming params.hidden and params.batch_size,
 *    the estimate and the limit, from :validate and from POST /api/v1/runs (no run created);
 *  - a model version's metrics are those of the epoch whose weights it serves, with that epoch:
 *    the validation labels are shifted by one class, so val_loss rises while the model fits the
 *    training labels and the last epoch is not the best;
 *  - the estimate that :validate reports (and --max-train-memory enforces) is within 25% of the
 *    daemon's measured peak RSS growth while it trains the run, for three shapes (activation-,
 *    weight- and data-heavy), each on a daemon of its own started without the limit. Peak RSS
 *    is VmHWM from /proc/<pid>/status, reset through clear_refs right before the run is
 *    submitted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_BYTES (64LL << 20)

static srv S;
static char DS[64];  /* 20000 rows: x1..x4, y in {0, 1, 2} */
static char DSV[64]; /* the same rows, y shifted to (y + 1) % 3 */

static int upload(const char *name, int shift, char id[64])
{
    enum { N = 20000 };
    char *csv = malloc((size_t)N * 40 + 64), *p = csv;
    if (!csv) return -1;
    unsigned seed = 11;
    p += sprintf(p, "x1,x2,x3,x4,y\n");
    for (int i = 0; i < N; i++) {
        double a = h_urand(&seed), b = h_urand(&seed), c = h_urand(&seed), d = h_urand(&seed);
        int y = ((int)(3 * a) + shift) % 3;
        p += sprintf(p, "%.3f,%.3f,%.3f,%.3f,%d\n", a, b, c, d, y);
    }
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    long st = http_do(&S, "POST", path, "text/csv", csv, strlen(csv), NULL, &r);
    free(csv);
    json_t *j = hresp_json(&r);
    if (st == 201) snprintf(id, 64, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);
    return st == 201 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    const char *const extra[] = {"--max-train-memory", "64M", NULL};
    if (srv_start(&S, extra)) return -1;
    if (upload("mem", 0, DS) || upload("memshift", 1, DSV)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

static long long jint(json_t *o, const char *key)
{
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x)) fail_msg("\"%s\" is not an integer", key);
    return (long long)json_integer_value(x);
}

/* :validate reports the estimate (its parts add up) and the limit; model_name only when given. */
static void validate_reports_memory(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"params\":{\"hidden\":[64],\"batch_size\":256}}",
             DS);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs:validate", body, &st);
    assert_int_equal(st, 200);
    json_t *req = json_object_get(j, "request");
    assert_non_null(req);
    assert_null(json_object_get(req, "model_name"));
    json_t *mem = json_object_get(j, "train_memory");
    assert_non_null(mem);
    long long est = jint(mem, "estimate_bytes");
    assert_int_equal(jint(mem, "limit_bytes"), LIMIT_BYTES);
    json_t *parts = json_object_get(mem, "parts");
    long long rest = 0;
    const char *key;
    json_t *v;
    json_object_foreach(parts, key, v)
    {
        if (strcmp(key, "data") && strcmp(key, "dataset")) rest += jint(parts, key);
    }
    long long data = jint(parts, "data"), tables = jint(parts, "dataset");
    assert_int_equal(est, data + (tables > rest ? tables : rest));
    /* 20000 x 5 floats of table; 18000 + 2000 rows x 4 features of copies; labels */
    assert_true(tables >= 20000LL * 5 * 4);
    assert_int_equal(data, 20000LL * 4 * 4 + 20000LL * 4);
    assert_true(est < LIMIT_BYTES);
    json_decref(j);

    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"named\"}",
             DS);
    j = post_json(&S, "/api/v1/runs:validate", body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "request"), "model_name")), "named");
    json_decref(j);
}

static long runs_total(void)
{
    long st;
    json_t *j = get_json(&S, "/api/v1/runs?limit=1", &st);
    long t = st == 200 ? (long)json_integer_value(json_object_get(j, "total")) : -1;
    json_decref(j);
    return t;
}

/* One over-limit request on both routes: 400, errors[0].field == field, and the detail names
 * both parameters, the estimate (> limit) and the limit. */
static void refused(const char *body, const char *field)
{
    const char *paths[] = {"/api/v1/runs:validate", "/api/v1/runs"};
    long before = runs_total();
    for (int i = 0; i < 2; i++) {
        long st;
        json_t *j = post_json(&S, paths[i], body, &st);
        const char *detail = json_string_value(json_object_get(j, "detail"));
        if (st != 400 || !detail) fail_msg("%s: %ld, detail %s", paths[i], st, detail);
        const char *f = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field"));
        assert_non_null(f);
        assert_string_equal(f, field);
        assert_non_null(strstr(detail, "params.hidden"));
        assert_non_null(strstr(detail, "params.batch_size"));
        assert_non_null(strstr(detail, "--max-train-memory"));
        char lim[64];
        snprintf(lim, sizeof lim, "(%lld bytes)", LIMIT_BYTES);
        assert_non_null(strstr(detail, lim));
        const char *p = strchr(detail, '(');
        long long est = p ? strtoll(p + 1, NULL, 10) : 0;
        if (est <= LIMIT_BYTES) fail_msg("estimate %lld not above the limit: %s", est, detail);
        json_decref(j);
    }
    assert_int_equal(runs_total(), before);
}

static void over_limit_is_refused(void **state)
{
    (void)state;
    char body[512];
    /* 4096 x 4096 weights with adam: ~67 M floats x 4 bytes x (w, best, g, m, v, checkpoint) */
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"params\":{\"hidden\":[4096,4096],\"batch_size\":64}}",
             DS);
    refused(body, "params.hidden");
    /* full batch of 18000 rows through 2048 units: the mini-batch buffers dominate */
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"params\":{\"hidden\":[2048],\"batch_size\":60000}}",
             DS);
    refused(body, "params.batch_size");
}

/* The version's metrics are the best epoch's (its weights), not the last epoch's. */
static void version_metrics_are_its_weights(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"validation\":{\"dataset_id\":\"%s\"},\"model_name\":\"shifted\","
             "\"params\":{\"hidden\":[16],\"epochs\":6,\"learning_rate\":0.01,\"batch_size\":256,"
             "\"seed\":3}}",
             DS, DSV);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    j = wait_run(&S, id, 120);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "succeeded");
    json_decref(j);

    char path[160];
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=val_loss", id);
    j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    json_t *pts = json_object_get(j, "metrics");
    assert_int_equal(json_array_size(pts), 6);
    int best = 0, last = 0;
    double best_v = INFINITY, last_v = 0;
    for (size_t i = 0; i < json_array_size(pts); i++) {
        json_t *pt = json_array_get(pts, i);
        int step = (int)json_integer_value(json_object_get(pt, "step"));
        double v = json_number_value(json_object_get(pt, "value"));
        if (v < best_v) best_v = v, best = step;
        if (step > last) last = step, last_v = v;
    }
    json_decref(j);
    if (!(best < last && best_v < last_v))
        fail_msg("the scenario needs a last epoch worse than the best: best %d (%g), last %d (%g)",
                 best, best_v, last, last_v);

    j = get_json(&S, "/api/v1/models/shifted", &st);
    assert_int_equal(st, 200);
    json_t *ver = json_array_get(json_object_get(j, "model_versions"), 0);
    json_t *m = json_object_get(ver, "metrics");
    assert_non_null(m);
    double vl = json_number_value(json_object_get(m, "val_loss"));
    if (fabs(vl - best_v) > 1e-6 * (1 + fabs(best_v)))
        fail_msg("version val_loss %g, best epoch %d had %g (last %g)", vl, best, best_v, last_v);
    json_t *ep = json_object_get(m, "epoch");
    if (!json_is_integer(ep)) fail_msg("the version's metrics have no epoch");
    assert_int_equal(json_integer_value(ep), best);
    json_decref(j);
}

/* ---------------------------------------------------------------- estimate vs peak RSS */

static srv M;    /* the daemon of the running shape */
static int M_up; /* M was started: its teardown stops it, even after a failed assertion */

static int shape_teardown(void **state)
{
    (void)state;
    int rc = M_up ? srv_finish(&M) : 0;
    M_up = 0;
    return rc;
}

/* A rows x (cols - 1) matrix of features in [0, 1) with 3 decimals, then y in {0, 1, 2}: about
 * 6 bytes of CSV per float32 cell, so the upload is quick and the table large. */
static char *gen_csv(long rows, int cols, size_t *len)
{
    size_t cap = 64 + (size_t)cols * 8 + (size_t)rows * (size_t)cols * 6;
    char *csv = malloc(cap), *p = csv;
    assert_non_null(csv);
    for (int c = 0; c < cols - 1; c++) p += sprintf(p, "x%d,", c);
    p += sprintf(p, "y\n");
    uint32_t s = 7;
    for (long i = 0; i < rows; i++) {
        unsigned first = 0;
        for (int c = 0; c < cols - 1; c++) {
            s = s * 1103515245u + 12345u;
            unsigned v = (s >> 8) % 1000u;
            if (c == 0) first = v;
            p[0] = '0', p[1] = '.', p[2] = (char)('0' + v / 100), p[3] = (char)('0' + v / 10 % 10);
            p[4] = (char)('0' + v % 10), p[5] = ',';
            p += 6;
        }
        *p++ = (char)('0' + first * 3 / 1000);
        *p++ = '\n';
    }
    *p = '\0';
    *len = (size_t)(p - csv);
    assert_true(*len < cap);
    return csv;
}

typedef struct {
    const char *what;
    long rows;
    int cols;
    const char *params; /* the run's "params" object */
} shape;

/* One shape on a fresh daemon: upload, :validate, reset the peak, train, compare. */
static void estimate_vs_peak(const shape *sh)
{
    if (srv_start(&M, NULL) != 0) fail_msg("the daemon did not start (MLPD_BIN?)");
    M_up = 1;
    size_t len;
    char *csv = gen_csv(sh->rows, sh->cols, &len);
    hresp r;
    long st = http_do(&M, "POST", "/api/v1/datasets?name=shape", "text/csv", csv, len, NULL, &r);
    free(csv);
    if (st != 201) fail_msg("%s: upload: %ld %s", sh->what, st, r.body ? r.body : "");
    json_t *j = hresp_json(&r);
    char ds[64];
    snprintf(ds, sizeof ds, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);

    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"params\":%s}",
             ds, sh->params);
    j = post_json(&M, "/api/v1/runs:validate", body, &st);
    if (st != 200) fail_msg("%s: validate: %ld", sh->what, st);
    long long est = jint(json_object_get(j, "train_memory"), "estimate_bytes");
    json_decref(j);

    long before = proc_reset_peak_kb(M.pid);
    if (before <= 0) fail_msg("the daemon's peak RSS cannot be reset, so it cannot be measured");
    j = post_json(&M, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    j = wait_run(&M, id, 300);
    assert_non_null(j);
    const char *status = json_string_value(json_object_get(j, "status"));
    if (!status || strcmp(status, "succeeded"))
        fail_msg("%s: run %s: %s", sh->what, id, status ? status : "(no status)");
    json_decref(j);
    long after = proc_status_kb(M.pid, "VmHWM");
    assert_true(after > 0);

    long long grown = (long long)(after - before) * 1024;
    double ratio = grown > 0 ? (double)est / (double)grown : INFINITY;
    fprintf(stderr, "%s: estimate %lld bytes, measured peak RSS growth %lld bytes, ratio %.3f\n",
            sh->what, est, grown, ratio);
    if (grown <= 0 || llabs(est - grown) > grown / 4)
        fail_msg("%s: estimate %lld bytes is not within 25%% of the measured %lld (ratio %.3f)",
                 sh->what, est, grown, ratio);
}

/* Wide hidden layer, batch of 16384 rows: the mini-batch buffers dominate. */
static void estimate_activation_heavy(void **state)
{
    (void)state;
    const shape sh = {"activation-heavy", 20000, 51,
                      "{\"hidden\":[1024],\"batch_size\":16384,\"epochs\":1,\"seed\":1}"};
    estimate_vs_peak(&sh);
}

/* Two 1536-wide layers with adam, batch of 16 on 2000 rows: weights, optimiser state and the
 * checkpoint dominate. */
static void estimate_weight_heavy(void **state)
{
    (void)state;
    const shape sh = {"weight-heavy", 1000, 11,
                      "{\"hidden\":[2048,2048],\"batch_size\":16,\"epochs\":1,\"seed\":1}"};
    estimate_vs_peak(&sh);
}

/* 300000 rows x 31 columns (37 MB of table), a small net: the data dominates. */
static void estimate_data_heavy(void **state)
{
    (void)state;
    const shape sh = {"data-heavy", 300000, 31,
                      "{\"hidden\":[16],\"batch_size\":512,\"epochs\":1,\"seed\":1}"};
    estimate_vs_peak(&sh);
}

int main(void)
{
    /* An ASan daemon keeps freed blocks in its quarantine (256 MiB by default): memory the code
     * no longer holds, which would swamp the peak RSS measured here. The daemons this test
     * starts keep none (the other ASan checks stay on). */
    char asan[512];
    const char *prev = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "%s%squarantine_size_mb=0", prev ? prev : "", prev ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validate_reports_memory),
        cmocka_unit_test(over_limit_is_refused),
        cmocka_unit_test(version_metrics_are_its_weights),
        cmocka_unit_test_teardown(estimate_activation_heavy, shape_teardown),
        cmocka_unit_test_teardown(estimate_weight_heavy, shape_teardown),
        cmocka_unit_test_teardown(estimate_data_heavy, shape_teardown),
    };
    return cmocka_run_group_tests_name("e2e/memory", tests, setup, teardown);
}
