/* store.c — the SQLite backend of store.h: open and close, the connection pool, transactions
 * and the binder (store_int.h), and the sweep of files a crash left behind.
 *
 * DESIGN
 *
 * What the store is. Everything mlpd keeps, behind the calls of store.h, which speak in
 * datasets, runs, metrics and models, never in SQL. Rows live in one SQLite database in WAL mode
 * (<data_dir>/mlpd.db, synchronous=FULL so a committed transaction survives power loss,
 * foreign keys on); bulk bytes that do not belong in a row (dataset matrices) are blobs
 * (blob.h), kept by the local-directory implementation (blob_dir.c) under
 * <data_dir>/datasets/ds_N.f32 in the .f32 format (f32.h). Model bundles and training
 * checkpoints are BLOB columns, so a run's success and its model version commit as one
 * transaction.
 *
 * Durability: a 2xx means durable. A store call that returns MLP_OK for a write has committed
 * it, synced (synchronous=FULL), except a run's per-epoch progress (store_run_epoch: metrics and
 * checkpoint), committed lazily (store_tx_begin_lazy): a process crash keeps it, a power loss
 * may take the last epochs back to the previous synced commit, and the run resumes from there. A
 * new dataset matrix is written to a temporary blob and flushed before the write transaction begins
 * (the heavy I/O holds no lock), then published under its id (rename, directory fsync) inside the
 * transaction that inserts its row: a committed row never names a missing or partial matrix. A
 * failed commit deletes the published blob. Blobs without a row (a crash between publish and
 * commit, a delete whose unlink failed) and temporaries are removed by the first store_open that
 * finds no other process using the directory (a shared flock on <data_dir>/mlpd.lock marks users).
 *
 * Concurrency. A pool of up to STORE_MAX_CONNS connections opened on demand: each call borrows
 * one connection for its whole transaction, so readers never queue behind a writer. Writers
 * also take a process-wide mutex before BEGIN IMMEDIATE, which serialises them without
 * SQLite's sleep-and-retry busy loop (busy_timeout still covers a second process such as
 * `mlpd migrate`).
 *
 * Layout (one resource's SQL per file):
 *   store.h            the contract every caller uses (registry, jobs, api/)
 *   store_int.h        private: struct store, pool, transactions, binder, the error mapper
 *   store.c            this file: open, close, pool, transactions, binder, orphan sweep
 *   store_datasets.c   datasets: rows, columns and levels; matrices through blob.h + f32.h
 *   store_runs.c       runs, metric points and checkpoints
 *   store_models.c     models, versions and aliases
 *   migrate.c          the numbered SQL migrations (migrations/NNNN_*.sql)
 *   blob.h/blob_dir.c  durable blobs by id in a local directory
 *   f32.h/f32.c        the dataset matrix format (no SQL)
 *
 * A second backend (PostgreSQL, several daemons sharing one store) plugs in here by adding
 * files, not by editing callers: store_pg.c (open, close, pool, transactions), store_pg_
 * datasets.c, store_pg_runs.c and store_pg_models.c implementing the same store.h (the build
 * links one backend, or store_open picks one from the data-dir URL and dispatches through a
 * table of these functions), and a blob implementation next to blob_dir.c (an object store or
 * a shared directory) reached through blob.h, so f32.c is reused as is. The handlers in api/,
 * the registry and the job queue only see store.h and do not change. */
#include "store_int.h"

#include "migrate.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- small helpers */

/* "ds_12" with prefix "ds_" -> 12. 0 when malformed (ids start at 1). */
long long store_parse_id(const char *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (!s || strncmp(s, prefix, pl) != 0) return 0;
    const char *p = s + pl;
    if (*p < '1' || *p > '9') return 0;
    long long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > (LLONG_MAX - 9) / 10) return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

int store_name_ok(const char *s, size_t max)
{
    return s && s[0] && strlen(s) <= max;
}

static mlp_err fail_sys(mlp_error *err, int e, const char *what, const char *path)
{
    return mlp_fail(err, blob_errno_err(e), "%s %s: %s", what, path, strerror(e));
}

void store_col_str(sqlite3_stmt *st, int i, char *buf, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
}

