/* test_multipart.c — multipart/form-data push parser: parts and binary bodies survive every
 * chunking, boundaries split across chunks, near-boundaries in the data, malformed bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

typedef struct {
    int n; /* parts seen */
    char names[8][64];
    char files[8][64]; /* filename or "-" */
    unsigned char *data[8];
    size_t len[8];
    int ended[8];
} record;

static mlp_err on_begin(void *ctx, const char *name, const char *filename, const char *ct,
                        mlp_error *err)
{
    (void)ct;
    (void)err;
    record *r = ctx;
    assert_true(r->n < 8);
    snprintf(r->names[r->n], 64, "%s", name);
    snprintf(r->files[r->n], 64, "%s", filename ? filename : "-");
    r->n++;
    return MLP_OK;
}

static mlp_err on_data(void *ctx, const unsigned char *d, size_t n, mlp_error *err)
{
    (void)err;
    record *r = ctx;
    int i = r->n - 1;
    assert_false(r->ended[i]);
    unsigned char *p = realloc(r->data[i], r->len[i] + n + 1);
    assert_non_null(p);
    memcpy(p + r->len[i], d, n);
    r->data[i] = p;
    r->len[i] += n;
    return MLP_OK;
}

static mlp_err on_end(void *ctx, mlp_error *err)
{
    (void)err;
    record *r = ctx;
    r->ended[r->n - 1] = 1;
    return MLP_OK;
}

static const multipart_callbacks cbs = {on_begin, on_data, on_end};

static void record_free(record *r)
{
    for (int i = 0; i < 8; i++) free(r->data[i]);
    memset(r, 0, sizeof *r);
}

static mlp_err run(const char *boundary, const unsigned char *body, size_t len, unsigned split,
                   record *r, mlp_error *e)
{
    multipart *m = NULL;
    memset(r, 0, sizeof *r);
    mlp_error_clear(e);
    assert_int_equal(multipart_new(boundary, &cbs, r, &m), MLP_OK);
    srand(split);
    mlp_err rc = MLP_OK;
    for (size_t i = 0; i < len && rc == MLP_OK;) {
        size_t k = split == 0 ? len : split == 1 ? 1 : 1 + (size_t)rand() % 17;
        if (k > len - i) k = len - i;
        rc = multipart_feed(m, body + i, k, e);
        i += k;
    }
    if (rc == MLP_OK) rc = multipart_finish(m, e);
    multipart_free(m);
    return rc;
}

/* Binary payload with CRs, LFs, dashes and a near-boundary "\r\n--XyZ" prefix. */
static size_t payload(unsigned char *p)
{
    size_t n = 0;
    const char *tricky = "\r\n--XyZ12\r\n-\r\r\n--Xy\r\n--";
    memcpy(p, tricky, strlen(tricky));
    n += strlen(tricky);
    for (int i = 0; i < 600; i++) p[n++] = (unsigned char)((i * 131) ^ (i >> 3));
    p[n++] = '\r';
    return n;
}

static void parts_in_every_chunking(void **state)
{
    (void)state;
    const char *B = "XyZ123";
    unsigned char body[4096], pl[1024];
    size_t pn = payload(pl), n = 0;
    n += (size_t)sprintf((char *)body,
                         "preamble to ignore\r\n--%s\r\n"
                         "Content-Disposition: form-data; name=\"name\"\r\n\r\n"
                         "my-data\r\n--%s  \r\n"
                         "content-disposition: form-data; name=\"file\"; "
                         "filename=\"a \\\"b\\\".bin\"\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n",
                         B, B);
    memcpy(body + n, pl, pn);
    n += pn;
    n += (size_t)sprintf((char *)body + n,
                         "\r\n--%s\r\nContent-Disposition: form-data; "
                         "name=empty\r\n\r\n\r\n--%s--\r\nepilogue",
                         B, B);
    for (unsigned split = 0; split < 40; split++) {
        record r;
        mlp_error e;
        assert_int_equal(run(B, body, n, split, &r, &e), MLP_OK);
        assert_int_equal(r.n, 3);
        assert_string_equal(r.names[0], "name");
        assert_int_equal(r.len[0], 7);
        assert_memory_equal(r.data[0], "my-data", 7);
        assert_string_equal(r.names[1], "file");
        assert_string_equal(r.files[1], "a \"b\".bin");
        assert_int_equal(r.len[1], pn);
        assert_memory_equal(r.data[1], pl, pn);
        assert_string_equal(r.names[2], "empty");
        assert_int_equal(r.len[2], 0);
        for (int i = 0; i < 3; i++) assert_true(r.ended[i]);
        record_free(&r);
    }
}

