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
#include <unistd.h>

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

/* The status of `method path` with key. */
static long status_of(srv *s, const char *method, const char *path, const char *key,
                      const char *body)
{
    hresp r;
    long st = call(s, method, path, key, NULL, body, &r);
    hresp_free(&r);
    return st;
}

/* The first key id listed for `name` (as key asks). */
static long long key_id_at(srv *s, const char *name, const char *key, int at)
{
    char path[128];
    long st;
    snprintf(path, sizeof path, "/api/v1/users/%s/keys", name);
    json_t *j = jcall(s, "GET", path, key, NULL, &st);
    assert_int_equal(st, 200);
    json_t *k = json_array_get(json_object_get(j, "items"), (size_t)at);
    assert_non_null(k);
    assert_null(json_object_get(k, "key")); /* never the key itself */
    long long id = json_integer_value(json_object_get(k, "id"));
    json_decref(j);
    return id;
}

/* Entries of the audit log matching query (e.g. "action=key.revoke"). */
static long audit_count(srv *s, const char *query)
{
    char path[256];
    long st;
    snprintf(path, sizeof path, "/api/v1/audit?%s", query);
    json_t *j = jcall(s, "GET", path, ADMIN, NULL, &st);
    assert_int_equal(st, 200);
    long n = (long)json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return n;
}

static void keys_rules_and_audit(void **state)
{
    (void)state;
    srv s;
    char ann[64], bob[64], role[32];
    assert_int_equal(srv_start(&s, admin_args), 0);
    create_user(&s, "ann", "student", ann);
    create_user(&s, "bob", "student", bob);

    /* What a student may not do: the admin routes (403 naming the role), and anything about
     * another user (404, as if it did not exist). */
    hresp r;
    assert_int_equal(call(&s, "GET", "/api/v1/users", ann, NULL, NULL, &r), 403);
    assert_non_null(strstr(r.body, "admin role"));
    assert_non_null(strstr(r.body, "student"));
    hresp_free(&r);
    assert_int_equal(status_of(&s, "POST", "/api/v1/users", ann, "{\"name\":\"eve\"}"), 403);
    assert_int_equal(status_of(&s, "GET", "/api/v1/audit", ann, NULL), 403);
    assert_int_equal(status_of(&s, "PATCH", "/api/v1/users/ann", ann, "{\"role\":\"admin\"}"), 403);
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/bob", ann, NULL), 403);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/bob", ann, NULL), 404);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/nobody", ann, NULL), 404);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/bob/keys", ann, NULL), 404);
    assert_int_equal(status_of(&s, "POST", "/api/v1/users/bob/keys", ann, NULL), 404);
    long long bob_key = key_id_at(&s, "bob", bob, 0);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/users/bob/keys/%lld", bob_key);
    assert_int_equal(status_of(&s, "DELETE", path, ann, NULL), 404);
    me_role(&s, bob, role, sizeof role);
    assert_string_equal(role, "student"); /* still valid */
    /* What they may: their own user and keys. */
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/ann", ann, NULL), 200);

    /* A second key, listed without the key; revoking the first refuses it on its next request
     * while the second goes on working. */
    long st;
    json_t *k = jcall(&s, "POST", "/api/v1/users/ann/keys", ann, NULL, &st);
    assert_int_equal(st, 201);
    char ann2[64];
    snprintf(ann2, sizeof ann2, "%s", json_string_value(json_object_get(k, "key")));
    json_decref(k);
    json_t *list = jcall(&s, "GET", "/api/v1/users/ann/keys", ann2, NULL, &st);
    assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
    json_t *first = json_array_get(json_object_get(list, "items"), 0);
    assert_true(json_is_string(json_object_get(first, "last_used_at"))); /* ann used it */
    assert_true(json_is_null(json_object_get(first, "revoked_at")));
    json_decref(list);
    long long first_id = key_id_at(&s, "ann", ann, 0);
    snprintf(path, sizeof path, "/api/v1/users/ann/keys/%lld", first_id);
    assert_int_equal(status_of(&s, "DELETE", path, ann2, NULL), 204);
    me_role(&s, ann, role, sizeof role);
    assert_string_equal(role, "401");
    me_role(&s, ann2, role, sizeof role);
    assert_string_equal(role, "student");
    assert_int_equal(status_of(&s, "DELETE", path, ann2, NULL), 204); /* again: no change */
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/ann/keys/999", ann2, NULL), 404);
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/ann/keys/x1", ann2, NULL), 404);
    list = jcall(&s, "GET", "/api/v1/users/ann/keys", ADMIN, NULL, &st);
    first = json_array_get(json_object_get(list, "items"), 0);
    assert_true(json_is_string(json_object_get(first, "revoked_at")));
    json_decref(list);
    /* An admin revokes bob's key: refused at once. */
    snprintf(path, sizeof path, "/api/v1/users/bob/keys/%lld", bob_key);
    assert_int_equal(status_of(&s, "DELETE", path, ADMIN, NULL), 204);
    me_role(&s, bob, role, sizeof role);
    assert_string_equal(role, "401");

    /* Admin reads. */
    json_t *users = jcall(&s, "GET", "/api/v1/users?limit=2", ADMIN, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(users, "total")), 3); /* admin too */
    assert_int_equal(json_array_size(json_object_get(users, "items")), 2);
    json_decref(users);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/bob", ADMIN, NULL), 200);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users?limit=0", ADMIN, NULL), 400);

    /* The audit log has every write, filtered by actor, action and resource, newest first. */
    assert_int_equal(audit_count(&s, "action=user.create"), 2);
    assert_int_equal(audit_count(&s, "action=key.create"), 1);
    assert_int_equal(audit_count(&s, "action=key.revoke"), 3);
    assert_int_equal(audit_count(&s, "actor=ann"), 3); /* ann's key.create and 2 revokes */
    assert_int_equal(audit_count(&s, "actor=admin&action=key.revoke"), 1);
    assert_int_equal(audit_count(&s, "resource=users/bob"), 1);
    json_t *log = jcall(&s, "GET", "/api/v1/audit?limit=1", ADMIN, NULL, &st);
    json_t *e = json_array_get(json_object_get(log, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "action")), "key.revoke");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "actor"), "name")),
                        "admin");
    json_decref(log);
    assert_int_equal(srv_finish(&s), 0);
}

