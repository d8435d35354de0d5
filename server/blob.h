/* blob.h — durable byte blobs by id: the seam between the store's rows and the bulk bytes they
 * name (dataset matrices, server/f32.h). The store keeps a blob's id in a row and reaches the
 * bytes only through these calls, so a second backend brings its own implementation of this
 * header (an object store, a large-object table) next to its own store_*.c and nothing above
 * the store changes. The one implementation today is a local directory (blob_dir.c): blob
 * "ds_7" is the file <dir>/ds_7<ext>.
 *
 * Durability, the store's promise "a 2xx means durable": a blob is written under a temporary
 * name (blob_put_begin, blob_put_write), flushed (blob_put_end: fsync), then published under
 * its id (blob_put_commit: rename, fsync of the directory). The store publishes inside the
 * write transaction that inserts the row naming the blob, so a committed row never names a
 * missing or partial blob; a put that fails or is aborted leaves nothing behind, and a crash
 * leaves at most temporaries and unnamed blobs, which blob_sweep removes.
 *
 * Ids are 1 to 63 bytes of [A-Za-z0-9_-] (else MLP_EINVAL). Errors name the blob by its file
 * name and the store's label ("dataset file"), never the directory (messages may become HTTP
 * details); the full path goes to stderr. A full disk or file size limit is MLP_ENOSPC.
 *
 * Owns: a blob_store owns its directory path; a blob_put owns its temporary until it is
 * committed or aborted; a blob_get owns its open file.
 * Threading: one blob_store is shared by every thread; each blob_put and blob_get belongs to
 * one thread at a time. blob_sweep must not race puts (the store calls it at open only). */
#ifndef BLOB_H
#define BLOB_H

#include "mlp.h"

#include <stddef.h>

typedef struct blob_store blob_store;
typedef struct blob_put blob_put;
typedef struct blob_get blob_get;

/* A store of blobs in directory dir (created if missing, its parent must exist), each file
 * named id + ext (ext such as ".f32", may be ""). what names a blob in messages ("dataset
 * file"). *out new (blob_store_free). */
mlp_err blob_dir_open(const char *dir, const char *ext, const char *what, blob_store **out,
                      mlp_error *err);
/* NULL-tolerant. */
void blob_store_free(blob_store *b);

/* Starts a new blob under a temporary name. *out new: end it with blob_put_commit or
 * blob_put_abort. */
mlp_err blob_put_begin(blob_store *b, blob_put **out, mlp_error *err);
/* Appends len bytes. Writes whose buffer, length and offset are multiples of 4096 bypass the
 * page cache where the file system allows it (O_DIRECT), so a large blob is not copied twice;
 * any other write goes through the page cache. */
mlp_err blob_put_write(blob_put *p, const void *buf, size_t len, mlp_error *err);
/* Flushes the bytes to disk (fsync) and closes the temporary. Optional before commit (which
 * ends the put itself); done apart so that the flush can happen outside a transaction. */
mlp_err blob_put_end(blob_put *p, mlp_error *err);
/* Publishes the blob under id (rename, then fsync of the directory; an existing blob of that
 * id is replaced). Takes p, also on failure, when nothing is left behind. */
mlp_err blob_put_commit(blob_put *p, const char *id, mlp_error *err);
/* Removes the temporary and frees p. NULL-tolerant. */
void blob_put_abort(blob_put *p);

/* Opens blob id for reading: MLP_ENOTFOUND when there is none. *out new (blob_close). */
mlp_err blob_open(blob_store *b, const char *id, blob_get **out);
/* Its size in bytes. */
long long blob_size(const blob_get *g);
/* Reads exactly n bytes at offset off: MLP_ECORRUPT when the blob ends before. */
mlp_err blob_read(blob_get *g, void *buf, size_t n, long long off);
/* NULL-tolerant. */
void blob_close(blob_get *g);

/* Removes blob id durably (unlink, fsync of the directory): MLP_ENOTFOUND when there is none. */
mlp_err blob_delete(blob_store *b, const char *id);

/* Removes every temporary (of any process: call it only while no other process writes) and
 * every blob for which keep(id, arg) returns 0. Best effort; the number removed. */
int blob_sweep(blob_store *b, int (*keep)(const char *id, void *arg), void *arg);

/* The mlp_err for a failed file system call's errno: ENOSPC, EDQUOT and EFBIG are MLP_ENOSPC,
 * ENOMEM MLP_ENOMEM, anything else MLP_EIO. */
mlp_err blob_errno_err(int e);

#endif
