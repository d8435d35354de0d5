/* store_int.h — private to the SQLite backend of store.h (server/store*.c and server/migrate.c;
 * nothing else includes it). It holds what every resource file shares: the store struct, the
 * connection pool and transactions (store.c), the bound-parameter query helpers ("binder"),
 * row-reading helpers (store_collect reads a query's rows into a list), and the one mapping
 * from SQLite result codes to mlp_err.
 *
 * A resource file (store_datasets.c, store_runs.c, store_models.c) implements its part of
 * store.h as: store_tx_begin, queries through store_prep/store_step/store_exec/store_int64
 * with a format string of bound parameters (never string interpolation), a list's rows read by
 * store_collect with the file's row reader, store_tx_end.
 *
 * Threading: a store_tx belongs to the thread that began it; a write transaction holds the
 * store's write mutex from store_tx_begin to store_tx_end. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "blob.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stddef.h>
#include <sys/types.h>

#define STORE_MAX_CONNS 8
#define STORE_BUSY_MS   10000
#define STORE_NAME_MAX  71 /* store_dataset.name, store_run.model_name, ... hold 72 bytes */
#define STORE_TASK_MAX  15

typedef struct store_conn {
    sqlite3 *db;
    struct store_conn *next;
} store_conn;

struct store {
    char *dir;            /* owned: data dir as given */
    char *db_path;        /* owned: <dir>/mlpd.db */
    blob_store *ds_blobs; /* owned: dataset matrices, <dir>/datasets/ds_N.f32 */
    int lock_fd;          /* <dir>/mlpd.lock, held with a shared flock while open */
    dev_t db_dev;         /* mlpd.db's device and inode once opened: store_file_check */
    ino_t db_ino;
    int version;           /* schema version after migrations */
    pthread_mutex_t mu;    /* guards free_list, n_open */
    pthread_cond_t cv;     /* signalled when a connection is returned */
    store_conn *free_list; /* idle connections */
    int n_open;            /* connections open (idle or borrowed) */
    pthread_mutex_t wmu;   /* held for the whole of every write transaction */
    /* Class mode: owner and visibility of recently asked model names (store_model_access, on
     * every request a student makes to a model), valid while no write has committed since they
     * were read: wgen counts this process's committed write transactions. */
    _Atomic unsigned long long wgen;
    pthread_mutex_t amu; /* guards acache */
    struct store_acache {
        char name[STORE_NAME_MAX + 1];
        unsigned long long gen; /* wgen when read; 0: empty */
        int found;
        store_access a;
    } acache[64];
};

/* One borrowed connection inside one transaction. */
typedef struct {
    store *s;
    store_conn *c;
    sqlite3 *db; /* NULL when no transaction is open */
    int write;
} store_tx;

/* ---- errors ---- */
/* The mlp_err for a failed SQLite call on db (may be NULL) returning rc: SQLITE_FULL or an
 * ENOSPC/EFBIG/EDQUOT system error is MLP_ENOSPC, other I/O and permission failures MLP_EIO,
 * SQLITE_BUSY/LOCKED MLP_EBUSY, SQLITE_CORRUPT/NOTADB MLP_ECORRUPT, SQLITE_CONSTRAINT
 * MLP_ECONFLICT, SQLITE_TOOBIG MLP_ETOOLARGE, SQLITE_NOMEM MLP_ENOMEM, anything else MLP_EIO;
 * SQLITE_OK, SQLITE_ROW and SQLITE_DONE are MLP_OK. */
mlp_err store_sqlite_err(sqlite3 *db, int rc);
/* The same as a failure (never MLP_OK) with err->msg "<what>: <SQLite's message>", naming a
 * full disk and the system error when there is one. */
mlp_err store_db_fail(sqlite3 *db, int rc, mlp_error *err, const char *what);

/* ---- transactions ---- */
/* Borrows a connection and begins a transaction on it: BEGIN IMMEDIATE under the write mutex
 * when write, else a deferred BEGIN. On failure *t is zeroed. */
mlp_err store_tx_begin(store *s, int write, store_tx *t, mlp_error *err);
/* A write transaction whose commit is not synced to disk (synchronous=NORMAL under WAL, for this
 * transaction only): a crash of the process keeps it, a power loss may drop it and any other
 * lazy ones after the last synced commit (every ordinary commit syncs the whole log, these
 * included). Only for what the store can lose and redo: a run's epoch progress (it then resumes
 * from an earlier checkpoint). */
mlp_err store_tx_begin_lazy(store *s, store_tx *t, mlp_error *err);
/* Commits when e is MLP_OK (returning the commit's result), else rolls back and returns e;
 * returns the connection. A no-op returning e on an ended or zeroed t, so an `out:` label may
 * call it again. */
mlp_err store_tx_end(store_tx *t, mlp_err e, mlp_error *err);

/* ---- the binder: fmt describes the bound arguments, one letter each: 'i' int, 'I' long long,
 * 't' const char * (NULL binds NULL), 'd' double (non-finite binds NULL), 'b' const void * +
 * size_t (NULL binds NULL). Borrowed values must outlive the statement's use. ---- */
/* Prepares sql on t's connection and binds the arguments. *st new (sqlite3_finalize). */
mlp_err store_prep(store_tx *t, mlp_error *err, sqlite3_stmt **st, const char *sql, const char *fmt,
                   ...);
