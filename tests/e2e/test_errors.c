/* test_errors.c — every error case of the HTTP contract (API.md) against the real daemon, as one
 * table: each row is a request (method, path, content type, body or a body generator, an extra
 * header) and what must come back (status, a substring of the body naming the field / row /
 * column / instance at fault, and for /api/v1 the RFC 9457 errors[0].field). Two daemons are
 * started once: one with default limits and a few small datasets, models and runs made in the
 * group setup, and one with --max-body 4096 --max-upload 65536 for the 413 cases. After the
 * table both must still answer GET /healthz with 200, and no case may have produced a 5xx. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "oacheck.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

static srv S;     /* default limits, fixtures */
static srv SMALL; /* --max-body 4096 --max-upload 65536 */

/* ------------------------------------------------------------------ fixtures */

/* Placeholders used in paths and bodies, filled by the group setup. */
enum { K_NUM, K_MIX, K_BUSY, K_QDS, K_GONE, K_DONE, K_LIVE, K_QUEUED, K_COUNT };
static const char *const key_names[K_COUNT] = {"{NUM}",  "{MIX}",  "{BUSY}", "{QDS}",
                                               "{GONE}", "{DONE}", "{LIVE}", "{QUEUED}"};
static char key_vals[K_COUNT][64];

static unsigned rnd_state = 12345u; /* h_urand's state for the generated datasets */

/* POSTs a CSV dataset and copies its id to id. Returns the status. */
static long upload(srv *s, const char *name, const char *csv, char id[64])
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    long st = http_do(s, "POST", path, "text/csv", csv, strlen(csv), NULL, &r);
    json_t *j = hresp_json(&r);
    const char *v = j ? json_string_value(json_object_get(j, "id")) : NULL;
    snprintf(id, 64, "%s", v ? v : "");
    if (st != 201) fprintf(stderr, "upload %s: %ld %s\n", name, st, r.body);
    json_decref(j);
    hresp_free(&r);
    return st;
}

/* Numeric x1,x2,y with y = 2*x1 - x2. */
static char *num_csv(int n)
{
    char *b = malloc((size_t)n * 48 + 32), *p = b;
    if (!b) return NULL;
    p += sprintf(p, "x1,x2,y\n");
    for (int i = 0; i < n; i++) {
        double a = h_urand(&rnd_state), c = h_urand(&rnd_state);
        p += sprintf(p, "%.4f,%.4f,%.4f\n", a, c, 2 * a - c);
    }
    return b;
}

/* a,b numeric; note numeric except data row 4 ("n/a"); kind categorical (cat/dog); y numeric. */
static char *mix_csv(int n)
{
    char *b = malloc((size_t)n * 64 + 32), *p = b;
    if (!b) return NULL;
    p += sprintf(p, "a,b,note,kind,y\n");
    for (int i = 0; i < n; i++) {
        double a = h_urand(&rnd_state) * 4 - 2, c = h_urand(&rnd_state) * 4 - 2;
        if (i == 3)
            p += sprintf(p, "%.4f,%.4f,n/a,%s,%.4f\n", a, c, a > 0 ? "dog" : "cat", a + c);
        else
            p += sprintf(p, "%.4f,%.4f,%d,%s,%.4f\n", a, c, i, a > 0 ? "dog" : "cat", a + c);
    }
    return b;
}

/* POSTs a run and copies its id. Returns the status. */
static long start_run(srv *s, const char *body, char id[64])
{
    long st;
    json_t *j = post_json(s, "/api/v1/runs", body, &st);
    const char *v = j ? json_string_value(json_object_get(j, "id")) : NULL;
    snprintf(id, 64, "%s", v ? v : "");
    if (st != 202) fprintf(stderr, "run: %ld %s\n", st, j ? json_dumps(j, 0) : "(no json)");
    json_decref(j);
    return st;
}

static int train_model(const char *body)
{
    char id[64];
    if (start_run(&S, body, id) != 202) return -1;
    json_t *done = wait_run(&S, id, 60);
    int ok = done && strcmp(json_string_value(json_object_get(done, "status")), "succeeded") == 0;
    if (!ok) fprintf(stderr, "training failed: %s\n", done ? json_dumps(done, 0) : "timeout");
    if (ok) snprintf(key_vals[K_DONE], sizeof key_vals[K_DONE], "%s", id);
    json_decref(done);
    return ok ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    const char *small[] = {"--max-body", "4096", "--max-upload", "65536", NULL};
    const char *one_worker[] = {"--workers", "1", NULL}; /* {QUEUED} waits behind {RUNNING} */
    if (srv_start(&S, one_worker) || srv_start(&SMALL, small)) return -1;
    char *num = num_csv(40), *mix = mix_csv(40), *tiny = num_csv(16);
    int rc = -1;
    char body[600];
    if (!num || !mix || !tiny) goto out;
    if (upload(&S, "num", num, key_vals[K_NUM]) != 201 ||
        upload(&S, "mix", mix, key_vals[K_MIX]) != 201 ||
        upload(&S, "busy", tiny, key_vals[K_BUSY]) != 201 ||
        upload(&S, "queued", tiny, key_vals[K_QDS]) != 201 ||
        upload(&S, "gone", tiny, key_vals[K_GONE]) != 201)
        goto out;
    hresp r;
    snprintf(body, sizeof body, "/api/v1/datasets/%s", key_vals[K_GONE]);
    long st = http_do(&S, "DELETE", body, NULL, NULL, 0, NULL, &r);
    hresp_free(&r);
    if (st != 204) goto out;
    /* three small models: a classifier, a regression and an autoencoder */
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":\"y\","
             "\"features\":[\"a\",\"b\"],\"model_name\":\"reg\",\"params\":{\"hidden\":[4],"
             "\"epochs\":2,\"batch_size\":8}}",
             key_vals[K_MIX]);
    if (train_model(body)) goto out;
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"autoencoder\",\"features\":[\"a\",\"b\",\"y\"],"
             "\"model_name\":\"ae\",\"params\":{\"hidden\":[4,2,4],\"epochs\":2,"
             "\"batch_size\":8}}",
             key_vals[K_MIX]);
    if (train_model(body)) goto out;
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"kind\","
             "\"features\":[\"a\",\"b\"],\"model_name\":\"clf\",\"params\":{\"hidden\":[4],"
             "\"epochs\":2,\"batch_size\":8}}",
             key_vals[K_MIX]);
    if (train_model(body)) goto out; /* K_DONE is this run */
    st = http_do(&S, "PUT", "/api/v1/models/clf/aliases/stable", NULL, "{\"version\":1}", 13, NULL,
                 &r);
    hresp_free(&r);
    if (st != 200) goto out;
    /* a run that keeps training (one worker) and one queued behind it */
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":\"y\","
             "\"params\":{\"hidden\":[2],\"epochs\":100000,\"batch_size\":16}}",
             key_vals[K_BUSY]);
    if (start_run(&S, body, key_vals[K_LIVE]) != 202) goto out;
    if (wait_epoch(&S, key_vals[K_LIVE], 1, 30)) goto out;
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":\"y\","
             "\"params\":{\"hidden\":[2],\"epochs\":100000,\"batch_size\":16}}",
             key_vals[K_QDS]);
    if (start_run(&S, body, key_vals[K_QUEUED]) != 202) goto out;
    rc = 0;
out:
    free(num);
    free(mix);
    free(tiny);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    int rc = 0;
    for (int k = K_LIVE; k <= K_QUEUED; k++) {
        if (!key_vals[k][0]) continue;
        char path[128];
        snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", key_vals[k]);
        hresp r;
        http_do(&S, "POST", path, NULL, "", 0, NULL, &r);
        hresp_free(&r);
    }
    if (srv_stop(&S, SIGTERM) != 0) rc = -1;
    if (srv_stop(&SMALL, SIGTERM) != 0) rc = -1;
    srv_cleanup(&S);
    srv_cleanup(&SMALL);
    return rc;
}

/* ------------------------------------------------------------------ body generators */

static char *gen_fill(size_t n, const char *head, const char *tail, char fill, size_t *len)
{
    size_t h = strlen(head), t = strlen(tail);
    char *b = malloc(n + 1);
    if (!b) return NULL;
    memset(b, fill, n);
    memcpy(b, head, h);
    memcpy(b + n - t, tail, t);
    b[n] = '\0';
    *len = n;
    return b;
}