/* PATCH: validation naming the field, a role change seen by the user's key on its next
 * request, quotas set and reset. */
static void patch_users(void **state)
{
    (void)state;
    srv s;
    char ann[64], role[32];
    assert_int_equal(srv_start(&s, admin_args), 0);
    create_user(&s, "ann", "student", ann);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"role\":\"boss\"}", "role"},
        {"{\"display_name\":7}", "display_name"},
        {"{\"quotas\":{\"models\":-1}}", "quotas.models"},
        {"{\"quotas\":{\"models\":1.5}}", "quotas.models"},
        {"{\"quotas\":{\"gpus\":1}}", "quotas.gpus"},
        {"{\"quotas\":3}", "quotas"},
        {"{\"name\":\"x\"}", "name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long st;
        json_t *j = jcall(&s, "PATCH", "/api/v1/users/ann", ADMIN, bad[i].body, &st);
        assert_int_equal(st, 400);
        json_t *err = json_array_get(json_object_get(j, "errors"), 0);
        assert_string_equal(json_string_value(json_object_get(err, "field")), bad[i].field);
        json_decref(j);
    }
    long st;
    json_t *u = jcall(&s, "PATCH", "/api/v1/users/ann", ADMIN,
                      "{\"role\":\"staff\",\"display_name\":\"Ann A.\","
                      "\"quotas\":{\"models\":3,\"storage_bytes\":1000000}}",
                      &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(u, "role")), "staff");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(u, "quotas"), "models")),
                     3);
    json_decref(u);
    me_role(&s, ann, role, sizeof role);
    assert_string_equal(role, "staff");
    /* Promoted to admin: the same key may now list users. */
    assert_int_equal(status_of(&s, "GET", "/api/v1/users", ann, NULL), 403);
    assert_int_equal(status_of(&s, "PATCH", "/api/v1/users/ann", ADMIN, "{\"role\":\"admin\"}"),
                     200);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users", ann, NULL), 200);
    assert_int_equal(status_of(&s, "PATCH", "/api/v1/users/ann", ADMIN, "{\"role\":\"student\"}"),
                     200);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users", ann, NULL), 403);
    /* null is the server default again; fields absent stay. */
    u = jcall(&s, "PATCH", "/api/v1/users/ann", ADMIN, "{\"quotas\":{\"models\":null}}", &st);
    assert_int_equal(st, 200);
    json_t *q = json_object_get(u, "quotas");
    assert_true(json_is_null(json_object_get(q, "models")));
    assert_int_equal(json_integer_value(json_object_get(q, "storage_bytes")), 1000000);
    assert_string_equal(json_string_value(json_object_get(u, "display_name")), "Ann A.");
    json_decref(u);
    json_t *me = jcall(&s, "GET", "/api/v1/me", ann, NULL, &st);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(me, "quotas"), "storage_bytes")),
        1000000);
    json_decref(me);
    /* The bootstrap admin stays admin; unknown users are 404. */
    assert_int_equal(status_of(&s, "PATCH", "/api/v1/users/admin", ADMIN, "{\"role\":\"student\"}"),
                     409);
    assert_int_equal(status_of(&s, "PATCH", "/api/v1/users/nobody", ADMIN, "{}"), 404);
    /* Creation validates the same way. */
    assert_int_equal(status_of(&s, "POST", "/api/v1/users", ADMIN, "{\"name\":\"-x\"}"), 400);
    assert_int_equal(status_of(&s, "POST", "/api/v1/users", ADMIN, "{\"name\":\"ann\"}"), 409);
    assert_int_equal(status_of(&s, "POST", "/api/v1/users", ADMIN,
                               "{\"name\":\"zed\",\"quotas\":{\"active_runs\":-2}}"),
                     400);
    assert_int_equal(audit_count(&s, "action=user.update&resource=users/ann"), 4);
    json_t *log = jcall(&s, "GET", "/api/v1/audit?action=user.update&limit=1", ADMIN, NULL, &st);
    json_t *d = json_object_get(json_array_get(json_object_get(log, "items"), 0), "detail");
    assert_true(json_is_null(json_object_get(json_object_get(d, "quotas"), "models")));
    json_decref(log);
    assert_int_equal(srv_finish(&s), 0);
}

