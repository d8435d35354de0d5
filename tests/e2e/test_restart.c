/* test_restart.c — cancellation, SIGTERM drain + restart, and kill -9 + restart against the real
 * daemon: a cancelled run stops within a mini-batch and keeps its metrics; a cancel answered 202
 * survives a SIGTERM or kill -9 right after it (the run ends cancelled at the restart, never
 * resumed); SIGTERM exits 0 within 10 s; queued runs stay queued and interrupted runs resume
 * from their last finished epoch — they were unfinished at the stop, the epochs up to their
 * checkpoint are not trained again, and exactly the rest are trained after the restart (the
 * run's resumes / resumed_from_epoch and its metric timestamps) — end with exactly one metric
 * point per epoch, and produce the same model as an uninterrupted run with the same seed. */
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
#include <unistd.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Now as the store writes metric timestamps: RFC 3339 UTC with milliseconds. Such strings
 * compare as the times do. */
static void wall_rfc3339(char buf[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, 32, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

static int run_int(json_t *run, const char *key)
{
    json_t *v = json_object_get(run, key);
    assert_true(json_is_integer(v));
    return (int)json_integer_value(v);
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

/* Run id resumed exactly once, from a checkpoint of at least min_ck epochs and fewer than
 * `epochs` (so it was unfinished at the stop), and trained after the restart (metric points
 * stamped after restart_at) exactly the epochs after that checkpoint: not one epoch of the
 * checkpointed ones again. */
static void check_resumed(srv *s, const char *id, int epochs, int min_ck, const char *restart_at)
{
    char path[96];
    long st;
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    json_t *run = get_json(s, path, &st);
    assert_int_equal(st, 200);
    assert_int_equal(run_int(run, "resumes"), 1);
    int ck = run_int(run, "resumed_from_epoch");
    json_decref(run);
    assert_true(ck >= min_ck);
    assert_true(ck < epochs);
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=train_loss", id);
    json_t *j = get_json(s, path, &st);
    json_t *pts = json_object_get(j, "metrics");
    assert_int_equal((int)json_array_size(pts), epochs);
    int after = 0;
    for (size_t i = 0; i < json_array_size(pts); i++) {
        json_t *p = json_array_get(pts, i);
        int step = (int)json_integer_value(json_object_get(p, "step"));
        int later = strcmp(json_string_value(json_object_get(p, "timestamp")), restart_at) > 0;
        if (later != (step > ck))
            fail_msg("run %s resumed after epoch %d, but epoch %d was trained %s the restart (%s)",
                     id, ck, step, later ? "after" : "before", restart_at);
        after += later;
    }
    assert_int_equal(after, epochs - ck);
    json_decref(j);
}

static void check_never_resumed(srv *s, const char *id)
{
    char path[96];
    long st;
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    json_t *run = get_json(s, path, &st);
    assert_int_equal(st, 200);
    assert_int_equal(run_int(run, "resumes"), 0);
    assert_true(json_is_null(json_object_get(run, "resumed_from_epoch")));
    json_decref(run);
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

/* --train-share 0: no catch-up on the share may put the runs' products on one OpenBLAS thread
 * when another process loads the machine (README, Training: the load may change the thread
 * count, and determinism is for a seed and thread count). Nothing computes inference while the
 * runs train. */
static const char *const same_threads[] = {"--train-share", "0", "--workers", "1", NULL};

static void interrupted_resumes(int sig)
{
    srv s;
    assert_int_equal(srv_start(&s, same_threads), 0);
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
    /* Every epoch recorded before the stop has an earlier timestamp than this. */
    char restart_at[32];
    wall_rfc3339(restart_at);
    assert_int_equal(srv_restart(&s, same_threads), 0);
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
    check_resumed(&s, a, E, 2, restart_at);
    check_never_resumed(&s, ref);
    check_never_resumed(&s, b); /* queued at the stop: started, not resumed */
    /* resumed == uninterrupted */
    json_t *pa = predict(&s, "a"), *pr = predict(&s, "ref");
    assert_true(json_equal(pa, pr));
    json_decref(pa);
    json_decref(pr);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

/* Cancel a run mid-epoch, then stop the daemon at once with sig: the mini-batches are big
 * (~1e10 flops each), so the stop lands while the worker has not yet seen the cancel flag. The
 * 202 must hold: after the restart the run is cancelled (not resumed, not succeeded) with the
 * metrics of its finished epochs. */
static void cancel_then_stop(int sig)
{
    srv s;
    assert_int_equal(srv_start(&s, NULL), 0);
    upload(&s);
    const int E = 4;
    char body[512], id[32], path[96];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"big\",\"params\":{\"hidden\":[1024,1024],\"epochs\":%d,"
             "\"batch_size\":1500,\"seed\":5}}",
             E);
    long st;
    json_t *j = post_json(&s, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    assert_int_equal(wait_epoch(&s, id, 1, 300), 0);
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", id);
    j = post_json(&s, path, "{}", &st);
    assert_int_equal(st, 202);
    assert_true(json_is_true(json_object_get(j, "cancel_requested")));
    const char *now = json_string_value(json_object_get(j, "status"));
    int was_running = now && strcmp(now, "running") == 0;
    json_decref(j);
    int code = srv_stop(&s, sig);
    if (sig == SIGTERM) assert_int_equal(code, 0);
    if (!was_running) /* the 202 came after the run had already ended cancelled */
        fail_msg("run %s was no longer running when the cancel returned: the test proves nothing "
                 "(the mini-batches are too fast on this machine)",
                 id);
    assert_int_equal(srv_restart(&s, NULL), 0);
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    j = get_json(&s, path, &st);
    assert_int_equal(st, 200);
    /* cancelled at the start: never queued to resume */
    const char *status = json_string_value(json_object_get(j, "status"));
    if (strcmp(status, "cancelled") != 0)
        fail_msg("a cancel answered 202 was lost across %s: run %s is %s after the restart",
                 sig == SIGTERM ? "SIGTERM" : "kill -9", id, status);
    assert_int_equal(run_int(j, "resumes"), 0);
    assert_true(json_is_null(json_object_get(j, "model")));
    int epoch = (int)json_integer_value(json_object_get(json_object_get(j, "progress"), "epoch"));
    json_decref(j);
    assert_true(epoch >= 1 && epoch < E);
    check_one_point_per_epoch(&s, id, epoch); /* the finished epochs' metrics stay */
    /* and it stays cancelled: nothing trains it later */
    sleep(2);
    j = get_json(&s, path, &st);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "cancelled");
    assert_int_equal(
        (int)json_integer_value(json_object_get(json_object_get(j, "progress"), "epoch")), epoch);
    json_decref(j);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

static void cancel_survives_sigterm(void **state)
{
    (void)state;
    cancel_then_stop(SIGTERM);
}

static void cancel_survives_kill9(void **state)
{
    (void)state;
    cancel_then_stop(SIGKILL);
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
        cmocka_unit_test(cancel_survives_sigterm),
        cmocka_unit_test(cancel_survives_kill9),
        cmocka_unit_test(sigterm_drains_and_resumes),
        cmocka_unit_test(kill9_loses_nothing_and_resumes),
    };
    return cmocka_run_group_tests_name("e2e/restart", tests, NULL, NULL);
}
