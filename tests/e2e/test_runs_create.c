/* test_runs_create.c — POST /api/v1/runs under concurrency and store errors.
 * --max-queued-runs holds under concurrent creates: with one worker busy on a long run and a
 * limit of 3, 24 POST /api/v1/runs fired at once from 24 threads (8 HTTP threads in the daemon)
 * make exactly 3 queued runs; the other 21 get 429 with Retry-After. The limit is counted in the
 * same store transaction as the insert, so no two creates can both take the last place.
 * A validation dataset the store cannot read (its column rows damaged behind the daemon's back
 * with sqlite3) is answered with a problem naming it, as the training dataset is, not with the
 * bare 500 of a handler that wrote no response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_POSTS 24
#define LIMIT   3

typedef struct {
    srv *s;
    pthread_barrier_t *go;
    atomic_int *accepted, *refused, *other;
} poster;

static void *post_one(void *va)
{
    poster *p = va;
    const char *body = "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
                       "\"params\":{\"hidden\":[4],\"epochs\":1}}";
    hresp r;
    pthread_barrier_wait(p->go);
    long st = http_do(p->s, "POST", "/api/v1/runs", NULL, body, strlen(body), NULL, &r);
    if (st == 202)
        atomic_fetch_add(p->accepted, 1);
    else if (st == 429 && strcmp(r.retry_after, "30") == 0)
        atomic_fetch_add(p->refused, 1);
    else {
        fprintf(stderr, "POST /api/v1/runs answered %ld: %s\n", st, r.body);
        atomic_fetch_add(p->other, 1);
    }
    hresp_free(&r);
    return NULL;
}

static srv s; /* static: the teardown kills it when an assertion fails half-way */

static int kill_daemon(void **state)
{
    (void)state;
    srv_cleanup(&s);
    return 0;
}

static void concurrent_creates_respect_the_limit(void **state)
{
    (void)state;
    const char *flags[] = {"--max-queued-runs", "3", "--workers", "1", "--threads", "8", NULL};
    assert_int_equal(srv_start(&s, flags), 0);
    /* a dataset: 200 rows, 2 features, 2 classes */
    char csv[200 * 32 + 16], *c = csv;
    c += sprintf(c, "a,b,y\n");
    for (int i = 0; i < 200; i++) c += sprintf(c, "%d,%d,%d\n", i, (i * 7) % 13, i % 2);
    hresp r;
    assert_int_equal(
        http_do(&s, "POST", "/api/v1/datasets?name=q", "text/csv", csv, strlen(csv), NULL, &r),
        201);
    hresp_free(&r);
    /* the worker is busy: every later run waits in the queue */
    long st;
    json_t *j = post_json(&s, "/api/v1/runs",
                          "{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
                          "\"params\":{\"hidden\":[64],\"epochs\":100000}}",
                          &st);
    assert_int_equal(st, 202);
    char busy[32];
    snprintf(busy, sizeof busy, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    assert_int_equal(wait_epoch(&s, busy, 1, 60), 0);

    atomic_int accepted = 0, refused = 0, other = 0;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N_POSTS);
    pthread_t th[N_POSTS];
    poster p = {&s, &go, &accepted, &refused, &other};
    for (int i = 0; i < N_POSTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, post_one, &p), 0);
    for (int i = 0; i < N_POSTS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);

    j = get_json(&s, "/api/v1/runs?status=queued", &st);
    assert_int_equal(st, 200);
    long queued = (long)json_integer_value(json_object_get(j, "total"));
    json_decref(j);
    fprintf(stderr, "%d accepted, %d refused with 429, %d other; %ld queued (limit %d)\n",
            atomic_load(&accepted), atomic_load(&refused), atomic_load(&other), queued, LIMIT);
    assert_int_equal(atomic_load(&other), 0);
    assert_int_equal(queued, LIMIT);
    assert_int_equal(atomic_load(&accepted), LIMIT);
    assert_int_equal(atomic_load(&refused), N_POSTS - LIMIT);

    char path[96];
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", busy);
    j = post_json(&s, path, "{}", &st);
    assert_int_equal(st, 202);
    json_decref(j);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
}

static void csv_upload(srv *srv_, const char *name)
{
    char csv[200 * 32 + 16], *c = csv, path[96];
    c += sprintf(c, "a,b,y\n");
    for (int i = 0; i < 200; i++) c += sprintf(c, "%d,%d,%d\n", i, (i * 7) % 13, i % 2);
    snprintf(path, sizeof path, "/api/v1/datasets?name=%s", name);
    hresp r;
    assert_int_equal(http_do(srv_, "POST", path, "text/csv", csv, strlen(csv), NULL, &r), 201);
    hresp_free(&r);
}

/* The problem body of POST /api/v1/runs with body; status into *st. */
static json_t *create(const char *body, long *st, char *ctype, size_t ctcap)
{
    hresp r;
    *st = http_do(&s, "POST", "/api/v1/runs", NULL, body, strlen(body), NULL, &r);
    snprintf(ctype, ctcap, "%s", r.content_type);
    json_t *j = hresp_json(&r);
    hresp_free(&r);
    return j;
}

static void unreadable_validation_dataset_is_answered(void **state)
{
    (void)state;
    assert_int_equal(srv_start(&s, NULL), 0);
    csv_upload(&s, "train");
    csv_upload(&s, "val");
    /* damage ds_2 in the store: a column row goes missing */
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "sqlite3 '%s/mlpd.db' 'DELETE FROM dataset_columns WHERE dataset_id = 2 AND idx = 0;'",
             s.dir);
    int rc = system(cmd);
    if (rc != 0) fail_msg("sqlite3 (needed to damage the store) failed: %s (exit %d)", cmd, rc);
    long st_train, st_val;
    char ct[128];
    /* the same damage on the training dataset: the answer the validation one must match */
    json_t *jt = create("{\"dataset_id\":\"ds_2\",\"task\":\"classification\",\"target\":\"y\"}",
                        &st_train, ct, sizeof ct);
    assert_non_null(jt);
    json_decref(jt);
    json_t *jv = create("{\"dataset_id\":\"ds_1\",\"task\":\"classification\",\"target\":\"y\","
                        "\"validation\":{\"dataset_id\":\"ds_2\"}}",
                        &st_val, ct, sizeof ct);
    assert_non_null(jv);
    const char *detail = json_string_value(json_object_get(jv, "detail"));
    fprintf(stderr, "training dataset damaged: %ld; validation dataset damaged: %ld %s\n", st_train,
            st_val, detail ? detail : "(no detail)");
    assert_non_null(strstr(ct, "application/problem+json"));
    assert_non_null(detail);
    if (!strstr(detail, "validation dataset ds_2 could not be read"))
        fail_msg("the store error was not answered by the handler: %ld %s", st_val, detail);
    assert_int_equal(st_val, st_train);
    json_decref(jv);
    /* and no run was created */
    long st;
    json_t *j = get_json(&s, "/api/v1/runs", &st);
    assert_int_equal((int)json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    assert_int_equal(srv_stop(&s, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(concurrent_creates_respect_the_limit, kill_daemon),
        cmocka_unit_test_teardown(unreadable_validation_dataset_is_answered, kill_daemon),
    };
    return cmocka_run_group_tests_name("e2e/runs_create", tests, NULL, NULL);
}