/* Roster import: 3 rows, one of them a name that exists (reported, left unchanged). */
static void import_roster(void **state)
{
    (void)state;
    srv s;
    char ann[64], role[32];
    assert_int_equal(srv_start(&s, admin_args), 0);
    create_user(&s, "ann", "student", ann);
    const char *csv = "name,display_name,role\r\n"
                      "cat,\"Cat, C.\",staff\r\n"
                      "ann,Ann Again,admin\r\n"
                      "dan,,\r\n";
    hresp r;
    assert_int_equal(call(&s, "POST", "/api/v1/users:import", ADMIN, "text/csv", csv, &r), 200);
    assert_non_null(strstr(r.content_type, "text/csv"));
    /* name,key,status */
    char cat[64] = "", dan[64] = "";
    int lines = 0, exists = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        if (strncmp(line, "cat,", 4) == 0) sscanf(line + 4, "%48[^,]", cat);
        if (strncmp(line, "dan,", 4) == 0) sscanf(line + 4, "%48[^,]", dan);
        if (strcmp(line, "ann,,exists") == 0) exists++;
    }
    hresp_free(&r);
    assert_int_equal(lines, 4);
    assert_int_equal(exists, 1);
    me_role(&s, cat, role, sizeof role);
    assert_string_equal(role, "staff");
    me_role(&s, dan, role, sizeof role);
    assert_string_equal(role, "student");
    me_role(&s, ann, role, sizeof role);
    assert_string_equal(role, "student"); /* unchanged */
    long st;
    json_t *u = jcall(&s, "GET", "/api/v1/users/cat", ADMIN, NULL, &st);
    assert_string_equal(json_string_value(json_object_get(u, "display_name")), "Cat, C.");
    json_decref(u);
    assert_int_equal(audit_count(&s, "action=user.create"), 3);

    /* Every row is checked before anyone is created. */
    assert_int_equal(call(&s, "POST", "/api/v1/users:import", ADMIN, "text/csv",
                          "name,role\nfay,student\ngus,boss\n", &r),
                     400);
    assert_non_null(strstr(r.body, "line 3"));
    hresp_free(&r);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/fay", ADMIN, NULL), 404);
    assert_int_equal(status_of(&s, "POST", "/api/v1/users:import", ADMIN, "{}"), 415);
    assert_int_equal(
        call(&s, "POST", "/api/v1/users:import", ADMIN, "text/csv", "nom,role\nfay,student\n", &r),
        400);
    hresp_free(&r);
    assert_int_equal(call(&s, "POST", "/api/v1/users:import", ADMIN, "text/csv", "", &r), 400);
    hresp_free(&r);
    /* At most 1000 rows. */
    size_t cap = 16 + 1001 * 16;
    char *big = malloc(cap), *p = big;
    p += sprintf(p, "name\n");
    for (int i = 0; i < 1001; i++) p += sprintf(p, "u%d\n", i);
    assert_int_equal(call(&s, "POST", "/api/v1/users:import", ADMIN, "text/csv", big, &r), 413);
    hresp_free(&r);
    free(big);
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/u0", ADMIN, NULL), 404);
    assert_int_equal(status_of(&s, "POST", "/api/v1/users:import", cat, NULL), 403);
    assert_int_equal(srv_finish(&s), 0);
}

