/* store.c — the SQLite backend of store.h. One database in WAL mode (<data_dir>/mlpd.db,
 * synchronous=FULL so a committed transaction survives power loss, foreign keys on) reached
 * through a pool of up to STORE_MAX_CONNS connections opened on demand: each call borrows one
 * connection for its whole transaction, so readers never queue behind a writer. Writers also
 * take a process-wide mutex before BEGIN IMMEDIATE, which serialises them without SQLite's
 * sleep-and-retry busy loop (busy_timeout still covers a second process such as `mlpd
 * migrate`). Dataset matrices live in <data_dir>/datasets/ds_N.f32: a 32-byte header (magic,
 * rows, cols as little-endian u64) and the little-endian float32 matrix. A new matrix goes to a
 * temporary file that is fsynced, renamed into place and its directory fsynced inside the write
 * transaction that inserts its row, so the row never names a missing or partial file. Files
 * left by a crash (temporaries, matrices whose row never committed or was deleted) are removed
 * by the first store_open that finds no other process using the directory (a shared flock on
 * <data_dir>/mlpd.lock marks users). */
#include "store.h"

#include "migrate.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
/* SHA-256 through the low-level SHA256_* calls (deprecated in OpenSSL 3, not removed): the same
 * SHA-NI/AVX code as EVP, without EVP's provider and config initialisation, which kept ~2 MB of
 * libcrypto resident in an idle daemon (bench/RESULTS.md, Daemon). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STORE_MAX_CONNS 8
#define STORE_BUSY_MS   10000
#define DS_HEADER_BYTES 32
#define DS_MAGIC        "MLPDF32\n"
#define STORE_NAME_MAX  71 /* store_dataset.name, store_run.model_name, ... hold 72 bytes */
#define STORE_TASK_MAX  15

typedef struct conn {
    sqlite3 *db;
    struct conn *next;
} conn;

struct store {
    char *dir;     /* owned: data dir as given */
    char *db_path; /* owned: <dir>/mlpd.db */
    char *ds_dir;  /* owned: <dir>/datasets */
    int lock_fd;   /* <dir>/mlpd.lock, held with a shared flock while open */
    dev_t db_dev;  /* mlpd.db's device and inode once opened: store_file_check */
    ino_t db_ino;
    int version;        /* schema version after migrations */
    pthread_mutex_t mu; /* guards free_list, n_open, tmp_seq */
    pthread_cond_t cv;  /* signalled when a connection is returned */
    conn *free_list;    /* idle connections */
    int n_open;         /* connections open (idle or borrowed) */
    unsigned long tmp_seq;
    pthread_mutex_t wmu; /* held for the whole of every write transaction */
};

/* One borrowed connection inside one transaction. */
typedef struct {
    store *s;
    conn *c;
    sqlite3 *db;
    int write;
} tx;

/* ---------------------------------------------------------------- small helpers */

static void now_rfc3339(char *buf, size_t n, int millis)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (millis) {
        char base[24];
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, n, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000) % 1000u);
    } else {
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
}

/* "ds_12" with prefix "ds_" -> 12. 0 when malformed (ids start at 1). */
static long long parse_id(const char *s, const char *prefix)
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

static int name_ok(const char *s, size_t max)
{
    return s && s[0] && strlen(s) <= max;
}

static mlp_err sys_err(int e)
{
    if (e == ENOSPC || e == EDQUOT || e == EFBIG) return MLP_ENOSPC;
    if (e == ENOMEM) return MLP_ENOMEM;
    return MLP_EIO;
}

static mlp_err fail_sys(mlp_error *err, int e, const char *what, const char *path)
{
    return mlp_fail(err, sys_err(e), "%s %s: %s", what, path, strerror(e));
}

/* The same for a file a request writes: the message may become an HTTP error detail, so it
 * names the file inside the data dir only; the full path goes to the log. */
static mlp_err fail_file(mlp_error *err, int e, const char *what, const char *path)
{
    const char *slash = strrchr(path, '/');
    fprintf(stderr, "mlpd: %s %s: %s\n", what, path, strerror(e));
    return mlp_fail(err, sys_err(e), "%s %s: %s", what, slash ? slash + 1 : path, strerror(e));
}

static void col_str(sqlite3_stmt *st, int i, char *buf, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
}

/* A copy of text column i, or NULL when the column is NULL. *oom set on allocation failure. */
static char *col_dup(sqlite3_stmt *st, int i, int *oom)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return NULL;
    const unsigned char *t = sqlite3_column_text(st, i);
    char *d = strdup(t ? (const char *)t : "");
    if (!d) *oom = 1;
    return d;
}

static double col_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Grows *p (elements of size elem) to hold at least need; 0 on allocation failure. */
static int grow(void **p, int *cap, int need, size_t elem)
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

/* malloc for a whole matrix. Where the kernel allows it (transparent huge pages in madvise
 * mode) the buffer is faulted in 2 MiB pages: on virtual machines faulting a large buffer 4 KiB
 * at a time can cost more than reading the file into it. Free with free(). */
static void *big_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (p && n >= 4 * huge) {
        uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
        if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice only: errors ignored */
    }
#endif
    return p;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* ---------------------------------------------------------------- connections and transactions */

static mlp_err db_fail(sqlite3 *db, int rc, mlp_error *err, const char *what)
{
    mlp_err e = migrate_sqlite_err(db, rc);
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
        e = db_fail(db, rc, err, what);
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_MS);
    rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        e = db_fail(db, rc, err, "cannot switch the database to WAL mode");
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
    if (rc != SQLITE_OK) e = db_fail(db, rc, err, "configuring the database");
out:
    sqlite3_finalize(st);
    if (e != MLP_OK) {
        sqlite3_close(db);
        return e;
    }
    *out = db;
    return MLP_OK;
}

