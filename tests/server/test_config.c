/* test_config.c — server/config.c: the defaults, each flag's valid and invalid values (the exit-2
 * message names the flag), the MLPD_* environment twins (a flag wins, a bad value names the
 * variable, MLPD_API_KEYS is wiped and dropped), the --listen forms, config_is_loopback.
 * Threading: one thread; the tests set and clear MLPD_* variables of this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

extern char **environ;

typedef struct {
    int rc;
    char out[8192]; /* what config_parse wrote to out (usage, version) */
    char err[1024]; /* what it wrote to err */
} result;

/* Runs config_parse on "mlpd" followed by args (NULL-terminated), on writable copies of the
 * strings (the parser wipes key values in place); *argv_after gets them back when not NULL. */
static result parse_args(config *c, const char *const *args, char **argv_after)
{
    static result r;
    memset(&r, 0, sizeof r);
    char *argv[32];
    int argc = 0;
    argv[argc++] = strdup("mlpd");
    for (; args && args[argc - 1]; argc++) {
        assert_true(argc < 31);
        argv[argc] = strdup(args[argc - 1]);
        assert_non_null(argv[argc]);
    }
    argv[argc] = NULL;
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen), *err = open_memstream(&ebuf, &elen);
    assert_non_null(out);
    assert_non_null(err);
    r.rc = config_parse(c, argc, argv, out, err);
    fclose(out);
    fclose(err);
    snprintf(r.out, sizeof r.out, "%s", obuf ? obuf : "");
    snprintf(r.err, sizeof r.err, "%s", ebuf ? ebuf : "");
    free(obuf);
    free(ebuf);
    for (int i = 0; i < argc; i++) {
        if (argv_after && i > 0) snprintf(argv_after[i - 1], 128, "%s", argv[i]);
        free(argv[i]);
    }
    return r;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static result parse1(config *c, const char *a, const char *b)
{
    if (!b) return parse_args(c, ARGS(a), NULL);
    return parse_args(c, ARGS(a, b), NULL);
}

/* Every MLPD_* variable out of the environment, so the host's settings cannot leak in. */
static int clear_env(void **state)
{
    (void)state;
    for (;;) {
        char **e = environ;
        while (*e && strncmp(*e, "MLPD_", 5) != 0) e++;
        if (!*e) return 0;
        char name[128];
        size_t n = strcspn(*e, "=");
        snprintf(name, sizeof name, "%.*s", (int)n, *e);
        unsetenv(name);
    }
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void defaults(void **state)
{
    (void)state;
    config c;
    result r = parse_args(&c, NULL, NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.err, "");
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.data_dir, "./var");
    assert_int_equal(c.workers, CONFIG_WORKERS);
    assert_false(c.workers_set);
    assert_int_equal(c.train_share, 20);
    assert_true(c.threads >= 1);
    assert_int_equal(c.max_body, 8u << 20);
    assert_int_equal(c.max_upload, 1u << 30);
    assert_int_equal(c.max_params, 50000000u);
    assert_int_equal(c.max_train_memory, 0);
    assert_int_equal(c.max_connections, 1000);
    assert_int_equal(c.timeout_s, 60);
    assert_int_equal(c.request_timeout_s, 10);
    assert_int_equal(c.max_conn_per_ip, 64);
    assert_int_equal(c.sse_keepalive_s, 15);
    assert_int_equal(c.model_cache, 16);
    assert_int_equal(c.model_cache_bytes, (size_t)512 << 20);
    assert_int_equal(c.max_queued_runs, 100);
    assert_int_equal(c.max_instances, 10000);
    assert_int_equal(c.max_json_depth, 64);
    assert_int_equal(c.min_free_disk, 64u << 20);
    assert_true(c.rate_limit == 0);
    assert_int_equal(c.insecure, 0);
    assert_int_equal(c.quiet, 0);
    assert_int_equal(c.public_predict, 0);
    assert_int_equal(c.migrate_only, 0);
    assert_string_equal(c.port_file, "");
    assert_string_equal(c.api_keys, "");
    assert_string_equal(c.cors_origins, "");
}

typedef struct {
    const char *flag;
    size_t off;
    int is_unsigned; /* the field is unsigned, not int */
    long min, max;
} int_flag;

