/* test_loss.c — gradient checks of core/loss: for every allowed (loss, output activation) pair and
 * every target form, central finite differences of the mean loss with respect to Z against the
 * analytic dZ; the pairing rule; known values; finite results for |z| = 1000. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "act.h"
#include "loss.h"
#include "rng.h"

enum { R = 5, K_MAX = 4 };

typedef struct {
    loss_kind loss;
    act_kind act;
    int k;
    int use_labels; /* 0: dense Y */
} pair_case;

/* Finite-difference check of d(mean loss)/dZ for one case, on random Z away from kinks. */
static void check_case(const pair_case *c, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    const int k = c->k, n = R * k;
    float Z[R * K_MAX], P[R * K_MAX], dZ[R * K_MAX], Y[R * K_MAX];
    int labels[R];
    for (int i = 0; i < n; i++) {
        float z = (float)(rng_uniform(&r) * 6.0 - 3.0);
        if (fabsf(z) < 0.1f) z = z < 0 ? -0.1f - z : 0.1f + z; /* relu/elu kinks */
        Z[i] = z;
    }
    for (int i = 0; i < R; i++) labels[i] = (int)rng_below(&r, k == 1 ? 2 : (uint64_t)k);
    for (int i = 0; i < R; i++) {
        double s = 0;
        for (int j = 0; j < k; j++) {
            double v = rng_uniform(&r);
            if (c->loss == LOSS_SQUARED) v = v * 4.0 - 2.0;
            Y[i * k + j] = (float)v;
            s += v;
        }
        if (c->loss == LOSS_CROSS_ENTROPY) /* a probability distribution */
            for (int j = 0; j < k; j++) Y[i * k + j] = (float)(Y[i * k + j] / s);
    }
    const float *y = c->use_labels ? NULL : Y;
    const int *lab = c->use_labels ? labels : NULL;

    double L = loss_forward(c->loss, c->act, Z, P, y, lab, R, k, dZ);
    assert_true(isfinite(L));
    assert_true(L >= 0.0);
    /* dZ may alias P: the same numbers come out */
    float P2[R * K_MAX];
    double L2 = loss_forward(c->loss, c->act, Z, P2, y, lab, R, k, P2);
    assert_true(L2 == L);
    assert_memory_equal(P2, dZ, (size_t)n * sizeof *dZ);
    /* no dZ: same loss, same P */
    float P3[R * K_MAX];
    assert_true(loss_forward(c->loss, c->act, Z, P3, y, lab, R, k, NULL) == L);
    assert_memory_equal(P3, P, (size_t)n * sizeof *P);

    double max_abs = 0;
    for (int i = 0; i < n; i++) {
        float z0 = Z[i];
        float zp = z0 + 1e-2f, zm = z0 - 1e-2f;
        Z[i] = zp;
        double Lp = loss_forward(c->loss, c->act, Z, P, y, lab, R, k, NULL);
        Z[i] = zm;
        double Lm = loss_forward(c->loss, c->act, Z, P, y, lab, R, k, NULL);
        Z[i] = z0;
        double fd = (Lp - Lm) / ((double)zp - (double)zm);
        if (fabs(dZ[i] - fd) > 2e-5 + 5e-3 * fabs(fd))
            fail_msg("%s/%s k=%d %s: dZ[%d] = %.8g, finite difference %.8g", loss_name(c->loss),
                     act_name(c->act), k, c->use_labels ? "labels" : "dense", i, (double)dZ[i], fd);
        if (fabs(dZ[i]) > max_abs) max_abs = fabs(dZ[i]);
    }
    if (max_abs < 1e-3)
        fail_msg("%s/%s: gradient is ~0 everywhere", loss_name(c->loss), act_name(c->act));
}

static void gradients_of_every_allowed_pair(void **state)
{
    (void)state;
    const pair_case fixed[] = {
        {LOSS_CROSS_ENTROPY, ACT_SOFTMAX, 4, 1}, {LOSS_CROSS_ENTROPY, ACT_SOFTMAX, 2, 1},
        {LOSS_CROSS_ENTROPY, ACT_SOFTMAX, 3, 0}, {LOSS_LOGISTIC, ACT_SIGMOID, 1, 1},
        {LOSS_LOGISTIC, ACT_SIGMOID, 3, 1},      {LOSS_LOGISTIC, ACT_SIGMOID, 3, 0},
        {LOSS_LOGISTIC, ACT_SIGMOID, 1, 0},
    };
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) check_case(&fixed[i], seed++);
    /* squared with every activation it allows, dense targets and labels */
    int n_squared = 0;
    for (int a = 0; a < ACT_COUNT; a++) {
        if (!loss_pair_ok(LOSS_SQUARED, (act_kind)a)) continue;
        n_squared++;
        pair_case c = {LOSS_SQUARED, (act_kind)a, 3, 0};
        check_case(&c, seed++);
        c.k = 1;
        check_case(&c, seed++);
        c.k = 3;
        c.use_labels = 1;
        check_case(&c, seed++);
    }
    assert_int_equal(n_squared, ACT_COUNT - 1);
}

