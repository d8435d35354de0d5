/* test_quotas.c — the five quotas of class mode (server/quota.h) and fair scheduling against the
 * real daemon. Each test sets a per-user override on the bootstrap admin (user 1, whom flag keys
 * and an open server act as) with sqlite3 behind the daemon's back, as an admin's PATCH would,
 * then waits out the limits cache (QUOTA_CACHE_S, 1 s):
 * - storage_bytes: an upload past the quota is 507 naming it; two parallel uploads that each fit
 *   but not together: exactly one is stored;
 * - active_runs: the run past the quota is 429 naming it, with Retry-After;
 * - train_seconds_per_day: a run that spends the budget pauses at an epoch boundary, shows
 *   "queued" with a reason naming the quota; a run created meanwhile is accepted with the same
 *   reason; kill -9 and a restart keep the usage (the run still waits); raising the quota resumes
 *   it from its checkpoint to success;
 * - models: a run that would publish a new model name past the quota is 429; a new version of an
 *   owned model is not;
 * - predict_per_second: requests past the rate are 429 naming it, with Retry-After;
 * - the flags' defaults bind a student and not the admin; GET /api/v1/me reports use against
 *   each quota; a PATCHed override wins;
 * - fair share: with --workers 1, student B's lone run starts before the second of student A's
 *   ten runs, A having trained;
 * - params.priority "high": 403 for a student, ahead of the fair-share order for the admin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static srv s;              /* static: the teardown kills it when an assertion fails half-way */
static const char *bearer; /* the key get_run, cancel and wait_epoch_of send; NULL: none */

static int teardown(void **state)
{
    (void)state;
    bearer = NULL;
    srv_cleanup(&s);
    return 0;
}

static void sleep_s(double sec)
{
    struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Runs sql on the daemon's database, then waits out the quota cache. */
static void db_exec(const char *sql)
{
    char db[400];
    snprintf(db, sizeof db, "%s/mlpd.db", s.dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    char *err = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", sql, err);
    sqlite3_free(err);
    sqlite3_close(h);
    assert_int_equal(rc, SQLITE_OK);
    sleep_s(1.2);
}

/* rows x (features + y) CSV, 3 classes. */
static char *make_csv(int rows, int features)
{
    char *csv = malloc((size_t)rows * (size_t)(features + 1) * 8 + 4096), *p = csv;
    unsigned st = 11;
    for (int i = 0; i < features; i++) p += sprintf(p, "f%d,", i);
    p += sprintf(p, "y\n");
    for (int r = 0; r < rows; r++) {
        double sum = 0;
        for (int i = 0; i < features; i++) {
            double v = h_urand(&st);
            sum += v * (i % 2 ? 1 : -1);
            p += sprintf(p, "%.3f,", v);
        }
        p += sprintf(p, "%d\n", sum > 0.3 ? 2 : sum > -0.3 ? 1 : 0);
    }
    return csv;
}

static long upload(const char *name, int rows, int features, hresp *r)
{
    char *csv = make_csv(rows, features);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    long st = http_do(&s, "POST", path, "text/csv", csv, strlen(csv), NULL, r);
    free(csv);
    return st;
}

/* POSTs a run on ds_1 (hidden: the layers' JSON, "4" or "256,256"); returns the status, the id
 * in id (when 202) and the body in *out (new, may be NULL to drop). */
static long submit_h(const char *model, int epochs, const char *hidden, char id[32], json_t **out)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"%s\",\"params\":{\"hidden\":[%s],\"epochs\":%d,"
             "\"batch_size\":16,\"seed\":7}}",
             model, hidden, epochs);
    long st;
    json_t *j = post_json(&s, "/api/v1/runs", body, &st);
    if (id) id[0] = '\0';
    if (st == 202 && id) snprintf(id, 32, "%s", json_string_value(json_object_get(j, "id")));
    if (out)
        *out = j;
    else
        json_decref(j);
    return st;
}

static long submit(const char *model, int epochs, int hidden, char id[32], json_t **out)
{
    char h[16];
    snprintf(h, sizeof h, "%d", hidden);
    return submit_h(model, epochs, h, id, out);
}

