/* test_access.c — class mode's ownership and visibility through the real daemon, with an admin
 * (a flag key), a staff member and two students (alice, bob) created over POST /api/v1/users:
 * - ONE table (route x role -> allowed / 403 / 404) walks every route of api/routes.def twice:
 *   on alice's private resources and on her class ones (datasets with rows hidden). A route with
 *   no row in the table, or a row with no route, fails the test;
 * - a student cannot see another student's private model (404 on /api/v1, /v1 and /v2) and
 *   lists only what it may see; ?owner= keeps one user's items;
 * - a class dataset is trainable by another student, but its rows are 403 until rows_visible;
 * - PATCH visibility opens and closes a model; a model name owned by someone else is 403 naming
 *   the owner;
 * - ownership and visibility survive kill -9;
 * - with --public-predict an anonymous caller sees public models (and their runs) only, and
 *   never /metrics;
 * - a sweep is its owner's: another student gets 404 for it (and for a sweep over a private
 *   dataset of someone else), staff see it, ?owner= lists one user's; a student's sweep may
 *   not ask for priority high; :promote needs the model's change rule; the owner's active_runs
 *   quota refuses a too-big sweep whole. */
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
#include <unistd.h>

#define K_ADMIN "adm-0123456789abcdef"

enum { R_ADMIN, R_STAFF, R_ALICE, R_BOB, R_COUNT, R_ANON = -1 };
static const char *const role_label[R_COUNT] = {"admin", "tara", "alice", "bob"}; /* user names */

static srv S;
static char keys[R_COUNT][160];

/* One request as `who` (R_ANON: no key). ctype NULL means application/json when body. */
static long req(int who, const char *method, const char *path, const char *ctype, const char *body,
                hresp *r)
{
    return http_keyed(&S, method, path, who >= 0 ? keys[who] : NULL, NULL, ctype, body, r);
}

/* A request expected to answer `want`; returns its parsed JSON body (new, may be NULL). */
static json_t *must(int who, long want, const char *method, const char *path, const char *ctype,
                    const char *body)
{
    hresp r;
    long st = req(who, method, path, ctype, body, &r);
    if (st != want)
        fail_msg("%s %s as %s: %ld, expected %ld: %s", method, path,
                 who >= 0 ? role_label[who] : "anonymous", st, want, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    hresp_free(&r);
    return j;
}

/* ---- users (POST /api/v1/users answers the new user's key once) ---- */

static void make_user(int role, const char *name, const char *kind)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\"}", name, kind);
    json_t *j = must(R_ADMIN, 201, "POST", "/api/v1/users", NULL, body);
    const char *k = json_string_value(json_object_get(json_object_get(j, "key"), "key"));
    assert_non_null(k);
    snprintf(keys[role], sizeof keys[role], "%s", k);
    json_decref(j);
}

/* ---- fixtures: what alice owns in one pass of the matrix ---- */

static const char CSV[] = "x,y\n0.1,0.3\n0.2,0.5\n0.3,0.7\n0.4,0.9\n0.5,1.1\n0.6,1.3\n0.7,1.5\n"
                          "0.8,1.7\n0.9,1.9\n1.0,2.1\n";

typedef struct {
    const char *vis; /* "private" or "class" */
    char ds[24];     /* alice's dataset (rows hidden) */
    char model[64];  /* alice's model, trained from ds */
    char run[24];    /* the run that published it */
    char sweep[24];  /* alice's sweep over ds, publishing to model */
    char *doc;       /* the model's export document, for imports */
    int fresh;       /* counter for fresh names */
} fixture;

static void upload(int who, const char *name, const char *vis, char *id, size_t cap)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s&visibility=%s", name, vis);
    json_t *j = must(who, 201, "POST", path, "text/csv", CSV);
    snprintf(id, cap, "%s", json_string_value(json_object_get(j, "id")));
    assert_string_equal(json_string_value(json_object_get(j, "owner")), role_label[who]);
    assert_string_equal(json_string_value(json_object_get(j, "visibility")), vis);
    json_decref(j);
}

static void train(int who, const char *ds, const char *model, char *run, size_t cap)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"model_name\":\"%s\",\"task\":\"regression\","
             "\"target\":\"y\",\"params\":{\"hidden\":[2],\"epochs\":2,\"seed\":1}}",
             ds, model);
    json_t *j = must(who, 202, "POST", "/api/v1/runs", NULL, body);
    const char *id = json_string_value(json_object_get(j, "id"));
    assert_non_null(id);
    snprintf(run, cap, "%s", id);
    json_decref(j);
    /* wait_run reads with the harness's keyless client: poll with the owner's key instead */
    for (int i = 0; i < 2000; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/v1/runs/%s", run);
        j = must(who, 200, "GET", path, NULL, NULL);
        const char *st = json_string_value(json_object_get(j, "status"));
        int done = st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
        int ok = st && strcmp(st, "succeeded") == 0;
        json_decref(j);
        if (done) {
            if (!ok) fail_msg("run %s of %s did not succeed", run, model);
            return;
        }
        usleep(10000);
    }
    fail_msg("run %s did not finish", run);
}

/* A sweep body over ds publishing to model: the runs of a grid over n learning rates. */
static void sweep_body(const char *ds, const char *model, int n, char *buf, size_t cap)
{
    static const char *const rates[] = {"0.1", "0.05", "0.02", "0.01", "0.005"};
    char grid[128];
    size_t o = 0;
    for (int i = 0; i < n && i < 5; i++)
        o += (size_t)snprintf(grid + o, sizeof grid - o, "%s%s", i ? "," : "", rates[i]);
    snprintf(buf, cap,
             "{\"dataset_id\":\"%s\",\"model_name\":\"%s\",\"task\":\"regression\","
             "\"target\":\"y\",\"params\":{\"hidden\":[2],\"epochs\":1,\"seed\":1},"
             "\"grid\":{\"learning_rate\":[%s]}}",
             ds, model, grid);
}

/* A sweep of n runs by who; its id into id. */
static void sweep(int who, const char *ds, const char *model, int n, char *id, size_t cap)
{
    char body[512];
    sweep_body(ds, model, n, body, sizeof body);
    json_t *j = must(who, 201, "POST", "/api/v1/sweeps", NULL, body);
    snprintf(id, cap, "%s", json_string_value(json_object_get(j, "id")));
    assert_string_equal(json_string_value(json_object_get(j, "owner")), role_label[who]);
    json_decref(j);
}

