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
 * Owns: nothing after returning. Borrows: the bundle and the info strings, during the call.
 * Threading: reentrant; the bundle is only read. */
#ifndef ONNX_EXPORT_H
#define ONNX_EXPORT_H

#include "bundle.h"
#include "mlp.h"

#include <stddef.h>

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

#endif
