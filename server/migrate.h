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
 * them; *version (may be NULL) is the version afterwards. */
mlp_err migrate_apply(struct sqlite3 *db, int *applied, int *version, mlp_error *err);

#endif