static void set_model_vis(int who, const char *model, const char *vis)
{
    char path[128], body[64];
    snprintf(path, sizeof path, "/api/v1/models/%s", model);
    snprintf(body, sizeof body, "{\"visibility\":\"%s\"}", vis);
    json_decref(must(who, 200, "PATCH", path, NULL, body));
}

static void fixture_make(fixture *f, const char *vis)
{
    memset(f, 0, sizeof *f);
    f->vis = vis;
    char name[64];
    snprintf(name, sizeof name, "ds-%s", vis);
    upload(R_ALICE, name, vis, f->ds, sizeof f->ds);
    snprintf(f->model, sizeof f->model, "alice-%s", vis);
    train(R_ALICE, f->ds, f->model, f->run, sizeof f->run);
    set_model_vis(R_ALICE, f->model, vis);
    char path[160];
    snprintf(path, sizeof path, "/api/v1/models/%s/aliases/stable", f->model);
    json_decref(must(R_ALICE, 200, "PUT", path, NULL, "{\"version\":1}"));
    snprintf(path, sizeof path, "/api/v1/models/%s/versions/1/export", f->model);
    json_t *doc = must(R_ALICE, 200, "GET", path, NULL, NULL);
    f->doc = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    sweep(R_ALICE, f->ds, f->model, 1, f->sweep, sizeof f->sweep);
}

/* ---- the matrix ---- */

/* What a cell needs besides the pass's fixtures, made by alice just before the request. */
typedef enum {
    FR_NONE,
    FR_DATASET,
    FR_VERSIONS,
    FR_RUN,
    FR_ALIAS,
    FR_USER,
    FR_KEY,
    FR_SWEEP
} fresh_kind;

/* Expected answers for admin, staff, alice (the owner) and bob (another student): A allowed
 * (past the rules: not 401, 403 or 404), F 403, N 404. One string for alice's private
 * resources, one for her class ones (rows hidden). /users/{name} routes name alice (or a fresh
 * user or key), whom only the admin and she may see. */
typedef struct {
    const char *method, *pattern;
    const char *on_private, *on_class;
    fresh_kind fresh;
} cell_row;

#define OPEN      "AAAA", "AAAA"
#define SEE       "AAAN", "AAAA"
#define CHANGE    "AAAN", "AAAF"
#define PUBLISH   "AAAF", "AAAF"
#define STAFFONLY "AAFF", "AAFF"
#define ADMINONLY "AFFF", "AFFF"
#define SELF      "ANAN", "ANAN"
#define OWNER     "AAAN", "AAAN" /* sweeps: their owner, staff and admin, whatever the data */

