/* test_auth.c — access control and limits through the real daemon (API.md, Security):
 * - walks the route table (api/routes.def via route_table): every route of scope train refuses
 *   a missing key and an unknown key (401, WWW-Authenticate) and a predict key (403) in its
 *   family's error style, and lets train and admin keys through; every route of scope admin
 *   (class mode's user management) refuses predict and train keys (403) and lets admin keys
 *   through; predict routes refuse anonymous callers unless --public-predict, where writes
 *   still need a key;
 * - ?access_token= on the event stream route only;
 * - CORS: preflight 204 with the Allow-* headers and Max-Age, ACAO + Vary for an allowed origin,
 *   no CORS header for another origin;
 * - listening beyond loopback: refused without keys, allowed with --insecure or with keys;
 * - --max-queued-runs (429 + Retry-After), --rate-limit (429 + Retry-After), JSON depth,
 *   --max-instances, and a chunked body past --max-body answered 413 with bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "oacheck.h"
#include "routes.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define K_ADMIN   "adm-0123456789abcdef"
#define K_TRAIN   "trn-0123456789abcdef"
#define K_PREDICT "prd-0123456789abcdef"
#define KEYS      K_ADMIN ":admin," K_TRAIN ":train," K_PREDICT ":predict"

/* One request; key and origin may be NULL; body (JSON) may be NULL. */
static long req(const srv *s, const char *method, const char *path, const char *key,
                const char *origin, const char *body, hresp *r)
{
    return http_keyed(s, method, path, key, origin, NULL, body, r);
}

/* The route's pattern with every {param} replaced by "1" (a plausible id, name, version and
 * alias alike), e.g. "/v1/models/1:predict". */
static void concrete_path(const char *pattern, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 2 < cap; p++) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (e) {
                out[o++] = '1';
                p = e;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}

static const char *body_for(const route *rt)
{
    return strcmp(rt->method, "GET") == 0 || strcmp(rt->method, "DELETE") == 0 ? NULL : "{}";
}

/* An error answer in the route family's style. */
static void check_error_style(const route *rt, const hresp *r, long status)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    if (rt->family == FAM_MGMT || rt->family == FAM_PLAIN) {
        const char *ct = hresp_header(r, "Content-Type");
        assert_non_null(ct);
        assert_string_equal(ct, "application/problem+json");
        assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
        assert_non_null(json_string_value(json_object_get(j, "detail")));
    } else {
        assert_non_null(json_string_value(json_object_get(j, "error")));
    }
    json_decref(j);
}

static void expect_refused(const srv *s, const route *rt, const char *path, const char *key,
                           long want)
{
    hresp r;
    long st = req(s, rt->method, path, key, NULL, body_for(rt), &r);
    if (st != want)
        fprintf(stderr, "%s %s (key %s): %ld, expected %ld: %s\n", rt->method, path,
                key ? key : "none", st, want, r.body);
    assert_int_equal(st, want);
    check_error_style(rt, &r, want);
    if (want == 401) {
        const char *wa = hresp_header(&r, "WWW-Authenticate");
        assert_non_null(wa);
        assert_int_equal(strncmp(wa, "Bearer", 6), 0);
    }
    hresp_free(&r);
}

static void expect_through(const srv *s, const route *rt, const char *path, const char *key)
{
    hresp r;
    long st = req(s, rt->method, path, key, NULL, body_for(rt), &r);
    if (st <= 0 || st == 401 || st == 403)
        fprintf(stderr, "%s %s (key %s): %ld, expected past auth: %s\n", rt->method, path,
                key ? key : "none", st, r.body);
    assert_true(st > 0 && st != 401 && st != 403);
    hresp_free(&r);
}

