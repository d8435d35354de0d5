/* test_openapi.c — api/openapi.json cannot drift from the route table: the document parses and
 * declares OpenAPI 3.1.x; its (method, path) pairs are exactly those of route_table[] (each
 * missing or extra pair is reported); every operation has a unique operationId, a 2xx response,
 * an x-mlpd-scope equal to the route's scope, path parameters that match the pattern's
 * {params}, a Location header on 201/202, and error bodies in its family's style (Problem for
 * /api/v1, TfsError for /v1); every local $ref resolves. The checker itself is tested on a
 * document built from the route table and then tampered with.
 *
 * The document is read from $MLPD_SRC/api/openapi.json when MLPD_SRC (the repository root) is
 * set, else from api/openapi.json (make test runs from the root), else ../../api/openapi.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "routes.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

/* Group setup: *state = the parsed document (new). */
static int load_doc(void **state)
{
    char path[4096];
    const char *src = getenv("MLPD_SRC");
    const char *tries[2] = {"api/openapi.json", "../../api/openapi.json"};
    if (src && *src) { /* an explicit root is the only place looked at */
        snprintf(path, sizeof path, "%s/api/openapi.json", src);
        tries[0] = path;
        tries[1] = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (!tries[i]) continue;
        FILE *f = fopen(tries[i], "r");
        if (!f) continue;
        fclose(f);
        json_error_t je;
        *state = json_load_file(tries[i], JSON_REJECT_DUPLICATES, &je);
        if (!*state) {
            fprintf(stderr, "%s: not valid JSON: %s (line %d, column %d)\n", tries[i], je.text,
                    je.line, je.column);
            return -1;
        }
        return 0;
    }
    fprintf(stderr, "%s not found: run from the repository root or set MLPD_SRC\n",
            src && *src ? path : "api/openapi.json");
    return -1;
}

static int free_doc(void **state)
{
    json_decref(*state);
    return 0;
}

static int is_http_method(const char *k)
{
    for (size_t i = 0; i < sizeof http_methods / sizeof http_methods[0]; i++)
        if (strcmp(k, http_methods[i]) == 0) return 1;
    return 0;
}

static void lower(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

static const char *scope_name(route_scope s)
{
    switch (s) {
    case SCOPE_NONE:
        return "none";
    case SCOPE_PREDICT:
        return "predict";
    case SCOPE_TRAIN:
        return "train";
    case SCOPE_ADMIN:
        return "admin";
    }
    return "?";
}

/* The node a local "$ref" (a JSON pointer "#/a/b~1c") names, or NULL. */
static json_t *pointer(json_t *doc, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    json_t *cur = doc;
    const char *p = ref + 2;
    while (cur && *p) {
        char tok[256];
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char c = *p;
            if (c == '~' && (p[1] == '0' || p[1] == '1')) c = *++p == '0' ? '~' : '/';
            if (n + 1 < sizeof tok) tok[n++] = c;
        }
        tok[n] = '\0';
        if (*p == '/') p++;
        if (json_is_object(cur))
            cur = json_object_get(cur, tok);
        else if (json_is_array(cur))
            cur = json_array_get(cur, strtoul(tok, NULL, 10));
        else
            cur = NULL;
    }
    return cur;
}

/* Follows $ref chains (at most 8); NULL when one does not resolve. */
static json_t *deref(json_t *doc, json_t *node)
{
    for (int i = 0; node && i < 8; i++) {
        json_t *r = json_object_get(node, "$ref");
        if (!json_is_string(r)) return node;
        node = pointer(doc, json_string_value(r));
    }
    return node;
}

/* Counts (and reports) local $refs anywhere under node that resolve to nothing. */
static int bad_refs(json_t *doc, json_t *node)
{
    int bad = 0;
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(v)) {
                if (!pointer(doc, json_string_value(v))) {
                    fprintf(stderr, "unresolved $ref %s\n", json_string_value(v));
                    bad++;
                }
            } else {
                bad += bad_refs(doc, v);
            }
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) bad += bad_refs(doc, v);
    }
    return bad;
}

static const route *find_route(const route *tab, size_t n, const char *method_lc, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        char m[16];
        lower(tab[i].method, m, sizeof m);
        if (strcmp(m, method_lc) == 0 && strcmp(tab[i].pattern, path) == 0) return &tab[i];
    }
    return NULL;
}

/* Compares the document's (method, path) pairs with the table's, reporting each missing or
 * extra pair when verbose. Returns the number of mismatches. */
