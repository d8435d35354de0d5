/* fuzz_ingest.c — libFuzzer target: the whole upload pipeline of POST /api/v1/datasets
 * (api/ingest.c: optional gzip -> content sniffing -> CSV / JSON / IDX / multipart -> table).
 * The first byte picks the Content-Type and Content-Encoding and the chunk size; multipart uses
 * the boundary "fz".
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "ingest.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
    "text/csv",
    "application/json",
    "application/octet-stream",
    "multipart/form-data; boundary=fz",
    "text/plain; charset=utf-8",
    "application/x-idx",
    "application/gzip",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *ct = types[data[0] & 7];
    const char *enc = (data[0] & 8) ? "gzip" : NULL;
    size_t chunk = (size_t)(data[0] >> 4) * 64 + 1;
    data++, size--;
    ingest_opts o;
    memset(&o, 0, sizeof o);
    o.header = CSV_HEADER_AUTO;
    o.max_bytes = 1u << 22;
    o.max_table_bytes = 1u << 22;
    o.size_hint = size;
    o.max_depth = 32;
    ingest *in = NULL;
    ds_table *t = NULL;
    char *name = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    if (ingest_new(ct, enc, &o, &in, &err) != MLP_OK) goto out;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (ingest_feed(in, data + off, n, &err) != MLP_OK) goto out;
    }
    (void)ingest_finish(in, &t, &name, &err);
out:
    free(name);
    ds_table_free(t);
    ingest_free(in);
    return 0;
}