static void walk_route_table(void **state)
{
    (void)state;
    srv s;
    const char *args[] = {"--api-key", K_ADMIN ":admin",     "--api-key", K_TRAIN ":train",
                          "--api-key", K_PREDICT ":predict", NULL};
    assert_int_equal(srv_start(&s, args), 0);
    int writes = 0, reads = 0, admins = 0;
    for (size_t i = 0; i < route_count; i++) {
        const route *rt = &route_table[i];
        char path[256];
        concrete_path(rt->pattern, path, sizeof path);
        if (rt->scope == SCOPE_NONE) {
            expect_through(&s, rt, path, NULL);
            continue;
        }
        expect_refused(&s, rt, path, NULL, 401);
        expect_refused(&s, rt, path, "not-a-key-0123456789", 401);
        if (rt->scope == SCOPE_ADMIN) { /* class mode's user management (README, Class mode) */
            admins++;
            expect_refused(&s, rt, path, K_PREDICT, 403);
            expect_refused(&s, rt, path, K_TRAIN, 403);
            expect_through(&s, rt, path, K_ADMIN);
            continue;
        }
        if (rt->scope == SCOPE_TRAIN) {
            writes++;
            expect_refused(&s, rt, path, K_PREDICT, 403);
        } else {
            reads++;
            expect_through(&s, rt, path, K_PREDICT);
        }
        expect_through(&s, rt, path, K_TRAIN);
        expect_through(&s, rt, path, K_ADMIN);
    }
    assert_true(writes >= 10);
    assert_true(reads >= 10);
    assert_true(admins >= 5);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

static void public_predict(void **state)
{
    (void)state;
    srv s;
    setenv("MLPD_API_KEYS", KEYS, 1);
    const char *args[] = {"--public-predict", NULL};
    int rc = srv_start(&s, args);
    unsetenv("MLPD_API_KEYS");
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < route_count; i++) {
        const route *rt = &route_table[i];
        char path[256];
        concrete_path(rt->pattern, path, sizeof path);
        if (rt->scope <= SCOPE_PREDICT) {
            /* class mode: a route for staff or admin (GET /metrics) wants a user's key */
            if (rt->rule == RULE_STAFF || rt->rule == RULE_ADMIN)
                expect_refused(&s, rt, path, NULL, 401);
            else
                expect_through(&s, rt, path, NULL);
            /* a wrong key is still refused, even where anonymous callers are let in */
            if (rt->scope == SCOPE_PREDICT)
                expect_refused(&s, rt, path, "not-a-key-0123456789", 401);
        } else {
            expect_refused(&s, rt, path, NULL, 401);
            expect_refused(&s, rt, path, K_PREDICT, 403);
            expect_through(&s, rt, path, K_ADMIN);
        }
    }
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

/* ?access_token= stands in for the header on the SSE route only (EventSource sends no headers). */
static void access_token_query(void **state)
{
    (void)state;
    srv s;
    setenv("MLPD_API_KEYS", KEYS, 1);
    int rc = srv_start(&s, NULL);
    unsetenv("MLPD_API_KEYS");
    assert_int_equal(rc, 0);
    hresp r;
    /* Not on other GET routes. */
    assert_int_equal(req(&s, "GET", "/api/v1/runs?access_token=" K_ADMIN, NULL, NULL, NULL, &r),
                     401);
    hresp_free(&r);
    const route *ev = NULL;
    for (size_t i = 0; i < route_count; i++)
        if (strcmp(route_table[i].pattern, "/api/v1/runs/{id}/events") == 0 &&
            strcmp(route_table[i].method, "GET") == 0)
            ev = &route_table[i];
    assert_non_null(ev);
    long st = req(&s, "GET", "/api/v1/runs/run_none/events?access_token=" K_PREDICT, NULL, NULL,
                  NULL, &r);
    assert_true(st > 0 && st != 401 && st != 403);
    hresp_free(&r);
    assert_int_equal(req(&s, "GET", "/api/v1/runs/run_none/events?access_token=nope-0123456789",
                         NULL, NULL, NULL, &r),
                     401);
    hresp_free(&r);
    assert_int_equal(req(&s, "GET", "/api/v1/runs/run_none/events", NULL, NULL, NULL, &r), 401);
    hresp_free(&r);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

static int has_cors_header(const hresp *r)
{
    return strcasestr(r->headers, "\nAccess-Control-") != NULL;
}

static void cors(void **state)
{
    (void)state;
    srv s;
    const char *args[] = {"--api-key",
                          K_PREDICT ":predict",
                          "--cors-origin",
                          "https://a.example",
                          "--cors-origin",
                          "https://b.example:8443",
                          NULL};
    assert_int_equal(srv_start(&s, args), 0);
    hresp r;
    /* Preflight: no key needed, 204 with the CORS headers. */
    assert_int_equal(req(&s, "OPTIONS", "/api/v1/runs", NULL, "https://a.example", NULL, &r), 204);
    assert_string_equal(hresp_header(&r, "Access-Control-Allow-Origin"), "https://a.example");
    assert_non_null(strstr(hresp_header(&r, "Access-Control-Allow-Methods"), "POST"));
    assert_non_null(strstr(hresp_header(&r, "Access-Control-Allow-Methods"), "GET"));
    assert_non_null(strcasestr(hresp_header(&r, "Access-Control-Allow-Headers"), "authorization"));
    assert_non_null(strcasestr(hresp_header(&r, "Access-Control-Allow-Headers"), "content-type"));
    assert_true(atoi(hresp_header(&r, "Access-Control-Max-Age")) > 0);
    assert_non_null(strstr(hresp_header(&r, "Access-Control-Expose-Headers"), "Location"));
    hresp_free(&r);
    assert_int_equal(
        req(&s, "OPTIONS", "/v1/models/m1:predict", NULL, "https://b.example:8443", NULL, &r), 204);
    assert_string_equal(hresp_header(&r, "Access-Control-Allow-Origin"), "https://b.example:8443");
    assert_non_null(strstr(hresp_header(&r, "Access-Control-Allow-Methods"), "POST"));
    hresp_free(&r);
    /* An actual request from an allowed origin. */
    assert_int_equal(req(&s, "GET", "/api/v1/runs", K_PREDICT, "https://a.example", NULL, &r), 200);
    assert_string_equal(hresp_header(&r, "Access-Control-Allow-Origin"), "https://a.example");
    assert_non_null(strstr(hresp_header(&r, "Vary"), "Origin"));
    assert_non_null(strstr(hresp_header(&r, "Access-Control-Expose-Headers"), "Location"));
    hresp_free(&r);
    /* Errors too, so that a page can read why it was refused. */
    assert_int_equal(req(&s, "GET", "/api/v1/runs", NULL, "https://a.example", NULL, &r), 401);
    assert_string_equal(hresp_header(&r, "Access-Control-Allow-Origin"), "https://a.example");
    hresp_free(&r);
    /* Another origin: no CORS headers, on a preflight or a request. */
    assert_int_equal(req(&s, "OPTIONS", "/api/v1/runs", NULL, "https://evil.example", NULL, &r),
                     204);
    assert_false(has_cors_header(&r));
    hresp_free(&r);
    assert_int_equal(req(&s, "GET", "/api/v1/runs", K_PREDICT, "https://evil.example", NULL, &r),
                     200);
    assert_false(has_cors_header(&r));
    hresp_free(&r);
    assert_int_equal(req(&s, "GET", "/api/v1/runs", K_PREDICT, "https://a.example.evil", NULL, &r),
                     200);
    assert_false(has_cors_header(&r));
    hresp_free(&r);
    /* OPTIONS on a path that is no route. */
    assert_int_equal(req(&s, "OPTIONS", "/nowhere", NULL, "https://a.example", NULL, &r), 404);
    hresp_free(&r);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);

    /* "*" allows any origin. */
    const char *star[] = {"--cors-origin", "*", NULL};
    assert_int_equal(srv_start(&s, star), 0);
    assert_int_equal(req(&s, "GET", "/healthz", NULL, "https://any.example", NULL, &r), 200);
    assert_string_equal(hresp_header(&r, "Access-Control-Allow-Origin"), "*");
    hresp_free(&r);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

static int log_has(const srv *s, const char *needle)
{
    FILE *f = fopen(s->log, "r");
    if (!f) return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void listening_rule(void **state)
{
    (void)state;
    srv s;
    const char *open_any[] = {"--listen", "0.0.0.0:0", NULL};
    assert_int_not_equal(srv_start(&s, open_any), 0); /* exits before writing its port */
    assert_true(log_has(&s, "refusing to listen on 0.0.0.0"));
    assert_true(log_has(&s, "--insecure"));
    srv_cleanup(&s);

    const char *insecure[] = {"--listen", "0.0.0.0:0", "--insecure", NULL};
    assert_int_equal(srv_start(&s, insecure), 0);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);

    const char *keyed[] = {"--listen", "0.0.0.0:0", "--api-key", K_ADMIN ":admin", NULL};
    assert_int_equal(srv_start(&s, keyed), 0);
    assert_true(log_has(&s, "access: 1 API key"));
    /* The key is not left readable in the process's command line. */
    char path[64], cmd[4096];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)s.pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    assert_null(memmem(cmd, n, K_ADMIN, strlen(K_ADMIN)));
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);

    const char *badkey[] = {"--api-key", "short:admin", NULL};
    assert_int_not_equal(srv_start(&s, badkey), 0);
    assert_true(log_has(&s, "API key entry 1"));
    srv_cleanup(&s);
}

