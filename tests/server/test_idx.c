/* test_idx.c — IDX push parser: types, single files, image/label pairs, lying headers, chunking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"

typedef struct {
    unsigned char *p;
    size_t len;
} buf;

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* An IDX file of `type` with the given dims; values[i] converted to the type, big-endian. */
static buf make_idx(int type, int ndims, const uint32_t *dims, const double *values, size_t nv)
{
    size_t es = type == 0x08 || type == 0x09 ? 1 : type == 0x0B ? 2 : type == 0x0E ? 8 : 4;
    buf b;
    b.len = 4 + 4 * (size_t)ndims + nv * es;
    b.p = calloc(1, b.len);
    assert_non_null(b.p);
    b.p[2] = (unsigned char)type;
    b.p[3] = (unsigned char)ndims;
    for (int k = 0; k < ndims; k++) put32(b.p + 4 + 4 * k, dims[k]);
    unsigned char *q = b.p + 4 + 4 * ndims;
    for (size_t i = 0; i < nv; i++, q += es) {
        double v = values[i];
        if (type == 0x08)
            *q = (unsigned char)v;
        else if (type == 0x09)
            *q = (unsigned char)(int8_t)v;
        else if (type == 0x0B) {
            uint16_t u = (uint16_t)(int16_t)v;
            q[0] = (unsigned char)(u >> 8);
            q[1] = (unsigned char)u;
        } else if (type == 0x0C)
            put32(q, (uint32_t)(int32_t)v);
        else if (type == 0x0D) {
            float f = (float)v;
            uint32_t u;
            memcpy(&u, &f, 4);
            put32(q, u);
        } else {
            uint64_t u;
            memcpy(&u, &v, 8);
            put32(q, (uint32_t)(u >> 32));
            put32(q + 4, (uint32_t)u);
        }
    }
    return b;
}

static mlp_err feed(idx_parser *p, const buf *b, unsigned split, mlp_error *e)
{
    srand(split);
    mlp_err rc = MLP_OK;
    for (size_t i = 0; i < b->len && rc == MLP_OK;) {
        size_t k = split == 0 ? b->len : split == 1 ? 1 : 1 + (size_t)rand() % 13;
        if (k > b->len - i) k = b->len - i;
        rc = idx_feed(p, b->p + i, k, e);
        i += k;
    }
    return rc == MLP_OK ? idx_finish(p, e) : rc;
}

static mlp_err parse_single(const buf *b, unsigned split, size_t max_bytes, ds_table **out,
                            mlp_error *e)
{
    ds_builder *bl = NULL;
    idx_parser *p = NULL;
    *out = NULL;
    mlp_error_clear(e);
    assert_int_equal(ds_builder_new(0, &bl), MLP_OK);
    assert_int_equal(idx_new(bl, IDX_SINGLE, max_bytes, &p), MLP_OK);
    mlp_err rc = feed(p, b, split, e);
    if (rc == MLP_OK) rc = ds_builder_finish(bl, out, e);
    idx_free(p);
    ds_builder_free(bl);
    return rc;
}

static void types_and_shapes(void **state)
{
    (void)state;
    const int types[] = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E};
    for (size_t ti = 0; ti < 6; ti++) {
        int type = types[ti];
        uint32_t dims[3] = {5, 2, 3};
        double v[30];
        for (int i = 0; i < 30; i++) {
            v[i] = type == 0x08   ? i * 8
                   : type == 0x09 ? i - 15
                   : type == 0x0B ? (i - 15) * 1000
                   : type == 0x0C ? (i - 15) * 100000
                                  : (i - 15) * 0.25;
        }
        buf b = make_idx(type, 3, dims, v, 30);
        for (unsigned split = 0; split < 6; split++) {
            ds_table *t;
            mlp_error e;
            assert_int_equal(parse_single(&b, split, 0, &t, &e), MLP_OK);
            assert_int_equal(t->rows, 5);
            assert_int_equal(t->cols, 6);
            assert_string_equal(t->columns[0].name, "p0");
            assert_string_equal(t->columns[5].name, "p5");
            for (int i = 0; i < 30; i++) assert_true(t->data[i] == (float)v[i]);
            ds_table_free(t);
        }
        free(b.p);
    }
    /* 1-D: one column */
    uint32_t n = 4;
    double v[4] = {3, 1, 4, 1};
    buf b = make_idx(0x08, 1, &n, v, 4);
    ds_table *t;
    mlp_error e;
    assert_int_equal(parse_single(&b, 1, 0, &t, &e), MLP_OK);
    assert_int_equal(t->cols, 1);
    assert_int_equal(t->rows, 4);
    assert_string_equal(t->columns[0].name, "c0");
    assert_true(t->data[2] == 4);
    ds_table_free(t);
    free(b.p);
}

