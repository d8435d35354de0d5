/* test_registry.c — the model cache (server/registry.c) and the models service that keeps it
 * consistent (server/modelsvc.c): answers when a publish or a delete lands between the cache's
 * unlocked store read and its return; readers racing an evict (run it under ASan: a model freed
 * under a reader is a use-after-free there); the capacity and byte bounds and their LRU choice
 * (an ensemble's bytes, a model bigger than the budget, held models never freed); invalidation.
 *
 * The test binary is linked with -Wl,--wrap=store_model_version_get and
 * -Wl,--wrap=store_model_alias_resolve (Makefile), so every store read the registry makes goes
 * through the wrappers below. Armed, the wrapper
 * does the real read and then, before returning it, runs a writer exactly as the API does (the
 * store write, then reg_invalidate or reg_evict): the race the e2e stress test
 * (tests/e2e/test_registry.c) can only hope to hit, here on every run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bundle.h"
#include "modelsvc.h"
#include "net.h"
#include "registry.h"
#include "store.h"
#include "tmpdir.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mlp_err __real_store_model_version_get(store *s, const char *name, int version,
                                       store_model_version *info, void **blob, size_t *len);
mlp_err __wrap_store_model_version_get(store *s, const char *name, int version,
                                       store_model_version *info, void **blob, size_t *len);
mlp_err __real_store_model_alias_resolve(store *s, const char *name, const char *alias,
                                         int *version);
mlp_err __wrap_store_model_alias_resolve(store *s, const char *name, const char *alias,
                                         int *version);

enum { RACE_NONE, RACE_PUBLISH, RACE_DELETE, RACE_MOVE };

static struct {
    store *s;
    registry *reg;
    void *blob; /* one encoded model, published as every version */
    size_t len;
    int race;   /* what the armed wrapper does after its real read */
    int victim; /* RACE_DELETE: the version it deletes */
    int fired;  /* the writer ran */
    int last_published;
    _Atomic int loads; /* store reads of a model's blob: one per load into the cache */
} T;

static int publish(void)
{
    int v = 0;
    assert_int_equal(
        store_model_add_version(T.s, "m", "", "regression", 2, 1, "{}", T.blob, T.len, &v), MLP_OK);
    reg_invalidate(T.reg, "m");
    T.last_published = v;
    return v;
}

mlp_err __wrap_store_model_version_get(store *s, const char *name, int version,
                                       store_model_version *info, void **blob, size_t *len)
{
    mlp_err rc = __real_store_model_version_get(s, name, version, info, blob, len);
    if (blob) atomic_fetch_add(&T.loads, 1);
    int race = T.race;
    T.race = RACE_NONE; /* once: the writer's own reads and the retries go straight through */
    if (race == RACE_PUBLISH) {
        publish();
        T.fired = 1;
    } else if (race == RACE_DELETE && blob) {
        mlp_error err;
        mlp_error_clear(&err);
        assert_int_equal(store_model_version_delete(T.s, "m", T.victim, &err), MLP_OK);
        reg_evict(T.reg, "m", T.victim);
        T.fired = 1;
    }
    return rc;
}

mlp_err __wrap_store_model_alias_resolve(store *s, const char *name, const char *alias,
                                         int *version)
{
    mlp_err rc = __real_store_model_alias_resolve(s, name, alias, version);
    if (T.race == RACE_MOVE) {
        T.race = RACE_NONE;
        assert_int_equal(store_model_alias_set(T.s, "m", alias, T.victim), MLP_OK);
        reg_invalidate(T.reg, "m");
        T.fired = 1;
    }
    return rc;
}

static char dir[64];