/* A small dataset for runs: 200 rows, 2 features, 2 classes. */
static void upload(srv *s, const char *key)
{
    char *csv = malloc(200 * 40 + 32), *p = csv;
    unsigned st = 7;
    p += sprintf(p, "a,b,y\n");
    for (int i = 0; i < 200; i++) {
        double a = h_urand(&st), b = h_urand(&st);
        p += sprintf(p, "%.4f,%.4f,%d\n", a, b, a + b > 1.0);
    }
    hresp r;
    assert_int_equal(call(s, "POST", "/api/v1/datasets?name=d", key, "text/csv", csv, &r), 201);
    hresp_free(&r);
    free(csv);
}

/* Submits a run as key on ds_1; returns its id in id. */
static void submit(srv *s, const char *key, const char *model, int epochs, char id[32])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"%s\",\"params\":{\"hidden\":[512,512],\"epochs\":%d,"
             "\"batch_size\":4,\"seed\":1}}",
             model, epochs);
    long st;
    json_t *j = jcall(s, "POST", "/api/v1/runs", key, body, &st);
    assert_int_equal(st, 202);
    snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

/* The run's status, as the admin sees it ("404" when gone). */
static void run_status(srv *s, const char *id, char *out, size_t cap)
{
    char path[96];
    long st;
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    json_t *j = jcall(s, "GET", path, ADMIN, NULL, &st);
    if (st == 200)
        snprintf(out, cap, "%s", json_string_value(json_object_get(j, "status")));
    else
        snprintf(out, cap, "%ld", st);
    json_decref(j);
}

static void wait_final(srv *s, const char *id)
{
    char status[32] = "";
    for (int i = 0; i < 1200; i++) {
        run_status(s, id, status, sizeof status);
        if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0) return;
        usleep(100000);
    }
    fail_msg("run %s did not finish", id);
}

/* DELETE: the resources go to the deleting admin, or with ?purge=true are deleted (refused
 * while a run is active); user 1 and oneself cannot be deleted; the keys die with the user. */
