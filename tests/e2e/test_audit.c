/* test_audit.c — every write is in the audit log (README, Class mode, Audit), through the real
 * daemon: with an admin (flag key), two students (alice, bob) and a staff member (cat), each
 * write — dataset create, patch (visibility and image) and delete; run create, cancel and
 * delete; a run's model publish (by the run's owner, from the worker); model import (one
 * network, an ensemble), patch, version delete, alias set and delete; sweep create, promote
 * and delete — adds exactly one entry naming its actor, action and resource; a refused write
 * (400, 403, 404, 409) and every read add none; GET /api/v1/audit filters by actor, action
 * and resource and pages; it is for admins only (403 for a student and for staff). Every
 * answer is checked against api/openapi.json by the harness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN "admin-key-0123456789"

static const char *const admin_args[] = {"--api-key", ADMIN ":admin", NULL};

static const char CSV[] = "x,y\n0.1,0.3\n0.2,0.5\n0.3,0.7\n0.4,0.9\n0.5,1.1\n0.6,1.3\n0.7,1.5\n"
                          "0.8,1.7\n0.9,1.9\n1.0,2.1\n";

static srv S;
static char alice[64], bob[64], cat[64];

/* One request with `key` as the bearer (NULL: none); returns the parsed body (new, may be
 * NULL) and fails the test unless the status is `want`. */
static json_t *must(const char *key, long want, const char *method, const char *path,
                    const char *ctype, const char *body)
{
    char auth[160];
    if (key) snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    hresp r;
    long st = http_do(&S, method, path, body ? (ctype ? ctype : "application/json") : NULL, body,
                      body ? strlen(body) : 0, key ? auth : NULL, &r);
    if (st != want) fail_msg("%s %s: %ld, expected %ld: %s", method, path, st, want, r.body);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    return j;
}

static void make_user(const char *name, const char *role, char *key)
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\"}", name, role);
    json_t *j = must(ADMIN, 201, "POST", "/api/v1/users", NULL, body);
    snprintf(key, 64, "%s", json_string_value(json_object_get(json_object_get(j, "key"), "key")));
    json_decref(j);
}

/* GET /api/v1/audit?query as the admin (a read: it records nothing). */
static json_t *audit(const char *query)
{
    char path[320];
    snprintf(path, sizeof path, "/api/v1/audit?%s", query);
    return must(ADMIN, 200, "GET", path, NULL, NULL);
}

static long audit_total(const char *query)
{
    json_t *j = audit(query);
    long n = (long)json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    return n;
}

/* Fails unless item (an audit entry) is by actor, of action, on resource. */
static void assert_entry(json_t *item, const char *actor, const char *action, const char *resource)
{
    assert_non_null(item);
    assert_string_equal(json_string_value(json_object_get(json_object_get(item, "actor"), "name")),
                        actor);
    assert_string_equal(json_string_value(json_object_get(item, "action")), action);
    assert_string_equal(json_string_value(json_object_get(item, "resource")), resource);
    assert_true(json_is_object(json_object_get(item, "detail")));
}

/* The log grew by exactly one entry since `before` entries, and that (newest) entry is by
 * actor, of action, on resource; returns the new total. Its detail into *detail (new) when
 * detail is not NULL. */
static long one_more(long before, const char *actor, const char *action, const char *resource,
                     json_t **detail)
{
    json_t *j = audit("limit=1");
    long total = (long)json_integer_value(json_object_get(j, "total"));
    if (total != before + 1)
        fail_msg("%s %s by %s: the log has %ld entries, expected %ld", action, resource, actor,
                 total, before + 1);
    json_t *item = json_array_get(json_object_get(j, "items"), 0);
    assert_entry(item, actor, action, resource);
    if (detail) *detail = json_incref(json_object_get(item, "detail"));
    json_decref(j);
    return total;
}

/* Exactly one entry of action on resource, by actor. */
static void just_one(const char *actor, const char *action, const char *resource)
{
    char q[256];
    snprintf(q, sizeof q, "action=%s&resource=%s", action, resource);
    json_t *j = audit(q);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    assert_entry(json_array_get(json_object_get(j, "items"), 0), actor, action, resource);
    json_decref(j);
}