static mlp_err pool_get(store *s, conn **out, mlp_error *err)
{
    pthread_mutex_lock(&s->mu);
    while (!s->free_list && s->n_open >= STORE_MAX_CONNS) pthread_cond_wait(&s->cv, &s->mu);
    conn *c = s->free_list;
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

static void pool_put(store *s, conn *c)
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

static mlp_err tx_begin(store *s, int write, tx *t, mlp_error *err)
{
    memset(t, 0, sizeof *t);
    assert(s);
    if (write) pthread_mutex_lock(&s->wmu);
    mlp_err e = pool_get(s, &t->c, err);
    if (e != MLP_OK) goto fail;
    int rc = sqlite3_exec(t->c->db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        e = db_fail(t->c->db, rc, err, "cannot begin a transaction");
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

/* Commits when e is MLP_OK (returning the commit's result), else rolls back and returns e. */
static mlp_err tx_end(tx *t, mlp_err e, mlp_error *err)
{
    if (!t->db) return e;
    if (e == MLP_OK) {
        int rc = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) e = db_fail(t->db, rc, err, "cannot commit");
    }
    if (!sqlite3_get_autocommit(t->db)) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
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
static mlp_err q_prep(tx *t, mlp_error *err, sqlite3_stmt **st, const char *sql, const char *fmt,
                      ...)
{
    *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, sql, -1, st, NULL);
    if (rc == SQLITE_OK) {
        va_list ap;
        va_start(ap, fmt);
        rc = bindv(*st, fmt, ap);
        va_end(ap);
    }
    if (rc != SQLITE_OK) {
        mlp_err e = db_fail(t->db, rc, err, "database error");
        sqlite3_finalize(*st);
        *st = NULL;
        return e;
    }
    return MLP_OK;
}

/* Steps st: 1 for a row, 0 when done, -1 on error (*e set). */
static int q_step(tx *t, sqlite3_stmt *st, mlp_err *e, mlp_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    *e = db_fail(t->db, rc, err, "database error");
    return -1;
}

/* Runs a statement that returns no rows. *changes (may be NULL) gets sqlite3_changes. */
static mlp_err q_exec(tx *t, mlp_error *err, int *changes, const char *sql, const char *fmt, ...)
{
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
    mlp_err e = rc == SQLITE_OK ? MLP_OK : db_fail(t->db, rc, err, "database error");
    sqlite3_finalize(st);
    if (e == MLP_OK && changes) *changes = sqlite3_changes(t->db);
    return e;
}

/* One integer from a single-row query; MLP_ENOTFOUND when it returns no row. */
static mlp_err q_int64(tx *t, mlp_error *err, long long *out, const char *sql, const char *fmt, ...)
{
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
    if (rc != SQLITE_OK) e = db_fail(t->db, rc, err, "database error");
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

/* Removes temporaries and matrices without a committed row. Only called while this store holds
 * the exclusive flock, i.e. no other process has the directory open. Best effort. */
static void cleanup_orphans(store *s)
{
    DIR *d = opendir(s->ds_dir);
    if (!d) return;
    tx t;
    if (tx_begin(s, 0, &t, NULL) != MLP_OK) {
        closedir(d);
        return;
    }
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        int orphan = strncmp(n, ".tmp-", 5) == 0;
        if (!orphan && strncmp(n, "ds_", 3) == 0) {
            size_t len = strlen(n);
            char idbuf[32];
            if (len < 5 || len - 4 >= sizeof idbuf || strcmp(n + len - 4, ".f32") != 0) continue;
            memcpy(idbuf, n, len - 4);
            idbuf[len - 4] = '\0';
            long long id = parse_id(idbuf, "ds_"), found = 0;
            if (id <= 0) continue;
            mlp_err e = q_int64(&t, NULL, &found, "SELECT 1 FROM datasets WHERE id = ?1", "I", id);
            orphan = e == MLP_ENOTFOUND;
        }
        if (orphan && unlinkat(dirfd(d), n, 0) == 0) removed++;
    }
    closedir(d);
    tx_end(&t, MLP_OK, NULL);
    if (removed) fsync_dir(s->ds_dir);
}

mlp_err store_open(const char *data_dir, store **out, mlp_error *err)
{
    store *s = NULL;
    conn *c = NULL;
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
    pthread_cond_init(&s->cv, NULL);
    s->dir = strdup(data_dir);
    s->db_path = path_join(data_dir, "mlpd.db");
    s->ds_dir = path_join(data_dir, "datasets");
    char *lock_path = path_join(data_dir, "mlpd.lock");
    if (!s->dir || !s->db_path || !s->ds_dir || !lock_path) {
        e = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    if (mkdir(s->ds_dir, 0755) != 0 && errno != EEXIST) {
        e = fail_sys(err, errno, "cannot create dataset directory", s->ds_dir);
        goto out;
    }
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
    conn *c = s->free_list;
    s->free_list = NULL;
    pthread_mutex_unlock(&s->mu);
    int closed = 0;
    while (c) {
        conn *n = c->next;
        sqlite3_close(c->db);
        free(c);
        c = n;
        closed++;
    }
    assert(closed == s->n_open);
    if (s->lock_fd >= 0) close(s->lock_fd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->wmu);
    pthread_mutex_destroy(&s->mu);
    free(s->dir);
    free(s->db_path);
    free(s->ds_dir);
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

/* ---------------------------------------------------------------- dataset files */

static void ds_file_name(char *buf, size_t n, long long id)
{
    snprintf(buf, n, "ds_%lld.f32", id);
}

static void put_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* float32 <-> little-endian bytes, n values. */
static void floats_to_le(unsigned char *dst, const float *src, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, src, n * sizeof(float));
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        for (int b = 0; b < 4; b++) dst[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
#endif
}

static void floats_from_le_inplace(float *v, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)v;
    (void)n;
#else
    unsigned char *p = (unsigned char *)v;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&v[i], &u, 4);
    }
#endif
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes at off; -1 with errno set (EIO-like short read reported as ENODATA). */
static int pread_all(int fd, void *buf, size_t n, off_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = ENODATA;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static void hex(char *out, const unsigned char *d, unsigned n)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

#define DS_IO_ALIGN 4096              /* O_DIRECT offset, length and buffer alignment */
#define DS_IO_CHUNK ((size_t)4 << 20) /* bytes per write, a multiple of DS_IO_ALIGN */

/* Writes buf[0..len) at file offset off (the current offset). On a file opened with O_DIRECT
 * (*direct) that the file system refuses for this write (EINVAL), drops O_DIRECT and writes the
 * chunk again buffered. -1 with errno set on failure. */
static int write_chunk(int fd, int *direct, const unsigned char *buf, size_t len, off_t off)
{
    if (write_all(fd, buf, len) == 0) return 0;
    if (!*direct || errno != EINVAL) return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0 || lseek(fd, off, SEEK_SET) < 0) return -1;
    *direct = 0;
    return write_all(fd, buf, len);
}

/* Writes header + matrix of t to a new file at path and fsyncs it; sha256 of the matrix. The
 * bytes go through one aligned 4 MiB buffer, hashed as they are copied in, and are written with
 * O_DIRECT where the file system allows it: no page-cache copy of hundreds of MB (the upload's
 * biggest cost after parsing; bench/RESULTS.md, Daemon) and little left for fsync to flush. The
 * last chunk is padded to the alignment and the file truncated to its exact size. */
static mlp_err ds_write_file(const char *path, const ds_table *t, char sha[65], mlp_error *err)
{
    mlp_err e = MLP_OK;
    unsigned char *buf = NULL;
    SHA256_CTX md;
    int direct = 1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
    if (fd < 0 && errno == EINVAL) { /* no O_DIRECT on this file system */
        direct = 0;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) return fail_file(err, errno, "cannot create dataset file", path);

    size_t total = (size_t)t->rows * (size_t)t->cols;
    size_t bytes = DS_HEADER_BYTES + total * 4;
    size_t cap = (bytes + DS_IO_ALIGN - 1) / DS_IO_ALIGN * DS_IO_ALIGN;
    if (cap > DS_IO_CHUNK) cap = DS_IO_CHUNK;
    void *mem = NULL;
    if (posix_memalign(&mem, DS_IO_ALIGN, cap) == 0) buf = mem;
    if (!buf || !SHA256_Init(&md)) {
        e = mlp_fail(err, MLP_ENOMEM, "out of memory hashing the dataset");
        goto out;
    }
    memset(buf, 0, DS_HEADER_BYTES);
    memcpy(buf, DS_MAGIC, 8);
    put_u64le(buf + 8, (uint64_t)t->rows);
    put_u64le(buf + 16, (uint64_t)t->cols);
    size_t fill = DS_HEADER_BYTES, done = 0;
    off_t off = 0;
    for (;;) {
        size_t n = (cap - fill) / 4;
        if (n > total - done) n = total - done;
        floats_to_le(buf + fill, t->data + done, n);
        if (!SHA256_Update(&md, buf + fill, n * 4)) {
            e = mlp_fail(err, MLP_EIO, "SHA-256 failed");
            goto out;
        }
        fill += n * 4;
        done += n;
        if (fill < cap && done < total) continue;
        size_t len = (fill + DS_IO_ALIGN - 1) / DS_IO_ALIGN * DS_IO_ALIGN; /* pad the last one */
        memset(buf + fill, 0, len - fill);
        if (write_chunk(fd, &direct, buf, len, off) != 0) {
            e = fail_file(err, errno, "cannot write dataset file", path);
            goto out;
        }
        off += (off_t)len;
        fill = 0;
        if (done == total) break;
    }
    if ((size_t)off != bytes && ftruncate(fd, (off_t)bytes) != 0) {
        e = fail_file(err, errno, "cannot write dataset file", path);
        goto out;
    }
    unsigned char dig[SHA256_DIGEST_LENGTH];
    if (!SHA256_Final(dig, &md)) {
        e = mlp_fail(err, MLP_EIO, "SHA-256 failed");
        goto out;
    }
    hex(sha, dig, 32);
    if (fsync(fd) != 0) {
        e = fail_file(err, errno, "cannot fsync dataset file", path);
        goto out;
    }
out:
    if (close(fd) != 0 && e == MLP_OK) e = fail_file(err, errno, "cannot close dataset file", path);
    free(buf);
    if (e != MLP_OK) unlink(path);
    return e;
}

/* Opens the matrix file of dataset id and checks its header against rows x cols. */
static mlp_err ds_open_file(store *s, long long id, long rows, int cols, int *fd_out)
{
    char name[48];
    ds_file_name(name, sizeof name, id);
    int dfd = open(s->ds_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return sys_err(errno);
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    int oe = errno;
    close(dfd);
    if (fd < 0) return oe == ENOENT ? MLP_ENOTFOUND : sys_err(oe);
    unsigned char hdr[DS_HEADER_BYTES];
    struct stat sb;
    mlp_err e = MLP_OK;
    if (fstat(fd, &sb) != 0 || pread_all(fd, hdr, sizeof hdr, 0) != 0)
        e = errno == ENODATA ? MLP_ECORRUPT : sys_err(errno);
    else if (memcmp(hdr, DS_MAGIC, 8) != 0 || get_u64le(hdr + 8) != (uint64_t)rows ||
             get_u64le(hdr + 16) != (uint64_t)cols ||
             (unsigned long long)sb.st_size !=
                 DS_HEADER_BYTES + (unsigned long long)rows * (unsigned long long)cols * 4)
        e = MLP_ECORRUPT;
    if (e != MLP_OK) {
        close(fd);
        return e;
    }
    *fd_out = fd;
    return MLP_OK;
}

/* ---------------------------------------------------------------- datasets */

#define DS_COLS_SQL "SELECT id, name, rows, cols, bytes, sha256, created_at FROM datasets"

static void ds_from_row(sqlite3_stmt *st, store_dataset *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "ds_%lld", (long long)sqlite3_column_int64(st, 0));
    col_str(st, 1, d->name, sizeof d->name);
    d->rows = (long)sqlite3_column_int64(st, 2);
    d->cols = sqlite3_column_int(st, 3);
    d->bytes = sqlite3_column_int64(st, 4);
    col_str(st, 5, d->sha256, sizeof d->sha256);
    col_str(st, 6, d->created_at, sizeof d->created_at);
}

static mlp_err ds_get_tx(tx *t, long long id, store_dataset *out, mlp_error *err)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = q_prep(t, err, &st, DS_COLS_SQL " WHERE id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = q_step(t, st, &e, err);
    if (r == 1)
        ds_from_row(st, out);
    else if (r == 0)
        e = MLP_ENOTFOUND;
    sqlite3_finalize(st);
    return e;
}

/* Columns (with levels, no data) of dataset id into a new table. */
static mlp_err ds_load_columns(tx *t, long long id, long rows, int cols, ds_table **out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = MLP_OK;
    int oom = 0;
    ds_table *tb = calloc(1, sizeof *tb);
    if (!tb) return MLP_ENOMEM;
    tb->rows = rows;
    tb->columns = calloc((size_t)cols, sizeof *tb->columns);
    if (!tb->columns) {
        e = MLP_ENOMEM;
        goto out;
    }
    tb->cols = cols;
    e = q_prep(t, NULL, &st,
               "SELECT idx, name, type, min, max, mean, std, n_levels, first_text_row"
               " FROM dataset_columns WHERE dataset_id = ?1 ORDER BY idx",
               "I", id);
    if (e != MLP_OK) goto out;
    int i = 0, r;
    while ((r = q_step(t, st, &e, NULL)) == 1) {
        if (i >= cols || sqlite3_column_int(st, 0) != i) {
            e = MLP_ECORRUPT;
            goto out;
        }
        ds_column *c = &tb->columns[i++];
        c->name = col_dup(st, 1, &oom);
        const unsigned char *type = sqlite3_column_text(st, 2);
        c->type =
            type && strcmp((const char *)type, "categorical") == 0 ? COL_CATEGORICAL : COL_NUMERIC;
        c->min = col_double(st, 3);
        c->max = col_double(st, 4);
        c->mean = col_double(st, 5);
        c->std = col_double(st, 6);
        int nl = sqlite3_column_int(st, 7);
        c->first_text_row = (long)sqlite3_column_int64(st, 8);
        if (nl > 0) {
            c->levels = calloc((size_t)nl, sizeof *c->levels);
            if (!c->levels)
                oom = 1;
            else
                c->n_levels = nl;
        }
        if (oom || !c->name) {
            e = MLP_ENOMEM;
            goto out;
        }
    }
    if (r < 0) goto out;
    if (i != cols) {
        e = MLP_ECORRUPT;
        goto out;
    }
    sqlite3_finalize(st);
    e = q_prep(t, NULL, &st,
               "SELECT col, idx, value FROM dataset_levels WHERE dataset_id = ?1"
               " ORDER BY col, idx",
               "I", id);
    if (e != MLP_OK) goto out;
    while ((r = q_step(t, st, &e, NULL)) == 1) {
        int ci = sqlite3_column_int(st, 0), li = sqlite3_column_int(st, 1);
        if (ci < 0 || ci >= cols || li < 0 || li >= tb->columns[ci].n_levels ||
            tb->columns[ci].levels[li]) {
            e = MLP_ECORRUPT;
            goto out;
        }
        tb->columns[ci].levels[li] = col_dup(st, 2, &oom);
        if (oom || !tb->columns[ci].levels[li]) {
            e = MLP_ENOMEM;
            goto out;
        }
    }
    if (r < 0) goto out;
    for (int c = 0; c < cols; c++)
        for (int l = 0; l < tb->columns[c].n_levels; l++)
            if (!tb->columns[c].levels[l]) e = MLP_ECORRUPT;
out:
    sqlite3_finalize(st);
    if (e != MLP_OK) {
        ds_table_free(tb);
        return e;
    }
    *out = tb;
    return MLP_OK;
}

static mlp_err ds_check_table(const char *name, const ds_table *t, mlp_error *err)
{
    if (!name_ok(name, STORE_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "dataset name must be 1 to %d bytes", STORE_NAME_MAX);
    if (!t || t->rows < 0 || t->cols < 1 || !t->columns || (t->rows > 0 && !t->data))
        return mlp_fail(err, MLP_EINVAL, "dataset table is empty or incomplete");
    if ((unsigned long long)t->rows > (unsigned long long)LLONG_MAX / 4 / (unsigned)t->cols ||
        (unsigned long long)t->rows * (unsigned)t->cols > SIZE_MAX / 4)
        return mlp_fail(err, MLP_ETOOLARGE, "dataset of %ld x %d values is too large", t->rows,
                        t->cols);
    for (int i = 0; i < t->cols; i++) {
        const ds_column *c = &t->columns[i];
        if (!c->name || c->n_levels < 0 || (c->n_levels > 0 && !c->levels))
            return mlp_fail(err, MLP_EINVAL, "dataset column %d is incomplete", i + 1);
        for (int l = 0; l < c->n_levels; l++)
            if (!c->levels[l])
                return mlp_fail(err, MLP_EINVAL, "dataset column %d has a missing level", i + 1);
    }
    return MLP_OK;
}

static mlp_err ds_insert_meta(tx *t, long long id, const ds_table *tb, mlp_error *err)
{
    sqlite3_stmt *cs = NULL, *ls = NULL;
    mlp_err e = q_prep(t, err, &cs,
                       "INSERT INTO dataset_columns (dataset_id, idx, name, type, min, max, mean,"
                       " std, n_levels, first_text_row) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                       NULL);
    if (e == MLP_OK)
        e = q_prep(t, err, &ls,
                   "INSERT INTO dataset_levels (dataset_id, col, idx, value) VALUES (?1,?2,?3,?4)",
                   NULL);
    for (int i = 0; e == MLP_OK && i < tb->cols; i++) {
        const ds_column *c = &tb->columns[i];
        int num = c->type == COL_NUMERIC;
        sqlite3_reset(cs);
        sqlite3_bind_int64(cs, 1, id);
        sqlite3_bind_int(cs, 2, i);
        sqlite3_bind_text(cs, 3, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(cs, 4, num ? "numeric" : "categorical", -1, SQLITE_STATIC);
        double st4[4] = {c->min, c->max, c->mean, c->std};
        for (int k = 0; k < 4; k++) {
            if (num && isfinite(st4[k]))
                sqlite3_bind_double(cs, 5 + k, st4[k]);
            else
                sqlite3_bind_null(cs, 5 + k);
        }
        sqlite3_bind_int(cs, 9, c->n_levels);
        sqlite3_bind_int64(cs, 10, c->first_text_row);
        if (q_step(t, cs, &e, err) < 0) break;
        for (int l = 0; l < c->n_levels; l++) {
            sqlite3_reset(ls);
            sqlite3_bind_int64(ls, 1, id);
            sqlite3_bind_int(ls, 2, i);
            sqlite3_bind_int(ls, 3, l);
            sqlite3_bind_text(ls, 4, c->levels[l], -1, SQLITE_STATIC);
            if (q_step(t, ls, &e, err) < 0) break;
        }
    }
    sqlite3_finalize(cs);
    sqlite3_finalize(ls);
    return e;
}

mlp_err store_dataset_create(store *s, const char *name, const ds_table *t, store_dataset *out,
                             mlp_error *err)
{
    char tmp_name[64], final_name[48], sha[65], created[32];
    char *tmp_path = NULL, *final_path = NULL;
    int renamed = 0;
    tx x = {0};
    mlp_err e = ds_check_table(name, t, err);
    if (e != MLP_OK) return e;

    pthread_mutex_lock(&s->mu);
    unsigned long seq = ++s->tmp_seq;
    pthread_mutex_unlock(&s->mu);
    snprintf(tmp_name, sizeof tmp_name, ".tmp-%ld-%lu.f32", (long)getpid(), seq);
    tmp_path = path_join(s->ds_dir, tmp_name);
    if (!tmp_path) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    /* The heavy I/O happens before the write transaction, so other writers are not held up. */
    e = ds_write_file(tmp_path, t, sha, err);
    if (e != MLP_OK) goto out;

    e = tx_begin(s, 1, &x, err);
    if (e != MLP_OK) goto out;
    now_rfc3339(created, sizeof created, 0);
    long long bytes = (long long)t->rows * t->cols * 4;
    e = q_exec(&x, err, NULL,
               "INSERT INTO datasets (name, rows, cols, bytes, sha256, created_at)"
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
               "tIiItt", name, (long long)t->rows, t->cols, bytes, sha, created);
    if (e != MLP_OK) goto out;
    long long id = sqlite3_last_insert_rowid(x.db);
    e = ds_insert_meta(&x, id, t, err);
    if (e != MLP_OK) goto out;
    ds_file_name(final_name, sizeof final_name, id);
    final_path = path_join(s->ds_dir, final_name);
    if (!final_path) {
        e = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    if (rename(tmp_path, final_path) != 0) {
        e = fail_file(err, errno, "cannot rename dataset file to", final_path);
        goto out;
    }
    renamed = 1;
    if (fsync_dir(s->ds_dir) != 0) {
        e = fail_file(err, errno, "cannot fsync directory", s->ds_dir);
        goto out;
    }
    e = tx_end(&x, MLP_OK, err);
    if (e == MLP_OK && out) {
        memset(out, 0, sizeof *out);
        snprintf(out->id, sizeof out->id, "ds_%lld", id);
        snprintf(out->name, sizeof out->name, "%s", name);
        out->rows = t->rows;
        out->cols = t->cols;
        out->bytes = bytes;
        memcpy(out->sha256, sha, sizeof out->sha256);
        memcpy(out->created_at, created, sizeof out->created_at);
    }
out:
    e = tx_end(&x, e, err);
    if (e != MLP_OK) {
        /* No committed row names the file: remove whichever name it has. */
        if (renamed)
            unlink(final_path);
        else
            unlink(tmp_path);
    }
    free(tmp_path);
    free(final_path);
    return e;
}

mlp_err store_dataset_get(store *s, const char *id, store_dataset *out, ds_table **cols_out)
{
    tx t;
    store_dataset d;
    long long n = parse_id(id, "ds_");
    if (cols_out) *cols_out = NULL;
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = ds_get_tx(&t, n, &d, NULL);
    if (e == MLP_OK && cols_out) e = ds_load_columns(&t, n, d.rows, d.cols, cols_out);
    e = tx_end(&t, e, NULL);
    if (e == MLP_OK && out) *out = d;
    if (e != MLP_OK && cols_out && *cols_out) {
        ds_table_free(*cols_out);
        *cols_out = NULL;
    }
    return e;
}

mlp_err store_dataset_load(store *s, const char *id, ds_table **out)
{
    store_dataset d;
    ds_table *tb = NULL;
    int fd = -1;
    *out = NULL;
    mlp_err e = store_dataset_get(s, id, &d, &tb);
    if (e != MLP_OK) return e;
    e = ds_open_file(s, parse_id(id, "ds_"), d.rows, d.cols, &fd);
    if (e != MLP_OK) goto out;
    size_t n = (size_t)d.rows * (size_t)d.cols;
    tb->data = big_alloc(n * 4);
    if (!tb->data) {
        e = MLP_ENOMEM;
        goto out;
    }
    if (n && pread_all(fd, tb->data, n * 4, DS_HEADER_BYTES) != 0) {
        e = errno == ENODATA ? MLP_ECORRUPT : sys_err(errno);
        goto out;
    }
    /* The file holds little-endian bytes: hash them before converting. */
    unsigned char dig[SHA256_DIGEST_LENGTH];
    char sha[65];
    SHA256_CTX md;
    if (!SHA256_Init(&md) || !SHA256_Update(&md, tb->data, n * 4) || !SHA256_Final(dig, &md)) {
        e = MLP_ENOMEM;
        goto out;
    }
    hex(sha, dig, 32);
    if (strcmp(sha, d.sha256) != 0) {
        e = MLP_ECORRUPT;
        goto out;
    }
    floats_from_le_inplace(tb->data, n);
out:
    if (fd >= 0) close(fd);
    if (e != MLP_OK) {
        ds_table_free(tb);
        return e;
    }
    *out = tb;
    return MLP_OK;
}

mlp_err store_dataset_read_rows(store *s, const char *id, long offset, long limit, float **vals,
                                long *n_rows)
{
    store_dataset d;
    int fd = -1;
    float *v = NULL;
    *vals = NULL;
    *n_rows = 0;
    if (offset < 0 || limit < 0) return MLP_EINVAL;
    mlp_err e = store_dataset_get(s, id, &d, NULL);
    if (e != MLP_OK) return e;
    long n = 0;
    if (offset < d.rows) n = limit < d.rows - offset ? limit : d.rows - offset;
    size_t cells = (size_t)n * (size_t)d.cols;
    v = big_alloc(cells * 4);
    if (!v) return MLP_ENOMEM;
    if (cells) {
        e = ds_open_file(s, parse_id(id, "ds_"), d.rows, d.cols, &fd);
        if (e != MLP_OK) goto out;
        off_t off = DS_HEADER_BYTES + (off_t)offset * d.cols * 4;
        if (pread_all(fd, v, cells * 4, off) != 0) {
            e = errno == ENODATA ? MLP_ECORRUPT : sys_err(errno);
            goto out;
        }
        floats_from_le_inplace(v, cells);
    }
out:
    if (fd >= 0) close(fd);
    if (e != MLP_OK) {
        free(v);
        return e;
    }
    *vals = v;
    *n_rows = n;
    return MLP_OK;
}

mlp_err store_dataset_list(store *s, int limit, int offset, store_dataset **items, int *n,
                           long *total)
{
    tx t;
    sqlite3_stmt *st = NULL;
    store_dataset *v = NULL;
    int cnt = 0, cap = 0, r;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0) return MLP_EINVAL;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM datasets", NULL);
    if (e == MLP_OK)
        e = q_prep(&t, NULL, &st, DS_COLS_SQL " ORDER BY id DESC LIMIT ?1 OFFSET ?2", "ii", limit,
                   offset);
    if (e != MLP_OK) goto out;
    if (!grow((void **)&v, &cap, 1, sizeof *v)) {
        e = MLP_ENOMEM;
        goto out;
    }
    while ((r = q_step(&t, st, &e, NULL)) == 1) {
        if (!grow((void **)&v, &cap, cnt + 1, sizeof *v)) {
            e = MLP_ENOMEM;
            goto out;
        }
        ds_from_row(st, &v[cnt++]);
    }
out:
    sqlite3_finalize(st);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        free(v);
        return e;
    }
    *items = v;
    *n = cnt;
    if (total) *total = (long)tot;
    return MLP_OK;
}

mlp_err store_dataset_delete(store *s, const char *id, mlp_error *err)
{
    tx t;
    long long n = parse_id(id, "ds_"), run = 0;
    char name[48];
    if (n <= 0) return mlp_fail(err, MLP_ENOTFOUND, "dataset %s not found", id ? id : "(null)");
    mlp_err e = tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    int changes = 0;
    e = q_int64(&t, err, &run,
                "SELECT id FROM runs WHERE status IN ('queued', 'running')"
                " AND (dataset_id = ?1 OR val_dataset_id = ?1) ORDER BY id LIMIT 1",
                "I", n);
    if (e == MLP_OK) {
        e = mlp_fail(err, MLP_ECONFLICT,
                     "dataset %s is used by run run_%lld, which is queued or "
                     "running",
                     id, run);
    } else if (e == MLP_ENOTFOUND) {
        e = q_exec(&t, err, &changes, "DELETE FROM datasets WHERE id = ?1", "I", n);
        if (e == MLP_OK && changes == 0)
            e = mlp_fail(err, MLP_ENOTFOUND, "dataset %s not found", id);
    }
    e = tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    /* The row is gone; a file that cannot be removed now is an orphan removed at the next open. */
    ds_file_name(name, sizeof name, n);
    char *path = path_join(s->ds_dir, name);
    if (path && unlink(path) == 0) fsync_dir(s->ds_dir);
    free(path);
    return MLP_OK;
}

/* ---------------------------------------------------------------- runs */

void store_run_clear(store_run *r)
{
    if (!r) return;
    free(r->request_json);
    free(r->error);
    r->request_json = NULL;
    r->error = NULL;
}

void store_runs_free(store_run *items, int n)
{
    if (!items) return;
    for (int i = 0; i < n; i++) store_run_clear(&items[i]);
    free(items);
}

#define RUN_COLS_SQL                                                                               \
    "SELECT id, status, task, dataset_id, val_dataset_id, model_name, experiment, request_json,"   \
    " epoch, epochs, error, model_version, created_at, started_at, finished_at,"                   \
    " cancel_requested, resumes, COALESCE(resumed_from_epoch, 0) FROM runs"

/* Fills r from a RUN_COLS_SQL row (owned strings new). MLP_ENOMEM or MLP_ECORRUPT. */
static mlp_err run_from_row(sqlite3_stmt *st, store_run *r)
{
    int oom = 0;
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "run_%lld", (long long)sqlite3_column_int64(st, 0));
    const char *status = (const char *)sqlite3_column_text(st, 1);
    mlp_err e = run_state_parse(status, &r->status) == MLP_OK ? MLP_OK : MLP_ECORRUPT;
    col_str(st, 2, r->task, sizeof r->task);
    snprintf(r->dataset_id, sizeof r->dataset_id, "ds_%lld",
             (long long)sqlite3_column_int64(st, 3));
    if (sqlite3_column_type(st, 4) != SQLITE_NULL)
        snprintf(r->val_dataset_id, sizeof r->val_dataset_id, "ds_%lld",
                 (long long)sqlite3_column_int64(st, 4));
    col_str(st, 5, r->model_name, sizeof r->model_name);
    col_str(st, 6, r->experiment, sizeof r->experiment);
    r->request_json = col_dup(st, 7, &oom);
    r->epoch = sqlite3_column_int(st, 8);
    r->epochs = sqlite3_column_int(st, 9);
    r->error = col_dup(st, 10, &oom);
    r->model_version = sqlite3_column_int(st, 11);
    col_str(st, 12, r->created_at, sizeof r->created_at);
    col_str(st, 13, r->started_at, sizeof r->started_at);
    col_str(st, 14, r->finished_at, sizeof r->finished_at);
    r->cancel_requested = sqlite3_column_int(st, 15);
    r->resumes = sqlite3_column_int(st, 16);
    r->resumed_from_epoch = sqlite3_column_int(st, 17);
    if (oom) e = MLP_ENOMEM;
    if (e != MLP_OK) store_run_clear(r);
    return e;
}

/* r->last from the points of r's current epoch. */
static mlp_err run_load_last(tx *t, store_run *r)
{
    sqlite3_stmt *st = NULL;
    r->last.present = 0;
    if (r->epoch <= 0) return MLP_OK;
    mlp_err e =
        q_prep(t, NULL, &st, "SELECT name, value FROM run_metrics WHERE run_id = ?1 AND step = ?2",
               "Ii", parse_id(r->id, "run_"), r->epoch);
    if (e != MLP_OK) return e;
    int rr;
    while ((rr = q_step(t, st, &e, NULL)) == 1) {
        metric_id m;
        if (metric_parse((const char *)sqlite3_column_text(st, 0), &m) != MLP_OK) continue;
        r->last.v[m] = col_double(st, 1);
        r->last.present |= 1u << m;
    }
    sqlite3_finalize(st);
    return e;
}

static mlp_err run_get_tx(tx *t, long long id, store_run *out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = q_prep(t, NULL, &st, RUN_COLS_SQL " WHERE id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = q_step(t, st, &e, NULL);
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1) e = run_from_row(st, out);
    sqlite3_finalize(st);
    if (e == MLP_OK) {
        e = run_load_last(t, out);
        if (e != MLP_OK) store_run_clear(out);
    }
    return e;
}

/* Runs st (RUN_COLS_SQL rows) into a new array. */
static mlp_err run_collect(tx *t, sqlite3_stmt *st, store_run **items, int *n)
{
    store_run *v = NULL;
    int cnt = 0, cap = 0, r;
    mlp_err e = MLP_OK;
    if (!grow((void **)&v, &cap, 1, sizeof *v)) return MLP_ENOMEM;
    while ((r = q_step(t, st, &e, NULL)) == 1) {
        if (!grow((void **)&v, &cap, cnt + 1, sizeof *v)) {
            e = MLP_ENOMEM;
            break;
        }
        e = run_from_row(st, &v[cnt]);
        if (e != MLP_OK) break;
        cnt++;
    }
    sqlite3_reset(st);
    for (int i = 0; e == MLP_OK && i < cnt; i++) e = run_load_last(t, &v[i]);
    if (e != MLP_OK) {
        store_runs_free(v, cnt);
        return e;
    }
    *items = v;
    *n = cnt;
    return MLP_OK;
}

mlp_err store_run_create(store *s, store_run *r, mlp_error *err)
{
    return store_run_create_limited(s, r, 0, err);
}

mlp_err store_run_create_limited(store *s, store_run *r, int max_queued, mlp_error *err)
{
    tx t;
    long long found = 0;
    long long ds = parse_id(r->dataset_id, "ds_");
    long long vds = r->val_dataset_id[0] ? parse_id(r->val_dataset_id, "ds_") : 0;
    if (!name_ok(r->task, STORE_TASK_MAX))
        return mlp_fail(err, MLP_EINVAL, "run task must be 1 to %d bytes", STORE_TASK_MAX);
    int default_name = r->model_name[0] == '\0'; /* API.md: default "run-{N}" */
    if (!default_name && !name_ok(r->model_name, STORE_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "model_name must be 1 to %d bytes", STORE_NAME_MAX);
    if (strlen(r->experiment) > STORE_NAME_MAX)
        return mlp_fail(err, MLP_EINVAL, "experiment must be at most %d bytes", STORE_NAME_MAX);
    if (!r->request_json) return mlp_fail(err, MLP_EINVAL, "run has no request_json");
    if (r->epochs < 0) return mlp_fail(err, MLP_EINVAL, "epochs must be >= 0");
    if (ds <= 0) return mlp_fail(err, MLP_ENOTFOUND, "dataset %.24s not found", r->dataset_id);
    if (r->val_dataset_id[0] && vds <= 0)
        return mlp_fail(err, MLP_ENOTFOUND, "dataset %.24s not found", r->val_dataset_id);

    char created[32];
    mlp_err e = tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    /* Checked inside the write transaction: a concurrent delete cannot slip in between, nor a
     * concurrent create past the queue limit. */
    if (max_queued > 0) {
        long long queued = 0;
        e = q_int64(&t, err, &queued, "SELECT COUNT(*) FROM runs WHERE status = 'queued'", NULL);
        if (e == MLP_OK && queued >= max_queued)
            e = mlp_fail(err, MLP_EBUSY,
                         "%lld runs are already waiting in the queue (the limit, "
                         "--max-queued-runs); retry later",
                         queued);
    }
    if (e == MLP_OK) e = q_int64(&t, err, &found, "SELECT 1 FROM datasets WHERE id = ?1", "I", ds);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "dataset %.24s not found", r->dataset_id);
    if (e == MLP_OK && vds > 0) {
        e = q_int64(&t, err, &found, "SELECT 1 FROM datasets WHERE id = ?1", "I", vds);
        if (e == MLP_ENOTFOUND) e = mlp_fail(err, e, "dataset %.24s not found", r->val_dataset_id);
    }
    now_rfc3339(created, sizeof created, 0);
    if (e == MLP_OK)
        e = q_exec(&t, err, NULL,
                   "INSERT INTO runs (status, task, dataset_id, val_dataset_id, model_name,"
                   " experiment, request_json, epochs, created_at)"
                   " VALUES ('queued', ?1, ?2, NULLIF(?3, 0), ?4, ?5, ?6, ?7, ?8)",
                   "tIItttit", r->task, ds, vds, r->model_name, r->experiment, r->request_json,
                   r->epochs, created);
    long long id = e == MLP_OK ? sqlite3_last_insert_rowid(t.db) : 0;
    if (e == MLP_OK && default_name)
        e = q_exec(&t, err, NULL, "UPDATE runs SET model_name = 'run-' || ?1 WHERE id = ?1", "I",
                   id);
    e = tx_end(&t, e, err);
    if (e != MLP_OK) return e;
    snprintf(r->id, sizeof r->id, "run_%lld", id);
    if (default_name) snprintf(r->model_name, sizeof r->model_name, "run-%lld", id);
    r->status = RUN_QUEUED;
    r->epoch = 0;
    r->last.present = 0;
    r->model_version = 0;
    memcpy(r->created_at, created, sizeof r->created_at);
    r->started_at[0] = r->finished_at[0] = '\0';
    return MLP_OK;
}

mlp_err store_run_get(store *s, const char *id, store_run *out)
{
    tx t;
    long long n = parse_id(id, "run_");
    memset(out, 0, sizeof *out);
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_get_tx(&t, n, out);
    return tx_end(&t, e, NULL);
}

mlp_err store_run_list(store *s, const run_state *status, const char *experiment,
                       const char *model_name, int limit, int offset, store_run **items, int *n,
                       long *total)
{
    tx t;
    sqlite3_stmt *st = NULL;
    long long tot = 0;
    const char *sn = status ? run_state_name(*status) : NULL;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0 || (status && (unsigned)*status >= RUN_STATE_COUNT))
        return MLP_EINVAL;
#define RUN_FILTER                                                                                 \
    " WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR experiment = ?2)"                       \
    " AND (?3 IS NULL OR model_name = ?3)"
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM runs" RUN_FILTER, "ttt", sn, experiment,
                model_name);
    if (e == MLP_OK)
        e = q_prep(&t, NULL, &st, RUN_COLS_SQL RUN_FILTER " ORDER BY id DESC LIMIT ?4 OFFSET ?5",
                   "tttii", sn, experiment, model_name, limit, offset);
#undef RUN_FILTER
    if (e == MLP_OK) e = run_collect(&t, st, items, n);
    sqlite3_finalize(st);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        store_runs_free(*items, *n);
        *items = NULL;
        *n = 0;
        return e;
    }
    if (total) *total = (long)tot;
    return MLP_OK;
}