static void pairing_rule(void **state)
{
    (void)state;
    for (int a = 0; a < ACT_COUNT; a++) {
        act_kind k = (act_kind)a;
        assert_int_equal(loss_pair_ok(LOSS_CROSS_ENTROPY, k), k == ACT_SOFTMAX);
        assert_int_equal(loss_pair_ok(LOSS_LOGISTIC, k), k == ACT_SIGMOID);
        assert_int_equal(loss_pair_ok(LOSS_SQUARED, k), k != ACT_SOFTMAX);
    }
    assert_false(loss_pair_ok(LOSS_COUNT, ACT_LINEAR));
    assert_false(loss_pair_ok(LOSS_SQUARED, ACT_COUNT));
    assert_false(loss_pair_ok((loss_kind)-1, ACT_LINEAR));
}

static void known_values(void **state)
{
    (void)state;
    /* all-zero logits over 3 classes: -log(1/3) per row */
    float Z[6] = {0}, P[6], dZ[6];
    int lab[2] = {0, 2};
    double L = loss_forward(LOSS_CROSS_ENTROPY, ACT_SOFTMAX, Z, P, NULL, lab, 2, 3, dZ);
    assert_true(fabs(L - log(3.0)) < 1e-12);
    assert_true(fabs(dZ[0] - (1.0 / 3 - 1) / 2) < 1e-7 && fabs(dZ[1] - (1.0 / 3) / 2) < 1e-7);
    /* logistic at z = 0: log 2 per output */
    int lab1[2] = {1, 0};
    L = loss_forward(LOSS_LOGISTIC, ACT_SIGMOID, Z, P, NULL, lab1, 2, 1, dZ);
    assert_true(fabs(L - log(2.0)) < 1e-12);
    assert_true(fabs(dZ[0] + 0.25) < 1e-7 && fabs(dZ[1] - 0.25) < 1e-7);
    /* squared, linear: 0.5 * sum of squares, mean over rows */
    float Zs[4] = {1, 2, 3, 4}, Ys[4] = {0, 0, 1, 1}, Ps[4], dZs[4];
    L = loss_forward(LOSS_SQUARED, ACT_LINEAR, Zs, Ps, Ys, NULL, 2, 2, dZs);
    assert_true(fabs(L - 0.5 * (1 + 4 + 4 + 9) / 2) < 1e-12);
    assert_true(dZs[0] == 0.5f && dZs[3] == 1.5f);
}

static void finite_for_large_logits(void **state)
{
    (void)state;
    float Z[4] = {1000, -1000, -1000, 1000}, P[4], dZ[4];
    int lab[2] = {1, 0}; /* the confident class is wrong in both rows */
    double L = loss_forward(LOSS_CROSS_ENTROPY, ACT_SOFTMAX, Z, P, NULL, lab, 2, 2, dZ);
    assert_true(isfinite(L));
    assert_true(fabs(L - 2000.0) < 1e-6);
    for (int i = 0; i < 4; i++) assert_true(isfinite(P[i]) && isfinite(dZ[i]));
    assert_true(fabs(dZ[0] - 0.5f) < 1e-7 && fabs(dZ[1] + 0.5f) < 1e-7);

    int lab4[4] = {0, 1, 1, 0};
    L = loss_forward(LOSS_LOGISTIC, ACT_SIGMOID, Z, P, NULL, lab4, 4, 1, dZ);
    assert_true(fabs(L - 1000.0) < 1e-6);
    for (int i = 0; i < 4; i++) assert_true(isfinite(P[i]) && isfinite(dZ[i]));

    float Y[4] = {0, 0, 1, 1};
    for (int a = 0; a < ACT_COUNT; a++) {
        if (!loss_pair_ok(LOSS_SQUARED, (act_kind)a)) continue;
        L = loss_forward(LOSS_SQUARED, (act_kind)a, Z, P, Y, NULL, 2, 2, dZ);
        assert_true(isfinite(L));
        for (int i = 0; i < 4; i++) assert_true(isfinite(dZ[i]));
    }
}

static void names_round_trip(void **state)
{
    (void)state;
    const char *want[] = {"cross_entropy", "logistic", "squared"};
    for (int i = 0; i < LOSS_COUNT; i++) {
        loss_kind l;
        assert_string_equal(loss_name((loss_kind)i), want[i]);
        assert_int_equal(loss_parse(want[i], &l), MLP_OK);
        assert_int_equal(l, i);
    }
    loss_kind l = LOSS_SQUARED;
    assert_int_equal(loss_parse("mse", &l), MLP_EINVAL);
    assert_int_equal(loss_parse(NULL, &l), MLP_EINVAL);
    assert_int_equal(l, LOSS_SQUARED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gradients_of_every_allowed_pair),
        cmocka_unit_test(pairing_rule),
        cmocka_unit_test(known_values),
        cmocka_unit_test(finite_for_large_logits),
        cmocka_unit_test(names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
