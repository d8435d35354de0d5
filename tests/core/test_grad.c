/* test_grad.c — central finite-difference checks of the trainer's full-network gradient
 * (core/train.c through train_internal.h) for every hidden activation, every loss/output pairing,
 * batch norm, weight decay and deep stacks. Each check also guards against an all-zero gradient
 * passing, and a deliberately wrong gradient (sign, factor 2) must fail the same comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net.h"
#include "rng.h"
#include "train.h"
#include "train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 8

typedef struct {
    float X[ROWS * 8];
    float Y[ROWS * 8];
    int labels[ROWS];
} fixture;

static void make_data(fixture *f, const net_spec *s, int multilabel, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < ROWS * s->n_in; i++) f->X[i] = (float)(rng_uniform(&r) * 2.0 - 1.0);
    if (s->task == TASK_AUTOENCODER) /* sigmoid-output autoencoders reconstruct [0, 1] data */
        for (int i = 0; i < ROWS * s->n_in; i++) f->X[i] = 0.5f + 0.4f * f->X[i];
    int hi = (s->loss == LOSS_LOGISTIC && s->n_out == 1) ? 2 : s->n_out;
    for (int i = 0; i < ROWS; i++) f->labels[i] = i % hi;
    for (int i = 0; i < ROWS * s->n_out; i++)
        f->Y[i] = multilabel ? (rng_uniform(&r) < 0.5 ? 0.0f : 1.0f)
                             : (float)(rng_normal(&r) * 2.0 + 1.0);
}

/* Compares the analytic gradient with central differences on every trainable parameter.
 * Returns the number of mismatches; *nonzero counts parameters with a clearly non-zero
 * gradient. scale/flip distort the analytic gradient to prove the comparison can fail. */
static int check_grad(trainer *t, double scale, double step, int *nonzero)
{
    size_t n;
    float *w = trainer_params_mut(t, &n);
    int idx[ROWS];
    for (int i = 0; i < ROWS; i++) idx[i] = i;
    double L0;
    const float *g;
    assert_int_equal(trainer_loss_grad(t, idx, ROWS, &L0, &g), MLP_OK);
    assert_true(isfinite(L0));
    float *ana = malloc(n * sizeof(float));
    assert_non_null(ana);
    memcpy(ana, g, n * sizeof(float));
    int bad = 0;
    *nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = w[i];
        double h = step * (1.0 + fabs(keep));
        double Lp, Lm;
        w[i] = (float)(keep + h);
        double hp = (double)w[i] - keep;
        assert_int_equal(trainer_loss_grad(t, idx, ROWS, &Lp, &g), MLP_OK);
        w[i] = (float)(keep - h);
        double hm = keep - (double)w[i];
        assert_int_equal(trainer_loss_grad(t, idx, ROWS, &Lm, &g), MLP_OK);
        w[i] = keep;
        double num = (Lp - Lm) / (hp + hm);
        double a = ana[i] * scale;
        if (fabs(num) > 1e-3) (*nonzero)++;
        if (fabs(num - a) > 3e-3 + 3e-2 * fmax(fabs(num), fabs(a))) {
            if (scale == 1.0) print_message("param %zu: analytic %.6g numeric %.6g\n", i, a, num);
            bad++;
        }
    }
    free(ana);
    return bad;
}

static void run_case(net_spec s, int multilabel, int batch_norm_, double wd, int standardize)
{
    s.batch_norm = batch_norm_;
    assert_int_equal(net_spec_check(&s, NULL), MLP_OK);
    fixture f;
    make_data(&f, &s, multilabel, 7 + (uint64_t)s.act * 31 + (uint64_t)s.loss);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.weight_decay = wd;
    p.standardize = standardize;
    p.batch_size = ROWS;
    p.seed = 3;
    train_data d = {f.X, ROWS, s.n_in, NULL, NULL};
    if (s.task == TASK_AUTOENCODER) {
    } else if (multilabel || s.task == TASK_REGRESSION) {
        d.Y = f.Y;
    } else {
        d.labels = f.labels;
    }
    trainer *t = NULL;
    mlp_error err = {0};
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, &err), MLP_OK);
    /* move away from the symmetric start so batch-norm gamma/beta and biases matter */
    size_t n;
    float *w = trainer_params_mut(t, &n);
    rng r;
    rng_seed(&r, 99);
    for (size_t i = 0; i < n; i++) w[i] += (float)(0.2 * rng_normal(&r));
    int nonzero = 0;
    /* relu / leaky_relu have a kink: a smaller step, and the in-weights of one unit whose
     * pre-activation sits within the step of 0 for some row may disagree */
    int kinked = s.act == ACT_RELU || s.act == ACT_LEAKY_RELU;
    double step = kinked ? 5e-4 : 2e-3;
    int bad = check_grad(t, 1.0, step, &nonzero);
    int allowed = kinked ? s.n_in + 1 : 0;
    if (bad > allowed)
        fail_msg("%d of %zu parameters mismatch (act %s, loss %s)", bad, n, act_name(s.act),
                 loss_name(s.loss));
    assert_true(nonzero >= (int)(n / 4)); /* all-zero (or mostly zero) gradients do not pass */
    int nz2;
    assert_true(check_grad(t, -1.0, step, &nz2) > (int)(n / 4)); /* a wrong sign is caught */
    assert_true(check_grad(t, 2.0, step, &nz2) > (int)(n / 4));  /* a factor of 2 is caught */
    trainer_free(t);
}