static const cell_row matrix[] = {
    {"GET", "/healthz", OPEN, FR_NONE},
    {"GET", "/readyz", OPEN, FR_NONE},
    {"GET", "/", OPEN, FR_NONE},
    {"GET", "/assets/{file}", OPEN, FR_NONE},
    {"GET", "/api/v1/datasets", OPEN, FR_NONE},
    {"POST", "/api/v1/datasets", OPEN, FR_NONE},
    {"GET", "/api/v1/datasets/{id}", SEE, FR_NONE},
    {"GET", "/api/v1/datasets/{id}/rows", CHANGE, FR_NONE}, /* rows hidden: as a change */
    {"DELETE", "/api/v1/datasets/{id}", CHANGE, FR_DATASET},
    {"PATCH", "/api/v1/datasets/{id}", CHANGE, FR_NONE},
    {"GET", "/api/v1/datasets/{id}/rows/{i}/augmented", CHANGE, FR_NONE}, /* shows a row */
    {"PATCH", "/api/v1/models/{name}", CHANGE, FR_NONE},
    /* the dataset is hidden from bob (404), then seen but the model name is alice's (403) */
    {"POST", "/api/v1/runs", CHANGE, FR_NONE},
    {"POST", "/api/v1/runs:validate", CHANGE, FR_NONE},
    {"GET", "/api/v1/runs", OPEN, FR_NONE},
    {"GET", "/api/v1/runs/{id}", SEE, FR_NONE},
    {"DELETE", "/api/v1/runs/{id}", CHANGE, FR_RUN},
    {"POST", "/api/v1/runs/{id}/cancel", CHANGE, FR_NONE},
    {"GET", "/api/v1/runs/{id}/metrics", SEE, FR_NONE},
    {"GET", "/api/v1/runs/{id}/events", SEE, FR_NONE},
    {"GET", "/api/v1/runs/{id}/plot.svg", SEE, FR_NONE},
    /* as POST /runs for each of its runs */
    {"POST", "/api/v1/sweeps", CHANGE, FR_NONE},
    {"GET", "/api/v1/sweeps", OPEN, FR_NONE},
    {"GET", "/api/v1/sweeps/{id}", OWNER, FR_NONE},
    {"DELETE", "/api/v1/sweeps/{id}", OWNER, FR_SWEEP},
    {"GET", "/api/v1/sweeps/{id}/plot.svg", OWNER, FR_NONE},
    {"POST", "/api/v1/sweeps/{id}:promote", OWNER, FR_NONE},
    {"GET", "/api/v1/models", OPEN, FR_NONE},
    {"GET", "/api/v1/models/{name}", SEE, FR_NONE},
    {"POST", "/api/v1/models/{name}/versions", PUBLISH, FR_NONE},
    {"GET", "/api/v1/models/{name}/versions/{version}/export", SEE, FR_NONE},
    /* the model's see rule first; then (microscope_rows_rule) the dataset's rows rule */
    {"GET", "/api/v1/models/{name}/versions/{version}/outliers", SEE, FR_NONE},
    {"GET", "/api/v1/models/{name}/versions/{version}/codes", SEE, FR_NONE},
    {"DELETE", "/api/v1/models/{name}/versions/{version}", CHANGE, FR_VERSIONS},
    {"PUT", "/api/v1/models/{name}/aliases/{alias}", CHANGE, FR_NONE},
    {"DELETE", "/api/v1/models/{name}/aliases/{alias}", CHANGE, FR_ALIAS},
    {"GET", "/v1/models/{name}", SEE, FR_NONE},
    {"GET", "/v1/models/{name}/versions/{version}", SEE, FR_NONE},
    {"GET", "/v1/models/{name}/labels/{alias}", SEE, FR_NONE},
    {"GET", "/v1/models/{name}/metadata", SEE, FR_NONE},
    {"GET", "/v1/models/{name}/versions/{version}/metadata", SEE, FR_NONE},
    {"GET", "/v1/models/{name}/labels/{alias}/metadata", SEE, FR_NONE},
    {"POST", "/v1/models/{name}:predict", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/versions/{version}:predict", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/labels/{alias}:predict", SEE, FR_NONE},
    {"POST", "/v1/models/{name}:classify", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/versions/{version}:classify", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/labels/{alias}:classify", SEE, FR_NONE},
    {"POST", "/v1/models/{name}:regress", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/versions/{version}:regress", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/labels/{alias}:regress", SEE, FR_NONE},
    {"POST", "/v1/models/{name}:reconstruct", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/versions/{version}:reconstruct", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/labels/{alias}:reconstruct", SEE, FR_NONE},
    {"POST", "/v1/models/{name}:encode", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/versions/{version}:encode", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/labels/{alias}:encode", SEE, FR_NONE},
    {"POST", "/v1/models/{name}:{verb}", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/versions/{version}:{verb}", SEE, FR_NONE},
    {"POST", "/v1/models/{name}/labels/{alias}:{verb}", SEE, FR_NONE},
    {"GET", "/v2", OPEN, FR_NONE},
    {"GET", "/v2/health/live", OPEN, FR_NONE},
    {"GET", "/v2/health/ready", OPEN, FR_NONE},
    {"GET", "/v2/models/{name}", SEE, FR_NONE},
    {"GET", "/v2/models/{name}/versions/{version}", SEE, FR_NONE},
    {"GET", "/v2/models/{name}/ready", SEE, FR_NONE},
    {"GET", "/v2/models/{name}/versions/{version}/ready", SEE, FR_NONE},
    {"POST", "/v2/models/{name}/infer", SEE, FR_NONE},
    {"POST", "/v2/models/{name}/versions/{version}/infer", SEE, FR_NONE},
    {"POST", "/v2/repository/index", OPEN, FR_NONE},
    {"POST", "/v2/repository/models/{name}/load", SEE, FR_NONE},
    {"POST", "/v2/repository/models/{name}/unload", SEE, FR_NONE},
    {"GET", "/metrics", STAFFONLY, FR_NONE},
    {"GET", "/api/v1/openapi.json", OPEN, FR_NONE},
    {"GET", "/api/v1/docs", OPEN, FR_NONE},
    {"POST", "/api/v1/users", ADMINONLY, FR_NONE},
    {"POST", "/api/v1/users:import", ADMINONLY, FR_NONE},
    {"GET", "/api/v1/users", ADMINONLY, FR_NONE},
    {"GET", "/api/v1/users/{name}", SELF, FR_NONE},
    {"PATCH", "/api/v1/users/{name}", ADMINONLY, FR_NONE},
    {"DELETE", "/api/v1/users/{name}", ADMINONLY, FR_USER},
    {"POST", "/api/v1/users/{name}/keys", SELF, FR_NONE},
    {"GET", "/api/v1/users/{name}/keys", SELF, FR_NONE},
    {"DELETE", "/api/v1/users/{name}/keys/{key_id}", SELF, FR_KEY},
    {"GET", "/api/v1/me", OPEN, FR_NONE},
    {"GET", "/api/v1/audit", ADMINONLY, FR_NONE},
};
#define MATRIX_ROWS (sizeof matrix / sizeof matrix[0])

static const cell_row *row_of(const route *rt)
{
    for (size_t i = 0; i < MATRIX_ROWS; i++)
        if (strcmp(matrix[i].method, rt->method) == 0 &&
            strcmp(matrix[i].pattern, rt->pattern) == 0)
            return &matrix[i];
    return NULL;
}

/* The path of pattern with its parameters filled in: {id} a dataset or run of the cell, {name}
 * a model, {version} 1, {alias} stable, {verb} a verb no task has, {file} a real asset. */
static void fill(const char *pattern, const char *id, const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 80 < cap; p++) {
        if (*p != '{') {
            out[o++] = *p;
            continue;
        }
        const char *e = strchr(p, '}');
        size_t n = (size_t)(e - p - 1);
        const char *v = strncmp(p + 1, "id", n) == 0 || strncmp(p + 1, "key_id", n) == 0 ? id
                        : strncmp(p + 1, "name", n) == 0                                 ? name
                        : strncmp(p + 1, "version", n) == 0                              ? "1"
                        : strncmp(p + 1, "alias", n) == 0                                ? "stable"
                        : strncmp(p + 1, "verb", n) == 0                                 ? "bogus"
                                                                                         : "app.js";
        o += (size_t)snprintf(out + o, cap - o, "%s", v);
        p = e;
    }
    out[o] = '\0';
}

/* The body a cell sends (NULL for none) and its content type. */
static const char *body_of(const cell_row *row, const fixture *f, char *buf, size_t cap,
                           const char **ctype)
{
    const char *m = row->method, *p = row->pattern;
    *ctype = NULL;
    if (strcmp(m, "GET") == 0 || strcmp(m, "DELETE") == 0) return NULL;
    if (strcmp(p, "/api/v1/datasets") == 0) {
        *ctype = "text/csv";
        return CSV;
    }
    if (strcmp(p, "/api/v1/users:import") == 0) {
        *ctype = "text/csv";
        snprintf(buf, cap, "name\nimp-%s-%d\n", f->vis, f->fresh);
        return buf;
    }
    if (strcmp(p, "/api/v1/users") == 0)
        snprintf(buf, cap, "{\"name\":\"new-%s-%d\",\"role\":\"student\"}", f->vis, f->fresh);
    else if (strcmp(p, "/api/v1/users/{name}") == 0)
        snprintf(buf, cap, "{\"display_name\":\"Alice\"}");
    else if (strcmp(p, "/api/v1/datasets/{id}") == 0)
        snprintf(buf, cap, "{\"visibility\":\"%s\",\"rows_visible\":false}", f->vis);
    else if (strcmp(p, "/api/v1/models/{name}") == 0)
        snprintf(buf, cap, "{\"visibility\":\"%s\"}", f->vis);
    else if (strncmp(p, "/api/v1/runs", 12) == 0 && strstr(p, "{id}") == NULL)
        snprintf(buf, cap,
                 "{\"dataset_id\":\"%s\",\"model_name\":\"%s\",\"task\":\"regression\","
                 "\"target\":\"y\",\"params\":{\"hidden\":[2],\"epochs\":1,\"seed\":1}}",
                 f->ds, f->model);
    else if (strcmp(p, "/api/v1/sweeps") == 0)
        sweep_body(f->ds, f->model, 1, buf, cap);
    else if (strcmp(p, "/api/v1/sweeps/{id}:promote") == 0)
        snprintf(buf, cap, "{\"alias\":\"best\"}");
    else if (strcmp(p, "/api/v1/models/{name}/versions") == 0)
        return f->doc;
    else if (strstr(p, "/aliases/"))
        snprintf(buf, cap, "{\"version\":1}");
    else if (strncmp(p, "/v2/models", 10) == 0)
        snprintf(buf, cap,
                 "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1],\"datatype\":"
                 "\"FP32\",\"data\":[0.5]}]}");
    else if (strncmp(p, "/v1/", 4) == 0)
        snprintf(buf, cap, "{\"instances\":[[0.5]]}");
    else
        snprintf(buf, cap, "{}");
    return buf;
}