static void upload(const char *key, const char *name, char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    json_t *j = must(key, 201, "POST", path, "text/csv", CSV);
    snprintf(id, 24, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

static void submit(const char *key, const char *ds, const char *model, int epochs, char *id)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"model_name\":\"%s\",\"task\":\"regression\","
             "\"target\":\"y\",\"params\":{\"hidden\":[2],\"epochs\":%d,\"seed\":1}}",
             ds, model, epochs);
    json_t *j = must(key, 202, "POST", "/api/v1/runs", NULL, body);
    snprintf(id, 24, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
}

/* Polls run id (with key) until it is final; returns its status in st (32 bytes). */
static void wait_final(const char *key, const char *id, char *st)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    for (int i = 0; i < 3000; i++) {
        json_t *j = must(key, 200, "GET", path, NULL, NULL);
        snprintf(st, 32, "%s", json_string_value(json_object_get(j, "status")));
        json_decref(j);
        if (strcmp(st, "queued") != 0 && strcmp(st, "running") != 0) return;
        usleep(10000);
    }
    fail_msg("run %s did not finish", id);
}

/* Polls until the log holds `want` entries of query (a worker's entries come after the HTTP
 * answer). */
static void wait_total(const char *query, long want)
{
    for (int i = 0; i < 3000 && audit_total(query) < want; i++) usleep(10000);
    assert_int_equal(audit_total(query), want);
}

