/* test_bounds.c — memory bounds of the dataset and model endpoints against the real daemon:
 * gzip bombs that decode past the --max-upload table budget (413, peak RSS within 2x the
 * budget), a 200 MB JSON dataset streamed in chunks (peak RSS within 2x its decoded matrix),
 * GET rows capped at --max-body bytes with next_offset, and imported weights that are not
 * finite float32 (400 naming the index), export written in shortest round-trip floats.
 * Peak RSS is VmHWM from /proc/<pid>/status, reset before each measurement through clear_refs.
 * Every answer is checked against the OpenAPI document: through http_do, and the streamed upload
 * (raw libcurl) with oa_check.
 * Owns: one daemon per test. Threading: cmocka's one thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"
#include "oacheck.h"

#define MiB ((long)1 << 20)

static srv S;    /* the daemon of the running test */
static int S_up; /* S was started: the teardown stops it, even after a failed assertion */

static void start(srv *s, const char *const *extra)
{
    if (srv_start(s, extra) != 0) fail_msg("the daemon did not start (MLPD_BIN?)");
    S_up = 1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = S_up ? srv_finish(&S) : 0;
    S_up = 0;
    return rc;
}

/* gzip of n bytes made by gen(i) for i in [0, n), written into a growing buffer. */
typedef unsigned char (*byte_gen)(size_t i);

static unsigned char *gzip_gen(size_t n, byte_gen gen, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = 1 << 20, len = 0;
    unsigned char *out = malloc(cap), in[65536];
    assert_non_null(out);
    for (size_t at = 0;;) {
        size_t k = n - at < sizeof in ? n - at : sizeof in;
        for (size_t i = 0; i < k; i++) in[i] = gen(at + i);
        at += k;
        z.next_in = in;
        z.avail_in = (uInt)k;
        int flush = at == n ? Z_FINISH : Z_NO_FLUSH, rc;
        do {
            if (cap - len < 65536) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            z.next_out = out + len;
            z.avail_out = (uInt)(cap - len);
            rc = deflate(&z, flush);
            len = cap - z.avail_out;
        } while (z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
        if (flush == Z_FINISH) break;
    }
    deflateEnd(&z);
    *out_len = len;
    return out;
}

/* ---------------------------------------------------------------- gzip bombs */

#define BUDGET ((size_t)64 << 20) /* --max-upload of the bomb daemon */
#define IDX_N  85000u             /* 85000 x 784 = 66.6 MB of pixels: under BUDGET as bytes */

static unsigned char idx_byte(size_t i)
{
    static const unsigned char hdr[16] = {0,
                                          0,
                                          8,
                                          3,
                                          (IDX_N >> 24) & 255,
                                          (IDX_N >> 16) & 255,
                                          (IDX_N >> 8) & 255,
                                          IDX_N & 255,
                                          0,
                                          0,
                                          0,
                                          28,
                                          0,
                                          0,
                                          0,
                                          28};
    return i < 16 ? hdr[i] : 0;
}

static unsigned char csv_byte(size_t i)
{
    if (i < 2) return (unsigned char)"a\n"[i];
    return (i & 1) ? '\n' : '1';
}

static void bomb(srv *s, const char *ctype, byte_gen gen, size_t decoded, const char *what)
{
    size_t zlen;
    unsigned char *z = gzip_gen(decoded, gen, &zlen);
    assert_true(zlen < 1 << 20);
    long before = proc_reset_peak_kb(s->pid);
    if (before <= 0) fail_msg("the daemon's peak RSS cannot be reset, so it cannot be measured");
    hresp r;
    long st = http_do(s, "POST", "/api/v1/datasets?name=bomb", ctype, z, zlen,
                      "Content-Encoding: gzip", &r);
    long after = proc_status_kb(s->pid, "VmHWM");
    fprintf(stderr,
            "%s: %zu gzip bytes -> %zu decoded: %ld, peak RSS %ld -> %ld kB (budget %zu kB)\n",
            what, zlen, decoded, st, before, after, BUDGET >> 10);
    assert_int_equal(st, 413);
    assert_non_null(strstr(r.body, "67108864"));
    assert_non_null(strstr(r.body, "--max-upload"));
    assert_true((size_t)(after - before) < 2 * (BUDGET >> 10));
    hresp_free(&r);
    free(z);
}

static void gzip_bombs(void **state)
{
    (void)state;
    srv *const sp = &S;
    const char *extra[] = {"--max-upload", "64M", NULL};
    start(sp, extra);
    /* an IDX header declaring 85000 images, then zeros: 4 bytes of matrix per decoded byte */
    bomb(sp, "application/octet-stream", idx_byte, 16 + (size_t)IDX_N * 784, "IDX bomb");
    /* "1\n" rows: 2 bytes of matrix per decoded byte, up to the decoded-bytes limit */
    bomb(sp, "text/csv", csv_byte, (size_t)80 << 20, "CSV bomb");
}

/* ---------------------------------------------------------------- 200 MB JSON */

#define JSON_COLS 100
#define JSON_ROWS 225000 /* x 100 cells of 9 bytes: ~203 MB */

typedef struct {
    long row;        /* next row to generate; JSON_ROWS = the closing bytes */
    int done;        /* closing bytes sent */
    char pend[2048]; /* generated but not yet sent */
    size_t npend, at;
    size_t sent;
} json_src;

static size_t json_read(char *buf, size_t sz, size_t nit, void *ud)
{
    json_src *j = ud;
    size_t cap = sz * nit, n = 0;
    while (n < cap) {
        if (j->at == j->npend) {
            j->at = j->npend = 0;
            if (j->row == 0) j->npend = (size_t)sprintf(j->pend, "{\"name\":\"big\",\"rows\":[");
            if (j->row < JSON_ROWS) {
                char *p = j->pend + j->npend;
                *p++ = j->row ? ',' : ' ';
                *p++ = '[';
                for (int c = 0; c < JSON_COLS; c++) {
                    unsigned v = (unsigned)(j->row * 7919 + c * 104729) % 1000000u;
                    p += sprintf(p, "%s0.%06u", c ? "," : "", v);
                }
                *p++ = ']';
                j->npend = (size_t)(p - j->pend);
                j->row++;
            } else if (!j->done) {
                j->npend = (size_t)sprintf(j->pend, "]}\n");
                j->done = 1;
            } else {
                break;
            }
        }
        size_t k = j->npend - j->at < cap - n ? j->npend - j->at : cap - n;
        memcpy(buf + n, j->pend + j->at, k);
        j->at += k;
        n += k;
    }
    j->sent += n;
    return n;
}

static void json_200mb(void **state)
{
    (void)state;
    srv *const sp = &S;
    start(sp, NULL);
    long before = proc_reset_peak_kb(sp->pid);
    if (before <= 0) fail_msg("the daemon's peak RSS cannot be reset, so it cannot be measured");
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/datasets", sp->port);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    json_src src;
    memset(&src, 0, sizeof src);
    hresp r;
    memset(&r, 0, sizeof r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, json_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) snprintf(r.content_type, sizeof r.content_type, "%s", ct);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    long after = proc_status_kb(sp->pid, "VmHWM");
    assert_int_equal(cc, CURLE_OK);
    oa_check(sp->port, "POST", "/api/v1/datasets", r.status, r.content_type, r.body ? r.body : "",
             r.len);
    if (r.status != 201) fail_msg("upload: %ld %s", r.status, r.body ? r.body : "");
    json_t *j = hresp_json(&r);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "rows")), JSON_ROWS);
    assert_int_equal(json_integer_value(json_object_get(j, "cols")), JSON_COLS);
    long matrix_kb = (long)JSON_ROWS * JSON_COLS * 4 / 1024;
    fprintf(stderr, "JSON dataset: %zu bytes sent, matrix %ld kB, peak RSS %ld -> %ld kB\n",
            src.sent, matrix_kb, before, after);
    assert_true(src.sent > (size_t)200 * 1000 * 1000);
    assert_true(after - before < 2 * matrix_kb);
    json_decref(j);
    hresp_free(&r);
}

