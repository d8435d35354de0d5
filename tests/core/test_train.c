/* test_train.c — the trainer (core/train.c) on small generated problems with known answers:
 * XOR, linear regression with known weights in original units, a linear autoencoder against
 * PCA, every optimiser on a convex quadratic, the Bottou search, schedules, batch-norm export;
 * and the round trips: checkpoint/resume bit-identity, cancellation, corrupt checkpoints,
 * divergence, early stopping, determinism (also across params.threads), parameter and data
 * validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "net.h"
#include "core/spec.h"
#include "rng.h"
#include "train.h"
#include "train_internal.h"

#include <cblas.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Y = net(X) through the published model (raw units). */
static void predict(const net *n, const float *X, int rows, float *Y)
{
    float *scratch = malloc(net_scratch_floats(n, rows) * sizeof(float));
    assert_non_null(scratch);
    assert_int_equal(net_predict(n, X, rows, Y, scratch), MLP_OK);
    free(scratch);
}

/* ---------- parameters ---------- */

static void test_params_defaults_and_names(void **state)
{
    (void)state;
    train_params p;
    train_params_default(&p, TASK_CLASSIFICATION, ACT_RELU);
    assert_int_equal(p.init, INIT_HE);
    assert_int_equal(p.optimizer, OPT_ADAM);
    assert_int_equal(train_params_check(&p, NULL), MLP_OK);
    train_params_default(&p, TASK_REGRESSION, ACT_TANH);
    assert_int_equal(p.init, INIT_XAVIER);
    for (int i = 0; i < OPT_COUNT; i++) {
        opt_kind o;
        assert_int_equal(opt_parse(opt_name((opt_kind)i), &o), MLP_OK);
        assert_int_equal(o, i);
    }
    for (int i = 0; i < SCHED_COUNT; i++) {
        sched_kind s;
        assert_int_equal(sched_parse(sched_name((sched_kind)i), &s), MLP_OK);
        assert_int_equal(s, i);
    }
    for (int i = 0; i < INIT_COUNT; i++) {
        init_kind s;
        assert_int_equal(init_parse(init_name((init_kind)i), &s), MLP_OK);
        assert_int_equal(s, i);
    }
    for (int i = 0; i < NOISE_COUNT; i++) {
        noise_kind s;
        assert_int_equal(noise_parse(noise_name((noise_kind)i), &s), MLP_OK);
        assert_int_equal(s, i);
    }
    opt_kind o;
    assert_int_equal(opt_parse("adamw", &o), MLP_EINVAL);
    assert_int_equal(opt_parse(NULL, &o), MLP_EINVAL);
    assert_string_equal(opt_name(OPT_NESTEROV), "nesterov");
    assert_string_equal(sched_name(SCHED_INVERSE), "inverse");
    assert_string_equal(noise_name(NOISE_MASK), "mask");
}

static void expect_bad(train_params p, const char *field)
{
    mlp_error err = {0};
    assert_int_equal(train_params_check(&p, &err), MLP_EINVAL);
    assert_string_equal(err.field, field);
    assert_true(strlen(err.msg) > 0);
}

static void test_params_ranges(void **state)
{
    (void)state;
    train_params d, p;
    train_params_default(&d, TASK_CLASSIFICATION, ACT_RELU);
    p = d, p.epochs = 0, expect_bad(p, "params.epochs");
    p = d, p.epochs = 100001, expect_bad(p, "params.epochs");
    p = d, p.batch_size = 0, expect_bad(p, "params.batch_size");
    p = d, p.learning_rate = 0, expect_bad(p, "params.learning_rate");
    p = d, p.learning_rate = INFINITY, expect_bad(p, "params.learning_rate");
    p = d, p.learning_rate = NAN, expect_bad(p, "params.learning_rate");
    p = d, p.momentum = 1.0, expect_bad(p, "params.momentum");
    p = d, p.beta1 = -0.1, expect_bad(p, "params.beta1");
    p = d, p.beta2 = 1.0, expect_bad(p, "params.beta2");
    p = d, p.epsilon = 0, expect_bad(p, "params.epsilon");
    p = d, p.dropout = 1.0, expect_bad(p, "params.dropout");
    p = d, p.noise_std = -1, expect_bad(p, "params.noise.std");
    p = d, p.noise_p = 1.0, expect_bad(p, "params.noise.p");
    p = d, p.weight_decay = -1e-3, expect_bad(p, "params.weight_decay");
    p = d, p.patience = -1, expect_bad(p, "params.early_stopping.patience");
    p = d, p.bias_lr_multiplier = 0, expect_bad(p, "params.bias_lr_multiplier");
    p = d, p.step_epochs = 0, expect_bad(p, "params.step_epochs");
    p = d, p.lr_decay = -0.5, expect_bad(p, "params.lr_decay");
    p = d, p.optimizer = OPT_COUNT, expect_bad(p, "params.optimizer");
    p = d, p.noise = (noise_kind)7, expect_bad(p, "params.noise.type");
    p = d, p.epochs = 100000, p.dropout = 0.99, p.momentum = 0.0;
    assert_int_equal(train_params_check(&p, NULL), MLP_OK);
}

