/* idx.c — IDX push parser (see idx.h).
 *
 * The header is collected byte by byte (it is at most 4 + 4*IDX_MAX_DIMS bytes), checked in
 * full, and only then are the columns declared and the matrix reserved for the declared count.
 * Items are converted straight from the caller's chunk when one lies wholly inside it, through
 * a one-item buffer otherwise. */
#include "idx.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDX_MAX_DIMS 16

struct idx_parser {
    ds_builder *b; /* borrowed; NULL for IDX_LABELS */
    idx_role role;
    size_t max_bytes;                        /* bound on the declared body, 0 = none */
    unsigned char hdr[4 + 4 * IDX_MAX_DIMS]; /* header bytes collected so far */
    size_t hdr_len, hdr_need; /* hdr_need: 4 until the magic is read, then the full size */
    int have_header;
    int type;            /* type byte */
    size_t esize;        /* bytes per value */
    uint64_t n;          /* items declared */
    uint64_t d;          /* values per item */
    size_t item_bytes;   /* d * esize */
    unsigned char *item; /* item_bytes buffer for items split across chunks */
    size_t item_fill;
    uint64_t done; /* items converted */
    float *vals;   /* d (+1 for the label slot) floats */
    int *labels;   /* IDX_LABELS: n values, grown as they arrive */
    size_t cap_labels;
    mlp_err failed;
    mlp_error failed_err;
};

static size_t type_size(int t)
{
    switch (t) {
    case 0x08:
    case 0x09:
        return 1;
    case 0x0B:
        return 2;
    case 0x0C:
    case 0x0D:
        return 4;
    case 0x0E:
        return 8;
    default:
        return 0;
    }
}

int idx_sniff(const unsigned char *s, size_t n)
{
    if (n < 3 || s[0] != 0 || s[1] != 0 || type_size(s[2]) == 0) return 0;
    return n < 4 || (s[3] >= 1 && s[3] <= IDX_MAX_DIMS);
}

mlp_err idx_new(ds_builder *b, idx_role role, size_t max_bytes, idx_parser **out)
{
    *out = NULL;
    idx_parser *p = calloc(1, sizeof *p);
    if (!p) return MLP_ENOMEM;
    p->b = b;
    p->role = role;
    p->max_bytes = max_bytes;
    p->hdr_need = 4;
    *out = p;
    return MLP_OK;
}

void idx_free(idx_parser *p)
{
    if (!p) return;
    free(p->item);
    free(p->vals);
    free(p->labels);
    free(p);
}

long idx_count(const idx_parser *p)
{
    return p->have_header ? (long)p->n : 0;
}

static const char *role_name(idx_role r)
{
    return r == IDX_IMAGES ? "images" : r == IDX_LABELS ? "labels" : "IDX file";
}

