/* oacheck.c — responses checked against the served OpenAPI document (see oacheck.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "oacheck.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define OA_MAX_DEPTH 64 /* schema nesting followed before giving up (a $ref cycle) */

static pthread_mutex_t doc_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *doc; /* the served document; loaded once */
static atomic_int violations;
static pthread_t test_thread;
static int have_test_thread;

__attribute__((constructor)) static void note_test_thread(void)
{
    test_thread = pthread_self();
    have_test_thread = 1;
}

static void report_at_exit(void)
{
    int n = atomic_load(&violations);
    if (n) {
        fprintf(stderr, "oacheck: %d response(s) did not match api/openapi.json (see above)\n", n);
        fflush(stderr);
        _exit(1);
    }
}

int oa_violations(void)
{
    return atomic_load(&violations);
}

typedef struct {
    char *p;
    size_t n;
} dbuf;

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    dbuf *b = ud;
    size_t add = sz * n;
    char *q = realloc(b->p, b->n + add + 1);
    if (!q) return 0;
    memcpy(q + b->n, p, add);
    b->p = q;
    b->n += add;
    return add;
}

/* The document, fetched from the daemon on first use. Borrowed; NULL when it cannot be had. */
static json_t *load_doc(int port)
{
    pthread_mutex_lock(&doc_mu);
    if (!doc) {
        CURL *c = curl_easy_init();
        dbuf buf = {NULL, 0};
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/openapi.json", port);
        long st = 0;
        if (c) {
            curl_easy_setopt(c, CURLOPT_URL, url);
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
            curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
            if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        }
        if (st == 200) {
            json_error_t e;
            doc = json_loadb(buf.p ? buf.p : "", buf.n, 0, &e);
            if (!doc) fprintf(stderr, "oacheck: the served document is not JSON: %s\n", e.text);
        } else {
            fprintf(stderr, "oacheck: GET %s answered %ld\n", url, st);
        }
        free(buf.p);
        if (c) curl_easy_cleanup(c);
        if (doc) atexit(report_at_exit);
    }
    pthread_mutex_unlock(&doc_mu);
    return doc;
}

/* ------------------------------------------------------------------ schema checking */

typedef struct {
    char at[256];  /* JSON pointer of the instance being checked */
    char why[768]; /* the first failure */
} ctx;

static int failf(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[384];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->why, sizeof c->why, "%s: %s", c->at[0] ? c->at : "(body)", msg);
    return -1;
}

/* "#/components/schemas/x" in doc; NULL when it does not resolve. */
static json_t *deref(const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    json_t *cur = doc;
    const char *p = ref + 2;
    while (cur && *p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char key[128];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof key; i++) {
            if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1')) {
                key[k++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                key[k++] = p[i];
            }
        }
        key[k] = '\0';
        cur = json_object_get(cur, key);
        p += n;
        if (*p == '/') p++;
    }
    return cur;
}

static int type_ok(const char *t, const json_t *v)
{
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    return 0;
}

static const char *kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int check(ctx *c, json_t *schema, json_t *v, int depth);

/* Checks v at the child pointer at/key. */
static int check_child(ctx *c, json_t *schema, json_t *v, const char *key, size_t idx, int depth)
{
    size_t n = strlen(c->at);
    if (key)
        snprintf(c->at + n, sizeof c->at - n, "/%s", key);
    else
        snprintf(c->at + n, sizeof c->at - n, "/%zu", idx);
    int rc = check(c, schema, v, depth + 1);
    if (rc == 0) c->at[n] = '\0';
    return rc;
}

