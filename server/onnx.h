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
 * metadata_props carry the task, names and labels and, when a fold changed the weights, the
 * "mlpd.exact" entries from which the importer rebuilds the unfolded network bit for bit.
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

/* The exact round trip (onnx_export.h "The exact fold"): what undoes the folds bit for bit.
 * Float vectors are base64 (RFC 4648, padded) of little-endian float32. Steps are "<bits>:" and
 * base64 of one count (0..3) per weight of the layer, row-major out × in, low bits first: "1:"
 * one bit each, eight to a byte, when every count is 0 or 1, else "2:" two bits, four to a byte.
 * crc32 is the CRC-32 of the unfolded first layer's weights then, when it is folded on its own, the
 * last layer's (little-endian float32), so that a graph edited after export (which may still fold
 * from a network one ulp away) is told apart. The x_* and first-layer keys and crc32 are always
 * there with "mlpd.exact"; the y_* keys only when the last layer carries the output
 * standardisation, and the last-layer keys only then and when it is not the first layer. */
#define ONNX_META_EXACT         "mlpd.exact"         /* ONNX_EXACT_FORMAT */
#define ONNX_EXACT_FORMAT       "1"                  /* the layout described here */
#define ONNX_META_EXACT_X_MEAN  "mlpd.exact.x_mean"  /* input width floats */
#define ONNX_META_EXACT_X_SCALE "mlpd.exact.x_scale" /* input width floats */
#define ONNX_META_EXACT_B0      "mlpd.exact.b0"      /* the first layer's bias before the fold */
#define ONNX_META_EXACT_D0      "mlpd.exact.d0"      /* the first layer's steps */
#define ONNX_META_EXACT_Y_MEAN  "mlpd.exact.y_mean"  /* output width floats */
#define ONNX_META_EXACT_Y_SCALE "mlpd.exact.y_scale" /* output width floats */
#define ONNX_META_EXACT_BL      "mlpd.exact.bl"      /* the last layer's bias before the fold */
#define ONNX_META_EXACT_DL      "mlpd.exact.dl"      /* the last layer's steps */
#define ONNX_META_EXACT_CRC     "mlpd.exact.crc32"   /* 8 hex digits, onnx_exact_crc */
#define ONNX_EXACT_MAX_KEYS     10
#define ONNX_EXACT_MAX_STEPS    3 /* a step count fits in 2 bits */

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