mlp_err store_run_list_unfinished(store *s, store_run **items, int *n)
{
    tx t;
    sqlite3_stmt *st = NULL;
    *items = NULL;
    *n = 0;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_prep(&t, NULL, &st,
               RUN_COLS_SQL " WHERE status IN ('running', 'queued')"
                            " ORDER BY status = 'queued', id",
               NULL);
    if (e == MLP_OK) e = run_collect(&t, st, items, n);
    sqlite3_finalize(st);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        store_runs_free(*items, *n);
        *items = NULL;
        *n = 0;
    }
    return e;
}

/* The status of run id inside t. */
static mlp_err run_status_tx(tx *t, long long id, run_state *out)
{
    sqlite3_stmt *st = NULL;
    mlp_err e = q_prep(t, NULL, &st, "SELECT status FROM runs WHERE id = ?1", "I", id);
    if (e != MLP_OK) return e;
    int r = q_step(t, st, &e, NULL);
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1 && run_state_parse((const char *)sqlite3_column_text(st, 0), out) != MLP_OK)
        e = MLP_ECORRUPT;
    sqlite3_finalize(st);
    return e;
}

static int run_active(run_state st)
{
    return st == RUN_QUEUED || st == RUN_RUNNING;
}

mlp_err store_run_start(store *s, const char *id)
{
    tx t;
    run_state st;
    char now[32];
    long long n = parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    now_rfc3339(now, sizeof now, 0);
    if (e == MLP_OK && st == RUN_QUEUED)
        e = q_exec(&t, NULL, NULL,
                   "UPDATE runs SET status = 'running', started_at = ?2 WHERE id = ?1", "It", n,
                   now);
    else if (e == MLP_OK && st != RUN_RUNNING)
        e = MLP_ECONFLICT;
    return tx_end(&t, e, NULL);
}

