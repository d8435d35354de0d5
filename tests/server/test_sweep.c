/* test_sweep.c — the sweep service's successive-halving rule (server/sweep.c) and the sweeps of
 * the store (server/store_sweeps.c): the better half survives a rung, ties going to the earlier
 * run; a sweep keeps its runs in generation order with their best validation metrics; the rung's
 * losses are those recorded at that epoch; a pruned run's reason survives its cancel; deleting a
 * sweep keeps its runs, deleting a run drops it from its sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store.h"
#include "sweep.h"
#include "tmpdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_halving_rule(void **state)
{
    (void)state;
    const double one[] = {0.5};
    assert_int_equal(sweep_halving_prunes(one, 1, 0), 0); /* alone at the rung: kept */
    const double two[] = {0.5, 0.7};
    assert_int_equal(sweep_halving_prunes(two, 2, 0), 0);
    assert_int_equal(sweep_halving_prunes(two, 2, 1), 1);
    const double three[] = {0.4, 0.2, 0.9}; /* keep ceil(3/2) = 2 */
    assert_int_equal(sweep_halving_prunes(three, 3, 0), 0);
    assert_int_equal(sweep_halving_prunes(three, 3, 1), 0);
    assert_int_equal(sweep_halving_prunes(three, 3, 2), 1);
    const double four[] = {0.3, 0.1, 0.4, 0.2}; /* keep 2: the 0.1 and the 0.2 */
    int pruned[4] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++) assert_int_equal(sweep_halving_prunes(four, 4, i), pruned[i]);
    const double tie[] = {0.5, 0.5}; /* a tie goes to the earlier run */
    assert_int_equal(sweep_halving_prunes(tie, 2, 0), 0);
    assert_int_equal(sweep_halving_prunes(tie, 2, 1), 1);
}

typedef struct {
    char dir[64];
    store *s;
    char ds[24];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    mlp_error err = {0};
    if (tmpdir_store("sweep", f->dir, sizeof f->dir, &f->s)) return -1;
    /* a one-column dataset: the runs only need one to exist */
    ds_table t = {0};
    ds_column col = {0};
    float data[2] = {1, 2};
    col.name = "x";
    col.type = COL_NUMERIC;
    col.max = 2;
    col.min = 1;
    t.rows = 2;
    t.cols = 1;
    t.columns = &col;
    t.data = data;
    store_dataset d;
    if (store_dataset_create(f->s, "d", &t, &d, &err) != MLP_OK) return -1;
    snprintf(f->ds, sizeof f->ds, "%s", d.id);
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

static void new_run(fixture *f, store_run *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->task, sizeof r->task, "classification");
    snprintf(r->dataset_id, sizeof r->dataset_id, "%s", f->ds);
    r->request_json = "{\"params\":{}}";
    r->epochs = 4;
    r->owner_id = 1;
    mlp_error err = {0};
    assert_int_equal(store_run_create(f->s, r, &err), MLP_OK);
    r->request_json = NULL;
}

static void epoch(fixture *f, const char *id, int e, double val_loss, double acc)
{
    run_metrics m;
    memset(&m, 0, sizeof m);
    m.v[MET_VAL_LOSS] = val_loss;
    m.v[MET_VAL_ACCURACY] = acc;
    m.present = 1u << MET_VAL_LOSS | 1u << MET_VAL_ACCURACY;
    assert_int_equal(store_run_epoch(f->s, id, e, &m, NULL, 0), MLP_OK);
}

