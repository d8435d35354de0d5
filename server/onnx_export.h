/* onnx_export.h — a published model version as an ONNX file (the graph server/onnx.h describes).
 *
 * One network: Gemm per dense layer with the input standardisation folded into the first and the
 * output standardisation into the last (batch norm is already folded into a published net), the
 * hidden activation after each hidden Gemm and the head (Softmax, Sigmoid, another activation or
 * none) after the last. Activations without an ONNX op of their own in opset 17 use the standard
 * decompositions: swish = x·Sigmoid(x), mish = x·Tanh(Softplus(x)). An ensemble is exported as
 * one graph holding every member's layers (names prefixed m0_, m1_, ...) whose outputs a Mean
 * node averages, which is what mlpd serves for it (server/ensemble.h). The numbers are float32,
 * the folds computed in double and rounded once.
 *
 * metadata_props carry the task, the feature names and labels (JSON arrays of strings), the run
 * id, the model name and version, and for an ensemble its member count (keys in onnx.h).
 *
 * The exact fold. A folded graph computes x·W' + b' where mlpd computes ((x - m)/s)·W + b; the
 * two agree to rounding, not bit for bit, and mlpd keeps serving the unfolded form (folding loses
 * digits when |m| ≫ s). So that an import gives back the very network, each folded weight W' is
 * chosen among the floats within two ulps of W/s (W·ys for the output fold) as the one from which
 * W returns by float arithmetic, W = fl(W'·s) (fl(W'/ys) for the output fold) stepped up d times
 * to the next float, with d in 0..3 as small as possible; mostly d = 0, and d > 0 where W/s falls
 * where floats are sparser than W's. The "mlpd.exact" metadata (onnx.h) hold m, s, the output's
 * mean and scale, the folded layers' original biases, the steps d and a CRC-32 of the original
 * folded layers' weights. An import rebuilds the network from them and folds it again with
 * onnx_fold_layer: only when that gives the graph's initializers bit for bit (and the same steps)
 * and the rebuilt weights have the CRC does it use the rebuilt network. A network with
 * a weight no W' recovers (a zero or non-finite scale) is exported without "mlpd.exact"; an
 * ensemble too (mlpd imports single networks).
 *
 * Owns: nothing after returning. Borrows: the bundle and the info strings, during the call.
 * Threading: reentrant; the bundle is only read. */
#ifndef ONNX_EXPORT_H
#define ONNX_EXPORT_H

#include "bundle.h"
#include "mlp.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *model;  /* the model's name (metadata and graph name) */
    int version;        /* its version number */
    const char *run_id; /* the run that produced it, "" when none (imports, ensembles) */
} onnx_export_info;

/* Serialises b as an ONNX ModelProto (opset ONNX_OPSET). *buf is new (free()), *len its bytes.
 * MLP_ENOMEM when an allocation fails, MLP_EINVAL for a network no ONNX graph can express (none
 * that mlpd trains or imports). */
mlp_err onnx_export(const model_bundle *b, const onnx_export_info *info, void **buf, size_t *len,
                    mlp_error *err);

/* The folded weight *wp for weight w (fold_x: divided by the input scale xs; fold_y: multiplied
 * by the output scale ys): returns the steps d (0..ONNX_EXACT_MAX_STEPS) with which
 * onnx_unfold_weight(*wp, ...) gives back w bit for bit, or -1 when no float within two ulps of
 * the fold does (then *wp is the fold rounded to nearest). Pure. */
int onnx_fold_weight(float w, float xs, float ys, int fold_x, int fold_y, float *wp);

/* The weight a folded weight wp came from: fl(fl(wp / ys) · xs) (each division or product only
 * when its fold applies), then d times the next float up. Pure. */
float onnx_unfold_weight(float wp, float xs, float ys, int fold_x, int fold_y, int d);

/* Folds one dense layer (W out × in, b out) into the Gemm the graph carries (wf out × in, bf out):
 * the input standardisation when xm and xs are not NULL (the first layer), the output one when
 * ym and ys are not NULL (a linear last layer). d (out × in, may be NULL) receives each weight's
 * steps (0 for a miss). Returns the count of weights onnx_fold_weight misses. Deterministic: the
 * exporter and the importer's check call it and compare bits. */
size_t onnx_fold_layer(const float *W, const float *b, int out, int in, const float *xm,
                       const float *xs, const float *ym, const float *ys, float *wf, float *bf,
                       uint8_t *d);

/* CRC-32 (crc32.h) of n0 weights w0 then nl weights wl (NULL: none) as little-endian float32:
 * the "mlpd.exact.crc32" of the unfolded network's folded layers. */
uint32_t onnx_exact_crc(const float *w0, size_t n0, const float *wl, size_t nl);

/* Decodes base64 s (RFC 4648, padded) of exactly n bytes into out: 0, or -1 when s is not the
 * canonical encoding of n bytes. */
int onnx_b64_decode(const char *s, uint8_t *out, size_t n);

#endif