mlp_err store_run_epoch(store *s, const char *id, int epoch, const run_metrics *m, const void *ckpt,
                        size_t ckpt_len)
{
    tx t;
    run_state st;
    char now[32];
    long long n = parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    if (epoch < 1 || !m) return MLP_EINVAL;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    if (e == MLP_OK && st != RUN_RUNNING) e = MLP_ECONFLICT;
    now_rfc3339(now, sizeof now, 1);
    for (int k = 0; e == MLP_OK && k < MET_COUNT; k++) {
        if (!(m->present & (1u << k))) continue;
        e = q_exec(&t, NULL, NULL,
                   "INSERT OR REPLACE INTO run_metrics (run_id, name, step, value, timestamp)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
                   "Itidt", n, metric_name((metric_id)k), epoch, m->v[k], now);
    }
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL, "UPDATE runs SET epoch = ?2 WHERE id = ?1", "Ii", n, epoch);
    if (e == MLP_OK && ckpt)
        e = q_exec(&t, NULL, NULL,
                   "INSERT OR REPLACE INTO run_checkpoints (run_id, epoch, data, created_at)"
                   " VALUES (?1, ?2, ?3, ?4)",
                   "Iibt", n, epoch, ckpt, ckpt_len, now);
    return tx_end(&t, e, NULL);
}

