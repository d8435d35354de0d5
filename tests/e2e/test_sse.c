/* test_sse.c — GET /api/v1/runs/{id}/events against the real daemon, read with libcurl:
 * a live run's stream (every epoch once, in order, then done; delivered as the run goes, not at
 * the end), a reconnect with Last-Event-ID in the middle, the replay of a finished run (the
 * same events, byte for byte), ?last_event_id=, a cancelled run's numbering, 400/404, the
 * keepalive comment, and streams ending cleanly when the daemon drains on SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "oacheck.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static srv S;
static char DS[32];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- a small SSE client ---- */

typedef struct {
    long id; /* -1 when the event had no id: line */
    char event[16];
    char *data;
    double t; /* arrival, monotonic seconds */
} sse_ev;

/* Events one log keeps: a cancelled 100000-epoch run replays every epoch it finished before
 * the cancel landed, which depends on how fast epochs go. */
#define SSE_LOG_MAX 4096

typedef struct {
    pthread_mutex_t mu;
    char *buf; /* bytes not yet parsed */
    size_t len;
    sse_ev ev[SSE_LOG_MAX];
    int n;
    int comments;    /* ": ..." lines seen */
    long stop_after; /* abort the transfer once an event with this id arrived; 0 = never */
} sse_log;

static void sse_init(sse_log *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
}

static void sse_free(sse_log *l)
{
    for (int i = 0; i < l->n; i++) free(l->ev[i].data);
    free(l->buf);
    pthread_mutex_destroy(&l->mu);
}

/* Parses complete blocks ("...\n\n") from l->buf. Returns 1 when stop_after was reached. */
static int sse_parse(sse_log *l)
{
    int stop = 0;
    char *end;
    while ((end = strstr(l->buf, "\n\n")) != NULL) {
        *end = '\0';
        sse_ev e = {-1, "", NULL, now_s()};
        int is_event = 0;
        for (char *line = l->buf, *nl; line && *line; line = nl) {
            nl = strchr(line, '\n');
            if (nl) *nl++ = '\0';
            if (line[0] == ':') {
                l->comments++;
            } else if (strncmp(line, "id: ", 4) == 0) {
                e.id = strtol(line + 4, NULL, 10);
                is_event = 1;
            } else if (strncmp(line, "event: ", 7) == 0) {
                snprintf(e.event, sizeof e.event, "%s", line + 7);
                is_event = 1;
            } else if (strncmp(line, "data: ", 6) == 0) {
                free(e.data);
                e.data = strdup(line + 6);
                is_event = 1;
            }
        }
        if (is_event && l->n < SSE_LOG_MAX) {
            l->ev[l->n++] = e;
            if (l->stop_after && e.id == l->stop_after) stop = 1;
        } else {
            free(e.data);
        }
        size_t used = (size_t)(end + 2 - l->buf);
        memmove(l->buf, end + 2, l->len - used + 1);
        l->len -= used;
    }
    return stop;
}

static size_t on_sse(char *p, size_t sz, size_t nm, void *ud)
{
    sse_log *l = ud;
    size_t n = sz * nm;
    pthread_mutex_lock(&l->mu);
    char *b = realloc(l->buf, l->len + n + 1);
    if (!b) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    l->buf = b;
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    l->buf[l->len] = '\0';
    int stop = sse_parse(l);
    pthread_mutex_unlock(&l->mu);
    return stop ? 0 : n; /* 0 aborts: the client "disconnects" */
}

/* Reads the stream at path (with an optional Last-Event-ID) into l until it ends, stop_after
 * arrives, or timeout_s. Returns the HTTP status; *cc the curl code. */
