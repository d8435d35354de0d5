/* f32.c — the .f32 matrix format (see f32.h). */
#include "f32.h"

#include "le.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
/* SHA-256 through the low-level SHA256_* calls (deprecated in OpenSSL 3, not removed): the same
 * SHA-NI/AVX code as EVP, without EVP's provider and config initialisation, which kept ~2 MB of
 * libcrypto resident in an idle daemon (bench/RESULTS.md, Daemon). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#define F32_MAGIC    "MLPDF32\n"
#define F32_ALIGN    4096              /* O_DIRECT alignment (blob_put_write) */
#define F32_IO_CHUNK ((size_t)4 << 20) /* bytes per write, a multiple of F32_ALIGN */

static void hex(char *out, const unsigned char *d, unsigned n)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void *f32_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
#ifdef MADV_HUGEPAGE
    /* On virtual machines faulting a large buffer 4 KiB at a time can cost more than reading
     * the file into it. */
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (p && n >= 4 * huge) {
        uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
        if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE); /* advice only: errors ignored */
    }
#endif
    return p;
}

mlp_err f32_sha256(const void *bytes, size_t n, char out[F32_SHA_HEX])
{
    unsigned char dig[SHA256_DIGEST_LENGTH];
    SHA256_CTX md;
    if (!SHA256_Init(&md) || !SHA256_Update(&md, bytes, n) || !SHA256_Final(dig, &md))
        return MLP_ENOMEM;
    hex(out, dig, SHA256_DIGEST_LENGTH);
    return MLP_OK;
}

mlp_err f32_write(blob_put *p, const float *data, long rows, int cols, char sha[F32_SHA_HEX],
                  mlp_error *err)
{
    assert(p && rows >= 0 && cols >= 1 && (rows == 0 || data));
    mlp_err e = MLP_OK;
    unsigned char *buf = NULL;
    SHA256_CTX md;
    size_t total = (size_t)rows * (size_t)cols;
    size_t bytes = F32_HEADER_BYTES + total * 4;
    size_t cap = (bytes + F32_ALIGN - 1) / F32_ALIGN * F32_ALIGN;
    if (cap > F32_IO_CHUNK) cap = F32_IO_CHUNK;
    void *mem = NULL;
    if (posix_memalign(&mem, F32_ALIGN, cap) == 0) buf = mem;
    if (!buf || !SHA256_Init(&md)) {
        e = mlp_fail(err, MLP_ENOMEM, "out of memory hashing the dataset");
        goto out;
    }
    memset(buf, 0, F32_HEADER_BYTES);
    memcpy(buf, F32_MAGIC, 8);
    le_put_u64(buf + 8, (uint64_t)rows);
    le_put_u64(buf + 16, (uint64_t)cols);
    size_t fill = F32_HEADER_BYTES, done = 0;
    for (;;) {
        size_t n = (cap - fill) / 4;
        if (n > total - done) n = total - done;
        le_put_f32s(buf + fill, data + done, n);
        if (!SHA256_Update(&md, buf + fill, n * 4)) {
            e = mlp_fail(err, MLP_EIO, "SHA-256 failed");
            goto out;
        }
        fill += n * 4;
        done += n;
        if (fill < cap && done < total) continue;
        e = blob_put_write(p, buf, fill, err); /* full chunks are aligned: O_DIRECT */
        if (e != MLP_OK) goto out;
        fill = 0;
        if (done == total) break;
    }
    unsigned char dig[SHA256_DIGEST_LENGTH];
    if (!SHA256_Final(dig, &md)) {
        e = mlp_fail(err, MLP_EIO, "SHA-256 failed");
        goto out;
    }
    hex(sha, dig, SHA256_DIGEST_LENGTH);
    e = blob_put_end(p, err);
out:
    free(buf);
    return e;
}

mlp_err f32_check(blob_get *g, long rows, int cols)
{
    unsigned char hdr[F32_HEADER_BYTES];
    mlp_err e = blob_read(g, hdr, sizeof hdr, 0);
    if (e != MLP_OK) return e;
    if (memcmp(hdr, F32_MAGIC, 8) != 0 || le_get_u64(hdr + 8) != (uint64_t)rows ||
        le_get_u64(hdr + 16) != (uint64_t)cols ||
        (unsigned long long)blob_size(g) !=
            F32_HEADER_BYTES + (unsigned long long)rows * (unsigned long long)cols * 4)
        return MLP_ECORRUPT;
    return MLP_OK;
}

mlp_err f32_read_all(blob_get *g, long rows, int cols, const char *sha256, float **out)
{
    *out = NULL;
    size_t n = (size_t)rows * (size_t)cols;
    float *v = f32_alloc(n * 4);
    if (!v) return MLP_ENOMEM;
    mlp_err e = blob_read(g, v, n * 4, F32_HEADER_BYTES);
    /* The blob holds little-endian bytes: hash them before converting. */
    char sha[F32_SHA_HEX];
    if (e == MLP_OK) e = f32_sha256(v, n * 4, sha);
    if (e == MLP_OK && strcmp(sha, sha256) != 0) e = MLP_ECORRUPT;
    if (e != MLP_OK) {
        free(v);
        return e;
    }
    le_f32s_to_host(v, n);
    *out = v;
    return MLP_OK;
}

mlp_err f32_read_rows(blob_get *g, int cols, long offset, long n, float *out)
{
    size_t cells = (size_t)n * (size_t)cols;
    long long off = F32_HEADER_BYTES + (long long)offset * cols * 4;
    mlp_err e = blob_read(g, out, cells * 4, off);
    if (e == MLP_OK) le_f32s_to_host(out, cells);
    return e;
}
