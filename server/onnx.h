/* onnx.h — what ONNX export (server/onnx_export.c) and ONNX import share: the opset and IR
 * version mlpd writes, the graph's tensor names, the metadata_props keys, and the bounds an
 * import puts on untrusted files.
 *
 * The messages themselves are protobuf-c structs generated at build time by protoc-c from
 * Debian's onnx.proto (libonnx-dev, ONNX 1.12) into $(BUILD)/gen/onnx.pb-c.h; libprotobuf-c does
 * the wire format. Only server/onnx_*.c include that header, so callers of this one need neither
 * protobuf-c nor the generated code.
 *
 * An exported graph: one input "input" [N, n_in] FP32 with a symbolic batch dimension "N"; one
 * Gemm per dense layer (transB = 1, W as mlpd stores it, out × in), input standardisation folded
 * into the first Gemm and output standardisation into the last (or a Mul and Add after a
 * non-linear output activation); then the activation ops. Its one output is named after the
 * task, as mlpd's /v2 names its tensors: "probabilities", "prediction" or "reconstruction".
 *
 * Threading: constants and pure inline functions only. */
#ifndef ONNX_H
#define ONNX_H

#include "net.h"

/* The default ("ai.onnx") operator set mlpd writes: 17 is the newest that Debian's python3-onnx
 * 1.12 checker knows, and every op mlpd needs exists in it. */
#define ONNX_OPSET 17
/* IR version 8, the one ONNX 1.12 writes with opset 17. */
#define ONNX_IR_VERSION 8
#define ONNX_PRODUCER   "mlpd"

/* Tensor names (those of mlpd's /v2 protocol, api/infer_v2.c). */
#define ONNX_INPUT_NAME "input"
#define ONNX_BATCH_DIM  "N" /* the symbolic first dimension of input and output */

/* The graph output's name for a task: "probabilities", "prediction" or "reconstruction". */
static inline const char *onnx_output_name(net_task t)
{
    switch (t) {
    case TASK_CLASSIFICATION:
        return "probabilities";
    case TASK_REGRESSION:
        return "prediction";
    case TASK_AUTOENCODER:
        return "reconstruction";
    case TASK_COUNT:
        break;
    }
    return "output";
}

/* metadata_props keys. Features and labels are JSON arrays of strings ("[]" for none), the task
 * is task_name()'s spelling, the run id is "" for a version no run produced. */
#define ONNX_META_TASK     "mlpd.task"
#define ONNX_META_FEATURES "mlpd.features"
#define ONNX_META_LABELS   "mlpd.labels"
#define ONNX_META_RUN_ID   "mlpd.run_id"
#define ONNX_META_MODEL    "mlpd.model"
#define ONNX_META_VERSION  "mlpd.version"
#define ONNX_META_MEMBERS  "mlpd.ensemble_members" /* K, for an exported ensemble */

/* Bounds on an untrusted ONNX file (import). A file over a bound is refused (400), never
 * truncated. The byte size is also bounded by the HTTP layer's upload limit. */
#define ONNX_MAX_BYTES        (256u << 20) /* a whole serialized ModelProto */
#define ONNX_MAX_NODES        1024         /* graph.node */
#define ONNX_MAX_INITIALIZERS 1024         /* graph.initializer */
#define ONNX_MAX_DIMS         8            /* dims of one tensor */
#define ONNX_MAX_NAME         256          /* bytes of one tensor, node or op name */
#define ONNX_MAX_META         64           /* metadata_props entries */
#define ONNX_MAX_META_VALUE                                                                        \
    (1u << 20) /* bytes of one metadata value (feature names of 784 pixels, ...) */

#endif
