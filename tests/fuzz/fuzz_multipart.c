/* fuzz_multipart.c — libFuzzer target: the multipart/form-data parser (server/multipart.c). The
 * first input line is the Content-Type header value (boundary extraction is fuzzed too), the
 * rest the body, fed in chunks of a size from the first byte. The callbacks check the parser's
 * promises: data and end only inside a part, names are strings.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "multipart.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    int in_part;
    size_t bytes;
} ctx;

static mlp_err begin(void *c, const char *name, const char *filename, const char *ct,
                     mlp_error *err)
{
    (void)err;
    ctx *x = c;
    if (x->in_part) abort(); /* a part began inside a part */
    x->in_part = 1;
    x->bytes += strlen(name) + (filename ? strlen(filename) : 0) + (ct ? strlen(ct) : 0);
    return MLP_OK;
}

static mlp_err pdata(void *c, const unsigned char *d, size_t n, mlp_error *err)
{
    (void)err;
    ctx *x = c;
    if (!x->in_part) abort();                        /* data outside a part */
    for (size_t i = 0; i < n; i++) x->bytes += d[i]; /* touch every byte */
    return MLP_OK;
}

static mlp_err pend(void *c, mlp_error *err)
{
    (void)err;
    ctx *x = c;
    if (!x->in_part) abort();
    x->in_part = 0;
    return MLP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++, size--;
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return 0;
    size_t hl = (size_t)(nl - data);
    char *ctype = malloc(hl + 1);
    if (!ctype) return 0;
    memcpy(ctype, data, hl);
    ctype[hl] = 0;
    data += hl + 1, size -= hl + 1;
    char boundary[80];
    mlp_error err;
    mlp_error_clear(&err);
    multipart *m = NULL;
    ctx x = {0, 0};
    multipart_callbacks cb = {begin, pdata, pend};
    if (multipart_boundary(ctype, boundary, sizeof boundary, &err) != MLP_OK) goto out;
    if (multipart_new(boundary, &cb, &x, &m) != MLP_OK) goto out;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (multipart_feed(m, data + off, n, &err) != MLP_OK) goto out;
    }
    if (multipart_finish(m, &err) == MLP_OK && x.in_part) abort(); /* finished inside a part */
out:
    multipart_free(m);
    free(ctype);
    return 0;
}