static mlp_err failf(idx_parser *p, mlp_error *err, mlp_err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static mlp_err failf(idx_parser *p, mlp_error *err, mlp_err code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->failed = code;
    mlp_fail(&p->failed_err, code, "%s: %s", role_name(p->role), msg);
    if (err) {
        long row = err->row, col = err->col;
        *err = p->failed_err;
        err->row = row;
        err->col = col;
    }
    return code;
}

static uint32_t be32(const unsigned char *s)
{
    return (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
}

/* The full header is in p->hdr: check it and set up the columns. */
static mlp_err start_body(idx_parser *p, mlp_error *err)
{
    int ndims = p->hdr[3];
    uint64_t d = 1;
    for (int k = 0; k < ndims; k++) {
        uint32_t dim = be32(p->hdr + 4 + 4 * k);
        if (dim == 0)
            return failf(p, err, MLP_EINVAL, "dimension %d of %d is zero in the header", k + 1,
                         ndims);
        if (k == 0) {
            p->n = dim;
        } else {
            d *= dim;
            if (d > DS_MAX_COLS)
                return failf(p, err, MLP_EINVAL, "the header declares items of more than %d values",
                             DS_MAX_COLS);
        }
    }
    p->d = d;
    if (p->role == IDX_LABELS) {
        if (ndims != 1 || p->type == 0x0D || p->type == 0x0E)
            return failf(p, err, MLP_EINVAL,
                         "labels must be a 1-D IDX file of integers (got %d dimensions, type "
                         "0x%02X)",
                         ndims, p->type);
    } else if (p->role == IDX_IMAGES && ndims < 2) {
        return failf(p, err, MLP_EINVAL, "images must have 2 or more dimensions, not %d", ndims);
    }
    int cols = (int)d + (p->role == IDX_IMAGES);
    if (cols > DS_MAX_COLS)
        return failf(p, err, MLP_EINVAL, "the header declares items of more than %d values",
                     DS_MAX_COLS);
    /* n < 2^32 and d <= 10^6 so the product fits in 64 bits. */
    uint64_t body = p->n * d * p->esize;
    if (p->max_bytes && body > p->max_bytes)
        return failf(p, err, MLP_ETOOLARGE,
                     "the header declares %llu bytes of values, more than the upload limit of "
                     "%zu bytes",
                     (unsigned long long)body, p->max_bytes);
    if (body > SIZE_MAX / 4)
        return failf(p, err, MLP_ETOOLARGE, "the header declares %llu bytes of values",
                     (unsigned long long)body);
    p->item_bytes = (size_t)d * p->esize;
    p->item = malloc(p->item_bytes);
    p->vals = calloc((size_t)cols, sizeof *p->vals);
    if (!p->item || !p->vals) return failf(p, err, MLP_ENOMEM, "out of memory");
    p->have_header = 1;
    if (p->role == IDX_LABELS) return MLP_OK;

    mlp_error e = {0};
    mlp_err rc;
    if (p->role == IDX_SINGLE) {
        rc = ds_builder_set_prefix_names(p->b, cols, ndims == 1 ? "c" : "p", &e);
    } else {
        char **names = calloc((size_t)cols, sizeof *names);
        if (!names) return failf(p, err, MLP_ENOMEM, "out of memory");
        rc = MLP_OK;
        for (int j = 0; j + 1 < cols && rc == MLP_OK; j++)
            if (asprintf(&names[j], "p%d", j) < 0) {
                names[j] = NULL;
                rc = MLP_ENOMEM;
            }
        if (rc == MLP_OK && !(names[cols - 1] = strdup("label"))) rc = MLP_ENOMEM;
        if (rc == MLP_OK)
            rc = ds_builder_set_columns(p->b, cols, (const char *const *)names, &e);
        else
            mlp_fail(&e, rc, "out of memory");
        for (int j = 0; j < cols; j++) free(names[j]);
        free(names);
    }
    if (rc != MLP_OK) return failf(p, err, rc, "%s", e.msg);
    if ((rc = ds_builder_reserve(p->b, (long)p->n, &e)) != MLP_OK)
        return failf(p, err, rc, "%s", e.msg);
    return MLP_OK;
}

/* Converts one item of p->item_bytes bytes at s into p->vals and hands it on. */
static mlp_err take_item(idx_parser *p, const unsigned char *s, mlp_error *err)
{
    size_t d = (size_t)p->d;
    float *v = p->vals;
    switch (p->type) {
    case 0x08:
        for (size_t i = 0; i < d; i++) v[i] = (float)s[i];
        break;
    case 0x09:
        for (size_t i = 0; i < d; i++) v[i] = (float)(int8_t)s[i];
        break;
    case 0x0B:
        for (size_t i = 0; i < d; i++)
            v[i] = (float)(int16_t)(uint16_t)((unsigned)s[2 * i] << 8 | s[2 * i + 1]);
        break;
    case 0x0C:
        for (size_t i = 0; i < d; i++) v[i] = (float)(int32_t)be32(s + 4 * i);
        break;
    case 0x0D:
        for (size_t i = 0; i < d; i++) {
            uint32_t u = be32(s + 4 * i);
            memcpy(&v[i], &u, 4);
        }
        break;
    case 0x0E:
        for (size_t i = 0; i < d; i++) {
            uint64_t u = (uint64_t)be32(s + 8 * i) << 32 | be32(s + 8 * i + 4);
            double x;
            memcpy(&x, &u, 8);
            v[i] = (float)x;
        }
        break;
    }
    if (p->role == IDX_LABELS) {
        if (p->done == p->cap_labels) {
            size_t cap = p->cap_labels ? p->cap_labels * 2 : 1024;
            if (cap > p->n) cap = (size_t)p->n;
            int *l = realloc(p->labels, cap * sizeof *l);
            if (!l) return failf(p, err, MLP_ENOMEM, "out of memory");
            p->labels = l;
            p->cap_labels = cap;
        }
        p->labels[p->done++] = (int)v[0];
        return MLP_OK;
    }
    int cols = (int)d + (p->role == IDX_IMAGES);
    if (p->role == IDX_IMAGES) v[d] = 0.0f;
    mlp_error e = {0};
    mlp_err rc = ds_builder_add_row(p->b, cols, v, &e);
    if (rc != MLP_OK) {
        if (err) {
            err->row = e.row;
            err->col = e.col;
        }
        return failf(p, err, rc, "item %llu: %s", (unsigned long long)p->done + 1, e.msg);
    }
    p->done++;
    return MLP_OK;
}

mlp_err idx_feed(idx_parser *p, const unsigned char *s, size_t len, mlp_error *err)
{
    if (p->failed) {
        if (err) *err = p->failed_err;
        return p->failed;
    }
    mlp_err rc;
    while (len && !p->have_header) {
        size_t k = p->hdr_need - p->hdr_len;
        if (k > len) k = len;
        memcpy(p->hdr + p->hdr_len, s, k);
        p->hdr_len += k;
        s += k;
        len -= k;
        if (p->hdr_len < p->hdr_need) return MLP_OK;
        if (p->hdr_need == 4) {
            if (p->hdr[0] != 0 || p->hdr[1] != 0 || type_size(p->hdr[2]) == 0)
                return failf(p, err, MLP_EINVAL,
                             "not an IDX file (magic %02X %02X %02X %02X; expected 00 00 "
                             "08..0E nn)",
                             p->hdr[0], p->hdr[1], p->hdr[2], p->hdr[3]);
            if (p->hdr[3] == 0 || p->hdr[3] > IDX_MAX_DIMS)
                return failf(p, err, MLP_EINVAL, "the header declares %d dimensions (1 to %d)",
                             p->hdr[3], IDX_MAX_DIMS);
            p->type = p->hdr[2];
            p->esize = type_size(p->type);
            p->hdr_need = 4 + 4 * (size_t)p->hdr[3];
            continue;
        }
        if ((rc = start_body(p, err)) != MLP_OK) return rc;
    }
    while (len) {
        if (p->done == p->n)
            return failf(p, err, MLP_EINVAL,
                         "%zu trailing bytes after the %llu items the header declares", len,
                         (unsigned long long)p->n);
        if (p->item_fill == 0 && len >= p->item_bytes) {
            if ((rc = take_item(p, s, err)) != MLP_OK) return rc;
            s += p->item_bytes;
            len -= p->item_bytes;
            continue;
        }
        size_t k = p->item_bytes - p->item_fill;
        if (k > len) k = len;
        memcpy(p->item + p->item_fill, s, k);
        p->item_fill += k;
        s += k;
        len -= k;
        if (p->item_fill == p->item_bytes) {
            p->item_fill = 0;
            if ((rc = take_item(p, p->item, err)) != MLP_OK) return rc;
        }
    }
    return MLP_OK;
}

mlp_err idx_finish(idx_parser *p, mlp_error *err)
{
    if (p->failed) {
        if (err) *err = p->failed_err;
        return p->failed;
    }
    if (!p->have_header)
        return failf(p, err, MLP_EINVAL, "truncated inside the header (%zu of %zu bytes)",
                     p->hdr_len, p->hdr_need);
    if (p->done < p->n)
        return failf(p, err, MLP_EINVAL,
                     "truncated: the header declares %llu items of %zu bytes, the body holds "
                     "%llu (and %zu bytes more)",
                     (unsigned long long)p->n, p->item_bytes, (unsigned long long)p->done,
                     p->item_fill);
    return MLP_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

mlp_err idx_attach_labels(ds_builder *b, const idx_parser *images, const idx_parser *labels,
                          mlp_error *err)
{
    mlp_err rc = MLP_OK;
    int *uniq = NULL;
    char **names = NULL;
    float *cells = NULL;
    size_t nu = 0;
    if (!images->have_header || images->done != images->n || !labels->have_header ||
        labels->done != labels->n)
        return mlp_fail(err, MLP_EINVAL, "images and labels must both be complete");
    if (images->n != labels->n)
        return mlp_fail(err, MLP_EINVAL, "images hold %llu items but labels hold %llu",
                        (unsigned long long)images->n, (unsigned long long)labels->n);
    size_t n = (size_t)labels->n;
    uniq = malloc(n * sizeof *uniq);
    cells = malloc(n * sizeof *cells);
    if (!uniq || !cells) {
        rc = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(uniq, labels->labels, n * sizeof *uniq);
    qsort(uniq, n, sizeof *uniq, cmp_int);
    for (size_t i = 0; i < n; i++)
        if (nu == 0 || uniq[nu - 1] != uniq[i]) uniq[nu++] = uniq[i];
    names = calloc(nu, sizeof *names);
    if (!names) {
        rc = mlp_fail(err, MLP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nu; i++) {
        if (asprintf(&names[i], "%d", uniq[i]) < 0) {
            names[i] = NULL;
            rc = mlp_fail(err, MLP_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const int *hit = bsearch(&labels->labels[i], uniq, nu, sizeof *uniq, cmp_int);
        cells[i] = (float)(hit - uniq);
    }
    int col = (int)images->d;
    if ((rc = ds_builder_declare_categorical(b, col, (int)nu, (const char *const *)names, err)) !=
        MLP_OK)
        goto out;
    rc = ds_builder_set_column(b, col, (long)n, cells, err);
out:
    if (names)
        for (size_t i = 0; i < nu; i++) free(names[i]);
    free(names);
    free(uniq);
    free(cells);
    return rc;
}

int idx_image_shape(const idx_parser *p, int image[3])
{
    if (!p || !p->have_header || p->role == IDX_LABELS) return 0;
    int ndims = p->hdr[3];
    if (ndims != 3 && ndims != 4) return 0;
    image[0] = (int)be32(p->hdr + 8);
    image[1] = (int)be32(p->hdr + 12);
    image[2] = ndims == 4 ? (int)be32(p->hdr + 16) : 1;
    return 1;
}
