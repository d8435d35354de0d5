/* test_net.c — core/net: spec checks, a hand-computed forward pass, sgemv (one row) against sgemm
 * (many rows) against a double reference, standardisation both ways, the encoder, save/load
 * bit-identity, the one-row serving fast path (net_prepare_serving), rejection of every truncation
 * and of byte/bit corruptions (and of crafted headers with a valid CRC), and concurrent prediction
 * on one shared net. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "act.h"
#include "crc32.h"
#include "net.h"
#include "core/spec.h"
#include "rng.h"

static net *new_net(const net_spec *s)
{
    net *n = NULL;
    mlp_error e;
    mlp_error_clear(&e);
    mlp_err rc = net_new(s, &n, &e);
    if (rc != MLP_OK) fail_msg("net_new: %s (%s)", e.msg, e.field);
    assert_non_null(n);
    return n;
}

/* Random weights, and optionally random standardisation. */
static void randomise(net *n, uint64_t seed, int standardisation)
{
    rng r;
    rng_seed(&r, seed);
    float *p = net_params(n);
    for (size_t i = 0; i < net_param_count(n); i++) p[i] = (float)(rng_normal(&r) * 0.5);
    if (!standardisation) return;
    const net_spec *s = net_get_spec(n);
    for (int j = 0; j < s->n_in; j++) {
        net_x_mean(n)[j] = (float)(rng_normal(&r) * 3.0);
        net_x_scale(n)[j] = (float)(0.5 + rng_uniform(&r) * 4.0);
    }
    for (int j = 0; j < s->n_out; j++) {
        net_y_mean(n)[j] = (float)(rng_normal(&r) * 10.0);
        net_y_scale(n)[j] = (float)(0.1 + rng_uniform(&r) * 5.0);
    }
}

static float *alloc_scratch(const net *n, int rows)
{
    size_t k = net_scratch_floats(n, rows);
    float *s = malloc((k ? k : 1) * sizeof *s);
    assert_non_null(s);
    return s;
}

/* ---- spec ----------------------------------------------------------------------------------- */

static void expect_bad(const net_spec *s, const char *field)
{
    mlp_error e;
    mlp_error_clear(&e);
    assert_int_equal(net_spec_check(s, &e), MLP_EINVAL);
    assert_string_equal(e.field, field);
    assert_true(e.msg[0] != '\0');
    net *n = (net *)1;
    assert_int_equal(net_new(s, &n, NULL), MLP_EINVAL);
    assert_null(n);
}

