/* multipart.h — strict push parser for multipart/form-data request bodies (RFC 7578 / 2046).
 *
 * The body is split on "--boundary" lines; each part's headers (at most 16 KiB) are parsed for
 * Content-Disposition: form-data; name="..."[; filename="..."] and Content-Type, and its body
 * bytes are streamed to the part_data callback as they arrive, never buffered whole. The
 * boundary may be split across chunks anywhere. A preamble before the first boundary and an
 * epilogue after the closing one are ignored. A part without a name, header lines that are too
 * long or malformed, or a body that ends before the closing boundary is MLP_EINVAL.
 * libmicrohttpd's MHD_PostProcessor is not used: multipart.c's opening note gives the measured
 * reasons (rules it cannot enforce, errors without a reason, a live connection it requires).
 *
 * Owns: its header buffer. Borrows: the callback context.
 * Threading: one parser belongs to one thread. */
#ifndef MULTIPART_H
#define MULTIPART_H

#include "mlp.h"

#include <stddef.h>

typedef struct {
    /* A part begins. name is the form field; filename and content_type may be NULL. All three
     * are borrowed for the call. */
    mlp_err (*part_begin)(void *ctx, const char *name, const char *filename,
                          const char *content_type, mlp_error *err);
    /* Part body bytes, borrowed for the call. */
    mlp_err (*part_data)(void *ctx, const unsigned char *data, size_t len, mlp_error *err);
    /* The current part's body is complete. */
    mlp_err (*part_end)(void *ctx, mlp_error *err);
} multipart_callbacks;

typedef struct multipart multipart;

/* Extracts the boundary parameter of a multipart/form-data Content-Type header value into out
 * (cap bytes). Missing, empty, longer than 70 characters or with characters RFC 2046 does not
 * allow is MLP_EINVAL. */
mlp_err multipart_boundary(const char *content_type, char *out, size_t cap, mlp_error *err);

/* *out is new; cb and ctx are borrowed and must outlive the parser. */
mlp_err multipart_new(const char *boundary, const multipart_callbacks *cb, void *ctx,
                      multipart **out);
/* Parses the next len bytes. A callback's error, like any other, is sticky and returned. */
mlp_err multipart_feed(multipart *m, const unsigned char *data, size_t len, mlp_error *err);
/* Ends the input: a missing closing boundary is MLP_EINVAL. */
mlp_err multipart_finish(multipart *m, mlp_error *err);
/* NULL-tolerant. */
void multipart_free(multipart *m);

#endif