/* A copy of text column i, or NULL when the column is NULL. *oom set on allocation failure. */
char *store_col_dup(sqlite3_stmt *st, int i, int *oom)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(st, i);
    char *d = strdup(t ? (const char *)t : "");
    if (!d) *oom = 1;
    return d;
}

double store_col_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Grows *p (elements of size elem) to hold at least need; 0 on allocation failure. */
int store_grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 1;
    int nc = *cap ? *cap : 8;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return 1;
}

mlp_err store_collect(store_tx *t, sqlite3_stmt *st, size_t elem_size, store_row_fn from_row,
                      void **items, int *n)
{
    char *v = NULL;
    int cnt = 0, cap = 0, r;
    mlp_err e = MLP_OK;
    *items = NULL;
    *n = 0;
    if (!store_grow((void **)&v, &cap, 1, elem_size)) return MLP_ENOMEM;
    while ((r = store_step(t, st, &e, NULL)) == 1) {
        if (!store_grow((void **)&v, &cap, cnt + 1, elem_size)) {
            e = MLP_ENOMEM;
            break;
        }
        mlp_err re = from_row(st, v + (size_t)cnt * elem_size);
        if (re == MLP_ENOTFOUND) {
            memset(v + (size_t)cnt * elem_size, 0, elem_size);
            continue;
        }
        cnt++;
        if (re != MLP_OK) {
            e = re;
            break;
        }
    }
    *items = v;
    *n = cnt;
    return e;
}

mlp_err store_list(store_tx *t, sqlite3_stmt *st, mlp_err e, size_t elem_size,
                   store_row_fn from_row, void (*free_items)(void *items, int n), void **items,
                   int *n)
{
    void *v = NULL;
    int cnt = 0;
    *items = NULL;
    *n = 0;
    if (e == MLP_OK) e = store_collect(t, st, elem_size, from_row, &v, &cnt);
    sqlite3_finalize(st);
    e = store_tx_end(t, e, NULL);
    if (e != MLP_OK) {
        if (free_items)
            free_items(v, cnt);
        else
            free(v);
        return e;
    }
    *items = v;
    *n = cnt;
    return MLP_OK;
}

/* malloc for a whole matrix. Where the kernel allows it (transparent huge pages in madvise
 * mode) the buffer is faulted in 2 MiB pages: on virtual machines faulting a large buffer 4 KiB
 * at a time can cost more than reading the file into it. Free with free(). */
static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* ---------------------------------------------------------------- errors, connections,
 * transactions */

mlp_err store_sqlite_err(sqlite3 *db, int rc)
{
    int sys = db ? sqlite3_system_errno(db) : 0;
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return MLP_OK;
    case SQLITE_FULL:
        return MLP_ENOSPC;
    case SQLITE_NOMEM:
        return MLP_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MLP_EBUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return MLP_ECORRUPT;
    case SQLITE_CONSTRAINT:
        return MLP_ECONFLICT;
    case SQLITE_TOOBIG:
        return MLP_ETOOLARGE;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        if (sys == ENOSPC || sys == EFBIG || sys == EDQUOT) return MLP_ENOSPC;
        return MLP_EIO;
    default:
        return MLP_EIO;
    }
}

mlp_err store_db_fail(sqlite3 *db, int rc, mlp_error *err, const char *what)
{
    mlp_err e = store_sqlite_err(db, rc);
    if (e == MLP_OK) e = MLP_EIO;
    int sys = db ? sqlite3_system_errno(db) : 0;
    const char *m = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (e == MLP_ENOSPC) return mlp_fail(err, e, "%s: disk full (%s)", what, m);
    if (sys) return mlp_fail(err, e, "%s: %s (%s)", what, m, strerror(sys));
    return mlp_fail(err, e, "%s: %s", what, m);
}