static int setup(void **state)
{
    (void)state;
    memset(&T, 0, sizeof T);
    snprintf(dir, sizeof dir, "/tmp/mlpd-reg-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    mlp_error err;
    mlp_error_clear(&err);
    if (store_open(dir, &T.s, &err) != MLP_OK) return -1;
    if (reg_new(T.s, 4, &T.reg) != MLP_OK) return -1;
    net_spec sp = {.task = TASK_REGRESSION,
                   .n_in = 2,
                   .n_out = 1,
                   .n_hidden = 1,
                   .hidden = {3},
                   .act = ACT_TANH,
                   .out_act = ACT_LINEAR,
                   .loss = LOSS_SQUARED};
    net *n = NULL;
    if (net_new(&sp, &n, &err) != MLP_OK) return -1;
    char *feat[] = {"a", "b"};
    mlp_err rc = bundle_encode(n, 2, feat, 0, NULL, &T.blob, &T.len);
    net_free(n);
    return rc == MLP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    reg_free(T.reg);
    store_close(T.s);
    free(T.blob);
    tmpdir_remove(dir);
    return 0;
}

static int get_version(int version, const char *alias, mlp_err *rc_out)
{
    reg_model *m = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = reg_get(T.reg, "m", version, alias, &m, &err);
    if (rc_out) *rc_out = rc;
    int v = rc == MLP_OK ? reg_model_version(m) : 0;
    reg_release(T.reg, m);
    return v;
}

/* A "latest" lookup whose store read saw version 1 just before version 2 was published: the
 * lookup may answer 1 (it began first), but the next one must answer 2. */
static void latest_moves_after_a_racing_publish(void **state)
{
    (void)state;
    publish();
    T.race = RACE_PUBLISH;
    int first = get_version(0, NULL, NULL);
    assert_true(T.fired);
    assert_true(first == 1 || first == 2);
    assert_int_equal(get_version(0, NULL, NULL), T.last_published);
    assert_int_equal(T.last_published, 2);
}

/* The same for an alias moved while its resolution was read. */
static void alias_moves_after_a_racing_move(void **state)
{
    (void)state;
    publish();
    publish();
    assert_int_equal(store_model_alias_set(T.s, "m", "stable", 1), MLP_OK);
    reg_invalidate(T.reg, "m");
    reg_invalidate(T.reg, "m");
    T.victim = 2;
    T.race = RACE_MOVE;
    int first = get_version(0, "stable", NULL);
    assert_true(T.fired);
    assert_true(first == 1 || first == 2);
    assert_int_equal(get_version(0, "stable", NULL), 2);
}

/* A load of version 1 whose blob was read just before version 1 was deleted: it must not put
 * the deleted version in the cache, and no later lookup may get it. */
static void deleted_version_is_not_cached_by_a_racing_load(void **state)
{
    (void)state;
    publish();
    publish();
    T.victim = 1;
    T.race = RACE_DELETE;
    mlp_err rc;
    int first = get_version(1, NULL, &rc);
    assert_true(T.fired);
    assert_int_equal(first, 0); /* looked again after the delete: gone */
    assert_int_equal(rc, MLP_ENOTFOUND);
    assert_int_equal(get_version(1, NULL, &rc), 0);
    assert_int_equal(rc, MLP_ENOTFOUND);
    assert_int_equal(get_version(0, NULL, NULL), 2);
}

static _Atomic int evict_done;

static void *evict_v5(void *arg)
{
    (void)arg;
    reg_evict(T.reg, "m", 5);
    atomic_store(&evict_done, 1);
    return NULL;
}

/* With every cache slot held by a request, a fifth version is served uncached; deleting it must
 * still wait until its request has finished with it. */
static void evict_waits_for_an_uncached_reader(void **state)
{
    (void)state;
    reg_model *held[5] = {0};
    mlp_error err;
    mlp_error_clear(&err);
    for (int v = 1; v <= 5; v++) {
        assert_int_equal(publish(), v);
        assert_int_equal(reg_get(T.reg, "m", v, NULL, &held[v - 1], &err), MLP_OK);
    }
    assert_int_equal(reg_loaded(T.reg), 4); /* version 5 is the uncached one */
    pthread_t th;
    atomic_store(&evict_done, 0);
    assert_int_equal(pthread_create(&th, NULL, evict_v5, NULL), 0);
    usleep(200 * 1000);
    assert_int_equal(atomic_load(&evict_done), 0);
    reg_release(T.reg, held[4]);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&evict_done), 1);
    for (int i = 0; i < 4; i++) reg_release(T.reg, held[i]);
}