#define F(flag, field, u, lo, hi)                                                                  \
    {                                                                                              \
        flag, offsetof(config, field), u, lo, hi                                                   \
    }
static const int_flag int_flags[] = {
    F("--workers", workers, 0, 1, 64),
    F("--train-share", train_share, 0, 0, 100),
    F("--threads", threads, 0, 1, 256),
    F("--max-connections", max_connections, 1, 1, 1000000),
    F("--timeout", timeout_s, 1, 1, 86400),
    F("--request-timeout", request_timeout_s, 0, 1, 86400),
    F("--max-connections-per-ip", max_conn_per_ip, 0, 0, 1000000),
    F("--sse-keepalive", sse_keepalive_s, 0, 1, 3600),
    F("--model-cache", model_cache, 0, 1, 100000),
    F("--max-queued-runs", max_queued_runs, 0, 1, 1000000),
    F("--max-instances", max_instances, 0, 1, 100000000),
    F("--max-json-depth", max_json_depth, 0, 2, 10000),
};
#undef F

static long int_field(const config *c, const int_flag *f)
{
    const char *p = (const char *)c + f->off;
    return f->is_unsigned ? (long)*(const unsigned *)(const void *)p
                          : (long)*(const int *)(const void *)p;
}

static void int_flags_range(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof int_flags / sizeof int_flags[0]; i++) {
        const int_flag *f = &int_flags[i];
        config c;
        char v[32], eq[96], want[160];
        /* both ends of the range, as "--flag N" and "--flag=N" */
        long ends[2] = {f->min, f->max};
        for (int k = 0; k < 2; k++) {
            snprintf(v, sizeof v, "%ld", ends[k]);
            result r = parse1(&c, f->flag, v);
            assert_int_equal(r.rc, 0);
            assert_int_equal(int_field(&c, f), ends[k]);
            snprintf(eq, sizeof eq, "%s=%ld", f->flag, ends[k]);
            r = parse1(&c, eq, NULL);
            assert_int_equal(r.rc, 0);
            assert_int_equal(int_field(&c, f), ends[k]);
        }
        char below[32], above[32];
        snprintf(below, sizeof below, "%ld", f->min - 1);
        snprintf(above, sizeof above, "%ld", f->max + 1);
        const char *bad[] = {below, above, "abc", "7x", "", "1.5", "99999999999999999999"};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            result r = parse1(&c, f->flag, bad[k]);
            assert_int_equal(r.rc, -1);
            snprintf(want, sizeof want, "mlpd: %s: '%s' is not a whole number in %ld..%ld\n",
                     f->flag, bad[k], f->min, f->max);
            assert_string_equal(r.err, want);
        }
    }
}

static void size_flags(void **state)
{
    (void)state;
    static const struct {
        const char *flag;
        size_t off;
    } flags[] = {
        {"--max-body", offsetof(config, max_body)},
        {"--max-upload", offsetof(config, max_upload)},
        {"--max-params", offsetof(config, max_params)},
        {"--max-train-memory", offsetof(config, max_train_memory)},
        {"--min-free-disk", offsetof(config, min_free_disk)},
        {"--model-cache-bytes", offsetof(config, model_cache_bytes)},
    };
    static const struct {
        const char *text;
        size_t bytes;
    } good[] = {
        {"4096", 4096},     {"64k", 64u << 10}, {"64K", 64u << 10}, {"8M", 8u << 20},
        {"8m", 8u << 20},   {"1G", 1u << 30},   {"2MiB", 2u << 20}, {"3MB", 3u << 20},
        {"5KiB", 5u << 10}, {"1", 1},
    };
    const char *bad[] = {
        "0", "-1", "1T", "1MX", "", "abc", "M", "1 M", "99999999999999999999G", "17179869184G"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        config c;
        for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
            result r = parse1(&c, flags[i].flag, good[k].text);
            assert_int_equal(r.rc, 0);
            assert_int_equal(*(const size_t *)(const void *)((const char *)&c + flags[i].off),
                             good[k].bytes);
        }
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            result r = parse1(&c, flags[i].flag, bad[k]);
            assert_int_equal(r.rc, -1);
            char want[160];
            snprintf(want, sizeof want,
                     "mlpd: %s: '%s' is not a positive size (e.g. 4096, 8M, 1G)\n", flags[i].flag,
                     bad[k]);
            assert_string_equal(r.err, want);
        }
    }
}