mlp_err store_run_resume_point(store *s, const char *id, void **ckpt, size_t *len, int *epoch)
{
    tx t;
    run_state st;
    sqlite3_stmt *q = NULL;
    void *buf = NULL;
    size_t blen = 0;
    int ep = 0;
    long long n = parse_id(id, "run_");
    *ckpt = NULL;
    *len = 0;
    *epoch = 0;
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    if (e == MLP_OK && !run_active(st)) e = MLP_ECONFLICT;
    if (e == MLP_OK)
        e = q_prep(&t, NULL, &q, "SELECT epoch, data FROM run_checkpoints WHERE run_id = ?1", "I",
                   n);
    int found = 0;
    if (e == MLP_OK && (found = q_step(&t, q, &e, NULL)) == 1) {
        ep = sqlite3_column_int(q, 0);
        const void *p = sqlite3_column_blob(q, 1);
        blen = (size_t)sqlite3_column_bytes(q, 1);
        buf = malloc(blen ? blen : 1);
        if (!buf)
            e = MLP_ENOMEM;
        else if (blen)
            memcpy(buf, p, blen);
    }
    sqlite3_finalize(q);
    /* Without a checkpoint the run restarts from scratch: its progress goes back to 0. */
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL, "DELETE FROM run_metrics WHERE run_id = ?1 AND step > ?2", "Ii",
                   n, ep);
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL, "UPDATE runs SET epoch = ?2 WHERE id = ?1", "Ii", n, ep);
    if (e == MLP_OK && found == 1)
        e = q_exec(&t, NULL, NULL,
                   "UPDATE runs SET resumes = resumes + 1, resumed_from_epoch = ?2 WHERE id = ?1",
                   "Ii", n, ep);
    e = tx_end(&t, e, NULL);
    if (e == MLP_OK && found != 1) e = MLP_ENOTFOUND;
    if (e != MLP_OK) {
        free(buf);
        return e;
    }
    *ckpt = buf;
    *len = blen;
    *epoch = ep;
    return MLP_OK;
}

