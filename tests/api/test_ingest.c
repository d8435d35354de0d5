/* test_ingest.c — the upload pipeline end to end: every content type, gzip anywhere, IDX pairs in
 * both part orders, JSON bodies, limits (zip bomb, the JSON reader's cell and row caps), each fed
 * in several chunkings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ingest.h"
#include "jsonrows.h"

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (n == 0) return;
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static buf gz(const void *d, size_t n)
{
    buf out = {0};
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    out.cap = deflateBound(&z, (uLong)n) + 16;
    out.p = malloc(out.cap);
    assert_non_null(out.p);
    z.next_in = (unsigned char *)d;
    z.avail_in = (uInt)n;
    z.next_out = out.p;
    z.avail_out = (uInt)out.cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.len = out.cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static void put32(buf *b, uint32_t v)
{
    unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put(b, q, 4);
}

/* n images of 2x3 ubyte pixels (value (i*7+k)%256) and n labels i%3*5. */
static buf idx_images(uint32_t n)
{
    buf b = {0};
    put(&b, "\0\0\x08\x03", 4);
    put32(&b, n);
    put32(&b, 2);
    put32(&b, 3);
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < 6; k++) {
            unsigned char v = (unsigned char)((i * 7 + (uint32_t)k) % 256);
            put(&b, &v, 1);
        }
    return b;
}

static buf idx_labels(uint32_t n)
{
    buf b = {0};
    put(&b, "\0\0\x08\x01", 4);
    put32(&b, n);
    for (uint32_t i = 0; i < n; i++) {
        unsigned char v = (unsigned char)(i % 3 * 5);
        put(&b, &v, 1);
    }
    return b;
}

static void part(buf *b, const char *name, const void *d, size_t n)
{
    char h[200];
    snprintf(h, sizeof h,
             "--BOUND\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"x\"\r\n\r\n",
             name);
    puts_(b, h);
    put(b, d, n);
    puts_(b, "\r\n");
}

static ingest_opts opts(void)
{
    ingest_opts o = {CSV_HEADER_AUTO, 1 << 24, 0, 0, 0, 0, 0};
    return o;
}

static mlp_err run(const char *ct, const char *ce, const ingest_opts *o, const buf *body,
                   unsigned split, ds_table **out, char **name, mlp_error *e)
{
    ingest *in = NULL;
    *out = NULL;
    mlp_error_clear(e);
    mlp_err rc = ingest_new(ct, ce, o, &in, e);
    if (rc != MLP_OK) return rc;
    srand(split);
    for (size_t i = 0; i < body->len && rc == MLP_OK;) {
        size_t k = split == 0 ? body->len : split == 1 ? 1 : 1 + (size_t)rand() % 9;
        if (k > body->len - i) k = body->len - i;
        rc = ingest_feed(in, body->p + i, k, e);
        i += k;
    }
    if (rc == MLP_OK) rc = ingest_finish(in, out, name, e);
    ingest_free(in);
    return rc;
}

static void same_table(const ds_table *a, const ds_table *b)
{
    assert_int_equal(a->rows, b->rows);
    assert_int_equal(a->cols, b->cols);
    for (int j = 0; j < a->cols; j++) {
        assert_string_equal(a->columns[j].name, b->columns[j].name);
        assert_int_equal(a->columns[j].type, b->columns[j].type);
        assert_int_equal(a->columns[j].n_levels, b->columns[j].n_levels);
        for (int k = 0; k < a->columns[j].n_levels; k++)
            assert_string_equal(a->columns[j].levels[k], b->columns[j].levels[k]);
    }
    assert_memory_equal(a->data, b->data, (size_t)a->rows * (size_t)a->cols * sizeof(float));
}

/* Runs one-shot, byte by byte and in random splits; all must agree. Returns the one-shot. */
static mlp_err run_all(const char *ct, const char *ce, const buf *body, ds_table **out, char **name,
                       mlp_error *e)
{
    ingest_opts o = opts();
    mlp_err rc = run(ct, ce, &o, body, 0, out, name, e);
    for (unsigned split = 1; split < 5; split++) {
        ds_table *t;
        char *n2 = NULL;
        mlp_error e2;
        mlp_err rc2 = run(ct, ce, &o, body, split, &t, name ? &n2 : NULL, &e2);
        assert_int_equal(rc, rc2);
        if (rc == MLP_OK)
            same_table(*out, t);
        else
            assert_string_equal(e->msg, e2.msg);
        if (name && *name) assert_string_equal(*name, n2);
        free(n2);
        ds_table_free(t);
    }
    return rc;
}

