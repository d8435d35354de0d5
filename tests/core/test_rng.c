/* test_rng.c — determinism and distribution sanity of core/rng. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "rng.h"

static void same_seed_same_stream(void **state)
{
    (void)state;
    rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_int_equal(rng_u64(&a), rng_u64(&b));
    rng_seed(&b, 43);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += rng_u64(&a) == rng_u64(&b);
    assert_true(same < 2);
}

static void normal_moments(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 7);
    double s = 0, s2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        s += x;
        s2 += x * x;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(var - 1.0) < 0.02);
}

static void shuffle_is_permutation(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 1);
    int idx[100], seen[100];
    for (int i = 0; i < 100; i++) idx[i] = i;
    rng_shuffle(&r, idx, 100);
    memset(seen, 0, sizeof seen);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 50);
    for (int i = 0; i < 1000; i++) assert_true(rng_below(&r, 3) < 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_stream),
        cmocka_unit_test(normal_moments),
        cmocka_unit_test(shuffle_is_permutation),
    };
    return cmocka_run_group_tests_name("core/rng", tests, NULL, NULL);
}