/* A request as `bearer`, the body parsed (new reference, NULL when not JSON). */
static json_t *call(const char *method, const char *path, const char *body, long *st)
{
    char auth[160];
    if (bearer) snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    hresp r;
    *st = http_do(&s, method, path, body ? "application/json" : NULL, body, body ? strlen(body) : 0,
                  bearer ? auth : NULL, &r);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    return j;
}

static json_t *get_run(const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s", id);
    long st;
    json_t *j = call("GET", path, NULL, &st);
    assert_int_equal(st, 200);
    return j;
}

/* 0 once run id has at least `epoch` epochs done, -1 after timeout_s. */
static int wait_epoch_of(const char *id, int epoch, double timeout_s)
{
    for (double t = 0; t < timeout_s; t += 0.1) {
        json_t *j = get_run(id);
        json_int_t e = json_integer_value(json_object_get(json_object_get(j, "progress"), "epoch"));
        json_decref(j);
        if (e >= epoch) return 0;
        sleep_s(0.1);
    }
    return -1;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static void cancel(const char *id)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", id);
    long st;
    json_decref(call("POST", path, "{}", &st));
}

static void storage_quota(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    hresp r;
    assert_int_equal(upload("small", 100, 4, &r), 201); /* 100 x 5 x 4 = 2000 bytes */
    hresp_free(&r);
    db_exec("UPDATE users SET quota_storage_bytes = 10000 WHERE id = 1");
    /* 2000 x 5 x 4 = 40000 bytes: refused while it arrives */
    assert_int_equal(upload("big", 2000, 4, &r), 507);
    assert_non_null(strstr(r.body, "storage_bytes"));
    assert_non_null(strstr(r.body, "limit 10000"));
    assert_non_null(strstr(r.body, "used 2000"));
    hresp_free(&r);
    /* 300 x 5 x 4 = 6000 bytes fits once (8000 <= 10000), not twice */
    assert_int_equal(upload("fits", 300, 4, &r), 201);
    hresp_free(&r);
    assert_int_equal(upload("again", 300, 4, &r), 507);
    hresp_free(&r);
    assert_int_equal(srv_finish(&s), 0);
}

typedef struct {
    pthread_barrier_t *go;
    long status;
} up_arg;

static void *upload_thread(void *va)
{
    up_arg *a = va;
    char *csv = make_csv(300, 4);
    hresp r;
    pthread_barrier_wait(a->go);
    a->status =
        http_do(&s, "POST", "/api/v1/datasets?name=par", "text/csv", csv, strlen(csv), NULL, &r);
    hresp_free(&r);
    free(csv);
    return NULL;
}

/* Two uploads of 6000 bytes at once under a 10000-byte quota: each fits alone, so both pass the
 * check while they arrive; the store's check inside the insert transaction lets one in. */
static void storage_quota_parallel(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    db_exec("UPDATE users SET quota_storage_bytes = 10000 WHERE id = 1");
    for (int round = 0; round < 3; round++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        up_arg a[2] = {{&go, 0}, {&go, 0}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, upload_thread, &a[i]);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        int ok = (a[0].status == 201) + (a[1].status == 201);
        int full = (a[0].status == 507) + (a[1].status == 507);
        assert_int_equal(ok, 1);
        assert_int_equal(full, 1);
        long st;
        json_t *l = get_json(&s, "/api/v1/datasets", &st);
        json_t *items = json_object_get(l, "items");
        assert_int_equal(json_array_size(items), 1);
        char path[96];
        snprintf(path, sizeof path, "/api/v1/datasets/%s", str(json_array_get(items, 0), "id"));
        json_decref(l);
        hresp r;
        assert_int_equal(http_do(&s, "DELETE", path, NULL, NULL, 0, NULL, &r), 204);
        hresp_free(&r);
    }
    assert_int_equal(srv_finish(&s), 0);
}

static void active_runs_quota(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    hresp r;
    assert_int_equal(upload("d", 500, 8, &r), 201);
    hresp_free(&r);
    db_exec("UPDATE users SET quota_active_runs = 2 WHERE id = 1");
    char a[32], b[32];
    assert_int_equal(submit("a", 100000, 32, a, NULL), 202);
    assert_int_equal(submit("b", 100000, 32, b, NULL), 202);
    json_t *j = NULL;
    assert_int_equal(submit("c", 10, 32, NULL, &j), 429);
    const char *detail = str(j, "detail");
    assert_non_null(strstr(detail, "active_runs"));
    assert_non_null(strstr(detail, "limit 2"));
    assert_non_null(strstr(detail, "used 2"));
    json_decref(j);
    cancel(a);
    json_decref(wait_run(&s, a, 30));
    assert_int_equal(submit("c", 1, 4, NULL, NULL), 202); /* a place freed */
    cancel(b);
    assert_int_equal(srv_finish(&s), 0);
}