/* Adds version (last_version + 1) of model `name` inside t. */
static mlp_err model_add_tx(tx *t, const char *name, long long run_id, const char *task,
                            int input_dim, int output_dim, const char *meta_json, const void *blob,
                            size_t blob_len, int *version, mlp_error *err)
{
    char now[32];
    long long mid = 0, ver = 0;
    now_rfc3339(now, sizeof now, 0);
    mlp_err e = q_exec(t, err, NULL,
                       "INSERT INTO models (name, created_at) VALUES (?1, ?2)"
                       " ON CONFLICT (name) DO NOTHING",
                       "tt", name, now);
    if (e == MLP_OK)
        e = q_exec(t, err, NULL,
                   "UPDATE models SET last_version = last_version + 1 WHERE name = ?1", "t", name);
    if (e == MLP_OK) e = q_int64(t, err, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e == MLP_OK)
        e = q_int64(t, err, &ver, "SELECT last_version FROM models WHERE id = ?1", "I", mid);
    if (e == MLP_ENOTFOUND) e = mlp_fail(err, MLP_EIO, "model %s vanished while adding", name);
    if (e == MLP_OK && ver > INT_MAX) e = mlp_fail(err, MLP_ETOOLARGE, "too many versions");
    if (e == MLP_OK)
        e = q_exec(t, err, NULL,
                   "INSERT INTO model_versions (model_id, version, run_id, task, input_dim,"
                   " output_dim, meta_json, blob, created_at)"
                   " VALUES (?1, ?2, NULLIF(?3, 0), ?4, ?5, ?6, ?7, ?8, ?9)",
                   "IIItiitbt", mid, ver, run_id, task, input_dim, output_dim, meta_json,
                   blob ? blob : (const void *)"", blob_len, now);
    if (e == MLP_OK) *version = (int)ver;
    return e;
}

static mlp_err model_check(const char *name, const char *task, int input_dim, int output_dim,
                           const char *meta_json, const void *blob, size_t blob_len, mlp_error *err)
{
    if (!name_ok(name, STORE_NAME_MAX))
        return mlp_fail(err, MLP_EINVAL, "model name must be 1 to %d bytes", STORE_NAME_MAX);
    if (!name_ok(task, STORE_TASK_MAX))
        return mlp_fail(err, MLP_EINVAL, "task must be 1 to %d bytes", STORE_TASK_MAX);
    if (input_dim < 1 || output_dim < 1)
        return mlp_fail(err, MLP_EINVAL, "model dimensions must be >= 1");
    if (!meta_json) return mlp_fail(err, MLP_EINVAL, "model has no meta_json");
    if (!blob && blob_len) return mlp_fail(err, MLP_EINVAL, "model blob is missing");
    return MLP_OK;
}

mlp_err store_run_succeed(store *s, const char *id, const char *model_name, const char *task,
                          int input_dim, int output_dim, const char *meta_json, const void *blob,
                          size_t blob_len, int *version)
{
    tx t;
    run_state st;
    char now[32];
    int ver = 0;
    long long n = parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e =
        model_check(model_name, task, input_dim, output_dim, meta_json, blob, blob_len, NULL);
    if (e != MLP_OK) return e;
    e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    if (e == MLP_OK && st != RUN_RUNNING) e = MLP_ECONFLICT;
    long long cancel = 0;
    if (e == MLP_OK)
        e = q_int64(&t, NULL, &cancel, "SELECT cancel_requested FROM runs WHERE id = ?1", "I", n);
    if (e == MLP_OK && cancel) e = MLP_ECANCELLED;
    if (e == MLP_OK)
        e = model_add_tx(&t, model_name, n, task, input_dim, output_dim, meta_json, blob, blob_len,
                         &ver, NULL);
    now_rfc3339(now, sizeof now, 0);
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL,
                   "UPDATE runs SET status = 'succeeded', model_name = ?2, model_version = ?3,"
                   " finished_at = ?4 WHERE id = ?1",
                   "Itit", n, model_name, ver, now);
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL, "DELETE FROM run_checkpoints WHERE run_id = ?1", "I", n);
    e = tx_end(&t, e, NULL);
    if (e == MLP_OK && version) *version = ver;
    return e;
}