static int check_number(ctx *c, json_t *schema, json_t *v)
{
    double x = json_number_value(v);
    json_t *b;
    if ((b = json_object_get(schema, "minimum")) && x < json_number_value(b))
        return failf(c, "%g is below the minimum %g", x, json_number_value(b));
    if ((b = json_object_get(schema, "maximum")) && x > json_number_value(b))
        return failf(c, "%g is above the maximum %g", x, json_number_value(b));
    if ((b = json_object_get(schema, "exclusiveMinimum")) && json_is_number(b) &&
        x <= json_number_value(b))
        return failf(c, "%g is not above %g", x, json_number_value(b));
    if ((b = json_object_get(schema, "exclusiveMaximum")) && json_is_number(b) &&
        x >= json_number_value(b))
        return failf(c, "%g is not below %g", x, json_number_value(b));
    return 0;
}

static int check_string(ctx *c, json_t *schema, json_t *v)
{
    size_t len = json_string_length(v);
    json_t *b;
    if ((b = json_object_get(schema, "minLength")) && len < (size_t)json_integer_value(b))
        return failf(c, "\"%.40s\" is shorter than %lld", json_string_value(v),
                     (long long)json_integer_value(b));
    if ((b = json_object_get(schema, "maxLength")) && len > (size_t)json_integer_value(b))
        return failf(c, "string of %zu characters, longer than %lld", len,
                     (long long)json_integer_value(b));
    const char *pat = json_string_value(json_object_get(schema, "pattern"));
    if (pat) {
        regex_t re;
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) == 0) {
            int m = regexec(&re, json_string_value(v), 0, NULL, 0);
            regfree(&re);
            if (m != 0) return failf(c, "\"%.60s\" does not match %s", json_string_value(v), pat);
        }
    }
    return 0;
}

/* The schema of the first patternProperties entry whose pattern matches key k, or NULL. */
static json_t *pattern_property(json_t *schema, const char *k)
{
    const char *pat;
    json_t *ps;
    json_object_foreach(json_object_get(schema, "patternProperties"), pat, ps)
    {
        regex_t re;
        if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0) continue;
        int m = regexec(&re, k, 0, NULL, 0);
        regfree(&re);
        if (m == 0) return ps;
    }
    return NULL;
}

static int check_object(ctx *c, json_t *schema, json_t *v, int depth)
{
    json_t *props = json_object_get(schema, "properties");
    json_t *req = json_object_get(schema, "required");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r)
    {
        if (json_is_string(r) && !json_object_get(v, json_string_value(r)))
            return failf(c, "required property '%s' is missing", json_string_value(r));
    }
    json_t *extra = json_object_get(schema, "additionalProperties");
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val)
    {
        json_t *ps = json_object_get(props, k);
        if (!ps) ps = pattern_property(schema, k);
        if (ps) {
            if (check_child(c, ps, val, k, 0, depth)) return -1;
        } else if (json_is_false(extra)) {
            return failf(c, "property '%s' is not documented", k);
        } else if (json_is_object(extra)) {
            if (check_child(c, extra, val, k, 0, depth)) return -1;
        }
    }
    return 0;
}

static int check_array(ctx *c, json_t *schema, json_t *v, int depth)
{
    size_t n = json_array_size(v);
    json_t *b;
    if ((b = json_object_get(schema, "minItems")) && n < (size_t)json_integer_value(b))
        return failf(c, "%zu items, fewer than %lld", n, (long long)json_integer_value(b));
    if ((b = json_object_get(schema, "maxItems")) && n > (size_t)json_integer_value(b))
        return failf(c, "%zu items, more than %lld", n, (long long)json_integer_value(b));
    json_t *items = json_object_get(schema, "items");
    if (json_is_object(items) || json_is_boolean(items)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (check_child(c, items, e, NULL, i, depth)) return -1;
        }
    }
    return 0;
}