static void models_quota(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    hresp r;
    assert_int_equal(upload("d", 200, 4, &r), 201);
    hresp_free(&r);
    db_exec("UPDATE users SET quota_models = 1 WHERE id = 1");
    char id[32];
    assert_int_equal(submit("m1", 2, 4, id, NULL), 202);
    json_t *done = wait_run(&s, id, 60);
    assert_string_equal(str(done, "status"), "succeeded");
    json_decref(done);
    json_t *j = NULL;
    assert_int_equal(submit("m2", 2, 4, NULL, &j), 429);
    assert_non_null(strstr(str(j, "detail"), "quota models"));
    json_decref(j);
    assert_int_equal(submit("m1", 2, 4, id, NULL), 202); /* a new version of an owned model */
    json_decref(wait_run(&s, id, 60));
    /* import: a new name is refused, a version of an owned model is not */
    hresp ex;
    assert_int_equal(
        http_do(&s, "GET", "/api/v1/models/m1/versions/1/export", NULL, NULL, 0, NULL, &ex), 200);
    assert_int_equal(
        http_do(&s, "POST", "/api/v1/models/m9/versions", NULL, ex.body, ex.len, NULL, &r), 429);
    assert_non_null(strstr(r.body, "quota models"));
    hresp_free(&r);
    assert_int_equal(
        http_do(&s, "POST", "/api/v1/models/m1/versions", NULL, ex.body, ex.len, NULL, &r), 201);
    hresp_free(&r);
    db_exec("UPDATE users SET quota_storage_bytes = 100 WHERE id = 1");
    assert_int_equal(
        http_do(&s, "POST", "/api/v1/models/m1/versions", NULL, ex.body, ex.len, NULL, &r), 507);
    assert_non_null(strstr(r.body, "storage_bytes"));
    hresp_free(&r);
    hresp_free(&ex);
    assert_int_equal(srv_finish(&s), 0);
}

static void predict_quota(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    hresp r;
    assert_int_equal(upload("d", 200, 4, &r), 201);
    hresp_free(&r);
    char id[32];
    assert_int_equal(submit("p", 2, 4, id, NULL), 202);
    json_decref(wait_run(&s, id, 60));
    db_exec("UPDATE users SET quota_predict_per_second = 2 WHERE id = 1");
    const char *body = "{\"instances\":[[0.1,0.2,0.3,0.4]]}";
    int ok = 0, limited = 0;
    for (int i = 0; i < 8; i++) {
        long st = http_do(&s, "POST", "/v1/models/p:predict", NULL, body, strlen(body), NULL, &r);
        if (st == 200) ok++;
        if (st == 429) {
            limited++;
            assert_non_null(strstr(r.body, "predict_per_second"));
            assert_true(atoi(r.retry_after) >= 1);
        }
        hresp_free(&r);
    }
    assert_true(ok >= 2 && ok <= 4); /* the burst of 2, and a refill if the loop is slow */
    assert_int_equal(ok + limited, 8);
    assert_int_equal(srv_finish(&s), 0);
}

/* Waits until run id is queued with a reason; returns its JSON (new) or NULL. */
static json_t *wait_paused(const char *id, double timeout_s)
{
    for (double t = 0; t < timeout_s; t += 0.1) {
        json_t *j = get_run(id);
        if (strcmp(str(j, "status"), "queued") == 0 && json_object_get(j, "reason")) return j;
        if (strcmp(str(j, "status"), "running") && strcmp(str(j, "status"), "queued")) {
            fprintf(stderr, "run %s ended %s\n", id, str(j, "status"));
            json_decref(j);
            return NULL;
        }
        json_decref(j);
        sleep_s(0.1);
    }
    return NULL;
}