static long sse_get(srv *s, const char *path, const char *last_id, sse_log *l, double timeout_s,
                    CURLcode *cc)
{
    CURL *c = curl_easy_init();
    char url[512], hdr[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    struct curl_slist *h = NULL;
    if (last_id) {
        snprintf(hdr, sizeof hdr, "Last-Event-ID: %s", last_id);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    *cc = curl_easy_perform(c);
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    /* the status and media type; the body is an event stream, not a JSON document */
    oa_check(s->port, "GET", path, status, ct, NULL, 0);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* ---- fixtures ---- */

static int upload(srv *s, char *id_out)
{
    size_t cap = 2000 * 40 + 64;
    char *csv = malloc(cap), *p = csv;
    unsigned seed = 3;
    p += sprintf(p, "a,b,c,kind\n");
    for (int i = 0; i < 2000; i++) {
        double a = h_urand(&seed), b = h_urand(&seed), c = h_urand(&seed);
        p += sprintf(p, "%.4f,%.4f,%.4f,%s\n", a, b, c, a + b > 1 ? "hi" : "lo");
    }
    hresp r;
    long st =
        http_do(s, "POST", "/api/v1/datasets?name=sse", "text/csv", csv, strlen(csv), NULL, &r);
    free(csv);
    json_t *j = hresp_json(&r);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (st == 201 && id) snprintf(id_out, 32, "%s", id);
    json_decref(j);
    hresp_free(&r);
    return st == 201 ? 0 : -1;
}

/* Queues a run; returns its id (static buffer per call site is the caller's). */
static void create_run(srv *s, const char *ds, int epochs, const char *hidden, int batch,
                       char *id_out)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
             "\"params\": {\"hidden\": %s, \"epochs\": %d, \"batch_size\": %d, \"seed\": 1}}",
             ds, hidden, epochs, batch);
    long st;
    json_t *j = post_json(s, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    snprintf(id_out, 32, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

static void wait_status(srv *s, const char *id, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    double t0 = now_s();
    for (;;) {
        long st;
        json_t *j = get_json(s, path, &st);
        int ok = j && strcmp(json_string_value(json_object_get(j, "status")), want) == 0;
        json_decref(j);
        if (ok) return;
        assert_true(now_s() - t0 < 60);
        usleep(20000);
    }
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    const char *one_worker[] = {"--workers", "1", NULL}; /* RUN queued behind a long run */
    if (srv_start(&S, one_worker)) return -1;
    return upload(&S, DS);
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

/* ---- the live run, shared by the tests that follow ---- */

static char BLOCK[32], RUN[32];
static sse_log LIVE; /* the union of both connections */
static long LAST_FIRST;

typedef struct {
    sse_log first, second;
    long st1, st2;
    CURLcode cc1, cc2;
} reader_arg;

static void *reader(void *varg)
{
    reader_arg *a = varg;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", RUN);
    a->first.stop_after = 5; /* epoch 3: disconnect, then resume */
    a->st1 = sse_get(&S, path, NULL, &a->first, 120, &a->cc1);
    char last[24];
    snprintf(last, sizeof last, "%ld", a->first.n ? a->first.ev[a->first.n - 1].id : 0);
    a->st2 = sse_get(&S, path, last, &a->second, 120, &a->cc2);
    return NULL;
}

static void check_run_sequence(const sse_log *l, const char *run_id, const char *final)
{
    /* queued, running, 6 epochs, final status, done: ids 1..10 */
    assert_int_equal(l->n, 10);
    for (int i = 0; i < l->n; i++) assert_int_equal(l->ev[i].id, i + 1);
    assert_string_equal(l->ev[0].event, "status");
    assert_non_null(strstr(l->ev[0].data, "\"queued\""));
    assert_string_equal(l->ev[1].event, "status");
    assert_non_null(strstr(l->ev[1].data, "\"running\""));
    for (int k = 1; k <= 6; k++) {
        const sse_ev *e = &l->ev[1 + k];
        assert_string_equal(e->event, "epoch");
        json_t *j = json_loads(e->data, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "epoch")), k);
        assert_true(json_is_number(json_object_get(j, "train_loss")));
        assert_true(json_is_number(json_object_get(j, "val_loss")));
        assert_true(json_is_number(json_object_get(j, "val_accuracy")));
        json_decref(j);
    }
    assert_string_equal(l->ev[8].event, "status");
    assert_non_null(strstr(l->ev[8].data, final));
    assert_string_equal(l->ev[9].event, "done");
    json_t *run = json_loads(l->ev[9].data, 0, NULL);
    assert_non_null(run);
    assert_string_equal(json_string_value(json_object_get(run, "id")), run_id);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "progress"), "epoch")),
                     6);
    json_decref(run);
}