static void test_data_validation(void **state)
{
    (void)state;
    int hidden[] = {4};
    net_spec s =
        test_spec(TASK_CLASSIFICATION, 2, 3, 1, hidden, ACT_RELU, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    train_params p;
    train_params_default(&p, s.task, s.act);
    float X[] = {0, 1, 2, 3, 4, 5, 6, 7};
    int labels[] = {0, 1, 2, 3};
    train_data d = {X, 4, 2, NULL, labels};
    trainer *t = NULL;
    mlp_error err = {0};
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, &err), MLP_EINVAL);
    assert_null(t);
    assert_int_equal(err.row, 4);
    labels[3] = 1;
    X[5] = NAN;
    memset(&err, 0, sizeof err);
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, &err), MLP_EINVAL);
    assert_int_equal(err.row, 3);
    assert_int_equal(err.col, 2);
    X[5] = 5;
    d.cols = 3;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_EINVAL);
    d.cols = 2;
    d.labels = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_EINVAL);
    d.labels = labels;
    train_data v = {X, 2, 2, NULL, NULL}; /* validation without labels */
    assert_int_equal(trainer_new(&s, &p, &d, &v, &t, NULL), MLP_EINVAL);
    p.dropout = 2;
    memset(&err, 0, sizeof err);
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, &err), MLP_EINVAL);
    assert_string_equal(err.field, "params.dropout");
    p.dropout = 0;
    s.out_act = ACT_LINEAR; /* bad spec */
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_EINVAL);
    s.out_act = ACT_SOFTMAX;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    assert_int_equal(trainer_epoch(t), 0);
    assert_int_equal(trainer_done(t), 0);
    trainer_free(t);
    trainer_free(NULL);
}

/* ---------- known answers ---------- */

typedef struct {
    train_metrics last;
    int calls;
} last_cb;

static mlp_err keep_last(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    last_cb *c = ctx;
    c->last = *m;
    c->calls++;
    return MLP_OK;
}

static void test_xor(void **state)
{
    (void)state;
    float X[] = {0, 0, 0, 1, 1, 0, 1, 1};
    int y[] = {0, 1, 1, 0};
    int hidden[] = {8};
    net_spec s =
        test_spec(TASK_CLASSIFICATION, 2, 2, 1, hidden, ACT_TANH, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.learning_rate = 0.05;
    p.batch_size = 4;
    p.epochs = 400;
    p.seed = 1;
    train_data d = {X, 4, 2, NULL, y};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
    last_cb c = {0};
    assert_int_equal(trainer_run(t, keep_last, &c, NULL, NULL), MLP_OK);
    assert_int_equal(c.calls, 400);
    assert_true(c.last.has_accuracy);
    assert_true(c.last.val_accuracy == 1.0);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    float P[8];
    predict(n, X, 4, P);
    for (int i = 0; i < 4; i++) assert_true(P[2 * i + y[i]] > 0.9f);
    net_free(n);
    trainer_free(t);
}

static void test_linear_regression_recovers_weights(void **state)
{
    (void)state;
    enum { N = 256, D = 3, K = 2 };
    static float X[N * D], Y[N * K];
    const double W[K][D] = {{2.0, -1.0, 0.5}, {-3.0, 0.25, 4.0}};
    const double b[K] = {10.0, -7.0};
    const double xs[D] = {100.0, 0.01, 3.0}, xm[D] = {500.0, -0.02, 1.0};
    rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) X[i * D + j] = (float)(xm[j] + xs[j] * rng_normal(&r));
        for (int k = 0; k < K; k++) {
            double v = b[k];
            for (int j = 0; j < D; j++) v += W[k][j] * X[i * D + j];
            Y[i * K + k] = (float)v;
        }
    }
    net_spec s = test_spec(TASK_REGRESSION, D, K, 0, NULL, ACT_LINEAR, ACT_LINEAR, LOSS_SQUARED);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.optimizer = OPT_MOMENTUM;
    p.learning_rate = 0.05;
    p.batch_size = 32;
    p.epochs = 150;
    p.lr_schedule = SCHED_COSINE;
    train_data d = {X, N, D, Y, NULL};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
    last_cb c = {0};
    assert_int_equal(trainer_run(t, keep_last, &c, NULL, NULL), MLP_OK);
    assert_true(c.last.has_r2);
    assert_true(c.last.val_r2 > 0.9999);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    /* read the raw-unit weights back through predictions at 0 and the unit vectors */
    float probe[(D + 1) * D] = {0}, out[(D + 1) * K];
    for (int j = 0; j < D; j++) probe[(j + 1) * D + j] = 1.0f;
    predict(n, probe, D + 1, out);
    for (int k = 0; k < K; k++) {
        assert_true(fabs(out[k] - b[k]) < 1e-2 * (1 + fabs(b[k])) + 0.05);
        for (int j = 0; j < D; j++) {
            double wj = out[(j + 1) * K + k] - out[k];
            if (fabs(wj - W[k][j]) > 1e-2 * (1 + fabs(W[k][j])))
                fail_msg("W[%d][%d] = %g, want %g", k, j, wj, W[k][j]);
        }
    }
    net_free(n);
    trainer_free(t);
}

/* Eigen-decomposition of a symmetric d x d matrix by cyclic Jacobi rotations; eigenvalues on the
 * diagonal of A afterwards. */
