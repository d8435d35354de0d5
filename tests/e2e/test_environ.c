/* test_environ.c — API keys given in MLPD_API_KEYS do not stay readable in the daemon's
 * /proc/PID/environ once it is listening, and still authenticate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "e2e-environ-key-5f3a9c17"

static srv S;

/* Kills the daemon when a failed assertion left it running, and removes its data dir. */
static int teardown(void **state)
{
    (void)state;
    srv_cleanup(&S);
    return 0;
}

/* The whole of /proc/<pid>/environ into buf; returns its length. */
static size_t read_environ(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    if (n == cap) fail_msg("%s is larger than %zu bytes", path, cap);
    return n;
}

static void test_key_gone_from_environ(void **state)
{
    (void)state;
    srv *s = &S;
    assert_int_equal(setenv("MLPD_API_KEYS", "other-key-0001:predict," KEY ":admin", 1), 0);
    int started = srv_start(s, NULL); /* returns once the port file is written: listening */
    unsetenv("MLPD_API_KEYS");
    assert_int_equal(started, 0);

    static char env[1 << 20];
    size_t n = read_environ(s->pid, env, sizeof env);
    /* The variable was in this block (its name stays; the value is overwritten). */
    assert_non_null(memmem(env, n, "MLPD_API_KEYS=", 14));
    assert_null(memmem(env, n, KEY, strlen(KEY)));
    assert_null(memmem(env, n, "other-key-0001", 14));

    hresp r;
    assert_int_equal(http_do(s, "GET", "/api/v1/datasets", NULL, NULL, 0, NULL, &r), 401);
    hresp_free(&r);
    assert_int_equal(
        http_do(s, "GET", "/api/v1/datasets", NULL, NULL, 0, "Authorization: Bearer " KEY, &r),
        200);
    hresp_free(&r);
    assert_int_equal(http_do(s, "GET", "/api/v1/datasets", NULL, NULL, 0,
                             "Authorization: Bearer other-key-0001", &r),
                     200);
    hresp_free(&r);
    assert_int_equal(srv_stop(s, SIGTERM), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_key_gone_from_environ, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
