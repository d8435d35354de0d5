/* test_act.c — gradient checks and stability of core/act: central finite differences of the
 * double reference against the float backward pass, float forward against the double
 * reference, no inf/NaN for |z| up to 1000, and a stable row-wise softmax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "act.h"

/* Element-wise activations (everything but softmax). */
static const act_kind ELEMENTWISE[] = {ACT_LINEAR,     ACT_SIGMOID, ACT_TANH,     ACT_RELU,
                                       ACT_LEAKY_RELU, ACT_ELU,     ACT_SOFTPLUS, ACT_SWISH,
                                       ACT_MISH,       ACT_SOFTSIGN};
#define N_ELEMENTWISE (sizeof ELEMENTWISE / sizeof ELEMENTWISE[0])

/* Kinked at 0: finite differences across the kink are meaningless. */
static int has_kink(act_kind a)
{
    return a == ACT_RELU || a == ACT_LEAKY_RELU || a == ACT_ELU;
}

enum { NPTS = 400 };

/* Evaluation points: a grid over [-30, 30], plus points near zero. */
static size_t make_points(float *z)
{
    size_t n = 0;
    for (int i = 0; i <= 300; i++) z[n++] = -30.0f + 0.2f * (float)i + 0.0137f;
    static const float near0[] = {-1e-3f, 1e-3f, -0.01f, 0.01f, -0.05f, 0.05f,
                                  -0.3f,  0.3f,  -1.0f,  1.0f,  -2.5f,  2.5f};
    for (size_t i = 0; i < sizeof near0 / sizeof near0[0]; i++) z[n++] = near0[i];
    return n;
}

static void backward_matches_finite_differences(void **state)
{
    (void)state;
    float z[NPTS], a[NPTS], da[NPTS], dz[NPTS];
    size_t n = make_points(z);
    const double h = 1e-5;
    for (size_t t = 0; t < N_ELEMENTWISE; t++) {
        act_kind k = ELEMENTWISE[t];
        act_forward(k, z, a, n);
        for (size_t i = 0; i < n; i++) da[i] = 0.5f + (float)(i % 3); /* upstream gradient */
        act_backward(k, z, a, da, dz, n);
        double max_abs = 0.0;
        for (size_t i = 0; i < n; i++) {
            double zi = z[i];
            if (has_kink(k) && fabs(zi) < 4 * h) continue;
            double fd = (act_scalar(k, zi + h) - act_scalar(k, zi - h)) / (2 * h);
            double ref = act_scalar_deriv(k, zi);
            /* the double reference derivative agrees with finite differences tightly */
            if (fabs(ref - fd) > 1e-6 + 1e-6 * fabs(fd)) {
                fail_msg("%s: act_scalar_deriv(%g) = %.9g, finite difference %.9g", act_name(k), zi,
                         ref, fd);
            }
            /* the float backward pass carries the upstream factor and the right value */
            double want = fd * da[i];
            if (fabs(dz[i] - want) > 1e-5 + 1e-4 * fabs(want)) {
                fail_msg("%s: backward(%g) = %.9g, want %.9g", act_name(k), zi, (double)dz[i],
                         want);
            }
            if (fabs(dz[i]) > max_abs) max_abs = fabs(dz[i]);
        }
        /* an all-zero gradient would pass the comparison only if finite differences were zero
         * too; make sure every activation has a real slope somewhere */
        if (max_abs < 0.4) fail_msg("%s: derivative is ~0 everywhere", act_name(k));
    }
}

static void forward_matches_double_reference(void **state)
{
    (void)state;
    float z[NPTS], a[NPTS];
    size_t n = make_points(z);
    for (size_t t = 0; t < N_ELEMENTWISE; t++) {
        act_kind k = ELEMENTWISE[t];
        act_forward(k, z, a, n);
        for (size_t i = 0; i < n; i++) {
            double ref = act_scalar(k, z[i]);
            if (fabs(a[i] - ref) > 1e-6 + 2e-6 * fabs(ref))
                fail_msg("%s(%g) = %.9g, want %.9g", act_name(k), (double)z[i], (double)a[i], ref);
        }
        /* in place (A aliases Z) gives the same result */
        float b[NPTS];
        memcpy(b, z, n * sizeof *b);
        act_forward(k, b, b, n);
        assert_memory_equal(a, b, n * sizeof *b);
    }
}

static void backward_in_place(void **state)
{
    (void)state;
    float z[NPTS], a[NPTS], da[NPTS], dz[NPTS];
    size_t n = make_points(z);
    for (size_t t = 0; t < N_ELEMENTWISE; t++) {
        act_kind k = ELEMENTWISE[t];
        act_forward(k, z, a, n);
        for (size_t i = 0; i < n; i++) da[i] = 1.0f - 0.01f * (float)i;
        act_backward(k, z, a, da, dz, n);
        act_backward(k, z, a, da, da, n); /* dZ aliases dA */
        assert_memory_equal(dz, da, n * sizeof *dz);
    }
}