/* A 5000-byte JSON object (over --max-body 4096). */
static char *gen_big_json(size_t *len)
{
    return gen_fill(5000, "{\"pad\":\"", "\"}", 'a', len);
}

/* 10000 bytes of JSON, sent chunked (no Content-Length). */
static char *gen_big_json_chunked(size_t *len)
{
    return gen_fill(10000, "{\"pad\":\"", "\"}", 'a', len);
}

/* A 70000-byte CSV (over --max-upload 65536). */
static char *gen_big_csv(size_t *len)
{
    size_t n = 70000;
    char *b = malloc(n + 1);
    if (!b) return NULL;
    memcpy(b, "x\n", 2);
    for (size_t i = 2; i + 1 < n; i += 2) b[i] = '1', b[i + 1] = '\n';
    b[n] = '\0';
    *len = n;
    return b;
}

static char *gzip_of(const char *data, size_t n, size_t *len)
{
    uLong cap = compressBound((uLong)n) + 64;
    unsigned char *out = malloc(cap);
    if (!out) return NULL;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (unsigned char *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *len = cap - zs.avail_out;
    deflateEnd(&zs);
    return (char *)out;
}

/* A gzip body of 100 kB of JSON: small on the wire, over --max-body once inflated. */
static char *gen_gzip_bomb_json(size_t *len)
{
    size_t n;
    char *plain = gen_fill(100000, "{\"pad\":\"", "\"}", '0', &n);
    char *gz = plain ? gzip_of(plain, n, len) : NULL;
    free(plain);
    return gz;
}

/* A gzip body whose deflate stream is garbage. */
static char *gen_gzip_corrupt(size_t *len)
{
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    char *b = malloc(64);
    if (!b) return NULL;
    memcpy(b, head, sizeof head);
    for (int i = 10; i < 64; i++) b[i] = (char)(0xff ^ (i * 37));
    *len = 64;
    return b;
}

/* A valid gzip'd CSV cut in the middle. */
static char *gen_gzip_truncated(size_t *len)
{
    char *csv = num_csv(200);
    if (!csv) return NULL;
    size_t n;
    char *gz = gzip_of(csv, strlen(csv), &n);
    free(csv);
    if (gz) *len = n / 2;
    return gz;
}

/* Binary garbage (NUL bytes, high bytes) sent as text/csv. */
static char *gen_garbage(size_t *len)
{
    char *b = malloc(512);
    if (!b) return NULL;
    unsigned s = 99;
    for (int i = 0; i < 512; i++) {
        s = s * 1103515245u + 12345u;
        b[i] = (char)(s >> 16);
    }
    b[0] = 0x00;
    b[1] = (char)0xfe;
    *len = 512;
    return b;
}

/* A run request nested 5000 levels deep inside params (beyond --max-json-depth). */
static char *gen_deep_json(size_t *len)
{
    const char *head = "{\"dataset_id\":\"ds_1\",\"task\":\"regression\",\"params\":{\"x\":";
    size_t h = strlen(head), d = 5000;
    char *b = malloc(h + 2 * d + 8);
    if (!b) return NULL;
    memcpy(b, head, h);
    memset(b + h, '[', d);
    memset(b + h + d, ']', d);
    memcpy(b + h + 2 * d, "}}", 3);
    *len = h + 2 * d + 2;
    return b;
}

/* A CSV with a proper header whose second row holds NUL and control bytes. */
static char *gen_binary_csv(size_t *len)
{
    static const char b0[] = "a,b\n1,2\n3,\0\x01\x7f\n";
    char *b = malloc(sizeof b0);
    if (!b) return NULL;
    memcpy(b, b0, sizeof b0);
    *len = sizeof b0 - 1;
    return b;
}

/* An IDX file whose dimensions multiply past 2^64 (0xffffffff^3 ubytes) with 4 bytes of data. */
static char *gen_idx_overflow(size_t *len)
{
    static const unsigned char h[20] = {0,    0,    8,    3,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1,    2,    3,    4};
    char *b = malloc(sizeof h);
    if (!b) return NULL;
    memcpy(b, h, sizeof h);
    *len = sizeof h;
    return b;
}

/* An IDX file that claims 4 images of 2x2 ubyte (16 bytes) but carries 8. */
static char *gen_idx_short(size_t *len)
{
    static const unsigned char h[16] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2};
    char *b = calloc(1, 24);
    if (!b) return NULL;
    memcpy(b, h, sizeof h);
    *len = 24;
    return b;
}

/* An IDX file that claims 2^31 x 2^16 x 2^16 elements and carries 4 bytes. */
static char *gen_idx_huge(size_t *len)
{
    static const unsigned char h[20] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 1,
                                        0, 0, 0, 1, 0,    0,    1,    2,    3, 4};
    char *b = malloc(sizeof h);
    if (!b) return NULL;
    memcpy(b, h, sizeof h);
    *len = sizeof h;
    return b;
}

/* An IDX file with more bytes than its header says (16 bytes of data + 5 extra). */
static char *gen_idx_long(size_t *len)
{
    static const unsigned char h[16] = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 2, 0, 0, 0, 2};
    char *b = calloc(1, 37);
    if (!b) return NULL;
    memcpy(b, h, sizeof h);
    *len = 37;
    return b;
}

/* An IDX file with an unknown element type byte (0x07). */
static char *gen_idx_badtype(size_t *len)
{
    static const unsigned char h[12] = {0, 0, 7, 2, 0, 0, 0, 2, 0, 0, 0, 2};
    char *b = calloc(1, 16);
    if (!b) return NULL;
    memcpy(b, h, sizeof h);
    *len = 16;
    return b;
}

/* A CSV body that streams past --max-upload with no Content-Length. */
static char *gen_big_csv_chunked(size_t *len)
{
    return gen_big_csv(len);
}

/* ------------------------------------------------------------------ the table */

#define CHUNKED "Transfer-Encoding: chunked"
#define GZIP    "Content-Encoding: gzip"

typedef struct {
    int small;                 /* 1: against the small-limits daemon */
    const char *method, *path; /* path may hold {KEY} placeholders */
    const char *ctype;         /* NULL: application/json when there is a body */
    const char *body;          /* may hold {KEY} placeholders; NULL: no body (or gen) */
    char *(*gen)(size_t *len); /* binary or big bodies */
    const char *header;        /* extra header, or CHUNKED to send without Content-Length */
    long status;               /* expected status */
    const char *needle;        /* substring of the response body, or NULL */
    const char *field;         /* /api/v1: errors[0].field, or NULL */
} ecase;

/* A run body on the numeric dataset with the given params members. */
#define RUNP(params)                                                                               \
    "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\",\"params\":{" params "}}"
/* A classification run on the mixed dataset with the given extra members. */
#define CLF(extra)                                                                                 \
    "{\"dataset_id\":\"{MIX}\",\"task\":\"classification\",\"target\":\"kind\","                   \
    "\"features\":[\"a\",\"b\"]" extra "}"