static void rate_flag(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse1(&c, "--rate-limit", "50/s").rc, 0);
    assert_true(c.rate_limit == 50);
    assert_int_equal(parse1(&c, "--rate-limit=2.5", NULL).rc, 0);
    assert_true(c.rate_limit == 2.5);
    const char *bad[] = {"0", "-1", "50/m", "abc", "2e9", "nan", "", "/s", "5/s/s"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        result r = parse1(&c, "--rate-limit", bad[k]);
        assert_int_equal(r.rc, -1);
        char want[160];
        snprintf(want, sizeof want,
                 "mlpd: --rate-limit: '%s' is not a positive rate such as 50/s\n", bad[k]);
        assert_string_equal(r.err, want);
    }
}

/* The --quota-* flags: counts >= 0 (0 = unlimited, the default) with size suffixes, and their
 * MLPD_QUOTA_* twins. */
static void quota_flags(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_args(&c, NULL, NULL).rc, 0);
    assert_true(c.quota_storage_bytes == 0 && c.quota_active_runs == 0 &&
                c.quota_train_seconds_per_day == 0 && c.quota_models == 0 &&
                c.quota_predict_per_second == 0);
    assert_int_equal(parse_args(&c,
                                ARGS("--quota-storage-bytes", "64M", "--quota-active-runs", "3",
                                     "--quota-train-seconds-per-day", "3600", "--quota-models", "0",
                                     "--quota-predict-per-second", "20"),
                                NULL)
                         .rc,
                     0);
    assert_true(c.quota_storage_bytes == 64LL << 20);
    assert_true(c.quota_active_runs == 3);
    assert_true(c.quota_train_seconds_per_day == 3600);
    assert_true(c.quota_models == 0);
    assert_true(c.quota_predict_per_second == 20);
    setenv("MLPD_QUOTA_MODELS", "5", 1);
    assert_int_equal(parse_args(&c, NULL, NULL).rc, 0);
    assert_true(c.quota_models == 5);
    assert_int_equal(parse1(&c, "--quota-models", "6").rc, 0); /* the flag wins */
    assert_true(c.quota_models == 6);
    unsetenv("MLPD_QUOTA_MODELS");
    const char *bad[] = {"-1", "abc", "", "5x", "1.5"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        result r = parse1(&c, "--quota-active-runs", bad[k]);
        assert_int_equal(r.rc, -1);
        assert_contains(r.err, "is not a count >= 0");
    }
}

static void listen_forms(void **state)
{
    (void)state;
    static const struct {
        const char *arg, *host;
        int port;
    } good[] = {
        {"0.0.0.0:9000", "0.0.0.0", 9000}, {"127.0.0.1:0", "127.0.0.1", 0},
        {"[::1]:8081", "::1", 8081},       {"[::]:65535", "::", 65535},
        {"localhost:80", "localhost", 80}, {"mlpd.example.org:443", "mlpd.example.org", 443},
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        config c;
        result r = parse1(&c, "--listen", good[k].arg);
        assert_int_equal(r.rc, 0);
        assert_string_equal(c.host, good[k].host);
        assert_int_equal(c.port, good[k].port);
    }
    const char *bad[] = {"8080",    ":8080", "host:", "host:70000", "host:-1",  "host:80x",
                         "[::1:80", "[]:80", "[::1]", "host",       "[::1]x:80"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        config c;
        result r = parse1(&c, "--listen", bad[k]);
        assert_int_equal(r.rc, -1);
        char want[160];
        snprintf(want, sizeof want,
                 "mlpd: --listen: '%s' is not HOST:PORT ([ADDR]:PORT for IPv6)\n", bad[k]);
        assert_string_equal(r.err, want);
    }
    config c;
    result r = parse1(&c, "--listen", "::1:8080");
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err, "mlpd: --listen: '::1:8080': an IPv6 address goes in brackets, as "
                               "[::1]:8080\n");
    char longhost[128];
    memset(longhost, 'h', 70);
    snprintf(longhost + 70, sizeof longhost - 70, ":80");
    assert_int_equal(parse1(&c, "--listen", longhost).rc, -1);
}

