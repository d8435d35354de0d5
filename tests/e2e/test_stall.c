/* test_stall.c — stalled clients cannot lock others out, and stalled requests are closed.
 *  - 1,200 connections from 127.0.0.2 that send headers and stall (half stop inside the headers,
 *    half inside the body) while a client on 127.0.0.1 asks /healthz over and over for a few
 *    seconds: every request is answered 200, within 100 ms (allowing 1 in 20 to be slower: on a
 *    loaded 2-core machine a sample sometimes waits for a CPU; a lock-out answers none), and the
 *    daemon holds exactly 64 of the stalled connections (--max-connections-per-ip default) the
 *    whole time.
 *  - --request-timeout 1: a request whose body stalls, and one whose headers stall, are closed
 *    after about a second; an idle keep-alive connection is under --timeout instead and serves
 *    its next request after longer than that (a stalled one is closed after a second again); an
 *    SSE stream stays open longer too.
 * Every answer is checked against the OpenAPI document (oacheck.h): the /healthz samples through
 * libcurl, and the answers read from raw sockets (keep-alive /healthz, the event stream's head)
 * parsed here. A stalled connection the daemon closes gets no answer at all (no status to
 * check): the test asserts that not one byte came back on those. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "oacheck.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define N_STALLED 1200
#define PER_IP    64 /* --max-connections-per-ip default */

static srv S;
static int FDS[N_STALLED];
static size_t STRAY; /* bytes received on connections that should have been closed unanswered */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < N_STALLED; i++) FDS[i] = -1;
    STRAY = 0;
    return 0;
}

/* Closes the test's sockets and kills the daemon when a failed assertion left it running. */
static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_STALLED; i++)
        if (FDS[i] >= 0) {
            close(FDS[i]);
            FDS[i] = -1;
        }
    srv_cleanup(&S);
    return 0;
}

/* A TCP connection from src (NULL: the default source) to 127.0.0.1:port; -1 when it fails. */
static int dial(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {1, 0}; /* connect and send give up after a second */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    if (src) {
        inet_pton(AF_INET, src, &a.sin_addr);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            return -1;
        }
    }
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_str(int fd, const char *s)
{
    (void)!send(fd, s, strlen(s), MSG_NOSIGNAL); /* the daemon may have closed it already */
}

/* 1 when the peer closed fd (EOF or reset) within wait_ms; bytes that arrive are dropped and
 * counted in STRAY (the callers expect none: a response there would be an answer to check). */
static int peer_closed(int fd, int wait_ms)
{
    double end = now_s() + wait_ms / 1000.0;
    for (;;) {
        double left = end - now_s();
        struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
        int r = poll(&p, 1, left > 0 ? (int)(left * 1000) : 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 0;
        if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return 1;
        char b[4096];
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) STRAY += (size_t)n;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return 1;
        if (left <= 0) return 0;
    }
}

/* Seconds until the peer closes fd, or -1 when it is still open after max_s. */
static double seconds_to_close(int fd, double max_s)
{
    double t0 = now_s();
    return peer_closed(fd, (int)(max_s * 1000)) ? now_s() - t0 : -1;
}

/* Stalled connections the daemon still holds (the closed ones are closed here too). */
static int held(void)
{
    int n = 0;
    for (int i = 0; i < N_STALLED; i++) {
        if (FDS[i] < 0) continue;
        if (peer_closed(FDS[i], 0)) {
            close(FDS[i]);
            FDS[i] = -1;
        } else {
            n++;
        }
    }
    return n;
}

/* Splits the raw HTTP/1.1 response in buf[0..len) into its status, Content-Type (ct, "" when
 * absent), Content-Length (-1 when absent) and body (what follows the blank line; for a streamed
 * answer, the bytes that have arrived, framing included). 0 once the head is complete. */
static int parse_head(const char *buf, size_t len, long *status, char *ct, size_t ctcap, long *clen,
                      const char **body, size_t *blen)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end || sscanf(buf, "HTTP/1.%*d %ld", status) != 1) return -1;
    ct[0] = '\0';
    *clen = -1;
    for (const char *l = strstr(buf, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
        size_t n = (size_t)(strstr(l, "\r\n") - l);
        const char *v = memchr(l, ':', n);
        if (!v) continue;
        size_t kn = (size_t)(v - l);
        for (v++; *v == ' '; v++) {
        }
        size_t vn = n - (size_t)(v - l);
        if (kn == 12 && strncasecmp(l, "Content-Type", 12) == 0)
            snprintf(ct, ctcap, "%.*s", (int)vn, v);
        else if (kn == 14 && strncasecmp(l, "Content-Length", 14) == 0)
            *clen = strtol(v, NULL, 10);
    }
    *body = end + 4;
    *blen = len - (size_t)(end + 4 - buf);
    return 0;
}

