/* fuzz_csv.c — libFuzzer target: the streaming CSV parser (server/csv.c) into a dataset builder.
 * The first byte picks the header mode and the chunk size the text is fed in (chunk boundaries
 * inside quotes, numbers and line ends are where streaming parsers break).
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "csv.h"
#include "dataset.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    csv_header mode = (csv_header)(data[0] % 3);
    size_t chunk = (size_t)(data[0] >> 2) + 1;
    data++, size--;
    ds_builder *b = NULL;
    csv_parser *p = NULL;
    ds_table *t = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    if (ds_builder_new(1u << 20, &b) != MLP_OK) return 0;
    if (csv_new(b, mode, &p) != MLP_OK) goto out;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (csv_feed(p, (const char *)data + off, n, &err) != MLP_OK) goto out;
    }
    if (csv_finish(p, &err) != MLP_OK) goto out;
    if (ds_builder_finish(b, &t, &err) != MLP_OK) goto out;
out:
    ds_table_free(t);
    csv_free(p);
    ds_builder_free(b);
    return 0;
}
