/* blob_dir.c — blob.h over a local directory: blob id is the file <dir>/<id><ext>; a put is
 * written to <dir>/.tmp-<pid>-<n><ext>, fsynced, renamed to its id and the directory fsynced.
 * Aligned writes use O_DIRECT where the file system takes it, so an upload of hundreds of MB
 * leaves no page-cache copy behind and little for fsync to flush (bench/RESULTS.md, Daemon). */
#include "blob.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOB_ID_MAX 63
#define BLOB_ALIGN  4096 /* O_DIRECT offset, length and buffer alignment */
#define TMP_PREFIX  ".tmp-"

struct blob_store {
    char *dir;          /* owned */
    char *ext;          /* owned: file name suffix, "" for none */
    char *what;         /* owned: "dataset file", for messages */
    pthread_mutex_t mu; /* guards seq */
    unsigned long seq;  /* temporaries made by this process */
};

struct blob_put {
    blob_store *b;  /* borrowed */
    char *tmp_path; /* owned */
    int fd;         /* -1 once ended */
    int direct;     /* fd has O_DIRECT */
    long long off;  /* bytes written */
};

struct blob_get {
    int fd;
    long long size;
};

mlp_err blob_errno_err(int e)
{
    if (e == ENOSPC || e == EDQUOT || e == EFBIG) return MLP_ENOSPC;
    if (e == ENOMEM) return MLP_ENOMEM;
    return MLP_EIO;
}

/* A failed call on a file: the message names the file inside the directory only (it may
 * become an HTTP error detail); the full path goes to the log. */
static mlp_err fail_file(mlp_error *err, int e, const char *what, const blob_store *b,
                         const char *path)
{
    const char *slash = strrchr(path, '/');
    fprintf(stderr, "mlpd: %s %s %s: %s\n", what, b->what, path, strerror(e));
    return mlp_fail(err, blob_errno_err(e), "%s %s %s: %s", what, b->what, slash ? slash + 1 : path,
                    strerror(e));
}

static int id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > BLOB_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* <dir>/<name><ext>, new. */
static char *file_path(const blob_store *b, const char *name)
{
    size_t n = strlen(b->dir) + strlen(name) + strlen(b->ext) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", b->dir, name, b->ext);
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

/* Reads exactly n bytes at off; -1 with errno set (a short read is ENODATA). */
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

mlp_err blob_dir_open(const char *dir, const char *ext, const char *what, blob_store **out,
                      mlp_error *err)
{
    assert(dir && ext && what && out);
    *out = NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        return mlp_fail(err, blob_errno_err(e), "cannot create directory %s: %s", dir, strerror(e));
    }
    blob_store *b = calloc(1, sizeof *b);
    if (!b) return mlp_fail(err, MLP_ENOMEM, "out of memory");
    pthread_mutex_init(&b->mu, NULL);
    b->dir = strdup(dir);
    b->ext = strdup(ext);
    b->what = strdup(what);
    if (!b->dir || !b->ext || !b->what) {
        blob_store_free(b);
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    }
    *out = b;
    return MLP_OK;
}

void blob_store_free(blob_store *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    free(b->dir);
    free(b->ext);
    free(b->what);
    free(b);
}