static void jacobi_eigenvalues(double *A, int d)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) off += A[p * d + q] * A[p * d + q];
        if (off < 1e-22) return;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = A[p * d + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (A[q * d + q] - A[p * d + p]) / (2.0 * apq);
                double tt = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double cs = 1.0 / sqrt(tt * tt + 1.0), sn = tt * cs;
                for (int k = 0; k < d; k++) { /* columns p, q */
                    double akp = A[k * d + p], akq = A[k * d + q];
                    A[k * d + p] = cs * akp - sn * akq;
                    A[k * d + q] = sn * akp + cs * akq;
                }
                for (int k = 0; k < d; k++) { /* rows p, q */
                    double apk = A[p * d + k], aqk = A[q * d + k];
                    A[p * d + k] = cs * apk - sn * aqk;
                    A[q * d + k] = sn * apk + cs * aqk;
                }
            }
    }
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static void test_linear_autoencoder_matches_pca(void **state)
{
    (void)state;
    enum { N = 400, D = 8, KC = 3 };
    static float X[N * D];
    rng r;
    rng_seed(&r, 11);
    double basis[4][D];
    for (int a = 0; a < 4; a++)
        for (int j = 0; j < D; j++) basis[a][j] = rng_normal(&r);
    const double sd[4] = {3.0, 2.0, 1.2, 0.6};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) X[i * D + j] = (float)(0.3 * rng_normal(&r) + 1.0 + 0.2 * j);
    for (int i = 0; i < N; i++)
        for (int a = 0; a < 4; a++) {
            double z = sd[a] * rng_normal(&r);
            for (int j = 0; j < D; j++) X[i * D + j] += (float)(z * basis[a][j]);
        }
    /* PCA: the k-component reconstruction error is the sum of the discarded eigenvalues of the
     * (population) covariance, per element divided by D */
    double mean[D] = {0}, C[D * D] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) mean[j] += X[i * D + j] / (double)N;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < D; a++)
            for (int c = 0; c < D; c++)
                C[a * D + c] += (X[i * D + a] - mean[a]) * (X[i * D + c] - mean[c]) / N;
    jacobi_eigenvalues(C, D);
    double ev[D];
    for (int j = 0; j < D; j++) ev[j] = C[j * D + j];
    qsort(ev, D, sizeof ev[0], cmp_desc);
    double pca_mse = 0.0;
    for (int j = KC; j < D; j++) pca_mse += ev[j];
    pca_mse /= D;

    int hidden[] = {KC};
    net_spec s = test_spec(TASK_AUTOENCODER, D, D, 1, hidden, ACT_LINEAR, ACT_LINEAR, LOSS_SQUARED);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.standardize = 0; /* PCA of the raw data */
    p.learning_rate = 0.01;
    p.batch_size = 32;
    p.epochs = 300;
    p.lr_schedule = SCHED_COSINE;
    train_data d = {X, N, D, NULL, NULL};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    assert_int_equal(net_code_dim(n), KC);
    static float R[N * D];
    predict(n, X, N, R);
    double mse = 0.0;
    for (int i = 0; i < N * D; i++) mse += (R[i] - X[i]) * (double)(R[i] - X[i]);
    mse /= (double)N * D;
    if (!(mse <= pca_mse * 1.02 && mse >= pca_mse * 0.98))
        fail_msg("autoencoder mse %g vs pca %g", mse, pca_mse);
    net_free(n);
    trainer_free(t);
}

/* A convex problem: linear regression, 3 inputs, 1 target, no hidden layer. */
enum { QN = 200, QD = 3 };
static float QX[QN * QD], QY[QN];

static void make_quadratic(void)
{
    rng r;
    rng_seed(&r, 21);
    for (int i = 0; i < QN; i++) {
        double v = 0.5;
        for (int j = 0; j < QD; j++) {
            QX[i * QD + j] = (float)rng_normal(&r);
            v += (j + 1) * QX[i * QD + j];
        }
        QY[i] = (float)(v + 0.05 * rng_normal(&r));
    }
}

static double initial_loss(trainer *t, int n)
{
    int *idx = malloc((size_t)n * sizeof(int));
    assert_non_null(idx);
    for (int i = 0; i < n; i++) idx[i] = i;
    double L;
    const float *g;
    assert_int_equal(trainer_loss_grad(t, idx, n, &L, &g), MLP_OK);
    free(idx);
    return L;
}

static void test_every_optimizer_decreases_quadratic(void **state)
{
    (void)state;
    make_quadratic();
    net_spec s = test_spec(TASK_REGRESSION, QD, 1, 0, NULL, ACT_LINEAR, ACT_LINEAR, LOSS_SQUARED);
    const double lr[OPT_COUNT] = {0.05, 0.01, 0.01, 0.5, 0.01, 0.05};
    for (int o = 0; o < OPT_COUNT; o++) {
        train_params p;
        train_params_default(&p, s.task, s.act);
        p.optimizer = (opt_kind)o;
        p.learning_rate = lr[o];
        p.batch_size = QN; /* full batch so initial_loss sees the same objective */
        p.epochs = 1;
        p.standardize = 0;
        p.init = INIT_SMALL;
        train_data d = {QX, QN, QD, QY, NULL};
        trainer *t = NULL;
        assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
        double L0 = initial_loss(t, QN);
        trainer_free(t);
        p.batch_size = 20;
        p.epochs = 30;
        assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
        last_cb c = {0};
        assert_int_equal(trainer_run(t, keep_last, &c, NULL, NULL), MLP_OK);
        if (!(c.last.train_loss < 0.05 * L0))
            fail_msg("%s: loss %g from %g", opt_name((opt_kind)o), c.last.train_loss, L0);
        trainer_free(t);
    }
}

static void test_bottou_search(void **state)
{
    (void)state;
    make_quadratic();
    int hidden[] = {8};
    net_spec s = test_spec(TASK_REGRESSION, QD, 1, 1, hidden, ACT_TANH, ACT_LINEAR, LOSS_SQUARED);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.optimizer = OPT_SGD;
    p.lr_auto = 1;
    p.batch_size = 16;
    p.epochs = 10;
    train_data d = {QX, QN, QD, QY, NULL};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    p.batch_size = QN;
    trainer *t0 = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t0, NULL), MLP_OK);
    double L0 = initial_loss(t0, QN);
    trainer_free(t0);
    last_cb c = {0};
    assert_int_equal(trainer_run(t, keep_last, &c, NULL, NULL), MLP_OK);
    double lr = trainer_learning_rate(t);
    assert_true(lr >= 1e-5 && lr <= 10.0);
    assert_true(lr != 1e-3); /* not simply the default */
    assert_true(c.last.learning_rate == lr);
    if (!(c.last.train_loss < 0.1 * L0))
        fail_msg("lr %g: loss %g from %g", lr, c.last.train_loss, L0);
    /* deterministic */
    trainer *t2 = NULL;
    p.batch_size = 16;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t2, NULL), MLP_OK);
    assert_int_equal(trainer_run(t2, NULL, NULL, NULL, NULL), MLP_OK);
    assert_true(trainer_learning_rate(t2) == lr);
    trainer_free(t2);
    trainer_free(t);
}

typedef struct {
    double lr[8];
    int n;
} lr_log;

