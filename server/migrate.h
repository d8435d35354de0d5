/* migrate.h — the numbered SQL migrations compiled into the binary (build/gen/migrations.c is
 * generated from migrations/NNNN_name.sql by scripts/embed-migrations.sh) and their runner.
 *
 * Each migration runs once, in order, inside one transaction that also records its version in
 * the schema_migrations table.
 * Threading: call with a connection no other thread uses. */
#ifndef MIGRATE_H
#define MIGRATE_H

#include "mlp.h"

typedef struct {
    int version;      /* NNNN of the file name */
    const char *name; /* "0001_init" */
    const char *sql;  /* the file's text */
} migration;

extern const migration mlpd_migrations[]; /* ascending, terminated by {0, 0, 0} */
extern const int mlpd_migrations_count;

struct sqlite3;
/* Applies every migration newer than the database's version. *applied (may be NULL) counts
 * them; *version (may be NULL) is the version afterwards. A failing migration is rolled back
 * (earlier ones stay applied) and err->msg names it. A database whose version is newer than
 * the newest migration known is MLP_ECONFLICT (an older mlpd must not touch it). */
mlp_err migrate_apply(struct sqlite3 *db, int *applied, int *version, mlp_error *err);
/* The same with an explicit list of n migrations (strictly ascending versions >= 1, else
 * MLP_EINVAL); migrate_apply passes mlpd_migrations. Borrows list. */
mlp_err migrate_apply_list(struct sqlite3 *db, const migration *list, int n, int *applied,
                           int *version, mlp_error *err);
/* The version recorded in db (0 for a new database) into *version. */
mlp_err migrate_version(struct sqlite3 *db, int *version, mlp_error *err);

#endif
