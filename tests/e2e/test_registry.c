/* test_registry.c — the model cache under concurrent publish and delete (server/registry.c).
 *
 * Eight threads predict on "latest" through /v2 (whose answer names the version that served
 * it) and two on explicit recent versions, while a writer publishes a new version (an import of
 * the same exported model) and deletes the one before the previous, for 10 s. Each request logs
 * when it started and finished and which version answered; the writer logs when each publish and
 * each DELETE returned. Afterwards:
 *   - no request that started after a version's DELETE returned was answered by that version
 *     (an explicit-version request for it must get 404);
 *   - a request on "latest" that started after a publish returned was answered by that version
 *     or a newer one (the writer never deletes the newest two, so "latest" only moves forward).
 * Both fail when a lookup that raced a publish stores a stale name -> version pointer, or a load
 * that raced a delete puts the deleted version back in the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READERS_LATEST   8
#define READERS_EXPLICIT 2
#define READERS          (READERS_LATEST + READERS_EXPLICIT)
#define RUN_SECONDS      10.0
#define MAX_LOG          200000 /* requests logged per reader */
#define MAX_VERSIONS     20000

static srv S;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    double t0, t1; /* request sent, answer received */
    int asked;     /* 0 = latest, else the explicit version */
    int version;   /* the version that answered; 0 = 404 */
} req_log;

typedef struct {
    int idx;
    req_log *log;
    int n;
    int errors;
    char err[256];
} reader;

static _Atomic int stop_flag;
static double published_at[MAX_VERSIONS]; /* when the import of version v returned; 0 = never */
static double deleted_at[MAX_VERSIONS];   /* when the DELETE of version v returned; 0 = never */
static _Atomic int newest;                /* the newest published version */
static char *export_doc;                  /* the exported version 1 */

static const char infer_body[] = "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,2],"
                                 "\"datatype\":\"FP32\",\"data\":[0.3,0.7]}]}";

static void *reader_main(void *arg)
{
    reader *rd = arg;
    unsigned seed = 77u + (unsigned)rd->idx;
    while (!atomic_load(&stop_flag) && rd->n < MAX_LOG) {
        int asked = 0;
        char path[128];
        if (rd->idx >= READERS_LATEST) {
            seed = seed * 1103515245u + 12345u;
            int nv = atomic_load(&newest);
            asked = nv - (int)((seed >> 8) % 4); /* the newest, or one of the three before */
            if (asked < 1) asked = 1;
            snprintf(path, sizeof path, "/v2/models/reg/versions/%d/infer", asked);
        } else {
            snprintf(path, sizeof path, "/v2/models/reg/infer");
        }
        req_log *l = &rd->log[rd->n];
        l->asked = asked;
        l->t0 = now_s();
        hresp r;
        long st = http_do(&S, "POST", path, "application/json", infer_body, sizeof infer_body - 1,
                          NULL, &r);
        l->t1 = now_s();
        if (st == 200) {
            json_t *j = hresp_json(&r);
            const char *v = j ? json_string_value(json_object_get(j, "model_version")) : NULL;
            l->version = v ? atoi(v) : -1;
            json_decref(j);
            if (l->version <= 0 && !rd->errors++)
                snprintf(rd->err, sizeof rd->err, "200 without a model_version: %.200s", r.body);
        } else if (st == 404 && asked) {
            l->version = 0;
        } else {
            if (!rd->errors++)
                snprintf(rd->err, sizeof rd->err, "%s: %ld %.200s", path, st, r.body ? r.body : "");
            l->version = -1;
        }
        hresp_free(&r);
        rd->n++;
    }
    return NULL;
}

/* Imports export_doc as a new version; returns it (0 on failure). */
static int publish(void)
{
    hresp r;
    long st = http_do(&S, "POST", "/api/v1/models/reg/versions", "application/json", export_doc,
                      strlen(export_doc), NULL, &r);
    json_t *j = hresp_json(&r);
    int v = st == 201 && j ? (int)json_integer_value(json_object_get(j, "version")) : 0;
    if (!v) fprintf(stderr, "import: %ld %.300s\n", st, r.body ? r.body : "");
    json_decref(j);
    hresp_free(&r);
    return v;
}