static mlp_err log_lr(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    lr_log *l = ctx;
    l->lr[l->n++] = m->learning_rate;
    return MLP_OK;
}

static void test_schedules(void **state)
{
    (void)state;
    make_quadratic();
    net_spec s = test_spec(TASK_REGRESSION, QD, 1, 0, NULL, ACT_LINEAR, ACT_LINEAR, LOSS_SQUARED);
    train_data d = {QX, QN, QD, QY, NULL};
    for (int k = 0; k < SCHED_COUNT; k++) {
        train_params p;
        train_params_default(&p, s.task, s.act);
        p.optimizer = OPT_SGD;
        p.learning_rate = 0.01;
        p.lr_schedule = (sched_kind)k;
        p.lr_decay = 0.5;
        p.step_epochs = 2;
        p.epochs = 8;
        trainer *t = NULL;
        assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
        lr_log l = {{0}, 0};
        assert_int_equal(trainer_run(t, log_lr, &l, NULL, NULL), MLP_OK);
        assert_int_equal(l.n, 8);
        for (int e = 0; e < 8; e++) {
            double want = 0.01;
            if (k == SCHED_STEP) want = 0.01 * pow(0.5, e / 2);
            if (k == SCHED_INVERSE) want = 0.01 / (1.0 + 0.5 * e);
            if (k == SCHED_COSINE) want = 0.01 * 0.5 * (1.0 + cos(M_PI * e / 8.0));
            assert_true(fabs(l.lr[e] - want) < 1e-12);
        }
        trainer_free(t);
    }
}

/* ---------- a small classification problem for the round trips ---------- */

enum { CN = 120, CD = 4, CK = 3 };
static float CX[CN * CD];
static int CY[CN];

static void make_classes(void)
{
    rng r;
    rng_seed(&r, 33);
    for (int i = 0; i < CN; i++) {
        int c = i % CK;
        CY[i] = c;
        for (int j = 0; j < CD; j++)
            CX[i * CD + j] = (float)(rng_normal(&r) + (j == c ? 2.0 : 0.0) + 10.0 * j);
    }
}

static net_spec class_spec(int batch_norm)
{
    int hidden[] = {6, 5};
    net_spec s = test_spec(TASK_CLASSIFICATION, CD, CK, 2, hidden, ACT_RELU, ACT_SOFTMAX,
                           LOSS_CROSS_ENTROPY);
    s.batch_norm = batch_norm;
    return s;
}

static void class_params(train_params *p)
{
    train_params_default(p, TASK_CLASSIFICATION, ACT_RELU);
    p->learning_rate = 0.01;
    p->batch_size = 16;
    p->epochs = 6;
    p->dropout = 0.2;
    p->noise = NOISE_GAUSSIAN;
    p->noise_std = 0.1;
    p->seed = 77;
}

static net *train_export(const net_spec *s, const train_params *p)
{
    train_data d = {CX, CN, CD, NULL, CY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(s, p, &d, &d, &t, NULL), MLP_OK);
    assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    trainer_free(t);
    return n;
}

static int same_params(const net *a, const net *b)
{
    return net_param_count(a) == net_param_count(b) &&
           memcmp(net_params_const(a), net_params_const(b), net_param_count(a) * sizeof(float)) ==
               0;
}

static void test_determinism(void **state)
{
    (void)state;
    make_classes();
    net_spec s = class_spec(1);
    train_params p;
    class_params(&p);
    net *a = train_export(&s, &p), *b = train_export(&s, &p);
    assert_true(same_params(a, b));
    p.seed = 78;
    net *c = train_export(&s, &p);
    assert_false(same_params(a, c));
    net_free(a);
    net_free(b);
    net_free(c);
}

/* What a run reports per epoch, to compare runs on more than their weights. */
typedef struct {
    int n;
    double loss[16];
    diag_layers dg[16];
} epoch_log;

static mlp_err log_epoch(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    epoch_log *lg = ctx;
    if (lg->n < 16) {
        lg->loss[lg->n] = m->train_loss;
        lg->dg[lg->n] = m->diag;
        lg->n++;
    }
    return MLP_OK;
}

static net *train_threads(const net_spec *s, train_params p, int threads, epoch_log *lg)
{
    p.threads = threads;
    p.parallel_min_macs = 0; /* these nets are small: helpers all the same */
    train_data d = {CX, CN, CD, NULL, CY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(s, &p, &d, &d, &t, NULL), MLP_OK);
    memset(lg, 0, sizeof *lg);
    assert_int_equal(trainer_run(t, log_epoch, lg, NULL, NULL), MLP_OK);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    trainer_free(t);
    return n;
}

/* params.threads changes who computes, never what: 1, 2 and 3 threads give bit-identical
 * weights, losses and diagnostics, with dropout, noise, weight decay, the Bottou search, the
 * fused momentum step, batch norm and params.augment (the gather's pieces). OpenBLAS runs one
 * thread here, as the trainer's helpers only compute then. */
