/* test_cpusched.c — the CPU policy (server/cpusched.h): OpenBLAS capped at one thread while any
 * request computes and restored after the last one; the serving rate at which training pauses
 * (sched_serving_busy: >= SCHED_BUSY_REQUESTS per SCHED_BUSY_WINDOW_US), and the substitute a
 * test gives it. The training share under load is tests/server/test_jobs.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cpusched.h"

#include <cblas.h>
#include <time.h>

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void blas_cap_brackets_requests(void **state)
{
    (void)state;
    openblas_set_num_threads(2); /* the start-up count sched_new captures */
    sched *s = NULL;
    sched_opts o = {0};
    assert_int_equal(sched_new(&o, &s), MLP_OK);
    int def = openblas_get_num_threads();
    assert_int_equal(sched_blas_threads(s), def);
    sched_infer_enter(s);
    assert_int_equal(openblas_get_num_threads(), 1);
    sched_infer_enter(s); /* a second request in flight */
    sched_infer_leave(s);
    assert_int_equal(openblas_get_num_threads(), 1); /* still one in flight */
    sched_infer_leave(s);
    assert_int_equal(openblas_get_num_threads(), def);
    /* a run behind its share holds the same cap as a request, without counting as one */
    sched_share a;
    sched_share_init(&a, s);
    assert_false(sched_share_kept(&a)); /* share 0: no account */
    sched_free(s);
    sched_free(NULL);
}

static void serving_rate_pauses_training(void **state)
{
    (void)state;
    sched *s = NULL;
    sched_opts o = {0};
    assert_int_equal(sched_new(&o, &s), MLP_OK);
    sleep_us(3 * SCHED_BUSY_WINDOW_US);
    assert_false(sched_serving_busy(s)); /* nothing served lately */
    /* fewer requests than the threshold, spread out: never busy */
    for (int i = 0; i < 3; i++) {
        sched_infer_enter(s);
        sched_infer_leave(s);
        assert_false(sched_serving_busy(s));
        sleep_us(SCHED_BUSY_WINDOW_US + 500);
    }
    /* a burst at the threshold: busy (retried if this thread was descheduled mid-burst) */
    int busy = 0;
    for (int attempt = 0; attempt < 5 && !busy; attempt++) {
        uint64_t t0 = now_us();
        for (int i = 0; i < SCHED_BUSY_REQUESTS; i++) {
            sched_infer_enter(s);
            sched_infer_leave(s);
        }
        if (now_us() - t0 < SCHED_BUSY_WINDOW_US / 4) busy = sched_serving_busy(s);
        if (!busy) sleep_us(3 * SCHED_BUSY_WINDOW_US);
    }
    assert_true(busy);
    /* and it ends one window after the burst */
    sleep_us(2 * SCHED_BUSY_WINDOW_US + 500);
    assert_false(sched_serving_busy(s));
    sched_free(s);
}

static int always(void)
{
    return 1;
}

static void substitute_load_decides(void **state)
{
    (void)state;
    sched *s = NULL;
    sched_opts o = {.train_share = 0.5, .serving_busy = always};
    assert_int_equal(sched_new(&o, &s), MLP_OK);
    assert_true(sched_serving_busy(s));
    sched_share a;
    sched_share_init(&a, s);
    assert_true(sched_share_kept(&a));
    assert_false(sched_share_owed(&a));
    atomic_int cancel = 1; /* a cancelled run does not wait for serving */
    sched_train_yield(&a, &cancel);
    sched_share_end(&a);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blas_cap_brackets_requests),
        cmocka_unit_test(serving_rate_pauses_training),
        cmocka_unit_test(substitute_load_decides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
