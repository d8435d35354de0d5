/* test_batcher.c — the request batcher (server/batcher.c) on two real models held from the
 * registry: requests for one model are gathered in arrival order while another model's request
 * keeps its place; a batch holds at most BATCHER_MAX_ROWS rows; every request gets its own rows
 * of the output (what reg_model_predict gives for them alone, within float rounding);
 * batcher_free computes what is still queued; batcher_wants' rules. A long queue delay
 * (timeout_us) makes the gathering deterministic: the compute thread waits for it after the first
 * request while the test submits the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "batcher.h"
#include "bundle.h"
#include "cpusched.h"
#include "metrics.h"
#include "net.h"
#include "registry.h"
#include "store.h"
#include "tmpdir.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CALLS 32

static struct {
    char dir[128];
    store *s;
    registry *reg;
    sched *sc;
    reg_model *a, *b; /* a: 2 inputs, 1 output; b: 3 inputs, 2 outputs */
} T;

typedef struct {
    int id;
    const reg_model *m;
    int rows;
    float X[BATCHER_MAX_ROWS * 3];
} req;

static struct {
    pthread_mutex_t mu;
    int n;
    int order[MAX_CALLS]; /* request ids in callback order */
    int bad;              /* answers that differ from the model on the rows alone */
} C = {PTHREAD_MUTEX_INITIALIZER, 0, {0}, 0};

static void add_model(const char *name, int n_in, int n_out, reg_model **out)
{
    net_spec sp = {.task = TASK_REGRESSION,
                   .n_in = n_in,
                   .n_out = n_out,
                   .n_hidden = 1,
                   .hidden = {5},
                   .act = ACT_TANH,
                   .out_act = ACT_LINEAR,
                   .loss = LOSS_SQUARED};
    net *n = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(net_new(&sp, &n, &err), MLP_OK);
    char *feat[] = {"x", "y", "z"};
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(bundle_encode(n, n_in, feat, 0, NULL, &blob, &len), MLP_OK);
    int v = 0;
    assert_int_equal(
        store_model_add_version(T.s, name, "", "regression", n_in, n_out, "{}", blob, len, &v),
        MLP_OK);
    free(blob);
    net_free(n);
    assert_int_equal(reg_get(T.reg, name, 0, NULL, out, &err), MLP_OK);
}