static void spec_checks(void **state)
{
    (void)state;
    const int h[] = {8, 3, 8};
    net_spec ok =
        test_spec(TASK_CLASSIFICATION, 4, 3, 1, h, ACT_RELU, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    assert_int_equal(net_spec_check(&ok, NULL), MLP_OK);
    net_spec s = ok;
    s.n_in = 0;
    expect_bad(&s, "features");
    s = ok;
    s.n_out = 1; /* softmax over one class */
    expect_bad(&s, "target");
    s = ok;
    s.n_hidden = NET_MAX_HIDDEN + 1;
    expect_bad(&s, "params.hidden");
    s = ok;
    s.n_hidden = -1;
    expect_bad(&s, "params.hidden");
    s = ok;
    s.hidden[0] = 0;
    expect_bad(&s, "params.hidden");
    s.hidden[0] = 65537;
    expect_bad(&s, "params.hidden");
    s.hidden[0] = 65536;
    assert_int_equal(net_spec_check(&s, NULL), MLP_OK);
    s = ok;
    s.act = ACT_SOFTMAX;
    expect_bad(&s, "params.activation");
    s = ok;
    s.out_act = ACT_SIGMOID; /* cross_entropy with sigmoid */
    expect_bad(&s, "params.loss");
    s.loss = LOSS_LOGISTIC;
    assert_int_equal(net_spec_check(&s, NULL), MLP_OK);
    s = ok;
    s.out_act = ACT_LINEAR;
    s.loss = LOSS_SQUARED; /* classification needs probabilities */
    expect_bad(&s, "params.output_activation");
    s = ok;
    s.task = TASK_REGRESSION; /* softmax regression */
    expect_bad(&s, "params.output_activation");
    s = ok;
    s.task = (net_task)7;
    expect_bad(&s, "task");
    s = ok;
    s.loss = (loss_kind)9;
    expect_bad(&s, "params.loss");
    s = ok;
    s.out_act = (act_kind)-2;
    expect_bad(&s, "params.output_activation");

    net_spec ae = test_spec(TASK_AUTOENCODER, 6, 6, 3, h, ACT_TANH, ACT_LINEAR, LOSS_SQUARED);
    assert_int_equal(net_spec_check(&ae, NULL), MLP_OK);
    s = ae;
    s.n_out = 5;
    expect_bad(&s, "task");
    s = ae;
    s.n_hidden = 0;
    expect_bad(&s, "params.hidden");
    s = ae;
    s.out_act = ACT_SIGMOID;
    s.loss = LOSS_LOGISTIC;
    assert_int_equal(net_spec_check(&s, NULL), MLP_OK);
    assert_int_equal(net_spec_check(NULL, NULL), MLP_EINVAL);
}

static void param_count_and_code_layer(void **state)
{
    (void)state;
    const int h[] = {256, 128};
    net_spec s =
        test_spec(TASK_CLASSIFICATION, 784, 10, 2, h, ACT_RELU, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    size_t want = 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10;
    assert_int_equal(net_spec_param_count(&s), want);
    net *n = new_net(&s);
    assert_int_equal(net_param_count(n), want);
    /* layout: W0, b0, W1, b1, W2, b2 contiguous */
    assert_ptr_equal(net_layer_w(n, 0), net_params(n));
    assert_ptr_equal(net_layer_b(n, 0), net_params(n) + 784 * 256);
    assert_ptr_equal(net_layer_w(n, 1), net_layer_b(n, 0) + 256);
    assert_ptr_equal(net_layer_b(n, 2) + 10, net_params(n) + want);
    int out, in;
    net_layer(n, 2, NULL, NULL, &out, &in);
    assert_int_equal(out, 10);
    assert_int_equal(in, 128);
    /* identity standardisation */
    for (int j = 0; j < 784; j++) assert_true(net_x_mean(n)[j] == 0 && net_x_scale(n)[j] == 1);
    for (int j = 0; j < 10; j++) assert_true(net_y_mean(n)[j] == 0 && net_y_scale(n)[j] == 1);
    for (size_t i = 0; i < want; i++) assert_true(net_params(n)[i] == 0.0f);
    assert_int_equal(net_code_dim(n), 128);
    net_free(n);
    net_free(NULL);

    const int t[] = {9, 4, 7, 4, 9};
    s.n_hidden = 5;
    memcpy(s.hidden, t, sizeof t);
    assert_int_equal(net_spec_code_layer(&s), 1); /* first on ties */
    s.n_hidden = 0;
    assert_int_equal(net_spec_code_layer(&s), -1);
    s.n_in = -1;
    assert_true(net_spec_param_count(&s) == SIZE_MAX);
}

/* ---- inference ------------------------------------------------------------------------------ */

static void hand_computed_forward(void **state)
{
    (void)state;
    const int h[] = {2};
    net_spec s = test_spec(TASK_CLASSIFICATION, 2, 1, 1, h, ACT_RELU, ACT_SIGMOID, LOSS_LOGISTIC);
    net *n = new_net(&s);
    /* W0 = [[1, -1], [0.5, 2]], b0 = [0, -1]; W1 = [[1, -2]], b1 = [0.5] */
    const float p[] = {1, -1, 0.5f, 2, 0, -1, 1, -2, 0.5f};
    assert_int_equal(net_param_count(n), 9);
    memcpy(net_params(n), p, sizeof p);
    /* x = (1, 2): z0 = (-1, 3.5), a0 = (0, 3.5), z1 = -6.5, y = sigmoid(-6.5)
     * x = (3, 1): z0 = (2, 2.5),  a0 = (2, 2.5), z1 = -2.5, y = sigmoid(-2.5)
     * x = (-1, -1): z0 = (0, -3.5), a0 = (0, 0), z1 = 0.5, y = sigmoid(0.5) */
    const float X[] = {1, 2, 3, 1, -1, -1};
    const double want[] = {1 / (1 + exp(6.5)), 1 / (1 + exp(2.5)), 1 / (1 + exp(-0.5))};
    float Y[3], *scratch = alloc_scratch(n, 3);
    assert_int_equal(net_predict(n, X, 3, Y, scratch), MLP_OK);
    for (int i = 0; i < 3; i++) assert_true(fabs(Y[i] - want[i]) < 1e-7);
    assert_int_equal(net_predict(n, X + 2, 1, Y, scratch), MLP_OK);
    assert_true(fabs(Y[0] - want[1]) < 1e-7);

    /* regression head on the same weights: linear output, then y = y'·scale + mean */
    net_spec r = test_spec(TASK_REGRESSION, 2, 1, 1, h, ACT_RELU, ACT_LINEAR, LOSS_SQUARED);
    net *m = new_net(&r);
    memcpy(net_params(m), p, sizeof p);
    net_y_scale(m)[0] = 10.0f;
    net_y_mean(m)[0] = 100.0f;
    assert_int_equal(net_predict(m, X, 3, Y, scratch), MLP_OK);
    assert_true(Y[0] == 35.0f && Y[1] == 75.0f && Y[2] == 105.0f);
    /* input standardisation: x' = (x - mean) / scale; (3, 5) -> (1, 2) */
    net_x_mean(m)[0] = 1.0f;
    net_x_mean(m)[1] = 1.0f;
    net_x_scale(m)[0] = 2.0f;
    net_x_scale(m)[1] = 2.0f;
    const float X2[] = {3, 5};
    assert_int_equal(net_predict(m, X2, 1, Y, scratch), MLP_OK);
    assert_true(Y[0] == 35.0f);
    free(scratch);
    net_free(n);
    net_free(m);
}

typedef struct {
    net_task task;
    int n_in, n_out, n_hidden;
    int hidden[4];
    act_kind act, out_act;
    loss_kind loss;
} cfg;

static const cfg CONFIGS[] = {
    {TASK_CLASSIFICATION, 7, 4, 2, {9, 5}, ACT_TANH, ACT_SOFTMAX, LOSS_CROSS_ENTROPY},
    {TASK_CLASSIFICATION, 5, 3, 1, {6}, ACT_SWISH, ACT_SIGMOID, LOSS_LOGISTIC},
    {TASK_REGRESSION, 6, 2, 3, {8, 8, 3}, ACT_ELU, ACT_LINEAR, LOSS_SQUARED},
    {TASK_REGRESSION, 3, 1, 0, {0}, ACT_RELU, ACT_LINEAR, LOSS_SQUARED},
    {TASK_AUTOENCODER, 6, 6, 3, {5, 2, 5}, ACT_MISH, ACT_LINEAR, LOSS_SQUARED},
    {TASK_REGRESSION, 4, 3, 2, {5, 4}, ACT_SOFTSIGN, ACT_SOFTPLUS, LOSS_SQUARED},
};

static net *net_from_cfg(const cfg *c, uint64_t seed)
{
    net_spec s =
        test_spec(c->task, c->n_in, c->n_out, c->n_hidden, c->hidden, c->act, c->out_act, c->loss);
    net *n = new_net(&s);
    randomise(n, seed, 1);
    return n;
}

static void gemv_gemm_and_reference_agree(void **state)
{
    (void)state;
    enum { ROWS = 9 };
    for (size_t t = 0; t < sizeof CONFIGS / sizeof CONFIGS[0]; t++) {
        const cfg *c = &CONFIGS[t];
        net *n = net_from_cfg(c, 100 + t);
        rng r;
        rng_seed(&r, t);
        float X[ROWS * 16], Y[ROWS * 16], Y1[16];
        for (int i = 0; i < ROWS * c->n_in; i++) X[i] = (float)(rng_normal(&r) * 3.0);
        float *scratch = alloc_scratch(n, ROWS);
        assert_int_equal(net_predict(n, X, ROWS, Y, scratch), MLP_OK);
        for (int i = 0; i < ROWS; i++) {
            double ref[16];
            test_ref_forward(n, X + i * c->n_in, c->n_hidden, ref);
            /* one row goes through sgemv with exactly the one-row scratch */
            float *s1 = alloc_scratch(n, 1);
            assert_int_equal(net_predict(n, X + i * c->n_in, 1, Y1, s1), MLP_OK);
            free(s1);
            for (int o = 0; o < c->n_out; o++) {
                double tol = 1e-5 * (1 + fabs(ref[o]));
                float many = Y[i * c->n_out + o];
                if (fabs(many - ref[o]) > tol || fabs(Y1[o] - ref[o]) > tol ||
                    fabs(Y1[o] - many) > tol)
                    fail_msg("config %zu row %d out %d: sgemm %.9g sgemv %.9g reference %.9g", t, i,
                             o, (double)many, (double)Y1[o], ref[o]);
            }
            if (c->out_act == ACT_SOFTMAX) {
                double sum = 0;
                for (int o = 0; o < c->n_out; o++) sum += Y[i * c->n_out + o];
                assert_true(fabs(sum - 1.0) < 1e-5);
            }
        }
        assert_int_equal(net_predict(n, X, 0, Y, NULL), MLP_OK);
        assert_int_equal(net_predict(n, X, -1, Y, scratch), MLP_EINVAL);
        assert_int_equal(net_predict(n, NULL, 2, Y, scratch), MLP_EINVAL);
        free(scratch);
        net_free(n);
    }
}

/* W = I with input and output standardisation that undo each other: the net is the identity. */
/* net_prepare_serving: one row with zeros skips their weights, and must still agree with the
 * double reference and with the dense path, whatever the pattern of zeros (none, all, runs and
 * gaps of every length around SPARSE_GAP, at both ends), for split columns (0 near the mean),
 * columns never split (0 far from the mean: a "year"), and the identity standardisation. */
static void serving_fast_path_agrees(void **state)
{
    (void)state;
    enum { IN = 100, OUT = 5 };
    const int hidden[2] = {40, 12};
    for (int variant = 0; variant < 3; variant++) {
        net_spec s = test_spec(variant == 1 ? TASK_REGRESSION : TASK_CLASSIFICATION, IN, OUT, 2,
                               hidden, ACT_RELU, variant == 1 ? ACT_LINEAR : ACT_SOFTMAX,
                               variant == 1 ? LOSS_SQUARED : LOSS_CROSS_ENTROPY);
        net *n = new_net(&s), *dense = NULL;
        randomise(n, 40 + (uint64_t)variant, variant == 1);
        rng r;
        rng_seed(&r, 99 + (uint64_t)variant);
        if (variant != 2) /* variant 2: identity standardisation, every column split */
            for (int j = 0; j < IN; j++) {
                int year = j % 7 == 3;
                net_x_mean(n)[j] = year ? 2020.0f : (float)(rng_uniform(&r) * 0.6);
                net_x_scale(n)[j] = year ? 5.0f : (float)(0.2 + rng_uniform(&r));
            }
        assert_int_equal(net_clone(n, &dense), MLP_OK);
        assert_int_equal(net_prepare_serving(n), MLP_OK);
        assert_true(net_serving_prepared(n));
        assert_false(net_serving_prepared(dense));
        float *s1 = alloc_scratch(n, 1), *s2 = alloc_scratch(dense, 1);
        for (int pattern = 0; pattern < 60; pattern++) {
            float x[IN];
            int gap = pattern % 20; /* zeros between used inputs: 0 .. 19 */
            for (int j = 0; j < IN; j++) {
                int used = pattern == 0   ? 0
                           : pattern == 1 ? 1
                           : gap == 0     ? rng_uniform(&r) < 0.5
                                          : (j / (gap + 1)) % 2 == (pattern / 20) % 2;
                x[j] = used ? (float)(rng_uniform(&r) * 1.5) : (j % 11 == 0 ? -0.0f : 0.0f);
                if (j % 7 == 3 && variant != 2) x[j] = (float)(2020.0 + rng_normal(&r) * 5.0);
            }
            float y[OUT], yd[OUT];
            double ref[OUT];
            assert_int_equal(net_predict(n, x, 1, y, s1), MLP_OK);
            assert_int_equal(net_predict(dense, x, 1, yd, s2), MLP_OK);
            test_ref_forward(n, x, 2, ref);
            for (int o = 0; o < OUT; o++) {
                double tol = 1e-5 * (1 + fabs(ref[o]));
                if (fabs(y[o] - ref[o]) > tol || fabs(y[o] - yd[o]) > tol)
                    fail_msg("variant %d pattern %d out %d: fast %.9g dense %.9g reference %.9g",
                             variant, pattern, o, (double)y[o], (double)yd[o], ref[o]);
            }
        }
        /* a mutable accessor drops the fast path: the dense path's bits again */
        float x[IN], y[OUT], yd[OUT];
        for (int j = 0; j < IN; j++) x[j] = j % 3 ? 0.0f : 0.5f;
        (void)net_params(n);
        assert_false(net_serving_prepared(n));
        assert_int_equal(net_predict(n, x, 1, y, s1), MLP_OK);
        assert_int_equal(net_predict(dense, x, 1, yd, s2), MLP_OK);
        assert_memory_equal(y, yd, sizeof y);
        free(s1);
        free(s2);
        net_free(dense);
        net_free(n);
    }
    /* nothing to skip: narrow inputs, or 0 far from every column's mean */
    const cfg *c = &CONFIGS[0];
    net *n = net_from_cfg(c, 5);
    assert_int_equal(net_prepare_serving(n), MLP_OK);
    assert_false(net_serving_prepared(n));
    net_free(n);
    net_spec s = test_spec(TASK_REGRESSION, 20, 1, 1, hidden, ACT_RELU, ACT_LINEAR, LOSS_SQUARED);
    n = new_net(&s);
    randomise(n, 6, 0);
    for (int j = 0; j < 20; j++) net_x_mean(n)[j] = 100.0f, net_x_scale(n)[j] = 1.0f;
    assert_int_equal(net_prepare_serving(n), MLP_OK);
    assert_false(net_serving_prepared(n));
    net_free(n);
}

static void standardisation_both_ways(void **state)
{
    (void)state;
    net_spec s = test_spec(TASK_REGRESSION, 3, 3, 0, NULL, ACT_RELU, ACT_LINEAR, LOSS_SQUARED);
    net *n = new_net(&s);
    float *W = net_layer_w(n, 0);
    for (int i = 0; i < 3; i++) W[i * 3 + i] = 1.0f;
    const float mean[3] = {5, -2, 0.25f}, scale[3] = {2, 0.5f, 8};
    float X[6] = {1, 2, 3, -4, 10.5f, 7}, Y[6], scratch[6];
    assert_int_equal(net_scratch_floats(n, 2), 6);
    assert_int_equal(net_predict(n, X, 2, Y, scratch), MLP_OK);
    assert_memory_equal(X, Y, sizeof X); /* identity standardisation is exact */
    memcpy(net_x_mean(n), mean, sizeof mean);
    memcpy(net_x_scale(n), scale, sizeof scale);
    assert_int_equal(net_predict(n, X, 2, Y, scratch), MLP_OK);
    for (int i = 0; i < 6; i++)
        assert_true(fabsf(Y[i] - (X[i] - mean[i % 3]) / scale[i % 3]) < 1e-6f);
    memcpy(net_y_mean(n), mean, sizeof mean);
    memcpy(net_y_scale(n), scale, sizeof scale);
    assert_int_equal(net_predict(n, X, 2, Y, scratch), MLP_OK);
    for (int i = 0; i < 6; i++) assert_true(fabsf(Y[i] - X[i]) < 1e-5f);
    /* Y may alias X: X is read into scratch before Y is written */
    float Z[6];
    memcpy(Z, X, sizeof X);
    assert_int_equal(net_predict(n, Z, 2, Z, scratch), MLP_OK);
    assert_memory_equal(Z, Y, sizeof Y);
    net_free(n);
}

static void encode_returns_code_layer(void **state)
{
    (void)state;
    const cfg *c = &CONFIGS[4]; /* autoencoder 6-[5,2,5]-6 */
    net *n = net_from_cfg(c, 7);
    assert_int_equal(net_code_dim(n), 2);
    enum { ROWS = 5 };
    rng r;
    rng_seed(&r, 3);
    float X[ROWS * 6], codes[ROWS * 2], c1[2];
    for (int i = 0; i < ROWS * 6; i++) X[i] = (float)rng_normal(&r);
    float *scratch = alloc_scratch(n, ROWS);
    assert_int_equal(net_encode(n, X, ROWS, codes, scratch), MLP_OK);
    for (int i = 0; i < ROWS; i++) {
        double ref[16];
        test_ref_forward(n, X + i * 6, 1, ref);
        assert_int_equal(net_encode(n, X + i * 6, 1, c1, scratch), MLP_OK);
        for (int o = 0; o < 2; o++) {
            assert_true(fabs(codes[i * 2 + o] - ref[o]) < 1e-5 * (1 + fabs(ref[o])));
            assert_true(fabs(c1[o] - ref[o]) < 1e-5 * (1 + fabs(ref[o])));
        }
    }
    free(scratch);
    net_free(n);
    /* no hidden layer, no code */
    net *m = net_from_cfg(&CONFIGS[3], 1);
    float sc[3], out[1];
    assert_int_equal(net_code_dim(m), 0);
    assert_int_equal(net_encode(m, X, 1, out, sc), MLP_EINVAL);
    net_free(m);
}

static void clone_is_deep(void **state)
{
    (void)state;
    net *n = net_from_cfg(&CONFIGS[0], 5), *c = NULL;
    assert_int_equal(net_clone(n, &c), MLP_OK);
    assert_ptr_not_equal(net_params(n), net_params(c));
    assert_memory_equal(net_params_const(n), net_params_const(c),
                        net_param_count(n) * sizeof(float));
    assert_memory_equal(net_x_scale_const(n), net_x_scale_const(c), 7 * sizeof(float));
    net_params(c)[0] += 1.0f;
    assert_true(net_params(c)[0] != net_params(n)[0]);
    net_free(n);
    net_free(c);
}

/* ---- serialisation -------------------------------------------------------------------------- */

static void crc32_known_vector(void **state)
{
    (void)state;
    assert_int_equal(crc32_of("123456789", 9), 0xCBF43926u);
    assert_int_equal(crc32_update(crc32_of("1234", 4), "56789", 5), 0xCBF43926u);
    assert_int_equal(crc32_of("", 0), 0);
}

static void save_load_round_trip(void **state)
{
    (void)state;
    for (size_t t = 0; t < sizeof CONFIGS / sizeof CONFIGS[0]; t++) {
        net *n = net_from_cfg(&CONFIGS[t], 40 + t), *m = NULL;
        void *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;
        assert_int_equal(net_save(n, &buf, &len), MLP_OK);
        mlp_error e;
        mlp_error_clear(&e);
        assert_int_equal(net_load(buf, len, &m, &e), MLP_OK);
        const net_spec *a = net_get_spec(n), *b = net_get_spec(m);
        assert_memory_equal(a, b, sizeof *a);
        assert_int_equal(net_param_count(n), net_param_count(m));
        assert_memory_equal(net_params_const(n), net_params_const(m),
                            net_param_count(n) * sizeof(float));
        /* predictions bit-identical */
        const cfg *c = &CONFIGS[t];
        float X[4 * 16], Y[4 * 16], Z[4 * 16];
        for (int i = 0; i < 4 * c->n_in; i++) X[i] = (float)i * 0.37f - 2.0f;
        float *scratch = alloc_scratch(n, 4);
        assert_int_equal(net_predict(n, X, 4, Y, scratch), MLP_OK);
        assert_int_equal(net_predict(m, X, 4, Z, scratch), MLP_OK);
        assert_memory_equal(Y, Z, (size_t)(4 * c->n_out) * sizeof(float));
        free(scratch);
        /* saving the loaded net gives the same bytes */
        assert_int_equal(net_save(m, &buf2, &len2), MLP_OK);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        /* little-endian layout regardless of host */
        const unsigned char *p = buf;
        assert_memory_equal(p, "MLPN", 4);
        assert_true(p[4] == 1 && p[5] == 0 && p[6] == 0 && p[7] == 0);
        assert_true(p[12] == (unsigned char)c->n_in && p[13] == 0 && p[14] == 0 && p[15] == 0);
        uint32_t crc = (uint32_t)p[len - 4] | (uint32_t)p[len - 3] << 8 |
                       (uint32_t)p[len - 2] << 16 | (uint32_t)p[len - 1] << 24;
        assert_int_equal(crc, crc32_of(p, len - 4));
        free(buf);
        free(buf2);
        net_free(n);
        net_free(m);
    }
}

/* Loads an exact-size copy of buf; must be MLP_ECORRUPT with a message. Returns nothing; with
 * structural = 1 the message must not blame the checksum (the CRC was recomputed). */
static void expect_corrupt_msg(const void *buf, size_t len, const char *what, size_t at,
                               int structural)
{
    /* an exact-size copy, so that any over-read is caught by ASan */
    void *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, buf, len);
    net *m = (net *)1;
    mlp_error e;
    mlp_error_clear(&e);
    mlp_err rc = net_load(copy, len, &m, &e);
    if (rc != MLP_ECORRUPT || m != NULL)
        fail_msg("%s at %zu: net_load returned %s", what, at, mlp_strerror(rc));
    if (e.msg[0] == '\0') fail_msg("%s at %zu: no message", what, at);
    if (structural && strstr(e.msg, "checksum"))
        fail_msg("%s at %zu: caught by the checksum, not the structure: %s", what, at, e.msg);
    free(copy);
}

static void expect_corrupt(const void *buf, size_t len, const char *what, size_t at)
{
    expect_corrupt_msg(buf, len, what, at, 0);
}

static void every_truncation_and_corruption_rejected(void **state)
{
    (void)state;
    net *n = net_from_cfg(&CONFIGS[2], 11);
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(net_save(n, &buf, &len), MLP_OK);
    unsigned char *b = buf;
    for (size_t l = 0; l < len; l++) expect_corrupt(b, l, "truncation", l);
    /* one byte too many */
    unsigned char *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, b, len);
    longer[len] = 0;
    expect_corrupt(longer, len + 1, "extra byte", len);
    free(longer);
    /* every byte replaced, and every single bit flipped */
    for (size_t i = 0; i < len; i++) {
        unsigned char keep = b[i];
        b[i] = (unsigned char)~keep;
        expect_corrupt(b, len, "byte inverted", i);
        for (int bit = 0; bit < 8; bit++) {
            b[i] = (unsigned char)(keep ^ (1u << bit));
            expect_corrupt(b, len, "bit flipped", i * 8 + (size_t)bit);
        }
        b[i] = keep;
    }
    net *m = NULL;
    assert_int_equal(net_load(b, len, &m, NULL), MLP_OK); /* restored: loads again */
    net_free(m);
    assert_int_equal(net_load(NULL, 0, &m, NULL), MLP_ECORRUPT);
    free(buf);
    net_free(n);
}

