/* test_quota.c — per-user limits and usage (server/quota.h, server/store_usage.c): staff and
 * admin are unlimited unless overridden, students get the defaults, an override wins; the usage
 * ledger and when a spent train budget frees; the storage and active-run checks inside the
 * insert transactions; what quota_usage_of reports; and the per-user predict buckets. Users are
 * added and overridden with SQL on the store's database, as the users routes would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "quota.h"
#include "store.h"
#include "tmpdir.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    store *s;
    quota *q;
} fixture;

static const quota_limits defaults = {{10000, 2, 60, 3, 5}};

static void sql(fixture *f, const char *text)
{
    char db[128];
    snprintf(db, sizeof db, "%s/mlpd.db", f->dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *err = NULL;
    int rc = sqlite3_exec(h, text, NULL, NULL, &err);
    if (rc) fprintf(stderr, "%s: %s\n", text, err);
    sqlite3_free(err);
    sqlite3_close(h);
    assert_int_equal(rc, SQLITE_OK);
}

/* A fresh quota service: its limits cache starts empty. */
static void renew(fixture *f)
{
    quota_free(f->q);
    f->q = NULL;
    assert_int_equal(quota_new(f->s, &defaults, &f->q), MLP_OK);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tmpdir_store("quota", f->dir, sizeof f->dir, &f->s)) return -1;
    *state = f;
    sql(f, "INSERT INTO users (id, name, role, created_at) VALUES"
           " (2, 'ta', 'staff', 'x'), (3, 'ann', 'student', 'x'), (4, 'bob', 'student', 'x')");
    renew(f);
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    quota_free(f->q);
    tmpdir_store_close(f->s, f->dir);
    free(f);
    return 0;
}

static void limits_by_role_and_override(void **state)
{
    fixture *f = *state;
    quota_limits l;
    for (long long u = 1; u <= 2; u++) { /* admin, staff: unlimited */
        assert_int_equal(quota_limits_of(f->q, u, &l), MLP_OK);
        for (int k = 0; k < QUOTA_N; k++) assert_int_equal(l.v[k], 0);
    }
    assert_int_equal(quota_limits_of(f->q, 3, &l), MLP_OK); /* student: the defaults */
    for (int k = 0; k < QUOTA_N; k++) assert_int_equal(l.v[k], defaults.v[k]);
    assert_int_equal(quota_limits_of(f->q, 99, &l), MLP_OK); /* no row: the defaults */
    assert_int_equal(l.v[QUOTA_MODELS], 3);
    sql(f, "UPDATE users SET quota_models = 7, quota_active_runs = 0 WHERE id = 3");
    sql(f, "UPDATE users SET quota_storage_bytes = 5 WHERE id = 1");
    renew(f);
    assert_int_equal(quota_limits_of(f->q, 3, &l), MLP_OK);
    assert_int_equal(l.v[QUOTA_MODELS], 7);
    assert_int_equal(l.v[QUOTA_ACTIVE_RUNS], 0); /* an override of 0: unlimited */
    assert_int_equal(l.v[QUOTA_STORAGE_BYTES], 10000);
    assert_int_equal(quota_limits_of(f->q, 1, &l), MLP_OK); /* an override binds the admin */
    assert_int_equal(l.v[QUOTA_STORAGE_BYTES], 5);
    assert_int_equal(l.v[QUOTA_MODELS], 0);
    assert_string_equal(quota_name(QUOTA_TRAIN_SECONDS_PER_DAY), "train_seconds_per_day");
}