static mlp_err conn_open(store *s, sqlite3 **out, mlp_error *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    mlp_err e = MLP_OK;
    int rc = sqlite3_open_v2(
        s->db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!db) return mlp_fail(err, MLP_ENOMEM, "opening %s: out of memory", s->db_path);
        char what[600];
        snprintf(what, sizeof what, "cannot open database %s", s->db_path);
        e = store_db_fail(db, rc, err, what);
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_MS);
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        e = store_db_fail(db, rc, err, "cannot switch the database to WAL mode");
        goto out;
    }
    if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        e = mlp_fail(err, MLP_EIO, "database %s cannot use WAL mode (journal mode is %s)",
                     s->db_path, (const char *)sqlite3_column_text(st, 0));
        goto out;
    }
    /* cache_size: 256 KiB per connection instead of SQLite's 2 MiB; the page caches of up to
     * STORE_MAX_CONNS connections (checkpoint blobs pass through them) were most of the idle
     * RSS after a run (bench/RESULTS.md, Daemon). */
    rc =
        sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-256;",
                     NULL, NULL, NULL);
    if (rc != SQLITE_OK) e = store_db_fail(db, rc, err, "configuring the database");
out:
    sqlite3_finalize(st);
    if (e != MLP_OK) {
        sqlite3_close(db);
        return e;
    }
    *out = db;
    return MLP_OK;
}

static mlp_err pool_get(store *s, store_conn **out, mlp_error *err)
{
    pthread_mutex_lock(&s->mu);
    while (!s->free_list && s->n_open >= STORE_MAX_CONNS) pthread_cond_wait(&s->cv, &s->mu);
    store_conn *c = s->free_list;
    if (c) {
        s->free_list = c->next;
        pthread_mutex_unlock(&s->mu);
        *out = c;
        return MLP_OK;
    }
    s->n_open++;
    pthread_mutex_unlock(&s->mu);

    mlp_err e = MLP_ENOMEM;
    c = calloc(1, sizeof *c);
    if (!c)
        mlp_fail(err, e, "out of memory");
    else
        e = conn_open(s, &c->db, err);
    if (e != MLP_OK) {
        free(c);
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return e;
    }
    *out = c;
    return MLP_OK;
}

static void pool_put(store *s, store_conn *c)
{
    /* A statement left unreset would pin an old snapshot: reset everything as a safety net. */
    for (sqlite3_stmt *st = sqlite3_next_stmt(c->db, NULL); st; st = sqlite3_next_stmt(c->db, st))
        sqlite3_reset(st);
    pthread_mutex_lock(&s->mu);
    c->next = s->free_list;
    s->free_list = c;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* A transaction on a pooled connection opened by sql; write: under the writer mutex. */
static mlp_err tx_open(store *s, int write, const char *sql, store_tx *t, mlp_error *err)
{
    memset(t, 0, sizeof *t);
    assert(s);
    if (write) pthread_mutex_lock(&s->wmu);
    mlp_err e = pool_get(s, &t->c, err);
    if (e != MLP_OK) goto fail;
    int rc = sqlite3_exec(t->c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        e = store_db_fail(t->c->db, rc, err, "cannot begin a transaction");
        pool_put(s, t->c);
        goto fail;
    }
    t->s = s;
    t->db = t->c->db;
    t->write = write;
    return MLP_OK;
fail:
    if (write) pthread_mutex_unlock(&s->wmu);
    memset(t, 0, sizeof *t);
    return e;
}

mlp_err store_tx_begin(store *s, int write, store_tx *t, mlp_error *err)
{
    /* a write syncs its commit even on a connection a lazy transaction left at NORMAL */
    return tx_open(s, write, write ? "PRAGMA synchronous=FULL; BEGIN IMMEDIATE" : "BEGIN", t, err);
}

mlp_err store_tx_begin_lazy(store *s, store_tx *t, mlp_error *err)
{
    return tx_open(s, 1, "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE", t, err);
}

/* Commits when e is MLP_OK (returning the commit's result), else rolls back and returns e. */
mlp_err store_tx_end(store_tx *t, mlp_err e, mlp_error *err)
{
    if (!t->db) return e;
    if (e == MLP_OK) {
        int rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) e = store_db_fail(t->db, rc, err, "cannot commit");
    }
    if (!sqlite3_get_autocommit(t->db)) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
    if (t->write && e == MLP_OK) atomic_fetch_add(&t->s->wgen, 1); /* store_model_access cache */
    pool_put(t->s, t->c);
    if (t->write) pthread_mutex_unlock(&t->s->wmu);
    memset(t, 0, sizeof *t);
    return e;
}

