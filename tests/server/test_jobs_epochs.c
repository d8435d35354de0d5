/* test_jobs_epochs.c — store_run_epochs, the one transaction in which a worker commits every
 * epoch its run finished since the last commit (server/jobs.c): all the epochs' points in
 * order, the run's progress at the last one, the checkpoint as the last one's, the usage charge
 * shared between the epochs by their epoch_seconds, and nothing of a refused batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store.h"
#include "tmpdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char dir[64];
    store *s;
    store_run r;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || tmpdir_store("jobs-epochs", f->dir, sizeof f->dir, &f->s)) return -1;
    ds_builder *b = NULL;
    ds_table *t = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    const char *names[] = {"x", "y"};
    if (ds_builder_new(0, &b) || ds_builder_set_columns(b, 2, names, &err)) return -1;
    for (int i = 0; i < 4; i++) {
        float row[2] = {(float)i, (float)(i % 2)};
        if (ds_builder_add_row(b, 2, row, &err)) return -1;
    }
    if (ds_builder_finish(b, &t, &err)) return -1;
    store_dataset d;
    memset(&d, 0, sizeof d);
    if (store_dataset_create(f->s, "e", t, &d, &err)) return -1;
    ds_table_free(t);
    ds_builder_free(b);
    snprintf(f->r.task, sizeof f->r.task, "classification");
    snprintf(f->r.dataset_id, sizeof f->r.dataset_id, "%s", d.id);
    snprintf(f->r.model_name, sizeof f->r.model_name, "m");
    f->r.request_json = strdup("{\"params\":{\"epochs\":9}}");
    f->r.epochs = 9;
    f->r.owner_id = 1;
    if (store_run_create(f->s, &f->r, &err) || store_run_start(f->s, f->r.id)) return -1;
    free(f->r.request_json);
    f->r.request_json = NULL;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tmpdir_store_close(f->s, f->dir);
    free(f);
    return 0;
}

/* Epoch e's metrics: train_loss 1/e, epoch_seconds e (so the charge goes 1:2:3 to epochs 1-3). */
static store_epoch epoch(int e)
{
    store_epoch x;
    memset(&x, 0, sizeof x);
    x.epoch = e;
    run_metrics_set(&x.m, MET_TRAIN_LOSS, 1.0 / e);
    run_metrics_set(&x.m, MET_EPOCH_SECONDS, (double)e);
    return x;
}

/* The steps and train_loss values stored, in the order listed. */
static int losses(fixture *f, int *steps, double *vals, int cap)
{
    metric_id id = MET_TRAIN_LOSS;
    store_metric *pts = NULL;
    int n = 0;
    assert_int_equal(store_run_metrics(f->s, f->r.id, &id, 0, &pts, &n), MLP_OK);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) {
        steps[i] = pts[i].step;
        vals[i] = pts[i].value;
    }
    free(pts);
    return n;
}

static void test_a_batch_commits_every_epoch_with_the_last_checkpoint(void **state)
{
    fixture *f = *state;
    long long now = (long long)time(NULL);
    store_epoch b1[3] = {epoch(1), epoch(2), epoch(3)};
    store_charge ch = {1, 6.0, now};
    assert_int_equal(store_run_epochs(f->s, f->r.id, b1, 3, "ck-3", 4, &ch), MLP_OK);
    int steps[16];
    double vals[16];
    assert_int_equal(losses(f, steps, vals, 16), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(steps[i], i + 1);
        assert_true(vals[i] == 1.0 / (i + 1));
    }
    store_run g;
    assert_int_equal(store_run_get(f->s, f->r.id, &g), MLP_OK);
    assert_int_equal(g.epoch, 3);
    store_run_clear(&g);
    double used = 0;
    assert_int_equal(store_usage_seconds(f->s, 1, now - 10, &used), MLP_OK);
    assert_true(fabs(used - 6.0) < 1e-9);

    /* out of order, or a repeated epoch: refused whole */
    store_epoch bad[2] = {epoch(5), epoch(4)};
    assert_int_equal(store_run_epochs(f->s, f->r.id, bad, 2, NULL, 0, &ch), MLP_EINVAL);
    store_epoch dup[2] = {epoch(4), epoch(4)};
    assert_int_equal(store_run_epochs(f->s, f->r.id, dup, 2, NULL, 0, &ch), MLP_EINVAL);
    assert_int_equal(losses(f, steps, vals, 16), 3);
    assert_int_equal(store_usage_seconds(f->s, 1, now - 10, &used), MLP_OK);
    assert_true(fabs(used - 6.0) < 1e-9);

    /* a batch without a checkpoint (a run cancelled mid-epoch): the points, the old checkpoint */
    store_epoch b2[2] = {epoch(4), epoch(5)};
    assert_int_equal(store_run_epochs(f->s, f->r.id, b2, 2, NULL, 0, NULL), MLP_OK);
    assert_int_equal(losses(f, steps, vals, 16), 5);
    void *ck = NULL;
    size_t len = 0;
    int ep = 0;
    assert_int_equal(store_run_resume_point(f->s, f->r.id, &ck, &len, &ep), MLP_OK);
    assert_int_equal(ep, 3); /* the checkpoint is epoch 3's, the last of its batch */
    assert_int_equal(len, 4);
    assert_memory_equal(ck, "ck-3", 4);
    free(ck);
    assert_int_equal(losses(f, steps, vals, 16), 3);

    /* a run no longer running takes none */
    assert_int_equal(store_run_cancel(f->s, f->r.id), MLP_OK);
    assert_int_equal(store_run_epochs(f->s, f->r.id, b2, 2, NULL, 0, NULL), MLP_ECONFLICT);
    assert_int_equal(store_run_epochs(f->s, f->r.id, b2, 0, NULL, 0, NULL), MLP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_batch_commits_every_epoch_with_the_last_checkpoint,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