static void stable_at_large_magnitudes(void **state)
{
    (void)state;
    const float z[] = {-1000.0f, -100.0f, -88.0f, 88.0f, 100.0f, 1000.0f};
    enum { N = sizeof z / sizeof z[0] };
    float a[N], da[N], dz[N];
    for (int i = 0; i < N; i++) da[i] = 1.0f;
    for (size_t t = 0; t < N_ELEMENTWISE; t++) {
        act_kind k = ELEMENTWISE[t];
        act_forward(k, z, a, N);
        act_backward(k, z, a, da, dz, N);
        for (int i = 0; i < N; i++) {
            if (!isfinite(a[i]) || !isfinite(dz[i]))
                fail_msg("%s at %g: value %g, derivative %g", act_name(k), (double)z[i],
                         (double)a[i], (double)dz[i]);
            double ref = act_scalar(k, z[i]), dref = act_scalar_deriv(k, z[i]);
            assert_true(isfinite(ref) && isfinite(dref));
            assert_true(fabs(a[i] - ref) <= 1e-6 * (1.0 + fabs(ref)));
            assert_true(fabs(dz[i] - dref) <= 1e-5 * (1.0 + fabs(dref)));
        }
    }
    /* a few exact limits */
    float s[2] = {-1000.0f, 1000.0f}, o[2];
    act_forward(ACT_SIGMOID, s, o, 2);
    assert_true(o[0] == 0.0f && o[1] == 1.0f);
    act_forward(ACT_SOFTPLUS, s, o, 2);
    assert_true(o[0] == 0.0f && o[1] == 1000.0f);
    act_forward(ACT_SWISH, s, o, 2);
    assert_true(o[0] == 0.0f && o[1] == 1000.0f);
    act_forward(ACT_MISH, s, o, 2);
    assert_true(o[0] == 0.0f && o[1] == 1000.0f);
    assert_true(act_scalar(ACT_SOFTPLUS, 1000.0) == 1000.0);
    assert_true(act_scalar(ACT_SIGMOID, -1000.0) == 0.0);
}

static void softmax_rows(void **state)
{
    (void)state;
    enum { R = 4, K = 5 };
    float z[R * K] = {0,     1,     2,     3,     4,     /* ordinary */
                      1000,  999,   0,     -1000, 1000,  /* huge */
                      -1000, -1000, -1000, -1000, -999,  /* huge negative */
                      0.5f,  0.5f,  0.5f,  0.5f,  0.5f}; /* uniform */
    float p[R * K];
    act_softmax(z, p, R, K);
    for (int r = 0; r < R; r++) {
        double sum = 0, m = -INFINITY, den = 0;
        for (int j = 0; j < K; j++) m = fmax(m, z[r * K + j]);
        for (int j = 0; j < K; j++) den += exp(z[r * K + j] - m);
        for (int j = 0; j < K; j++) {
            float v = p[r * K + j];
            assert_true(isfinite(v) && v >= 0.0f && v <= 1.0f);
            assert_true(fabs(v - exp(z[r * K + j] - m) / den) < 1e-6);
            sum += v;
        }
        assert_true(fabs(sum - 1.0) < 1e-5);
    }
    assert_true(fabs(p[3 * K] - 0.2f) < 1e-7);
    assert_true(p[K + 3] == 0.0f);
    /* in place */
    act_softmax(z, z, R, K);
    assert_memory_equal(z, p, sizeof p);
}

static void names_round_trip(void **state)
{
    (void)state;
    const char *want = "linear sigmoid tanh relu leaky_relu elu softplus swish mish softsign "
                       "softmax";
    char got[256] = "";
    for (int i = 0; i < ACT_COUNT; i++) {
        act_kind k;
        assert_int_equal(act_parse(act_name((act_kind)i), &k), MLP_OK);
        assert_int_equal(k, i);
        if (i) strcat(got, " ");
        strcat(got, act_name((act_kind)i));
    }
    assert_string_equal(got, want);
    act_kind k = ACT_TANH;
    assert_int_equal(act_parse("ReLU", &k), MLP_EINVAL);
    assert_int_equal(act_parse("", &k), MLP_EINVAL);
    assert_int_equal(act_parse(NULL, &k), MLP_EINVAL);
    assert_int_equal(k, ACT_TANH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backward_matches_finite_differences),
        cmocka_unit_test(forward_matches_double_reference),
        cmocka_unit_test(backward_in_place),
        cmocka_unit_test(stable_at_large_magnitudes),
        cmocka_unit_test(softmax_rows),
        cmocka_unit_test(names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