/* queued/running -> final state `to` (failed or cancelled), dropping the checkpoint. */
static mlp_err run_finish(store *s, const char *id, run_state to, const char *error)
{
    tx t;
    run_state st;
    char now[32];
    long long n = parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    if (e == MLP_OK && !run_active(st)) e = MLP_ECONFLICT;
    now_rfc3339(now, sizeof now, 0);
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL,
                   "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1",
                   "Ittt", n, run_state_name(to), error, now);
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL, "DELETE FROM run_checkpoints WHERE run_id = ?1", "I", n);
    return tx_end(&t, e, NULL);
}

mlp_err store_run_fail(store *s, const char *id, const char *error)
{
    return run_finish(s, id, RUN_FAILED, error ? error : "failed");
}

mlp_err store_run_cancel(store *s, const char *id)
{
    return run_finish(s, id, RUN_CANCELLED, NULL);
}

mlp_err store_run_request_cancel(store *s, const char *id, run_state *now)
{
    tx t;
    run_state st = RUN_QUEUED;
    char ts[32];
    long long n = parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    if (e == MLP_OK && !run_active(st)) e = MLP_ECONFLICT;
    now_rfc3339(ts, sizeof ts, 0);
    if (e == MLP_OK && st == RUN_QUEUED) {
        e = q_exec(&t, NULL, NULL,
                   "UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished_at = ?2"
                   " WHERE id = ?1",
                   "It", n, ts);
        if (e == MLP_OK)
            e = q_exec(&t, NULL, NULL, "DELETE FROM run_checkpoints WHERE run_id = ?1", "I", n);
        st = RUN_CANCELLED;
    } else if (e == MLP_OK) {
        e = q_exec(&t, NULL, NULL, "UPDATE runs SET cancel_requested = 1 WHERE id = ?1", "I", n);
    }
    if (now && (e == MLP_OK || e == MLP_ECONFLICT)) *now = st;
    return tx_end(&t, e, NULL);
}

mlp_err store_run_delete(store *s, const char *id)
{
    tx t;
    run_state st;
    long long n = parse_id(id, "run_");
    if (n <= 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = run_status_tx(&t, n, &st);
    if (e == MLP_OK && run_active(st)) e = MLP_ECONFLICT;
    if (e == MLP_OK) e = q_exec(&t, NULL, NULL, "DELETE FROM runs WHERE id = ?1", "I", n);
    return tx_end(&t, e, NULL);
}

mlp_err store_run_metrics(store *s, const char *id, const metric_id *name, int after_step,
                          store_metric **items, int *n)
{
    tx t;
    sqlite3_stmt *st = NULL;
    store_metric *v = NULL;
    int cnt = 0, cap = 0, r;
    long long rid = parse_id(id, "run_"), found = 0;
    *items = NULL;
    *n = 0;
    if (rid <= 0) return MLP_ENOTFOUND;
    if (name && (unsigned)*name >= MET_COUNT) return MLP_EINVAL;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &found, "SELECT 1 FROM runs WHERE id = ?1", "I", rid);
    if (e == MLP_OK)
        e = q_prep(&t, NULL, &st,
                   "SELECT name, step, value, timestamp FROM run_metrics"
                   " WHERE run_id = ?1 AND (?2 IS NULL OR name = ?2) AND step > ?3"
                   " ORDER BY step, name",
                   "Iti", rid, name ? metric_name(*name) : NULL, after_step > 0 ? after_step : 0);
    if (e != MLP_OK) goto out;
    if (!grow((void **)&v, &cap, 1, sizeof *v)) {
        e = MLP_ENOMEM;
        goto out;
    }
    while ((r = q_step(&t, st, &e, NULL)) == 1) {
        metric_id m;
        if (metric_parse((const char *)sqlite3_column_text(st, 0), &m) != MLP_OK) continue;
        if (!grow((void **)&v, &cap, cnt + 1, sizeof *v)) {
            e = MLP_ENOMEM;
            break;
        }
        v[cnt].name = m;
        v[cnt].step = sqlite3_column_int(st, 1);
        v[cnt].value = col_double(st, 2);
        col_str(st, 3, v[cnt].timestamp, sizeof v[cnt].timestamp);
        cnt++;
    }
out:
    sqlite3_finalize(st);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        free(v);
        return e;
    }
    *items = v;
    *n = cnt;
    return MLP_OK;
}

/* ---------------------------------------------------------------- models */

void store_model_versions_free(store_model_version *v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i].meta_json);
    free(v);
}

void store_model_clear(store_model *m)
{
    if (!m) return;
    free(m->versions);
    free(m->aliases);
    m->versions = NULL;
    m->aliases = NULL;
    m->n_versions = m->n_aliases = 0;
}

void store_models_free(store_model *m, int n)
{
    if (!m || n <= 0) return; /* store_model_list never hands out an empty array */
    for (int i = 0; i < n; i++) store_model_clear(&m[i]);
    free(m);
}

/* Versions (ascending) and aliases of model mid into m (name already set). */
static mlp_err model_fill(tx *t, long long mid, store_model *m)
{
    sqlite3_stmt *st = NULL;
    int cap = 0, r;
    mlp_err e =
        q_prep(t, NULL, &st,
               "SELECT version FROM model_versions WHERE model_id = ?1 ORDER BY version", "I", mid);
    while (e == MLP_OK && (r = q_step(t, st, &e, NULL)) == 1) {
        if (!grow((void **)&m->versions, &cap, m->n_versions + 1, sizeof *m->versions)) {
            e = MLP_ENOMEM;
            break;
        }
        m->versions[m->n_versions++] = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    m->latest_version = m->n_versions ? m->versions[m->n_versions - 1] : 0;
    cap = 0;
    if (e == MLP_OK)
        e = q_prep(t, NULL, &st,
                   "SELECT alias, version FROM model_aliases WHERE model_id = ?1 ORDER BY alias",
                   "I", mid);
    while (e == MLP_OK && (r = q_step(t, st, &e, NULL)) == 1) {
        if (!grow((void **)&m->aliases, &cap, m->n_aliases + 1, sizeof *m->aliases)) {
            e = MLP_ENOMEM;
            break;
        }
        store_alias *a = &m->aliases[m->n_aliases++];
        col_str(st, 0, a->alias, sizeof a->alias);
        a->version = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (e != MLP_OK) store_model_clear(m);
    return e;
}

mlp_err store_model_add_version(store *s, const char *name, const char *run_id, const char *task,
                                int input_dim, int output_dim, const char *meta_json,
                                const void *blob, size_t blob_len, int *version)
{
    tx t;
    int ver = 0;
    long long rid = 0;
    mlp_err e = model_check(name, task, input_dim, output_dim, meta_json, blob, blob_len, NULL);
    if (e != MLP_OK) return e;
    if (run_id && run_id[0] && (rid = parse_id(run_id, "run_")) <= 0) return MLP_EINVAL;
    e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = model_add_tx(&t, name, rid, task, input_dim, output_dim, meta_json, blob, blob_len, &ver,
                     NULL);
    e = tx_end(&t, e, NULL);
    if (e == MLP_OK && version) *version = ver;
    return e;
}

mlp_err store_model_list(store *s, int limit, int offset, store_model **items, int *n, long *total)
{
    tx t;
    sqlite3_stmt *st = NULL;
    store_model *v = NULL;
    long long *ids = NULL;
    int cnt = 0, cap = 0, idcap = 0, r;
    long long tot = 0;
    *items = NULL;
    *n = 0;
    if (total) *total = 0;
    if (limit < 0 || offset < 0) return MLP_EINVAL;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &tot, "SELECT COUNT(*) FROM models", NULL);
    if (e == MLP_OK)
        e = q_prep(&t, NULL, &st, "SELECT id, name FROM models ORDER BY name LIMIT ?1 OFFSET ?2",
                   "ii", limit, offset);
    if (e != MLP_OK) goto out;
    if (!grow((void **)&v, &cap, 1, sizeof *v)) {
        e = MLP_ENOMEM;
        goto out;
    }
    while ((r = q_step(&t, st, &e, NULL)) == 1) {
        if (!grow((void **)&v, &cap, cnt + 1, sizeof *v) ||
            !grow((void **)&ids, &idcap, cnt + 1, sizeof *ids)) {
            e = MLP_ENOMEM;
            goto out;
        }
        ids[cnt] = sqlite3_column_int64(st, 0);
        col_str(st, 1, v[cnt].name, sizeof v[cnt].name);
        cnt++;
    }
    sqlite3_finalize(st);
    st = NULL;
    for (int i = 0; e == MLP_OK && i < cnt; i++) e = model_fill(&t, ids[i], &v[i]);
out:
    sqlite3_finalize(st);
    free(ids);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK || cnt == 0) {
        for (int i = 0; i < cnt; i++) store_model_clear(&v[i]);
        free(v);
        v = NULL;
        if (e != MLP_OK) return e;
    }
    *items = v;
    *n = cnt;
    if (total) *total = (long)tot;
    return MLP_OK;
}

