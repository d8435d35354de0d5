/* test_restart.c — cancellation, SIGTERM drain + restart, and kill -9 + restart against the real
 * daemon: a cancelled run stops within a mini-batch and keeps its metrics; SIGTERM exits 0 within
 * 10 s; queued runs stay queued and interrupted runs resume from their last finished epoch, end
 * with exactly one metric point per epoch, and produce the same model as an uninterrupted run
 * with the same seed. */
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
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 1500 rows x 12 features, 3 classes. */
static char *make_csv(void)
{
    char *csv = malloc(1500 * 200 + 200), *p = csv;
    unsigned s = 3;
    for (int i = 0; i < 12; i++) p += sprintf(p, "f%d,", i);
    p += sprintf(p, "y\n");
    for (int r = 0; r < 1500; r++) {
        double sum = 0;
        for (int i = 0; i < 12; i++) {
            s = s * 1103515245u + 12345u;
            double v = ((s >> 8) & 0xFFFF) / 65536.0;
            sum += v * (i % 3 == 0 ? 1 : -0.5);
            p += sprintf(p, "%.4f,", v);
        }
        p += sprintf(p, "%d\n", sum > 0.5 ? 2 : sum > -0.5 ? 1 : 0);
    }
    return csv;
}

static void upload(srv *s)
{
    char *csv = make_csv();
    hresp r;
    assert_int_equal(
        http_do(s, "POST", "/api/v1/datasets?name=rs", "text/csv", csv, strlen(csv), NULL, &r),
        201);
    hresp_free(&r);
    free(csv);
}

/* Submits a run; returns its id (static buffer per call site). */
static void submit(srv *s, const char *model, int epochs, char id[32])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"%s\",\"params\":{\"hidden\":[256,256],\"epochs\":%d,"
             "\"batch_size\":8,\"dropout\":0.1,\"seed\":42}}",
             model, epochs);
    long st;
    json_t *j = post_json(s, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

static void cancel_stops_and_keeps_metrics(void **state)
{
    (void)state;
    srv s;
    assert_int_equal(srv_start(&s, NULL), 0);
    upload(&s);
    char id[32];
    submit(&s, "c", 100000, id);
    assert_int_equal(wait_epoch(&s, id, 2, 60), 0);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", id);
    double t0 = now_s();
    long st;
    json_t *j = post_json(&s, path, "{}", &st);
    assert_int_equal(st, 202);
    json_decref(j);
    json_t *done = wait_run(&s, id, 30);
    assert_non_null(done);
    assert_true(now_s() - t0 < 5.0);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "cancelled");
    int epoch =
        (int)json_integer_value(json_object_get(json_object_get(done, "progress"), "epoch"));
    assert_true(epoch >= 2);
    json_decref(done);
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=train_loss", id);
    j = get_json(&s, path, &st);
    assert_int_equal((int)json_array_size(json_object_get(j, "metrics")), epoch);
    json_decref(j);
    /* a finished run cannot be cancelled again */
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", id);
    j = post_json(&s, path, "{}", &st);
    assert_int_equal(st, 409);
    json_decref(j);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

/* One point per epoch per metric, steps 1..epochs. */
static void check_one_point_per_epoch(srv *s, const char *id, int epochs)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=train_loss", id);
    long st;
    json_t *j = get_json(s, path, &st);
    json_t *pts = json_object_get(j, "metrics");
    assert_int_equal((int)json_array_size(pts), epochs);
    for (int i = 0; i < epochs; i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(pts, (size_t)i), "step")), i + 1);
    json_decref(j);
}

static json_t *predict(srv *s, const char *model)
{
    char path[96];
    snprintf(path, sizeof path, "/v1/models/%s:predict", model);
    long st;
    json_t *j = post_json(s, path,
                          "{\"instances\":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.1,0.2,0.3],"
                          "[0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1,0.9,0.8,0.7]]}",
                          &st);
    assert_int_equal(st, 200);
    return j;
}

static void interrupted_resumes(int sig)
{
    srv s;
    assert_int_equal(srv_start(&s, NULL), 0);
    upload(&s);
    const int E = 8;
    /* the reference: the same run, never interrupted */
    char ref[32], a[32], b[32];
    submit(&s, "ref", E, ref);
    json_t *done = wait_run(&s, ref, 120);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);

    submit(&s, "a", E, a); /* will be interrupted */
    submit(&s, "b", 3, b); /* stays queued behind it (one worker) */
    assert_int_equal(wait_epoch(&s, a, 2, 60), 0);
    double t0 = now_s();
    int code = srv_stop(&s, sig);
    if (sig == SIGTERM) {
        assert_int_equal(code, 0);
        assert_true(now_s() - t0 < 10.0);
    }
    assert_int_equal(srv_restart(&s, NULL), 0);
    long st;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s", b);
    json_t *jb = get_json(&s, path, &st);
    assert_int_equal(st, 200); /* acknowledged before the stop: still there */
    json_decref(jb);
    done = wait_run(&s, a, 120);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);
    done = wait_run(&s, b, 120);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);
    check_one_point_per_epoch(&s, a, E);
    check_one_point_per_epoch(&s, ref, E);
    /* resumed == uninterrupted */
    json_t *pa = predict(&s, "a"), *pr = predict(&s, "ref");
    assert_true(json_equal(pa, pr));
    json_decref(pa);
    json_decref(pr);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

static void sigterm_drains_and_resumes(void **state)
{
    (void)state;
    interrupted_resumes(SIGTERM);
}

static void kill9_loses_nothing_and_resumes(void **state)
{
    (void)state;
    interrupted_resumes(SIGKILL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_stops_and_keeps_metrics),
        cmocka_unit_test(sigterm_drains_and_resumes),
        cmocka_unit_test(kill9_loses_nothing_and_resumes),
    };
    return cmocka_run_group_tests_name("e2e/restart", tests, NULL, NULL);
}