static const ecase cases[] = {
    /* ---- conventions: paging */
    {0, "GET", "/api/v1/datasets?limit=0", NULL, NULL, NULL, NULL, 400, "limit", "limit"},
    {0, "GET", "/api/v1/datasets?limit=1001", NULL, NULL, NULL, NULL, 400, "limit", "limit"},
    {0, "GET", "/api/v1/runs?limit=abc", NULL, NULL, NULL, NULL, 400, "limit", "limit"},
    {0, "GET", "/api/v1/models?limit=-5", NULL, NULL, NULL, NULL, 400, "limit", "limit"},
    {0, "GET", "/api/v1/runs?limit=10x", NULL, NULL, NULL, NULL, 400, "limit", "limit"},
    {0, "GET", "/api/v1/datasets?offset=-1", NULL, NULL, NULL, NULL, 400, "offset", "offset"},
    {0, "GET", "/api/v1/models?offset=many", NULL, NULL, NULL, NULL, 400, "offset", "offset"},
    {0, "GET", "/api/v1/datasets/{NUM}/rows?limit=0", NULL, NULL, NULL, NULL, 400, "limit",
     "limit"},
    {0, "GET", "/api/v1/runs?status=bogus", NULL, NULL, NULL, NULL, 400, "status", "status"},
    {0, "GET", "/api/v1/runs?limit=1000&offset=0", NULL, NULL, NULL, NULL, 200, "items", NULL},
    /* ---- conventions: names */
    {0, "POST", "/api/v1/datasets?name=-lead", "text/csv", "x\n1\n", NULL, NULL, 400, "name",
     "name"},
    {0, "POST", "/api/v1/datasets?name=a%2Fb", "text/csv", "x\n1\n", NULL, NULL, 400, "name",
     "name"},
    {0, "POST", "/api/v1/datasets?name=..", "text/csv", "x\n1\n", NULL, NULL, 400, "name", "name"},
    {0, "POST",
     "/api/v1/datasets?name=a1234567890123456789012345678901234567890123456789012345678901234",
     "text/csv", "x\n1\n", NULL, NULL, 400, "name", "name"},
    {0, "POST", "/api/v1/datasets", "text/csv", "x\n1\n", NULL, NULL, 400, "name", "name"},
    {0, "POST", "/api/v1/datasets?name=ok&header=maybe", "text/csv", "x\n1\n", NULL, NULL, 400,
     "header", "header"},
    {0, "POST", "/api/v1/runs", NULL, CLF(",\"model_name\":\"bad name\""), NULL, NULL, 400,
     "model_name", "model_name"},
    {0, "POST", "/api/v1/runs", NULL, CLF(",\"model_name\":\"../etc\""), NULL, NULL, 400,
     "model_name", "model_name"},
    {0, "PUT", "/api/v1/models/clf/aliases/-x", NULL, "{\"version\":1}", NULL, NULL, 400, "alias",
     "alias"},
    {0, "PUT", "/api/v1/models/clf/aliases/a%20b", NULL, "{\"version\":1}", NULL, NULL, 400,
     "alias", "alias"},
    {0, "GET", "/api/v1/models/.hidden", NULL, NULL, NULL, NULL, 400, "name", "name"},
    /* ---- conventions: 404, 405 */
    {0, "GET", "/api/v1/datasets/ds_999", NULL, NULL, NULL, NULL, 404, "ds_999", NULL},
    {0, "GET", "/api/v1/datasets/ds_999/rows", NULL, NULL, NULL, NULL, 404, "ds_999", NULL},
    {0, "DELETE", "/api/v1/datasets/ds_999", NULL, NULL, NULL, NULL, 404, "ds_999", NULL},
    {0, "GET", "/api/v1/runs/run_999", NULL, NULL, NULL, NULL, 404, "run_999", NULL},
    {0, "GET", "/api/v1/runs/run_999/metrics", NULL, NULL, NULL, NULL, 404, "run_999", NULL},
    {0, "POST", "/api/v1/runs/run_999/cancel", NULL, "", NULL, NULL, 404, "run_999", NULL},
    {0, "GET", "/api/v1/nope", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "GET", "/nope", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "GET", "/v1/nope", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "DELETE", "/api/v1/datasets", NULL, NULL, NULL, NULL, 405, "GET", NULL},
    {0, "PUT", "/api/v1/runs/{DONE}", NULL, "{}", NULL, NULL, 405, "DELETE", NULL},
    {0, "GET", "/api/v1/runs/{DONE}/cancel", NULL, NULL, NULL, NULL, 405, "POST", NULL},
    {0, "GET", "/v1/models/clf:predict", NULL, NULL, NULL, NULL, 405, "POST", NULL},
    {0, "PATCH", "/healthz", NULL, NULL, NULL, NULL, 405, "GET", NULL},
    /* ---- conventions: 415 */
    {0, "POST", "/api/v1/datasets?name=t415", "text/plain", "x\n1\n", NULL, NULL, 415, "text/plain",
     NULL},
    {0, "POST", "/api/v1/datasets?name=t415b", "image/png", "x\n1\n", NULL, NULL, 415, NULL, NULL},
    {0, "POST", "/api/v1/runs", "text/plain", CLF(""), NULL, NULL, 415, "text/plain", NULL},
    {0, "POST", "/api/v1/runs", "application/xml", "<a/>", NULL, NULL, 415, "application/xml",
     NULL},
    {0, "POST", "/api/v1/runs", "application/jsonx", CLF(""), NULL, NULL, 415, "application/jsonx",
     NULL},
    /* what `curl -d` sends is read as JSON (json_content_types), so a form body is a JSON error */
    {0, "POST", "/api/v1/runs", "application/x-www-form-urlencoded", "a=b", NULL, NULL, 400,
     "not valid JSON", NULL},
    {0, "POST", "/api/v1/runs", NULL, CLF(""), NULL, "Content-Encoding: br", 415,
     "Content-Encoding", NULL},
    {0, "POST", "/api/v1/datasets?name=enc", "text/csv", "x\n1\n", NULL, "Content-Encoding: br",
     415, NULL, NULL},
    /* ---- conventions: JSON bodies */
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\" \"x\"}", NULL, NULL, 400, "column", NULL},
    {0, "POST", "/api/v1/runs", NULL, "{\n  \"dataset_id\": \"x\",\n  oops\n}", NULL, NULL, 400,
     "line 3", NULL},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\": \"{NUM}\", \"task\":", NULL, NULL, 400,
     "JSON", NULL},
    {0, "POST", "/api/v1/runs", NULL, "[{\"dataset_id\":\"{NUM}\"}]", NULL, NULL, 400, "object",
     NULL},
    {0, "POST", "/api/v1/runs", NULL, "\"just a string\"", NULL, NULL, 400, "JSON", NULL},
    {0, "POST", "/api/v1/runs", NULL, "", NULL, NULL, 400, "empty", NULL},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":NaN"), NULL, NULL, 400, "JSON", NULL},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":Infinity"), NULL, NULL, 400, "JSON",
     NULL},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":-Infinity"), NULL, NULL, 400, "JSON",
     NULL},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":1e999"), NULL, NULL, 400, NULL, NULL},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":\"{NUM}\",\"dataset_id\":\"{NUM}\"}", NULL,
     NULL, 400, "duplicate", NULL},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":\"\xff\xfe\"}", NULL, NULL, 400, NULL, NULL},
    {0, "POST", "/api/v1/runs", NULL, NULL, gen_gzip_corrupt, GZIP, 400, "gzip", NULL},
    /* ---- conventions: percent-encoded colon */
    {0, "POST", "/api/v1/runs%3Avalidate", NULL, RUNP("\"epochs\":3"), NULL, NULL, 200, "valid",
     NULL},
    {0, "POST", "/v1/models/clf%3Apredict", NULL, "{\"instances\":[[0.5,-0.5]]}", NULL, NULL, 200,
     "predictions", NULL},
    {0, "POST", "/v1/models/clf/labels/stable%3aclassify", NULL, "{\"instances\":[[1,1]]}", NULL,
     NULL, 200, "results", NULL},
    /* ---- conventions: 413 */
    {1, "POST", "/api/v1/runs", NULL, NULL, gen_big_json, NULL, 413, "--max-body", NULL},
    {1, "POST", "/api/v1/runs", NULL, NULL, gen_big_json_chunked, CHUNKED, 413, "--max-body", NULL},
    {1, "POST", "/api/v1/runs", NULL, NULL, gen_gzip_bomb_json, GZIP, 413, "max-body", NULL},
    {1, "POST", "/api/v1/datasets?name=big", "text/csv", NULL, gen_big_csv, NULL, 413,
     "--max-upload", NULL},
    {1, "POST", "/api/v1/datasets?name=bigc", "text/csv", NULL, gen_big_csv_chunked, CHUNKED, 413,
     "--max-upload", NULL},
    {1, "PUT", "/api/v1/models/clf/aliases/x", NULL, NULL, gen_big_json, NULL, 413, NULL, NULL},
    {1, "POST", "/v1/models/clf:predict", NULL, NULL, gen_big_json, NULL, 413, NULL, NULL},
    /* ---- datasets: CSV */
    {0, "POST", "/api/v1/datasets?name=e1", "text/csv", "a,b,c\n1,2,3\n4,5,\n", NULL, NULL, 400,
     "row 2, column 3", NULL},
    {0, "POST", "/api/v1/datasets?name=e2", "text/csv", "a,b,c\n1,,3\n", NULL, NULL, 400,
     "row 1, column 2", NULL},
    {0, "POST", "/api/v1/datasets?name=e3", "text/csv", "a,b\n1,2\n3,4\n5,6,7\n", NULL, NULL, 400,
     "row 3", NULL},
    {0, "POST", "/api/v1/datasets?name=e4", "text/csv", "a,b\n1,2\n3\n", NULL, NULL, 400, "row 2",
     NULL},
    {0, "POST", "/api/v1/datasets?name=e5", "text/csv", "a,b,c\n", NULL, NULL, 400, "no rows",
     NULL},
    {0, "POST", "/api/v1/datasets?name=e6", "text/csv", "", NULL, NULL, 400, "no rows", NULL},
    {0, "POST", "/api/v1/datasets?name=e7", "text/csv", NULL, gen_garbage, NULL, 400, NULL, NULL},
    {0, "POST", "/api/v1/datasets?name=e8", "text/csv", "a,b\n1,\"2\n", NULL, NULL, 400, "quote",
     NULL},
    {0, "POST", "/api/v1/datasets?name=e9", "text/csv", "a,b\n1,2\n\n3,4\n", NULL, NULL, 400,
     "row 2", NULL},
    {0, "POST", "/api/v1/datasets?name=e10", "text/csv", "a,b\n1,2\n", NULL,
     "Content-Encoding: gzip", 400, "gzip", NULL},
    /* ---- datasets: gzip */
    {0, "POST", "/api/v1/datasets?name=g1", "text/csv", NULL, gen_gzip_corrupt, GZIP, 400, "gzip",
     NULL},
    {0, "POST", "/api/v1/datasets?name=g2", "application/gzip", NULL, gen_gzip_corrupt, NULL, 400,
     "gzip", NULL},
    {0, "POST", "/api/v1/datasets?name=g3", "text/csv", NULL, gen_gzip_truncated, GZIP, 400,
     "truncated", NULL},
    /* ---- datasets: IDX */
    {0, "POST", "/api/v1/datasets?name=i1", "application/octet-stream", NULL, gen_idx_short, NULL,
     400, "IDX", NULL},
    {0, "POST", "/api/v1/datasets?name=i2", "application/octet-stream", NULL, gen_idx_huge, NULL,
     400, "IDX", NULL},
    {0, "POST", "/api/v1/datasets?name=i3", "application/octet-stream", NULL, gen_idx_long, NULL,
     400, "IDX", NULL},
    {0, "POST", "/api/v1/datasets?name=i4", "application/octet-stream", NULL, gen_idx_badtype, NULL,
     400, "IDX", NULL},
    {0, "POST", "/api/v1/datasets?name=i5", "application/octet-stream", "not an idx file", NULL,
     NULL, 400, "IDX", NULL},
    /* ---- datasets: JSON */
    {0, "POST", "/api/v1/datasets?name=j1", "application/json", "{\"rows\":[[1,2],3]}", NULL, NULL,
     400, "rows[1]", "rows[1]"},
    {0, "POST", "/api/v1/datasets?name=j2", "application/json", "{\"rows\":[[1,2],[3,4],[5]]}",
     NULL, NULL, 400, "rows[2]", NULL},
    {0, "POST", "/api/v1/datasets?name=j3", "application/json", "{\"rows\":[[1,2],[3,{}]]}", NULL,
     NULL, 400, "rows[1][1]", "rows[1][1]"},
    {0, "POST", "/api/v1/datasets?name=j4", "application/json", "{\"rows\":[[1,2],[3,null]]}", NULL,
     NULL, 400, "rows[1][1]", "rows[1][1]"},
    {0, "POST", "/api/v1/datasets?name=j5", "application/json", "{\"rows\":[[1,NaN]]}", NULL, NULL,
     400, NULL, NULL},
    {0, "POST", "/api/v1/datasets?name=j6", "application/json", "[[1,2],[3,4]]", NULL, NULL, 400,
     "object", NULL},
    {0, "POST", "/api/v1/datasets?name=j7", "application/json", "{\"rows\":[]}", NULL, NULL, 400,
     "no rows", NULL},
    {0, "POST", "/api/v1/datasets?name=j8", "application/json", "{\"rows\":[[1,2]", NULL, NULL, 400,
     "line", NULL},
    {0, "POST", "/api/v1/datasets?name=j9", "application/json",
     "{\"columns\":[\"a\"],\"rows\":[[1,2]]}", NULL, NULL, 400, "rows[0]", NULL},
    {0, "POST", "/api/v1/datasets?name=j10", "application/json", "{\"rows\":[[1,\"\"]]}", NULL,
     NULL, 400, "rows[0][1]", NULL},
    /* ---- datasets: conflicts */
    {0, "DELETE", "/api/v1/datasets/{BUSY}", NULL, NULL, NULL, NULL, 409, "{LIVE}", NULL},
    {0, "DELETE", "/api/v1/datasets/{QDS}", NULL, NULL, NULL, NULL, 409, "{QUEUED}", NULL},
    {0, "GET", "/api/v1/datasets/{GONE}", NULL, NULL, NULL, NULL, 404, "{GONE}", NULL},
    /* ---- runs: required fields and columns */
    {0, "POST", "/api/v1/runs", NULL, "{\"task\":\"regression\",\"target\":\"y\"}", NULL, NULL, 400,
     "dataset_id", "dataset_id"},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":7,\"task\":\"regression\"}", NULL, NULL, 400,
     "dataset_id", "dataset_id"},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":\"{NUM}\",\"target\":\"y\"}", NULL, NULL,
     400, "task", "task"},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":\"{NUM}\",\"task\":\"clustering\"}", NULL,
     NULL, 400, "task", "task"},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\"}", NULL,
     NULL, 400, "target", "target"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"z\"}", NULL, NULL, 400, "'z'",
     "target"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":9}", NULL, NULL, 400, "9",
     "target"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\","
     "\"features\":[\"x1\",\"nope\"]}",
     NULL, NULL, 400, "'nope'", "features[1]"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\",\"features\":[\"y\"]}",
     NULL, NULL, 400, "'y'", "features"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"autoencoder\",\"target\":\"y\"}", NULL, NULL, 400,
     "target", "target"},
    {0, "POST", "/api/v1/runs", NULL, CLF(",\"features\":[\"a\",\"note\"]"), NULL, NULL, 400,
     "duplicate", NULL}, /* duplicate key "features": JSON_REJECT_DUPLICATES */
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{MIX}\",\"task\":\"classification\",\"target\":\"kind\","
     "\"features\":[\"a\",\"note\"]}",
     NULL, NULL, 400, "'note' is categorical: row 4", "features"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{MIX}\",\"task\":\"classification\",\"target\":\"kind\"}", NULL, NULL, 400,
     "'note' is categorical: row 4", "features"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{MIX}\",\"task\":\"regression\",\"target\":\"kind\","
     "\"features\":[\"a\",\"b\"]}",
     NULL, NULL, 400, "'kind' is categorical: row 1", "target"},
    {0, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":\"{GONE}\",\"task\":\"autoencoder\"}", NULL,
     NULL, 404, "{GONE}", "dataset_id"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\","
     "\"validation\":{\"dataset_id\":\"{GONE}\"}}",
     NULL, NULL, 404, "{GONE}", "validation.dataset_id"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\","
     "\"validation\":{\"fraction\":1.5}}",
     NULL, NULL, 400, "fraction", "validation.fraction"},
    {0, "POST", "/api/v1/runs", NULL,
     "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\",\"colour\":\"red\"}", NULL,
     NULL, 400, "colour", "colour"},
    /* ---- runs: every bad parameter */
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"epochs\":-3"), NULL, NULL, 400, "epochs",
     "params.epochs"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"epochs\":0"), NULL, NULL, 400, "epochs",
     "params.epochs"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"epochs\":100001"), NULL, NULL, 400, "epochs",
     "params.epochs"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"epochs\":2.5"), NULL, NULL, 400, "epochs",
     "params.epochs"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"batch_size\":0"), NULL, NULL, 400, "batch_size",
     "params.batch_size"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"hidden\":[8,0]"), NULL, NULL, 400, "hidden[1]",
     "params.hidden[1]"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"hidden\":[70000]"), NULL, NULL, 400, "hidden[0]",
     "params.hidden[0]"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"hidden\":\"wide\""), NULL, NULL, 400, "hidden",
     "params.hidden"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"hidden\":[60000,60000]"), NULL, NULL, 400,
     "--max-params", "params.hidden"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":0"), NULL, NULL, 400, "learning_rate",
     "params.learning_rate"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":-0.1"), NULL, NULL, 400,
     "learning_rate", "params.learning_rate"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learning_rate\":\"fast\""), NULL, NULL, 400,
     "learning_rate", "params.learning_rate"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"dropout\":1.5"), NULL, NULL, 400, "dropout",
     "params.dropout"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"momentum\":1"), NULL, NULL, 400, "momentum",
     "params.momentum"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"weight_decay\":-1"), NULL, NULL, 400, "weight_decay",
     "params.weight_decay"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"optimizer\":\"lbfgs\""), NULL, NULL, 400, "optimizer",
     "params.optimizer"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"activation\":\"gelu\""), NULL, NULL, 400,
     "activation", "params.activation"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"activation\":\"softmax\""), NULL, NULL, 400,
     "activation", "params.activation"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"loss\":\"hinge\""), NULL, NULL, 400, "loss",
     "params.loss"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"loss\":\"cross_entropy\""), NULL, NULL, 400, "loss",
     "params.loss"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"lr_schedule\":\"cyclic\""), NULL, NULL, 400,
     "lr_schedule", "params.lr_schedule"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"init\":\"zeros\""), NULL, NULL, 400, "init",
     "params.init"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"batch_norm\":\"yes\""), NULL, NULL, 400, "batch_norm",
     "params.batch_norm"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"seed\":-1"), NULL, NULL, 400, "seed", "params.seed"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"learningrate\":0.1"), NULL, NULL, 400, "learningrate",
     "params.learningrate"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"noise\":{\"type\":\"salt\"}"), NULL, NULL, 400,
     "noise", "params.noise.type"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"noise\":{\"std\":0.1}"), NULL, NULL, 400, "noise",
     "params.noise.type"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"noise\":{\"type\":\"gaussian\",\"std\":-1}"), NULL,
     NULL, 400, "std", "params.noise.std"},
    {0, "POST", "/api/v1/runs", NULL,
     CLF(",\"params\":{\"loss\":\"cross_entropy\",\"output_activation\":\"sigmoid\"}"), NULL, NULL,
     400, "sigmoid", "params.loss"},
    {0, "POST", "/api/v1/runs", NULL,
     CLF(",\"validation\":{\"fraction\":0},\"params\":{\"early_stopping\":{\"patience\":3}}"), NULL,
     NULL, 400, "validation", "params.early_stopping"},
    {0, "POST", "/api/v1/runs", NULL, CLF(",\"params\":{\"early_stopping\":{\"patience\":0}}"),
     NULL, NULL, 400, "patience", "params.early_stopping.patience"},
    {0, "POST", "/api/v1/runs", NULL, CLF(",\"params\":[1]"), NULL, NULL, 400, "params", "params"},
    {0, "POST", "/api/v1/runs:validate", NULL, RUNP("\"epochs\":0"), NULL, NULL, 400, "epochs",
     "params.epochs"},
    /* ---- runs: state conflicts, metrics */
    {0, "POST", "/api/v1/runs/{DONE}/cancel", NULL, "", NULL, NULL, 409, "succeeded", NULL},
    {0, "DELETE", "/api/v1/runs/{LIVE}", NULL, NULL, NULL, NULL, 409, "running", NULL},
    {0, "DELETE", "/api/v1/runs/{QUEUED}", NULL, NULL, NULL, NULL, 409, "queued", NULL},
    {0, "GET", "/api/v1/runs/{DONE}/metrics?name=bogus", NULL, NULL, NULL, NULL, 400, "name",
     "name"},
    /* ---- models */
    {0, "DELETE", "/api/v1/models/clf/versions/1", NULL, NULL, NULL, NULL, 409, "stable", NULL},
    {0, "PUT", "/api/v1/models/clf/aliases/next", NULL, "{\"version\":9}", NULL, NULL, 404, "9",
     "version"},
    {0, "PUT", "/api/v1/models/clf/aliases/next", NULL, "{\"version\":\"1\"}", NULL, NULL, 400,
     "version", "version"},
    {0, "PUT", "/api/v1/models/nope/aliases/next", NULL, "{\"version\":1}", NULL, NULL, 404, NULL,
     NULL},
    {0, "DELETE", "/api/v1/models/clf/aliases/nope", NULL, NULL, NULL, NULL, 404, "nope", NULL},
    {0, "GET", "/api/v1/models/nope", NULL, NULL, NULL, NULL, 404, "nope", NULL},
    {0, "DELETE", "/api/v1/models/clf/versions/9", NULL, NULL, NULL, NULL, 404, "9", NULL},
    {0, "DELETE", "/api/v1/models/clf/versions/zero", NULL, NULL, NULL, NULL, 400, "version",
     "version"},
    {0, "GET", "/api/v1/models/clf/versions/9/export", NULL, NULL, NULL, NULL, 404, "9", NULL},
    {0, "GET", "/api/v1/models/nope/versions/1/export", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "POST", "/api/v1/models/imp/versions", NULL, "{\"hello\":\"world\"}", NULL, NULL, 400,
     "format", "format"},
    {0, "POST", "/api/v1/models/imp/versions", NULL,
     "{\"format\":\"mlpd-model\",\"task\":\"regression\",\"loss\":\"squared\",\"layers\":[]}", NULL,
     NULL, 400, "layers", "layers"},
    {0, "POST", "/api/v1/models/imp/versions", NULL,
     "{\"format\":\"mlpd-model\",\"task\":\"juggling\"}", NULL, NULL, 400, "task", "task"},
    {0, "POST", "/api/v1/models/imp/versions", NULL,
     "{\"format\":\"mlpd-model\",\"task\":\"regression\",\"loss\":\"squared\",\"layers\":"
     "[{\"in\":2,\"out\":1,\"activation\":\"linear\",\"weights\":[[1]],\"bias\":[0]}]}",
     NULL, NULL, 400, "layers[0]", "layers"},
    {0, "POST", "/api/v1/models/imp/versions", NULL,
     "{\"format\":\"mlpd-model\",\"task\":\"regression\",\"loss\":\"squared\",\"layers\":"
     "[{\"in\":2,\"out\":3,\"activation\":\"relu\",\"weights\":[[1,1],[1,1],[1,1]],"
     "\"bias\":[0,0,0]},{\"in\":5,\"out\":1,\"activation\":\"linear\",\"weights\":[[1,1,1]],"
     "\"bias\":[0]}]}",
     NULL, NULL, 400, "layers[1]", "layers"},
    {0, "POST", "/api/v1/models/-x/versions", NULL, "{}", NULL, NULL, 400, "name", "name"},
    /* ---- inference, TensorFlow Serving style */
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,2],[1]]}", NULL, NULL, 400,
     "instances[1]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,2,3]]}", NULL, NULL, 400,
     "instances[0]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[]}", NULL, NULL, 400, "instances",
     NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,\"x\"]]}", NULL, NULL, 400,
     "instances[0][1]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,2],[null,2]]}", NULL, NULL, 400,
     "instances[1][0]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,1e39]]}", NULL, NULL, 400,
     "instances[0][1]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,NaN]]}", NULL, NULL, 400, NULL,
     NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[{\"a\":1,\"c\":2}]}", NULL, NULL,
     400, "'b'", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[{\"a\":1}]}", NULL, NULL, 400,
     "instances[0]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,2],{\"a\":1,\"b\":\"2\"}]}",
     NULL, NULL, 400, "instances[1]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[7]}", NULL, NULL, 400,
     "instances[0]", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"inputs\":[[1]]}", NULL, NULL, 400, "inputs[0]",
     NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"rows\":[[1,2]]}", NULL, NULL, 400, "instances",
     NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":{\"a\":1}}", NULL, NULL, 400,
     "instances", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "[[1,2]]", NULL, NULL, 400, "object", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,2]", NULL, NULL, 400, "line",
     NULL},
    {0, "POST", "/v1/models/clf:predict", "text/plain", "{\"instances\":[[1,2]]}", NULL, NULL, 415,
     NULL, NULL},
    {0, "POST", "/v1/models/clf:reconstruct", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "autoencoder", NULL},
    {0, "POST", "/v1/models/clf:encode", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "autoencoder", NULL},
    {0, "POST", "/v1/models/reg:classify", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "classification", NULL},
    {0, "POST", "/v1/models/ae:classify", NULL, "{\"instances\":[[1,2,3]]}", NULL, NULL, 400,
     "classification", NULL},
    {0, "POST", "/v1/models/ae:reconstruct", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "instances[0]", NULL},
    {0, "POST", "/v1/models/nope:predict", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 404, "nope",
     NULL},
    {0, "POST", "/v1/models/clf/versions/9:predict", NULL, "{\"instances\":[[1,2]]}", NULL, NULL,
     404, "9", NULL},
    {0, "POST", "/v1/models/clf/versions/abc:predict", NULL, "{\"instances\":[[1,2]]}", NULL, NULL,
     400, "abc", NULL},
    {0, "POST", "/v1/models/clf/labels/nope:predict", NULL, "{\"instances\":[[1,2]]}", NULL, NULL,
     400, "Unrecognized servable version label: nope", NULL},
    {0, "GET", "/v1/models/nope", NULL, NULL, NULL, NULL, 404, "nope", NULL},
    /* a name that breaks the naming rule: 400 naming it, on /v1 as on /v2 and /api/v1 */
    {0, "POST", "/v1/models/bad!name:predict", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "'bad!name' is not valid", NULL},
    {0, "POST", "/v1/models/bad!name/versions/1:classify", NULL, "{\"instances\":[[1,2]]}", NULL,
     NULL, 400, "'bad!name' is not valid", NULL},
    {0, "POST", "/v1/models/.hidden:frobnicate", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "'.hidden' is not valid", NULL},
    {0, "GET", "/v1/models/bad!name", NULL, NULL, NULL, NULL, 400, "'bad!name' is not valid", NULL},
    {0, "GET", "/v1/models/bad!name/labels/stable", NULL, NULL, NULL, NULL, 400,
     "'bad!name' is not valid", NULL},
    {0, "GET", "/v1/models/bad!name/metadata", NULL, NULL, NULL, NULL, 400,
     "'bad!name' is not valid", NULL},
    {0, "POST", "/v2/models/bad!name/infer", NULL, "{\"inputs\":[]}", NULL, NULL, 400,
     "'bad!name' is not valid", NULL},
    {0, "GET", "/api/v1/models/bad!name", NULL, NULL, NULL, NULL, 400, "name", "name"},
    {0, "GET", "/v1/models/nope/metadata", NULL, NULL, NULL, NULL, 404, "nope", NULL},
    {0, "GET", "/v1/models/clf/versions/9", NULL, NULL, NULL, NULL, 404, "9", NULL},
    {0, "POST", "/v1/models/clf:frobnicate", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "':frobnicate'", NULL},
    /* ---- hostile input (issue 6): SQL injection and traversal in names, ids and query
     * parameters; deep nesting; absurd widths; binary and header-only CSV; lying IDX headers */
    {0, "POST", "/api/v1/datasets?name=x%27%3B%20DROP%20TABLE%20datasets%3B--", "text/csv",
     "x\n1\n", NULL, NULL, 400, "name", "name"},
    {0, "GET", "/api/v1/runs?model_name=x%27%20OR%20%271%27%3D%271", NULL, NULL, NULL, NULL, 200,
     "\"total\":0", NULL},
    {0, "GET", "/api/v1/runs?experiment=%27%3B%20DELETE%20FROM%20runs%3B--", NULL, NULL, NULL, NULL,
     200, "\"total\":0", NULL},
    {0, "GET", "/api/v1/datasets/ds_1%27%20OR%201%3D1--", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "GET", "/api/v1/runs/run_1%20OR%201%3D1", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "GET", "/api/v1/models/m%27%3B--", NULL, NULL, NULL, NULL, 400, "name", "name"},
    {0, "POST", "/api/v1/runs", NULL, CLF(",\"model_name\":\"x'; DROP TABLE runs;--\""), NULL, NULL,
     400, "model_name", "model_name"},
    {0, "GET", "/api/v1/datasets/..%2F..%2Fmlpd.db", NULL, NULL, NULL, NULL, 404, NULL, NULL},
    {0, "GET", "/api/v1/datasets/{NUM}%2F..%2F..%2Fmlpd.db/rows", NULL, NULL, NULL, NULL, 404, NULL,
     NULL},
    {0, "GET", "/api/v1/models/..%2F..%2Fetc/versions/1/export", NULL, NULL, NULL, NULL, 404, NULL,
     NULL},
    {0, "POST", "/api/v1/datasets?name=..%2F..%2Fetc%2Fpasswd", "text/csv", "x\n1\n", NULL, NULL,
     400, "name", "name"},
    {0, "POST", "/api/v1/runs", NULL, NULL, gen_deep_json, NULL, 400, "deeper", NULL},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"hidden\":[1000000]"), NULL, NULL, 400, "hidden[0]",
     "params.hidden[0]"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"epochs\":-3"), NULL, NULL, 400, "epochs",
     "params.epochs"},
    {0, "POST", "/api/v1/runs", NULL, RUNP("\"batch_size\":0"), NULL, NULL, 400, "batch_size",
     "params.batch_size"},
    {0, "POST", "/api/v1/datasets?name=h1", "text/csv", NULL, gen_binary_csv, NULL, 400, "NUL",
     NULL},
    {0, "POST", "/api/v1/datasets?name=h2", "text/csv", "a,b\r\n", NULL, NULL, 400, "no rows",
     NULL},
    {0, "POST", "/api/v1/datasets?name=h3", "application/octet-stream", NULL, gen_idx_overflow,
     NULL, 400, "IDX", NULL},
};