#define MV_COLS_SQL_NOFROM                                                                         \
    "SELECT v.version, v.run_id, v.task, v.input_dim, v.output_dim, v.meta_json, v.created_at"
#define MV_COLS_SQL MV_COLS_SQL_NOFROM " FROM model_versions v"

static mlp_err mv_from_row(sqlite3_stmt *st, const char *name, store_model_version *v)
{
    int oom = 0;
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->version = sqlite3_column_int(st, 0);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL)
        snprintf(v->run_id, sizeof v->run_id, "run_%lld", (long long)sqlite3_column_int64(st, 1));
    col_str(st, 2, v->task, sizeof v->task);
    v->input_dim = sqlite3_column_int(st, 3);
    v->output_dim = sqlite3_column_int(st, 4);
    v->meta_json = col_dup(st, 5, &oom);
    col_str(st, 6, v->created_at, sizeof v->created_at);
    return oom ? MLP_ENOMEM : MLP_OK;
}

mlp_err store_model_get(store *s, const char *name, store_model *out,
                        store_model_version **versions, int *n_versions)
{
    tx t;
    sqlite3_stmt *st = NULL;
    store_model m;
    store_model_version *v = NULL;
    int cnt = 0, cap = 0, r;
    long long mid = 0;
    memset(&m, 0, sizeof m);
    if (versions) *versions = NULL;
    if (n_versions) *n_versions = 0;
    if (!name) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e != MLP_OK) goto out;
    snprintf(m.name, sizeof m.name, "%s", name);
    e = model_fill(&t, mid, &m);
    if (e != MLP_OK || !versions) goto out;
    e = q_prep(&t, NULL, &st, MV_COLS_SQL " WHERE v.model_id = ?1 ORDER BY v.version", "I", mid);
    if (e == MLP_OK && !grow((void **)&v, &cap, 1, sizeof *v)) e = MLP_ENOMEM;
    while (e == MLP_OK && (r = q_step(&t, st, &e, NULL)) == 1) {
        if (!grow((void **)&v, &cap, cnt + 1, sizeof *v)) {
            e = MLP_ENOMEM;
            break;
        }
        e = mv_from_row(st, name, &v[cnt]);
        cnt++;
    }
out:
    sqlite3_finalize(st);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        store_model_clear(&m);
        store_model_versions_free(v, cnt);
        return e;
    }
    if (out)
        *out = m;
    else
        store_model_clear(&m);
    if (versions) {
        *versions = v;
        if (n_versions) *n_versions = cnt;
    }
    return MLP_OK;
}

mlp_err store_model_version_get(store *s, const char *name, int version, store_model_version *info,
                                void **blob, size_t *len)
{
    tx t;
    sqlite3_stmt *st = NULL;
    store_model_version v;
    void *buf = NULL;
    size_t blen = 0;
    memset(&v, 0, sizeof v);
    if (blob) *blob = NULL;
    if (len) *len = 0;
    if (!name || version < 0) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    /* The blob column is only read when the caller wants it (it may be large). */
    e = q_prep(&t, NULL, &st,
               MV_COLS_SQL_NOFROM ", CASE WHEN ?3 THEN v.blob END"
                                  " FROM model_versions v JOIN models m ON m.id = v.model_id"
                                  " WHERE m.name = ?1 AND (?2 = 0 OR v.version = ?2)"
                                  " ORDER BY v.version DESC LIMIT 1",
               "tii", name, version, blob != NULL);
    int r = e == MLP_OK ? q_step(&t, st, &e, NULL) : -1;
    if (r == 0) e = MLP_ENOTFOUND;
    if (r == 1) e = mv_from_row(st, name, &v);
    if (r == 1 && e == MLP_OK && blob) {
        const void *p = sqlite3_column_blob(st, 7);
        blen = (size_t)sqlite3_column_bytes(st, 7);
        buf = malloc(blen ? blen : 1);
        if (!buf)
            e = MLP_ENOMEM;
        else if (blen)
            memcpy(buf, p, blen);
    }
    sqlite3_finalize(st);
    e = tx_end(&t, e, NULL);
    if (e != MLP_OK) {
        free(v.meta_json);
        free(buf);
        return e;
    }
    if (info)
        *info = v;
    else
        free(v.meta_json);
    if (blob) *blob = buf;
    if (len) *len = blen;
    return MLP_OK;
}

mlp_err store_model_alias_resolve(store *s, const char *name, const char *alias, int *version)
{
    tx t;
    long long v = 0;
    if (!name || !alias) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 0, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &v,
                "SELECT a.version FROM model_aliases a JOIN models m ON m.id = a.model_id"
                " WHERE m.name = ?1 AND a.alias = ?2",
                "tt", name, alias);
    e = tx_end(&t, e, NULL);
    if (e == MLP_OK) *version = (int)v;
    return e;
}

mlp_err store_model_alias_set(store *s, const char *name, const char *alias, int version)
{
    tx t;
    long long mid = 0, found = 0;
    if (!name_ok(alias, STORE_NAME_MAX) || version < 1) return MLP_EINVAL;
    if (!name) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_int64(&t, NULL, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e == MLP_OK)
        e = q_int64(&t, NULL, &found,
                    "SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2", "Ii", mid,
                    version);
    if (e == MLP_OK)
        e = q_exec(&t, NULL, NULL,
                   "INSERT INTO model_aliases (model_id, alias, version) VALUES (?1, ?2, ?3)"
                   " ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version",
                   "Iti", mid, alias, version);
    return tx_end(&t, e, NULL);
}

mlp_err store_model_alias_delete(store *s, const char *name, const char *alias)
{
    tx t;
    int changes = 0;
    if (!name || !alias) return MLP_ENOTFOUND;
    mlp_err e = tx_begin(s, 1, &t, NULL);
    if (e != MLP_OK) return e;
    e = q_exec(&t, NULL, &changes,
               "DELETE FROM model_aliases WHERE alias = ?2"
               " AND model_id = (SELECT id FROM models WHERE name = ?1)",
               "tt", name, alias);
    if (e == MLP_OK && changes == 0) e = MLP_ENOTFOUND;
    return tx_end(&t, e, NULL);
}

mlp_err store_model_version_delete(store *s, const char *name, int version, mlp_error *err)
{
    tx t;
    sqlite3_stmt *st = NULL;
    long long mid = 0, found = 0, left = 0;
    if (!name) return mlp_fail(err, MLP_ENOTFOUND, "model not found");
    if (version < 1) return mlp_fail(err, MLP_EINVAL, "version must be >= 1");
    mlp_err e = tx_begin(s, 1, &t, err);
    if (e != MLP_OK) return e;
    e = q_int64(&t, err, &mid, "SELECT id FROM models WHERE name = ?1", "t", name);
    if (e == MLP_ENOTFOUND) {
        e = mlp_fail(err, e, "model %s not found", name);
        goto out;
    }
    if (e == MLP_OK)
        e = q_int64(&t, err, &found,
                    "SELECT 1 FROM model_versions WHERE model_id = ?1 AND version = ?2", "Ii", mid,
                    version);
    if (e == MLP_ENOTFOUND) {
        e = mlp_fail(err, e, "model %s has no version %d", name, version);
        goto out;
    }
    if (e == MLP_OK)
        e = q_prep(&t, err, &st,
                   "SELECT alias FROM model_aliases WHERE model_id = ?1 AND version = ?2"
                   " ORDER BY alias LIMIT 1",
                   "Ii", mid, version);
    if (e == MLP_OK && q_step(&t, st, &e, err) == 1)
        e = mlp_fail(err, MLP_ECONFLICT, "version %d of model %s is aliased as \"%s\"", version,
                     name, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if (e == MLP_OK)
        e = q_exec(&t, err, NULL, "DELETE FROM model_versions WHERE model_id = ?1 AND version = ?2",
                   "Ii", mid, version);
    if (e == MLP_OK)
        e = q_int64(&t, err, &left, "SELECT COUNT(*) FROM model_versions WHERE model_id = ?1", "I",
                    mid);
    if (e == MLP_OK && left == 0)
        e = q_exec(&t, err, NULL, "DELETE FROM models WHERE id = ?1", "I", mid);
out:
    sqlite3_finalize(st);
    return tx_end(&t, e, err);
}