static net_spec spec_of(net_task task, int n_in, int n_out, int h1, int h2, act_kind act,
                        act_kind out_act, loss_kind loss)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = task;
    s.n_in = n_in;
    s.n_out = n_out;
    s.n_hidden = (h1 > 0) + (h2 > 0);
    s.hidden[0] = h1;
    s.hidden[1] = h2;
    s.act = act;
    s.out_act = out_act;
    s.loss = loss;
    return s;
}

static void test_every_hidden_activation(void **state)
{
    (void)state;
    for (int a = 0; a < ACT_COUNT; a++) {
        if (a == ACT_SOFTMAX) continue;
        net_spec s =
            spec_of(TASK_CLASSIFICATION, 4, 3, 5, 4, (act_kind)a, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
        run_case(s, 0, 0, 0.0, 1);
    }
}

static void test_logistic_labels_binary(void **state)
{
    (void)state;
    run_case(spec_of(TASK_CLASSIFICATION, 4, 1, 5, 0, ACT_TANH, ACT_SIGMOID, LOSS_LOGISTIC), 0, 0,
             0.0, 1);
}

static void test_logistic_labels_one_vs_rest(void **state)
{
    (void)state;
    run_case(spec_of(TASK_CLASSIFICATION, 4, 3, 5, 0, ACT_SWISH, ACT_SIGMOID, LOSS_LOGISTIC), 0, 0,
             0.0, 0);
}

static void test_logistic_multilabel(void **state)
{
    (void)state;
    run_case(spec_of(TASK_CLASSIFICATION, 4, 3, 5, 4, ACT_ELU, ACT_SIGMOID, LOSS_LOGISTIC), 1, 0,
             0.0, 1);
}

static void test_squared_linear_multitarget(void **state)
{
    (void)state;
    run_case(spec_of(TASK_REGRESSION, 4, 3, 5, 4, ACT_TANH, ACT_LINEAR, LOSS_SQUARED), 0, 0, 0.0,
             1);
    run_case(spec_of(TASK_REGRESSION, 4, 2, 5, 0, ACT_SOFTPLUS, ACT_TANH, LOSS_SQUARED), 0, 0, 0.0,
             0);
}

static void test_squared_sigmoid_autoencoder(void **state)
{
    (void)state;
    run_case(spec_of(TASK_AUTOENCODER, 5, 5, 4, 2, ACT_SIGMOID, ACT_SIGMOID, LOSS_SQUARED), 0, 0,
             0.0, 1);
    run_case(spec_of(TASK_AUTOENCODER, 5, 5, 3, 0, ACT_TANH, ACT_LINEAR, LOSS_SQUARED), 0, 0, 0.0,
             1);
}

static void test_batch_norm(void **state)
{
    (void)state;
    run_case(spec_of(TASK_CLASSIFICATION, 4, 3, 5, 4, ACT_TANH, ACT_SOFTMAX, LOSS_CROSS_ENTROPY), 0,
             1, 0.0, 1);
    run_case(spec_of(TASK_REGRESSION, 4, 2, 5, 4, ACT_SOFTSIGN, ACT_LINEAR, LOSS_SQUARED), 0, 1,
             0.0, 1);
}

static void test_weight_decay(void **state)
{
    (void)state;
    run_case(spec_of(TASK_CLASSIFICATION, 4, 3, 5, 4, ACT_MISH, ACT_SOFTMAX, LOSS_CROSS_ENTROPY), 0,
             0, 0.3, 1);
    run_case(spec_of(TASK_REGRESSION, 4, 2, 5, 0, ACT_SIGMOID, ACT_LINEAR, LOSS_SQUARED), 0, 1, 0.1,
             1);
}

static void test_deep_stack(void **state)
{
    (void)state;
    net_spec s =
        spec_of(TASK_CLASSIFICATION, 3, 3, 4, 4, ACT_TANH, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    s.n_hidden = 5;
    for (int i = 0; i < 5; i++) s.hidden[i] = 4 + (i % 2);
    run_case(s, 0, 0, 0.0, 1);
    run_case(s, 0, 1, 0.05, 1);
    net_spec lin = spec_of(TASK_REGRESSION, 4, 2, 0, 0, ACT_LINEAR, ACT_LINEAR, LOSS_SQUARED);
    run_case(lin, 0, 0, 0.0, 1); /* no hidden layer at all */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_hidden_activation),
        cmocka_unit_test(test_logistic_labels_binary),
        cmocka_unit_test(test_logistic_labels_one_vs_rest),
        cmocka_unit_test(test_logistic_multilabel),
        cmocka_unit_test(test_squared_linear_multitarget),
        cmocka_unit_test(test_squared_sigmoid_autoencoder),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_weight_decay),
        cmocka_unit_test(test_deep_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