static void train_budget_and_when_it_frees(void **state)
{
    fixture *f = *state;
    long long now = (long long)time(NULL);
    int spent = 1;
    long long frees = 0;
    char reason[256];
    assert_int_equal(quota_train_spent(f->q, 3, now, &spent, reason, sizeof reason, &frees),
                     MLP_OK);
    assert_int_equal(spent, 0);
    /* 30 s two hours ago, 25 s one hour ago, and 40 s two days ago (outside the window) */
    assert_int_equal(store_usage_charge(f->s, 3, "run_1", 1, 30.0, now - 7200), MLP_OK);
    assert_int_equal(store_usage_charge(f->s, 3, "run_1", 2, 25.0, now - 3600), MLP_OK);
    assert_int_equal(store_usage_charge(f->s, 3, "run_9", 1, 40.0, now - 2 * 86400), MLP_OK);
    assert_int_equal(store_usage_charge(f->s, 4, "run_2", 1, 99.0, now - 10), MLP_OK);
    double used = 0;
    assert_int_equal(store_usage_seconds(f->s, 3, now - 86400, &used), MLP_OK);
    assert_true(used > 54.9 && used < 55.1);
    assert_int_equal(quota_train_spent(f->q, 3, now, &spent, reason, sizeof reason, &frees),
                     MLP_OK);
    assert_int_equal(spent, 0); /* 55 < 60 */
    assert_int_equal(store_usage_charge(f->s, 3, "run_1", 3, 10.0, now - 60), MLP_OK);
    assert_int_equal(quota_train_spent(f->q, 3, now, &spent, reason, sizeof reason, &frees),
                     MLP_OK);
    assert_int_equal(spent, 1); /* 65 >= 60 */
    /* dropping the oldest 30 s leaves 35 <= 59: free when that charge leaves the 24 h window */
    assert_int_equal(frees, now - 7200 + 86400);
    assert_non_null(strstr(reason, "train_seconds_per_day"));
    assert_non_null(strstr(reason, "limit 60"));
    assert_int_equal(quota_train_spent(f->q, 2, now, &spent, NULL, 0, &frees), MLP_OK);
    assert_int_equal(spent, 0); /* staff: unlimited */
    assert_int_equal(store_usage_charge(f->s, 3, "ds_1", 1, 1.0, now), MLP_ENOTFOUND);
}

