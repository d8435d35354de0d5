/* migrate.c — applies the numbered SQL migrations (see migrate.h). Each pending migration runs
 * inside its own BEGIN IMMEDIATE transaction together with the insert of its row into
 * schema_migrations, and the current version is read inside that same transaction, so two
 * processes opening one database at once cannot both apply a migration, and a failure leaves
 * the database at the previous version. Part of the SQLite backend: errors go through the
 * store's one SQLite error mapper (store_int.h). */
#include "migrate.h"

#include "store_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int ensure_table(sqlite3 *db)
{
    return sqlite3_exec(db,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY,"
                        " name TEXT NOT NULL,"
                        " applied_at TEXT NOT NULL)",
                        NULL, NULL, NULL);
}

mlp_err migrate_version(sqlite3 *db, int *version, mlp_error *err)
{
    int rc = ensure_table(db);
    if (rc == SQLITE_OK) rc = read_version(db, version);
    if (rc != SQLITE_OK) return store_db_fail(db, rc, err, "reading the schema version");
    return MLP_OK;
}

static void rollback(sqlite3 *db)
{
    /* Some errors (SQLITE_FULL, IOERR, NOMEM) already rolled the transaction back. */
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* Applies m unless the database already has it; *done is set when it ran. */
static mlp_err apply_one(sqlite3 *db, const migration *m, int *done, mlp_error *err)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = MLP_OK;
    int cur = 0;
    char what[160];
    *done = 0;
    snprintf(what, sizeof what, "migration %s failed", m->name);

    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return store_db_fail(db, rc, err, what);
    rc = read_version(db, &cur);
    if (rc != SQLITE_OK) goto fail;
    if (m->version <= cur) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) goto fail;
        return MLP_OK;
    }
    rc = sqlite3_exec(db, m->sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) goto fail;
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO schema_migrations (version, name, applied_at)"
                            " VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) goto fail;
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) goto fail;
    sqlite3_finalize(st);
    st = NULL;
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) goto fail;
    *done = 1;
    return MLP_OK;
fail:
    e = store_db_fail(db, rc, err, what);
    sqlite3_finalize(st);
    rollback(db);
    return e;
}

mlp_err migrate_apply_list(sqlite3 *db, const migration *list, int n, int *applied, int *version,
                           mlp_error *err)
{
    int count = 0, cur = 0;
    mlp_err e;
    if (applied) *applied = 0;
    if (!db || n < 0 || (n > 0 && !list)) return mlp_fail(err, MLP_EINVAL, "no migrations");
    for (int i = 0; i < n; i++) {
        if (list[i].version < 1 || !list[i].name || !list[i].sql ||
            (i > 0 && list[i].version <= list[i - 1].version))
            return mlp_fail(err, MLP_EINVAL,
                            "migration list is not strictly ascending at entry %d (%s)", i,
                            list[i].name ? list[i].name : "unnamed");
    }
    e = migrate_version(db, &cur, err);
    if (e != MLP_OK) return e;
    int newest = n > 0 ? list[n - 1].version : 0;
    if (cur > newest)
        return mlp_fail(err, MLP_ECONFLICT,
                        "database schema version %d is newer than this mlpd knows (%d); "
                        "use a newer mlpd",
                        cur, newest);
    for (int i = 0; i < n; i++) {
        int done = 0;
        e = apply_one(db, &list[i], &done, err);
        if (e != MLP_OK) goto out;
        count += done;
    }
    e = migrate_version(db, &cur, err);
out:
    if (applied) *applied = count;
    if (e == MLP_OK && version) *version = cur;
    return e;
}

mlp_err migrate_apply(sqlite3 *db, int *applied, int *version, mlp_error *err)
{
    return migrate_apply_list(db, mlpd_migrations, mlpd_migrations_count, applied, version, err);
}