/* ---------------------------------------------------------------- rows capped by bytes */

static char *upload_csv(srv *s, const char *name, const char *csv)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    long st = http_do(s, "POST", path, "text/csv", csv, strlen(csv), NULL, &r);
    if (st != 201) fail_msg("upload %s: %ld %s", name, st, r.body);
    json_t *j = hresp_json(&r);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);
    return id;
}

static void rows_capped(void **state)
{
    (void)state;
    srv *const sp = &S;
    const char *extra[] = {"--max-body", "4096", NULL};
    start(sp, extra);
    /* 200 rows x 10 columns of ~8 bytes: ~16 kB of rows, 4 pages or more */
    size_t cap = 1 << 16, len = 0;
    char *csv = malloc(cap);
    assert_non_null(csv);
    len += (size_t)sprintf(csv, "c0,c1,c2,c3,c4,c5,c6,c7,c8,kind\n");
    for (int i = 0; i < 200; i++) {
        for (int k = 0; k < 9; k++) len += (size_t)sprintf(csv + len, "%d.25,", i * 10 + k);
        len += (size_t)sprintf(csv + len, "%s\n", i % 2 ? "odd" : "even");
    }
    char *id = upload_csv(sp, "paged", csv);
    long offset = 0, pages = 0, seen = 0;
    while (offset >= 0) {
        char path[160];
        snprintf(path, sizeof path, "/api/v1/datasets/%s/rows?limit=1000&offset=%ld", id, offset);
        hresp r;
        assert_int_equal(http_do(sp, "GET", path, NULL, NULL, 0, NULL, &r), 200);
        assert_true(r.len <= 4096);
        json_t *j = hresp_json(&r);
        assert_non_null(j);
        json_t *rows = json_object_get(j, "rows"), *next = json_object_get(j, "next_offset");
        assert_true(json_array_size(rows) > 0);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *row = json_array_get(rows, i);
            long n = seen + (long)i;
            assert_true(json_real_value(json_array_get(row, 3)) == n * 10 + 3 + 0.25);
            assert_string_equal(json_string_value(json_array_get(row, 9)), n % 2 ? "odd" : "even");
        }
        seen += (long)json_array_size(rows);
        assert_int_equal(json_integer_value(json_object_get(j, "total")), 200);
        if (json_is_null(next)) {
            offset = -1;
        } else {
            assert_true(json_is_integer(next));
            assert_int_equal(json_integer_value(next), seen);
            offset = seen;
        }
        pages++;
        json_decref(j);
        hresp_free(&r);
    }
    assert_int_equal(seen, 200);
    assert_true(pages >= 4);
    /* one row wider than the cap: 413 naming the flag */
    len = 0;
    for (int k = 0; k < 800; k++) len += (size_t)sprintf(csv + len, "%sw%d", k ? "," : "", k);
    csv[len++] = '\n';
    for (int k = 0; k < 800; k++) len += (size_t)sprintf(csv + len, "%s%d.5", k ? "," : "", k);
    csv[len++] = '\n';
    csv[len] = '\0';
    char *wide = upload_csv(sp, "wide", csv);
    char path[160];
    snprintf(path, sizeof path, "/api/v1/datasets/%s/rows", wide);
    hresp r;
    assert_int_equal(http_do(sp, "GET", path, NULL, NULL, 0, NULL, &r), 413);
    assert_non_null(strstr(r.body, "--max-body"));
    hresp_free(&r);
    free(wide);
    free(id);
    free(csv);
}

