/* test_router.c — router_match over a small table handed in (server/router.h): literal and
 * parameter segments, ":verb" suffixes literal and captured, first match wins, 404 and 405 with
 * the Allow list, one trailing slash, over-long and ':'-holding parameters, and the family of an
 * unmatched path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "router.h"

static void h_list(struct http_req *req, struct http_resp *resp)
{
    (void)req;
    (void)resp;
}
#define h_get     h_list
#define h_create  h_list
#define h_delete  h_list
#define h_predict h_list
#define h_verb    h_list

/* Literal verbs of {name} before the captured {verb}: the first match wins. */
static const route table[] = {
    {"GET", "/api/v1/runs", h_list, SCOPE_PREDICT, FAM_MGMT, 0, NULL, "list", RULE_OPEN},
    {"POST", "/api/v1/runs", h_create, SCOPE_TRAIN, FAM_MGMT, 0, NULL, "create", RULE_OPEN},
    {"GET", "/api/v1/runs/{id}", h_get, SCOPE_PREDICT, FAM_MGMT, 0, NULL, "get", RULE_OPEN},
    {"DELETE", "/api/v1/runs/{id}", h_delete, SCOPE_TRAIN, FAM_MGMT, 0, NULL, "delete", RULE_OPEN},
    {"POST", "/api/v1/runs:validate", h_create, SCOPE_TRAIN, FAM_MGMT, 0, NULL, "validate",
     RULE_OPEN},
    {"POST", "/v1/models/{name}:predict", h_predict, SCOPE_PREDICT, FAM_TFS, 0, NULL, "predict",
     RULE_OPEN},
    {"POST", "/v1/models/{name}/versions/{version}:{verb}", h_verb, SCOPE_PREDICT, FAM_TFS, 0, NULL,
     "verb", RULE_OPEN},
    {"POST", "/v1/models/{name}:{verb}", h_verb, SCOPE_PREDICT, FAM_TFS, 0, NULL, "anyverb",
     RULE_OPEN},
};
#define N (sizeof table / sizeof table[0])

static int match(const char *method, const char *path, route_match *m, char *allow, size_t n)
{
    memset(m, 0, sizeof *m);
    return router_match(table, N, method, path, m, allow, n);
}