static int setup(void **state)
{
    (void)state;
    if (tmpdir_store("batcher", T.dir, sizeof T.dir, &T.s) != 0) return -1;
    if (reg_new(T.s, 4, &T.reg) != MLP_OK) return -1;
    sched_opts so = {0};
    if (sched_new(&so, &T.sc) != MLP_OK) return -1;
    add_model("a", 2, 1, &T.a);
    add_model("b", 3, 2, &T.b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    reg_release(T.reg, T.a);
    reg_release(T.reg, T.b);
    reg_free(T.reg);
    sched_free(T.sc);
    tmpdir_store_close(T.s, T.dir);
    return 0;
}

/* The batcher's counters from the exposition: forward passes and rows. */
static void counters(double *batches, double *rows)
{
    size_t len = 0;
    char *t = metrics_render(NULL, &len);
    assert_non_null(t);
    const char *p = strstr(t, "\nmlpd_inference_batches_total ");
    const char *q = strstr(t, "\nmlpd_inference_batched_rows_total ");
    assert_non_null(p);
    assert_non_null(q);
    *batches = strtod(p + strlen("\nmlpd_inference_batches_total "), NULL);
    *rows = strtod(q + strlen("\nmlpd_inference_batched_rows_total "), NULL);
    free(t);
}

static void done(void *ctx, mlp_err rc, const float *Y, int rows)
{
    req *r = ctx;
    const int n_in = reg_model_spec(r->m)->n_in, n_out = reg_model_spec(r->m)->n_out;
    float want[BATCHER_MAX_ROWS * 2];
    float *s = malloc(reg_model_scratch_floats(r->m, rows) * sizeof *s);
    int bad = rc != MLP_OK || !Y || rows != r->rows || !s ||
              reg_model_predict(r->m, r->X, rows, want, s) != MLP_OK;
    for (int i = 0; !bad && i < rows * n_out; i++)
        bad = fabsf(Y[i] - want[i]) > 1e-5f * fmaxf(1.0f, fabsf(want[i]));
    (void)n_in;
    free(s);
    pthread_mutex_lock(&C.mu);
    if (C.n < MAX_CALLS) C.order[C.n++] = r->id;
    C.bad += bad;
    pthread_mutex_unlock(&C.mu);
}

static void fill(req *r, int id, const reg_model *m, int rows)
{
    r->id = id;
    r->m = m;
    r->rows = rows;
    int n_in = reg_model_spec(m)->n_in;
    for (int i = 0; i < rows * n_in; i++) r->X[i] = (float)((id * 7 + i * 3) % 11) / 5.0f - 1.0f;
}

static void reset_calls(void)
{
    pthread_mutex_lock(&C.mu);
    C.n = 0;
    C.bad = 0;
    pthread_mutex_unlock(&C.mu);
}

/* a1, b1, a2, a3 queued while the compute thread waits: one pass for a1 a2 a3 (in that order),
 * then b1 in its own. */
static void test_same_model_gathered(void **state)
{
    (void)state;
    reset_calls();
    batcher_opts o = {.threads = 1, .timeout_us = 200000, .min_params = 0};
    batcher *b = NULL;
    assert_int_equal(batcher_new(&o, T.sc, &b), MLP_OK);
    double b0, r0, b1, r1;
    counters(&b0, &r0);
    static req rq[4];
    fill(&rq[0], 1, T.a, 1);
    fill(&rq[1], 2, T.b, 1);
    fill(&rq[2], 3, T.a, 2);
    fill(&rq[3], 4, T.a, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(batcher_submit(b, rq[i].m, rq[i].X, rq[i].rows, done, &rq[i]), MLP_OK);
    batcher_free(b); /* computes what is queued before it returns */
    counters(&b1, &r1);
    assert_int_equal(C.n, 4);
    assert_int_equal(C.bad, 0);
    int want[4] = {1, 3, 4, 2};
    for (int i = 0; i < 4; i++) assert_int_equal(C.order[i], want[i]);
    assert_true(b1 - b0 == 2);
    assert_true(r1 - r0 == 5);
}

/* Nine requests of 8 rows: 64 rows in the first pass, the ninth in a second. */
static void test_batch_row_limit(void **state)
{
    (void)state;
    reset_calls();
    batcher_opts o = {.threads = 1, .timeout_us = 200000, .min_params = 0};
    batcher *b = NULL;
    assert_int_equal(batcher_new(&o, T.sc, &b), MLP_OK);
    double b0, r0, b1, r1;
    counters(&b0, &r0);
    static req rq[9];
    for (int i = 0; i < 9; i++) {
        fill(&rq[i], 10 + i, T.a, BATCHER_MAX_REQ_ROWS);
        assert_int_equal(batcher_submit(b, rq[i].m, rq[i].X, rq[i].rows, done, &rq[i]), MLP_OK);
    }
    batcher_free(b);
    counters(&b1, &r1);
    assert_int_equal(C.n, 9);
    assert_int_equal(C.bad, 0);
    for (int i = 0; i < 9; i++) assert_int_equal(C.order[i], 10 + i);
    assert_true(b1 - b0 == 2);
    assert_true(r1 - r0 == 72);
}

static void test_wants(void **state)
{
    (void)state;
    size_t pa = net_param_count(reg_model_net(T.a));
    batcher_opts o = {.threads = 1, .timeout_us = 0, .min_params = pa};
    batcher *b = NULL;
    assert_int_equal(batcher_new(&o, T.sc, &b), MLP_OK);
    assert_true(batcher_wants(b, T.a, 1));
    assert_true(batcher_wants(b, T.a, BATCHER_MAX_REQ_ROWS));
    assert_false(batcher_wants(b, T.a, 0));
    assert_false(batcher_wants(b, T.a, BATCHER_MAX_REQ_ROWS + 1));
    assert_false(batcher_wants(NULL, T.a, 1));
    batcher_free(b);
    o.min_params = pa + 1; /* a model smaller than the threshold computes on its own thread */
    assert_int_equal(batcher_new(&o, T.sc, &b), MLP_OK);
    assert_false(batcher_wants(b, T.a, 1));
    batcher_free(b);
    batcher_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_model_gathered),
        cmocka_unit_test(test_batch_row_limit),
        cmocka_unit_test(test_wants),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
