/* test_listen.c — --listen with a name and with an IPv6 address: the daemon starts on
 * localhost:0 and on [::1]:0 (loopback, so no API key is needed), writes its port to --port-file,
 * and answers /healthz at that address (checked against the OpenAPI document); an unbracketed
 * IPv6 address is refused at start-up, and a host name that does not resolve exits 2 with a
 * message naming the host and the resolver's error (not the missing-API-key refusal). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "oacheck.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* GET url (the daemon's port, path) with libcurl; returns the status (-1 when the transfer
 * failed) and the body, which is checked against the OpenAPI document. */
static long get_url(const char *url, int port, const char *path, hresp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode cc = curl_easy_perform(c);
    r->status = -1;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) snprintf(r->content_type, sizeof r->content_type, "%s", ct);
    } else
        fprintf(stderr, "GET %s: %s\n", url, curl_easy_strerror(cc));
    curl_easy_cleanup(c);
    if (r->status > 0) oa_check(port, "GET", path, r->status, r->content_type, r->body, r->len);
    return r->status;
}

static srv S; /* the test's daemon; the teardown kills it when an assertion ended the test */

static int stop_daemon(void **state)
{
    (void)state;
    srv_cleanup(&S);
    memset(&S, 0, sizeof S);
    return 0;
}

/* Starts the daemon on listen (overriding the harness's 127.0.0.1:0) and asks /healthz at
 * http://url_host:PORT. */
static void serve_on(const char *listen, const char *url_host)
{
    srv *const sp = &S;
    const char *extra[] = {"--listen", listen, NULL};
    if (srv_start(sp, extra) != 0) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "cat '%s' >&2", sp->log);
        if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
        srv_cleanup(sp);
        fail_msg("mlpd --listen %s did not start (its log is above)", listen);
    }
    assert_true(sp->port > 0);
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d/healthz", url_host, sp->port);
    hresp r;
    long st = get_url(url, sp->port, "/healthz", &r);
    int ok = st == 200 && r.body && strstr(r.body, "\"ok\"");
    hresp_free(&r);
    int rc = srv_stop(sp, SIGTERM);
    srv_cleanup(sp);
    if (!ok) fail_msg("GET %s: status %ld", url, st);
    assert_int_equal(rc, 0);
}

static void test_localhost(void **state)
{
    (void)state;
    serve_on("localhost:0", "localhost");
}

/* IPv6 loopback must exist for this test: it fails (it does not skip) when ::1 cannot be
 * bound, and says so. */
static void test_ipv6_loopback(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int bound = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    if (!bound)
        fail_msg("IPv6 loopback is unavailable here (cannot bind [::1]): this test needs it "
                 "(check `ip -6 addr show lo`)");
    serve_on("[::1]:0", "[::1]");
}

/* Runs mlpd with argv (NULL-terminated, argv[0] replaced by $MLPD_BIN) expecting it to exit at
 * start-up; returns its exit status (-1 when it did not exit normally) and its stderr in msg. */
static int start_fails(const char **argv, char *msg, size_t cap)
{
    const char *bin = getenv("MLPD_BIN");
    if (!bin) bin = "build/mlpd";
    argv[0] = bin;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(p[0], msg + n, cap - 1 - n)) > 0) n += (size_t)k;
    msg[n] = '\0';
    close(p[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_unbracketed_ipv6_refused(void **state)
{
    (void)state;
    const char *argv[] = {NULL, "--listen", "::1:0", "--data-dir", "/nonexistent-mlpd-test", NULL};
    char msg[1024];
    assert_int_equal(start_fails(argv, msg, sizeof msg), 2);
}

/* .invalid is reserved (RFC 6761): it never resolves. */
static void test_unresolvable_host_named(void **state)
{
    (void)state;
    const char *argv[] = {
        NULL, "--listen", "no-such-host.invalid:0", "--data-dir", "/nonexistent-mlpd-test", NULL};
    char msg[1024];
    int rc = start_fails(argv, msg, sizeof msg);
    if (rc != 2) fail_msg("exit %d, want 2; stderr: %s", rc, msg);
    if (!strstr(msg, "no-such-host.invalid") || !strstr(msg, "resolve") || strstr(msg, "API key"))
        fail_msg("the message should name the host and the resolution failure, and not the API "
                 "key: %s",
                 msg);
}

/* oa_check fetches the document from 127.0.0.1:port on first use, which a daemon on [::1] does
 * not answer: load it once from a daemon on 127.0.0.1 before the tests, in any order. Through
 * oa_validate, which reports and never jumps, so this daemon is always stopped. */
static int load_openapi(void **state)
{
    (void)state;
    srv s;
    if (srv_start(&s, NULL) != 0) {
        srv_cleanup(&s);
        fprintf(stderr, "the daemon did not start (MLPD_BIN?)\n");
        return -1;
    }
    char why[512] = "";
    int v = oa_validate(s.port, "GET", "/healthz", 200, "application/json", "{\"status\":\"ok\"}",
                        15, why, sizeof why);
    int rc = srv_stop(&s, SIGTERM);
    srv_cleanup(&s);
    if (v < 0 && strstr(why, "could not be loaded")) {
        fprintf(stderr, "%s\n", why);
        return -1;
    }
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_localhost, stop_daemon),
        cmocka_unit_test_teardown(test_ipv6_loopback, stop_daemon),
        cmocka_unit_test(test_unbracketed_ipv6_refused),
        cmocka_unit_test(test_unresolvable_host_named),
    };
    int rc = cmocka_run_group_tests(tests, load_openapi, NULL);
    curl_global_cleanup();
    return rc;
}