/* ---------------------------------------------------------------- import / export */

static char *model_doc(const char *w01, const char *bias, const char *xmean)
{
    char *d = malloc(2048);
    snprintf(d, 2048,
             "{\"format\":\"mlpd-model\",\"format_version\":1,\"task\":\"regression\","
             "\"loss\":\"squared\",\"feature_names\":[\"a\",\"b\"],\"labels\":[],"
             "\"standardization\":{\"x_mean\":[%s,0],\"x_scale\":[1,1],\"y_mean\":[0],"
             "\"y_scale\":[1]},"
             "\"layers\":[{\"in\":2,\"out\":1,\"activation\":\"linear\","
             "\"weights\":[[0.1,%s]],\"bias\":[%s]}]}",
             xmean, w01, bias);
    return d;
}

static void import_finite(void **state)
{
    (void)state;
    srv *const sp = &S;
    start(sp, NULL);
    struct {
        const char *w, *b, *xm, *field;
    } bad[] = {
        {"1e39", "0.5", "0", "layers[0].weights[0][1]"},
        {"-1e39", "0.5", "0", "layers[0].weights[0][1]"},
        {"0.2", "1e300", "0", "layers[0].bias[0]"},
        {"0.2", "0.5", "4e38", "standardization.x_mean[0]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *d = model_doc(bad[i].w, bad[i].b, bad[i].xm);
        hresp r;
        long st = http_do(sp, "POST", "/api/v1/models/imp/versions", NULL, d, strlen(d), NULL, &r);
        if (st != 400 || !strstr(r.body, bad[i].field))
            fail_msg("%s: %ld %s", bad[i].field, st, r.body);
        hresp_free(&r);
        free(d);
    }
    /* the same document with finite values imports; its export spells 0.1f as 0.1 */
    char *d = model_doc("0.2", "0.5", "0");
    hresp r;
    long st = http_do(sp, "POST", "/api/v1/models/imp/versions", NULL, d, strlen(d), NULL, &r);
    if (st != 201) fail_msg("import: %ld %s", st, r.body);
    hresp_free(&r);
    free(d);
    assert_int_equal(
        http_do(sp, "GET", "/api/v1/models/imp/versions/1/export", NULL, NULL, 0, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"weights\":[[0.1,0.2]],\"bias\":[0.5]"));
    json_t *j = hresp_json(&r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "format")), "mlpd-model");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "feature_names"), 1)),
                        "b");
    assert_true((float)json_real_value(json_array_get(
                    json_object_get(json_object_get(j, "standardization"), "x_scale"), 0)) == 1.0f);
    json_decref(j);
    hresp_free(&r);
}

int main(void)
{
    /* An ASan daemon keeps freed blocks in its quarantine (256 MiB by default): memory the code
     * no longer holds, which would swamp the peak RSS measured here. The daemons this test starts
     * keep none (the other ASan checks stay on). */
    char asan[512];
    const char *prev = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "%s%squarantine_size_mb=0", prev ? prev : "", prev ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(gzip_bombs, teardown),
        cmocka_unit_test_teardown(json_200mb, teardown),
        cmocka_unit_test_teardown(rows_capped, teardown),
        cmocka_unit_test_teardown(import_finite, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