static ds_table *table(long rows, int cols)
{
    ds_builder *b = NULL;
    ds_table *t = NULL;
    mlp_error err = {0};
    assert_int_equal(ds_builder_new(0, &b), MLP_OK);
    float row[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (long r = 0; r < rows; r++)
        assert_int_equal(ds_builder_add_row(b, cols, row, &err), MLP_OK);
    assert_int_equal(ds_builder_finish(b, &t, &err), MLP_OK);
    ds_builder_free(b);
    return t;
}

static void storage_checked_in_the_insert(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    ds_table *t = table(100, 5); /* 2000 bytes */
    store_dataset d;
    assert_int_equal(store_dataset_create_owned(f->s, "a", t, 3, 5000, &d, &err), MLP_OK);
    assert_int_equal(store_dataset_create_owned(f->s, "b", t, 3, 5000, &d, &err), MLP_OK);
    assert_int_equal(store_dataset_create_owned(f->s, "c", t, 3, 5000, &d, &err), MLP_ENOSPC);
    assert_non_null(strstr(err.msg, "storage_bytes"));
    assert_non_null(strstr(err.msg, "used 4000"));
    assert_int_equal(store_dataset_create_owned(f->s, "c", t, 4, 5000, &d, &err), MLP_OK);
    assert_int_equal(store_dataset_create_owned(f->s, "d", t, 3, 0, &d, &err), MLP_OK);
    ds_table_free(t);
    long long bytes = 0;
    assert_int_equal(store_usage_storage(f->s, 3, &bytes), MLP_OK);
    assert_int_equal(bytes, 6000);
    quota_usage u;
    assert_int_equal(quota_usage_of(f->q, 3, &u), MLP_OK);
    assert_int_equal(u.used[QUOTA_STORAGE_BYTES], 6000);
    assert_int_equal(u.limit[QUOTA_STORAGE_BYTES], 10000);
    assert_int_equal(u.limit[QUOTA_PREDICT_PER_SECOND], 5);
}

static void active_runs_checked_in_the_insert(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    ds_table *t = table(10, 3);
    store_dataset d;
    assert_int_equal(store_dataset_create_owned(f->s, "a", t, 3, 0, &d, &err), MLP_OK);
    ds_table_free(t);
    store_run_quota q = {2, 0};
    store_run r[3];
    for (int i = 0; i < 3; i++) {
        memset(&r[i], 0, sizeof r[i]);
        snprintf(r[i].task, sizeof r[i].task, "classification");
        snprintf(r[i].dataset_id, sizeof r[i].dataset_id, "%s", d.id);
        r[i].request_json = "{}";
        r[i].epochs = 1;
        r[i].owner_id = 3;
    }
    assert_int_equal(store_run_create_quota(f->s, &r[0], 0, &q, &err), MLP_OK);
    assert_int_equal(store_run_create_quota(f->s, &r[1], 0, &q, &err), MLP_OK);
    assert_int_equal(store_run_create_quota(f->s, &r[2], 0, &q, &err), MLP_EBUSY);
    assert_non_null(strstr(err.msg, "active_runs"));
    r[2].owner_id = 4; /* another user's count */
    assert_int_equal(store_run_create_quota(f->s, &r[2], 0, &q, &err), MLP_OK);
    assert_int_equal(store_run_cancel(f->s, r[0].id), MLP_OK);
    r[2].owner_id = 3;
    assert_int_equal(store_run_create_quota(f->s, &r[2], 0, &q, &err), MLP_OK);
    long long n = 0;
    assert_int_equal(store_usage_active_runs(f->s, 3, &n), MLP_OK);
    assert_int_equal(n, 2);
    /* the pause: running -> queued with its reason, which a start clears */
    char reason[64];
    assert_int_equal(store_run_start(f->s, r[1].id), MLP_OK);
    assert_int_equal(store_run_pause(f->s, r[1].id, "quota x"), MLP_OK);
    assert_int_equal(store_run_wait_reason(f->s, r[1].id, reason, sizeof reason), MLP_OK);
    assert_string_equal(reason, "quota x");
    assert_int_equal(store_run_pause(f->s, r[1].id, "quota x"), MLP_ECONFLICT);
    assert_int_equal(store_run_start(f->s, r[1].id), MLP_OK);
    assert_int_equal(store_run_wait_reason(f->s, r[1].id, reason, sizeof reason), MLP_OK);
    assert_string_equal(reason, "");
    /* models: a new name past the quota is refused, an existing one is not */
    store_run_quota qm = {0, 1};
    store_run m;
    memset(&m, 0, sizeof m);
    snprintf(m.task, sizeof m.task, "classification");
    snprintf(m.dataset_id, sizeof m.dataset_id, "%s", d.id);
    snprintf(m.model_name, sizeof m.model_name, "fresh");
    m.request_json = "{}";
    m.owner_id = 3;
    assert_int_equal(store_run_create_quota(f->s, &m, 0, &qm, &err), MLP_OK);
    sql(f, "INSERT INTO models (name, created_at, owner_id) VALUES ('mine', 'x', 3)");
    assert_int_equal(store_run_create_quota(f->s, &m, 0, &qm, &err), MLP_EBUSY);
    assert_non_null(strstr(err.msg, "quota models"));
    snprintf(m.model_name, sizeof m.model_name, "mine");
    assert_int_equal(store_run_create_quota(f->s, &m, 0, &qm, &err), MLP_OK);
}

static void predict_buckets_per_user(void **state)
{
    fixture *f = *state;
    long long lim = 0;
    /* student 3: 5/s, a burst of 5 */
    for (int i = 0; i < 5; i++) assert_int_equal(quota_predict_take(f->q, 3, 100.0, &lim), 0);
    assert_int_equal(lim, 5);
    assert_true(quota_predict_take(f->q, 3, 100.0, &lim) >= 1);
    assert_int_equal(quota_predict_take(f->q, 4, 100.0, &lim), 0); /* bob has his own bucket */
    assert_int_equal(quota_predict_take(f->q, 3, 100.3, &lim), 0); /* refilled 1.5 tokens */
    for (int i = 0; i < 100; i++) assert_int_equal(quota_predict_take(f->q, 2, 100.0, &lim), 0);
    assert_int_equal(lim, 0); /* staff: unlimited */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(limits_by_role_and_override, setup, teardown),
        cmocka_unit_test_setup_teardown(train_budget_and_when_it_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(storage_checked_in_the_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(active_runs_checked_in_the_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(predict_buckets_per_user, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
