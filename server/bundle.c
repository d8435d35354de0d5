/* bundle.c — encode/decode of published model bundles (see bundle.h). */
#include "bundle.h"

#include "crc32.h"
#include "le.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUNDLE_VERSION  1u
#define BUNDLE_ENSEMBLE 2u /* bundle.h: K networks after the labels */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    if (w->oom) return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) cap *= 2;
        unsigned char *p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u32(wbuf *w, uint32_t v)
{
    unsigned char b[4];
    le_put_u32(b, v);
    put(w, b, 4);
}

static void put_u64(wbuf *w, uint64_t v)
{
    unsigned char b[8];
    le_put_u64(b, v);
    put(w, b, 8);
}

static void put_str(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

/* One network, or k of them (version 2) when ensemble is set. */
static mlp_err encode(const net *const *nets, int k, int ensemble, int n_features,
                      char *const *features, int n_labels, char *const *labels, void **buf,
                      size_t *len)
{
    wbuf w = {0};
    put(&w, "MLPB", 4);
    put_u32(&w, ensemble ? BUNDLE_ENSEMBLE : BUNDLE_VERSION);
    put_u32(&w, (uint32_t)n_features);
    for (int i = 0; i < n_features; i++) put_str(&w, features[i]);
    put_u32(&w, (uint32_t)n_labels);
    for (int i = 0; i < n_labels; i++) put_str(&w, labels[i]);
    if (ensemble) put_u32(&w, (uint32_t)k);
    for (int i = 0; i < k; i++) {
        void *nb = NULL;
        size_t nlen = 0;
        mlp_err rc = net_save(nets[i], &nb, &nlen);
        if (rc) {
            free(w.p);
            return rc;
        }
        put_u64(&w, nlen);
        put(&w, nb, nlen);
        free(nb);
    }
    if (!w.oom) put_u32(&w, crc32_of(w.p, w.len));
    if (w.oom) {
        free(w.p);
        return MLP_ENOMEM;
    }
    *buf = w.p;
    *len = w.len;
    return MLP_OK;
}

mlp_err bundle_encode(const net *n, int n_features, char *const *features, int n_labels,
                      char *const *labels, void **buf, size_t *len)
{
    return encode(&n, 1, 0, n_features, features, n_labels, labels, buf, len);
}

mlp_err bundle_encode_ensemble(const net *const *members, int k, int n_features,
                               char *const *features, int n_labels, char *const *labels, void **buf,
                               size_t *len)
{
    assert(members && k >= 2 && k <= BUNDLE_MAX_MEMBERS);
    return encode(members, k, 1, n_features, features, n_labels, labels, buf, len);
}

typedef struct {
    const unsigned char *p;
    size_t len, off;
} rbuf;

static int get_u32(rbuf *r, uint32_t *v)
{
    if (r->len - r->off < 4) return -1;
    *v = le_get_u32(r->p + r->off);
    r->off += 4;
    return 0;
}

static int get_strs(rbuf *r, int *n_out, char ***out)
{
    uint32_t n;
    if (get_u32(r, &n) || n > r->len - r->off) return -1; /* each string needs >= 4 bytes */
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return -1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t sl;
        if (get_u32(r, &sl) || sl > r->len - r->off || !(v[i] = malloc((size_t)sl + 1))) {
            for (uint32_t k = 0; k < i; k++) free(v[k]);
            free(v);
            return -1;
        }
        memcpy(v[i], r->p + r->off, sl);
        v[i][sl] = '\0';
        r->off += sl;
    }
    *n_out = (int)n;
    *out = v;
    return 0;
}

mlp_err bundle_decode(const void *buf, size_t len, model_bundle **out, mlp_error *err)
{
    model_bundle *b = calloc(1, sizeof *b);
    if (!b) return MLP_ENOMEM;
    rbuf r = {buf, len, 0};
    mlp_err rc = MLP_ECORRUPT;
    uint32_t ver, lo, hi, crc;
    if (len < 12 || memcmp(buf, "MLPB", 4) != 0) {
        mlp_fail(err, rc, "model bundle: bad magic");
        goto out;
    }
    crc = le_get_u32((const unsigned char *)buf + len - 4);
    if (crc != crc32_of(buf, len - 4)) {
        mlp_fail(err, rc, "model bundle: checksum mismatch");
        goto out;
    }
    r.len = len - 4;
    r.off = 4;
    if (get_u32(&r, &ver) || (ver != BUNDLE_VERSION && ver != BUNDLE_ENSEMBLE)) {
        mlp_fail(err, rc, "model bundle: unsupported version");
        goto out;
    }
    if (get_strs(&r, &b->n_features, &b->features) || get_strs(&r, &b->n_labels, &b->labels)) {
        mlp_fail(err, rc, "model bundle: truncated");
        goto out;
    }
    uint32_t k = 1;
    if (ver == BUNDLE_ENSEMBLE) {
        if (get_u32(&r, &k) || k < 2 || k > BUNDLE_MAX_MEMBERS) {
            mlp_fail(err, rc, "model bundle: bad ensemble size");
            goto out;
        }
        if (!(b->members = calloc(k, sizeof *b->members))) {
            rc = mlp_fail(err, MLP_ENOMEM, "model bundle: out of memory");
            goto out;
        }
        b->n_members = (int)k;
    }
    for (uint32_t i = 0; i < k; i++) {
        if (get_u32(&r, &lo) || get_u32(&r, &hi)) {
            mlp_fail(err, rc, "model bundle: truncated");
            goto out;
        }
        uint64_t nlen = (uint64_t)hi << 32 | lo;
        if (i + 1 == k ? nlen != r.len - r.off : nlen > r.len - r.off) {
            mlp_fail(err, rc, "model bundle: bad network length");
            goto out;
        }
        net **dst = b->members ? &b->members[i] : &b->net;
        rc = net_load(r.p + r.off, (size_t)nlen, dst, err);
        if (rc) goto out;
        r.off += (size_t)nlen;
        rc = MLP_ECORRUPT;
    }
    if (b->members) b->net = b->members[0];
    for (uint32_t i = 1; b->members && i < k; i++) { /* ens_predict shares X, Y and the scratch */
        const net_spec *s0 = net_get_spec(b->members[0]), *si = net_get_spec(b->members[i]);
        if (si->task != s0->task || si->n_in != s0->n_in || si->n_out != s0->n_out) {
            mlp_fail(err, rc, "model bundle: ensemble members differ in shape");
            goto out;
        }
    }
    rc = MLP_OK;
    *out = b;
    return MLP_OK;
out:
    bundle_free(b);
    return rc;
}

void bundle_free(model_bundle *b)
{
    if (!b) return;
    if (b->members)
        for (int i = 0; i < b->n_members; i++) net_free(b->members[i]);
    else
        net_free(b->net);
    free(b->members);
    for (int i = 0; i < b->n_features; i++) free(b->features[i]);
    for (int i = 0; i < b->n_labels; i++) free(b->labels[i]);
    free(b->features);
    free(b->labels);
    free(b);
}