static void strings_and_switches(void **state)
{
    (void)state;
    config c;
    assert_int_equal(parse_args(&c,
                                ARGS("--data-dir", "/tmp/d", "--port-file=/tmp/p", "--quiet",
                                     "--insecure", "--public-predict", "migrate"),
                                NULL)
                         .rc,
                     0);
    assert_string_equal(c.data_dir, "/tmp/d");
    assert_string_equal(c.port_file, "/tmp/p");
    assert_int_equal(c.quiet, 1);
    assert_int_equal(c.insecure, 1);
    assert_int_equal(c.public_predict, 1);
    assert_int_equal(c.migrate_only, 1);

    char long_dir[600];
    memset(long_dir, 'd', sizeof long_dir - 1);
    long_dir[sizeof long_dir - 1] = '\0';
    result r = parse1(&c, "--data-dir", long_dir);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err, "mlpd: --data-dir: value too long\n");

    r = parse1(&c, "--frobnicate", NULL);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err, "mlpd: unknown argument '--frobnicate' (see mlpd --help)\n");
    /* a flag's name is matched whole: a longer or shorter spelling is unknown */
    r = parse1(&c, "--worker", "2");
    assert_int_equal(r.rc, -1);
    assert_contains(r.err, "unknown argument '--worker'");
    r = parse1(&c, "--workers", NULL);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err, "mlpd: --workers needs a value\n");
    /* --max-connections-per-ip is not --max-connections with a suffix */
    assert_int_equal(parse1(&c, "--max-connections-per-ip", "0").rc, 0);
    assert_int_equal(c.max_conn_per_ip, 0);
    assert_int_equal(c.max_connections, 1000);

    r = parse1(&c, "--help", NULL);
    assert_int_equal(r.rc, 1);
    assert_contains(r.out, "usage: mlpd");
    assert_contains(r.out, "--train-share PERCENT");
    assert_contains(r.out, "env MLPD_API_KEYS");
    r = parse1(&c, "-h", NULL);
    assert_int_equal(r.rc, 1);
    r = parse1(&c, "--version", NULL);
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.out, "mlpd 0.1.0\n");
}

static void environment_twins(void **state)
{
    (void)state;
    config c;
    setenv("MLPD_WORKERS", "3", 1);
    setenv("MLPD_LISTEN", "[::1]:9001", 1);
    setenv("MLPD_MAX_BODY", "1M", 1);
    setenv("MLPD_RATE_LIMIT", "7/s", 1);
    setenv("MLPD_TRAIN_SHARE", "0", 1);
    setenv("MLPD_MODEL_CACHE_BYTES", "64M", 1);
    assert_int_equal(parse_args(&c, NULL, NULL).rc, 0);
    assert_int_equal(c.model_cache_bytes, 64u << 20);
    assert_int_equal(c.workers, 3);
    assert_true(c.workers_set);
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 9001);
    assert_int_equal(c.max_body, 1u << 20);
    assert_true(c.rate_limit == 7);
    assert_int_equal(c.train_share, 0);
    /* the flag wins over its twin */
    assert_int_equal(parse1(&c, "--workers", "5").rc, 0);
    assert_int_equal(c.workers, 5);
    /* an empty variable is unset */
    setenv("MLPD_WORKERS", "", 1);
    assert_int_equal(parse_args(&c, NULL, NULL).rc, 0);
    assert_int_equal(c.workers, CONFIG_WORKERS);
    assert_false(c.workers_set);
    /* a bad value names the flag and the variable */
    setenv("MLPD_WORKERS", "65", 1);
    result r = parse_args(&c, NULL, NULL);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err, "mlpd: --workers: '65' is not a whole number in 1..64\n"
                               "mlpd: (from environment variable MLPD_WORKERS)\n");
    clear_env(NULL);

    /* switches: "0" and "false" are off, anything else on */
    const struct {
        const char *v;
        int on;
    } sw[] = {{"1", 1}, {"yes", 1}, {"0", 0}, {"false", 0}};
    for (size_t k = 0; k < sizeof sw / sizeof sw[0]; k++) {
        setenv("MLPD_INSECURE", sw[k].v, 1);
        assert_int_equal(parse_args(&c, NULL, NULL).rc, 0);
        assert_int_equal(c.insecure, sw[k].on);
    }
    clear_env(NULL);
}