static void test_store_sweeps(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    store_sweep sw;
    memset(&sw, 0, sizeof sw);
    sw.request_json = "{\"grid\":{\"learning_rate\":[0.1,0.2,0.3]}}";
    sw.rung = 2;
    assert_int_equal(store_sweep_create(f->s, &sw, &err), MLP_OK);
    assert_string_equal(sw.id, "swp_1");
    sw.request_json = NULL;
    store_run r[3];
    for (int i = 0; i < 3; i++) {
        new_run(f, &r[i]);
        char pj[64];
        snprintf(pj, sizeof pj, "{\"learning_rate\":0.%d}", i + 1);
        assert_int_equal(store_sweep_add_run(f->s, sw.id, i, r[i].id, pj, &err), MLP_OK);
    }
    /* a run is in one sweep at most; unknown sweeps and runs */
    assert_int_equal(store_sweep_add_run(f->s, sw.id, 7, r[0].id, "{}", &err), MLP_ECONFLICT);
    assert_int_equal(store_sweep_add_run(f->s, "swp_42", 0, r[0].id, "{}", &err), MLP_ENOTFOUND);
    assert_int_equal(store_sweep_add_run(f->s, sw.id, 8, "run_999", "{}", &err), MLP_ENOTFOUND);

    char sid[24];
    int rung = 0;
    assert_int_equal(store_sweep_of_run(f->s, r[1].id, sid, &rung), MLP_OK);
    assert_string_equal(sid, sw.id);
    assert_int_equal(rung, 2);
    assert_int_equal(store_sweep_of_run(f->s, "run_999", sid, &rung), MLP_ENOTFOUND);

    /* epochs: run 0 two, run 2 one (it has not reached the rung), run 1 none */
    for (int i = 0; i < 3; i++) assert_int_equal(store_run_start(f->s, r[i].id), MLP_OK);
    epoch(f, r[0].id, 1, 0.9, 0.5);
    epoch(f, r[0].id, 2, 0.6, 0.7);
    epoch(f, r[2].id, 1, 0.8, 0.6);
    char(*ids)[24] = NULL;
    double *vals = NULL;
    int n = 0;
    assert_int_equal(store_sweep_rung_losses(f->s, sw.id, 2, &ids, &vals, &n), MLP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], r[0].id);
    assert_true(fabs(vals[0] - 0.6) < 1e-12);
    free(ids);
    free(vals);
    epoch(f, r[2].id, 2, 0.7, 0.6);
    assert_int_equal(store_sweep_rung_losses(f->s, sw.id, 2, &ids, &vals, &n), MLP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(ids[1], r[2].id); /* generation order */
    assert_true(sweep_halving_prunes(vals, n, 1));
    free(ids);
    free(vals);

    /* pruned: the reason is the run's error and stays once it ends cancelled */
    assert_int_equal(store_sweep_prune(f->s, r[2].id, "pruned by sweep swp_1"), MLP_OK);
    assert_int_equal(store_run_cancel(f->s, r[2].id), MLP_OK);
    store_run got;
    assert_int_equal(store_run_get(f->s, r[2].id, &got), MLP_OK);
    assert_int_equal(got.status, RUN_CANCELLED);
    assert_string_equal(got.error, "pruned by sweep swp_1");
    store_run_clear(&got);
    assert_int_equal(store_sweep_prune(f->s, r[2].id, "again"), MLP_ECONFLICT); /* finished */

    store_sweep g;
    assert_int_equal(store_sweep_get(f->s, sw.id, &g), MLP_OK);
    assert_int_equal(g.n_runs, 3);
    assert_int_equal(g.rung, 2);
    assert_string_equal(g.runs[0].run_id, r[0].id);
    assert_true(fabs(g.runs[0].best_val_loss - 0.6) < 1e-12);
    assert_true(fabs(g.runs[0].best_val_acc - 0.7) < 1e-12);
    assert_true(isnan(g.runs[1].best_val_loss)); /* no epoch yet */
    assert_null(g.runs[1].pruned);
    assert_string_equal(g.runs[2].pruned, "pruned by sweep swp_1");
    assert_string_equal(g.runs[1].params_json, "{\"learning_rate\":0.2}");
    store_sweep_clear(&g);
    store_sweep_clear(&g); /* idempotent */

    store_sweep *items = NULL;
    long total = 0;
    assert_int_equal(store_sweep_list(f->s, 10, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(total, 1);
    assert_null(items[0].runs);
    store_sweeps_free(items, n);

    /* deleting a finished run drops it from the sweep; deleting the sweep keeps the runs */
    assert_int_equal(store_run_delete(f->s, r[2].id), MLP_OK);
    assert_int_equal(store_sweep_get(f->s, sw.id, &g), MLP_OK);
    assert_int_equal(g.n_runs, 2);
    store_sweep_clear(&g);
    assert_int_equal(store_sweep_delete(f->s, sw.id), MLP_OK);
    assert_int_equal(store_sweep_get(f->s, sw.id, &g), MLP_ENOTFOUND);
    assert_int_equal(store_sweep_delete(f->s, sw.id), MLP_ENOTFOUND);
    assert_int_equal(store_run_get(f->s, r[0].id, &got), MLP_OK);
    store_run_clear(&got);
    assert_int_equal(store_sweep_of_run(f->s, r[0].id, sid, &rung), MLP_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_halving_rule),
        cmocka_unit_test_setup_teardown(test_store_sweeps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