static void test_threads_do_not_change_weights(void **state)
{
    (void)state;
    make_classes();
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    const opt_kind opts[] = {OPT_MOMENTUM, OPT_ADAM, OPT_SGD};
    for (int bn = 0; bn <= 1; bn++)
        for (int o = 0; o < 3; o++) {
            net_spec s = class_spec(bn);
            train_params p;
            class_params(&p);
            p.batch_size = 40; /* augmented: gathered in pieces of 16, 16 and 8 rows */
            if (o != 1) {      /* the inputs as a 2×2 image, shifted and rotated */
                p.augment.height = p.augment.width = 2;
                p.augment.channels = 1;
                p.augment.shift = 1;
                p.augment.rotate = 10;
            }
            p.optimizer = opts[o];
            p.lr_auto = opts[o] == OPT_ADAM;
            p.weight_decay = opts[o] == OPT_SGD ? 1e-3 : 0.0;
            epoch_log l1, l2, l3;
            net *a = train_threads(&s, p, 1, &l1), *b = train_threads(&s, p, 2, &l2);
            net *c = train_threads(&s, p, 3, &l3);
            if (!same_params(a, b) || !same_params(a, c))
                fail_msg("%s, batch norm %d: weights differ across threads", opt_name(opts[o]), bn);
            assert_int_equal(l1.n, p.epochs);
            assert_int_equal(l2.n, l1.n);
            assert_true(memcmp(l1.loss, l2.loss, sizeof l1.loss) == 0);
            assert_true(memcmp(l1.loss, l3.loss, sizeof l1.loss) == 0);
            int seen = 0; /* epochs with a first-layer gradient (a dead net has none) */
            for (int e = 0; e < l1.n; e++) {
                assert_true(l1.dg[e].layers == 3 && l2.dg[e].layers == 3);
                assert_true(
                    memcmp(l1.dg[e].grad_norm, l2.dg[e].grad_norm, sizeof l1.dg[e].grad_norm) == 0);
                seen += l1.dg[e].grad_norm[0] > 0.0;
            }
            assert_true(seen > 0);
            net_free(a);
            net_free(b);
            net_free(c);
        }
    openblas_set_num_threads(blas);
}

/* Without noise or augmentation each row range of a step gathers its own rows, on its thread
 * (train_batch); with noise the caller gathers the whole mini-batch first. Gaussian noise of
 * std 0 adds zeros, so one epoch (the next one's shuffle would follow the noise's draws) must
 * give the same weights and loss both ways, on 1 and 2 threads, with and without batch norm
 * (one row range). */
static void test_clean_gather_matches_serial(void **state)
{
    (void)state;
    make_classes();
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int bn = 0; bn <= 1; bn++)
        for (int threads = 1; threads <= 2; threads++) {
            net_spec s = class_spec(bn);
            train_params p;
            class_params(&p);
            p.dropout = 0.0;
            p.epochs = 1;
            p.noise = NOISE_NONE;
            epoch_log l1, l2;
            net *a = train_threads(&s, p, threads, &l1);
            p.noise = NOISE_GAUSSIAN;
            p.noise_std = 0.0;
            net *b = train_threads(&s, p, threads, &l2);
            if (!same_params(a, b))
                fail_msg("batch norm %d, %d threads: the clean gather changed the weights", bn,
                         threads);
            assert_int_equal(l1.n, 1);
            assert_true(l1.loss[0] == l2.loss[0]);
            net_free(a);
            net_free(b);
        }
    openblas_set_num_threads(blas);
}

/* trainer_helper_cpu_s counts the helper threads' CPU time, which the daemon charges to the
 * run's owner with the calling thread's: none with one thread, some with two (the helpers run
 * half of every step's pieces here), and it only grows. */
static void test_helper_cpu_is_counted(void **state)
{
    (void)state;
    make_classes();
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int threads = 1; threads <= 2; threads++) {
        net_spec s = class_spec(0);
        train_params p;
        class_params(&p);
        p.threads = threads;
        p.parallel_min_macs = 0;
        train_data d = {CX, CN, CD, NULL, CY};
        trainer *t = NULL;
        assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
        assert_true(trainer_helper_cpu_s(t) == 0.0);
        epoch_log lg;
        memset(&lg, 0, sizeof lg);
        assert_int_equal(trainer_run(t, log_epoch, &lg, NULL, NULL), MLP_OK);
        double h = trainer_helper_cpu_s(t);
        if (threads == 1)
            assert_true(h == 0.0);
        else
            assert_true(h > 0.0);
        assert_true(trainer_helper_cpu_s(t) >= h);
        trainer_free(t);
    }
    openblas_set_num_threads(blas);
}

/* Threads of this process whose nice value is `nice`, from /proc/self/task/TID/stat. */
static int threads_at_nice(int nice)
{
    int count = 0;
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* exited meanwhile */
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')'); /* fields after the command name; nice is the 19th */
        int field = 2, v = 0;
        for (; p && *p && field < 19; p++)
            if (*p == ' ') field++;
        if (p && sscanf(p, "%d", &v) == 1 && v == nice) count++;
    }
    closedir(d);
    return count;
}

typedef struct {
    trainer *t;
    int batches;
    int at_nice; /* most threads at nice 7 seen between mini-batches */
    mlp_err rc;  /* trainer_run's (cmocka asserts belong to the test's thread) */
} nice_probe;

static void probe_nice(void *ctx)
{
    nice_probe *pr = ctx;
    pr->batches++;
    if (pr->at_nice < 2) { /* a helper not yet scheduled shows up later */
        int n = threads_at_nice(7);
        if (n > pr->at_nice) pr->at_nice = n;
    }
}

static void *run_at_nice(void *ctx)
{
    nice_probe *pr = ctx;
    setpriority(PRIO_PROCESS, (id_t)gettid(), 7);
    pr->rc = trainer_run(pr->t, NULL, NULL, NULL, NULL);
    return NULL;
}

/* The helper threads start with the thread that runs trainer_run and take its priority (the
 * daemon's compute thread trains at SCHED_IDLE; its worker, which made the trainer, at nice
 * +5): a trainer made here at nice 0 and run on a thread at nice 7 with 2 threads has two
 * threads at nice 7 while it trains. */
static void test_helpers_run_at_the_callers_priority(void **state)
{
    (void)state;
    make_classes();
    int blas = openblas_get_num_threads();
    openblas_set_num_threads(1);
    net_spec s = class_spec(0);
    train_params p;
    class_params(&p);
    p.threads = 2;
    p.parallel_min_macs = 0;
    p.epochs = 30;
    train_data d = {CX, CN, CD, NULL, CY};
    nice_probe pr = {NULL, 0, 0, MLP_OK};
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &pr.t, NULL), MLP_OK);
    trainer_set_yield(pr.t, probe_nice, &pr);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_at_nice, &pr), 0);
    pthread_join(th, NULL);
    trainer_free(pr.t);
    openblas_set_num_threads(blas);
    assert_int_equal(pr.rc, MLP_OK);
    assert_true(pr.batches > 4);
    assert_int_equal(pr.at_nice, 2);
}