/* ---- readers racing an evict */

enum { READERS = 4 };

static struct {
    _Atomic int stop;
    _Atomic int evicted;  /* 1 once reg_evict of version 1 has returned */
    _Atomic int late_ok;  /* gets of version 1 begun after that which still found it */
    _Atomic long served;  /* predictions made on a held version 1 */
    _Atomic long missing; /* gets of version 1 answered MLP_ENOTFOUND */
} R;

/* Gets version 1, predicts with it (touching its weights), holds it a moment and releases it,
 * until told to stop. A get that began after the evict returned must not find it. */
static void *reader(void *arg)
{
    (void)arg;
    float x[2] = {0.5f, -0.25f}, y[1], scratch[64];
    while (!atomic_load(&R.stop)) {
        int after = atomic_load(&R.evicted);
        reg_model *m = NULL;
        mlp_error err;
        mlp_error_clear(&err);
        mlp_err rc = reg_get(T.reg, "m", 1, NULL, &m, &err);
        if (rc == MLP_OK) {
            if (after) atomic_fetch_add(&R.late_ok, 1);
            const net *n = reg_model_net(m);
            if (net_scratch_floats(n, 1) <= 64 && reg_model_version(m) == 1 &&
                net_predict(n, x, 1, y, scratch) == MLP_OK)
                atomic_fetch_add(&R.served, 1);
            usleep(50);
            reg_release(T.reg, m);
        } else if (rc == MLP_ENOTFOUND) {
            atomic_fetch_add(&R.missing, 1);
        }
    }
    return NULL;
}

/* N threads get and release version 1 while it is deleted in the store and evicted: the evict
 * waits for them (a model freed under a reader is an ASan use-after-free), and once it has
 * returned no new get finds the version. */
static void concurrent_gets_and_an_evict(void **state)
{
    (void)state;
    publish();
    publish();
    memset(&R, 0, sizeof R);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
    for (int ms = 0; atomic_load(&R.served) < 200 && ms < 10000; ms++) usleep(1000);
    assert_true(atomic_load(&R.served) >= 200);
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(store_model_version_delete(T.s, "m", 1, &err), MLP_OK);
    reg_evict(T.reg, "m", 1);
    atomic_store(&R.evicted, 1);
    long missing0 = atomic_load(&R.missing);
    for (int ms = 0; atomic_load(&R.missing) < missing0 + 200 && ms < 10000; ms++) usleep(1000);
    atomic_store(&R.stop, 1);
    for (int i = 0; i < READERS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&R.late_ok), 0);
    assert_true(atomic_load(&R.missing) >= missing0 + 200);
    assert_int_equal(get_version(0, NULL, NULL), 2);
}

/* reg_evict of a cached version blocks while a request holds it and returns at its release. */
static void *evict_v1(void *arg)
{
    (void)arg;
    reg_evict(T.reg, "m", 1);
    atomic_store(&evict_done, 1);
    return NULL;
}

static void evict_waits_for_a_cached_reader(void **state)
{
    (void)state;
    publish();
    reg_model *m = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(reg_get(T.reg, "m", 1, NULL, &m, &err), MLP_OK);
    assert_int_equal(reg_loaded(T.reg), 1);
    pthread_t th;
    atomic_store(&evict_done, 0);
    assert_int_equal(pthread_create(&th, NULL, evict_v1, NULL), 0);
    usleep(200 * 1000);
    assert_int_equal(atomic_load(&evict_done), 0);
    assert_string_equal(reg_model_name(m), "m"); /* still whole while held */
    reg_release(T.reg, m);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&evict_done), 1);
    assert_int_equal(reg_loaded(T.reg), 0);
}

