/* test_ready.c — GET /readyz against the real daemon: 200 {"status":"ready"} on a fresh data
 * dir; 503 {"status":"not_ready","reason"} with Retry-After once mlpd.db is removed or replaced
 * under the running daemon, while the file is intact but the store cannot be read (its datasets
 * table renamed away), and when the data dir's free space is below --min-free-disk; GET
 * /v2/health/ready agrees with it each time, while GET /healthz stays 200 (it only says the
 * process answers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static srv S; /* the test's daemon; the teardown stops it when an assertion ended the test */

static int stop_daemon(void **state)
{
    (void)state;
    srv_cleanup(&S); /* kills a daemon still running */
    memset(&S, 0, sizeof S);
    return 0;
}

/* Asserts GET /readyz answers want ("ready" 200, else 503 whose reason contains reason_part),
 * and that /v2/health/ready and /healthz answer what goes with it. */
static void expect_ready(srv *s, int want_ready, const char *reason_part)
{
    hresp r;
    long st = http_do(s, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
    json_t *j = hresp_json(&r);
    assert_non_null(j);
    if (want_ready) {
        assert_int_equal(st, 200);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    } else {
        assert_int_equal(st, 503);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "not_ready");
        const char *why = json_string_value(json_object_get(j, "reason"));
        assert_non_null(why);
        if (!strstr(why, reason_part)) fail_msg("reason '%s' lacks '%s'", why, reason_part);
        assert_string_not_equal(r.retry_after, "");
    }
    json_decref(j);
    hresp_free(&r);

    j = get_json(s, "/v2/health/ready", &st);
    assert_non_null(j);
    if (want_ready) {
        assert_int_equal(st, 200);
        assert_true(json_is_true(json_object_get(j, "ready")));
    } else {
        assert_int_equal(st, 503);
        const char *e = json_string_value(json_object_get(j, "error"));
        assert_non_null(e);
        if (!strstr(e, reason_part)) fail_msg("v2 error '%s' lacks '%s'", e, reason_part);
    }
    json_decref(j);

    j = get_json(s, "/healthz", &st);
    assert_int_equal(st, 200);
    json_decref(j);
}

static void ready_until_the_database_is_removed(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&S, NULL), 0);
    expect_ready(&S, 1, NULL);
    char db[300];
    snprintf(db, sizeof db, "%s/mlpd.db", S.dir);
    assert_int_equal(unlink(db), 0);
    expect_ready(&S, 0, "mlpd.db");
    assert_int_equal(srv_stop(&S, 15), 0);
}

/* Runs one statement on the daemon's database from this process (a second connection, as
 * another tool would). */
static void db_exec(const srv *s, const char *sql)
{
    char db[300];
    snprintf(db, sizeof db, "%s/mlpd.db", s->dir);
    sqlite3 *h = NULL;
    char *err = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", err ? err : sqlite3_errstr(rc));
        sqlite3_free(err);
        sqlite3_close(h);
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(h);
}

/* The file keeps a valid SQLite header, so only the store query can tell. */
static void not_ready_while_the_store_cannot_be_read(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&S, NULL), 0);
    expect_ready(&S, 1, NULL);
    db_exec(&S, "ALTER TABLE datasets RENAME TO datasets_x");
    expect_ready(&S, 0, "the store cannot be read");
    db_exec(&S, "ALTER TABLE datasets_x RENAME TO datasets");
    expect_ready(&S, 1, NULL);
    assert_int_equal(srv_stop(&S, 15), 0);
}

/* A valid copy renamed over mlpd.db: the daemon's connections still use the old file, so the
 * store query succeeds and only the file's identity can tell. */
static void not_ready_once_the_database_is_replaced(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&S, NULL), 0);
    expect_ready(&S, 1, NULL);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "cp '%s/mlpd.db' '%s/mlpd.db.new' && mv '%s/mlpd.db.new' '%s/mlpd.db'", S.dir, S.dir,
             S.dir, S.dir);
    assert_int_equal(system(cmd), 0);
    expect_ready(&S, 0, "replaced");
    assert_int_equal(srv_stop(&S, 15), 0);
}

/* 1000000G (about 1 EB) is more than any test machine's disk has free. */
static void not_ready_below_the_free_disk_floor(void **state)
{
    (void)state;
    const char *const huge[] = {"--min-free-disk", "1000000G", NULL};
    assert_int_equal(srv_start(&S, huge), 0);
    expect_ready(&S, 0, "--min-free-disk");
    assert_int_equal(srv_stop(&S, 15), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(ready_until_the_database_is_removed, stop_daemon),
        cmocka_unit_test_teardown(not_ready_once_the_database_is_replaced, stop_daemon),
        cmocka_unit_test_teardown(not_ready_while_the_store_cannot_be_read, stop_daemon),
        cmocka_unit_test_teardown(not_ready_below_the_free_disk_floor, stop_daemon),
    };
    return cmocka_run_group_tests_name("e2e/ready", tests, NULL, NULL);
}