/* Makes what a cell consumes (as alice) and points id / name at it. */
static void fresh(const cell_row *row, fixture *f, char *id, size_t idcap, char *name,
                  size_t namecap)
{
    char path[160];
    f->fresh++;
    switch (row->fresh) {
    case FR_NONE:
        break;
    case FR_DATASET: {
        char n[32];
        snprintf(n, sizeof n, "fresh-%d", f->fresh);
        upload(R_ALICE, n, f->vis, id, idcap);
        break;
    }
    case FR_VERSIONS:
        snprintf(name, namecap, "fresh-%s-%d", f->vis, f->fresh);
        snprintf(path, sizeof path, "/api/v1/models/%s/versions", name);
        json_decref(must(R_ALICE, 201, "POST", path, NULL, f->doc));
        json_decref(must(R_ALICE, 201, "POST", path, NULL, f->doc));
        set_model_vis(R_ALICE, name, f->vis);
        break;
    case FR_RUN:
        train(R_ALICE, f->ds, f->model, id, idcap);
        break;
    case FR_ALIAS:
        snprintf(path, sizeof path, "/api/v1/models/%s/aliases/stable", f->model);
        json_decref(must(R_ALICE, 200, "PUT", path, NULL, "{\"version\":1}"));
        break;
    case FR_USER: {
        char body[128];
        snprintf(name, namecap, "gone-%s-%d", f->vis, f->fresh);
        snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"student\"}", name);
        json_decref(must(R_ADMIN, 201, "POST", "/api/v1/users", NULL, body));
        break;
    }
    case FR_KEY: {
        json_t *k = must(R_ALICE, 201, "POST", "/api/v1/users/alice/keys", NULL, "{}");
        snprintf(id, idcap, "%lld", (long long)json_integer_value(json_object_get(k, "id")));
        json_decref(k);
        break;
    }
    case FR_SWEEP:
        sweep(R_ALICE, f->ds, f->model, 1, id, idcap);
        break;
    }
}

static void walk(fixture *f)
{
    for (size_t i = 0; i < route_count; i++) {
        const route *rt = &route_table[i];
        const cell_row *row = row_of(rt);
        if (!row)
            fail_msg("route %s %s has no row in the access matrix (tests/e2e/test_access.c)",
                     rt->method, rt->pattern);
        const char *want = strcmp(f->vis, "private") == 0 ? row->on_private : row->on_class;
        for (int who = 0; who < R_COUNT; who++) {
            char id[32], name[64], path[512], buf[512];
            const char *ctype;
            snprintf(id, sizeof id, "%s",
                     strncmp(rt->pattern, "/api/v1/runs/", 13) == 0     ? f->run
                     : strncmp(rt->pattern, "/api/v1/sweeps/", 15) == 0 ? f->sweep
                                                                        : f->ds);
            snprintf(name, sizeof name, "%s",
                     strncmp(rt->pattern, "/api/v1/users/", 14) == 0 ? "alice" : f->model);
            fresh(row, f, id, sizeof id, name, sizeof name);
            fill(rt->pattern, id, name, path, sizeof path);
            const char *body = body_of(row, f, buf, sizeof buf, &ctype);
            hresp r;
            long st = req(who, rt->method, path, ctype, body, &r);
            /* /v1 answers a label it cannot resolve as TF Serving does (400, before any model
             * lookup), for a hidden model as for a missing one: that is a hidden answer too */
            int hidden = st == 404 || (st == 400 && strstr(r.body, "Unrecognized servable version "
                                                                   "label: ") == r.body + 10);
            char got = hidden ? 'N' : st == 403 ? 'F' : st > 0 && st != 401 ? 'A' : '?';
            if (got != want[who])
                fail_msg("%s %s on %s resources as %s: %ld (%c), expected %c: %.300s", rt->method,
                         path, f->vis, role_label[who], st, got, want[who], r.body);
            hresp_free(&r);
        }
    }
    /* and no row names a route that is gone */
    for (size_t i = 0; i < MATRIX_ROWS; i++) {
        int found = 0;
        for (size_t k = 0; k < route_count; k++)
            found |= strcmp(matrix[i].method, route_table[k].method) == 0 &&
                     strcmp(matrix[i].pattern, route_table[k].pattern) == 0;
        if (!found)
            fail_msg("matrix row %s %s names no route", matrix[i].method, matrix[i].pattern);
    }
}

static void every_route_every_role(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f, "private");
    walk(&f);
    free(f.doc);
    fixture_make(&f, "class");
    walk(&f);
    free(f.doc);
}

/* ---- the stories ---- */

static int listed(json_t *list, const char *key, const char *value)
{
    json_t *items = json_object_get(list, "items"), *it;
    size_t i;
    json_array_foreach(items, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, key)), value) == 0) return 1;
    }
    return 0;
}