/* ---- capacity and LRU */

/* Loads (name "m", version v) and releases it; returns the number of store loads it made. */
static int touch(int v)
{
    int before = atomic_load(&T.loads);
    assert_int_equal(get_version(v, NULL, NULL), v);
    return atomic_load(&T.loads) - before;
}

/* With 4 slots, a fifth unreferenced version drops the least recently used one: versions 1..4
 * loaded, 1 used again, 5 loaded -> 2 is the one gone (loading it again reads the store) and 1
 * is still cached. */
static void capacity_drops_the_least_recently_used(void **state)
{
    (void)state;
    for (int v = 1; v <= 5; v++) publish();
    for (int v = 1; v <= 4; v++) assert_int_equal(touch(v), 1);
    assert_int_equal(reg_loaded(T.reg), 4);
    assert_int_equal(touch(1), 0); /* cached: no store read */
    assert_int_equal(touch(5), 1);
    assert_int_equal(reg_loaded(T.reg), 4); /* bounded */
    /* reg_cached says which versions the cache holds, and loads nothing */
    assert_false(reg_cached(T.reg, "m", 2));
    assert_true(reg_cached(T.reg, "m", 1));
    assert_true(reg_cached(T.reg, "m", 5));
    assert_false(reg_cached(T.reg, "other", 1));
    assert_int_equal(reg_loaded(T.reg), 4);
    assert_int_equal(touch(1), 0); /* recently used: kept */
    assert_int_equal(touch(3), 0);
    assert_int_equal(touch(4), 0);
    assert_int_equal(touch(5), 0);
    assert_int_equal(touch(2), 1); /* the one dropped */
    assert_int_equal(reg_loaded(T.reg), 4);
}

/* ---- the byte budget */

/* An encoded regression net 2-hidden-1 (k > 1: an ensemble of k copies). *blob new. */
static void make_blob(int hidden, int k, void **blob, size_t *len)
{
    net_spec sp = {.task = TASK_REGRESSION,
                   .n_in = 2,
                   .n_out = 1,
                   .n_hidden = 1,
                   .hidden = {hidden},
                   .act = ACT_TANH,
                   .out_act = ACT_LINEAR,
                   .loss = LOSS_SQUARED};
    net *n = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(net_new(&sp, &n, &err), MLP_OK);
    char *feat[] = {"a", "b"};
    if (k > 1) {
        const net *members[4] = {n, n, n, n};
        assert_true(k <= 4);
        assert_int_equal(bundle_encode_ensemble(members, k, 2, feat, 0, NULL, blob, len), MLP_OK);
    } else {
        assert_int_equal(bundle_encode(n, 2, feat, 0, NULL, blob, len), MLP_OK);
    }
    net_free(n);
}

/* Publishes blob as the next version of "m"; returns its number. */
static int publish_blob(void *blob, size_t len)
{
    int v = 0;
    assert_int_equal(store_model_add_version(T.s, "m", "", "regression", 2, 1, "{}", blob, len, &v),
                     MLP_OK);
    reg_invalidate(T.reg, "m");
    return v;
}

/* reg_model_bytes of version v (loaded, then released). */
static size_t bytes_of(int v)
{
    reg_model *m = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(reg_get(T.reg, "m", v, NULL, &m, &err), MLP_OK);
    size_t n = reg_model_bytes(m);
    reg_release(T.reg, m);
    return n;
}

/* Gets version v, predicts one row with it (touching its weights), and returns it held. */
static reg_model *hold_and_predict(int v)
{
    reg_model *m = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(reg_get(T.reg, "m", v, NULL, &m, &err), MLP_OK);
    float x[2] = {0.5f, -0.25f}, y[1];
    size_t nf = reg_model_scratch_floats(m, 1);
    float *scratch = malloc(nf * sizeof *scratch);
    assert_non_null(scratch);
    assert_int_equal(reg_model_predict(m, x, 1, y, scratch), MLP_OK);
    free(scratch);
    return m;
}