static int compare_routes(json_t *doc, const route *tab, size_t n, int verbose)
{
    int bad = 0;
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < n; i++) {
        char m[16];
        lower(tab[i].method, m, sizeof m);
        json_t *item = json_object_get(paths, tab[i].pattern);
        if (!json_is_object(json_object_get(item, m))) {
            if (verbose)
                fprintf(stderr, "missing from api/openapi.json: %s %s (%s)\n", tab[i].method,
                        tab[i].pattern, tab[i].name);
            bad++;
        }
    }
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        const char *k;
        json_t *opn;
        json_object_foreach(item, k, opn)
        {
            if (!is_http_method(k)) continue;
            if (!find_route(tab, n, k, path)) {
                if (verbose)
                    fprintf(stderr, "in api/openapi.json but not in api/routes.def: %s %s\n", k,
                            path);
                bad++;
            }
        }
    }
    return bad;
}

static void document_declares_openapi_31(void **state)
{
    json_t *doc = *state;
    const char *v = json_string_value(json_object_get(doc, "openapi"));
    assert_non_null(v);
    assert_true(strncmp(v, "3.1.", 4) == 0 && isdigit((unsigned char)v[4]));
    assert_non_null(json_string_value(json_object_get(json_object_get(doc, "info"), "title")));
    assert_non_null(json_string_value(json_object_get(json_object_get(doc, "info"), "version")));
    assert_true(json_is_object(json_object_get(doc, "paths")));
    assert_int_equal(bad_refs(doc, doc), 0);
}

static void route_table_has_no_duplicates(void **state)
{
    (void)state;
    assert_true(route_count > 0);
    for (size_t i = 0; i < route_count; i++)
        for (size_t k = i + 1; k < route_count; k++)
            if (strcmp(route_table[i].method, route_table[k].method) == 0 &&
                strcmp(route_table[i].pattern, route_table[k].pattern) == 0)
                fail_msg("route %s %s listed twice", route_table[i].method, route_table[i].pattern);
}

static void paths_equal_route_table(void **state)
{
    json_t *doc = *state;
    int bad = compare_routes(doc, route_table, route_count, 1);
    if (bad)
        fail_msg("%d (method, path) pairs differ between api/routes.def and api/openapi.json "
                 "(listed above)",
                 bad);
}

/* The checker must see a removed operation, an added path and an added method: it runs on a
 * document built from the route table itself, so it does not depend on api/openapi.json. */
static void checker_reports_each_difference(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:s, s:{}}", "openapi", "3.1.0", "paths");
    assert_non_null(doc);
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < route_count; i++) {
        char m[16];
        lower(route_table[i].method, m, sizeof m);
        json_t *item = json_object_get(paths, route_table[i].pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, route_table[i].pattern, item);
        }
        json_object_set_new(item, m, json_pack("{s:s}", "operationId", route_table[i].name));
    }
    json_object_set_new(json_object_get(paths, route_table[0].pattern), "summary",
                        json_string("not an operation"));
    assert_int_equal(compare_routes(doc, route_table, route_count, 0), 0);
    char m[16];
    lower(route_table[0].method, m, sizeof m);
    assert_int_equal(json_object_del(json_object_get(paths, route_table[0].pattern), m), 0);
    assert_int_equal(compare_routes(doc, route_table, route_count, 0), 1);
    json_object_set_new(paths, "/api/v1/not-a-route",
                        json_pack("{s:{s:s}}", "get", "operationId", "nothing"));
    assert_int_equal(compare_routes(doc, route_table, route_count, 0), 2);
    json_object_set_new(json_object_get(paths, route_table[route_count - 1].pattern), "patch",
                        json_pack("{s:s}", "operationId", "patched"));
    assert_int_equal(compare_routes(doc, route_table, route_count, 0), 3);
    json_decref(doc);
}

/* Names of the {params} of a pattern ("{name}:predict" counts as {name}). */
static int pattern_params(const char *pat, char names[][64], int max)
{
    int n = 0;
    for (const char *p = strchr(pat, '{'); p && n < max; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        assert_non_null(e);
        snprintf(names[n], 64, "%.*s", (int)(e - p - 1), p + 1);
        n++;
    }
    return n;
}