/* ------------------------------------------------------------------ running a case */

/* Replaces every {KEY} of src with its value. New string. */
static char *expand(const char *src, size_t n)
{
    size_t cap = n * 2 + 256, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        int hit = -1;
        if (src[i] == '{')
            for (int k = 0; k < K_COUNT; k++)
                if (strncmp(src + i, key_names[k], strlen(key_names[k])) == 0) hit = k;
        const char *add = hit >= 0 ? key_vals[hit] : src + i;
        size_t alen = hit >= 0 ? strlen(key_vals[hit]) : 1;
        if (len + alen + 1 > cap) {
            cap = (len + alen + 1) * 2;
            char *b = realloc(out, cap);
            if (!b) {
                free(out);
                return NULL;
            }
            out = b;
        }
        memcpy(out + len, add, alen);
        len += alen;
        i += hit >= 0 ? strlen(key_names[hit]) : 1;
    }
    out[len] = '\0';
    return out;
}

typedef struct {
    const char *data;
    size_t len, pos;
} feed;

static size_t on_read(char *buf, size_t sz, size_t nm, void *ud)
{
    feed *f = ud;
    size_t n = sz * nm, left = f->len - f->pos;
    if (n > 1000) n = 1000; /* many small chunks */
    if (n > left) n = left;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    return n;
}