typedef struct {
    int at;
    void *buf;
    size_t len;
} ckpt_cb;

static mlp_err checkpoint_at(void *ctx, const train_metrics *m, trainer *t)
{
    ckpt_cb *c = ctx;
    if (m->epoch == c->at) assert_int_equal(trainer_checkpoint(t, &c->buf, &c->len), MLP_OK);
    return MLP_OK;
}

static void test_resume_equals_uninterrupted(void **state)
{
    (void)state;
    make_classes();
    for (int o = 0; o < OPT_COUNT; o++) {
        net_spec s = class_spec(o % 2);
        train_params p;
        class_params(&p);
        p.optimizer = (opt_kind)o;
        p.noise = (o % 3 == 0) ? NOISE_MASK : NOISE_GAUSSIAN;
        p.patience = 4;
        p.lr_auto = (o == OPT_ADAM);
        p.lr_schedule = (sched_kind)(o % SCHED_COUNT);
        train_data d = {CX, CN, CD, NULL, CY};
        /* uninterrupted, checkpointing at epoch 3 on the way */
        trainer *t = NULL;
        assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
        ckpt_cb c = {3, NULL, 0};
        assert_int_equal(trainer_run(t, checkpoint_at, &c, NULL, NULL), MLP_OK);
        assert_non_null(c.buf);
        net *full = NULL;
        assert_int_equal(trainer_export(t, &full), MLP_OK);
        double lr_full = trainer_learning_rate(t);
        trainer_free(t);
        /* a fresh trainer from the checkpoint */
        assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
        mlp_error err = {0};
        assert_int_equal(trainer_restore(t, c.buf, c.len, &err), MLP_OK);
        assert_int_equal(trainer_epoch(t), 3);
        assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
        net *resumed = NULL;
        assert_int_equal(trainer_export(t, &resumed), MLP_OK);
        if (!same_params(full, resumed))
            fail_msg("optimizer %s: resumed run differs", opt_name((opt_kind)o));
        assert_true(trainer_learning_rate(t) == lr_full);
        net_free(full);
        net_free(resumed);
        trainer_free(t);
        free(c.buf);
    }
}

static void test_corrupt_checkpoint(void **state)
{
    (void)state;
    make_classes();
    net_spec s = class_spec(1);
    train_params p;
    class_params(&p);
    p.epochs = 2;
    train_data d = {CX, CN, CD, NULL, CY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(trainer_checkpoint(t, &buf, &len), MLP_OK);
    unsigned char *b = buf;
    mlp_error err = {0};
    for (size_t cut = 0; cut < len; cut += len / 17 + 1)
        assert_int_equal(trainer_restore(t, buf, cut, &err), MLP_ECORRUPT);
    assert_int_equal(trainer_restore(t, buf, len - 1, NULL), MLP_ECORRUPT);
    for (size_t at = 0; at < len; at += len / 23 + 1) {
        b[at] ^= 0x5a;
        assert_int_equal(trainer_restore(t, buf, len, &err), MLP_ECORRUPT);
        b[at] ^= 0x5a;
    }
    assert_int_equal(trainer_restore(t, buf, len, &err), MLP_OK);
    /* a checkpoint of another optimiser does not fit */
    p.optimizer = OPT_SGD;
    trainer *t2 = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t2, NULL), MLP_OK);
    assert_int_not_equal(trainer_restore(t2, buf, len, &err), MLP_OK);
    trainer_free(t2);
    free(buf);
    trainer_free(t);
}

typedef struct {
    atomic_int *flag;
    void *buf;
    size_t len;
} cancel_cb;

static mlp_err cancel_after_first(void *ctx, const train_metrics *m, trainer *t)
{
    cancel_cb *c = ctx;
    if (m->epoch == 1) {
        assert_int_equal(trainer_checkpoint(t, &c->buf, &c->len), MLP_OK);
        atomic_store(c->flag, 1);
    }
    return MLP_OK;
}

static void test_cancel(void **state)
{
    (void)state;
    make_classes();
    net_spec s = class_spec(0);
    train_params p;
    class_params(&p);
    p.epochs = 5;
    train_data d = {CX, CN, CD, NULL, CY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    atomic_int flag = 0;
    cancel_cb c = {&flag, NULL, 0};
    mlp_error err = {0};
    assert_int_equal(trainer_run(t, cancel_after_first, &c, &flag, &err), MLP_ECANCELLED);
    assert_int_equal(trainer_epoch(t), 1);
    assert_false(trainer_done(t));
    /* no mini-batch ran after the flag: the state equals the one at the end of epoch 1 */
    void *now = NULL;
    size_t len = 0;
    assert_int_equal(trainer_checkpoint(t, &now, &len), MLP_OK);
    assert_int_equal(len, c.len);
    assert_memory_equal(now, c.buf, len);
    free(now);
    free(c.buf);
    /* a cancel set before the run starts stops before the first mini-batch too */
    assert_int_equal(trainer_run(t, NULL, NULL, &flag, NULL), MLP_ECANCELLED);
    assert_int_equal(trainer_epoch(t), 1);
    atomic_store(&flag, 0);
    assert_int_equal(trainer_run(t, NULL, NULL, &flag, NULL), MLP_OK);
    assert_int_equal(trainer_epoch(t), 5);
    assert_true(trainer_done(t));
    trainer_free(t);
}

/* trainer_set_yield: called once before every mini-batch (6 epochs x ceil(120/16) = 48, plus
 * the Bottou search's with lr_auto), and a run that yields (even with a pause) ends
 * with the very weights of one that does not. */
typedef struct {
    int calls;
    int epoch_at_call[64];
    trainer *t;
} yield_count;

static void count_yield(void *ctx)
{
    yield_count *y = ctx;
    if (y->calls < 64) y->epoch_at_call[y->calls] = trainer_epoch(y->t);
    y->calls++;
    if (y->calls % 10 == 0) {
        struct timespec ts = {0, 200000}; /* a pause changes nothing but the wall time */
        nanosleep(&ts, NULL);
    }
}

static void test_yield_between_batches(void **state)
{
    (void)state;
    make_classes();
    net_spec s = class_spec(0);
    train_params p;
    class_params(&p);
    train_data d = {CX, CN, CD, NULL, CY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    yield_count y = {0, {0}, t};
    trainer_set_yield(t, count_yield, &y);
    assert_int_equal(trainer_run(t, NULL, NULL, NULL, NULL), MLP_OK);
    assert_int_equal(y.calls, 6 * ((CN + 15) / 16));
    for (int i = 0; i < y.calls; i++) assert_int_equal(y.epoch_at_call[i], i / ((CN + 15) / 16));
    net *a = NULL;
    assert_int_equal(trainer_export(t, &a), MLP_OK);
    trainer_free(t);
    trainer *t2 = NULL; /* the same run without a yield */
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t2, NULL), MLP_OK);
    assert_int_equal(trainer_run(t2, NULL, NULL, NULL, NULL), MLP_OK);
    net *b = NULL;
    assert_int_equal(trainer_export(t2, &b), MLP_OK);
    assert_true(same_params(a, b));
    trainer_free(t2);
    net_free(a);
    net_free(b);
}

