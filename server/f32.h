/* f32.h — the .f32 dataset matrix format, read and written through a blob (blob.h): a 32-byte
 * header ("MLPDF32\n", then rows and cols as little-endian u64, then 8 zero bytes) and the
 * rows x cols float32 matrix, row-major, little-endian (core/le.h). The SHA-256 of the matrix
 * bytes (not the header) is the dataset's checksum, kept by the store in its row and checked
 * on every whole load. No SQL here: the store decides which blob holds which dataset.
 *
 * Owns: nothing beyond the buffers it returns (new, free()). Borrows the blob handles.
 * Threading: reentrant; one blob handle per thread. */
#ifndef F32_H
#define F32_H

#include "blob.h"
#include "mlp.h"

#include <stddef.h>

#define F32_HEADER_BYTES 32
#define F32_SHA_HEX      65 /* 64 hex digits and NUL */

/* Writes the header and the rows x cols matrix data to p and ends it (fsync); sha256 gets the
 * hex SHA-256 of the matrix bytes. The bytes go through one 4 MiB buffer aligned for O_DIRECT,
 * hashed as they are copied in. p stays the caller's: commit or abort it. */
mlp_err f32_write(blob_put *p, const float *data, long rows, int cols, char sha256[F32_SHA_HEX],
                  mlp_error *err);
/* Checks g's header and size against rows x cols: MLP_ECORRUPT when they differ. */
mlp_err f32_check(blob_get *g, long rows, int cols);
/* The whole matrix of a checked g (f32_check first) into *out (new, rows*cols floats, allocated
 * in huge pages where the kernel allows it), verified against sha256: MLP_ECORRUPT when the
 * bytes do not hash to it. */
mlp_err f32_read_all(blob_get *g, long rows, int cols, const char *sha256, float **out);
/* Rows [offset, offset+n) of a checked g into out (n*cols floats, caller's), no checksum. */
mlp_err f32_read_rows(blob_get *g, int cols, long offset, long n, float *out);
/* A buffer for a matrix of n bytes, faulted in 2 MiB pages where the kernel allows it
 * (transparent huge pages in madvise mode). Free with free(). */
void *f32_alloc(size_t n);
/* Hex SHA-256 of n bytes. */
mlp_err f32_sha256(const void *bytes, size_t n, char hex[F32_SHA_HEX]);

#endif