static size_t on_head(char *p, size_t sz, size_t n, void *ud)
{
    hresp *r = ud;
    size_t len = sz * n;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t k = 13;
        while (k < len && p[k] == ' ') k++;
        size_t m = len - k;
        while (m && (p[k + m - 1] == '\r' || p[k + m - 1] == '\n')) m--;
        if (m >= sizeof r->content_type) m = sizeof r->content_type - 1;
        memcpy(r->content_type, p + k, m);
        r->content_type[m] = '\0';
    }
    return len;
}

/* POST with Transfer-Encoding: chunked (no Content-Length), in 1000-byte chunks. */
static long http_chunked(srv *s, const char *path, const char *ctype, const char *body, size_t len,
                         hresp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c) return -1;
    char url[1024], ct[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
    struct curl_slist *h = curl_slist_append(NULL, ct);
    h = curl_slist_append(h, CHUNKED);
    h = curl_slist_append(h, "Expect:");
    feed f = {body, len, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &f);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    r->status = curl_easy_perform(c) == CURLE_OK ? 0 : -1;
    if (r->status == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (!r->body) r->body = calloc(1, 1);
    oa_check(s->port, "POST", path, r->status, r->content_type, r->body, r->len);
    return r->status;
}

static int n_5xx;

/* Checks the error body's shape for the path's family. Returns NULL or what is wrong. */
static const char *check_shape(const ecase *c, const hresp *r, json_t *j, const char *field)
{
    int mgmt = strncmp(c->path, "/api/", 5) == 0;
    int tfs = strncmp(c->path, "/v1/", 4) == 0;
    if (c->status == 405 && !r->allow[0]) return "405 without an Allow header";
    if (r->status < 400) return NULL;
    if (!j || !json_is_object(j)) return "error body is not a JSON object";
    if (tfs) {
        if (!json_is_string(json_object_get(j, "error"))) return "no {\"error\": string}";
        if (strncmp(r->content_type, "application/json", 16) != 0)
            return "Content-Type is not application/json";
        return NULL;
    }
    if (!mgmt) return NULL;
    if (strncmp(r->content_type, "application/problem+json", 24) != 0)
        return "Content-Type is not application/problem+json";
    static const char *const keys[] = {"type", "title", "detail", "code"};
    for (int i = 0; i < 4; i++)
        if (!json_is_string(json_object_get(j, keys[i]))) return "problem lacks a string member";
    if (json_integer_value(json_object_get(j, "status")) != r->status)
        return "problem status differs from the HTTP status";
    if (field) {
        const char *f = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "errors"), 0), "field"));
        if (!f || strcmp(f, field) != 0) return "errors[0].field differs";
    }
    return NULL;
}