static void private_model_is_invisible(void **state)
{
    (void)state;
    char ds[24], run[24];
    upload(R_ALICE, "secret-data", "private", ds, sizeof ds);
    train(R_ALICE, ds, "alice-secret", run, sizeof run);
    const char *paths[] = {"/api/v1/models/alice-secret", "/v1/models/alice-secret",
                           "/v2/models/alice-secret",
                           "/api/v1/models/alice-secret/versions/1/export"};
    for (size_t i = 0; i < 4; i++) {
        json_decref(must(R_BOB, 404, "GET", paths[i], NULL, NULL));
        json_decref(must(R_ALICE, 200, "GET", paths[i], NULL, NULL));
        json_decref(must(R_STAFF, 200, "GET", paths[i], NULL, NULL));
    }
    json_decref(must(R_BOB, 404, "POST", "/v1/models/alice-secret:predict", NULL,
                     "{\"instances\":[[0.5]]}"));
    /* an unknown model answers the same, whatever the route names besides */
    /* prefix and suffix around the model name */
    static const char *const shapes[][2] = {{"/api/v1/models/", ""},
                                            {"/api/v1/models/", "/versions/7/export"},
                                            {"/v1/models/", "/versions/7"},
                                            {"/v2/models/", "/versions/7"},
                                            {"/v1/models/", "/labels/nope"}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char pa[128], pb[128];
        snprintf(pa, sizeof pa, "%s%s%s", shapes[i][0], "alice-secret", shapes[i][1]);
        snprintf(pb, sizeof pb, "%s%s%s", shapes[i][0], "no-such-model", shapes[i][1]);
        hresp a, b;
        long want = strstr(shapes[i][1], "/labels/") ? 400 : 404; /* TF Serving's label error */
        assert_int_equal(req(R_BOB, "GET", pa, NULL, NULL, &a), want);
        assert_int_equal(req(R_BOB, "GET", pb, NULL, NULL, &b), want);
        if (want == 400 ? strcmp(a.body, b.body) != 0
                        : a.len - strlen("alice-secret") != b.len - strlen("no-such-model"))
            fail_msg("hidden and unknown differ: %s vs %s", a.body, b.body);
        hresp_free(&a);
        hresp_free(&b);
    }
    /* lists: bob sees none of it; alice sees it with its owner */
    json_t *l = must(R_BOB, 200, "GET", "/api/v1/models", NULL, NULL);
    assert_false(listed(l, "name", "alice-secret"));
    json_decref(l);
    l = must(R_BOB, 200, "GET", "/api/v1/runs", NULL, NULL);
    assert_false(listed(l, "id", run));
    json_decref(l);
    l = must(R_ALICE, 200, "GET", "/api/v1/models?owner=alice", NULL, NULL);
    assert_true(listed(l, "name", "alice-secret"));
    assert_true(listed(l, "owner", "alice"));
    assert_false(listed(l, "owner", "bob"));
    json_decref(l);
    /* PATCH opens it to the class, and closes it again */
    set_model_vis(R_ALICE, "alice-secret", "class");
    json_decref(must(R_BOB, 200, "GET", "/v2/models/alice-secret", NULL, NULL));
    char path[64];
    snprintf(path, sizeof path, "/api/v1/runs/%s", run); /* a class model shows its runs */
    json_decref(must(R_BOB, 200, "GET", path, NULL, NULL));
    l = must(R_BOB, 200, "GET", "/api/v1/models?owner=alice", NULL, NULL);
    assert_true(listed(l, "name", "alice-secret"));
    json_decref(l);
    json_decref(must(R_BOB, 403, "PATCH", "/api/v1/models/alice-secret", NULL,
                     "{\"visibility\":\"public\"}"));
    set_model_vis(R_ALICE, "alice-secret", "private");
    json_decref(must(R_BOB, 404, "GET", "/v1/models/alice-secret", NULL, NULL));
    /* each change is in the audit log, by alice */
    l = must(R_ADMIN, 200, "GET", "/api/v1/audit?action=model.update&resource=models/alice-secret",
             NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 2);
    json_decref(l);
    json_decref(must(R_BOB, 404, "GET", path, NULL, NULL));
    json_decref(must(R_ALICE, 400, "PATCH", "/api/v1/models/alice-secret", NULL,
                     "{\"visibility\":\"everyone\"}"));
    json_decref(
        must(R_ALICE, 400, "PATCH", "/api/v1/models/alice-secret", NULL, "{\"owner\":\"bob\"}"));
}

/* An ensemble copies its members' weights, so a member must be a model the caller may see:
 * bob cannot average alice's private models (400 as for a model that does not exist, naming no
 * more than that), nor publish an ensemble to her model's name (403 naming her); his own
 * ensemble of models he sees is his. */
static void ensemble_members_must_be_visible(void **state)
{
    (void)state;
    char ads[24], bds[24], run[24];
    upload(R_ALICE, "ens-a", "private", ads, sizeof ads);
    upload(R_BOB, "ens-b", "private", bds, sizeof bds);
    train(R_ALICE, ads, "alice-ens1", run, sizeof run);
    train(R_BOB, bds, "bob-ens1", run, sizeof run);
    train(R_BOB, bds, "bob-ens2", run, sizeof run);
    const char *hidden = "{\"ensemble\":[{\"model\":\"bob-ens1\",\"version\":1},"
                         "{\"model\":\"alice-ens1\",\"version\":1}]}";
    const char *unknown = "{\"ensemble\":[{\"model\":\"bob-ens1\",\"version\":1},"
                          "{\"model\":\"nobody-ens\",\"version\":1}]}";
    json_t *e = must(R_BOB, 400, "POST", "/api/v1/models/bob-avg/versions", NULL, hidden);
    json_t *u = must(R_BOB, 400, "POST", "/api/v1/models/bob-avg/versions", NULL, unknown);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(e, "errors"), 0), "field")),
                        "ensemble[1]");
    /* the same answer as for a model that does not exist */
    char want[128];
    snprintf(want, sizeof want, "%s", json_string_value(json_object_get(u, "detail")) ?: "(none)");
    char *at = strstr(want, "nobody-ens");
    assert_non_null(at);
    memcpy(at, "alice-ens1", strlen("alice-ens1")); /* same length */
    assert_string_equal(json_string_value(json_object_get(e, "detail")), want);
    json_decref(e);
    json_decref(u);
    json_decref(must(R_STAFF, 201, "POST", "/api/v1/models/tara-avg/versions", NULL, hidden));
    const char *own = "{\"ensemble\":[{\"model\":\"bob-ens1\",\"version\":1},"
                      "{\"model\":\"bob-ens2\",\"version\":1}]}";
    e = must(R_BOB, 403, "POST", "/api/v1/models/alice-ens1/versions", NULL, own);
    assert_non_null(strstr(json_string_value(json_object_get(e, "detail")), "alice"));
    json_decref(e);
    json_t *v = must(R_BOB, 201, "POST", "/api/v1/models/bob-avg/versions", NULL, own);
    json_decref(v);
    v = must(R_BOB, 200, "GET", "/api/v1/models/bob-avg", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(v, "owner")), "bob");
    assert_string_equal(json_string_value(json_object_get(v, "visibility")), "private");
    json_decref(v);
    json_decref(must(R_ALICE, 404, "GET", "/v1/models/bob-avg", NULL, NULL));
}