/* Three versions of ~66 KB each under a budget of two and a half: the count (4 slots) never
 * binds; loading the third drops the least recently used one, not the oldest loaded. */
static void byte_budget_drops_the_least_recently_used(void **state)
{
    (void)state;
    void *blob;
    size_t len;
    make_blob(4096, 1, &blob, &len);
    for (int v = 1; v <= 3; v++) assert_int_equal(publish_blob(blob, len), v);
    free(blob);
    size_t one = bytes_of(1);
    assert_true(one > 4096 * 4 * sizeof(float)); /* W1, b1, W2 and the serving copy at least */
    assert_true(one < 4096 * 8 * sizeof(float));
    reg_set_budget(T.reg, one * 5 / 2);
    assert_int_equal(touch(2), 1);
    assert_int_equal(reg_bytes(T.reg), 2 * one);
    assert_int_equal(touch(1), 0); /* 1 is now more recent than 2 */
    assert_int_equal(touch(3), 1);
    assert_int_equal(reg_loaded(T.reg), 2);
    assert_int_equal(reg_bytes(T.reg), 2 * one);
    assert_true(reg_cached(T.reg, "m", 1));
    assert_false(reg_cached(T.reg, "m", 2));
    assert_true(reg_cached(T.reg, "m", 3));
    /* a smaller budget takes effect at the next load or release */
    reg_set_budget(T.reg, one * 3 / 2);
    assert_int_equal(touch(3), 0);
    assert_int_equal(reg_loaded(T.reg), 1);
    assert_true(reg_cached(T.reg, "m", 3));
    assert_int_equal(reg_bytes(T.reg), one);
}

/* An ensemble version counts all its members: three copies of a net hold three times its bytes,
 * and loading it under a budget of two singles pushes the cached single out. */
static void byte_budget_counts_every_member_of_an_ensemble(void **state)
{
    (void)state;
    void *blob;
    size_t len;
    make_blob(4096, 1, &blob, &len);
    assert_int_equal(publish_blob(blob, len), 1);
    free(blob);
    make_blob(4096, 3, &blob, &len);
    assert_int_equal(publish_blob(blob, len), 2);
    free(blob);
    size_t one = bytes_of(1);
    reg_model *m = hold_and_predict(2);
    size_t ens = reg_model_bytes(m);
    reg_release(T.reg, m);
    assert_true(ens > 3 * one - 3 * sizeof(reg_model *) - 1024);
    assert_true(ens < 3 * one + 1024);
    assert_int_equal(reg_bytes(T.reg), one + ens);

    reg_free(T.reg);
    assert_int_equal(reg_new(T.s, 4, &T.reg), MLP_OK);
    reg_set_budget(T.reg, 2 * one + 512);
    assert_int_equal(touch(1), 1);
    assert_int_equal(touch(2), 1); /* served, then dropped at release: 3 singles > the budget */
    assert_false(reg_cached(T.reg, "m", 2));
    assert_true(reg_cached(T.reg, "m", 1)); /* the ensemble could not fit: 1 stays */
    reg_set_budget(T.reg, 4 * one);
    assert_int_equal(touch(2), 1);
    assert_int_equal(touch(1), 0);
    assert_int_equal(reg_bytes(T.reg), one + ens);
    reg_set_budget(T.reg, 3 * one + 512); /* an ensemble fits alone; with 1 it does not */
    assert_int_equal(touch(1), 0);        /* the release trims: the ensemble was used least */
    assert_false(reg_cached(T.reg, "m", 2));
    assert_int_equal(reg_bytes(T.reg), one);
}

