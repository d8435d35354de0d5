/* idx.h — push parser for IDX files (the MNIST / Fashion-MNIST container), feeding a ds_builder.
 *
 * An IDX file is a 4-byte magic 00 00 TT NN (TT: 08 ubyte, 09 byte, 0B int16, 0C int32, 0D float,
 * 0E double; NN: number of dimensions), NN big-endian uint32 dimensions, then the values,
 * big-endian, row-major. The first dimension counts items; the rest multiply into the item size.
 *
 * Roles:
 *   IDX_SINGLE  one file on its own: 1-D → one column "c0"; 2-D or more → columns p0..p{d-1}.
 *   IDX_IMAGES  the images of a pair (2-D or more): columns p0..p{d-1} + "label"; the label
 *               cells are 0 until idx_attach_labels fills them, so images stream into the
 *               builder whether the labels part came before or after.
 *   IDX_LABELS  the labels of a pair: 1-D, integer type; values are kept in the parser (one int
 *               per item), no builder.
 * Lying headers are MLP_EINVAL with a message saying what does not add up: zero dimensions or
 * a zero dimension, an item size over DS_MAX_COLS, sizes that overflow, a body shorter than the
 * header declares (at finish) or longer (trailing bytes, as soon as they arrive); a header that
 * declares more bytes than max_bytes is MLP_ETOOLARGE before anything is allocated.
 *
 * Owns: its header and row buffers, the label values. Borrows: the ds_builder (not for
 * IDX_LABELS), which must outlive the parser.
 * Threading: one parser belongs to one thread. */
#ifndef IDX_H
#define IDX_H

#include "dataset.h"
#include "mlp.h"

#include <stddef.h>

typedef enum { IDX_SINGLE = 0, IDX_IMAGES, IDX_LABELS } idx_role;

typedef struct idx_parser idx_parser;

/* 1 when the n bytes at s start like an IDX file (00 00, a known type byte, and when n >= 4 a
 * dimension count of 1 or more). Needs n >= 3 to say yes. */
int idx_sniff(const unsigned char *s, size_t n);

/* *out is new. b is borrowed (NULL for IDX_LABELS). max_bytes bounds the body the header may
 * declare (0 = unbounded). */
mlp_err idx_new(ds_builder *b, idx_role role, size_t max_bytes, idx_parser **out);
/* Parses the next len bytes. Errors are sticky. */
mlp_err idx_feed(idx_parser *p, const unsigned char *data, size_t len, mlp_error *err);
/* Ends the input: a truncated header or body is MLP_EINVAL. */
mlp_err idx_finish(idx_parser *p, mlp_error *err);
/* Items declared by the header (0 before it is read). */
long idx_count(const idx_parser *p);
/* Pair mode, after both parsers finished: checks the item counts agree, declares the "label"
 * column categorical with levels the decimal strings of the values seen (sorted numerically)
 * and fills it. */
mlp_err idx_attach_labels(ds_builder *b, const idx_parser *images, const idx_parser *labels,
                          mlp_error *err);
/* The image shape of the items once the header is read: n × H × W is {H, W, 1}, n × H × W × C
 * is {H, W, C}; returns 1 then, else 0 (labels, vectors, more dimensions; p may be NULL). */
int idx_image_shape(const idx_parser *p, int image[3]);
/* NULL-tolerant. */
void idx_free(idx_parser *p);

#endif