/* Rewrites u32 at `off` and fixes the CRC, so that the structural checks (not the checksum) must
 * catch the damage. */
static void crafted(const unsigned char *orig, size_t len, size_t off, uint32_t v, const char *what)
{
    unsigned char *b = malloc(len);
    assert_non_null(b);
    memcpy(b, orig, len);
    for (int i = 0; i < 4; i++) b[off + (size_t)i] = (unsigned char)(v >> (8 * i));
    uint32_t crc = crc32_of(b, len - 4);
    for (int i = 0; i < 4; i++) b[len - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
    expect_corrupt_msg(b, len, what, off, 1);
    free(b);
}

static void crafted_headers_with_valid_crc_rejected(void **state)
{
    (void)state;
    net *n = net_from_cfg(&CONFIGS[0], 12); /* 7 -> [9, 5] -> 4 */
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(net_save(n, &buf, &len), MLP_OK);
    const unsigned char *b = buf;
    /* offsets: 8 task, 12 n_in, 16 n_out, 20 n_hidden, 24 h0, 28 h1, 32 act, 36 out_act,
     * 40 loss, 44 batch_norm, 48 n_params (u64) */
    crafted(b, len, 4, 2, "version 2");
    crafted(b, len, 8, 3, "task");
    crafted(b, len, 12, 0, "n_in 0");
    crafted(b, len, 12, 8, "n_in 8");
    crafted(b, len, 12, 0x7fffffffu, "n_in huge");
    crafted(b, len, 12, 0x80000000u, "n_in negative");
    crafted(b, len, 16, 5, "n_out");
    crafted(b, len, 20, 1, "n_hidden 1");
    crafted(b, len, 20, 3, "n_hidden 3");
    crafted(b, len, 20, 33, "n_hidden 33");
    crafted(b, len, 20, 0xffffffffu, "n_hidden -1");
    crafted(b, len, 24, 0, "hidden width 0");
    crafted(b, len, 24, 10, "hidden width 10");
    crafted(b, len, 24, 100000, "hidden width 100000");
    crafted(b, len, 32, ACT_SOFTMAX, "hidden softmax");
    crafted(b, len, 32, 99, "act 99");
    crafted(b, len, 36, ACT_SIGMOID, "out_act sigmoid with cross entropy");
    crafted(b, len, 40, LOSS_SQUARED, "squared with softmax");
    crafted(b, len, 44, 2, "batch_norm 2");
    crafted(b, len, 48, (uint32_t)net_param_count(n) + 1, "n_params + 1");
    crafted(b, len, 52, 1, "n_params high word");
    size_t x_scale0 = 56 + 4 * (net_param_count(n) + 7);
    crafted(b, len, x_scale0, 0, "x_scale[0] = 0");
    crafted(b, len, x_scale0 + 4, 0x7f800000u, "x_scale[1] = inf");
    crafted(b, len, len - 8, 0x7fc00000u, "y_scale[3] = NaN");

    /* a shorter body with a recomputed CRC */
    for (size_t cut = 4; cut <= 64; cut += 4) {
        unsigned char *s = malloc(len - cut);
        assert_non_null(s);
        memcpy(s, b, len - cut - 4);
        uint32_t crc = crc32_of(s, len - cut - 4);
        for (int i = 0; i < 4; i++) s[len - cut - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
        expect_corrupt_msg(s, len - cut, "short body", cut, 1);
        free(s);
    }
    free(buf);
    net_free(n);
}

/* ---- concurrency and speed ------------------------------------------------------------------ */

typedef struct {
    const net *n;
    const float *X;
    const float *want1; /* one-row answers, rows × n_out */
    const float *wantm; /* many-row answer */
    int rows, n_in, n_out;
    int mismatches;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    float *s = malloc(net_scratch_floats(w->n, w->rows) * sizeof *s);
    float *Y = malloc((size_t)w->rows * (size_t)w->n_out * sizeof *Y);
    if (!s || !Y) {
        w->mismatches = -1;
        goto out;
    }
    for (int it = 0; it < 200; it++) {
        int i = it % w->rows;
        if (net_predict(w->n, w->X + i * w->n_in, 1, Y, s) != MLP_OK ||
            memcmp(Y, w->want1 + i * w->n_out, (size_t)w->n_out * sizeof *Y) != 0)
            w->mismatches++;
        if (it % 10 == 0 &&
            (net_predict(w->n, w->X, w->rows, Y, s) != MLP_OK ||
             memcmp(Y, w->wantm, (size_t)w->rows * (size_t)w->n_out * sizeof *Y) != 0))
            w->mismatches++;
    }
out:
    free(s);
    free(Y);
    return NULL;
}

static void concurrent_predictions_agree(void **state)
{
    (void)state;
    enum { ROWS = 8, THREADS = 4 };
    const cfg *c = &CONFIGS[0];
    net *n = net_from_cfg(c, 21);
    rng r;
    rng_seed(&r, 2);
    float X[ROWS * 7], want1[ROWS * 4], wantm[ROWS * 4];
    for (int i = 0; i < ROWS * 7; i++) X[i] = (float)rng_normal(&r);
    float *s = alloc_scratch(n, ROWS);
    for (int i = 0; i < ROWS; i++)
        assert_int_equal(net_predict(n, X + i * 7, 1, want1 + i * 4, s), MLP_OK);
    assert_int_equal(net_predict(n, X, ROWS, wantm, s), MLP_OK);
    free(s);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (worker_arg){n, X, want1, wantm, ROWS, 7, 4, 0};
        assert_int_equal(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].mismatches, 0);
    }
    net_free(n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Not a pass/fail benchmark (the machine is shared): prints the cost of one Fashion-MNIST-sized
 * row, and checks only that it is not absurd. */
static void one_row_latency(void **state)
{
    (void)state;
    const int h[] = {256, 128};
    net_spec sp =
        test_spec(TASK_CLASSIFICATION, 784, 10, 2, h, ACT_RELU, ACT_SOFTMAX, LOSS_CROSS_ENTROPY);
    net *n = new_net(&sp);
    randomise(n, 3, 0);
    float x[784], y[10], *s = alloc_scratch(n, 1);
    for (int i = 0; i < 784; i++) x[i] = (float)(i % 17) / 17.0f;
    for (int i = 0; i < 200; i++) net_predict(n, x, 1, y, s);
    const int iters = 3000;
    double t0 = now_s();
    for (int i = 0; i < iters; i++) net_predict(n, x, 1, y, s);
    double us = (now_s() - t0) / iters * 1e6;
    print_message("784-256-128-10, one row: %.1f us per net_predict\n", us);
    assert_true(us < 5000);
    free(s);
    net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_checks),
        cmocka_unit_test(param_count_and_code_layer),
        cmocka_unit_test(hand_computed_forward),
        cmocka_unit_test(gemv_gemm_and_reference_agree),
        cmocka_unit_test(serving_fast_path_agrees),
        cmocka_unit_test(standardisation_both_ways),
        cmocka_unit_test(encode_returns_code_layer),
        cmocka_unit_test(clone_is_deep),
        cmocka_unit_test(crc32_known_vector),
        cmocka_unit_test(save_load_round_trip),
        cmocka_unit_test(every_truncation_and_corruption_rejected),
        cmocka_unit_test(crafted_headers_with_valid_crc_rejected),
        cmocka_unit_test(concurrent_predictions_agree),
        cmocka_unit_test(one_row_latency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