/* A version bigger than the whole budget loads and serves, does not push the small cached
 * versions out, and is the first dropped once released. */
static void model_bigger_than_the_budget_is_served_then_dropped(void **state)
{
    (void)state;
    void *blob;
    size_t len;
    for (int v = 1; v <= 2; v++) assert_int_equal(publish(), v); /* the setup's 2-3-1 net */
    make_blob(4096, 1, &blob, &len);
    assert_int_equal(publish_blob(blob, len), 3);
    free(blob);
    size_t small = bytes_of(1);
    reg_free(T.reg);
    assert_int_equal(reg_new(T.s, 4, &T.reg), MLP_OK);
    reg_set_budget(T.reg, 4 * small);
    assert_int_equal(touch(1), 1);
    assert_int_equal(touch(2), 1);
    reg_model *big = hold_and_predict(3);
    assert_true(reg_model_bytes(big) > 4 * small);
    assert_int_equal(reg_loaded(T.reg), 3); /* cached while held, the others kept */
    reg_model *again = hold_and_predict(3); /* a second request shares the copy */
    assert_ptr_equal(again, big);
    reg_release(T.reg, again);
    assert_true(reg_cached(T.reg, "m", 3));
    reg_release(T.reg, big);
    assert_false(reg_cached(T.reg, "m", 3));
    assert_true(reg_cached(T.reg, "m", 1));
    assert_true(reg_cached(T.reg, "m", 2));
    assert_int_equal(reg_bytes(T.reg), 2 * small);
    assert_int_equal(touch(3), 1); /* the next request loads it again */
    assert_int_equal(reg_loaded(T.reg), 2);
}

/* Held versions are never freed, whatever the budget: with a budget of one, two held versions
 * both stay cached and usable (ASan: a freed one would be a use-after-free), and the budget is
 * met again at the releases. */
static void byte_budget_never_frees_a_held_model(void **state)
{
    (void)state;
    void *blob;
    size_t len;
    make_blob(4096, 1, &blob, &len);
    for (int v = 1; v <= 3; v++) assert_int_equal(publish_blob(blob, len), v);
    free(blob);
    size_t one = bytes_of(1);
    reg_free(T.reg);
    assert_int_equal(reg_new(T.s, 4, &T.reg), MLP_OK);
    reg_set_budget(T.reg, one + 512);
    reg_model *a = hold_and_predict(1);
    reg_model *b = hold_and_predict(2);
    assert_int_equal(reg_loaded(T.reg), 2);
    assert_int_equal(reg_bytes(T.reg), 2 * one); /* over the budget while both are held */
    reg_release(T.reg, hold_and_predict(1));     /* a hit on a held version */
    assert_int_equal(reg_model_version(a), 1);
    assert_int_equal(reg_model_version(b), 2);
    reg_release(T.reg, a); /* now unreferenced and least recently used: dropped */
    assert_false(reg_cached(T.reg, "m", 1));
    assert_true(reg_cached(T.reg, "m", 2));
    reg_model *c = hold_and_predict(3); /* b held: over again, nothing to drop */
    assert_int_equal(reg_loaded(T.reg), 2);
    assert_int_equal(reg_model_version(b), 2);
    reg_release(T.reg, b);
    assert_false(reg_cached(T.reg, "m", 2));
    reg_release(T.reg, c);
    assert_true(reg_cached(T.reg, "m", 3));
    assert_int_equal(reg_bytes(T.reg), one);
}

/* ---- invalidation, and the models service doing it */

/* A "latest" resolution is cached until reg_invalidate: a version added to the store behind the
 * registry's back is not seen, and is once invalidated. */
static void invalidate_makes_the_next_get_see_the_new_latest(void **state)
{
    (void)state;
    publish();
    assert_int_equal(get_version(0, NULL, NULL), 1);
    int v = 0;
    assert_int_equal(
        store_model_add_version(T.s, "m", "", "regression", 2, 1, "{}", T.blob, T.len, &v), MLP_OK);
    assert_int_equal(v, 2);
    assert_int_equal(get_version(0, NULL, NULL), 1); /* the cached resolution */
    reg_invalidate(T.reg, "m");
    assert_int_equal(get_version(0, NULL, NULL), 2);
}

