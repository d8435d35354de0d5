/* test_netout.c — the readings of a prediction row that /v1 and /v2 share (core/net.h):
 * net_argmax_row (label index) and net_recon_error (per-row reconstruction error). Known
 * answers, ties, and what a NaN or an infinity gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "net.h"

static void argmax_known_answers(void **state)
{
    (void)state;
    const float a[] = {0.1f, 0.7f, 0.2f};
    assert_int_equal(net_argmax_row(a, 3), 1);
    const float b[] = {0.9f, 0.05f, 0.05f};
    assert_int_equal(net_argmax_row(b, 3), 0);
    const float c[] = {-3.0f, -2.0f, -1.0f, -5.0f};
    assert_int_equal(net_argmax_row(c, 4), 2);
    const float d[] = {0.25f, 0.75f};
    assert_int_equal(net_argmax_row(d, 2), 1);
}

static void argmax_ties_take_lowest_index(void **state)
{
    (void)state;
    const float a[] = {0.2f, 0.4f, 0.4f};
    assert_int_equal(net_argmax_row(a, 3), 1);
    const float b[] = {0.5f, 0.5f, 0.5f, 0.5f};
    assert_int_equal(net_argmax_row(b, 4), 0);
    const float c[] = {0.1f, 0.3f, 0.3f, 0.3f};
    assert_int_equal(net_argmax_row(c, 4), 1);
}

static void argmax_single_sigmoid_output(void **state)
{
    (void)state;
    const float lo = 0.4999f, half = 0.5f, hi = 0.9f, zero = 0.0f;
    assert_int_equal(net_argmax_row(&lo, 1), 0);
    assert_int_equal(net_argmax_row(&half, 1), 1); /* p >= 0.5 is class 1 */
    assert_int_equal(net_argmax_row(&hi, 1), 1);
    assert_int_equal(net_argmax_row(&zero, 1), 0);
}

static void argmax_nan_never_wins(void **state)
{
    (void)state;
    const float a[] = {NAN, 0.3f, 0.7f};
    assert_int_equal(net_argmax_row(a, 3), 0); /* nothing beats a NaN in first place */
    const float b[] = {0.3f, NAN, 0.7f};
    assert_int_equal(net_argmax_row(b, 3), 2);
    const float c[] = {0.9f, NAN, 0.7f};
    assert_int_equal(net_argmax_row(c, 3), 0);
    const float d[] = {NAN, NAN};
    assert_int_equal(net_argmax_row(d, 2), 0);
    const float e = NAN;
    assert_int_equal(net_argmax_row(&e, 1), 0);
    const float f[] = {0.1f, INFINITY, 0.2f};
    assert_int_equal(net_argmax_row(f, 3), 1);
}

static void recon_error_known_answers(void **state)
{
    (void)state;
    const float x[] = {1.0f, 2.0f, 3.0f, 4.0f};
    const float same[] = {1.0f, 2.0f, 3.0f, 4.0f};
    assert_true(net_recon_error(x, same, 4) == 0.0);
    const float y[] = {2.0f, 0.0f, 3.0f, 4.0f}; /* (1 + 4 + 0 + 0) / 4 */
    assert_true(net_recon_error(x, y, 4) == 1.25);
    const float x1 = 0.5f, y1 = -0.5f;
    assert_true(net_recon_error(&x1, &y1, 1) == 1.0);
}

/* The sum runs in double over float inputs, the arithmetic /v1 :reconstruct has always used:
 * (1e-4)^2 added to 1 in float would be lost, in double it is kept. */
static void recon_error_sums_in_double(void **state)
{
    (void)state;
    const float x[] = {0.0f, 0.0f};
    const float y[] = {1.0f, 1e-4f};
    double want = ((double)1.0f * 1.0f + (double)1e-4f * (double)1e-4f) / 2;
    assert_true(net_recon_error(x, y, 2) == want);
    assert_true(net_recon_error(x, y, 2) != 0.5);
    const float big[] = {3e20f};
    const float z = 0.0f;
    assert_true(net_recon_error(&z, big, 1) ==
                (double)3e20f * (double)3e20f); /* no float overflow */
    assert_true(isfinite(net_recon_error(&z, big, 1)));
}

static void recon_error_not_finite(void **state)
{
    (void)state;
    const float x[] = {1.0f, 2.0f};
    const float n[] = {NAN, 2.0f};
    assert_true(isnan(net_recon_error(x, n, 2)));
    const float i[] = {1.0f, INFINITY};
    assert_true(isinf(net_recon_error(x, i, 2)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(argmax_known_answers),
        cmocka_unit_test(argmax_ties_take_lowest_index),
        cmocka_unit_test(argmax_single_sigmoid_output),
        cmocka_unit_test(argmax_nan_never_wins),
        cmocka_unit_test(recon_error_known_answers),
        cmocka_unit_test(recon_error_sums_in_double),
        cmocka_unit_test(recon_error_not_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
