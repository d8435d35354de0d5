/* fuzz_onnx.c — libFuzzer target: ONNX import (server/onnx_import.c) of an untrusted file. A
 * file that parses must give, for every task it fits, a net that predicts one row without
 * touching memory it does not own; the metadata lookups must stay in bounds. The seeds in
 * corpus/fuzz_onnx/ are files torch.onnx.export and onnx.helper wrote (classifier with input
 * scaling and batch norm, swish and mish regressors, softsign, an autoencoder, gelu), and every
 * crash found is kept there as a regression input.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "net.h"
#include "onnx.h"
#include "onnx_import.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void predict_one(const net *n)
{
    const net_spec *sp = net_get_spec(n);
    if (sp->n_in < 1 || sp->n_out < 1) abort();
    float *x = calloc((size_t)sp->n_in, sizeof *x), *y = calloc((size_t)sp->n_out, sizeof *y);
    float *scratch = malloc(net_scratch_floats(n, 1) * sizeof(float) + 1);
    if (x && y && scratch) (void)net_predict(n, x, 1, y, scratch);
    free(x);
    free(y);
    free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mlp_error err;
    mlp_error_clear(&err);
    onnx_import *im = NULL;
    if (onnx_import_parse(data, size, 1u << 22, &im, &err) != MLP_OK) return 0;
    if (onnx_import_n_in(im) < 1 || onnx_import_n_out(im) < 1 || onnx_import_task(im) >= TASK_COUNT)
        abort();
    (void)onnx_import_meta(im, ONNX_META_TASK);
    (void)onnx_import_meta(im, ONNX_META_LABELS);
    (void)onnx_import_producer(im);
    for (int t = 0; t < TASK_COUNT; t++) {
        net *n = NULL;
        if (onnx_import_net(im, (net_task)t, &n, &err) == MLP_OK) predict_one(n);
        net_free(n);
    }
    onnx_import_free(im);
    return 0;
}