static void literals_and_params(void **state)
{
    (void)state;
    route_match m;
    char allow[64];
    assert_int_equal(match("GET", "/api/v1/runs", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[0]);
    assert_int_equal(m.n_params, 0);
    assert_int_equal(match("POST", "/api/v1/runs", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[1]);
    assert_int_equal(match("DELETE", "/api/v1/runs/42", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[3]);
    assert_string_equal(route_param(&m, "id"), "42");
    assert_null(route_param(&m, "i"));   /* a prefix of a name is not the name */
    assert_null(route_param(&m, "ids")); /* nor is a longer one */
    assert_int_equal(match("GET", "/api/v1/runs/42/extra", &m, allow, sizeof allow), 404);
    assert_int_equal(match("GET", "/api/v1", &m, allow, sizeof allow), 404);
    assert_int_equal(match("GET", "/api/v1/runs/", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[0]); /* "/runs/" is "/runs", not "/runs/{id}" with id "" */
}

static void verbs(void **state)
{
    (void)state;
    route_match m;
    char allow[64];
    assert_int_equal(match("POST", "/api/v1/runs:validate", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[4]);
    assert_int_equal(match("POST", "/v1/models/iris:predict", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[5]); /* the literal verb first */
    assert_string_equal(route_param(&m, "name"), "iris");
    assert_int_equal(match("POST", "/v1/models/iris:classify", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[7]);
    assert_string_equal(route_param(&m, "name"), "iris");
    assert_string_equal(route_param(&m, "verb"), "classify");
    assert_int_equal(match("POST", "/v1/models/iris/versions/3:regress", &m, allow, sizeof allow),
                     0);
    assert_ptr_equal(m.rt, &table[6]);
    assert_int_equal(m.n_params, 3);
    assert_string_equal(route_param(&m, "name"), "iris");
    assert_string_equal(route_param(&m, "version"), "3");
    assert_string_equal(route_param(&m, "verb"), "regress");
    /* A parameter never holds ':', and a verb is never empty. */
    assert_int_equal(match("POST", "/v1/models/a:b:predict", &m, allow, sizeof allow), 404);
    assert_int_equal(match("POST", "/v1/models/iris:", &m, allow, sizeof allow), 404);
    assert_int_equal(match("POST", "/v1/models/:predict", &m, allow, sizeof allow), 404);
    assert_int_equal(match("GET", "/api/v1/runs/a:b", &m, allow, sizeof allow), 404);
}

static void method_not_allowed(void **state)
{
    (void)state;
    route_match m;
    char allow[64];
    assert_int_equal(match("PUT", "/api/v1/runs/7", &m, allow, sizeof allow), 405);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(match("PATCH", "/api/v1/runs", &m, allow, sizeof allow), 405);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(match("GET", "/v1/models/iris:predict", &m, allow, sizeof allow), 405);
    assert_string_equal(allow, "POST"); /* named once though two patterns match */
    /* A short buffer keeps what fits, NUL-terminated; none at all is fine too. */
    char small[6];
    memset(small, 'x', sizeof small);
    assert_int_equal(match("PUT", "/api/v1/runs/7", &m, small, sizeof small), 405);
    assert_non_null(memchr(small, '\0', sizeof small));
    assert_int_equal(match("PUT", "/api/v1/runs/7", &m, NULL, 0), 405);
    assert_int_equal(match("GET", "/nowhere", &m, allow, sizeof allow), 404);
    assert_string_equal(allow, "");
    /* An empty table matches nothing. */
    assert_int_equal(router_match(NULL, 0, "GET", "/", &m, allow, sizeof allow), 404);
}

static void trailing_slash_and_lengths(void **state)
{
    (void)state;
    route_match m;
    char allow[64];
    assert_int_equal(match("GET", "/api/v1/runs/9/", &m, allow, sizeof allow), 0);
    assert_ptr_equal(m.rt, &table[2]);
    assert_string_equal(route_param(&m, "id"), "9");
    assert_int_equal(match("GET", "/api/v1/runs/9//", &m, allow, sizeof allow), 404);
    char path[64 + ROUTE_PARAM_MAX + 8];
    char id[ROUTE_PARAM_MAX + 2];
    memset(id, 'a', ROUTE_PARAM_MAX - 1); /* the longest that fits */
    id[ROUTE_PARAM_MAX - 1] = '\0';
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    assert_int_equal(match("GET", path, &m, allow, sizeof allow), 0);
    assert_int_equal(strlen(route_param(&m, "id")), ROUTE_PARAM_MAX - 1);
    memset(id, 'a', ROUTE_PARAM_MAX); /* one more: no route has such a parameter */
    id[ROUTE_PARAM_MAX] = '\0';
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    assert_int_equal(match("GET", path, &m, allow, sizeof allow), 404);
    snprintf(path, sizeof path, "/v1/models/%s:predict", id);
    assert_int_equal(match("POST", path, &m, allow, sizeof allow), 404);
}

static void families(void **state)
{
    (void)state;
    assert_int_equal(router_family_of("/api/v1/nothing"), FAM_MGMT);
    assert_int_equal(router_family_of("/v1/nothing"), FAM_TFS);
    assert_int_equal(router_family_of("/v1"), FAM_TFS);
    assert_int_equal(router_family_of("/v2/x"), FAM_V2);
    assert_int_equal(router_family_of("/v2"), FAM_V2);
    assert_int_equal(router_family_of("/v10/x"), FAM_PLAIN);
    assert_int_equal(router_family_of("/"), FAM_PLAIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literals_and_params),
        cmocka_unit_test(verbs),
        cmocka_unit_test(method_not_allowed),
        cmocka_unit_test(trailing_slash_and_lengths),
        cmocka_unit_test(families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