static void class_dataset_trainable_rows_hidden(void **state)
{
    (void)state;
    char ds[24], run[24], path[128];
    upload(R_STAFF, "course-data", "class", ds, sizeof ds);
    /* bob trains on it, but may not read it */
    train(R_BOB, ds, "bob-course", run, sizeof run);
    snprintf(path, sizeof path, "/api/v1/datasets/%s/rows", ds);
    json_t *e = must(R_BOB, 403, "GET", path, NULL, NULL);
    assert_non_null(strstr(json_string_value(json_object_get(e, "detail")), "rule dataset-rows"));
    json_decref(e);
    snprintf(path, sizeof path, "/api/v1/datasets/%s", ds);
    json_t *d = must(R_BOB, 200, "GET", path, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "owner")), "tara");
    assert_false(json_is_true(json_object_get(d, "rows_visible")));
    json_decref(d);
    json_decref(must(R_BOB, 403, "DELETE", path, NULL, NULL));
    json_decref(must(R_STAFF, 200, "PATCH", path, NULL, "{\"rows_visible\":true}"));
    snprintf(path, sizeof path, "/api/v1/datasets/%s/rows", ds);
    json_decref(must(R_BOB, 200, "GET", path, NULL, NULL));
    /* a student's own upload is private by default: staff sees it, alice does not */
    char mine[24];
    json_t *j = must(R_BOB, 201, "POST", "/api/v1/datasets?name=bobs", "text/csv", CSV);
    snprintf(mine, sizeof mine, "%s", json_string_value(json_object_get(j, "id")));
    assert_string_equal(json_string_value(json_object_get(j, "visibility")), "private");
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/datasets/%s", mine);
    json_decref(must(R_ALICE, 404, "GET", path, NULL, NULL));
    json_decref(must(R_STAFF, 200, "GET", path, NULL, NULL));
    /* ?owner= among what the caller sees */
    json_t *l = must(R_ALICE, 200, "GET", "/api/v1/datasets?owner=bob", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    l = must(R_STAFF, 200, "GET", "/api/v1/datasets?owner=bob&limit=1", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 1);
    assert_true(listed(l, "id", mine));
    json_decref(l);
    json_decref(
        must(R_BOB, 400, "POST", "/api/v1/datasets?name=x&visibility=world", "text/csv", CSV));
}

/* The microscope answers rows (inputs, labels, codes) of the dataset it is pointed at: bob's own
 * autoencoder on tara's class dataset whose rows are hidden is a 403 naming the rule, on alice's
 * private dataset a 404; once tara shows the rows, he may. */
static void microscope_rows_rule(void **state)
{
    (void)state;
    char tds[24], ads[24], bds[24], path[256], body[512];
    upload(R_STAFF, "ms-class", "class", tds, sizeof tds);
    upload(R_ALICE, "ms-private", "private", ads, sizeof ads);
    upload(R_BOB, "ms-own", "private", bds, sizeof bds);
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"model_name\":\"bob-ae\",\"task\":\"autoencoder\","
             "\"params\":{\"hidden\":[1],\"epochs\":2,\"seed\":1}}",
             bds);
    json_t *j = must(R_BOB, 202, "POST", "/api/v1/runs", NULL, body);
    char run[24];
    snprintf(run, sizeof run, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    for (int i = 0;; i++) {
        snprintf(path, sizeof path, "/api/v1/runs/%s", run);
        j = must(R_BOB, 200, "GET", path, NULL, NULL);
        int ok = strcmp(json_string_value(json_object_get(j, "status")), "succeeded") == 0;
        json_decref(j);
        if (ok) break;
        if (i > 2000) fail_msg("run %s did not succeed", run);
        usleep(10000);
    }
    static const char *const what[] = {"outliers", "codes"};
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "/api/v1/models/bob-ae/versions/1/%s?dataset_id=%s", what[w],
                 bds);
        json_decref(must(R_BOB, 200, "GET", path, NULL, NULL));
        snprintf(path, sizeof path, "/api/v1/models/bob-ae/versions/1/%s?dataset_id=%s", what[w],
                 tds);
        json_t *e = must(R_BOB, 403, "GET", path, NULL, NULL);
        assert_non_null(strstr(json_string_value(json_object_get(e, "detail")), "rows_visible"));
        json_decref(e);
        json_decref(must(R_STAFF, 200, "GET", path, NULL, NULL));
        snprintf(path, sizeof path, "/api/v1/models/bob-ae/versions/1/%s?dataset_id=%s", what[w],
                 ads);
        json_decref(must(R_BOB, 404, "GET", path, NULL, NULL));
    }
    snprintf(path, sizeof path, "/api/v1/datasets/%s", tds);
    json_decref(must(R_STAFF, 200, "PATCH", path, NULL, "{\"rows_visible\":true}"));
    snprintf(path, sizeof path, "/api/v1/models/bob-ae/versions/1/outliers?dataset_id=%s", tds);
    json_decref(must(R_BOB, 200, "GET", path, NULL, NULL));
}

static void model_name_owned_by_someone_else(void **state)
{
    (void)state;
    char ds[24], run[24], body[512];
    upload(R_ALICE, "names", "class", ds, sizeof ds);
    train(R_ALICE, ds, "alice-name", run, sizeof run);
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"model_name\":\"alice-name\",\"task\":\"regression\","
             "\"target\":\"y\",\"params\":{\"epochs\":1}}",
             ds);
    json_t *e = must(R_BOB, 403, "POST", "/api/v1/runs", NULL, body);
    const char *detail = json_string_value(json_object_get(e, "detail"));
    assert_non_null(strstr(detail, "'alice'"));
    json_decref(e);
    /* staff may publish to it; the name stays alice's */
    char srun[24];
    train(R_STAFF, ds, "alice-name", srun, sizeof srun);
    json_t *m = must(R_ALICE, 200, "GET", "/api/v1/models/alice-name", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "owner")), "alice");
    json_decref(m);
}