/* Runs one case; returns 0 when it passed, else prints why. */
static int run_case(size_t i, const ecase *c)
{
    srv *s = c->small ? &SMALL : &S;
    char *path = expand(c->path, strlen(c->path));
    char *body = NULL;
    size_t len = 0;
    if (c->gen) {
        body = c->gen(&len);
    } else if (c->body) {
        body = expand(c->body, strlen(c->body));
        len = body ? strlen(body) : 0;
    }
    char *needle = c->needle ? expand(c->needle, strlen(c->needle)) : NULL;
    int bad = 0;
    if (!path || ((c->gen || c->body) && !body) || (c->needle && !needle)) {
        fprintf(stderr, "case %zu: out of memory\n", i);
        bad = 1;
        goto out;
    }
    hresp r;
    long st;
    if (c->header && strcmp(c->header, CHUNKED) == 0)
        st = http_chunked(s, path, c->ctype, body, len, &r);
    else
        st = http_do(s, c->method, path, c->ctype, body, len, c->header, &r);
    json_t *j = hresp_json(&r);
    const char *why = NULL;
    if (st >= 500) n_5xx++;
    if (st != c->status)
        why = "wrong status";
    else if (needle && !strstr(r.body, needle))
        why = "body does not contain the expected text";
    else
        why = check_shape(c, &r, j, c->field);
    if (getenv("MLPD_TEST_VERBOSE"))
        fprintf(stderr, "case %zu: %s %s -> %ld %.300s\n", i, c->method, path, st, r.body);
    if (why) {
        fprintf(stderr, "case %zu: %s %s -> %ld (want %ld%s%s%s%s): %s\n    body: %.400s\n", i,
                c->method, path, st, c->status, needle ? ", \"" : "", needle ? needle : "",
                needle ? "\"" : "", c->field ? ", field" : "", why, r.body);
        bad = 1;
    }
    json_decref(j);
    hresp_free(&r);
out:
    free(path);
    free(body);
    free(needle);
    return bad;
}