/* Every write of the models service leaves the cache agreeing with the store, with no
 * reg_invalidate or reg_evict by the caller. */
static void modelsvc_writes_keep_the_cache_consistent(void **state)
{
    (void)state;
    net_spec sp = {.task = TASK_REGRESSION,
                   .n_in = 2,
                   .n_out = 1,
                   .n_hidden = 0,
                   .act = ACT_LINEAR,
                   .out_act = ACT_LINEAR,
                   .loss = LOSS_SQUARED};
    net *n = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(net_new(&sp, &n, &err), MLP_OK);
    char *feat[] = {"a", "b"};
    int v = 0;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(modelsvc_import(T.s, T.reg, "m", n, 2, feat, 0, NULL, "{}", &v), MLP_OK);
        assert_int_equal(v, i);
        assert_int_equal(get_version(0, NULL, NULL), i); /* the import is the new latest */
    }
    net_free(n);
    reg_model *m = NULL;
    assert_int_equal(reg_get(T.reg, "m", 3, NULL, &m, &err), MLP_OK);
    int nf = 0;
    char *const *f = reg_model_features(m, &nf);
    assert_int_equal(nf, 2);
    assert_string_equal(f[1], "b");
    assert_string_equal(reg_model_task(m), "regression");
    assert_int_equal(reg_model_spec(m)->n_in, 2);
    reg_release(T.reg, m);

    assert_int_equal(modelsvc_alias_set(T.s, T.reg, "m", "stable", 1), MLP_OK);
    assert_int_equal(get_version(0, "stable", NULL), 1);
    assert_int_equal(modelsvc_alias_set(T.s, T.reg, "m", "stable", 2), MLP_OK);
    assert_int_equal(get_version(0, "stable", NULL), 2);
    assert_int_equal(modelsvc_alias_set(T.s, T.reg, "m", "stable", 9), MLP_ENOTFOUND);
    assert_int_equal(get_version(0, "stable", NULL), 2);
    assert_int_equal(modelsvc_alias_delete(T.s, T.reg, "m", "stable"), MLP_OK);
    mlp_err rc;
    assert_int_equal(get_version(0, "stable", &rc), 0);
    assert_int_equal(rc, MLP_ENOTFOUND);

    assert_int_equal(get_version(3, NULL, NULL), 3); /* cached */
    assert_int_equal(modelsvc_delete_version(T.s, T.reg, "m", 3, &err), MLP_OK);
    assert_int_equal(get_version(3, NULL, &rc), 0);
    assert_int_equal(rc, MLP_ENOTFOUND);
    assert_int_equal(get_version(0, NULL, NULL), 2); /* latest moved back */
    assert_int_equal(modelsvc_delete_version(T.s, T.reg, "m", 3, &err), MLP_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(latest_moves_after_a_racing_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(alias_moves_after_a_racing_move, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_version_is_not_cached_by_a_racing_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(evict_waits_for_an_uncached_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_gets_and_an_evict, setup, teardown),
        cmocka_unit_test_setup_teardown(evict_waits_for_a_cached_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(capacity_drops_the_least_recently_used, setup, teardown),
        cmocka_unit_test_setup_teardown(byte_budget_drops_the_least_recently_used, setup, teardown),
        cmocka_unit_test_setup_teardown(byte_budget_counts_every_member_of_an_ensemble, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(model_bigger_than_the_budget_is_served_then_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(byte_budget_never_frees_a_held_model, setup, teardown),
        cmocka_unit_test_setup_teardown(invalidate_makes_the_next_get_see_the_new_latest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(modelsvc_writes_keep_the_cache_consistent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