static void restart_keeps_ownership(void **state)
{
    (void)state;
    char ds[24], run[24];
    upload(R_ALICE, "durable", "private", ds, sizeof ds);
    train(R_ALICE, ds, "alice-durable", run, sizeof run);
    assert_int_equal(srv_stop(&S, SIGKILL), 128 + SIGKILL);
    const char *args[] = {"--api-key", K_ADMIN ":admin", NULL};
    assert_int_equal(srv_restart(&S, args), 0);
    json_decref(must(R_BOB, 404, "GET", "/v1/models/alice-durable", NULL, NULL));
    json_t *m = must(R_ALICE, 200, "GET", "/api/v1/models/alice-durable", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "owner")), "alice");
    assert_string_equal(json_string_value(json_object_get(m, "visibility")), "private");
    json_decref(m);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/datasets/%s", ds);
    json_decref(must(R_BOB, 404, "GET", path, NULL, NULL));
    snprintf(path, sizeof path, "/api/v1/runs/%s", run);
    json_t *r = must(R_ALICE, 200, "GET", path, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "owner")), "alice");
    json_decref(r);
}

/* With --public-predict an anonymous caller sees public models, and nothing else. */
static void public_models_for_anonymous(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, SIGTERM), 0);
    const char *args[] = {"--api-key", K_ADMIN ":admin", "--public-predict", NULL};
    assert_int_equal(srv_restart(&S, args), 0);
    char ds[24], run[24], path[64];
    upload(R_ALICE, "open-data", "class", ds, sizeof ds);
    train(R_ALICE, ds, "alice-open", run, sizeof run);
    const char *pred = "{\"instances\":[[0.5]]}";
    json_decref(must(R_ANON, 404, "POST", "/v1/models/alice-open:predict", NULL, pred));
    set_model_vis(R_ALICE, "alice-open", "class");
    json_decref(must(R_ANON, 404, "GET", "/v2/models/alice-open", NULL, NULL));
    set_model_vis(R_ALICE, "alice-open", "public");
    json_decref(must(R_ANON, 200, "POST", "/v1/models/alice-open:predict", NULL, pred));
    json_decref(must(R_ANON, 200, "GET", "/v2/models/alice-open", NULL, NULL));
    snprintf(path, sizeof path, "/api/v1/runs/%s", run); /* its run shows with it */
    json_decref(must(R_ANON, 200, "GET", path, NULL, NULL));
    json_t *l = must(R_ANON, 200, "GET", "/api/v1/models", NULL, NULL);
    assert_true(listed(l, "name", "alice-open"));
    assert_false(listed(l, "visibility", "class"));
    assert_false(listed(l, "visibility", "private"));
    json_decref(l);
    l = must(R_ANON, 200, "GET", "/api/v1/datasets", NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0); /* none is public */
    json_decref(l);
    json_decref(must(R_ANON, 401, "GET", "/metrics", NULL, NULL));
}

/* ---- sweeps: their owner's, like their runs ---- */

static long total_of(int who, const char *path)
{
    json_t *l = must(who, 200, "GET", path, NULL, NULL);
    long n = (long)json_integer_value(json_object_get(l, "total"));
    json_decref(l);
    return n;
}

/* Polls as the owner until sweep id is "finished". */
static void wait_sweep(int who, const char *id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", id);
    for (int i = 0; i < 3000; i++) {
        json_t *j = must(who, 200, "GET", path, NULL, NULL);
        int done = strcmp(json_string_value(json_object_get(j, "status")), "finished") == 0;
        json_decref(j);
        if (done) return;
        usleep(10000);
    }
    fail_msg("sweep %s did not finish", id);
}

static void sweeps_are_their_owners(void **state)
{
    (void)state;
    char ds[24], id[24], path[128], body[512];
    upload(R_ALICE, "swp-data", "private", ds, sizeof ds);
    sweep(R_ALICE, ds, "alice-swp", 2, id, sizeof id);
    /* bob: every sweep route answers as for a sweep that does not exist */
    static const char *const shapes[][2] = {
        {"GET", ""}, {"GET", "/plot.svg"}, {"POST", ":promote"}, {"DELETE", ""}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const char *b = strcmp(shapes[i][0], "POST") == 0 ? "{\"alias\":\"best\"}" : NULL;
        snprintf(path, sizeof path, "/api/v1/sweeps/%s%s", id, shapes[i][1]);
        json_decref(must(R_BOB, 404, shapes[i][0], path, NULL, b));
        snprintf(path, sizeof path, "/api/v1/sweeps/swp_999%s", shapes[i][1]);
        json_decref(must(R_BOB, 404, shapes[i][0], path, NULL, b));
    }
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", id);
    json_t *j = must(R_STAFF, 200, "GET", path, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "owner")), "alice");
    json_decref(j);
    /* its runs are alice's too */
    j = must(R_ALICE, 200, "GET", path, NULL, NULL);
    json_t *runs = json_object_get(j, "runs"), *r;
    size_t i;
    assert_int_equal(json_array_size(runs), 2);
    json_array_foreach(runs, i, r)
    {
        char rp[64];
        snprintf(rp, sizeof rp, "/api/v1/runs/%s", json_string_value(json_object_get(r, "run_id")));
        json_t *run = must(R_ALICE, 200, "GET", rp, NULL, NULL);
        assert_string_equal(json_string_value(json_object_get(run, "owner")), "alice");
        json_decref(run);
        json_decref(must(R_BOB, 404, "GET", rp, NULL, NULL));
    }
    json_decref(j);
    /* lists: what the caller sees; ?owner= one user's */
    json_t *l = must(R_BOB, 200, "GET", "/api/v1/sweeps", NULL, NULL);
    assert_false(listed(l, "id", id));
    assert_false(listed(l, "owner", "alice"));
    json_decref(l);
    l = must(R_STAFF, 200, "GET", "/api/v1/sweeps?owner=alice", NULL, NULL);
    assert_true(listed(l, "id", id));
    assert_false(listed(l, "owner", "admin"));
    assert_int_equal(json_integer_value(json_object_get(l, "total")),
                     json_array_size(json_object_get(l, "items")));
    json_decref(l);
    assert_int_equal(total_of(R_ALICE, "/api/v1/sweeps?owner=bob"), 0);
    assert_int_equal(total_of(R_STAFF, "/api/v1/sweeps?owner=nobody"), 0);
    /* a sweep over a private dataset of someone else: 404, nothing queued */
    long runs_before = total_of(R_ADMIN, "/api/v1/runs?limit=1");
    long sweeps_before = total_of(R_ADMIN, "/api/v1/sweeps?limit=1");
    sweep_body(ds, "bob-swp", 2, body, sizeof body);
    json_t *e = must(R_BOB, 404, "POST", "/api/v1/sweeps", NULL, body);
    assert_non_null(strstr(json_string_value(json_object_get(e, "detail")), ds));
    json_decref(e);
    /* ... as is a student's sweep at priority high (fair scheduling's rule for runs) */
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"regression\",\"target\":\"y\","
             "\"params\":{\"epochs\":1,\"priority\":\"high\"},"
             "\"grid\":{\"learning_rate\":[0.1,0.2]}}",
             ds);
    json_decref(must(R_ALICE, 403, "POST", "/api/v1/sweeps", NULL, body));
    assert_int_equal(total_of(R_ADMIN, "/api/v1/runs?limit=1"), runs_before);
    assert_int_equal(total_of(R_ADMIN, "/api/v1/sweeps?limit=1"), sweeps_before);
    /* :promote moves an alias of the model: the sweep's owner may while it owns the model */
    wait_sweep(R_ALICE, id);
    snprintf(path, sizeof path, "/api/v1/sweeps/%s:promote", id);
    json_decref(must(R_ALICE, 200, "POST", path, NULL, "{\"alias\":\"best\"}"));
    /* ... and not once the name is someone else's: alice drops her model, bob takes the name */
    json_t *doc =
        must(R_ALICE, 200, "GET", "/api/v1/models/alice-swp/versions/1/export", NULL, NULL);
    char *txt = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    json_decref(must(R_ALICE, 204, "DELETE", "/api/v1/models/alice-swp/aliases/best", NULL, NULL));
    json_decref(must(R_ALICE, 204, "DELETE", "/api/v1/models/alice-swp/versions/2", NULL, NULL));
    json_decref(must(R_ALICE, 204, "DELETE", "/api/v1/models/alice-swp/versions/1", NULL, NULL));
    json_decref(must(R_BOB, 201, "POST", "/api/v1/models/alice-swp/versions", NULL, txt));
    free(txt);
    e = must(R_ALICE, 403, "POST", path, NULL, "{\"alias\":\"best\"}");
    const char *detail = json_string_value(json_object_get(e, "detail"));
    assert_non_null(strstr(detail, "'bob'"));
    assert_non_null(strstr(detail, "model-change"));
    json_decref(e);
    /* staff may delete it; its runs stay alice's */
    snprintf(path, sizeof path, "/api/v1/sweeps/%s", id);
    json_decref(must(R_STAFF, 204, "DELETE", path, NULL, NULL));
    json_decref(must(R_ALICE, 404, "GET", path, NULL, NULL));
}