/* ------------------------------------------------------------------ tests */

static void every_error_case(void **state)
{
    (void)state;
    size_t n = sizeof cases / sizeof cases[0], failed = 0;
    for (size_t i = 0; i < n; i++) failed += (size_t)run_case(i, &cases[i]);
    fprintf(stderr, "%zu of %zu error cases passed\n", n - failed, n);
    assert_true(n >= 60);
    assert_int_equal(n_5xx, 0);
    assert_int_equal(failed, 0);
}

static long runs_total(void)
{
    long st;
    json_t *j = get_json(&S, "/api/v1/runs?limit=1", &st);
    long t = st == 200 ? (long)json_integer_value(json_object_get(j, "total")) : -1;
    json_decref(j);
    return t;
}

/* :validate answers 200 / 400 and never queues a run. */
static void validate_does_not_queue(void **state)
{
    (void)state;
    long before = runs_total();
    assert_true(before >= 5);
    char good[300], badb[300];
    snprintf(good, sizeof good,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":\"y\","
             "\"params\":{\"epochs\":3}}",
             key_vals[K_NUM]);
    snprintf(badb, sizeof badb,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":\"y\","
             "\"params\":{\"learning_rate\":\"fast\"}}",
             key_vals[K_NUM]);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs:validate", good, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "valid")));
    json_decref(j);
    j = post_json(&S, "/api/v1/runs:validate", badb, &st);
    assert_int_equal(st, 400);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "errors"), 0), "field")),
                        "params.learning_rate");
    json_decref(j);
    assert_int_equal(runs_total(), before);
}

/* A JSON route reads a body with no Content-Type, or with application/x-www-form-urlencoded
 * (what `curl -d` sends unless told otherwise, as the README's examples do), as JSON, like
 * TensorFlow Serving; any other explicit type is 415 naming it. On every JSON route family:
 * /api/v1, /v1 (the fast reader and the jansson path) and /v2. */
static void json_content_types(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path, *body;
        long ok; /* the status when the body is read */
    } routes[] = {
        {"POST", "/api/v1/runs:validate",
         "{\"dataset_id\":\"{NUM}\",\"task\":\"regression\",\"target\":\"y\"}", 200},
        {"PUT", "/api/v1/models/clf/aliases/ctype", "{\"version\":1}", 200},
        {"POST", "/v1/models/clf:predict", "{\"instances\":[[0.5,-0.5]]}", 200},
        {"POST", "/v1/models/clf:classify", "{\"instances\":[{\"a\":0.5,\"b\":-0.5}]}", 200},
        {"POST", "/v1/models/clf/labels/stable:predict", "{\"instances\":[[0.5,-0.5]]}", 200},
        {"POST", "/v2/models/clf/infer",
         "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],\"datatype\":\"FP32\","
         "\"data\":[0.5,-0.5]}]}",
         200},
    };
    static const struct {
        const char *ctype; /* "": no Content-Type header at all */
        int read;          /* 1: read as JSON, 0: 415 naming the type */
    } types[] = {
        {"", 1},
        {"application/x-www-form-urlencoded", 1},
        {"application/json", 1},
        {"application/json; charset=utf-8", 1},
        {"text/plain", 0},
        {"text/csv", 0},
    };
    int failed = 0, n = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char *body = expand(routes[i].body, strlen(routes[i].body));
        assert_non_null(body);
        for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
            hresp r;
            long st = http_do(&S, routes[i].method, routes[i].path, types[k].ctype, body,
                              strlen(body), NULL, &r);
            long want = types[k].read ? routes[i].ok : 415;
            int good = st == want && (types[k].read || strstr(r.body, types[k].ctype) != NULL);
            if (!good) {
                fprintf(stderr, "%s %s with Content-Type '%s': %ld (want %ld%s): %.300s\n",
                        routes[i].method, routes[i].path, types[k].ctype, st, want,
                        types[k].read ? "" : " naming the type", r.body);
                failed++;
            }
            n++;
            hresp_free(&r);
        }
        free(body);
    }
    fprintf(stderr, "%d of %d content-type cases passed\n", n - failed, n);
    assert_int_equal(failed, 0);
}

/* After everything: both daemons are healthy and the run still trains. */
static void still_healthy(void **state)
{
    (void)state;
    long st;
    json_t *j = get_json(&S, "/healthz", &st);
    assert_int_equal(st, 200);
    json_decref(j);
    j = get_json(&SMALL, "/healthz", &st);
    assert_int_equal(st, 200);
    json_decref(j);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/runs/%s", key_vals[K_LIVE]);
    j = get_json(&S, path, &st);
    assert_int_equal(st, 200);
    if (getenv("MLPD_TEST_VERBOSE"))
        fprintf(stderr, "live run at epoch %lld\n",
                (long long)json_integer_value(
                    json_object_get(json_object_get(j, "progress"), "epoch")));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "running");
    json_decref(j);
}

