/* infer_v2.h — the parts of the /v2 inference front-end (api/infer_v2.c) that tests drive
 * without a server: the infer answer's JSON, which is whole or nothing. The handlers themselves
 * (health, metadata, infer, and the model repository extension) are declared by handlers.h from
 * the route table.
 *
 * Threading: reentrant. */
#ifndef INFER_V2_H
#define INFER_V2_H

#include "net.h"

#include <jansson.h>
#include <stddef.h>

/* The outputs of /v2 infer; which ones a model has depends on its task. */
typedef enum { OUT_PROB = 0, OUT_LABEL, OUT_PRED, OUT_RECON, OUT_RECON_ERR } v2_out;

/* One output a request asks for. */
typedef struct {
    v2_out which;
    int binary; /* 1: raw bytes after the JSON header; 0: JSON "data" */
    int top;    /* classification extension: the k best classes as BYTES "score:index:label"
                   ([N, k]) instead of the FP32 probabilities; 0 = off */
} v2_want;

/* A computed infer request, what its answer is built from. Every pointer is borrowed. */
typedef struct {
    const char *name;    /* the model's */
    int version;         /* the model's */
    char *const *labels; /* class names in output order, n_labels of them */
    int n_labels;
    const net_spec *sp;  /* n_in = D, n_out = K */
    json_t *id;          /* the request's "id", or NULL */
    const v2_want *want; /* the outputs asked for, in answer order */
    int n_want;
    const float *X; /* the inputs, N x D, row-major */
    const float *Y; /* the outputs, N x K, row-major */
    long N;
} v2_result;

/* The answer's JSON {"model_name", "model_version", ["id",] "outputs": [...]}: JSON outputs with
 * their "data" (a value that is not finite is null), binary ones with
 * parameters.binary_data_size, whose sum goes to *bin_total. New reference, or NULL when any
 * allocation failed (never a partial answer). */
json_t *v2_answer_json(const v2_result *r, size_t *bin_total);

#endif