/* CRLF line ends and near-delimiters ("\r\n-", "\r\n--XyZ12") on every line, so the scan past a
 * CR that cannot start the delimiter meets one at every chunk offset. */
static void crlf_lines_in_every_chunking(void **state)
{
    (void)state;
    const char *B = "XyZ123";
    static unsigned char body[16384], pl[8192];
    size_t pn = 0, n = 0;
    static const char *const lines[] = {"1,2,3\r\n",    "\r\n",     "x\r\n-", "\r\n--XyZ12",
                                        "\r\n--XyZ124", "\r\r\n--", "a\r"};
    for (int i = 0; pn < 6000; i++) {
        const char *l = lines[(size_t)i % (sizeof lines / sizeof lines[0])];
        memcpy(pl + pn, l, strlen(l));
        pn += strlen(l);
    }
    n += (size_t)sprintf((char *)body,
                         "--%s\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n", B);
    memcpy(body + n, pl, pn);
    n += pn;
    n += (size_t)sprintf((char *)body + n, "\r\n--%s--\r\n", B);
    for (unsigned split = 0; split < 60; split++) {
        record r;
        mlp_error e;
        assert_int_equal(run(B, body, n, split, &r, &e), MLP_OK);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.len[0], pn);
        assert_memory_equal(r.data[0], pl, pn);
        assert_true(r.ended[0]);
        record_free(&r);
    }
}

static void malformed_bodies(void **state)
{
    (void)state;
    record r;
    mlp_error e;
    const char *cases[] = {
        /* no closing boundary */
        "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc",
        /* no name */
        "--B\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--B--",
        /* no Content-Disposition */
        "--B\r\nContent-Type: text/csv\r\n\r\nabc\r\n--B--",
        /* junk after a boundary */
        "--Bjunk\r\n\r\n--B--",
        /* not form-data */
        "--B\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n--B--",
        /* header without colon */
        "--B\r\nbroken header\r\n\r\nx\r\n--B--",
        /* no boundary at all */
        "just some text",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (unsigned split = 0; split < 3; split++) {
            assert_int_equal(
                run("B", (const unsigned char *)cases[i], strlen(cases[i]), split, &r, &e),
                MLP_EINVAL);
            assert_non_null(strstr(e.msg, "multipart"));
            record_free(&r);
        }
    }
    /* headers too long */
    size_t n = 40000;
    char *big = malloc(n);
    assert_non_null(big);
    memcpy(big, "--B\r\nX: ", 8);
    memset(big + 8, 'a', n - 8);
    assert_int_equal(run("B", (const unsigned char *)big, n, 0, &r, &e), MLP_EINVAL);
    assert_non_null(strstr(e.msg, "16 KiB"));
    record_free(&r);
    free(big);
}

static void boundary_from_content_type(void **state)
{
    (void)state;
    char b[80];
    mlp_error e;
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4",
                                        b, sizeof b, &e),
                     MLP_OK);
    assert_string_equal(b, "----WebKitFormBoundary7MA4");
    assert_int_equal(
        multipart_boundary("multipart/form-data; charset=x; BOUNDARY=\"a b:c\"", b, sizeof b, &e),
        MLP_OK);
    assert_string_equal(b, "a b:c");
    assert_int_equal(multipart_boundary("multipart/form-data", b, sizeof b, &e), MLP_EINVAL);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=", b, sizeof b, &e),
                     MLP_EINVAL);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"a\rb\"", b, sizeof b, &e),
                     MLP_EINVAL);
    char longb[200] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    assert_int_equal(multipart_boundary(longb, b, sizeof b, &e), MLP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parts_in_every_chunking),
        cmocka_unit_test(crlf_lines_in_every_chunking),
        cmocka_unit_test(malformed_bodies),
        cmocka_unit_test(boundary_from_content_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