/* oneOf (exactly one), anyOf (at least one), allOf (all). */
static int check_combinators(ctx *c, json_t *schema, json_t *v, int depth)
{
    json_t *all = json_object_get(schema, "allOf");
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s)
    {
        if (check(c, s, v, depth + 1)) return -1;
    }
    static const char *const kw[2] = {"oneOf", "anyOf"};
    for (int k = 0; k < 2; k++) {
        json_t *alts = json_object_get(schema, kw[k]);
        if (!json_is_array(alts)) continue;
        int matched = 0;
        ctx first = *c;
        json_array_foreach(alts, i, s)
        {
            ctx sub = *c;
            if (check(&sub, s, v, depth + 1) == 0)
                matched++;
            else if (!first.why[0] || i == 0)
                first = sub;
        }
        if (matched == 0)
            return failf(c, "matches none of %s (first alternative: %s)", kw[k], first.why);
        if (k == 0 && matched > 1) return failf(c, "matches %d of oneOf, not exactly one", matched);
    }
    return 0;
}

static int check(ctx *c, json_t *schema, json_t *v, int depth)
{
    if (depth > OA_MAX_DEPTH) return failf(c, "schema nesting deeper than %d", OA_MAX_DEPTH);
    if (json_is_true(schema) || !schema) return 0;
    if (json_is_false(schema)) return failf(c, "no value is allowed here");
    const char *ref = json_string_value(json_object_get(schema, "$ref"));
    if (ref) {
        json_t *target = deref(ref);
        if (!target) return failf(c, "$ref %s does not resolve", ref);
        if (check(c, target, v, depth + 1)) return -1;
    }
    json_t *t = json_object_get(schema, "type");
    if (json_is_string(t) && !type_ok(json_string_value(t), v))
        return failf(c, "%s where the document says %s", kind(v), json_string_value(t));
    if (json_is_array(t)) {
        int ok = 0;
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) ok |= json_is_string(e) && type_ok(json_string_value(e), v);
        if (!ok) return failf(c, "%s is none of the documented types", kind(v));
    }
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        int ok = 0;
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e) ok |= json_equal(e, v);
        if (!ok) {
            char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            failf(c, "%.80s is not one of the documented values", d ? d : "?");
            free(d);
            return -1;
        }
    }
    json_t *cn = json_object_get(schema, "const");
    if (cn && !json_equal(cn, v)) return failf(c, "not the documented constant");
    if (json_is_number(v) && check_number(c, schema, v)) return -1;
    if (json_is_string(v) && check_string(c, schema, v)) return -1;
    if (json_is_object(v) && check_object(c, schema, v, depth)) return -1;
    if (json_is_array(v) && check_array(c, schema, v, depth)) return -1;
    return check_combinators(c, schema, v, depth);
}

/* ------------------------------------------------------------------ operations */

/* 1 when the request path (no query) matches the template, where {x} is one or more characters
 * other than '/' and ':'. Literal characters of the template are counted into *lit. */
static int path_match(const char *tpl, const char *p, const char *end, int *lit)
{
    while (*tpl) {
        if (*tpl == '{') {
            const char *close = strchr(tpl, '}');
            if (!close) return 0;
            /* try every length, shortest first, for "{name}:predict" */
            for (const char *q = p + 1; q <= end; q++) {
                if (q[-1] == '/' || q[-1] == ':') break; /* names never hold ':' (API.md) */
                if (path_match(close + 1, q, end, lit)) return 1;
            }
            return 0;
        }
        if (p == end || *p != *tpl) return 0;
        (*lit)++;
        tpl++;
        p++;
    }
    return p == end;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* The path item of the documented template that matches path best (most literal characters).
 * The path is percent-decoded first, as the daemon's router sees it. */
static json_t *find_path(const char *raw, const char **tpl_out)
{
    char path[1024];
    size_t n = 0;
    for (const char *p = raw; *p && *p != '?' && n + 1 < sizeof path; p++) {
        if (p[0] == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            path[n++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            path[n++] = *p;
        }
    }
    path[n] = '\0';
    const char *end = path + n;
    json_t *best = NULL;
    int best_lit = -1;
    const char *k;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), k, item)
    {
        int lit = 0;
        if (path_match(k, path, end, &lit) && lit > best_lit) {
            best = item;
            best_lit = lit;
            *tpl_out = k;
        }
    }
    return best;
}