typedef struct {
    size_t left;
} chunk_src;

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    chunk_src *c = ud;
    size_t k = sz * n < c->left ? sz * n : c->left;
    memset(buf, ' ', k); /* JSON whitespace: a body that only its size makes wrong */
    if (k && c->left == k) buf[k - 1] = '1';
    c->left -= k;
    return k;
}

/* A chunked body (no Content-Length) far past --max-body: 413 once the body ends, without the
 * daemon holding it (its peak RSS grows by much less than the body). */
static void chunked_body_bounded(const srv *s)
{
    long before = proc_status_kb(s->pid, "VmHWM");
    assert_true(before > 0);
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/runs:validate", s->port);
    struct curl_slist *h = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    chunk_src src = {(size_t)48 << 20};
    hresp r;
    memset(&r, 0, sizeof r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hresp_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode cc = curl_easy_perform(c);
    assert_int_equal(cc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "--max-body"));
    hresp_free(&r);
    long after = proc_status_kb(s->pid, "VmHWM");
    fprintf(stderr, "chunked 48 MiB body: daemon peak RSS %ld -> %ld kB\n", before, after);
    assert_true(after - before < 16 * 1024);
}

static char *nested(int depth)
{
    char *b = malloc((size_t)depth * 2 + 64);
    char *p = b + sprintf(b, "{\"dataset_id\":");
    for (int i = 0; i < depth - 1; i++) *p++ = '[';
    for (int i = 0; i < depth - 1; i++) *p++ = ']';
    strcpy(p, "}");
    return b;
}