/* Checks one operation; returns the number of problems (each reported). */
static int check_operation(json_t *doc, const char *path, json_t *item, const char *method,
                           json_t *opn, const route *rt)
{
    int bad = 0;
#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "%s %s: ", method, path);                                                  \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        bad++;                                                                                     \
    } while (0)

    /* scope */
    const char *scope = json_string_value(json_object_get(opn, "x-mlpd-scope"));
    if (!scope || strcmp(scope, scope_name(rt->scope)) != 0)
        PROBLEM("x-mlpd-scope is %s, the route table says %s", scope ? scope : "(none)",
                scope_name(rt->scope));

    /* path parameters: declared exactly once each, required, and all in the pattern */
    char names[ROUTE_MAX_PARAMS + 2][64];
    int np = pattern_params(path, names, ROUTE_MAX_PARAMS + 2);
    int seen[ROUTE_MAX_PARAMS + 2] = {0};
    json_t *lists[2] = {json_object_get(item, "parameters"), json_object_get(opn, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *pv;
        json_array_foreach(lists[l], i, pv)
        {
            json_t *p = deref(doc, pv);
            const char *in = json_string_value(json_object_get(p, "in"));
            const char *name = json_string_value(json_object_get(p, "name"));
            if (!in || !name) {
                PROBLEM("parameter %zu has no name or in", i);
                continue;
            }
            if (strcmp(in, "path") != 0) continue;
            int k = 0;
            while (k < np && strcmp(names[k], name) != 0) k++;
            if (k == np)
                PROBLEM("path parameter {%s} is not in the path", name);
            else
                seen[k]++;
            if (!json_is_true(json_object_get(p, "required")))
                PROBLEM("path parameter {%s} must be required", name);
        }
    }
    for (int k = 0; k < np; k++)
        if (seen[k] != 1) PROBLEM("{%s} is declared %d times (want 1)", names[k], seen[k]);

    /* responses */
    json_t *resps = json_object_get(opn, "responses");
    int n2xx = 0;
    const char *code;
    json_t *rv;
    json_object_foreach(resps, code, rv)
    {
        json_t *r = deref(doc, rv);
        if (!r) {
            PROBLEM("response %s does not resolve", code);
            continue;
        }
        if (code[0] == '2') n2xx++;
        if (strcmp(code, "201") == 0 || strcmp(code, "202") == 0) {
            if (!json_object_get(json_object_get(r, "headers"), "Location"))
                PROBLEM("response %s lacks a Location header", code);
        }
        if ((code[0] == '4' || code[0] == '5') && rt->family != FAM_PLAIN) {
            const char *ctype =
                rt->family == FAM_MGMT ? "application/problem+json" : "application/json";
            const char *want = rt->family == FAM_MGMT ? "#/components/schemas/Problem"
                                                      : "#/components/schemas/TfsError";
            json_t *media = json_object_get(json_object_get(r, "content"), ctype);
            const char *got =
                json_string_value(json_object_get(json_object_get(media, "schema"), "$ref"));
            if (!got || strcmp(got, want) != 0)
                PROBLEM("response %s must be %s with schema %s", code, ctype, want);
        }
    }
    if (n2xx == 0) PROBLEM("no 2xx response");
#undef PROBLEM
    return bad;
}

static void operations_are_well_formed(void **state)
{
    json_t *doc = *state;
    json_t *ids = json_object();
    int bad = 0, ops = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        const char *m;
        json_t *opn;
        json_object_foreach(item, m, opn)
        {
            if (!is_http_method(m)) continue;
            ops++;
            const char *id = json_string_value(json_object_get(opn, "operationId"));
            if (!id || !*id) {
                fprintf(stderr, "%s %s: no operationId\n", m, path);
                bad++;
            } else if (json_object_get(ids, id)) {
                fprintf(stderr, "%s %s: operationId %s is also %s\n", m, path, id,
                        json_string_value(json_object_get(ids, id)));
                bad++;
            } else {
                json_object_set_new(ids, id, json_string(path));
            }
            const route *rt = find_route(route_table, route_count, m, path);
            if (rt) bad += check_operation(doc, path, item, m, opn, rt);
        }
    }
    json_decref(ids);
    if (bad) fail_msg("%d problems in api/openapi.json operations (listed above)", bad);
    assert_int_equal(ops, (int)route_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(document_declares_openapi_31),
        cmocka_unit_test(route_table_has_no_duplicates),
        cmocka_unit_test(paths_equal_route_table),
        cmocka_unit_test(checker_reports_each_difference),
        cmocka_unit_test(operations_are_well_formed),
    };
    return cmocka_run_group_tests(tests, load_doc, free_doc);
}
