/* test_migrate.c — the migration runner: embedded migrations apply once and are recorded, a
 * re-run is a no-op, a failing migration rolls back and is named, bad lists and databases newer
 * than the binary are refused, and SQLite errors map to the right mlp_err codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"
#include "tmpdir.h"
#include "store_int.h" /* the SQLite error mapper, store_sqlite_err */

typedef struct {
    char dir[64];
    char path[128];
    sqlite3 *db;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/mlpd-migrate-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    if (sqlite3_open(f->path, &f->db) != SQLITE_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sqlite3_close(f->db);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static int count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static void embedded_apply_once(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    int applied = -1, version = -1;
    assert_true(mlpd_migrations_count >= 1);
    assert_int_equal(mlpd_migrations[0].version, 1);
    assert_string_equal(mlpd_migrations[0].name, "0001_init");
    assert_null(mlpd_migrations[mlpd_migrations_count].sql);

    assert_int_equal(migrate_apply(f->db, &applied, &version, &err), MLP_OK);
    assert_int_equal(applied, mlpd_migrations_count);
    assert_int_equal(version, mlpd_migrations[mlpd_migrations_count - 1].version);
    assert_int_equal(count(f->db, "SELECT COUNT(*) FROM schema_migrations"), mlpd_migrations_count);
    assert_int_equal(count(f->db,
                           "SELECT COUNT(*) FROM schema_migrations WHERE name = '0001_init' AND "
                           "applied_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*Z'"),
                     1);

    /* Re-running, also from a second connection, changes nothing. */
    sqlite3 *db2 = NULL;
    assert_int_equal(sqlite3_open(f->path, &db2), SQLITE_OK);
    applied = -1;
    assert_int_equal(migrate_apply(db2, &applied, &version, &err), MLP_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(version, mlpd_migrations[mlpd_migrations_count - 1].version);
    sqlite3_close(db2);
    assert_int_equal(migrate_apply(f->db, &applied, NULL, NULL), MLP_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(count(f->db, "SELECT COUNT(*) FROM schema_migrations"), mlpd_migrations_count);
    int v = -1;
    assert_int_equal(migrate_version(f->db, &v, NULL), MLP_OK);
    assert_int_equal(v, version);
}

static void schema_has_tables(void **state)
{
    fixture *f = *state;
    static const char *const tables[] = {
        "schema_migrations", "datasets", "dataset_columns", "dataset_levels", "runs", "run_metrics",
        "run_checkpoints",   "models",   "model_versions",  "model_aliases"};
    assert_false(has_table(f->db, "datasets"));
    assert_int_equal(migrate_apply(f->db, NULL, NULL, NULL), MLP_OK);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if (!has_table(f->db, tables[i])) fail_msg("table %s is missing", tables[i]);
    }
    /* The metric points are unique per (run, name, step). */
    assert_int_equal(
        sqlite3_exec(f->db,
                     "INSERT INTO runs (task, dataset_id, model_name, request_json,"
                     " epochs, created_at) VALUES ('regression', 1, 'm', '{}', 3, 'x');"
                     "INSERT INTO run_metrics VALUES (1, 'train_loss', 1, 0.5, 't')",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->db,
                                  "INSERT INTO run_metrics VALUES (1, 'train_loss', 1, 0.4, 't')",
                                  NULL, NULL, NULL) &
                         0xff,
                     SQLITE_CONSTRAINT);
}

static void failing_migration_rolls_back(void **state)
{
    fixture *f = *state;
    const migration good[] = {
        {1, "0001_a", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
        {2, "0002_b", "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (2);"},
    };
    const migration bad[] = {
        good[0],
        {2, "0002_b",
         "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (2); INSERT INTO nope VALUES (3);"},
        {3, "0003_c", "CREATE TABLE c (z INTEGER);"},
    };
    mlp_error err = {0};
    int applied = -1, version = -1;
    assert_int_equal(migrate_apply_list(f->db, bad, 3, &applied, &version, &err), MLP_EIO);
    assert_int_equal(applied, 1);
    assert_non_null(strstr(err.msg, "0002_b"));
    assert_non_null(strstr(err.msg, "nope"));
    /* 0001 stays, 0002 left nothing behind, 0003 never ran, no transaction is left open. */
    assert_true(has_table(f->db, "a"));
    assert_false(has_table(f->db, "b"));
    assert_false(has_table(f->db, "c"));
    assert_true(sqlite3_get_autocommit(f->db));
    assert_int_equal(migrate_version(f->db, &version, NULL), MLP_OK);
    assert_int_equal(version, 1);

    memset(&err, 0, sizeof err);
    assert_int_equal(migrate_apply_list(f->db, good, 2, &applied, &version, &err), MLP_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(version, 2);
    assert_int_equal(count(f->db, "SELECT y FROM b"), 2);
    assert_int_equal(count(f->db, "SELECT COUNT(*) FROM a"), 1);
}

static void bad_lists_and_newer_database(void **state)
{
    fixture *f = *state;
    const migration unordered[] = {{2, "0002_x", "SELECT 1;"}, {1, "0001_y", "SELECT 1;"}};
    const migration dup[] = {{1, "0001_x", "SELECT 1;"}, {1, "0001_y", "SELECT 1;"}};
    const migration zero[] = {{0, "0000_x", "SELECT 1;"}};
    const migration one[] = {{1, "0001_x", "CREATE TABLE x (a);"}};
    const migration two[] = {one[0], {2, "0002_y", "CREATE TABLE y (a);"}};
    mlp_error err = {0};
    assert_int_equal(migrate_apply_list(f->db, unordered, 2, NULL, NULL, &err), MLP_EINVAL);
    assert_int_equal(migrate_apply_list(f->db, dup, 2, NULL, NULL, &err), MLP_EINVAL);
    assert_int_equal(migrate_apply_list(f->db, zero, 1, NULL, NULL, &err), MLP_EINVAL);
    assert_int_equal(migrate_apply_list(NULL, one, 1, NULL, NULL, &err), MLP_EINVAL);
    assert_false(has_table(f->db, "x"));

    int version = 0;
    assert_int_equal(migrate_apply_list(f->db, two, 2, NULL, &version, &err), MLP_OK);
    assert_int_equal(version, 2);
    /* An older binary (knowing only 0001) must not touch a version-2 database. */
    memset(&err, 0, sizeof err);
    assert_int_equal(migrate_apply_list(f->db, one, 1, NULL, NULL, &err), MLP_ECONFLICT);
    assert_non_null(strstr(err.msg, "newer"));
}

static void sqlite_errors_map(void **state)
{
    (void)state;
    assert_int_equal(store_sqlite_err(NULL, SQLITE_OK), MLP_OK);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_FULL), MLP_ENOSPC);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_IOERR_WRITE), MLP_EIO);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_CANTOPEN), MLP_EIO);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_READONLY), MLP_EIO);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_BUSY), MLP_EBUSY);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_CORRUPT), MLP_ECORRUPT);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_NOTADB), MLP_ECORRUPT);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_CONSTRAINT_UNIQUE), MLP_ECONFLICT);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_NOMEM), MLP_ENOMEM);
    assert_int_equal(store_sqlite_err(NULL, SQLITE_ERROR), MLP_EIO);
}

static void not_a_database(void **state)
{
    fixture *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/junk.db", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++) fputc('J', fp);
    fclose(fp);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    mlp_error err = {0};
    assert_int_equal(migrate_apply(db, NULL, NULL, &err), MLP_ECORRUPT);
    assert_true(err.msg[0] != '\0');
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(embedded_apply_once, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_has_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_migration_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_lists_and_newer_database, setup, teardown),
        cmocka_unit_test(sqlite_errors_map),
        cmocka_unit_test_setup_teardown(not_a_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