/* Steps st: 1 for a row, 0 when done, -1 on error (*e set). */
int store_step(store_tx *t, sqlite3_stmt *st, mlp_err *e, mlp_error *err);
/* Runs a statement that returns no rows. *changes (may be NULL) gets sqlite3_changes. */
mlp_err store_exec(store_tx *t, mlp_error *err, int *changes, const char *sql, const char *fmt,
                   ...);
/* One integer from a single-row query; MLP_ENOTFOUND when it returns no row. */
mlp_err store_int64(store_tx *t, mlp_error *err, long long *out, const char *sql, const char *fmt,
                    ...);

/* ---- rows and values ---- */
/* Text column i into buf ("" for NULL), truncated to n. */
void store_col_str(sqlite3_stmt *st, int i, char *buf, size_t n);
/* A copy of text column i (new), or NULL when the column is NULL; *oom set on allocation
 * failure. */
char *store_col_dup(sqlite3_stmt *st, int i, int *oom);
/* Real column i, NaN for NULL. */
double store_col_double(sqlite3_stmt *st, int i);
/* Grows *p (elements of size elem, new ones zeroed) to hold at least need; 0 on allocation
 * failure. */
int store_grow(void **p, int *cap, int need, size_t elem);
/* Reads one row of st into the zeroed element elem: MLP_OK keeps it, MLP_ENOTFOUND leaves it
 * out (the row does not belong in the list), anything else stops the list with that error
 * (elem must then still be safe to clear). */
typedef mlp_err (*store_row_fn)(sqlite3_stmt *st, void *elem);
/* Steps st to its end, reading each row with from_row into a new array of elem_size-byte
 * elements: *items (new, allocated even for no rows, so an empty list is not NULL) and *n.
 * On failure *items and *n still describe the elements read, including the one whose from_row
 * failed, for the caller to free as it frees a list; st is left for the caller to finalize. */
mlp_err store_collect(store_tx *t, sqlite3_stmt *st, size_t elem_size, store_row_fn from_row,
                      void **items, int *n);
/* The end of a list read in one transaction: when e (the result so far) is MLP_OK, st's rows
 * through store_collect; then st is finalized and t ended with the outcome. On success the
 * array is handed over in *items (new) and *n; on failure it is freed with free_items (NULL:
 * free(), for elements that own nothing), *items is NULL and the error returned. */
mlp_err store_list(store_tx *t, sqlite3_stmt *st, mlp_err e, size_t elem_size,
                   store_row_fn from_row, void (*free_items)(void *items, int n), void **items,
                   int *n);
/* "ds_12" with prefix "ds_" -> 12. 0 when malformed (ids start at 1). */
long long store_parse_id(const char *s, const char *prefix);
/* 1 when s is 1 to max bytes. */
int store_name_ok(const char *s, size_t max);

/* ---- shared between resource files ---- */
/* The checks of a new model version (store_models.c), MLP_EINVAL with err->msg. */
mlp_err store_model_check(const char *name, const char *task, int input_dim, int output_dim,
                          const char *meta_json, const void *blob, size_t blob_len, mlp_error *err);
/* Adds version (last_version + 1) of model `name` inside t (store_models.c); run_id 0 for an
 * imported version. owner_id publishes it: a new name becomes theirs (with their default
 * visibility); an existing one they may not change is MLP_ECONFLICT naming its owner. */
mlp_err store_model_add_tx(store_tx *t, const char *name, long long run_id, long long owner_id,
                           const char *task, int input_dim, int output_dim, const char *meta_json,
                           const void *blob, size_t blob_len, int *version, mlp_error *err);
/* The role of user id inside t (store_models.c); MLP_ENOTFOUND when there is no such user. */
mlp_err store_user_role_tx(store_tx *t, long long id, user_role *out);
/* The SQL of a list's store_view, as a condition on a table aliased x with owner_id and
 * visibility columns (store_models.c states the rules of access.h in SQL): bind
 * store_view_args in this order (fmt STORE_VIEW_FMT) at parameters ?1 to ?4. */
#define STORE_VIEW_SQL                                                                             \
    "(?1 OR x.owner_id = ?2 OR x.visibility = 'public' OR (?3 AND x.visibility = 'class'))"        \
    " AND (?4 IS NULL OR x.owner_id = (SELECT id FROM users WHERE name = ?4))"
#define STORE_VIEW_FMT "iIit"
typedef struct {
    int all;           /* 1: no visibility filter (no viewer, or staff and admin) */
    long long me;      /* the viewer's users.id (0 for anonymous) */
    int class_ok;      /* 1 when the viewer is a signed-in user */
    const char *owner; /* owner name filter, or NULL */
} store_view_args;
store_view_args store_view_of(const store_view *v);
/* Owner id, owner name and visibility, in this order, of a table aliased x (with
 * store_owner_from_row to read them back from column i on). */
#define STORE_OWNER_COLS                                                                           \
    "x.owner_id, COALESCE((SELECT name FROM users WHERE id = x.owner_id), ''), x.visibility"
void store_owner_from_row(sqlite3_stmt *st, int i, long long *id, char *name, size_t n,
                          visibility *vis);

/* ---- quota checks inside another resource's write transaction (store_usage.c) ---- */
/* MLP_EBUSY with err->msg when run r (not yet inserted) would pass q for its owner. */
mlp_err store_quota_run_tx(store_tx *t, const store_run *r, const store_run_quota *q,
                           mlp_error *err);
/* MLP_ENOSPC with err->msg when `bytes` more would bring owner_id past limit (> 0). */
mlp_err store_quota_storage_tx(store_tx *t, long long owner_id, long long bytes, long long limit,
                               mlp_error *err);

#endif