/* Inference hardening: a value out of float range in an object-keyed instance, and a verb the
 * model lacks — named with the verbs the model's task has, after a 404 for an unknown model,
 * version or alias — on every model path. */
static const ecase infer_cases[] = {
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[{\"a\":1,\"b\":1e39}]}", NULL,
     NULL, 400, "instances[0].b is not a finite float", NULL},
    {0, "POST", "/v1/models/clf:classify", NULL,
     "{\"instances\":[{\"a\":1,\"b\":2},{\"a\":-1e39,\"b\":2}]}", NULL, NULL, 400,
     "instances[1].a is not a finite float", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"inputs\":[{\"a\":1,\"b\":3.5e38}]}", NULL, NULL,
     400, "inputs[0].b is not a finite float", NULL},
    {0, "POST", "/v1/models/clf:frobnicate", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "model 'clf' has no verb ':frobnicate'; a classification model answers :predict, :classify",
     NULL},
    {0, "POST", "/v1/models/reg:frobnicate", NULL, "{}", NULL, NULL, 400,
     "a regression model answers :predict, :regress\"", NULL},
    {0, "POST", "/v1/models/ae:frobnicate", NULL, "{}", NULL, NULL, 400,
     "an autoencoder model answers :predict, :reconstruct, :encode", NULL},
    {0, "POST", "/v1/models/nope:frobnicate", NULL, "{}", NULL, NULL, 404, "nope", NULL},
    {0, "POST", "/v1/models/clf/versions/1:frobnicate", NULL, "{}", NULL, NULL, 400,
     "':frobnicate'; a classification model answers :predict, :classify", NULL},
    {0, "POST", "/v1/models/clf/versions/9:frobnicate", NULL, "{}", NULL, NULL, 404, "9", NULL},
    {0, "POST", "/v1/models/clf/labels/stable:frobnicate", NULL, "{}", NULL, NULL, 400,
     "':frobnicate'; a classification model answers :predict, :classify", NULL},
    {0, "POST", "/v1/models/clf/labels/nope:frobnicate", NULL, "{}", NULL, NULL, 400, "label: nope",
     NULL},
    {0, "POST", "/v1/models/nope/labels/stable:frobnicate", NULL, "{}", NULL, NULL, 400,
     "label: stable", NULL},
    {0, "POST", "/v1/models/clf%3Afrobnicate", NULL, "{}", NULL, NULL, 400, "':frobnicate'", NULL},
    {0, "GET", "/v1/models/clf:frobnicate", NULL, NULL, NULL, NULL, 405, "POST", NULL},
    {0, "POST", "/v1/models/reg:classify", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "(it answers :predict, :regress)", NULL},
    {0, "POST", "/v1/models/clf:encode", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 400,
     "(it answers :predict, :classify, :regress)", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[1,2]]}", NULL, NULL, 200,
     "predictions", NULL},
    {0, "POST", "/v1/models/ae/labels/stable:frobnicate", NULL, "{}", NULL, NULL, 400,
     "label: stable", NULL},
};

static void infer_hardening_cases(void **state)
{
    (void)state;
    size_t n = sizeof infer_cases / sizeof infer_cases[0], failed = 0;
    int before = n_5xx;
    for (size_t i = 0; i < n; i++) failed += (size_t)run_case(i, &infer_cases[i]);
    fprintf(stderr, "%zu of %zu inference cases passed\n", n - failed, n);
    assert_int_equal(n_5xx, before);
    assert_int_equal(failed, 0);
}

/* --max-instances (default 10000) on /v1: bodies of `rows` two-value rows for the clf model, as
 * the fast reader takes them ([a,b] rows) or as only jansson does (object rows); the fast reader
 * stops at the limit, before reading (or making room for) the rest of the body. */
#define MAX_INSTANCES 10000

/* {"instances":[ rows rows ...] then tail (which closes the body, or not). */
static char *gen_rows(int rows, int objects, const char *tail, size_t *len)
{
    size_t cap = (size_t)rows * 24 + strlen(tail) + 32;
    char *b = malloc(cap), *o = b;
    if (!b) return NULL;
    o += sprintf(o, "{\"instances\":[");
    for (int i = 0; i < rows; i++)
        o += sprintf(o, objects ? "%s{\"a\":0.5,\"b\":-0.5}" : "%s[0.5,-0.5]", i ? "," : "");
    o += sprintf(o, "%s", tail);
    *len = (size_t)(o - b);
    return b;
}

static char *gen_fast_limit(size_t *len)
{
    return gen_rows(MAX_INSTANCES, 0, "]}", len);
}

static char *gen_fast_over(size_t *len)
{
    return gen_rows(2 * MAX_INSTANCES, 0, "]}", len);
}

/* the limit's rows, then the start of one more and no end: never read */
static char *gen_fast_over_cut(size_t *len)
{
    return gen_rows(MAX_INSTANCES, 0, ",[1,", len);
}

static char *gen_objects_over(size_t *len)
{
    return gen_rows(MAX_INSTANCES + 1, 1, "]}", len);
}

static const ecase limit_cases[] = {
    {0, "POST", "/v1/models/clf:predict", NULL, NULL, gen_fast_limit, NULL, 200, "predictions",
     NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, NULL, gen_fast_over, NULL, 413,
     "more than 10000 instances in one request; the limit is 10000 (--max-instances)", NULL},
    {0, "POST", "/v1/models/clf:classify", NULL, NULL, gen_fast_over_cut, NULL, 413,
     "more than 10000 instances in one request; the limit is 10000 (--max-instances)", NULL},
    {0, "POST", "/v1/models/clf:predict", NULL, NULL, gen_objects_over, NULL, 413,
     "10001 instances in one request; the limit is 10000 (--max-instances)", NULL},
};

static void max_instances_cases(void **state)
{
    (void)state;
    size_t n = sizeof limit_cases / sizeof limit_cases[0], failed = 0;
    int before = n_5xx;
    for (size_t i = 0; i < n; i++) failed += (size_t)run_case(i, &limit_cases[i]);
    fprintf(stderr, "%zu of %zu --max-instances cases passed\n", n - failed, n);
    assert_int_equal(n_5xx, before);
    assert_int_equal(failed, 0);
}

/* Outputs that are not finite (the classifier's logits overflow on inputs near the float limit):
 * written as null, as /v1 :predict writes them; never a 503, and no value dropped (/v2 "data"
 * as long as its shape says). */
static const ecase overflow_cases[] = {
    {0, "POST", "/v1/models/clf:predict", NULL, "{\"instances\":[[-3e38,3e38],[1,2]]}", NULL, NULL,
     200, "{\"predictions\":[[null,null],[", NULL},
    {0, "POST", "/v1/models/clf:classify", NULL, "{\"instances\":[[-3e38,3e38],[1,2]]}", NULL, NULL,
     200, "{\"results\":[[[\"cat\",null],[\"dog\",null]],[[", NULL},
    {0, "POST", "/v2/models/clf/infer", NULL,
     "{\"inputs\":[{\"name\":\"input\",\"shape\":[2,2],\"datatype\":\"FP32\","
     "\"data\":[-3e38,3e38,1,2]}]}",
     NULL, NULL, 200, "\"shape\":[2,2],\"data\":[null,null,", NULL},
};

static void non_finite_outputs(void **state)
{
    (void)state;
    size_t n = sizeof overflow_cases / sizeof overflow_cases[0], failed = 0;
    int before = n_5xx;
    for (size_t i = 0; i < n; i++) failed += (size_t)run_case(i, &overflow_cases[i]);
    fprintf(stderr, "%zu of %zu non-finite output cases passed\n", n - failed, n);
    assert_int_equal(n_5xx, before);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_error_case),      cmocka_unit_test(validate_does_not_queue),
        cmocka_unit_test(json_content_types),    cmocka_unit_test(still_healthy),
        cmocka_unit_test(infer_hardening_cases), cmocka_unit_test(max_instances_cases),
        cmocka_unit_test(non_finite_outputs),
    };
    return cmocka_run_group_tests_name("e2e/errors", tests, setup, teardown);
}