static void train_seconds_pause_and_resume(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    hresp r;
    assert_int_equal(upload("d", 8000, 16, &r), 201);
    hresp_free(&r);
    db_exec("UPDATE users SET quota_train_seconds_per_day = 1 WHERE id = 1");
    /* about 0.1 CPU-second an epoch (all of the run's threads): the budget is spent after some
     * ten of them */
    char id[32];
    assert_int_equal(submit_h("t", 40, "256,256", id, NULL), 202);
    json_t *p = wait_paused(id, 120);
    assert_non_null(p);
    assert_non_null(strstr(str(p, "reason"), "train_seconds_per_day"));
    assert_non_null(strstr(str(p, "reason"), "limit 1"));
    int epoch = (int)json_integer_value(json_object_get(json_object_get(p, "progress"), "epoch"));
    assert_true(epoch >= 1 && epoch < 40);
    json_decref(p);
    /* a run created while the budget is spent is accepted and waits, saying why */
    char id2[32];
    json_t *j = NULL;
    assert_int_equal(submit("t2", 1, 4, id2, &j), 202);
    assert_string_equal(str(j, "status"), "queued");
    assert_non_null(strstr(str(j, "reason"), "train_seconds_per_day"));
    json_decref(j);
    /* kill -9 and restart: the ledger is durable, so both still wait */
    srv_stop(&s, SIGKILL);
    assert_int_equal(srv_restart(&s, NULL), 0);
    sleep_s(1.5);
    p = get_run(id);
    assert_string_equal(str(p, "status"), "queued");
    assert_non_null(json_object_get(p, "reason"));
    json_decref(p);
    p = get_run(id2);
    assert_string_equal(str(p, "status"), "queued");
    json_decref(p);
    /* raised: it resumes from its checkpoint and finishes */
    db_exec("UPDATE users SET quota_train_seconds_per_day = NULL WHERE id = 1");
    json_t *done = wait_run(&s, id, 300);
    assert_non_null(done);
    assert_string_equal(str(done, "status"), "succeeded");
    assert_null(json_object_get(done, "reason"));
    assert_true(json_integer_value(json_object_get(done, "resumes")) >= 1);
    json_decref(done);
    done = wait_run(&s, id2, 60);
    assert_string_equal(str(done, "status"), "succeeded");
    json_decref(done);
    assert_int_equal(srv_finish(&s), 0);
}

/* ---- with real students (users routes): the flags' defaults, /me's usage, PATCH ---- */

#define ADMIN "quota-admin-key-0123456789"

/* One request as `key`; body JSON or NULL. Returns the status; *out the parsed body (new) or
 * NULL to drop. */
static long as(const char *key, const char *method, const char *path, const char *body,
               json_t **out)
{
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    hresp r;
    long st = http_do(&s, method, path, body ? "application/json" : NULL, body,
                      body ? strlen(body) : 0, auth, &r);
    if (out) *out = hresp_json(&r);
    hresp_free(&r);
    return st;
}

/* Creates student `name`; its key into key (64 bytes). */
static void student(const char *name, char *key)
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"student\"}", name);
    json_t *j = NULL;
    assert_int_equal(as(ADMIN, "POST", "/api/v1/users", body, &j), 201);
    snprintf(key, 64, "%s", json_string_value(json_object_get(json_object_get(j, "key"), "key")));
    json_decref(j);
}

/* Uploads rows x (features + y) as `key`; the dataset id into ds (24 bytes). */
static void upload_as(const char *key, const char *name, int rows, int features, char *ds)
{
    char *csv = make_csv(rows, features);
    char path[128], auth[160];
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    hresp r;
    assert_int_equal(http_do(&s, "POST", path, "text/csv", csv, strlen(csv), auth, &r), 201);
    free(csv);
    json_t *j = hresp_json(&r);
    snprintf(ds, 24, "%s", str(j, "id"));
    json_decref(j);
    hresp_free(&r);
}

static long run_as(const char *key, const char *ds, const char *model, int epochs, char id[32])
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"%s\",\"params\":{\"hidden\":[32],\"epochs\":%d,"
             "\"batch_size\":16,\"seed\":7}}",
             ds, model, epochs);
    json_t *j = NULL;
    long st = as(key, "POST", "/api/v1/runs", body, &j);
    if (id) snprintf(id, 32, "%s", st == 202 ? str(j, "id") : "");
    json_decref(j);
    return st;
}

