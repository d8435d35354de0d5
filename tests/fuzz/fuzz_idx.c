/* fuzz_idx.c — libFuzzer target: the IDX parser (server/idx.c), single file or images + labels.
 * First byte: role and chunk size. In images+labels mode the rest is split at a second byte
 * into an images and a labels file, attached with idx_attach_labels.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "dataset.h"
#include "idx.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mlp_err feed(idx_parser *p, const uint8_t *d, size_t n, size_t chunk, mlp_error *err)
{
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        mlp_err e = idx_feed(p, d + off, k, err);
        if (e) return e;
    }
    return idx_finish(p, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int pair = data[0] & 1;
    size_t chunk = (size_t)(data[0] >> 1) + 1;
    size_t split = size > 2 ? (size_t)data[1] * (size - 2) / 255 : 0;
    data += 2, size -= 2;
    (void)idx_sniff(data, size);
    ds_builder *b = NULL;
    idx_parser *im = NULL, *lb = NULL;
    ds_table *t = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    if (ds_builder_new(1u << 16, &b) != MLP_OK) return 0;
    if (!pair) {
        if (idx_new(b, IDX_SINGLE, 1u << 16, &im) != MLP_OK) goto out;
        if (feed(im, data, size, chunk, &err) != MLP_OK) goto out;
    } else {
        if (idx_new(b, IDX_IMAGES, 1u << 16, &im) != MLP_OK) goto out;
        if (idx_new(NULL, IDX_LABELS, 1u << 16, &lb) != MLP_OK) goto out;
        if (feed(im, data, split, chunk, &err) != MLP_OK) goto out;
        if (feed(lb, data + split, size - split, chunk, &err) != MLP_OK) goto out;
        (void)idx_count(im);
        if (idx_attach_labels(b, im, lb, &err) != MLP_OK) goto out;
    }
    if (ds_builder_finish(b, &t, &err) != MLP_OK) goto out;
out:
    ds_table_free(t);
    idx_free(im);
    idx_free(lb);
    ds_builder_free(b);
    return 0;
}