static void test_live_stream_with_reconnect(void **state)
{
    (void)state;
    /* A long run holds the only worker, so RUN is queued when the stream opens: everything it
     * does afterwards arrives live. */
    create_run(&S, DS, 100000, "[16]", 64, BLOCK);
    wait_status(&S, BLOCK, "running");
    create_run(&S, DS, 6, "[256, 256]", 8, RUN);
    reader_arg *a = calloc(1, sizeof *a);
    sse_init(&a->first);
    sse_init(&a->second);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, a), 0);
    double t0 = now_s();
    for (;;) { /* the queued event is there: the stream is open */
        pthread_mutex_lock(&a->first.mu);
        int n = a->first.n;
        pthread_mutex_unlock(&a->first.mu);
        if (n >= 1) break;
        assert_true(now_s() - t0 < 30);
        usleep(5000);
    }
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", BLOCK);
    long st;
    json_decref(post_json(&S, path, "{}", &st));
    assert_int_equal(st, 202);
    pthread_join(th, NULL);
    assert_int_equal(a->st1, 200);
    assert_int_equal(a->cc1, CURLE_WRITE_ERROR); /* we hung up after epoch 3 */
    assert_int_equal(a->st2, 200);
    assert_int_equal(a->cc2, CURLE_OK); /* the server ended the stream after done */
    LAST_FIRST = a->first.ev[a->first.n - 1].id;
    assert_int_equal(LAST_FIRST, 5);
    /* The second connection starts right after the first one's last id: no duplicates. */
    assert_true(a->second.n >= 1);
    assert_int_equal(a->second.ev[0].id, LAST_FIRST + 1);
    sse_init(&LIVE);
    for (int i = 0; i < a->first.n; i++) LIVE.ev[LIVE.n++] = a->first.ev[i];
    for (int i = 0; i < a->second.n; i++) LIVE.ev[LIVE.n++] = a->second.ev[i];
    a->first.n = a->second.n = 0; /* moved */
    check_run_sequence(&LIVE, RUN, "\"succeeded\"");
    /* Delivered while training: from epoch 1 to done took about as long as epochs 2..6. */
    double train = 0;
    for (int k = 2; k <= 6; k++) {
        json_t *j = json_loads(LIVE.ev[1 + k].data, 0, NULL);
        train += json_real_value(json_object_get(j, "epoch_seconds"));
        json_decref(j);
    }
    double seen = LIVE.ev[9].t - LIVE.ev[2].t;
    if (getenv("MLPD_TEST_VERBOSE"))
        fprintf(stderr, "epochs 2..6 trained in %.3f s, streamed over %.3f s\n", train, seen);
    assert_true(train > 0.05);
    assert_true(seen >= 0.5 * train);
    sse_free(&a->first);
    sse_free(&a->second);
    free(a);
}

static void test_finished_run_replays_the_same_events(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", RUN);
    sse_log l;
    sse_init(&l);
    CURLcode cc;
    assert_int_equal(sse_get(&S, path, NULL, &l, 30, &cc), 200);
    assert_int_equal(cc, CURLE_OK); /* ends by itself */
    check_run_sequence(&l, RUN, "\"succeeded\"");
    for (int i = 0; i < 9; i++) { /* live and replayed events agree, done aside (timestamps) */
        assert_int_equal(l.ev[i].id, LIVE.ev[i].id);
        assert_string_equal(l.ev[i].event, LIVE.ev[i].event);
        assert_string_equal(l.ev[i].data, LIVE.ev[i].data);
    }
    sse_free(&l);
    /* The last epoch event's metrics are printed with the digits of GET /runs/{id}'s: one
     * renderer (server/events.h events_metrics_json). LIVE.ev[7] is epoch 6: {"epoch":6,...}. */
    const char *ep = LIVE.ev[7].data;
    assert_string_equal(LIVE.ev[7].event, "epoch");
    const char *members = strchr(ep, ',');
    assert_non_null(members);
    char want[600];
    snprintf(want, sizeof want, "\"metrics\":{%s", members + 1);
    snprintf(path, sizeof path, "/api/v1/runs/%s", RUN);
    hresp r;
    memset(&r, 0, sizeof r);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 200);
    assert_non_null(r.body);
    assert_non_null(strstr(r.body, want));
    hresp_free(&r);
}

