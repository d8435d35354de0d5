/* test_diag.c — the per-layer diagnostics (core/diag.h): the sums and counters on hand-made
 * values, and the trainer's figures on tiny nets checked exactly against the gradient that
 * train_internal.h computes (SGD, fused heavy-ball momentum), dead ReLU units planted with a
 * large negative bias, and saturated sigmoid units from known weights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "diag.h"
#include "net.h"
#include "spec.h"
#include "train.h"
#include "train_internal.h"

#include <math.h>
#include <string.h>

#define ROWS 6
#define NIN  2

static const float X[ROWS * NIN] = {0.9f,  -0.2f, -0.7f, 0.5f, 0.3f,  0.8f,
                                    -0.1f, -0.9f, 0.6f,  0.1f, -0.5f, -0.3f};
static const int LAB[ROWS] = {0, 1, 0, 1, 1, 0};

static void close_rel(double got, double want)
{
    if (!(fabs(got - want) <= 1e-5 * fabs(want) + 1e-12))
        fail_msg("got %.9g, want %.9g", got, want);
}

static void test_units_of(void **state)
{
    (void)state;
    assert_int_equal(diag_units_of(ACT_RELU), DIAG_UNITS_DEAD);
    assert_int_equal(diag_units_of(ACT_LEAKY_RELU), DIAG_UNITS_DEAD);
    assert_int_equal(diag_units_of(ACT_ELU), DIAG_UNITS_DEAD);
    assert_int_equal(diag_units_of(ACT_SIGMOID), DIAG_UNITS_SATURATED);
    assert_int_equal(diag_units_of(ACT_TANH), DIAG_UNITS_SATURATED);
    assert_int_equal(diag_units_of(ACT_SOFTMAX), DIAG_UNITS_NONE);
    assert_int_equal(diag_units_of(ACT_LINEAR), DIAG_UNITS_NONE);
    assert_int_equal(diag_units_of(ACT_SWISH), DIAG_UNITS_NONE);
}

static void test_sums(void **state)
{
    (void)state;
    const float a[3] = {3.0f, -4.0f, 12.0f}, b[3] = {1.0f, -4.0f, 10.0f};
    assert_true(diag_sumsq(a, 3) == 169.0);
    assert_true(diag_diffsq(a, b, 3) == 8.0);
    /* v1 = 0.5·v0 − 0.25·g with g = (2, −8) */
    const float v0[2] = {1.0f, 2.0f}, v1[2] = {0.0f, 3.0f};
    assert_true(diag_fused_gradsq(v0, v1, 0.5f, 0.25f, 2) == 68.0);
}

/* Counters by hand: 3 layers (dims 2 → 3 relu → 2 relu → 1 sigmoid). */
static void test_counters(void **state)
{
    (void)state;
    const int dim[4] = {2, 3, 2, 1};
    diag *d = NULL;
    assert_int_equal(diag_new(3, dim, ACT_RELU, ACT_SIGMOID, &d), MLP_OK);
    assert_true(diag_mem_bytes(3, dim, ACT_RELU, ACT_SIGMOID) >= 6 * sizeof(float));
    diag_begin(d);
    /* layer 0: unit 1 never > 0 (0 is not active), units 0 and 2 active once each */
    const float z0a[2 * 3] = {1.0f, 0.0f, -1.0f, -2.0f, -3.0f, 0.5f};
    const float z0b[1 * 3] = {-1.0f, -0.1f, -1.0f};
    diag_add_units(d, 0, z0a, 2, 3);
    diag_add_units(d, 0, z0b, 1, 3);
    /* layer 1: both dead */
    const float z1[2 * 2] = {-1.0f, -1.0f, 0.0f, -5.0f};
    diag_add_units(d, 1, z1, 2, 2);
    /* layer 2 (sigmoid): |z| > 4 on 2 of 5 values (exactly 4 is not saturated) */
    const float z2[5] = {4.0f, -4.5f, 0.0f, 100.0f, -3.9f};
    diag_add_units(d, 2, z2, 5, 1);
    diag_add_step(d, 0, 9.0, 1.0, 4.0);  /* ‖g‖ 3, ratio 1/2 */
    diag_add_step(d, 0, 25.0, 9.0, 4.0); /* ‖g‖ 5, ratio 3/2 */
    diag_add_step(d, 1, 16.0, 1.0, 0.0); /* zero weights: no ratio */
    diag_layers out;
    diag_end(d, &out);
    assert_int_equal(out.layers, 3);
    assert_true(out.grad_norm[0] == 4.0);
    assert_true(out.update_ratio[0] == 1.0);
    assert_true(out.grad_norm[1] == 4.0);
    assert_true(isnan(out.update_ratio[1]));
    assert_true(isnan(out.grad_norm[2])); /* no step seen */
    assert_int_equal(out.units[0], DIAG_UNITS_DEAD);
    assert_true(out.units_frac[0] == 1.0 / 3.0);
    assert_true(out.units_frac[1] == 1.0);
    assert_int_equal(out.units[2], DIAG_UNITS_SATURATED);
    assert_true(out.units_frac[2] == 2.0 / 5.0);
    /* a new epoch starts from nothing */
    diag_begin(d);
    diag_add_units(d, 0, z0a, 2, 3);
    diag_end(d, &out);
    assert_true(out.units_frac[0] == 1.0 / 3.0);
    assert_true(out.units_frac[1] == 1.0);
    assert_true(isnan(out.units_frac[2]));
    diag_free(d);
    diag_free(NULL);
}