static const char *CSV = "x,y,label\n1,2,cat\n3,4.5,dog\n-1,0,cat\n";

static void check_csv_table(const ds_table *t)
{
    assert_int_equal(t->rows, 3);
    assert_int_equal(t->cols, 3);
    assert_string_equal(t->columns[2].name, "label");
    assert_int_equal(t->columns[2].n_levels, 2);
    assert_true(t->data[4] == 4.5f);
    assert_true(t->data[5] == 1);
}

static void csv_plain_and_gzip(void **state)
{
    (void)state;
    buf plain = {0};
    puts_(&plain, CSV);
    buf z = gz(plain.p, plain.len);
    ds_table *t;
    mlp_error e;
    assert_int_equal(run_all("text/csv", NULL, &plain, &t, NULL, &e), MLP_OK);
    check_csv_table(t);
    ds_table_free(t);
    assert_int_equal(run_all("Text/CSV; charset=utf-8", NULL, &z, &t, NULL, &e), MLP_OK);
    check_csv_table(t);
    ds_table_free(t);
    assert_int_equal(run_all("text/csv", "gzip", &z, &t, NULL, &e), MLP_OK);
    check_csv_table(t);
    ds_table_free(t);
    assert_int_equal(run_all("application/gzip", NULL, &z, &t, NULL, &e), MLP_OK);
    check_csv_table(t);
    ds_table_free(t);
    /* Content-Encoding: gzip on a body that is not gzip */
    assert_int_equal(run_all("text/csv", "gzip", &plain, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "not gzip"));
    /* truncated / corrupt gzip */
    buf cut = {0};
    put(&cut, z.p, z.len - 5);
    assert_int_equal(run_all("text/csv", NULL, &cut, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "truncated"));
    cut.p[12] ^= 0xff;
    cut.p[13] ^= 0xff;
    assert_int_equal(run_all("text/csv", NULL, &cut, &t, NULL, &e), MLP_EINVAL);
    /* two concatenated gzip members are one stream */
    buf two = {0};
    buf za = gz("a,b\n1,2\n", 8), zb = gz("3,4\n", 4);
    put(&two, za.p, za.len);
    put(&two, zb.p, zb.len);
    assert_int_equal(run_all("text/csv", NULL, &two, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->rows, 2);
    ds_table_free(t);
    /* errors keep row and column */
    buf bad = {0};
    puts_(&bad, "a,b\n1,2\n3,\n");
    assert_int_equal(run_all("text/csv", NULL, &bad, &t, NULL, &e), MLP_EINVAL);
    assert_int_equal(e.row, 2);
    assert_int_equal(e.col, 2);
    free(plain.p);
    free(z.p);
    free(cut.p);
    free(two.p);
    free(za.p);
    free(zb.p);
    free(bad.p);
}

static void check_pair_table(const ds_table *t, uint32_t n)
{
    assert_int_equal(t->rows, n);
    assert_int_equal(t->cols, 7);
    assert_string_equal(t->columns[0].name, "p0");
    assert_string_equal(t->columns[6].name, "label");
    const ds_column *c = &t->columns[6];
    assert_int_equal(c->type, COL_CATEGORICAL);
    assert_int_equal(c->n_levels, 3);
    assert_string_equal(c->levels[0], "0");
    assert_string_equal(c->levels[1], "5");
    assert_string_equal(c->levels[2], "10");
    for (uint32_t i = 0; i < n; i++) {
        assert_true(t->data[i * 7 + 6] == (float)(i % 3));
        assert_true(t->data[i * 7 + 2] == (float)((i * 7 + 2) % 256));
    }
}

static void multipart_uploads(void **state)
{
    (void)state;
    const char *ct = "multipart/form-data; boundary=BOUND";
    buf im = idx_images(40), lb = idx_labels(40);
    buf imz = gz(im.p, im.len), lbz = gz(lb.p, lb.len);
    ds_table *t;
    char *name = NULL;
    mlp_error e;
    for (int order = 0; order < 4; order++) {
        buf body = {0};
        const buf *a = order & 2 ? &imz : &im, *l = order & 2 ? &lbz : &lb;
        if (order & 1) {
            part(&body, "labels", l->p, l->len);
            part(&body, "name", "fashion-train", 13);
            part(&body, "images", a->p, a->len);
        } else {
            part(&body, "images", a->p, a->len);
            part(&body, "labels", l->p, l->len);
        }
        puts_(&body, "--BOUND--\r\n");
        assert_int_equal(run_all(ct, NULL, &body, &t, &name, &e), MLP_OK);
        check_pair_table(t, 40);
        if (order & 1)
            assert_string_equal(name, "fashion-train");
        else
            assert_null(name);
        free(name);
        name = NULL;
        ds_table_free(t);
        /* the whole multipart body gzip-compressed too */
        buf bz = gz(body.p, body.len);
        assert_int_equal(run_all(ct, "gzip", &bz, &t, NULL, &e), MLP_OK);
        check_pair_table(t, 40);
        ds_table_free(t);
        free(bz.p);
        free(body.p);
    }
    /* a single "file" part: CSV, IDX, gzip of either */
    buf csv = {0};
    puts_(&csv, CSV);
    buf csvz = gz(csv.p, csv.len);
    const buf *files[] = {&csv, &csvz, &im, &imz};
    for (int i = 0; i < 4; i++) {
        buf body = {0};
        part(&body, "file", files[i]->p, files[i]->len);
        puts_(&body, "--BOUND--");
        assert_int_equal(run_all(ct, NULL, &body, &t, NULL, &e), MLP_OK);
        if (i < 2)
            check_csv_table(t);
        else {
            assert_int_equal(t->rows, 40);
            assert_int_equal(t->cols, 6);
        }
        ds_table_free(t);
        free(body.p);
    }
    /* mistakes */
    buf body = {0};
    part(&body, "images", im.p, im.len);
    puts_(&body, "--BOUND--");
    assert_int_equal(run_all(ct, NULL, &body, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "labels"));
    free(body.p);
    body = (buf){0};
    part(&body, "images", im.p, im.len);
    buf lb39 = idx_labels(39);
    part(&body, "labels", lb39.p, lb39.len);
    puts_(&body, "--BOUND--");
    assert_int_equal(run_all(ct, NULL, &body, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "40 items but labels hold 39"));
    free(body.p);
    body = (buf){0};
    part(&body, "file", csv.p, csv.len);
    part(&body, "images", im.p, im.len);
    puts_(&body, "--BOUND--");
    assert_int_equal(run_all(ct, NULL, &body, &t, NULL, &e), MLP_EINVAL);
    free(body.p);
    body = (buf){0};
    part(&body, "wat", csv.p, csv.len);
    puts_(&body, "--BOUND--");
    assert_int_equal(run_all(ct, NULL, &body, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "\"wat\""));
    free(body.p);
    body = (buf){0};
    part(&body, "name", "x", 1);
    puts_(&body, "--BOUND--");
    assert_int_equal(run_all(ct, NULL, &body, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "no \"file\" part"));
    free(body.p);
    mlp_error_clear(&e);
    ingest_opts o = opts();
    ingest *in = NULL;
    assert_int_equal(ingest_new("multipart/form-data", NULL, &o, &in, &e), MLP_EINVAL);
    assert_null(in);
    free(im.p);
    free(lb.p);
    free(imz.p);
    free(lbz.p);
    free(csv.p);
    free(csvz.p);
    free(lb39.p);
}

static void octet_stream_idx(void **state)
{
    (void)state;
    buf im = idx_images(10), imz = gz(im.p, im.len);
    ds_table *t;
    mlp_error e;
    assert_int_equal(run_all("application/octet-stream", NULL, &im, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->rows, 10);
    assert_int_equal(t->cols, 6);
    ds_table_free(t);
    assert_int_equal(run_all("application/octet-stream", NULL, &imz, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->rows, 10);
    ds_table_free(t);
    assert_int_equal(run_all("application/x-gzip", NULL, &imz, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->cols, 6);
    ds_table_free(t);
    buf csv = {0};
    puts_(&csv, CSV);
    assert_int_equal(run_all("application/octet-stream", NULL, &csv, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "not an IDX file"));
    free(csv.p);
    free(im.p);
    free(imz.p);
}

static void json_bodies(void **state)
{
    (void)state;
    ds_table *t;
    char *name = NULL;
    mlp_error e;
    /* streamed: a bad cell is reported by the feed that carries it, before the body ends (a
     * reader that holds the body whole only sees it at finish) */
    {
        ingest_opts so = opts();
        ingest *in = NULL;
        assert_int_equal(ingest_new("application/json", NULL, &so, &in, &e), MLP_OK);
        const char *head = "{\"rows\": [[1, 2], [3, null], ";
        assert_int_equal(ingest_feed(in, head, strlen(head), &e), MLP_EINVAL);
        assert_string_equal(e.field, "rows[1][1]");
        ingest_free(in);
    }
    buf b = {0};
    puts_(&b, "{\"name\": \"iris\", \"columns\": [\"a\", \"b\", \"species\"],"
              " \"rows\": [[1, 2.5, \"setosa\"], [3, 4, \"virginica\"], [5, 6e-1, 7]]}");
    assert_int_equal(run_all("application/json", NULL, &b, &t, &name, &e), MLP_OK);
    assert_string_equal(name, "iris");
    free(name);
    name = NULL;
    assert_int_equal(t->rows, 3);
    assert_string_equal(t->columns[2].name, "species");
    assert_int_equal(t->columns[2].type, COL_CATEGORICAL);
    assert_int_equal(t->columns[2].n_levels, 3);
    assert_string_equal(t->columns[2].levels[0], "7");
    assert_true(t->data[7] == 0.6f);
    ds_table_free(t);
    buf z = gz(b.p, b.len);
    assert_int_equal(run_all("application/gzip", NULL, &z, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->rows, 3);
    ds_table_free(t);
    free(z.p);
    free(b.p);
    /* without columns: c0.. */
    b = (buf){0};
    puts_(&b, "{\"rows\": [[1, 2], [3, 4]]}");
    assert_int_equal(run_all("application/json", NULL, &b, &t, &name, &e), MLP_OK);
    assert_null(name);
    assert_string_equal(t->columns[1].name, "c1");
    ds_table_free(t);
    free(b.p);
    struct {
        const char *body, *field, *msg;
    } bad[] = {
        {"{\"rows\": [[1, 2], [3, 4], [5, 6, 7]]}", "rows[2]", "3 cells, expected 2"},
        {"{\"rows\": [[1, 2], [3, null]]}", "rows[1][1]", "number or a string"},
        {"{\"rows\": [[1, \"a\"], [3, \"\"]]}", "rows[1][1]", "empty cell"},
        {"{\"rows\": [[1, 2], 5]}", "rows[1]", "must be an array"},
        {"{\"rows\": [[1, 1e300]]}", "rows[0][1]", "not finite"},
        {"{\"rows\": 5}", "rows", "array of arrays"},
        {"{\"columns\": [\"a\", 1], \"rows\": [[1, 2]]}", "columns[1]", "string"},
        {"{\"columns\": [\"a\"], \"rows\": [[1, 2]]}", "rows[0]", "2 cells, expected 1"},
        {"{\"rows\": [[1]], \"extra\": 1}", "extra", "unknown field"},
        {"{\"name\": 5, \"rows\": [[1]]}", "name", "string"},
        {"{\"rows\": []}", "", "no rows"},
        {"[1, 2]", "", "JSON object"},
        {"{\"rows\": [[1, 2]", "", "invalid JSON"},
        {"{\"rows\": [[1]], \"rows\": [[2]]}", "", "duplicate"},
        {"{\"rows\": [[1]]} x", "", "end of file"},
        {"{\"rows\": [[01]]}", "", "invalid"},
        {"{\"rows\": [[\"\\ud800\"]]}", "", "invalid Unicode"},
        {"{\"rows\": [[\"a\xff\"]]}", "", "decode byte"},
        {"{\"rows\": [[\"a\\u0000\"]]}", "", "\\u0000"},
        {"{\"rows\": [[1, 2]], \"columns\": [\"a\"]}", "columns", "1 column names for rows of 2"},
        {"{\"rows\": [[1, 2]], \"columns\": [\"a\", \"a\"]}", "columns", "more than once"},
        {"{\"rows\": [[1, true]]}", "rows[0][1]", "number or a string"},
        {"{\"rows\": [[1, [2]]]}", "rows[0][1]", "number or a string"},
        {"", "", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = (buf){0};
        puts_(&b, bad[i].body);
        assert_int_equal(run_all("application/json", NULL, &b, &t, NULL, &e), MLP_EINVAL);
        if (!strstr(e.msg, bad[i].msg) || strcmp(e.field, bad[i].field) != 0)
            fail_msg("%s: field \"%s\" msg \"%s\"", bad[i].body, e.field, e.msg);
        free(b.p);
    }
    /* "columns" after "rows" names them; escapes and UTF-8 decode into the level */
    b = (buf){0};
    puts_(&b, "{\"rows\": [[1, \"caf\\u00e9\"], [2, \"\\ud83d\\ude00 \xc3\xa9\\n\"]], "
              "\"columns\": [\"x\", \"y\"], \"name\": \"n\\/1\"}");
    assert_int_equal(run_all("application/json", NULL, &b, &t, &name, &e), MLP_OK);
    assert_string_equal(name, "n/1");
    free(name);
    name = NULL;
    assert_string_equal(t->columns[0].name, "x");
    assert_string_equal(t->columns[1].name, "y");
    assert_int_equal(t->columns[1].n_levels, 2);
    assert_string_equal(t->columns[1].levels[0], "caf\xc3\xa9");
    assert_string_equal(t->columns[1].levels[1], "\xf0\x9f\x98\x80 \xc3\xa9\n");
    ds_table_free(t);
    free(b.p);
    /* nesting deeper than the default bound (64) is refused, naming the flag */
    b = (buf){0};
    puts_(&b, "{\"rows\": [[1], ");
    for (int i = 0; i < 70; i++) puts_(&b, "[");
    for (int i = 0; i < 70; i++) puts_(&b, "]");
    puts_(&b, "]}");
    assert_int_equal(run_all("application/json", NULL, &b, &t, NULL, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "--max-json-depth"));
    free(b.p);
}

/* The uploader's storage quota stops an upload while it arrives, once the matrix decoded so far
 * (rows x columns x 4 bytes) would pass it: before the last chunk is fed. */
static void storage_quota_while_receiving(void **state)
{
    (void)state;
    buf b = {0};
    puts_(&b, "a,b\n");
    for (int r = 0; r < 1000; r++) puts_(&b, "1,2\n"); /* 8000 bytes of matrix */
    ingest_opts o = opts();
    o.storage_limit = 5000;
    o.storage_used = 1000;
    ingest *in = NULL;
    mlp_error e;
    assert_int_equal(ingest_new("text/csv", NULL, &o, &in, &e), MLP_OK);
    size_t fed = 0;
    mlp_err rc = MLP_OK;
    while (fed < b.len && rc == MLP_OK) {
        size_t k = b.len - fed < 64 ? b.len - fed : 64;
        rc = ingest_feed(in, b.p + fed, k, &e);
        fed += k;
    }
    assert_int_equal(rc, MLP_ENOSPC);
    assert_true(fed < b.len / 2 + 64); /* 4000 bytes of room: about half of the rows */
    assert_non_null(strstr(e.msg, "storage_bytes"));
    assert_non_null(strstr(e.msg, "limit 5000"));
    ingest_free(in);
    /* within the quota: stored whole */
    ds_table *t = NULL;
    o.storage_limit = 9000;
    assert_int_equal(run("text/csv", NULL, &o, &b, 7, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->rows, 1000);
    ds_table_free(t);
    free(b.p);
}

static void limits_and_types(void **state)
{
    (void)state;
    ds_table *t;
    mlp_error e;
    ingest *in = NULL;
    ingest_opts o = opts();
    assert_int_equal(ingest_new("image/png", NULL, &o, &in, &e), MLP_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "image/png"));
    assert_int_equal(ingest_new(NULL, NULL, &o, &in, &e), MLP_EUNSUPPORTED);
    assert_int_equal(ingest_new("text/csv", "br", &o, &in, &e), MLP_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "br"));
    assert_null(in);
    /* zip bomb: 64 MiB of one-digit rows inflating past a 1 MiB limit (not NUL bytes: the CSV
     * parser refuses a NUL at once, before any limit is reached; not one long line: a cell
     * past 64 KiB is refused as such) */
    size_t n = 64u << 20;
    unsigned char *zeros = malloc(n);
    assert_non_null(zeros);
    for (size_t i = 0; i < n; i += 2) memcpy(zeros + i, "1\n", 2);
    memcpy(zeros, "a\n", 2);
    buf bomb = gz(zeros, n);
    free(zeros);
    assert_true(bomb.len < 200000);
    o.max_bytes = 1 << 20;
    assert_int_equal(run("text/csv", NULL, &o, &bomb, 0, &t, NULL, &e), MLP_ETOOLARGE);
    assert_non_null(strstr(e.msg, "limit"));
    assert_int_equal(run("application/gzip", NULL, &o, &bomb, 7, &t, NULL, &e), MLP_ETOOLARGE);
    free(bomb.p);
    /* IDX bomb: a header declaring 1300 images of 28x28 bytes (1019200 bytes, under the 1 MiB
     * byte limit) would be a 4 MB matrix: refused at the header by the 1 MiB table budget */
    o = opts();
    o.max_bytes = 1 << 20;
    o.max_table_bytes = 1 << 20;
    buf hdr = {0};
    put(&hdr, "\0\0\x08\x03", 4);
    put32(&hdr, 1300);
    put32(&hdr, 28);
    put32(&hdr, 28);
    ingest *bi = NULL;
    assert_int_equal(ingest_new("application/octet-stream", NULL, &o, &bi, &e), MLP_OK);
    assert_int_equal(ingest_feed(bi, hdr.p, hdr.len, &e), MLP_ETOOLARGE);
    assert_non_null(strstr(e.msg, "memory limit of 1048576 bytes"));
    ingest_free(bi);
    free(hdr.p);
    /* raw size limit and cell limit */
    buf csv = {0};
    for (int i = 0; i < 1000; i++) puts_(&csv, "1,2,3,4\n");
    o.max_bytes = 1000;
    assert_int_equal(run("text/csv", NULL, &o, &csv, 3, &t, NULL, &e), MLP_ETOOLARGE);
    o.max_bytes = 0;
    o.max_table_bytes = 400;
    assert_int_equal(run("text/csv", NULL, &o, &csv, 0, &t, NULL, &e), MLP_ETOOLARGE);
    /* header=false makes a text first row data */
    o = opts();
    o.header = CSV_HEADER_FALSE;
    buf h = {0};
    puts_(&h, "a,b\n1,2\n");
    assert_int_equal(run("text/csv", NULL, &o, &h, 0, &t, NULL, &e), MLP_OK);
    assert_int_equal(t->rows, 2);
    ds_table_free(t);
    free(h.p);
    free(csv.p);
    /* empty bodies */
    buf empty = {0};
    assert_int_equal(run_all("text/csv", NULL, &empty, &t, NULL, &e), MLP_EINVAL);
    assert_int_equal(run_all("application/gzip", NULL, &empty, &t, NULL, &e), MLP_EINVAL);
    ingest_free(NULL);
}

/* Feeds jr `count` runs of `piece` (each one feed) after `head`, until a feed fails; asserts
 * after every feed that the open row's buffers stay within `held_cap`. Returns the failing
 * feed's code (MLP_OK when none failed) and how many runs went in. */
static mlp_err feed_runs(jsonrows *jr, const char *head, const char *piece, size_t count,
                         size_t held_cap, size_t *fed, mlp_error *e)
{
    mlp_err rc = jr_feed(jr, (const unsigned char *)head, strlen(head), e);
    size_t k = 0;
    for (; rc == MLP_OK && k < count; k++) {
        rc = jr_feed(jr, (const unsigned char *)piece, strlen(piece), e);
        if (jr_row_bytes(jr) > held_cap)
            fail_msg("after %zu pieces the open row holds %zu bytes, past %zu", k + 1,
                     jr_row_bytes(jr), held_cap);
    }
    *fed = k;
    return rc;
}

/* A string cell longer than JR_MAX_CELL_BYTES is refused as its bytes arrive, naming the cell,
 * and the buffer never grows past about twice the cap (sbuf doubles); one exactly at the cap
 * is taken. A row whose cells together pass JR_MAX_ROW_BYTES is refused the same way. */
static void json_cell_and_row_caps(void **state)
{
    (void)state;
    char piece[1025];
    memset(piece, 'x', 1024);
    piece[1024] = '\0';
    ds_builder *b = NULL;
    jsonrows *jr = NULL;
    mlp_error e;
    size_t fed = 0;

    /* 16 MiB of one string cell, 1 KiB a feed */
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(jr_new(b, 0, &jr), MLP_OK);
    memset(&e, 0, sizeof e);
    mlp_err rc = feed_runs(jr, "{\"rows\": [[\"a\", \"b\"], [\"c\", \"", piece, 16384,
                           2 * JR_MAX_CELL_BYTES, &fed, &e);
    assert_int_equal(rc, MLP_ETOOLARGE);
    assert_int_equal(fed, JR_MAX_CELL_BYTES / 1024 + 1); /* the piece that passes the cap */
    assert_string_equal(e.field, "rows[1][1]");
    assert_int_equal(e.row, 2);
    assert_int_equal(e.col, 2);
    if (!strstr(e.msg, "rows[1][1]") || !strstr(e.msg, "65536 bytes")) fail_msg("%s", e.msg);
    /* sticky, and nothing more is held */
    assert_int_equal(jr_feed(jr, (const unsigned char *)piece, 1024, &e), MLP_ETOOLARGE);
    assert_true(jr_row_bytes(jr) <= 2 * JR_MAX_CELL_BYTES);
    jr_free(jr);
    ds_builder_free(b);

    /* exactly JR_MAX_CELL_BYTES is a valid level */
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(jr_new(b, 0, &jr), MLP_OK);
    rc = feed_runs(jr, "{\"rows\": [[1, \"", piece, JR_MAX_CELL_BYTES / 1024, 2 * JR_MAX_CELL_BYTES,
                   &fed, &e);
    assert_int_equal(rc, MLP_OK);
    const char *tail = "\"]]}";
    assert_int_equal(jr_feed(jr, (const unsigned char *)tail, strlen(tail), &e), MLP_OK);
    char *name = NULL;
    assert_int_equal(jr_finish(jr, &name, &e), MLP_OK);
    assert_null(name);
    ds_table *t = NULL;
    assert_int_equal(ds_builder_finish(b, &t, &e), MLP_OK);
    assert_int_equal(t->columns[1].n_levels, 1);
    assert_int_equal(strlen(t->columns[1].levels[0]), JR_MAX_CELL_BYTES);
    ds_table_free(t);
    jr_free(jr);
    ds_builder_free(b);

    /* one row of 60000-byte string cells (each under the cell cap) past the row cap */
    char *cell = malloc(60000 + 4);
    assert_non_null(cell);
    cell[0] = '"';
    memset(cell + 1, 'y', 60000);
    memcpy(cell + 60001, "\",", 3);
    size_t need = JR_MAX_ROW_BYTES / 60001 + 1;
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    assert_int_equal(jr_new(b, 0, &jr), MLP_OK);
    rc = feed_runs(jr, "{\"rows\": [[", cell, need + 10, JR_MAX_ROW_BYTES, &fed, &e);
    assert_int_equal(rc, MLP_ETOOLARGE);
    assert_int_equal(fed, need);
    assert_string_equal(e.field, "rows[0]");
    assert_int_equal(e.row, 1);
    if (!strstr(e.msg, "rows[0]") || !strstr(e.msg, "bytes of cell text")) fail_msg("%s", e.msg);
    jr_free(jr);
    ds_builder_free(b);
    free(cell);

    /* through the pipeline: a 413 status (MLP_ETOOLARGE), even under a generous table budget */
    buf body = {0};
    puts_(&body, "{\"rows\": [[\"");
    for (int i = 0; i < 100; i++) puts_(&body, piece);
    puts_(&body, "\"]]}");
    assert_int_equal(run_all("application/json", NULL, &body, &t, NULL, &e), MLP_ETOOLARGE);
    assert_string_equal(e.field, "rows[0][0]");
    free(body.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_plain_and_gzip),     cmocka_unit_test(multipart_uploads),
        cmocka_unit_test(octet_stream_idx),       cmocka_unit_test(json_bodies),
        cmocka_unit_test(limits_and_types),       cmocka_unit_test(storage_quota_while_receiving),
        cmocka_unit_test(json_cell_and_row_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