static void test_divergence(void **state)
{
    (void)state;
    make_quadratic();
    static float Y[QN];
    for (int i = 0; i < QN; i++) Y[i] = QY[i] * 1e4f;
    net_spec s = test_spec(TASK_REGRESSION, QD, 1, 0, NULL, ACT_LINEAR, ACT_LINEAR, LOSS_SQUARED);
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.optimizer = OPT_SGD;
    p.learning_rate = 1e3;
    p.standardize = 0;
    p.epochs = 50;
    train_data d = {QX, QN, QD, Y, NULL};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
    mlp_error err = {0};
    assert_int_equal(trainer_run(t, NULL, NULL, NULL, &err), MLP_EDIVERGED);
    assert_true(strstr(err.msg, "NaN") || strstr(err.msg, "infinite"));
    assert_non_null(strstr(err.msg, "at epoch"));
    assert_non_null(strstr(err.msg, "learning_rate"));
    trainer_free(t);
}

typedef struct {
    net *at_best;
    int best_epoch;
    int stopped_at;
} es_cb;

static mlp_err watch_best(void *ctx, const train_metrics *m, trainer *t)
{
    es_cb *c = ctx;
    if (m->is_best) {
        net_free(c->at_best);
        c->at_best = NULL;
        assert_int_equal(trainer_export(t, &c->at_best), MLP_OK);
        c->best_epoch = m->epoch;
    }
    if (m->stopping_early) c->stopped_at = m->epoch;
    return MLP_OK;
}

static void test_early_stopping_restores_best(void **state)
{
    (void)state;
    make_classes();
    /* validation labels are permuted, so fitting the training labels makes val_loss worse */
    static int VY[CN];
    for (int i = 0; i < CN; i++) VY[i] = (CY[i] + 1) % CK;
    net_spec s = class_spec(0);
    train_params p;
    class_params(&p);
    p.dropout = 0;
    p.noise = NOISE_NONE;
    p.learning_rate = 0.02;
    p.epochs = 200;
    p.patience = 3;
    train_data d = {CX, CN, CD, NULL, CY}, v = {CX, CN, CD, NULL, VY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, &v, &t, NULL), MLP_OK);
    es_cb c = {NULL, 0, 0};
    assert_int_equal(trainer_run(t, watch_best, &c, NULL, NULL), MLP_OK);
    assert_true(trainer_done(t));
    assert_true(c.stopped_at > 0 && c.stopped_at < 200);
    assert_int_equal(c.stopped_at, c.best_epoch + 3);
    assert_int_equal(trainer_epoch(t), c.stopped_at);
    assert_int_equal(trainer_export_epoch(t), c.best_epoch);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    assert_true(same_params(n, c.at_best));
    net_free(n);
    net_free(c.at_best);
    trainer_free(t);
}

/* The exported model (batch norm folded, standardisation attached) reproduces the validation
 * loss the trainer reported for the epoch whose weights it holds (trainer_export_epoch), whether
 * or not that is the last. ctx: val_loss by 1-based epoch, 64 entries. */
static mlp_err keep_val(void *ctx, const train_metrics *m, trainer *t)
{
    (void)t;
    if (m->epoch < 64) ((double *)ctx)[m->epoch] = m->val_loss;
    return MLP_OK;
}

static void test_export_folds_batch_norm(void **state)
{
    (void)state;
    make_classes();
    net_spec s = class_spec(1);
    train_params p;
    class_params(&p);
    p.epochs = 4;
    train_data d = {CX, CN, CD, NULL, CY};
    trainer *t = NULL;
    assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
    double vl[64] = {0};
    assert_int_equal(trainer_run(t, keep_val, vl, NULL, NULL), MLP_OK);
    net *n = NULL;
    assert_int_equal(trainer_export(t, &n), MLP_OK);
    int e = trainer_export_epoch(t);
    assert_true(e >= 1 && e <= p.epochs);
    double val_loss = vl[e];
    assert_int_equal(net_get_spec(n)->batch_norm, 0);
    static float P[CN * CK];
    predict(n, CX, CN, P);
    double L = 0;
    for (int i = 0; i < CN; i++) L -= log(P[i * CK + CY[i]]);
    L /= CN;
    if (fabs(L - val_loss) > 1e-4 * (1 + val_loss))
        fail_msg("export %g vs val_loss %g", L, val_loss);
    net_free(n);
    trainer_free(t);
}

