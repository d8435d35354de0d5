/* gunzip.h — the one gzip decoder: streaming, in front of another push parser (uploads,
 * api/ingest.c), or over a whole buffer (gzip request bodies, server/http.c).
 *
 * A gunzip stream looks at the first two bytes it is fed: 1F 8B is gzip, inflated as it
 * arrives (zlib, inflateInit2 with 16 + MAX_WBITS; concatenated members are accepted) and
 * handed to the sink in pieces of at most 64 KiB; anything else is passed through to the sink
 * unchanged, unless the stream was created with `force` (Content-Encoding: gzip), when it is
 * MLP_EINVAL. Every byte handed to the sink, inflated or passed through, counts against
 * max_out: past it the stream fails with MLP_ETOOLARGE (zip bombs stop after at most one
 * 64 KiB piece past the limit). A corrupt or truncated gzip stream, or bytes after the last
 * member that are not another member, is MLP_EINVAL.
 *
 * Owns: the zlib state and its output buffer. Borrows: the sink context.
 * Threading: one stream belongs to one thread. */
#ifndef GUNZIP_H
#define GUNZIP_H

#include "mlp.h"

#include <stddef.h>

/* Receives decoded bytes; data is borrowed for the call. A non-OK return stops the stream and
 * is returned by gunzip_feed / gunzip_finish. */
typedef mlp_err (*gunzip_sink)(void *ctx, const unsigned char *data, size_t len, mlp_error *err);

typedef struct gunzip gunzip;

/* *out is new. max_out = 0 means unbounded. */
mlp_err gunzip_new(size_t max_out, int force, gunzip_sink sink, void *ctx, gunzip **out);
/* Feeds the next len raw bytes. Errors are sticky. */
mlp_err gunzip_feed(gunzip *g, const unsigned char *data, size_t len, mlp_error *err);
/* Ends the input: a gzip stream that stops mid-member is MLP_EINVAL. Does not notify the sink. */
mlp_err gunzip_finish(gunzip *g, mlp_error *err);
/* 1 when the stream turned out to be gzip (known after 2 bytes). */
int gunzip_is_gzip(const gunzip *g);
/* NULL-tolerant. */
void gunzip_free(gunzip *g);

/* The whole of in[0..n), which must be gzip (a forced stream), inflated into one buffer: *out is
 * new (free(); NUL-terminated, *out_len bytes before the NUL), NULL on failure. Errors as for a
 * stream: MLP_ETOOLARGE past max_out (0 = unbounded), MLP_EINVAL for data that is not gzip,
 * corrupt or truncated, MLP_ENOMEM. For request bodies read whole (server/http.c). */
mlp_err gunzip_buf(const unsigned char *in, size_t n, size_t max_out, char **out, size_t *out_len,
                   mlp_error *err);

#endif