static void delete_users(void **state)
{
    (void)state;
    srv s;
    char ann[64], bob[64], boss[64], role[32], run_a[32], run_b[32], status[32];
    assert_int_equal(srv_start(&s, admin_args), 0);
    create_user(&s, "ann", "student", ann);
    create_user(&s, "bob", "student", bob);
    create_user(&s, "boss", "admin", boss);
    upload(&s, ADMIN);
    submit(&s, ann, "ann-model", 2, run_a);
    wait_final(&s, run_a);
    /* Handed over: ann's run stays, its owner now the deleting admin (boss). */
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/ann?purge=maybe", boss, NULL), 400);
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/ann", boss, NULL), 204);
    me_role(&s, ann, role, sizeof role);
    assert_string_equal(role, "401");
    assert_int_equal(status_of(&s, "GET", "/api/v1/users/ann", ADMIN, NULL), 404);
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/ann", ADMIN, NULL), 404);
    run_status(&s, run_a, status, sizeof status);
    assert_string_equal(status, "succeeded");
    assert_int_equal(status_of(&s, "GET", "/api/v1/models/ann-model", ADMIN, NULL), 200);

    /* Purge: refused while bob's run is active; then his run and model go. */
    submit(&s, bob, "bob-model", 400, run_b);
    hresp r;
    assert_int_equal(call(&s, "DELETE", "/api/v1/users/bob?purge=true", ADMIN, NULL, NULL, &r),
                     409);
    assert_non_null(strstr(r.body, run_b));
    hresp_free(&r);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", run_b);
    assert_int_equal(status_of(&s, "POST", path, bob, NULL), 202);
    wait_final(&s, run_b);
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/bob?purge=true", ADMIN, NULL), 204);
    run_status(&s, run_b, status, sizeof status);
    assert_string_equal(status, "404");
    me_role(&s, bob, role, sizeof role);
    assert_string_equal(role, "401");
    run_status(&s, run_a, status, sizeof status); /* not bob's: stays */
    assert_string_equal(status, "succeeded");

    /* Never user 1, never oneself. */
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/admin", boss, NULL), 409);
    assert_int_equal(status_of(&s, "DELETE", "/api/v1/users/boss", boss, NULL), 409);
    assert_int_equal(audit_count(&s, "action=user.delete"), 2);
    assert_int_equal(srv_finish(&s), 0);
}

/* Users, keys and revocations survive a SIGTERM and a kill -9. */
static void survive_restart(void **state)
{
    (void)state;
    srv s;
    char ann[64], ann2[64], role[32];
    assert_int_equal(srv_start(&s, admin_args), 0);
    create_user(&s, "ann", "staff", ann);
    long st;
    json_t *k = jcall(&s, "POST", "/api/v1/users/ann/keys", ADMIN, NULL, &st);
    snprintf(ann2, sizeof ann2, "%s", json_string_value(json_object_get(k, "key")));
    json_decref(k);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/users/ann/keys/%lld", key_id_at(&s, "ann", ADMIN, 0));
    assert_int_equal(status_of(&s, "DELETE", path, ADMIN, NULL), 204);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
    assert_int_equal(srv_restart(&s, admin_args), 0);
    me_role(&s, ann, role, sizeof role);
    assert_string_equal(role, "401");
    me_role(&s, ann2, role, sizeof role);
    assert_string_equal(role, "staff");

    /* kill -9 right after the answers: a 2xx means durable. */
    char bob[64];
    create_user(&s, "bob", "student", bob);
    snprintf(path, sizeof path, "/api/v1/users/ann/keys/%lld", key_id_at(&s, "ann", ADMIN, 1));
    assert_int_equal(status_of(&s, "DELETE", path, ADMIN, NULL), 204);
    srv_stop(&s, SIGKILL);
    assert_int_equal(srv_restart(&s, admin_args), 0);
    me_role(&s, ann2, role, sizeof role);
    assert_string_equal(role, "401");
    me_role(&s, bob, role, sizeof role);
    assert_string_equal(role, "student");
    assert_int_equal(audit_count(&s, "action=key.revoke"), 2);
    assert_int_equal(srv_finish(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(student_key_resolves), cmocka_unit_test(keys_rules_and_audit),
        cmocka_unit_test(patch_users),          cmocka_unit_test(import_roster),
        cmocka_unit_test(delete_users),         cmocka_unit_test(survive_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
