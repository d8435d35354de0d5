/* test_cpusched.c — the CPU policy (server/cpusched.h): OpenBLAS capped at one thread while any
 * request computes and restored after the last one; the serving rate at which training pauses
 * (sched_serving_busy: >= SCHED_BUSY_REQUESTS per SCHED_BUSY_WINDOW_US), and the substitute a
 * test gives it; OpenBLAS's threads shared by the runs training (cores / runs, under the cap) and
 * their admission by memory, first come first served and cancellable. The training share under
 * load is tests/server/test_jobs.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cpusched.h"

#include <cblas.h>
#include <pthread.h>
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

static void openblas_runs_one_thread(void **state)
{
    (void)state;
    openblas_set_num_threads(2); /* what main sets: the cores */
    int cores = openblas_get_num_threads();
    sched *s = NULL;
    sched_opts o = {0};
    assert_int_equal(sched_new(&o, &s), MLP_OK);
    assert_int_equal(sched_cores(s), cores); /* taken as the cores to share */
    assert_int_equal(openblas_get_num_threads(), 1);
    sched_infer_done(s); /* requests compute on their own threads, OpenBLAS on one */
    sched_infer_done(s);
    assert_int_equal(openblas_get_num_threads(), 1);
    assert_true(sched_train_begin(s, 0, NULL)); /* a run trains on its own threads */
    assert_int_equal(openblas_get_num_threads(), 1);
    sched_train_end(s, 0);
    assert_int_equal(openblas_get_num_threads(), 1);
    /* share 0 keeps no account */
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
        sched_infer_done(s);
        assert_false(sched_serving_busy(s));
        sleep_us(SCHED_BUSY_WINDOW_US + 500);
    }
    /* a burst at the threshold: busy (retried if this thread was descheduled mid-burst) */
    int busy = 0;
    for (int attempt = 0; attempt < 5 && !busy; attempt++) {
        uint64_t t0 = now_us();
        for (int i = 0; i < SCHED_BUSY_REQUESTS; i++) {
            sched_infer_done(s);
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

static void train_threads_follow_runs_training(void **state)
{
    (void)state;
    sched *s = NULL;
    sched_opts o = {.cores = 4}; /* four cores whatever this machine has */
    assert_int_equal(sched_new(&o, &s), MLP_OK);
    assert_int_equal(sched_cores(s), 4);
    assert_int_equal(sched_train_threads(s), 4); /* none training: what a lone run gets */
    assert_true(sched_train_begin(s, 0, NULL));
    assert_int_equal(sched_train_threads(s), 4);
    assert_true(sched_train_begin(s, 0, NULL));
    assert_int_equal(sched_train_threads(s), 2);
    assert_true(sched_train_begin(s, 0, NULL));
    assert_int_equal(sched_train_threads(s), 1); /* 4 / 3, rounded down */
    sched_train_end(s, 0);
    assert_int_equal(sched_train_threads(s), 2);
    sched_infer_done(s); /* a request served changes nothing */
    assert_int_equal(sched_train_threads(s), 2);
    sched_train_end(s, 0);
    assert_int_equal(sched_train_threads(s), 4); /* one run training: every core */
    sched_train_end(s, 0);
    assert_int_equal(sched_train_threads(s), 4);
    assert_int_equal(openblas_get_num_threads(), 1);
    sched_free(s);
    openblas_set_num_threads(2);
}

typedef struct {
    sched *s;
    size_t bytes;
    atomic_int cancel;
    atomic_int done; /* 0 while waiting; then 1 admitted, 2 gave up */
} admit_try;

static void *admit_main(void *v)
{
    admit_try *t = v;
    int ok = sched_train_begin(t->s, t->bytes, &t->cancel);
    atomic_store(&t->done, ok ? 1 : 2);
    return NULL;
}

/* Polls *done for up to ms milliseconds; its value then. */
static int wait_done(admit_try *t, int ms)
{
    for (int i = 0; i < ms && !atomic_load(&t->done); i++) sleep_us(1000);
    return atomic_load(&t->done);
}

static void training_memory_admits_in_order(void **state)
{
    (void)state;
    sched *s = NULL;
    sched_opts o = {.train_memory = 100};
    assert_int_equal(sched_new(&o, &s), MLP_OK);
    assert_true(sched_train_begin(s, 200, NULL)); /* alone: admitted whatever its size */
    sched_train_end(s, 200);
    assert_true(sched_train_begin(s, 60, NULL));
    /* A: 60 more would make 120 > 100: it waits */
    admit_try a = {s, 60, 0, 0}, b = {s, 10, 0, 0}, c = {s, 50, 0, 0};
    pthread_t ta, tb, tc;
    assert_int_equal(pthread_create(&ta, NULL, admit_main, &a), 0);
    assert_int_equal(wait_done(&a, 50), 0);
    /* B would fit (70) but arrived after A: it waits behind A */
    assert_int_equal(pthread_create(&tb, NULL, admit_main, &b), 0);
    assert_int_equal(wait_done(&b, 50), 0);
    /* C waits too, and a cancel takes it out of the line without admitting it */
    assert_int_equal(pthread_create(&tc, NULL, admit_main, &c), 0);
    assert_int_equal(wait_done(&c, 20), 0);
    atomic_store(&c.cancel, 1);
    assert_int_equal(wait_done(&c, 2000), 2);
    pthread_join(tc, NULL);
    assert_int_equal(atomic_load(&a.done), 0);
    assert_int_equal(atomic_load(&b.done), 0);
    /* the first run ends: A (60) then B (70 in all) are admitted */
    sched_train_end(s, 60);
    assert_int_equal(wait_done(&a, 2000), 1);
    assert_int_equal(wait_done(&b, 2000), 1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    sched_train_end(s, 60);
    sched_train_end(s, 10);
    /* a cancel already set: no admission while another run trains */
    assert_true(sched_train_begin(s, 90, NULL));
    atomic_int cancelled = 1;
    assert_false(sched_train_begin(s, 20, &cancelled));
    sched_train_end(s, 90);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openblas_runs_one_thread),
        cmocka_unit_test(serving_rate_pauses_training),
        cmocka_unit_test(substitute_load_decides),
        cmocka_unit_test(train_threads_follow_runs_training),
        cmocka_unit_test(training_memory_admits_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
