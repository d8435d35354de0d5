/* gunzip.c — sniffing, streaming gzip decoder, and its whole-buffer form (see gunzip.h). */
#include "gunzip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define OUT_CHUNK 65536

enum { M_SNIFF, M_PASS, M_GZIP };

struct gunzip {
    size_t max_out;   /* bound on bytes handed to the sink, 0 = none */
    size_t out_bytes; /* bytes handed to the sink */
    int force;        /* the input must be gzip */
    gunzip_sink sink;
    void *ctx;             /* borrowed */
    int mode;              /* M_* */
    unsigned char head[2]; /* first bytes while sniffing */
    size_t nhead;
    z_stream z;
    int z_init;          /* inflateInit2 succeeded */
    int member_open;     /* inside a gzip member */
    int members;         /* members completed */
    unsigned char *obuf; /* OUT_CHUNK bytes */
    mlp_err failed;
    mlp_error failed_err;
};

mlp_err gunzip_new(size_t max_out, int force, gunzip_sink sink, void *ctx, gunzip **out)
{
    *out = NULL;
    gunzip *g = calloc(1, sizeof *g);
    if (!g) return MLP_ENOMEM;
    g->max_out = max_out;
    g->force = force;
    g->sink = sink;
    g->ctx = ctx;
    *out = g;
    return MLP_OK;
}

void gunzip_free(gunzip *g)
{
    if (!g) return;
    if (g->z_init) inflateEnd(&g->z);
    free(g->obuf);
    free(g);
}

int gunzip_is_gzip(const gunzip *g)
{
    return g->mode == M_GZIP;
}

static mlp_err stick(gunzip *g, mlp_error *err, mlp_err rc)
{
    g->failed = rc;
    if (err) g->failed_err = *err;
    return rc;
}

static mlp_err emit(gunzip *g, const unsigned char *d, size_t n, mlp_error *err)
{
    if (n == 0) return MLP_OK;
    if (g->max_out && n > g->max_out - g->out_bytes)
        return stick(g, err,
                     mlp_fail(err, MLP_ETOOLARGE,
                              g->mode == M_GZIP
                                  ? "the upload inflates to more than the limit of %zu bytes"
                                  : "the upload is larger than the limit of %zu bytes",
                              g->max_out));
    g->out_bytes += n;
    mlp_err rc = g->sink(g->ctx, d, n, err);
    if (rc != MLP_OK) return stick(g, err, rc);
    return MLP_OK;
}

static mlp_err inflate_some(gunzip *g, const unsigned char *d, size_t n, mlp_error *err)
{
    g->z.next_in = (unsigned char *)d;
    g->z.avail_in = (uInt)n;
    for (;;) {
        if (!g->member_open) {
            if (g->z.avail_in == 0) break;
            if (g->members > 0) inflateReset(&g->z);
            g->member_open = 1;
        }
        g->z.next_out = g->obuf;
        g->z.avail_out = OUT_CHUNK;
        int zr = inflate(&g->z, Z_NO_FLUSH);
        size_t got = OUT_CHUNK - g->z.avail_out;
        mlp_err rc = emit(g, g->obuf, got, err);
        if (rc != MLP_OK) return rc;
        if (zr == Z_STREAM_END) {
            g->member_open = 0;
            g->members++;
            continue;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            if (g->members > 0 && g->z.total_out == 0)
                return stick(
                    g, err,
                    mlp_fail(err, MLP_EINVAL, "bytes after the end of the gzip data are not gzip"));
            return stick(g, err,
                         mlp_fail(err, MLP_EINVAL, "corrupt gzip data (%s)",
                                  g->z.msg ? g->z.msg : "inflate failed"));
        }
        if (g->z.avail_in == 0 && g->z.avail_out != 0) break;
        if (zr == Z_BUF_ERROR && got == 0) break;
    }
    return MLP_OK;
}