static json_t *follow(json_t *o)
{
    for (int i = 0; i < 8 && json_is_string(json_object_get(o, "$ref")); i++)
        o = deref(json_string_value(json_object_get(o, "$ref")));
    return o;
}

#define VIOLATE(...) (snprintf(why, cap, __VA_ARGS__), -1)

int oa_validate(int port, const char *method, const char *path, long status,
                const char *content_type, const char *body, size_t len, char *why, size_t cap)
{
    if (status <= 0 || !strcasecmp(method, "OPTIONS") || !strcasecmp(method, "HEAD")) return 1;
    if (!load_doc(port)) return VIOLATE("the OpenAPI document could not be loaded");
    const char *tpl = NULL;
    json_t *item = find_path(path, &tpl);
    if (!item) return 1; /* not a documented route: the router's 404 */
    char m[16];
    size_t i = 0;
    for (; method[i] && i + 1 < sizeof m; i++) m[i] = (char)(method[i] | 0x20);
    m[i] = '\0';
    json_t *op = json_object_get(item, m);
    if (!op) {
        if (status == 405) return 0;
        return VIOLATE("%s has no %s operation, yet answered %ld", tpl, method, status);
    }
    json_t *responses = json_object_get(op, "responses");
    char code[24], range[24];
    snprintf(code, sizeof code, "%ld", status);
    snprintf(range, sizeof range, "%ldXX", status / 100);
    json_t *resp = json_object_get(responses, code);
    if (!resp) resp = json_object_get(responses, range);
    if (!resp) resp = json_object_get(responses, "default");
    if (!resp) return VIOLATE("status %ld is not documented for %s %s", status, method, tpl);
    resp = follow(resp);
    json_t *content = json_object_get(resp, "content");
    if (!json_is_object(content) || json_object_size(content) == 0) {
        if (len > 0) return VIOLATE("a %zu-byte body where %s %s documents none", len, method, tpl);
        return 0;
    }
    char mt[128];
    size_t n = content_type ? strcspn(content_type, ";") : 0;
    if (n >= sizeof mt) n = sizeof mt - 1;
    memcpy(mt, content_type ? content_type : "", n);
    mt[n] = '\0';
    while (n && mt[n - 1] == ' ') mt[--n] = '\0';
    json_t *media = NULL;
    const char *k;
    json_t *val;
    json_object_foreach(content, k, val)
    {
        size_t kn = strcspn(k, ";");
        while (kn && k[kn - 1] == ' ') kn--;
        if (kn == n && strncasecmp(k, mt, n) == 0) media = val;
    }
    if (!media)
        return VIOLATE("Content-Type '%s' is not documented for %s %s",
                       content_type ? content_type : "(none)", method, tpl);
    int is_json =
        !strcasecmp(mt, "application/json") || (n > 5 && !strcasecmp(mt + n - 5, "+json"));
    json_t *schema = json_object_get(media, "schema");
    if (!is_json || !schema) return 0;
    json_error_t e;
    json_t *v = json_loadb(body ? body : "", len, JSON_DECODE_ANY, &e);
    if (!v) return VIOLATE("the body is not JSON: %s", e.text);
    ctx c;
    memset(&c, 0, sizeof c);
    int rc = check(&c, schema, v, 0);
    json_decref(v);
    if (rc) return VIOLATE("%s (schema of %s %s %ld)", c.why, method, tpl, status);
    return 0;
}

void oa_check(int port, const char *method, const char *path, long status, const char *content_type,
              const char *body, size_t len)
{
    char why[1024];
    if (oa_validate(port, method, path, status, content_type, body, len, why, sizeof why) >= 0)
        return;
    fprintf(stderr, "oacheck: %s %s -> %ld: %s\n", method, path, status, why);
    if (have_test_thread && pthread_equal(pthread_self(), test_thread))
        fail_msg("the response does not match api/openapi.json: %s %s -> %ld: %s", method, path,
                 status, why);
    atomic_fetch_add(&violations, 1); /* another thread: reported at exit */
}