/* Reads one response to `method path` from fd, for at most 10 s: until its Content-Length body is
 * complete, or, for a streamed answer (no Content-Length), until the body holds want. Then checks
 * it against the OpenAPI document. 0 when it came whole (and holds want, when given). */
static int read_answer(int fd, const char *method, const char *path, const char *want)
{
    char buf[8192];
    size_t len = 0;
    long status = 0, clen = -1;
    char ct[128];
    const char *body = NULL;
    size_t blen = 0;
    int whole = 0;
    double end = now_s() + 10;
    while (!whole && now_s() < end && len < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = '\0';
        if (parse_head(buf, len, &status, ct, sizeof ct, &clen, &body, &blen) != 0) continue;
        if (clen >= 0)
            whole = blen >= (size_t)clen;
        else
            whole = want && strstr(body, want);
    }
    if (!whole) return -1;
    if (clen >= 0) blen = (size_t)clen;
    oa_check(S.port, method, path, status, ct, body, blen);
    return want && !memmem(body, blen, want, strlen(want)) ? -1 : 0;
}

/* Reads more of an answer already begun on fd (an event stream after its head) until the bytes
 * read contain want (or 10 s pass); 0 when they did. */
static int read_until(int fd, const char *want)
{
    char buf[8192];
    size_t len = 0;
    double end = now_s() + 10;
    while (now_s() < end && len < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, want)) return 0;
    }
    return -1;
}

static const char BODY_STALL[] = "POST /api/v1/runs HTTP/1.1\r\nHost: t\r\nContent-Type: "
                                 "application/json\r\nContent-Length: 4096\r\n\r\n{\"dataset";
static const char HEADER_STALL[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Stall: 1";

static void test_one_address_cannot_lock_out(void **state)
{
    (void)state;
    /* Room for the stalled sockets here and in the daemon (it inherits the limit). */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t want = N_STALLED + 512;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < want)
        fail_msg("RLIMIT_NOFILE is %llu; this test needs %llu open files",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
    const char *extra[] = {"--quiet", NULL};
    assert_int_equal(srv_start(&S, extra), 0);

    int connected = 0;
    for (int i = 0; i < N_STALLED; i++) {
        FDS[i] = dial("127.0.0.2", S.port);
        if (FDS[i] < 0) continue;
        connected++;
        send_str(FDS[i], i % 2 ? HEADER_STALL : BODY_STALL);
    }
    double t_flood = now_s();
    fprintf(stderr, "connected %d of %d from 127.0.0.2\n", connected, N_STALLED);
    /* The daemon closes what is over the per-address limit right after accepting it. */
    int h = held();
    while (h > PER_IP && now_s() - t_flood < 3) {
        usleep(50 * 1000);
        h = held();
    }
    fprintf(stderr, "held by the daemon: %d\n", h);

    /* A client on another address, a new connection each time, for 3 s. */
    int samples = 0, slow = 0;
    double worst = 0;
    long bad_status = 200;
    double t_end = now_s() + 3;
    while (now_s() < t_end) {
        CURL *c = curl_easy_init();
        assert_non_null(c);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", S.port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
        hresp r;
        memset(&r, 0, sizeof r);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(c);
        double dt = now_s() - t0;
        long st = -1;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
            char *ct = NULL;
            curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
            oa_check(S.port, "GET", "/healthz", st, ct, r.body ? r.body : "", r.len);
        }
        curl_easy_cleanup(c);
        hresp_free(&r);
        samples++;
        if (st != 200) bad_status = st;
        if (dt >= 0.100) slow++;
        if (dt > worst) worst = dt;
        usleep(50 * 1000);
    }
    int h_after = held();
    double t_held = now_s() - t_flood;
    fprintf(stderr, "/healthz: %d samples, %d slower than 100 ms, slowest %.1f ms\n", samples, slow,
            worst * 1e3);
    if (bad_status != 200) fail_msg("/healthz answered %ld (-1: no answer)", bad_status);
    if (slow * 20 > samples)
        fail_msg("%d of %d /healthz took 100 ms or more (slowest %.1f ms)", slow, samples,
                 worst * 1e3);
    assert_true(samples >= 20);
    /* The stalled connections were held the whole time (--request-timeout is 10 s). */
    assert_true(t_held < 10);
    assert_int_equal(h, PER_IP);
    assert_int_equal(h_after, PER_IP);
    if (STRAY) fail_msg("%zu bytes came back on stalled connections (an answer to check)", STRAY);
    for (int i = 0; i < N_STALLED; i++)
        if (FDS[i] >= 0) {
            close(FDS[i]);
            FDS[i] = -1;
        }
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
}

