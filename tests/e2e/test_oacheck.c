/* test_oacheck.c — the response checker of the e2e harness (tests/e2e/oacheck.h) fails on
 * answers that drift from api/openapi.json: a wrong type, a missing required property, an
 * undocumented status or media type, a body where none is documented; and passes the daemon's
 * real answers. Without this, a checker that accepted everything would pass every suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "oacheck.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static srv S;

static int bad(const char *method, const char *path, long status, const char *ct, const char *body)
{
    char why[1024];
    int rc = oa_validate(S.port, method, path, status, ct, body, body ? strlen(body) : 0, why,
                         sizeof why);
    if (rc < 0) fprintf(stderr, "rejected as expected: %s\n", why);
    return rc < 0;
}

static void rejects_drift(void **state)
{
    (void)state;
    /* the real answers pass (http_do checks them too) */
    hresp r;
    assert_int_equal(http_do(&S, "GET", "/api/v1/datasets", NULL, NULL, 0, NULL, &r), 200);
    char why[1024];
    assert_int_equal(oa_validate(S.port, "GET", "/api/v1/datasets", r.status, r.content_type,
                                 r.body, r.len, why, sizeof why),
                     0);
    hresp_free(&r);
    /* a wrong type, a missing required property */
    assert_true(
        bad("GET", "/api/v1/datasets", 200, "application/json", "{\"items\": 3, \"total\": 0}"));
    assert_true(bad("GET", "/api/v1/datasets", 200, "application/json", "{\"total\": 0}"));
    /* an undocumented status and an undocumented media type */
    assert_true(bad("GET", "/api/v1/datasets", 418, "application/json", "{}"));
    assert_true(bad("GET", "/api/v1/datasets", 200, "text/plain", "items"));
    /* a value outside an enum, in a nested, $ref'd schema */
    assert_true(bad("GET", "/api/v1/runs/run_1", 200, "application/json",
                    "{\"id\":\"run_1\",\"status\":\"sleeping\"}"));
    /* not JSON at all */
    assert_true(bad("GET", "/api/v1/datasets", 200, "application/json", "{"));
    /* a percent-encoded verb is matched as the router decodes it */
    assert_true(bad("POST", "/api/v1/runs%3Avalidate", 200, "application/json", "[]"));
}

static int setup(void **state)
{
    (void)state;
    return srv_start(&S, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rejects_drift),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
