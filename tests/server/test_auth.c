/* test_auth.c — API key parsing, constant-time lookup and the access decision (server/auth.h),
 * the striped token buckets of --rate-limit (server/ratelimit.h), the JSON depth scan
 * (api/problem.h), and the configuration behind the no-key rule (server/config.h): which
 * --listen hosts count as loopback, and MLPD_API_KEYS leaving the environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "problem.h"
#include "ratelimit.h"

static auth_keys *keys_of(const char *text)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    auth_keys *k = NULL;
    mlp_error e;
    mlp_error_clear(&e);
    assert_int_equal(auth_keys_new(buf, &k, &e), MLP_OK);
    for (size_t i = 0; i < strlen(text); i++) assert_int_equal(buf[i], 0); /* wiped */
    return k;
}

static void parses_and_wipes(void **state)
{
    (void)state;
    auth_keys *k = keys_of("adminkey1:admin,trainkey1:train,pred:ict-key:predict");
    assert_int_equal(auth_keys_count(k), 3);
    int at;
    assert_int_equal(auth_lookup(k, "adminkey1", 9, &at), SCOPE_ADMIN);
    assert_int_equal(at, 0);
    assert_int_equal(auth_lookup(k, "trainkey1", 9, &at), SCOPE_TRAIN);
    assert_int_equal(at, 1);
    /* The last ':' splits: a key may hold ':'. */
    assert_int_equal(auth_lookup(k, "pred:ict-key", 12, &at), SCOPE_PREDICT);
    assert_int_equal(at, 2);
    assert_int_equal(auth_lookup(k, "adminkey", 8, &at), SCOPE_NONE);
    assert_int_equal(at, -1);
    assert_int_equal(auth_lookup(k, "adminkey12", 10, &at), SCOPE_NONE);
    assert_int_equal(auth_lookup(k, "", 0, &at), SCOPE_NONE);
    auth_keys_free(k);
    auth_keys_free(NULL);

    k = keys_of("");
    assert_int_equal(auth_keys_count(k), 0);
    auth_keys_free(k);

    static const char *bad[] = {"nocolon1",
                                "shortk:admin",
                                "adminkey1:root",
                                "adminkey1:",
                                ":admin",
                                "has space1:train",
                                "dupkey123:admin,dupkey123:predict"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", bad[i]);
        mlp_error e;
        mlp_error_clear(&e);
        k = (auth_keys *)1;
        assert_int_equal(auth_keys_new(buf, &k, &e), MLP_EINVAL);
        assert_null(k);
        assert_true(e.msg[0] != '\0');
        assert_null(strstr(e.msg, "key1")); /* the detail never repeats a key */
        assert_int_equal(buf[0], 0);
    }
}

static int decide(const auth_keys *k, int pub, route_scope need, const char *key)
{
    int at;
    const char *detail;
    int st = auth_decide(k, pub, need, key, key ? strlen(key) : 0, &at, &detail);
    if (st) assert_true(detail[0] != '\0');
    return st;
}

static void decisions(void **state)
{
    (void)state;
    auth_keys *k = keys_of("adminkey1:admin,trainkey1:train,predkey01:predict");
    route_scope scopes[] = {SCOPE_PREDICT, SCOPE_TRAIN, SCOPE_ADMIN};
    const char *keys[] = {"predkey01", "trainkey1", "adminkey1"};
    for (int need = 0; need < 3; need++) {
        for (int have = 0; have < 3; have++)
            assert_int_equal(decide(k, 0, scopes[need], keys[have]), have >= need ? 0 : 403);
        assert_int_equal(decide(k, 0, scopes[need], NULL), 401);
        assert_int_equal(decide(k, 0, scopes[need], "wrongkey1"), 401);
        assert_int_equal(decide(k, 1, scopes[need], NULL), scopes[need] == SCOPE_PREDICT ? 0 : 401);
        assert_int_equal(decide(k, 1, scopes[need], "wrongkey1"), 401);
    }
    assert_int_equal(decide(k, 0, SCOPE_NONE, NULL), 0);
    auth_keys_free(k);
    /* No key configured: open. */
    assert_int_equal(decide(NULL, 0, SCOPE_ADMIN, NULL), 0);
    assert_int_equal(decide(NULL, 0, SCOPE_ADMIN, "anything1"), 0);
}

static void bearer_header(void **state)
{
    (void)state;
    size_t n = 0;
    const char *v = auth_bearer("Bearer abc.def ", &n);
    assert_non_null(v);
    assert_int_equal(n, 7);
    assert_memory_equal(v, "abc.def", 7);
    assert_non_null(auth_bearer("bearer  xyz", &n));
    assert_int_equal(n, 3);
    assert_null(auth_bearer("Basic dXNlcjpwYXNz", &n));
    assert_null(auth_bearer("Bearer", &n));
    assert_null(auth_bearer("Bearerxyz", &n));
    assert_null(auth_bearer("Bearer   ", &n));
    assert_null(auth_bearer(NULL, &n));
}