static void lying_headers(void **state)
{
    (void)state;
    ds_table *t;
    mlp_error e;
    double v[12] = {0};
    /* zero dimension */
    uint32_t d0[3] = {2, 0, 3};
    buf b = make_idx(0x08, 3, d0, v, 0);
    assert_int_equal(parse_single(&b, 0, 0, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "zero"));
    free(b.p);
    /* zero dimensions */
    b = make_idx(0x08, 0, NULL, v, 0);
    assert_int_equal(parse_single(&b, 1, 0, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "0 dimensions"));
    free(b.p);
    /* body shorter than declared */
    uint32_t d1[2] = {3, 4};
    b = make_idx(0x08, 2, d1, v, 11);
    assert_int_equal(parse_single(&b, 2, 0, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "truncated"));
    free(b.p);
    /* trailing bytes */
    b = make_idx(0x08, 2, d1, v, 12);
    unsigned char *q = realloc(b.p, b.len + 1);
    assert_non_null(q);
    b.p = q;
    b.p[b.len++] = 7;
    assert_int_equal(parse_single(&b, 3, 0, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "trailing"));
    free(b.p);
    /* item size overflowing the column limit, and huge declared bodies */
    uint32_t big[3] = {1, 65536, 65536};
    b = make_idx(0x08, 3, big, v, 0);
    assert_int_equal(parse_single(&b, 0, 0, &t, &e), MLP_EINVAL);
    free(b.p);
    uint32_t many[2] = {4000000000u, 784};
    b = make_idx(0x08, 2, many, v, 0);
    assert_int_equal(parse_single(&b, 0, 1 << 30, &t, &e), MLP_ETOOLARGE);
    assert_non_null(strstr(e.msg, "upload limit"));
    free(b.p);
    /* truncated header, bad magic, bad type */
    b = make_idx(0x08, 2, d1, v, 0);
    b.len = 9;
    assert_int_equal(parse_single(&b, 1, 0, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "header"));
    b.p[2] = 0x0A;
    b.len = 8;
    assert_int_equal(parse_single(&b, 0, 0, &t, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "not an IDX"));
    free(b.p);
    /* non-finite float value names the item */
    double nanv[4] = {1, NAN, 2, 3};
    uint32_t d2[2] = {2, 2};
    b = make_idx(0x0D, 2, d2, nanv, 4);
    assert_int_equal(parse_single(&b, 0, 0, &t, &e), MLP_EINVAL);
    assert_int_equal(e.row, 1);
    assert_int_equal(e.col, 2);
    free(b.p);
    assert_true(idx_sniff((const unsigned char *)"\0\0\x08\x03", 4));
    assert_false(idx_sniff((const unsigned char *)"\0\0\x08\x00", 4));
    assert_false(idx_sniff((const unsigned char *)"1,2,", 4));
}

/* images then labels, or labels then images: same table. */
static void pairs_in_both_orders(void **state)
{
    (void)state;
    uint32_t di[3] = {6, 2, 2};
    double iv[24];
    for (int i = 0; i < 24; i++) iv[i] = (i * 37) % 256;
    uint32_t dl = 6;
    double lv[6] = {10, 3, 7, 3, 10, 0};
    buf imgs = make_idx(0x08, 3, di, iv, 24), labs = make_idx(0x08, 1, &dl, lv, 6);
    ds_table *ref = NULL;
    for (int order = 0; order < 2; order++) {
        for (unsigned split = 0; split < 5; split++) {
            ds_builder *b = NULL;
            idx_parser *pi = NULL, *pl = NULL;
            mlp_error e = {0};
            assert_int_equal(ds_builder_new(0, &b), MLP_OK);
            assert_int_equal(idx_new(b, IDX_IMAGES, 0, &pi), MLP_OK);
            assert_int_equal(idx_new(NULL, IDX_LABELS, 0, &pl), MLP_OK);
            if (order == 0) {
                assert_int_equal(feed(pi, &imgs, split, &e), MLP_OK);
                assert_int_equal(feed(pl, &labs, split, &e), MLP_OK);
            } else {
                assert_int_equal(feed(pl, &labs, split, &e), MLP_OK);
                assert_int_equal(feed(pi, &imgs, split, &e), MLP_OK);
            }
            assert_int_equal(idx_attach_labels(b, pi, pl, &e), MLP_OK);
            ds_table *t;
            assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
            assert_int_equal(t->cols, 5);
            assert_string_equal(t->columns[4].name, "label");
            const ds_column *c = &t->columns[4];
            assert_int_equal(c->type, COL_CATEGORICAL);
            assert_int_equal(c->n_levels, 4);
            const char *want[] = {"0", "3", "7", "10"};
            for (int k = 0; k < 4; k++) assert_string_equal(c->levels[k], want[k]);
            for (int r = 0; r < 6; r++) {
                char s[8];
                snprintf(s, sizeof s, "%d", (int)lv[r]);
                assert_string_equal(c->levels[(int)t->data[r * 5 + 4]], s);
                for (int k = 0; k < 4; k++) assert_true(t->data[r * 5 + k] == (float)iv[r * 4 + k]);
            }
            if (!ref)
                ref = t;
            else {
                assert_memory_equal(ref->data, t->data, sizeof(float) * 30);
                ds_table_free(t);
            }
            idx_free(pi);
            idx_free(pl);
            ds_builder_free(b);
        }
    }
    ds_table_free(ref);
    /* counts that differ */
    dl = 5;
    free(labs.p);
    labs = make_idx(0x08, 1, &dl, lv, 5);
    ds_builder *b = NULL;
    idx_parser *pi = NULL, *pl = NULL;
    mlp_error e = {0};
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(idx_new(b, IDX_IMAGES, 0, &pi), MLP_OK);
    assert_int_equal(idx_new(NULL, IDX_LABELS, 0, &pl), MLP_OK);
    assert_int_equal(feed(pi, &imgs, 0, &e), MLP_OK);
    assert_int_equal(feed(pl, &labs, 0, &e), MLP_OK);
    assert_int_equal(idx_attach_labels(b, pi, pl, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "6 items but labels hold 5"));
    idx_free(pi);
    idx_free(pl);
    /* labels that are not 1-D */
    assert_int_equal(idx_new(NULL, IDX_LABELS, 0, &pl), MLP_OK);
    assert_int_equal(feed(pl, &imgs, 0, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "1-D"));
    idx_free(pl);
    ds_builder_free(b);
    free(imgs.p);
    free(labs.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(types_and_shapes),
        cmocka_unit_test(lying_headers),
        cmocka_unit_test(pairs_in_both_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