static void every_write_once(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&S, admin_args), 0);
    make_user("alice", "student", alice);
    make_user("bob", "student", bob);
    make_user("cat", "staff", cat);
    long n = audit_total("");
    assert_int_equal(n, 3); /* the three user.create */
    char res[128], path[160];
    json_t *d = NULL;

    /* datasets: create (the detail names it, never its rows), patch, delete */
    char ds[24], ds_b[24];
    upload(alice, "ds-a", ds);
    snprintf(res, sizeof res, "datasets/%s", ds);
    n = one_more(n, "alice", "dataset.create", res, &d);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "ds-a");
    assert_int_equal(json_integer_value(json_object_get(d, "rows")), 10);
    assert_null(json_object_get(d, "data"));
    json_decref(d);
    snprintf(path, sizeof path, "/api/v1/datasets/%s", ds);
    json_decref(must(alice, 200, "PATCH", path, NULL, "{\"visibility\":\"class\",\"image\":null}"));
    n = one_more(n, "alice", "dataset.update", res, NULL);
    upload(bob, "ds-b", ds_b);
    snprintf(res, sizeof res, "datasets/%s", ds_b);
    n = one_more(n, "bob", "dataset.create", res, NULL);
    snprintf(path, sizeof path, "/api/v1/datasets/%s", ds_b);
    json_decref(must(cat, 204, "DELETE", path, NULL, NULL)); /* staff may delete it */
    n = one_more(n, "cat", "dataset.delete", res, NULL);

    /* a run: created by alice; its model published by alice (the run's owner) from the worker */
    char run[24], st[32];
    submit(alice, ds, "m-a", 2, run);
    wait_final(alice, run, st);
    assert_string_equal(st, "succeeded");
    n += 2;
    wait_total("", n); /* the publish entry follows the run's final state */
    snprintf(res, sizeof res, "runs/%s", run);
    just_one("alice", "run.create", res);
    just_one("alice", "model.publish", "models/m-a");
    json_t *j = audit("action=model.publish");
    d = json_object_get(json_array_get(json_object_get(j, "items"), 0), "detail");
    assert_int_equal(json_integer_value(json_object_get(d, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "run_id")), run);
    json_decref(j);

    /* models: alias set and delete, import, ensemble, patch, version delete */
    json_decref(
        must(alice, 200, "PUT", "/api/v1/models/m-a/aliases/stable", NULL, "{\"version\":1}"));
    n = one_more(n, "alice", "alias.set", "models/m-a", &d);
    assert_string_equal(json_string_value(json_object_get(d, "alias")), "stable");
    assert_int_equal(json_integer_value(json_object_get(d, "version")), 1);
    json_decref(d);
    json_decref(must(alice, 204, "DELETE", "/api/v1/models/m-a/aliases/stable", NULL, NULL));
    n = one_more(n, "alice", "alias.delete", "models/m-a", NULL);
    json_t *doc = must(alice, 200, "GET", "/api/v1/models/m-a/versions/1/export", NULL, NULL);
    char *doc_s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_decref(must(alice, 201, "POST", "/api/v1/models/m-a/versions", NULL, doc_s));
    free(doc_s);
    n = one_more(n, "alice", "model.import", "models/m-a", &d);
    assert_int_equal(json_integer_value(json_object_get(d, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "network");
    json_decref(d);
    json_decref(must(cat, 201, "POST", "/api/v1/models/ens-c/versions", NULL,
                     "{\"ensemble\":[{\"model\":\"m-a\",\"version\":1},"
                     "{\"model\":\"m-a\",\"version\":2}]}"));
    n = one_more(n, "cat", "model.import", "models/ens-c", &d);
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "ensemble");
    json_decref(d);
    json_decref(
        must(alice, 200, "PATCH", "/api/v1/models/m-a", NULL, "{\"visibility\":\"class\"}"));
    n = one_more(n, "alice", "model.update", "models/m-a", NULL);
    json_decref(must(cat, 204, "DELETE", "/api/v1/models/ens-c/versions/1", NULL, NULL));
    n = one_more(n, "cat", "version.delete", "models/ens-c", &d);
    assert_int_equal(json_integer_value(json_object_get(d, "version")), 1);
    json_decref(d);

    /* bob's long run: cancel, then delete (a cancelled run publishes nothing) */
    char run_b[24];
    upload(bob, "ds-b2", ds_b);
    snprintf(res, sizeof res, "datasets/%s", ds_b);
    n = one_more(n, "bob", "dataset.create", res, NULL);
    submit(bob, ds_b, "m-b", 100000, run_b);
    snprintf(res, sizeof res, "runs/%s", run_b);
    n = one_more(n, "bob", "run.create", res, NULL);
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", run_b);
    json_decref(must(bob, 202, "POST", path, NULL, NULL));
    n = one_more(n, "bob", "run.cancel", res, NULL);
    wait_final(bob, run_b, st);
    assert_string_equal(st, "cancelled");
    snprintf(path, sizeof path, "/api/v1/runs/%s", run_b);
    json_decref(must(bob, 204, "DELETE", path, NULL, NULL));
    n = one_more(n, "bob", "run.delete", res, NULL);
    assert_int_equal(audit_total("action=model.publish"), 1);

    /* a sweep of 2 runs: one sweep.create (no run.create), each run's publish, promote, delete */
    char body[512], sw[24];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"model_name\":\"m-sw\",\"task\":\"regression\","
             "\"target\":\"y\",\"params\":{\"hidden\":[2],\"epochs\":1,\"seed\":1},"
             "\"grid\":{\"learning_rate\":[0.1,0.05]}}",
             ds);
    j = must(alice, 201, "POST", "/api/v1/sweeps", NULL, body);
    snprintf(sw, sizeof sw, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    snprintf(res, sizeof res, "sweeps/%s", sw);
    j = audit("action=sweep.create");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    json_t *it = json_array_get(json_object_get(j, "items"), 0);
    assert_entry(it, "alice", "sweep.create", res);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(it, "detail"), "runs")), 2);
    json_decref(j);
    wait_total("action=model.publish&resource=models/m-sw", 2);
    n += 3;
    assert_int_equal(audit_total(""), n);
    assert_int_equal(audit_total("action=run.create"), 2); /* run and run_b only */
    assert_int_equal(audit_total("actor=alice&action=model.publish"), 3);
    snprintf(path, sizeof path, "/api/v1/sweeps/%s:promote", sw);
    json_decref(must(alice, 200, "POST", path, NULL, "{\"alias\":\"best\"}"));
    n = one_more(n, "alice", "sweep.promote", res, &d);
    assert_string_equal(json_string_value(json_object_get(d, "alias")), "best");
    assert_string_equal(json_string_value(json_object_get(d, "model_name")), "m-sw");
    json_decref(d);
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", sw);
    json_decref(must(alice, 204, "DELETE", path, NULL, NULL));
    n = one_more(n, "alice", "sweep.delete", res, NULL);

    /* refused writes record nothing */
    json_decref(must(alice, 400, "POST", "/api/v1/datasets?name=bad%20name", "text/csv", CSV));
    json_decref(must(alice, 400, "POST", "/api/v1/runs", NULL, "{\"dataset_id\":7}"));
    json_decref(must(alice, 400, "PATCH", "/api/v1/models/m-a", NULL, "{\"colour\":\"red\"}"));
    json_decref(must(alice, 404, "PUT", "/api/v1/models/m-a/aliases/x", NULL, "{\"version\":99}"));
    json_decref(must(alice, 404, "DELETE", "/api/v1/models/m-a/aliases/nope", NULL, NULL));
    json_decref(must(bob, 403, "DELETE", "/api/v1/models/m-a/versions/1", NULL, NULL));
    json_decref(must(bob, 403, "POST", "/api/v1/users", NULL, "{\"name\":\"eve\"}"));
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", run);
    json_decref(must(alice, 409, "POST", path, NULL, NULL));
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", sw);
    json_decref(must(alice, 404, "DELETE", path, NULL, NULL));
    assert_int_equal(audit_total(""), n);

    /* reads record nothing, the audit log's own included */
    json_decref(must(alice, 200, "GET", "/api/v1/datasets", NULL, NULL));
    snprintf(path, sizeof path, "/api/v1/datasets/%s", ds);
    json_decref(must(bob, 200, "GET", path, NULL, NULL));
    json_decref(must(alice, 200, "GET", "/api/v1/models/m-a", NULL, NULL));
    json_decref(must(cat, 200, "GET", "/api/v1/runs", NULL, NULL));
    json_decref(
        must(alice, 200, "POST", "/v1/models/m-a:predict", NULL, "{\"instances\":[[0.5]]}"));
    json_decref(audit("limit=5"));
    assert_int_equal(audit_total(""), n);

    /* the log is for admins: 403 for a student and for staff */
    json_decref(must(alice, 403, "GET", "/api/v1/audit", NULL, NULL));
    json_decref(must(cat, 403, "GET", "/api/v1/audit", NULL, NULL));

    /* filters: each item matches, and the totals add up */
    long by[3] = {0};
    const char *who[3] = {"alice", "bob", "cat"};
    for (int w = 0; w < 3; w++) {
        char q[64];
        snprintf(q, sizeof q, "actor=%s&limit=100", who[w]);
        j = audit(q);
        by[w] = (long)json_integer_value(json_object_get(j, "total"));
        json_t *items = json_object_get(j, "items");
        assert_int_equal(json_array_size(items), by[w]);
        for (size_t i = 0; i < json_array_size(items); i++)
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_array_get(items, i), "actor"), "name")),
                                who[w]);
        json_decref(j);
    }
    assert_int_equal(by[0], 13);
    assert_int_equal(by[1], 5);
    assert_int_equal(by[2], 3);
    assert_int_equal(by[0] + by[1] + by[2] + 3 /* the admin's user.create */, n);
    j = audit("resource=models/m-a&limit=100");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 5);
    json_t *items = json_object_get(j, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(items, i), "resource")), "models/m-a");
    json_decref(j);
    assert_int_equal(audit_total("action=model.import"), 2);
    assert_int_equal(audit_total("actor=cat&action=model.import&resource=models/ens-c"), 1);
    assert_int_equal(audit_total("actor=nobody"), 0);

    /* paging: newest first, limit and offset over the same order, the total unchanged */
    json_t *all = audit("limit=100");
    json_t *all_items = json_object_get(all, "items");
    assert_int_equal(json_array_size(all_items), n);
    long prev = -1;
    for (size_t i = 0; i < json_array_size(all_items); i++) {
        long id = (long)json_integer_value(json_object_get(json_array_get(all_items, i), "id"));
        if (i) assert_true(id < prev);
        prev = id;
    }
    j = audit("limit=3&offset=2");
    assert_int_equal(json_integer_value(json_object_get(j, "total")), n);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(
            json_integer_value(json_object_get(json_array_get(items, i), "id")),
            json_integer_value(json_object_get(json_array_get(all_items, i + 2), "id")));
    json_decref(j);
    json_decref(all);
    assert_int_equal(srv_finish(&S), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_write_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