static void train_and_export(void)
{
    char csv[4096], *p = csv;
    p += sprintf(p, "x1,x2,kind\n");
    for (int i = 0; i < 40; i++)
        p += sprintf(p, "%.2f,%.2f,%s\n", (i % 2 ? 2.0 : 0.0) + i * 0.01, 1.0 - i * 0.01,
                     i % 2 ? "high" : "low");
    hresp r;
    long st =
        http_do(&S, "POST", "/api/v1/datasets?name=reg", "text/csv", csv, strlen(csv), NULL, &r);
    assert_int_equal(st, 201);
    hresp_free(&r);
    json_t *run = post_json(&S, "/api/v1/runs",
                            "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":"
                            "\"kind\",\"model_name\":\"reg\",\"params\":{\"hidden\":[64,64],"
                            "\"epochs\":2,\"seed\":3}}",
                            &st);
    assert_int_equal(st, 202);
    char id[32];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(run, "id")));
    json_decref(run);
    json_t *done = wait_run(&S, id, 120);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(done, "status")), "succeeded");
    json_decref(done);
    st = http_do(&S, "GET", "/api/v1/models/reg/versions/1/export", NULL, NULL, 0, NULL, &r);
    assert_int_equal(st, 200);
    export_doc = r.body; /* taken */
    r.body = NULL;
    hresp_free(&r);
}

static void publish_delete_under_load(void **state)
{
    (void)state;
    train_and_export();
    published_at[1] = now_s();
    atomic_store(&newest, 1);

    reader rd[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        memset(&rd[i], 0, sizeof rd[i]);
        rd[i].idx = i;
        rd[i].log = calloc(MAX_LOG, sizeof *rd[i].log);
        assert_non_null(rd[i].log);
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }

    int publishes = 0, deletes = 0, writer_errors = 0;
    double t_end = now_s() + RUN_SECONDS;
    while (now_s() < t_end) {
        int v = publish();
        if (v <= 0 || v >= MAX_VERSIONS) {
            writer_errors++;
            break;
        }
        published_at[v] = now_s();
        atomic_store(&newest, v);
        publishes++;
        int old = v - 2; /* keep the newest two */
        if (old >= 1 && deleted_at[old] == 0) {
            char path[96];
            snprintf(path, sizeof path, "/api/v1/models/reg/versions/%d", old);
            hresp r;
            long st = http_do(&S, "DELETE", path, NULL, NULL, 0, NULL, &r);
            hresp_free(&r);
            if (st != 204) {
                fprintf(stderr, "DELETE %s: %ld\n", path, st);
                writer_errors++;
                break;
            }
            deleted_at[old] = now_s();
            deletes++;
        }
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < READERS; i++) pthread_join(th[i], NULL);

    int total = 0, stale_latest = 0, served_deleted = 0, reader_errors = 0;
    for (int i = 0; i < READERS; i++) {
        if (rd[i].errors) {
            fprintf(stderr, "reader %d: %d errors, first: %s\n", i, rd[i].errors, rd[i].err);
            reader_errors += rd[i].errors;
        }
        for (int k = 0; k < rd[i].n; k++) {
            const req_log *l = &rd[i].log[k];
            total++;
            if (l->version <= 0) continue;
            if (deleted_at[l->version] > 0 && l->t0 > deleted_at[l->version]) {
                if (!served_deleted++)
                    fprintf(stderr, "version %d answered a request sent %.6f s after its DELETE\n",
                            l->version, l->t0 - deleted_at[l->version]);
            }
            if (!l->asked) {
                /* the newest version published before this request was sent */
                int want = 0;
                for (int v = l->version + 1; v < MAX_VERSIONS && published_at[v] > 0; v++)
                    if (published_at[v] < l->t0) want = v;
                if (want && !stale_latest++)
                    fprintf(stderr, "latest answered by %d, %.6f s after %d was published\n",
                            l->version, l->t0 - published_at[want], want);
            }
        }
        free(rd[i].log);
    }
    fprintf(stderr, "%d requests, %d publishes, %d deletes; %d stale latest, %d served deleted\n",
            total, publishes, deletes, stale_latest, served_deleted);
    free(export_doc);
    assert_int_equal(writer_errors, 0);
    assert_int_equal(reader_errors, 0);
    assert_true(publishes >= 20);
    assert_true(deletes >= 10);
    assert_true(total >= 1000);
    assert_int_equal(served_deleted, 0);
    assert_int_equal(stale_latest, 0);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    static const char *const extra[] = {"--quiet", "--model-cache", "4", NULL};
    return srv_start(&S, extra);
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
        cmocka_unit_test(publish_delete_under_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