/* run_as with params.priority "high". */
static long run_high_as(const char *key, const char *ds, const char *model, char id[32],
                        json_t **out)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"dataset_id\":\"%s\",\"task\":\"classification\",\"target\":\"y\","
             "\"model_name\":\"%s\",\"params\":{\"hidden\":[32],\"epochs\":100000,"
             "\"priority\":\"high\"}}",
             ds, model);
    json_t *j = NULL;
    long st = as(key, "POST", "/api/v1/runs", body, &j);
    if (id) snprintf(id, 32, "%s", st == 202 ? str(j, "id") : "");
    if (out)
        *out = j;
    else
        json_decref(j);
    return st;
}

/* Until run id leaves "queued" (as `bearer`); its JSON (new). */
static json_t *wait_started(const char *id)
{
    for (int t = 0; t < 600; t++) {
        json_t *j = get_run(id);
        if (strcmp(str(j, "status"), "queued") != 0) return j;
        json_decref(j);
        sleep_s(0.1);
    }
    return NULL;
}

static long long usage_of(json_t *me, const char *quota, const char *what)
{
    json_t *v = json_object_get(json_object_get(json_object_get(me, "usage"), quota), what);
    return json_is_null(v) ? -1 : (long long)json_integer_value(v);
}

/* The --quota-* flags bind a student (not the flag-key admin); /me reports use against each;
 * a PATCHed override wins within the cache's second. */
static void student_defaults_and_me_usage(void **state)
{
    (void)state;
    const char *args[] = {"--api-key",
                          ADMIN ":admin",
                          "--quota-storage-bytes",
                          "5000",
                          "--quota-active-runs",
                          "1",
                          "--quota-models",
                          "4",
                          "--quota-train-seconds-per-day",
                          "3600",
                          "--quota-predict-per-second",
                          "10",
                          NULL};
    assert_int_equal(srv_start(&s, args), 0);
    char ann[64], ds[24], id[32], id2[32];
    student("ann", ann);
    upload_as(ann, "d", 100, 4, ds); /* 2000 bytes */
    json_t *me = NULL;
    assert_int_equal(as(ann, "GET", "/api/v1/me", NULL, &me), 200);
    assert_int_equal(usage_of(me, "storage_bytes", "used"), 2000);
    assert_int_equal(usage_of(me, "storage_bytes", "limit"), 5000);
    assert_int_equal(usage_of(me, "active_runs", "used"), 0);
    assert_int_equal(usage_of(me, "active_runs", "limit"), 1);
    assert_int_equal(usage_of(me, "models", "limit"), 4);
    assert_int_equal(usage_of(me, "train_seconds_per_day", "limit"), 3600);
    assert_int_equal(usage_of(me, "predict_per_second", "limit"), 10);
    json_decref(me);
    assert_int_equal(run_as(ann, ds, "a1", 100000, id), 202);
    assert_int_equal(run_as(ann, ds, "a2", 1, NULL), 429);   /* the flag's default */
    assert_int_equal(run_as(ADMIN, ds, "x1", 1, NULL), 202); /* the admin: unlimited */
    assert_int_equal(run_as(ADMIN, ds, "x2", 1, NULL), 202);
    assert_int_equal(
        as(ADMIN, "PATCH", "/api/v1/users/ann", "{\"quotas\":{\"active_runs\":2}}", NULL), 200);
    sleep_s(1.2);
    assert_int_equal(run_as(ann, ds, "a2", 100000, id2), 202);
    bearer = ADMIN;
    assert_int_equal(wait_epoch_of(id, 1, 60), 0);
    assert_int_equal(as(ann, "GET", "/api/v1/me", NULL, &me), 200);
    assert_int_equal(usage_of(me, "active_runs", "used"), 2);
    assert_int_equal(usage_of(me, "active_runs", "limit"), 2);
    assert_true(usage_of(me, "train_seconds_per_day", "used") >= 1); /* ceil of the charges */
    json_decref(me);
    /* an admin reads the same usage on the user (the Users panel's per-user usage) */
    assert_int_equal(as(ADMIN, "GET", "/api/v1/users/ann", NULL, &me), 200);
    assert_int_equal(usage_of(me, "active_runs", "used"), 2);
    assert_int_equal(usage_of(me, "active_runs", "limit"), 2);
    assert_true(usage_of(me, "storage_bytes", "used") > 0);
    json_decref(me);
    /* the admin's /me: unlimited (null limits) */
    assert_int_equal(as(ADMIN, "GET", "/api/v1/me", NULL, &me), 200);
    assert_int_equal(usage_of(me, "active_runs", "limit"), -1);
    json_decref(me);
    cancel(id);
    cancel(id2);
    assert_int_equal(srv_finish(&s), 0);
}

