/* test_infer.c — api/infer.c's bracket around every forward pass: OpenBLAS capped at one thread
 * while any request computes and restored after the last one, and the serving rate at which
 * training pauses (infer_serving_busy: >= INFER_BUSY_REQUESTS per INFER_BUSY_WINDOW_US). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.h"
#include "infer.h"

#include <cblas.h>
#include <time.h>

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void blas_cap_brackets_requests(void **state)
{
    (void)state;
    openblas_set_num_threads(2); /* the start-up count infer.c captures on first use */
    int def = openblas_get_num_threads();
    infer_blas_enter();
    assert_int_equal(openblas_get_num_threads(), 1);
    infer_blas_enter(); /* a second request in flight */
    infer_blas_leave();
    assert_int_equal(openblas_get_num_threads(), 1); /* still one in flight */
    infer_blas_leave();
    assert_int_equal(openblas_get_num_threads(), def);
}

static void serving_rate_pauses_training(void **state)
{
    (void)state;
    sleep_us(3 * INFER_BUSY_WINDOW_US);
    assert_false(infer_serving_busy()); /* nothing served lately */
    /* fewer requests than the threshold, spread out: never busy */
    for (int i = 0; i < 3; i++) {
        infer_blas_enter();
        infer_blas_leave();
        assert_false(infer_serving_busy());
        sleep_us(INFER_BUSY_WINDOW_US + 500);
    }
    /* a burst at the threshold: busy (retried if this thread was descheduled mid-burst) */
    int busy = 0;
    for (int attempt = 0; attempt < 5 && !busy; attempt++) {
        uint64_t t0 = http_now_us();
        for (int i = 0; i < INFER_BUSY_REQUESTS; i++) {
            infer_blas_enter();
            infer_blas_leave();
        }
        if (http_now_us() - t0 < INFER_BUSY_WINDOW_US / 4) busy = infer_serving_busy();
        if (!busy) sleep_us(3 * INFER_BUSY_WINDOW_US);
    }
    assert_true(busy);
    /* and it ends one window after the burst */
    sleep_us(2 * INFER_BUSY_WINDOW_US + 500);
    assert_false(infer_serving_busy());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blas_cap_brackets_requests),
        cmocka_unit_test(serving_rate_pauses_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