static void token_buckets(void **state)
{
    (void)state;
    rl *r = NULL;
    assert_int_equal(rl_new(0, 1, &r), MLP_EINVAL);
    assert_int_equal(rl_new(5, 5, &r), MLP_OK);
    double t = 1000.0;
    /* A full bucket: 5 at once, then the 6th waits one token (1/5 s, rounded up to 1 s). */
    for (int i = 0; i < 5; i++) assert_int_equal(rl_take(r, "alice", 5, t), 0);
    assert_int_equal(rl_take(r, "alice", 5, t), 1);
    /* Another caller has its own bucket. */
    assert_int_equal(rl_take(r, "bob", 3, t), 0);
    /* Refill at 5/s: after 0.2 s one more, not two. */
    assert_int_equal(rl_take(r, "alice", 5, t + 0.21), 0);
    assert_int_equal(rl_take(r, "alice", 5, t + 0.21), 1);
    /* Never above the burst after a long idle time. */
    int ok = 0;
    for (int i = 0; i < 20; i++) ok += rl_take(r, "alice", 5, t + 100) == 0;
    assert_int_equal(ok, 5);
    /* Many callers: each still gets its burst (eviction reuses idle buckets). */
    for (int c = 0; c < 100000; c++) {
        char id[16];
        int n = snprintf(id, sizeof id, "c%d", c);
        assert_int_equal(rl_take(r, id, (size_t)n, t + 200), 0);
    }
    rl_free(r);
    rl_free(NULL);

    /* A slow rate: the wait is the whole seconds until a token. */
    assert_int_equal(rl_new(0.25, 1, &r), MLP_OK);
    assert_int_equal(rl_take(r, "x", 1, t), 0);
    assert_int_equal(rl_take(r, "x", 1, t), 4);
    rl_free(r);
}

static void json_depth(void **state)
{
    (void)state;
    char buf[600];
    for (int d = 1; d <= 200; d += 7) {
        char *p = buf;
        for (int i = 0; i < d; i++) *p++ = i % 2 ? '{' : '[';
        size_t len = (size_t)(p - buf);
        /* unclosed is fine: the scan counts, jansson validates */
        assert_int_equal(api_json_depth_ok(buf, len, 64), d <= 64);
    }
    const char *s = "{\"a\":\"[[[[[[[[[\\\"[[[[\",\"b\":[[1]],\"c\":\"\\\\\"}";
    assert_int_equal(api_json_depth_ok(s, strlen(s), 3), 1);
    assert_int_equal(api_json_depth_ok(s, strlen(s), 2), 0);
    /* Siblings do not add up. */
    const char *flat = "[[1],[2],[3],[4],[5],[6]]";
    assert_int_equal(api_json_depth_ok(flat, strlen(flat), 2), 1);
}

static void loopback_hosts(void **state)
{
    (void)state;
    static const char *const yes[] = {"127.0.0.1", "127.3.2.1", "localhost",
                                      "::1",       "[::1]",     "::ffff:127.0.0.1"};
    static const char *const no[] = {
        "0.0.0.0", "10.1.2.3",       "::",       "[::]", "2001:db8::1", "",
        "[]",      "nosuch.invalid", "128.0.0.1"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!config_is_loopback(yes[i])) fail_msg("'%s' should count as loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        if (config_is_loopback(no[i])) fail_msg("'%s' should not count as loopback", no[i]);
    }
}

static int parse_args(config *c, const char *a1, const char *a2)
{
    char *argv[] = {(char *)"mlpd", (char *)a1, (char *)a2, NULL};
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);
    int rc = config_parse(c, a2 ? 3 : 2, argv, null, null);
    fclose(null);
    return rc;
}

static void listen_forms(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_args(&c, "--listen", "[::1]:0"), 0);
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 0);
    assert_int_equal(parse_args(&c, "--listen", "localhost:8081"), 0);
    assert_string_equal(c.host, "localhost");
    assert_int_equal(c.port, 8081);
    assert_int_equal(parse_args(&c, "--listen", "127.0.0.1:65535"), 0);
    assert_string_equal(c.host, "127.0.0.1");
    static const char *const bad[] = {
        "::1:80", "[::1]", "[::1:80", "[]:80", "host:", ":80", "h:x", "h:70000", "[::1]x:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_args(&c, "--listen", bad[i]) != -1) fail_msg("'%s' was accepted", bad[i]);
    }
}

/* The key's bytes are overwritten where getenv found them (for the daemon, that is the block
 * /proc/PID/environ shows; tests/e2e/test_environ.c checks that), and the variable is gone. */
static void env_keys_wiped(void **state)
{
    (void)state;
    assert_int_equal(setenv("MLPD_API_KEYS", "envkey-123456:admin", 1), 0);
    char *where = getenv("MLPD_API_KEYS");
    assert_non_null(where);
    config c;
    assert_int_equal(parse_args(&c, "--quiet", NULL), 0);
    assert_string_equal(c.api_keys, "envkey-123456:admin");
    assert_null(getenv("MLPD_API_KEYS"));
    assert_string_equal(where, "xxxxxxxxxxxxxxxxxxx");
    /* Also when the value is refused (longer than config.api_keys). */
    static char big[sizeof c.api_keys + 16];
    memset(big, 'k', sizeof big - 1);
    assert_int_equal(setenv("MLPD_API_KEYS", big, 1), 0);
    where = getenv("MLPD_API_KEYS");
    assert_int_equal(parse_args(&c, "--quiet", NULL), -1);
    assert_null(getenv("MLPD_API_KEYS"));
    for (size_t i = 0; i < sizeof big - 1; i++) assert_int_equal(where[i], 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_and_wipes), cmocka_unit_test(decisions),
        cmocka_unit_test(bearer_header),    cmocka_unit_test(token_buckets),
        cmocka_unit_test(json_depth),       cmocka_unit_test(loopback_hosts),
        cmocka_unit_test(listen_forms),     cmocka_unit_test(env_keys_wiped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
