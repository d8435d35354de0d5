/* test_fairq.c — the fair-share order of queued runs (server/fairq.h): FIFO within one owner; a
 * newcomer's run goes before the second run of an owner already training; high priority and
 * resumed runs go first; blocked owners wait; and over a long simulated mix of run lengths with
 * one worker, each busy owner gets an equal share of training seconds within 10%. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fairq.h"

#include <stdio.h>
#include <string.h>

static void push(fairq *q, const char *id, long long owner, int cls)
{
    assert_int_equal(fairq_push(q, id, owner, cls), MLP_OK);
}

static void expect_pop(fairq *q, const fairq_usage *u, int n, const char *id)
{
    fairq_item it;
    assert_int_equal(fairq_pop(q, u, n, &it), 1);
    assert_string_equal(it.id, id);
}

static void test_fifo_one_owner(void **state)
{
    (void)state;
    fairq *q = NULL;
    assert_int_equal(fairq_new(&q), MLP_OK);
    push(q, "run_1", 1, FAIRQ_NORMAL);
    push(q, "run_2", 1, FAIRQ_NORMAL);
    push(q, "run_3", 1, FAIRQ_NORMAL);
    fairq_usage u = {1, 50.0, 1, 0};
    expect_pop(q, &u, 1, "run_1");
    expect_pop(q, &u, 1, "run_2");
    assert_int_equal(fairq_remove(q, "run_3"), 1);
    assert_int_equal(fairq_remove(q, "run_3"), 0);
    fairq_item it;
    assert_int_equal(fairq_pop(q, &u, 1, &it), 0);
    fairq_free(q);
    fairq_free(NULL);
}

/* A submits 10 runs, then B one while A's first trains: B's run is next, before A's second. */
static void test_newcomer_goes_next(void **state)
{
    (void)state;
    fairq *q = NULL;
    assert_int_equal(fairq_new(&q), MLP_OK);
    char id[24];
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof id, "run_%d", i);
        push(q, id, 2, FAIRQ_NORMAL);
    }
    expect_pop(q, NULL, 0, "run_1");
    push(q, "run_11", 3, FAIRQ_NORMAL);
    /* A's first has not finished an epoch yet: no seconds charged, but it trains. */
    fairq_usage u[2] = {{2, 0.0, 1, 0}, {3, 0.0, 0, 0}};
    expect_pop(q, u, 2, "run_11");
    u[0].running = 0;
    u[0].used_s = 12.0;
    u[1].used_s = 3.0;
    expect_pop(q, u, 2, "run_2"); /* B has nothing waiting */
    long long owners[4];
    assert_int_equal(fairq_owners(q, owners, 4), 1);
    assert_int_equal(owners[0], 2);
    assert_int_equal(fairq_len(q), 8);
    fairq_free(q);
}

static void test_classes_and_blocked(void **state)
{
    (void)state;
    fairq *q = NULL;
    assert_int_equal(fairq_new(&q), MLP_OK);
    push(q, "run_1", 2, FAIRQ_NORMAL);
    push(q, "run_2", 3, FAIRQ_HIGH);
    push(q, "run_3", 2, FAIRQ_RESUME);
    push(q, "run_4", 4, FAIRQ_HIGH);
    push(q, "run_5", 5, FAIRQ_NORMAL);
    fairq_usage u[2] = {{3, 0.0, 0, 1}, {5, 100.0, 0, 0}};
    expect_pop(q, u, 2, "run_3"); /* resumed first */
    expect_pop(q, u, 2, "run_4"); /* high, owner 3's is blocked */
    expect_pop(q, u, 2, "run_1"); /* owner 2 used less than owner 5 */
    expect_pop(q, u, 2, "run_5");
    fairq_item it;
    assert_int_equal(fairq_pop(q, u, 2, &it), 0); /* only blocked owner 3 waits */
    u[0].blocked = 0;
    expect_pop(q, u, 2, "run_2");
    fairq_free(q);
}

/* One worker, three owners who always have runs waiting, with different run lengths (owner 1:
 * 60 s runs, owner 2: 7 s, owner 3: 1 to 40 s); usage over a sliding one-hour window as jobs.c
 * measures it. Over 50 simulated hours each owner's share of training seconds is 1/3 within 10%. */
#define SIM_OWNERS 3
#define SIM_LOG    200000
static struct {
    double at, s;
    int owner;
} charges[SIM_LOG];

static void test_long_mix_fair_share(void **state)
{
    (void)state;
    fairq *q = NULL;
    assert_int_equal(fairq_new(&q), MLP_OK);
    int n_charges = 0, next_id = 1, queued[SIM_OWNERS] = {0};
    double total[SIM_OWNERS] = {0}, now = 0.0;
    unsigned rng = 7;
    while (now < 50 * 3600.0) {
        for (int o = 0; o < SIM_OWNERS; o++) /* keep two runs waiting per owner */
            while (queued[o] < 2) {
                char id[24];
                snprintf(id, sizeof id, "run_%d", next_id++);
                push(q, id, o + 1, FAIRQ_NORMAL);
                queued[o]++;
            }
        fairq_usage u[SIM_OWNERS];
        for (int o = 0; o < SIM_OWNERS; o++) u[o] = (fairq_usage){o + 1, 0.0, 0, 0};
        for (int i = 0; i < n_charges; i++)
            if (charges[i].at > now - 3600.0) u[charges[i].owner].used_s += charges[i].s;
        fairq_item it;
        assert_int_equal(fairq_pop(q, u, SIM_OWNERS, &it), 1);
        int o = (int)it.owner - 1;
        queued[o]--;
        rng = rng * 1103515245u + 12345u;
        double len = o == 0 ? 60.0 : o == 1 ? 7.0 : 1.0 + (double)((rng >> 16) % 40);
        /* charged per 1 s "epoch", as the worker charges each epoch */
        for (double t = 0; t < len; t += 1.0) {
            assert_true(n_charges < SIM_LOG);
            charges[n_charges].at = now + t + 1.0;
            charges[n_charges].s = 1.0;
            charges[n_charges].owner = o;
            n_charges++;
        }
        total[o] += len;
        now += len;
        /* drop charges that left the window, to keep the scan short */
        int k = 0;
        for (int i = 0; i < n_charges; i++)
            if (charges[i].at > now - 3600.0) charges[k++] = charges[i];
        n_charges = k;
    }
    double sum = total[0] + total[1] + total[2];
    for (int o = 0; o < SIM_OWNERS; o++) {
        double share = total[o] / sum;
        printf("owner %d: %.0f s, share %.3f\n", o + 1, total[o], share);
        assert_true(share > (1.0 / 3) * 0.9 && share < (1.0 / 3) * 1.1);
    }
    fairq_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_one_owner),
        cmocka_unit_test(test_newcomer_goes_next),
        cmocka_unit_test(test_classes_and_blocked),
        cmocka_unit_test(test_long_mix_fair_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