/* Polls alice's /me until none of her runs is queued or running. */
static void wait_idle(int who)
{
    for (int i = 0; i < 6000; i++) {
        json_t *me = must(who, 200, "GET", "/api/v1/me", NULL, NULL);
        json_int_t used = json_integer_value(
            json_object_get(json_object_get(json_object_get(me, "usage"), "active_runs"), "used"));
        json_decref(me);
        if (used == 0) return;
        usleep(10000);
    }
    fail_msg("%s's runs did not end", role_label[who]);
}

static void sweep_quota_refuses_whole(void **state)
{
    (void)state;
    char ds[24], id[24], body[512];
    upload(R_ALICE, "swp-quota", "private", ds, sizeof ds);
    wait_idle(R_ALICE);
    json_decref(must(R_ADMIN, 200, "PATCH", "/api/v1/users/alice", NULL,
                     "{\"quotas\":{\"active_runs\":2}}"));
    usleep(1200000); /* the limits cache (QUOTA_CACHE_S) */
    long runs_before = total_of(R_ALICE, "/api/v1/runs?owner=alice&limit=1");
    long sweeps_before = total_of(R_ALICE, "/api/v1/sweeps?limit=1");
    sweep_body(ds, "alice-quota", 3, body, sizeof body);
    json_t *e = must(R_ALICE, 429, "POST", "/api/v1/sweeps", NULL, body);
    const char *detail = json_string_value(json_object_get(e, "detail"));
    assert_non_null(strstr(detail, "quota active_runs exceeded: limit 2, used 0"));
    assert_non_null(strstr(detail, "3 runs"));
    json_decref(e);
    assert_int_equal(total_of(R_ALICE, "/api/v1/runs?owner=alice&limit=1"), runs_before);
    assert_int_equal(total_of(R_ALICE, "/api/v1/sweeps?limit=1"), sweeps_before);
    /* two fit, and then count: a run past them is refused */
    sweep(R_ALICE, ds, "alice-quota", 2, id, sizeof id);
    char rb[512];
    snprintf(rb, sizeof rb,
             "{\"dataset_id\":\"%s\",\"model_name\":\"alice-quota\",\"task\":\"regression\","
             "\"target\":\"y\",\"params\":{\"hidden\":[2],\"epochs\":1,\"seed\":1}}",
             ds);
    hresp r;
    long st = req(R_ALICE, "POST", "/api/v1/runs", NULL, rb, &r);
    hresp_free(&r);
    /* 429 unless a sweep's run already ended: either way never a third active run */
    assert_true(st == 429 || st == 202);
    if (st == 429)
        assert_int_equal(total_of(R_ALICE, "/api/v1/runs?owner=alice&limit=1"), runs_before + 2);
    wait_sweep(R_ALICE, id);
    json_decref(must(R_ADMIN, 200, "PATCH", "/api/v1/users/alice", NULL,
                     "{\"quotas\":{\"active_runs\":null}}"));
}

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--api-key", K_ADMIN ":admin", NULL};
    if (srv_start(&S, args) != 0) return -1;
    snprintf(keys[R_ADMIN], sizeof keys[R_ADMIN], "%s", K_ADMIN);
    make_user(R_STAFF, "tara", "staff");
    make_user(R_ALICE, "alice", "student");
    make_user(R_BOB, "bob", "student");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_finish(&S);
    return rc || oa_violations() ? -1 : 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_every_role),
        cmocka_unit_test(private_model_is_invisible),
        cmocka_unit_test(class_dataset_trainable_rows_hidden),
        cmocka_unit_test(microscope_rows_rule),
        cmocka_unit_test(model_name_owned_by_someone_else),
        cmocka_unit_test(restart_keeps_ownership),
        cmocka_unit_test(public_models_for_anonymous),
        cmocka_unit_test(sweeps_are_their_owners),
        cmocka_unit_test(sweep_quota_refuses_whole),
        cmocka_unit_test(ensemble_members_must_be_visible),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
