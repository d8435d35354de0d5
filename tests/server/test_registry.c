/* test_registry.c — the model cache's answers when a publish or a delete lands between its
 * unlocked store read and its return (server/registry.c).
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
#include "net.h"
#include "registry.h"
#include "store.h"

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

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
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
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(latest_moves_after_a_racing_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(alias_moves_after_a_racing_move, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_version_is_not_cached_by_a_racing_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(evict_waits_for_an_uncached_reader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