static void test_last_event_id(void **state)
{
    (void)state;
    char path[128];
    CURLcode cc;
    /* query parameter */
    snprintf(path, sizeof path, "/api/v1/runs/%s/events?last_event_id=7", RUN);
    sse_log l;
    sse_init(&l);
    assert_int_equal(sse_get(&S, path, NULL, &l, 30, &cc), 200);
    assert_int_equal(cc, CURLE_OK);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.ev[0].id, 8);
    assert_string_equal(l.ev[0].event, "epoch");
    assert_string_equal(l.ev[0].data, LIVE.ev[7].data);
    assert_string_equal(l.ev[2].event, "done");
    sse_free(&l);
    /* header, past the end: nothing, and the stream still ends */
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", RUN);
    sse_init(&l);
    assert_int_equal(sse_get(&S, path, "10", &l, 30, &cc), 200);
    assert_int_equal(cc, CURLE_OK);
    assert_int_equal(l.n, 0);
    sse_free(&l);
    /* bad values */
    hresp r;
    snprintf(path, sizeof path, "/api/v1/runs/%s/events?last_event_id=abc", RUN);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    assert_non_null(strstr(r.body, "last_event_id"));
    hresp_free(&r);
    snprintf(path, sizeof path, "/api/v1/runs/%s/events?last_event_id=-3", RUN);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    hresp_free(&r);
    assert_int_equal(http_do(&S, "GET", "/api/v1/runs/run_999/events", NULL, NULL, 0, NULL, &r),
                     404);
    assert_non_null(strstr(r.content_type, "application/problem+json"));
    assert_non_null(strstr(r.body, "run_999"));
    hresp_free(&r);
}

static void test_cancelled_run_numbering(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s", BLOCK);
    json_t *run = wait_run(&S, BLOCK, 60);
    assert_string_equal(json_string_value(json_object_get(run, "status")), "cancelled");
    long e = (long)json_integer_value(json_object_get(json_object_get(run, "progress"), "epoch"));
    json_decref(run);
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", BLOCK);
    sse_log l;
    sse_init(&l);
    CURLcode cc;
    assert_int_equal(sse_get(&S, path, NULL, &l, 30, &cc), 200);
    assert_int_equal(cc, CURLE_OK);
    assert_int_equal(l.n, 2 + e + 2);
    assert_int_equal(l.ev[l.n - 2].id, 3 + e);
    assert_non_null(strstr(l.ev[l.n - 2].data, "\"cancelled\""));
    assert_int_equal(l.ev[l.n - 1].id, 4 + e);
    assert_string_equal(l.ev[l.n - 1].event, "done");
    sse_free(&l);
    sse_free(&LIVE);
}

/* ---- keepalive and shutdown, on a daemon of its own ---- */

typedef struct {
    srv *s;
    char run[32];
    sse_log l;
    long st;
    CURLcode cc;
} ka_arg;

static void *ka_reader(void *varg)
{
    ka_arg *a = varg;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/events", a->run);
    a->st = sse_get(a->s, path, NULL, &a->l, 60, &a->cc);
    return NULL;
}

static void test_keepalive_and_sigterm(void **state)
{
    (void)state;
    static srv K;
    const char *flags[] = {"--sse-keepalive", "1", "--timeout", "2", "--workers", "1", NULL};
    assert_int_equal(srv_start(&K, flags), 0);
    char ds[32], block[32];
    assert_int_equal(upload(&K, ds), 0);
    create_run(&K, ds, 100000, "[16]", 64, block);
    wait_status(&K, block, "running");
    ka_arg *a = calloc(1, sizeof *a);
    a->s = &K;
    sse_init(&a->l);
    create_run(&K, ds, 3, "[8]", 64, a->run); /* stays queued: nothing to send */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, ka_reader, a), 0);
    /* Comments arrive every second, and the idle timeout (2 s) does not close the stream. */
    double t0 = now_s();
    for (;;) {
        pthread_mutex_lock(&a->l.mu);
        int c = a->l.comments;
        pthread_mutex_unlock(&a->l.mu);
        if (c >= 4) break;
        assert_true(now_s() - t0 < 30);
        usleep(20000);
    }
    assert_true(now_s() - t0 >= 2.5);
    /* SIGTERM: the stream ends cleanly and the daemon exits 0 well within 10 s. */
    double t1 = now_s();
    int rc = srv_stop(&K, SIGTERM);
    double took = now_s() - t1;
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_true(took < 10);
    assert_int_equal(a->st, 200);
    assert_int_equal(a->cc, CURLE_OK);
    assert_int_equal(a->l.n, 1);
    assert_int_equal(a->l.ev[0].id, 1);
    sse_free(&a->l);
    free(a);
    srv_cleanup(&K);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_stream_with_reconnect),
        cmocka_unit_test(test_finished_run_replays_the_same_events),
        cmocka_unit_test(test_last_event_id),
        cmocka_unit_test(test_cancelled_run_numbering),
        cmocka_unit_test(test_keepalive_and_sigterm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