static void api_keys_and_lists(void **state)
{
    (void)state;
    config c;
    /* MLPD_API_KEYS: a ','-separated list, wiped in place and dropped from the environment */
    setenv("MLPD_API_KEYS", "k1:admin,k2:predict", 1);
    char *live = getenv("MLPD_API_KEYS");
    assert_int_equal(parse_args(&c, NULL, NULL).rc, 0);
    assert_string_equal(c.api_keys, "k1:admin,k2:predict");
    assert_null(getenv("MLPD_API_KEYS"));
    assert_string_equal(live, "xxxxxxxxxxxxxxxxxxx");

    /* --api-key repeats, joined with ','; its argv copy is wiped */
    char after[4][128];
    char *after_p[4] = {after[0], after[1], after[2], after[3]};
    assert_int_equal(parse_args(&c, ARGS("--api-key", "a:admin", "--api-key=b:train"), after_p).rc,
                     0);
    assert_string_equal(c.api_keys, "a:admin,b:train");
    assert_string_equal(after[1], "xxxxxxx");
    assert_string_equal(after[2], "--api-key=xxxxxxx");

    /* the flags replace the environment's list, they do not extend it */
    setenv("MLPD_API_KEYS", "env:admin", 1);
    setenv("MLPD_CORS_ORIGINS", "https://a.example,https://b.example", 1);
    assert_int_equal(parse_args(&c, ARGS("--api-key", "flag:predict"), NULL).rc, 0);
    assert_string_equal(c.api_keys, "flag:predict");
    assert_string_equal(c.cors_origins, "https://a.example,https://b.example");
    assert_int_equal(
        parse_args(&c, ARGS("--cors-origin", "*", "--cors-origin", "https://c"), NULL).rc, 0);
    assert_string_equal(c.cors_origins, "*,https://c");
    clear_env(NULL);

    /* too many values: the list's size in bytes is the bound */
    static char big[3000];
    memset(big, 'k', sizeof big - 1);
    result r = parse_args(&c, ARGS("--api-key", big, "--api-key", big), NULL);
    assert_int_equal(r.rc, -1);
    assert_string_equal(r.err, "mlpd: --api-key: too many values (4095 bytes at most in all)\n");
}

static void loopback(void **state)
{
    (void)state;
    const char *yes[] = {"127.0.0.1", "127.5.6.7", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"};
    const char *no[] = {"0.0.0.0",     "10.0.0.1", "192.168.1.1",         "::", "[::]",
                        "2001:db8::1", "",         "no-such-host.invalid"};
    for (size_t k = 0; k < sizeof yes / sizeof yes[0]; k++)
        if (!config_is_loopback(yes[k])) fail_msg("%s should be loopback", yes[k]);
    for (size_t k = 0; k < sizeof no / sizeof no[0]; k++)
        if (config_is_loopback(no[k])) fail_msg("%s should not be loopback", no[k]);

    int lo = -1;
    char e[128] = "";
    assert_int_equal(config_resolve("no-such-host.invalid", &lo, e, sizeof e), -1);
    assert_int_equal(lo, 0);
    assert_true(e[0] != '\0');
    assert_int_equal(config_resolve("", &lo, e, sizeof e), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(config_resolve("[::1]", &lo, e, sizeof e), 0);
    assert_int_equal(lo, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults, clear_env),
        cmocka_unit_test_setup(int_flags_range, clear_env),
        cmocka_unit_test_setup(size_flags, clear_env),
        cmocka_unit_test_setup(rate_flag, clear_env),
        cmocka_unit_test_setup(quota_flags, clear_env),
        cmocka_unit_test_setup(listen_forms, clear_env),
        cmocka_unit_test_setup(strings_and_switches, clear_env),
        cmocka_unit_test_setup(environment_twins, clear_env),
        cmocka_unit_test_setup(api_keys_and_lists, clear_env),
        cmocka_unit_test_setup(loopback, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