static void limits(void **state)
{
    (void)state;
    srv s;
    const char *args[] = {"--max-queued-runs", "1", "--rate-limit", "5/s", "--max-body", "1M",
                          "--max-instances",   "3", "--workers",    "1",   NULL};
    assert_int_equal(srv_start(&s, args), 0);
    hresp r;

    /* JSON depth: 64 levels pass the scan (and fail validation for another reason), 65 do not. */
    char *ok = nested(64), *deep = nested(65);
    assert_int_equal(req(&s, "POST", "/api/v1/runs:validate", NULL, NULL, ok, &r), 400);
    assert_null(strstr(r.body, "max-json-depth"));
    hresp_free(&r);
    assert_int_equal(req(&s, "POST", "/api/v1/runs:validate", NULL, NULL, deep, &r), 400);
    assert_non_null(strstr(r.body, "--max-json-depth"));
    hresp_free(&r);
    free(ok);
    free(deep);
    char *very = nested(100000); /* deep enough to hurt a recursive parser */
    assert_int_equal(req(&s, "POST", "/v1/models/m:predict", NULL, NULL, very, &r), 404);
    hresp_free(&r);
    free(very);

    chunked_body_bounded(&s);

    /* A small model for the instance limit. */
    char csv[4096], *p = csv;
    p += sprintf(p, "a,b,y\n");
    for (int i = 0; i < 60; i++) p += sprintf(p, "%d,%d,%d\n", i % 7, i % 5, (i % 7) > 3);
    hresp h;
    assert_int_equal(
        http_do(&s, "POST", "/api/v1/datasets?name=lim", "text/csv", csv, strlen(csv), NULL, &h),
        201);
    json_t *ds = hresp_json(&h);
    char ds_id[64];
    snprintf(ds_id, sizeof ds_id, "%s", json_string_value(json_object_get(ds, "id")));
    json_decref(ds);
    hresp_free(&h);
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"lim\",\"params\":{\"hidden\":[4],\"epochs\":2,\"seed\":1}}",
             ds_id);
    long st;
    json_t *run = post_json(&s, "/api/v1/runs", body, &st);
    assert_int_equal(st, 202);
    json_t *done = wait_run(&s, json_string_value(json_object_get(run, "id")), 60);
    json_decref(run);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);
    assert_int_equal(req(&s, "POST", "/v1/models/lim:predict", NULL, NULL,
                         "{\"instances\":[[1,2],[3,4],[5,6]]}", &r),
                     200);
    hresp_free(&r);
    assert_int_equal(req(&s, "POST", "/v1/models/lim:predict", NULL, NULL,
                         "{\"instances\":[[1,2],[3,4],[5,6],[7,8]]}", &r),
                     413);
    assert_non_null(strstr(r.body, "--max-instances"));
    hresp_free(&r);

    /* Rate limit: 5/s per client on inference; reads are not limited. */
    sleep(1);
    int limited = 0, first_limited = -1;
    for (int i = 0; i < 20; i++) {
        long s2 =
            req(&s, "POST", "/v1/models/lim:predict", NULL, NULL, "{\"instances\":[[1,2]]}", &r);
        if (s2 == 429) {
            limited++;
            if (first_limited < 0) first_limited = i;
            assert_true(atoi(hresp_header(&r, "Retry-After")) >= 1);
            assert_non_null(strstr(r.body, "rate limit"));
        } else {
            assert_int_equal(s2, 200);
        }
        hresp_free(&r);
    }
    assert_true(first_limited >= 5); /* the bucket holds 5 */
    assert_true(limited >= 10);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(req(&s, "GET", "/v1/models/lim", NULL, NULL, NULL, &r), 200);
        hresp_free(&r);
    }

    /* Queue bound: one worker busy, one run waiting, the next is refused with Retry-After. */
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"long\",\"params\":{\"hidden\":[4],\"epochs\":100000,\"seed\":1}}",
             ds_id);
    char ids[6][64];
    int n_ok = 0, got429 = 0;
    for (int i = 0; i < 6 && !got429; i++) {
        long s2 = req(&s, "POST", "/api/v1/runs", NULL, NULL, body, &r);
        if (s2 == 202) {
            json_t *j = json_loads(r.body, 0, NULL);
            snprintf(ids[n_ok++], sizeof ids[0], "%s", json_string_value(json_object_get(j, "id")));
            json_decref(j);
            if (n_ok == 1) usleep(300000); /* let the worker take the first */
        } else {
            assert_int_equal(s2, 429);
            assert_true(atoi(hresp_header(&r, "Retry-After")) >= 1);
            assert_non_null(strstr(r.body, "--max-queued-runs"));
            got429 = 1;
        }
        hresp_free(&r);
    }
    assert_true(got429);
    assert_true(n_ok >= 2 && n_ok <= 3);
    for (int i = 0; i < n_ok; i++) {
        char path[512];
        snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", ids[i]);
        json_decref(post_json(&s, path, "{}", &st));
    }
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    srv_cleanup(&s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(walk_route_table),   cmocka_unit_test(public_predict),
        cmocka_unit_test(access_token_query), cmocka_unit_test(cors),
        cmocka_unit_test(listening_rule),     cmocka_unit_test(limits),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