/* Binds the arguments described by fmt: 'i' int, 'I' long long, 't' const char * (NULL binds
 * NULL), 'd' double (non-finite binds NULL), 'b' const void * + size_t (NULL binds NULL).
 * Borrowed values must outlive the statement's use. */
static int bindv(sqlite3_stmt *st, const char *fmt, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 1; fmt && *fmt && rc == SQLITE_OK; fmt++, i++) {
        switch (*fmt) {
        case 'i':
            rc = sqlite3_bind_int(st, i, va_arg(ap, int));
            break;
        case 'I':
            rc = sqlite3_bind_int64(st, i, va_arg(ap, long long));
            break;
        case 't': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
            break;
        }
        case 'd': {
            double v = va_arg(ap, double);
            rc = isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
            break;
        }
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = p ? sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC) : sqlite3_bind_null(st, i);
            break;
        }
        default:
            assert(!"bad bind format");
            rc = SQLITE_MISUSE;
        }
    }
    return rc;
}

/* Prepares sql on t's connection and binds the arguments (see bindv). */
mlp_err store_prep(store_tx *t, mlp_error *err, sqlite3_stmt **st, const char *sql, const char *fmt,
                   ...)
{
    assert(t->db && "no transaction open");
    *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, sql, -1, st, NULL);
    if (rc == SQLITE_OK) {
        va_list ap;
        va_start(ap, fmt);
        rc = bindv(*st, fmt, ap);
        va_end(ap);
    }
    if (rc != SQLITE_OK) {
        mlp_err e = store_db_fail(t->db, rc, err, "database error");
        sqlite3_finalize(*st);
        *st = NULL;
        return e;
    }
    return MLP_OK;
}

/* Steps st: 1 for a row, 0 when done, -1 on error (*e set). */
int store_step(store_tx *t, sqlite3_stmt *st, mlp_err *e, mlp_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    *e = store_db_fail(t->db, rc, err, "database error");
    return -1;
}

/* Runs a statement that returns no rows. *changes (may be NULL) gets sqlite3_changes. */
mlp_err store_exec(store_tx *t, mlp_error *err, int *changes, const char *sql, const char *fmt, ...)
{
    assert(t->db && "no transaction open");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        va_list ap;
        va_start(ap, fmt);
        rc = bindv(st, fmt, ap);
        va_end(ap);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    mlp_err e = rc == SQLITE_OK ? MLP_OK : store_db_fail(t->db, rc, err, "database error");
    sqlite3_finalize(st);
    if (e == MLP_OK && changes) *changes = sqlite3_changes(t->db);
    return e;
}

/* One integer from a single-row query; MLP_ENOTFOUND when it returns no row. */
mlp_err store_int64(store_tx *t, mlp_error *err, long long *out, const char *sql, const char *fmt,
                    ...)
{
    assert(t->db && "no transaction open");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        va_list ap;
        va_start(ap, fmt);
        rc = bindv(st, fmt, ap);
        va_end(ap);
    }
    mlp_err e = MLP_OK;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            e = MLP_ENOTFOUND;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) e = store_db_fail(t->db, rc, err, "database error");
    sqlite3_finalize(st);
    return e;
}

/* ---------------------------------------------------------------- open and close */

static mlp_err mkdir_p(const char *path, mlp_error *err)
{
    char *p = strdup(path);
    mlp_err e = MLP_OK;
    if (!p) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
    for (char *q = p + 1; e == MLP_OK; q++) {
        int last = *q == '\0';
        if (*q != '/' && !last) continue;
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            e = fail_sys(err, errno, "cannot create data directory", p);
        else {
            struct stat sb;
            if (stat(p, &sb) != 0)
                e = fail_sys(err, errno, "cannot use data directory", p);
            else if (!S_ISDIR(sb.st_mode))
                e = mlp_fail(err, MLP_EIO, "cannot use data directory %s: not a directory", p);
        }
        if (last) break;
        *q = '/';
    }
    free(p);
    return e;
}

/* blob_sweep's keep: 1 while dataset id has a committed row (or is no dataset id). */
static int ds_has_row(const char *id, void *arg)
{
    long long n = store_parse_id(id, "ds_"), found = 0;
    if (n <= 0) return 1;
    return store_int64(arg, NULL, &found, "SELECT 1 FROM datasets WHERE id = ?1", "I", n) !=
           MLP_ENOTFOUND;
}