mlp_err blob_put_begin(blob_store *b, blob_put **out, mlp_error *err)
{
    char name[64];
    *out = NULL;
    pthread_mutex_lock(&b->mu);
    unsigned long seq = ++b->seq;
    pthread_mutex_unlock(&b->mu);
    snprintf(name, sizeof name, TMP_PREFIX "%ld-%lu", (long)getpid(), seq);
    blob_put *p = calloc(1, sizeof *p);
    if (!p || !(p->tmp_path = file_path(b, name))) {
        free(p);
        return mlp_fail(err, MLP_ENOMEM, "out of memory");
    }
    p->b = b;
    p->direct = 1;
    p->fd = open(p->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0644);
    if (p->fd < 0 && errno == EINVAL) { /* no O_DIRECT on this file system */
        p->direct = 0;
        p->fd = open(p->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (p->fd < 0) {
        mlp_err e = fail_file(err, errno, "cannot create", b, p->tmp_path);
        free(p->tmp_path);
        free(p);
        return e;
    }
    *out = p;
    return MLP_OK;
}

/* Writes the rest of the blob through the page cache. */
static int drop_direct(blob_put *p)
{
    int fl = fcntl(p->fd, F_GETFL);
    if (fl < 0 || fcntl(p->fd, F_SETFL, fl & ~O_DIRECT) < 0) return -1;
    p->direct = 0;
    return 0;
}

mlp_err blob_put_write(blob_put *p, const void *buf, size_t len, mlp_error *err)
{
    assert(p && p->fd >= 0);
    if (p->direct && ((uintptr_t)buf % BLOB_ALIGN || len % BLOB_ALIGN || p->off % BLOB_ALIGN) &&
        drop_direct(p) != 0)
        return fail_file(err, errno, "cannot write", p->b, p->tmp_path);
    int rc = write_all(p->fd, buf, len);
    /* A file system may refuse O_DIRECT for this write only: then again, buffered. */
    if (rc != 0 && p->direct && errno == EINVAL) {
        if (drop_direct(p) != 0 || lseek(p->fd, (off_t)p->off, SEEK_SET) < 0)
            rc = -1;
        else
            rc = write_all(p->fd, buf, len);
    }
    if (rc != 0) return fail_file(err, errno, "cannot write", p->b, p->tmp_path);
    p->off += (long long)len;
    return MLP_OK;
}

mlp_err blob_put_end(blob_put *p, mlp_error *err)
{
    assert(p);
    if (p->fd < 0) return MLP_OK;
    mlp_err e = MLP_OK;
    if (fsync(p->fd) != 0) e = fail_file(err, errno, "cannot fsync", p->b, p->tmp_path);
    if (close(p->fd) != 0 && e == MLP_OK)
        e = fail_file(err, errno, "cannot close", p->b, p->tmp_path);
    p->fd = -1;
    return e;
}

void blob_put_abort(blob_put *p)
{
    if (!p) return;
    if (p->fd >= 0) close(p->fd);
    unlink(p->tmp_path);
    free(p->tmp_path);
    free(p);
}

mlp_err blob_put_commit(blob_put *p, const char *id, mlp_error *err)
{
    assert(p);
    blob_store *b = p->b;
    char *path = NULL;
    mlp_err e = MLP_OK;
    if (!id_ok(id)) {
        e = mlp_fail(err, MLP_EINVAL, "bad blob id");
        goto out;
    }
    e = blob_put_end(p, err);
    if (e != MLP_OK) goto out;
    path = file_path(b, id);
    if (!path) {
        e = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    if (rename(p->tmp_path, path) != 0) {
        e = fail_file(err, errno, "cannot rename", b, path);
        goto out;
    }
    if (fsync_dir(b->dir) != 0) {
        int se = errno;
        unlink(path); /* not durable: the caller will not name it */
        fprintf(stderr, "mlpd: cannot fsync directory %s: %s\n", b->dir, strerror(se));
        const char *slash = strrchr(b->dir, '/');
        e = mlp_fail(err, blob_errno_err(se), "cannot fsync directory %s: %s",
                     slash ? slash + 1 : b->dir, strerror(se));
    }
out:
    free(path);
    blob_put_abort(p); /* the temporary is gone once renamed: unlink is then a no-op */
    return e;
}

mlp_err blob_open(blob_store *b, const char *id, blob_get **out)
{
    *out = NULL;
    if (!id_ok(id)) return MLP_ENOTFOUND;
    char *path = file_path(b, id);
    if (!path) return MLP_ENOMEM;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int oe = errno;
    free(path);
    if (fd < 0) return oe == ENOENT ? MLP_ENOTFOUND : blob_errno_err(oe);
    struct stat sb;
    blob_get *g = NULL;
    if (fstat(fd, &sb) != 0 || !(g = malloc(sizeof *g))) {
        mlp_err e = g ? MLP_ENOMEM : blob_errno_err(errno);
        close(fd);
        return e;
    }
    g->fd = fd;
    g->size = (long long)sb.st_size;
    *out = g;
    return MLP_OK;
}

long long blob_size(const blob_get *g)
{
    return g->size;
}

mlp_err blob_read(blob_get *g, void *buf, size_t n, long long off)
{
    if (off < 0) return MLP_EINVAL;
    if (n && pread_all(g->fd, buf, n, (off_t)off) != 0)
        return errno == ENODATA ? MLP_ECORRUPT : blob_errno_err(errno);
    return MLP_OK;
}

void blob_close(blob_get *g)
{
    if (!g) return;
    close(g->fd);
    free(g);
}

mlp_err blob_delete(blob_store *b, const char *id)
{
    if (!id_ok(id)) return MLP_ENOTFOUND;
    char *path = file_path(b, id);
    if (!path) return MLP_ENOMEM;
    int rc = unlink(path), oe = errno;
    free(path);
    if (rc != 0) return oe == ENOENT ? MLP_ENOTFOUND : blob_errno_err(oe);
    fsync_dir(b->dir); /* the name is gone either way; a lost unlink leaves an orphan to sweep */
    return MLP_OK;
}

int blob_sweep(blob_store *b, int (*keep)(const char *id, void *arg), void *arg)
{
    DIR *d = opendir(b->dir);
    if (!d) return 0;
    size_t el = strlen(b->ext);
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        int orphan = strncmp(n, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
        if (!orphan) {
            size_t len = strlen(n);
            char id[BLOB_ID_MAX + 1];
            if (len <= el || len - el > BLOB_ID_MAX || strcmp(n + len - el, b->ext) != 0) continue;
            memcpy(id, n, len - el);
            id[len - el] = '\0';
            if (!id_ok(id)) continue;
            orphan = !keep(id, arg);
        }
        if (orphan && unlinkat(dirfd(d), n, 0) == 0) removed++;
    }
    closedir(d);
    if (removed) fsync_dir(b->dir);
    return removed;
}
