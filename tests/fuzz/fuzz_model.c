/* fuzz_model.c — libFuzzer target: model-buffer loading, net_load (core/net.c) and bundle_decode
 * (server/bundle.c: net + feature names + labels), chosen by the first byte. A buffer that loads
 * must give a net that predicts one row without touching memory it does not own.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "bundle.h"
#include "net.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void predict_one(const net *n)
{
    const net_spec *sp = net_get_spec(n);
    if (sp->n_in < 1 || sp->n_out < 1 || sp->n_in > (1 << 20) || sp->n_out > (1 << 20)) abort();
    float *x = calloc((size_t)sp->n_in, sizeof *x), *y = calloc((size_t)sp->n_out, sizeof *y);
    float *scratch = malloc(net_scratch_floats(n, 1) * sizeof(float) + 1);
    if (x && y && scratch) (void)net_predict(n, x, 1, y, scratch);
    free(x);
    free(y);
    free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] & 1;
    data++, size--;
    mlp_error err;
    mlp_error_clear(&err);
    if (which == 0) {
        net *n = NULL;
        if (net_load(data, size, &n, &err) == MLP_OK) predict_one(n);
        net_free(n);
    } else {
        model_bundle *b = NULL;
        if (bundle_decode(data, size, &b, &err) == MLP_OK) predict_one(b->net);
        bundle_free(b);
    }
    return 0;
}