/* Removes temporaries and matrices without a committed row. Only called while this store holds
 * the exclusive flock, i.e. no other process has the directory open. Best effort. */
static void cleanup_orphans(store *s)
{
    store_tx t;
    if (store_tx_begin(s, 0, &t, NULL) != MLP_OK) return;
    blob_sweep(s->ds_blobs, ds_has_row, &t);
    store_tx_end(&t, MLP_OK, NULL);
}

mlp_err store_open(const char *data_dir, store **out, mlp_error *err)
{
    store *s = NULL;
    store_conn *c = NULL;
    char *ds_dir = NULL;
    mlp_err e = MLP_OK;
    if (!data_dir || !data_dir[0] || !out)
        return mlp_fail(err, MLP_EINVAL, "no data directory given");
    *out = NULL;
    e = mkdir_p(data_dir, err);
    if (e != MLP_OK) return e;

    s = calloc(1, sizeof *s);
    if (!s) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->wmu, NULL);
    pthread_mutex_init(&s->amu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->dir = strdup(data_dir);
    s->db_path = path_join(data_dir, "mlpd.db");
    ds_dir = path_join(data_dir, "datasets");
    char *lock_path = path_join(data_dir, "mlpd.lock");
    if (!s->dir || !s->db_path || !ds_dir || !lock_path) {
        e = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    if (mkdir(ds_dir, 0755) != 0 && errno != EEXIST) {
        e = fail_sys(err, errno, "cannot create dataset directory", ds_dir);
        goto out;
    }
    e = blob_dir_open(ds_dir, ".f32", "dataset file", &s->ds_blobs, err);
    if (e != MLP_OK) goto out;
    s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        e = fail_sys(err, errno, "cannot write in data directory: opening", lock_path);
        goto out;
    }

    e = pool_get(s, &c, err);
    if (e != MLP_OK) goto out;
    e = migrate_apply(c->db, NULL, &s->version, err);
    pool_put(s, c);
    if (e != MLP_OK) goto out;
    struct stat dbst;
    if (stat(s->db_path, &dbst) != 0) {
        e = fail_sys(err, errno, "cannot stat", s->db_path);
        goto out;
    }
    s->db_dev = dbst.st_dev;
    s->db_ino = dbst.st_ino;

    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) cleanup_orphans(s);
    if (flock(s->lock_fd, LOCK_SH) != 0) {
        e = fail_sys(err, errno, "cannot lock", lock_path);
        goto out;
    }
out:
    free(lock_path);
    free(ds_dir);
    if (e != MLP_OK) {
        store_close(s);
        return e;
    }
    *out = s;
    return MLP_OK;
}

void store_close(store *s)
{
    if (!s) return;
    /* Every call has returned its connection: closing with calls in flight is a caller bug. */
    pthread_mutex_lock(&s->mu);
    store_conn *c = s->free_list;
    s->free_list = NULL;
    pthread_mutex_unlock(&s->mu);
    int closed = 0;
    while (c) {
        store_conn *n = c->next;
        sqlite3_close(c->db);
        free(c);
        c = n;
        closed++;
    }
    assert(closed == s->n_open);
    if (s->lock_fd >= 0) close(s->lock_fd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->amu);
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s->db_path);
    blob_store_free(s->ds_blobs);
    free(s);
}

int store_schema_version(store *s)
{
    return s ? s->version : 0;
}

/* By stat alone: opening and closing mlpd.db here would release every POSIX lock this process
 * holds on it (SQLite's among them), and another process would then take the daemon for gone,
 * checkpoint the WAL and delete it and its -shm under the daemon's open connections. */
mlp_err store_file_check(store *s, mlp_error *err)
{
    struct stat st;
    if (stat(s->db_path, &st) != 0)
        return mlp_fail(err, MLP_EIO, "cannot find mlpd.db in the data dir: %s", strerror(errno));
    if (st.st_dev != s->db_dev || st.st_ino != s->db_ino)
        return mlp_fail(err, MLP_EIO,
                        "mlpd.db in the data dir is not the file the daemon opened (it was "
                        "replaced); restart the daemon");
    return MLP_OK;
}