static void test_autoencoder_denoising_trains(void **state)
{
    (void)state;
    enum { N = 200, D = 6 };
    static float X[N * D];
    rng r;
    rng_seed(&r, 44);
    for (int i = 0; i < N; i++) {
        double z = rng_uniform(&r);
        for (int j = 0; j < D; j++) X[i * D + j] = (float)(j % 2 ? z : 1.0 - z);
    }
    int hidden[] = {4, 2, 4};
    net_spec s = test_spec(TASK_AUTOENCODER, D, D, 3, hidden, ACT_TANH, ACT_SIGMOID, LOSS_SQUARED);
    for (int nk = NOISE_GAUSSIAN; nk <= NOISE_MASK; nk++) {
        train_params p;
        train_params_default(&p, s.task, s.act);
        p.noise = (noise_kind)nk;
        p.noise_std = 0.1;
        p.noise_p = 0.2;
        p.learning_rate = 0.02;
        p.batch_size = 20;
        p.epochs = 60;
        train_data d = {X, N, D, NULL, NULL};
        trainer *t = NULL;
        assert_int_equal(trainer_new(&s, &p, &d, &d, &t, NULL), MLP_OK);
        last_cb c = {0};
        assert_int_equal(trainer_run(t, keep_last, &c, NULL, NULL), MLP_OK);
        assert_false(c.last.has_accuracy);
        assert_false(c.last.has_r2);
        /* 0.5·Σ(x̂−x)² per row; the variance of this data is 6 · 1/12 / 2 = 0.25 */
        if (!(c.last.val_loss < 0.05)) fail_msg("noise %d: val_loss %g", nk, c.last.val_loss);
        trainer_free(t);
    }
}

/* Weight variance and largest |w| of dense layer l (trainable prefix in net layout). */
static void layer_stats(trainer *t, const int *dim, int l, double *var, double *absmax)
{
    size_t n = 0, at = 0;
    float *w = trainer_params_mut(t, &n);
    for (int i = 0; i < l; i++) at += (size_t)dim[i] * dim[i + 1] + (size_t)dim[i + 1];
    size_t nw = (size_t)dim[l] * dim[l + 1];
    assert_true(at + nw <= n);
    double sq = 0.0, mx = 0.0;
    for (size_t i = 0; i < nw; i++) {
        sq += (double)w[at + i] * w[at + i];
        mx = fmax(mx, fabs(w[at + i]));
    }
    *var = sq / (double)nw;
    *absmax = mx;
}

/* init he: He's N(0, 2/fan_in) on the layers between two ReLUs, N(0, 1/fan_in) on the first
 * (it reads the data); the output layer follows its own activation, so a sigmoid (or linear, or
 * softmax) output takes Glorot's U(±√(6/(fan_in+fan_out))) and a ReLU output keeps He's. Explicit
 * xavier applies to every layer. */
static void test_init_follows_each_layers_activation(void **state)
{
    (void)state;
    enum { N = 8, D = 256, H1 = 64, H2 = 32 };
    static float X[N * D];
    for (int i = 0; i < N * D; i++) X[i] = (float)(i % 7) / 7.0f;
    int hidden[] = {H1, H2};
    const int dim[] = {D, H1, H2, D};
    const act_kind outs[] = {ACT_SIGMOID, ACT_LINEAR, ACT_RELU};
    for (int o = 0; o < 3; o++)
        for (int ik = INIT_HE; ik <= INIT_XAVIER; ik++) {
            net_spec s =
                test_spec(TASK_AUTOENCODER, D, D, 2, hidden, ACT_RELU, outs[o], LOSS_SQUARED);
            train_params p;
            train_params_default(&p, s.task, s.act);
            p.init = (init_kind)ik;
            p.seed = 7;
            train_data d = {X, N, D, NULL, NULL};
            trainer *t = NULL;
            assert_int_equal(trainer_new(&s, &p, &d, NULL, &t, NULL), MLP_OK);
            for (int l = 0; l < 3; l++) {
                double v, m, glorot = 2.0 / (dim[l] + dim[l + 1]), want = glorot;
                layer_stats(t, dim, l, &v, &m);
                if (ik == INIT_HE && l == 0) want = 1.0 / dim[l];
                if (ik == INIT_HE && l == 1) want = 2.0 / dim[l];
                if (ik == INIT_HE && l == 2 && outs[o] == ACT_RELU) want = 2.0 / dim[l];
                if (fabs(v / want - 1.0) > 0.1)
                    fail_msg("init %s, output %s, layer %d: variance %g, want %g",
                             init_name((init_kind)ik), act_name(outs[o]), l, v, want);
                /* uniform draws stay inside Glorot's bound */
                if (want == glorot) assert_true(m <= sqrt(3.0 * glorot) + 1e-6);
            }
            trainer_free(t);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_defaults_and_names),
        cmocka_unit_test(test_params_ranges),
        cmocka_unit_test(test_data_validation),
        cmocka_unit_test(test_xor),
        cmocka_unit_test(test_linear_regression_recovers_weights),
        cmocka_unit_test(test_linear_autoencoder_matches_pca),
        cmocka_unit_test(test_every_optimizer_decreases_quadratic),
        cmocka_unit_test(test_bottou_search),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_threads_do_not_change_weights),
        cmocka_unit_test(test_helper_cpu_is_counted),
        cmocka_unit_test(test_clean_gather_matches_serial),
        cmocka_unit_test(test_helpers_run_at_the_callers_priority),
        cmocka_unit_test(test_resume_equals_uninterrupted),
        cmocka_unit_test(test_corrupt_checkpoint),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_yield_between_batches),
        cmocka_unit_test(test_divergence),
        cmocka_unit_test(test_early_stopping_restores_best),
        cmocka_unit_test(test_export_folds_batch_norm),
        cmocka_unit_test(test_autoencoder_denoising_trains),
        cmocka_unit_test(test_init_follows_each_layers_activation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
