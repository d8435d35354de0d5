/* bundle.h — a published model as stored: the core net plus what serving needs to speak the
 * user's language (feature names for object instances, class labels as the dataset named them).
 * Binary, versioned, CRC-checked: "MLPB" | u32 version | u32 n_features | names | u32 n_labels |
 * labels | u64 net_len | net bytes (net_save) | u32 crc32 (over everything before it), each
 * string as u32 length + bytes, all little-endian (core/le.h). The CRC is core/crc32.h's
 * (IEEE, the same value as zlib's crc32()). An ensemble (server/ensemble.h) is format version 2:
 * the same header, then u32 K (2..BUNDLE_MAX_MEMBERS) and K × (u64 net_len | net bytes) in place
 * of the one net, so an ensemble version carries copies of its members' weights and needs no
 * other version to load. Members of one task and the same input and output widths, or the
 * bundle is corrupt.
 *
 * Owns: a model_bundle owns its net and strings. Threading: read-only once decoded. */
#ifndef BUNDLE_H
#define BUNDLE_H

#include "mlp.h"
#include "net.h"

#include <stddef.h>

#define BUNDLE_MAX_MEMBERS 16 /* networks in one ensemble bundle */

typedef struct {
    net *net;      /* the network; an ensemble's first member */
    int n_members; /* ensemble: K >= 2 members, members[0] == net; 0 for a single network */
    net **members; /* n_members networks, owned (NULL for a single network) */
    int n_features;
    char **features; /* n_features names */
    int n_labels;    /* classification: class names in output order; else 0 */
    char **labels;
} model_bundle;

/* *buf new (free()). Names are borrowed. */
mlp_err bundle_encode(const net *n, int n_features, char *const *features, int n_labels,
                      char *const *labels, void **buf, size_t *len);
/* An ensemble bundle of k (2..BUNDLE_MAX_MEMBERS) networks that share the feature names and
 * labels. *buf new (free()). Networks and names are borrowed. */
mlp_err bundle_encode_ensemble(const net *const *members, int k, int n_features,
                               char *const *features, int n_labels, char *const *labels, void **buf,
                               size_t *len);
/* *out new (bundle_free). Corrupt or truncated input is MLP_ECORRUPT. */
mlp_err bundle_decode(const void *buf, size_t len, model_bundle **out, mlp_error *err);
/* NULL-tolerant. */
void bundle_free(model_bundle *b);

#endif