typedef struct {
    trainer *t;
    int epochs_seen;
    diag_layers got[3];
    double gsq[3][2];  /* ‖∂L/∂W_l‖² at the start of each epoch, from trainer_loss_grad */
    float gv[3][2][6]; /* those gradients */
    double wn[3][2];   /* ‖W_l‖ at the start of each epoch */
} run_ctx;

/* ‖∂L/∂W_l‖² at the current weights, over all ROWS rows (one full batch). */
static void grads_now(trainer *t, double gsq[2], float g1[2][6])
{
    int idx[ROWS];
    for (int i = 0; i < ROWS; i++) idx[i] = i;
    double L;
    const float *g;
    assert_int_equal(trainer_loss_grad(t, idx, ROWS, &L, &g), MLP_OK);
    /* layout: W0 (3×2), b0 (3), W1 (2×3), b1 (2) */
    gsq[0] = diag_sumsq(g, 6);
    gsq[1] = diag_sumsq(g + 9, 6);
    if (g1) {
        memcpy(g1[0], g, sizeof g1[0]);
        memcpy(g1[1], g + 9, sizeof g1[1]);
    }
}

static double norm_w(trainer *t, int l);

/* Before epoch e (0-based): the gradient and the weight norms it starts from. */
static void snapshot(run_ctx *c, trainer *t, int e)
{
    grads_now(t, c->gsq[e], c->gv[e]);
    c->wn[e][0] = norm_w(t, 0);
    c->wn[e][1] = norm_w(t, 1);
}

static mlp_err on_epoch(void *vctx, const train_metrics *m, trainer *t)
{
    run_ctx *c = vctx;
    c->got[c->epochs_seen++] = m->diag;
    if (c->epochs_seen < 3) snapshot(c, t, c->epochs_seen);
    return MLP_OK;
}

/* 2 → 3 relu → 2 softmax; hidden unit 2 is dead (bias −100); returns the trainer. */
static trainer *tiny(opt_kind opt, int diagnostics)
{
    const int hidden[1] = {3};
    net_spec s = test_spec(TASK_CLASSIFICATION, NIN, 2, 1, hidden, ACT_RELU, ACT_SOFTMAX,
                           LOSS_CROSS_ENTROPY);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.optimizer = opt;
    p.learning_rate = 0.1;
    p.batch_size = ROWS;
    p.epochs = 2;
    p.standardize = 0;
    p.diagnostics = diagnostics;
    train_data d = {X, ROWS, NIN, NULL, LAB};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    size_t n;
    float *w = trainer_params_mut(t, &n);
    assert_int_equal((int)n, 6 + 3 + 6 + 2);
    const float w0[6] = {0.8f, -0.4f, -0.6f, 0.9f, 0.3f, 0.2f};
    const float w1[6] = {0.5f, -0.7f, 0.4f, -0.3f, 0.6f, -0.2f};
    memcpy(w, w0, sizeof w0);
    w[6] = 0.1f, w[7] = 0.05f, w[8] = -100.0f;
    memcpy(w + 9, w1, sizeof w1);
    w[15] = 0.0f, w[16] = 0.1f;
    return t;
}

static double norm_w(trainer *t, int l)
{
    size_t n;
    float *w = trainer_params_mut(t, &n);
    return sqrt(diag_sumsq(w + (l == 0 ? 0 : 9), 6));
}

static void test_trainer_sgd(void **state)
{
    (void)state;
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.t = tiny(OPT_SGD, 1);
    snapshot(&c, c.t, 0);
    assert_int_equal(trainer_run(c.t, on_epoch, &c, NULL, NULL), MLP_OK);
    assert_int_equal(c.epochs_seen, 2);
    const diag_layers *g = &c.got[0];
    assert_int_equal(g->layers, 2);
    for (int l = 0; l < 2; l++) {
        close_rel(g->grad_norm[l], sqrt(c.gsq[0][l]));
        close_rel(g->update_ratio[l], 0.1 * sqrt(c.gsq[0][l]) / c.wn[0][l]); /* ΔW = −α g */
        close_rel(c.got[1].grad_norm[l], sqrt(c.gsq[1][l]));
        close_rel(c.got[1].update_ratio[l], 0.1 * sqrt(c.gsq[1][l]) / c.wn[1][l]);
    }
    assert_true(c.gsq[0][0] > 0.0);
    assert_int_equal(g->units[0], DIAG_UNITS_DEAD);
    assert_true(g->units_frac[0] == 1.0 / 3.0); /* unit 2; units 0 and 1 fire on some row */
    assert_int_equal(g->units[1], DIAG_UNITS_NONE);
    assert_true(isnan(g->units_frac[1]));
    trainer_free(c.t);
}