/* --workers 1: student A submits ten runs, then student B one while A's first trains (and has
 * been charged its epochs). When A's first ends, B's run starts next, before A's second. */
static void fair_share_newcomer_second(void **state)
{
    (void)state;
    const char *args[] = {"--api-key", ADMIN ":admin", "--workers", "1", NULL};
    assert_int_equal(srv_start(&s, args), 0);
    char ka[64], kb[64], da[24], db[24], ids[11][32];
    student("a", ka);
    student("b", kb);
    upload_as(ka, "da", 1000, 8, da);
    upload_as(kb, "db", 1000, 8, db);
    assert_int_equal(run_as(ka, da, "a0", 100000, ids[0]), 202);
    for (int i = 1; i < 10; i++) {
        char m[16];
        snprintf(m, sizeof m, "a%d", i);
        assert_int_equal(run_as(ka, da, m, 100000, ids[i]), 202);
    }
    bearer = ADMIN;
    assert_int_equal(wait_epoch_of(ids[0], 2, 60), 0);
    assert_int_equal(run_as(kb, db, "b", 100000, ids[10]), 202);
    cancel(ids[0]);
    json_t *b = NULL;
    for (int t = 0; t < 600; t++) { /* until B's run leaves the queue */
        b = get_run(ids[10]);
        if (strcmp(str(b, "status"), "queued") != 0) break;
        json_decref(b);
        b = NULL;
        sleep_s(0.1);
    }
    assert_non_null(b);
    assert_string_equal(str(b, "status"), "running");
    json_decref(b);
    json_t *a1 = get_run(ids[1]);
    assert_string_equal(str(a1, "status"), "queued"); /* A's second still waits */
    json_decref(a1);
    for (int i = 1; i <= 10; i++) cancel(ids[i]);
    assert_int_equal(srv_finish(&s), 0);
}

/* params.priority "high": a student's is 403 naming the rule; the admin's starts ahead of the
 * fair-share order (before the run of a student who trained nothing). */
static void priority_high_jumps(void **state)
{
    (void)state;
    const char *args[] = {"--api-key", ADMIN ":admin", "--workers", "1", NULL};
    assert_int_equal(srv_start(&s, args), 0);
    bearer = ADMIN;
    char kb[64], db[24], first[32], b[32], high[32];
    student("b", kb);
    upload_as(kb, "db", 500, 8, db);
    json_t *j = NULL;
    assert_int_equal(run_high_as(kb, db, "hb", NULL, &j), 403);
    assert_string_equal(str(json_array_get(json_object_get(j, "errors"), 0), "field"),
                        "params.priority");
    assert_non_null(strstr(str(j, "detail"), "staff and admin"));
    json_decref(j);
    assert_int_equal(run_as(ADMIN, db, "x0", 100000, first), 202);
    assert_int_equal(wait_epoch_of(first, 2, 60), 0); /* the admin has trained */
    assert_int_equal(run_as(kb, db, "b", 100000, b), 202);
    assert_int_equal(run_high_as(ADMIN, db, "xh", high, &j), 202);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "params"), "priority")), "high");
    json_decref(j);
    cancel(first);
    j = wait_started(high);
    assert_non_null(j);
    assert_string_equal(str(j, "status"), "running");
    json_decref(j);
    j = get_run(b);
    assert_string_equal(str(j, "status"), "queued");
    json_decref(j);
    cancel(high);
    cancel(b);
    assert_int_equal(srv_finish(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(storage_quota, teardown),
        cmocka_unit_test_teardown(storage_quota_parallel, teardown),
        cmocka_unit_test_teardown(active_runs_quota, teardown),
        cmocka_unit_test_teardown(models_quota, teardown),
        cmocka_unit_test_teardown(predict_quota, teardown),
        cmocka_unit_test_teardown(train_seconds_pause_and_resume, teardown),
        cmocka_unit_test_teardown(student_defaults_and_me_usage, teardown),
        cmocka_unit_test_teardown(fair_share_newcomer_second, teardown),
        cmocka_unit_test_teardown(priority_high_jumps, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
