/* test_burst.c — many short runs at once against the real daemon (a class's burst): a run whose
 * epochs are shorter than a commit has several of them committed in one transaction (the
 * compute thread goes on while its worker commits, server/jobs.c), and this checks that none
 * is lost or reordered on the way: every epoch's event arrives once, in order, and GET
 * .../metrics holds the same values for every epoch; after a kill -9 every epoch the streams
 * had reported is still stored, and the run resumes after the last of them.
 *
 * Owns: one daemon per test, the SSE buffers of its reader threads.
 * Threading: one reader thread per run's event stream; the checks on the test thread. */
#include "harness.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define RUNS 9 /* three runs per default worker */

/* One run's event stream, read whole by a thread. */
typedef struct {
    srv *s;
    char id[32];
    double timeout_s;
    char *buf;
    size_t len;
} stream;

static size_t on_bytes(char *p, size_t sz, size_t nm, void *ud)
{
    stream *st = ud;
    size_t n = sz * nm;
    char *b = realloc(st->buf, st->len + n + 1);
    if (!b) return 0;
    st->buf = b;
    memcpy(st->buf + st->len, p, n);
    st->len += n;
    st->buf[st->len] = '\0';
    return n;
}

/* Reads the run's event stream until it ends (the run ended) or timeout_s. */
static void *read_stream(void *arg)
{
    stream *st = arg;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/runs/%s/events", st->s->port, st->id);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(st->timeout_s * 1000));
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    return NULL;
}

/* The epoch events of a stream's complete blocks, in arrival order: epochs[i] and the
 * train_loss each carried (as the daemon printed it, parsed). Returns their count; fails the
 * test when event ids are not consecutive. */
static int stream_epochs(const stream *st, int *epochs, double *loss, int cap)
{
    int n = 0;
    long last_id = 0;
    const char *p = st->buf ? st->buf : "";
    const char *end;
    while ((end = strstr(p, "\n\n")) != NULL) {
        char block[4096];
        size_t bl = (size_t)(end - p);
        if (bl >= sizeof block) bl = sizeof block - 1;
        memcpy(block, p, bl);
        block[bl] = '\0';
        p = end + 2;
        const char *idl = strstr(block, "id: ");
        if (idl && (idl == block || idl[-1] == '\n')) {
            long id = strtol(idl + 4, NULL, 10);
            if (last_id && id != last_id + 1)
                fail_msg("run %s: event id %ld after %ld", st->id, id, last_id);
            last_id = id;
        }
        if (!strstr(block, "event: epoch\n")) continue;
        const char *data = strstr(block, "data: ");
        assert_non_null(data);
        json_t *j = json_loads(data + 6, 0, NULL);
        assert_non_null(j);
        assert_true(n < cap);
        epochs[n] = (int)json_integer_value(json_object_get(j, "epoch"));
        loss[n] = json_number_value(json_object_get(j, "train_loss"));
        n++;
        json_decref(j);
    }
    return n;
}

/* GET .../metrics?name=train_loss: steps[] and values[] in the order listed; their count. */
static int stored_losses(srv *s, const char *id, int *steps, double *vals, int cap)
{
    char path[128];
    long code;
    snprintf(path, sizeof path, "/api/v1/runs/%s/metrics?name=train_loss", id);
    json_t *j = get_json(s, path, &code);
    assert_int_equal(code, 200);
    json_t *pts = json_object_get(j, "metrics");
    int n = (int)json_array_size(pts);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) {
        json_t *pt = json_array_get(pts, i);
        steps[i] = (int)json_integer_value(json_object_get(pt, "step"));
        vals[i] = json_number_value(json_object_get(pt, "value"));
    }
    json_decref(j);
    return n;
}

static const char TINY[] = "x1,x2,kind\n"
                           "0.0,0.9,low\n2.0,2.9,high\n0.1,0.8,low\n2.1,2.8,high\n"
                           "0.2,0.7,low\n2.2,2.7,high\n0.3,0.6,low\n2.3,2.6,high\n"
                           "0.4,0.5,low\n2.4,2.5,high\n0.5,0.4,low\n2.5,2.4,high\n"
                           "0.6,0.3,low\n2.6,2.3,high\n0.7,0.2,low\n2.7,2.2,high\n";

static void submit(srv *s, const char *ds, int i, int epochs, char *id)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\","
             " \"model_name\": \"burst%d\", \"validation\": {\"fraction\": 0},"
             " \"params\": {\"hidden\": [4], \"epochs\": %d, \"batch_size\": 4, \"seed\": %d}}",
             ds, i, epochs, i + 1);
    long code;
    json_t *j = post_json(s, "/api/v1/runs", body, &code);
    assert_int_equal(code, 202);
    snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

/* Starts RUNS runs of `epochs` epochs at once, each with a reader on its event stream. */
static void burst(srv *s, int epochs, double read_s, stream *st, pthread_t *th)
{
    char ds[64];
    assert_int_equal(h_upload_csv(s, "tiny", TINY, ds, sizeof ds), 201);
    for (int i = 0; i < RUNS; i++) {
        st[i] = (stream){.s = s, .timeout_s = read_s};
        submit(s, ds, i, epochs, st[i].id);
        assert_int_equal(pthread_create(&th[i], NULL, read_stream, &st[i]), 0);
    }
    for (int i = 0; i < RUNS; i++) pthread_join(th[i], NULL);
}