/* Fused heavy ball (momentum, no weight decay) never writes ∂L/∂W: the figure comes from the
 * velocity, v1 = β·v0 − α·g, and the step is v1 itself. */
static void test_trainer_fused_momentum(void **state)
{
    (void)state;
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.t = tiny(OPT_MOMENTUM, 1);
    snapshot(&c, c.t, 0);
    assert_int_equal(trainer_run(c.t, on_epoch, &c, NULL, NULL), MLP_OK);
    for (int l = 0; l < 2; l++) {
        close_rel(c.got[0].grad_norm[l], sqrt(c.gsq[0][l]));
        close_rel(c.got[1].grad_norm[l], sqrt(c.gsq[1][l]));
        /* epoch 1 from v = 0: ΔW = v1 = −α g1; epoch 2: ΔW = v2 = β v1 − α g2 */
        close_rel(c.got[0].update_ratio[l], 0.1 * sqrt(c.gsq[0][l]) / c.wn[0][l]);
        double sq = 0.0;
        for (int i = 0; i < 6; i++) {
            double v2 = 0.9 * (-0.1 * c.gv[0][l][i]) - 0.1 * c.gv[1][l][i];
            sq += v2 * v2;
        }
        close_rel(c.got[1].update_ratio[l], sqrt(sq) / c.wn[1][l]);
    }
    trainer_free(c.t);
}

/* Sigmoid hidden units: unit 0 has weight 10 on x0 (saturated where |x0| > 0.4), unit 1 small
 * weights (never saturated). */
static void test_trainer_saturated(void **state)
{
    (void)state;
    const int hidden[1] = {2};
    net_spec s = test_spec(TASK_CLASSIFICATION, NIN, 2, 1, hidden, ACT_SIGMOID, ACT_SOFTMAX,
                           LOSS_CROSS_ENTROPY);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.optimizer = OPT_SGD;
    p.learning_rate = 1e-3;
    p.batch_size = ROWS;
    p.epochs = 1;
    p.standardize = 0;
    train_data d = {X, ROWS, NIN, NULL, LAB};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    size_t n;
    float *w = trainer_params_mut(t, &n);
    memset(w, 0, n * sizeof(float));
    w[0] = 10.0f;             /* W0 row 0 = (10, 0) */
    w[2] = 0.1f, w[3] = 0.1f; /* W0 row 1 */
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.epochs_seen = 2; /* no gradient snapshots */
    assert_int_equal(trainer_run(t, on_epoch, &c, NULL, NULL), MLP_OK);
    int sat = 0;
    for (int i = 0; i < ROWS; i++) sat += fabsf(10.0f * X[i * NIN]) > 4.0f;
    assert_int_equal(sat, 4);
    assert_int_equal(c.got[2].units[0], DIAG_UNITS_SATURATED);
    assert_true(c.got[2].units_frac[0] == (double)sat / (ROWS * 2));
    trainer_free(t);
}

static void test_off(void **state)
{
    (void)state;
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.t = tiny(OPT_SGD, 0);
    c.epochs_seen = 1; /* the 2 epochs land in got[1] and got[2] */
    assert_int_equal(trainer_run(c.t, on_epoch, &c, NULL, NULL), MLP_OK);
    assert_int_equal(c.got[1].layers, 0);
    assert_int_equal(c.got[2].layers, 0);
    trainer_free(c.t);
}

/* The diagnostics only read: with and without them, the same weights bit for bit (SGD, fused
 * momentum, adam). */
static void test_weights_unchanged(void **state)
{
    (void)state;
    const opt_kind opts[3] = {OPT_SGD, OPT_MOMENTUM, OPT_ADAM};
    for (int k = 0; k < 3; k++) {
        float w[2][17];
        for (int on = 0; on < 2; on++) {
            trainer *t = tiny(opts[k], on);
            assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
            size_t n;
            memcpy(w[on], trainer_params_mut(t, &n), sizeof w[on]);
            trainer_free(t);
        }
        assert_memory_equal(w[0], w[1], sizeof w[0]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units_of),
        cmocka_unit_test(test_sums),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_trainer_sgd),
        cmocka_unit_test(test_trainer_fused_momentum),
        cmocka_unit_test(test_trainer_saturated),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_weights_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