static int upload_small(srv *s, char *id_out)
{
    static char csv[2000 * 16 + 16];
    char *p = csv;
    p += sprintf(p, "a,b,kind\n");
    for (int i = 0; i < 2000; i++)
        p += sprintf(p, "%d,%d,%s\n", i % 7, i % 5, (i % 7 + i % 5) > 5 ? "hi" : "lo");
    hresp r;
    long st =
        http_do(s, "POST", "/api/v1/datasets?name=stall", "text/csv", csv, strlen(csv), NULL, &r);
    json_t *j = hresp_json(&r);
    const char *id = json_string_value(json_object_get(j, "id"));
    if (st == 201 && id) snprintf(id_out, 32, "%s", id);
    json_decref(j);
    hresp_free(&r);
    return st == 201 && id ? 0 : -1;
}

static void create_run(srv *s, const char *ds, int epochs, char *id_out)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
             "\"params\": {\"hidden\": [16], \"epochs\": %d, \"batch_size\": 16, \"seed\": 1}}",
             ds, epochs);
    long st;
    json_t *j = post_json(s, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    snprintf(id_out, 32, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

static void test_request_timeout(void **state)
{
    (void)state;
    const char *extra[] = {"--request-timeout", "1", "--timeout", "30", "--workers", "1", NULL};
    assert_int_equal(srv_start(&S, extra), 0);

    /* Headers in, body stalled. */
    int fd = dial(NULL, S.port);
    assert_true(fd >= 0);
    send_str(fd, BODY_STALL);
    double t = seconds_to_close(fd, 10);
    close(fd);
    fprintf(stderr, "body stalled: closed after %.2f s\n", t);
    if (t < 0.8 || t > 5) fail_msg("a stalled body was closed after %.2f s (-1: not in 10 s)", t);

    /* Headers stalled. */
    fd = dial(NULL, S.port);
    assert_true(fd >= 0);
    send_str(fd, HEADER_STALL);
    t = seconds_to_close(fd, 10);
    close(fd);
    fprintf(stderr, "headers stalled: closed after %.2f s\n", t);
    if (t < 0.8 || t > 5) fail_msg("stalled headers were closed after %.2f s (-1: not in 10 s)", t);

    /* Idle between keep-alive requests is --timeout's, not --request-timeout's. */
    fd = dial(NULL, S.port);
    assert_true(fd >= 0);
    send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_answer(fd, "GET", "/healthz", "\"ok\""), 0);
    assert_int_equal(peer_closed(fd, 2500), 0);
    send_str(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(read_answer(fd, "GET", "/healthz", "\"ok\""), 0);
    /* The next request on it stalls: --request-timeout again. */
    send_str(fd, BODY_STALL);
    t = seconds_to_close(fd, 10);
    close(fd);
    fprintf(stderr, "kept-alive connection, body stalled: closed after %.2f s\n", t);
    if (t < 0.8 || t > 5)
        fail_msg("a kept-alive connection's stalled request was closed after %.2f s", t);
    if (STRAY) fail_msg("%zu bytes came back on stalled requests (an answer to check)", STRAY);

    /* An event stream with nothing to say for 3 s stays open: a queued run behind a long one. */
    char ds[32], block[32], queued[32], path[160];
    assert_int_equal(upload_small(&S, ds), 0);
    create_run(&S, ds, 100000, block);
    create_run(&S, ds, 2, queued);
    fd = dial(NULL, S.port);
    assert_true(fd >= 0);
    char events[64];
    snprintf(events, sizeof events, "/api/v1/runs/%s/events", queued);
    snprintf(path, sizeof path, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", events);
    send_str(fd, path);
    assert_int_equal(read_answer(fd, "GET", events, "\"queued\""), 0);
    assert_int_equal(peer_closed(fd, 3000), 0);
    /* Still live: cancelling the run is told on it. */
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", queued);
    long st;
    json_decref(post_json(&S, path, "{}", &st));
    assert_true(st == 200 || st == 202);
    assert_int_equal(read_until(fd, "\"cancelled\""), 0);
    close(fd);
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", block);
    json_decref(post_json(&S, path, "{}", &st));
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_address_cannot_lock_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