/* Every epoch of every run, streamed once and in order, and stored with the value streamed. */
static void test_burst_keeps_every_epoch_in_order(void **state)
{
    (void)state;
    enum { E = 400 };
    srv s;
    assert_int_equal(srv_start(&s, NULL), 0); /* --workers at its default */
    stream st[RUNS];
    pthread_t th[RUNS];
    burst(&s, E, 120, st, th);
    static int ep[E + 1], steps[E + 1];
    static double loss[E + 1], vals[E + 1];
    for (int i = 0; i < RUNS; i++) {
        assert_non_null(strstr(st[i].buf, "event: done"));
        int n = stream_epochs(&st[i], ep, loss, E + 1);
        assert_int_equal(n, E);
        int m = stored_losses(&s, st[i].id, steps, vals, E + 1);
        assert_int_equal(m, E);
        for (int k = 0; k < E; k++) {
            if (ep[k] != k + 1 || steps[k] != k + 1)
                fail_msg("run %s: streamed epoch %d, stored step %d at position %d", st[i].id,
                         ep[k], steps[k], k + 1);
            if (loss[k] != vals[k])
                fail_msg("run %s, epoch %d: streamed train_loss %.17g, stored %.17g", st[i].id,
                         k + 1, loss[k], vals[k]);
        }
        free(st[i].buf);
    }
    assert_int_equal(srv_finish(&s), 0);
}

/* kill -9 in the middle of a burst: every epoch a stream reported is still stored, with the
 * value reported, and each run resumes after the last of them. */
static void test_kill9_keeps_every_reported_epoch(void **state)
{
    (void)state;
    enum { E = 100000, CAP = 100000 };
    srv s;
    assert_int_equal(srv_start(&s, NULL), 0);
    stream st[RUNS];
    pthread_t th[RUNS];
    burst(&s, E, 2.0, st, th); /* the readers stop after 2 s, the runs go on */
    assert_int_equal(srv_stop(&s, SIGKILL), 128 + SIGKILL);
    int *ep = malloc(CAP * sizeof *ep), *steps = malloc(CAP * sizeof *steps);
    double *loss = malloc(CAP * sizeof *loss), *vals = malloc(CAP * sizeof *vals);
    assert_true(ep && steps && loss && vals);
    int reported[RUNS], seen = 0;
    double *rep[RUNS]; /* each run's train_loss as its stream reported it, epoch by epoch */
    for (int i = 0; i < RUNS; i++) {
        int n = stream_epochs(&st[i], ep, loss, CAP);
        for (int k = 0; k < n; k++) assert_int_equal(ep[k], k + 1);
        reported[i] = n;
        seen += n > 0;
        rep[i] = malloc((size_t)(n + 1) * sizeof *rep[i]);
        assert_non_null(rep[i]);
        memcpy(rep[i], loss, (size_t)n * sizeof *loss);
        free(st[i].buf);
    }
    assert_true(seen > 0);
    /* --workers 1 after the restart: the others wait queued while the first resumes, so their
     * stored points are read before they train again. */
    static const char *const one[] = {"--workers", "1", NULL};
    assert_int_equal(srv_restart(&s, one), 0);
    for (int i = 0; i < RUNS; i++) {
        int n = reported[i];
        int m = stored_losses(&s, st[i].id, steps, vals, CAP);
        if (m < n) fail_msg("run %s: %d epochs reported before kill -9, %d stored", st[i].id, n, m);
        for (int k = 0; k < n; k++)
            if (steps[k] != k + 1 || vals[k] != rep[i][k])
                fail_msg("run %s: epoch %d reported with train_loss %.17g, stored step %d %.17g",
                         st[i].id, k + 1, rep[i][k], steps[k], vals[k]);
        char path[96];
        snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", st[i].id);
        hresp r;
        assert_int_equal(http_do(&s, "POST", path, NULL, NULL, 0, NULL, &r), 202);
        hresp_free(&r);
        json_t *run = wait_run(&s, st[i].id, 60);
        assert_non_null(run);
        assert_string_equal(json_string_value(json_object_get(run, "status")), "cancelled");
        /* a run that resumed did so from a checkpoint at or after its last reported epoch */
        if (json_integer_value(json_object_get(run, "resumes")) > 0 &&
            json_integer_value(json_object_get(run, "resumed_from_epoch")) < n)
            fail_msg("run %s resumed from epoch %lld, %d reported", st[i].id,
                     (long long)json_integer_value(json_object_get(run, "resumed_from_epoch")), n);
        json_decref(run);
        free(rep[i]);
    }
    free(ep);
    free(steps);
    free(loss);
    free(vals);
    assert_int_equal(srv_finish(&s), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_keeps_every_epoch_in_order),
        cmocka_unit_test(test_kill9_keeps_every_reported_epoch),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