/* The first two bytes are known (or the input ended): choose the mode. */
static mlp_err decide(gunzip *g, mlp_error *err)
{
    if (g->nhead == 2 && g->head[0] == 0x1f && g->head[1] == 0x8b) {
        g->mode = M_GZIP;
        g->obuf = malloc(OUT_CHUNK);
        if (!g->obuf) return stick(g, err, mlp_fail(err, MLP_ENOMEM, "out of memory"));
        if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK)
            return stick(g, err, mlp_fail(err, MLP_ENOMEM, "cannot start zlib"));
        g->z_init = 1;
        return inflate_some(g, g->head, 2, err);
    }
    if (g->force)
        return stick(
            g, err,
            mlp_fail(err, MLP_EINVAL, "Content-Encoding is gzip but the body is not gzip data"));
    g->mode = M_PASS;
    return emit(g, g->head, g->nhead, err);
}

mlp_err gunzip_feed(gunzip *g, const unsigned char *d, size_t n, mlp_error *err)
{
    if (g->failed) {
        if (err) *err = g->failed_err;
        return g->failed;
    }
    mlp_err rc;
    if (n == 0) return MLP_OK;
    if (g->mode == M_SNIFF) {
        while (n && g->nhead < 2) {
            g->head[g->nhead++] = *d++;
            n--;
            if (g->nhead == 1 && g->head[0] != 0x1f && !g->force) break;
        }
        if (g->nhead < 2 && g->head[0] == 0x1f) return MLP_OK;
        if (g->nhead < 2 && g->force) return MLP_OK;
        if ((rc = decide(g, err)) != MLP_OK) return rc;
    }
    if (n == 0) return MLP_OK;
    if (g->mode == M_PASS) return emit(g, d, n, err);
    return inflate_some(g, d, n, err);
}

mlp_err gunzip_finish(gunzip *g, mlp_error *err)
{
    if (g->failed) {
        if (err) *err = g->failed_err;
        return g->failed;
    }
    mlp_err rc;
    if (g->mode == M_SNIFF) {
        if (g->nhead == 0 && g->force)
            return stick(g, err,
                         mlp_fail(err, MLP_EINVAL,
                                  "Content-Encoding is gzip but the body is "
                                  "empty"));
        if ((rc = decide(g, err)) != MLP_OK) return rc;
    }
    if (g->mode == M_GZIP && (g->member_open || g->members == 0))
        return stick(g, err, mlp_fail(err, MLP_EINVAL, "the gzip data is truncated"));
    return MLP_OK;
}

/* gunzip_buf's sink: appends to a growing, NUL-terminated buffer. */
typedef struct {
    char *p;
    size_t len, cap; /* cap excludes the NUL's byte */
} growbuf;

static mlp_err grow_sink(void *ctx, const unsigned char *data, size_t len, mlp_error *err)
{
    growbuf *b = ctx;
    if (len > b->cap - b->len) {
        size_t cap = b->cap;
        while (len > cap - b->len) cap = cap * 2;
        char *np = realloc(b->p, cap + 1);
        if (!np) return mlp_fail(err, MLP_ENOMEM, "out of memory inflating gzip data");
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return MLP_OK;
}

mlp_err gunzip_buf(const unsigned char *in, size_t n, size_t max_out, char **out, size_t *out_len,
                   mlp_error *err)
{
    *out = NULL;
    *out_len = 0;
    gunzip *g = NULL;
    growbuf b = {0};
    /* A first guess of 4x the input, never past the limit's one extra byte. */
    b.cap = n * 4 + 1024;
    if (max_out && b.cap > max_out + 1) b.cap = max_out + 1;
    b.p = malloc(b.cap + 1);
    mlp_err rc = b.p ? MLP_OK : mlp_fail(err, MLP_ENOMEM, "out of memory inflating gzip data");
    if (rc != MLP_OK) goto out;
    b.p[0] = '\0';
    if ((rc = gunzip_new(max_out, 1, grow_sink, &b, &g)) != MLP_OK) {
        mlp_fail(err, rc, "out of memory inflating gzip data");
        goto out;
    }
    if ((rc = gunzip_feed(g, in, n, err)) != MLP_OK) goto out;
    if ((rc = gunzip_finish(g, err)) != MLP_OK) goto out;
    *out = b.p;
    *out_len = b.len;
    b.p = NULL;
out:
    gunzip_free(g);
    free(b.p);
    return rc;
}
