/* test_users.c — class mode's keys and their resolution (server/users.h): key rendering and
 * the shape check, the cache (a hit needs no database, forgetting a key or a user takes effect
 * at once, a slot collision evicts, a role change is read anew), the access decision with
 * users' keys (server/auth.h auth_decide_who), and the store's users, keys and audit
 * (server/store_users.c): unique names, user 1 protected, delete handing over or purging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "store.h"
#include "tmpdir.h"
#include "users.h"

typedef struct {
    char dir[64];
    store *s;
    users *u;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tmpdir_store("users", f->dir, sizeof f->dir, &f->s)) return -1;
    if (users_new(f->s, &f->u) != MLP_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    users_free(f->u);
    tmpdir_store_close(f->s, f->dir);
    free(f);
    return 0;
}

static void key_rendering(void **state)
{
    (void)state;
    unsigned char raw[USERS_KEY_RAW];
    char key[USERS_KEY_LEN + 1];
    memset(raw, 0, sizeof raw);
    users_key_render(raw, key);
    assert_string_equal(key, "mlpd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    memset(raw, 0xff, sizeof raw);
    users_key_render(raw, key);
    /* 30 bytes of ones are 40 '_'; the last 2 bytes are 16 ones and 2 zero bits: "__8". */
    assert_string_equal(key, "mlpd_"
                             "________________________________________"
                             "__8");
    for (int i = 0; i < USERS_KEY_RAW; i++) raw[i] = (unsigned char)(i * 37 + 1);
    users_key_render(raw, key);
    assert_int_equal(strlen(key), USERS_KEY_LEN);
    assert_true(users_key_parse_ok(key, strlen(key)));
    /* The shape check: prefix, length, alphabet, no stray bits in the last character. */
    assert_false(users_key_parse_ok(key, strlen(key) - 1));
    assert_false(users_key_parse_ok(NULL, 0));
    char bad[USERS_KEY_LEN + 2];
    snprintf(bad, sizeof bad, "%s", key);
    bad[0] = 'M';
    assert_false(users_key_parse_ok(bad, USERS_KEY_LEN));
    snprintf(bad, sizeof bad, "%s", key);
    bad[20] = '+';
    assert_false(users_key_parse_ok(bad, USERS_KEY_LEN));
    snprintf(bad, sizeof bad, "%s", key);
    bad[USERS_KEY_LEN - 1] = 'B'; /* value 1: a stray bit */
    assert_false(users_key_parse_ok(bad, USERS_KEY_LEN));
    snprintf(bad, sizeof bad, "%sA", key);
    assert_false(users_key_parse_ok(bad, USERS_KEY_LEN + 1));
    /* Generated keys: well formed, distinct, digest of the key, prefix its start. */
    char k1[USERS_KEY_LEN + 1], k2[USERS_KEY_LEN + 1], p1[USERS_KEY_PREFIX_LEN + 1],
        p2[USERS_KEY_PREFIX_LEN + 1];
    unsigned char d1[32], d2[32];
    assert_int_equal(users_key_generate(k1, d1, p1), MLP_OK);
    assert_int_equal(users_key_generate(k2, d2, p2), MLP_OK);
    assert_true(users_key_parse_ok(k1, strlen(k1)));
    assert_string_not_equal(k1, k2);
    assert_memory_not_equal(d1, d2, 32);
    assert_int_equal(strlen(p1), USERS_KEY_PREFIX_LEN);
    assert_int_equal(strncmp(k1, p1, USERS_KEY_PREFIX_LEN), 0);
}

/* A new user of role r with one key (written to key); returns the user id. */
static long long new_user(fixture *f, const char *name, user_role r, char *key, long long *kid)
{
    store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "%s", name);
    u.role = r;
    for (int i = 0; i < STORE_QUOTA_N; i++) u.quota[i] = -1;
    unsigned char d[32];
    char prefix[USERS_KEY_PREFIX_LEN + 1];
    assert_int_equal(users_key_generate(key, d, prefix), MLP_OK);
    mlp_error err = {0};
    long long id = 0;
    assert_int_equal(store_user_create(f->s, &u, d, prefix, &id, &err), MLP_OK);
    if (kid) *kid = id;
    return u.id;
}

static void cache_hits_and_forgets(void **state)
{
    fixture *f = *state;
    char key[USERS_KEY_LEN + 1];
    long long kid = 0;
    long long uid = new_user(f, "ann", ROLE_STUDENT, key, &kid);
    principal p;
    assert_int_equal(users_cached(f->u), 0);
    assert_true(users_resolve(f->u, key, strlen(key), &p));
    assert_int_equal(p.id, uid);
    assert_int_equal(p.role, ROLE_STUDENT);
    assert_string_equal(p.name, "ann");
    assert_int_equal(users_cached(f->u), 1);
    /* A hit does not read the store: revoked there without telling the cache, the key still
     * resolves (which is why every revoke calls users_forget_key). */
    assert_int_equal(store_key_revoke(f->s, uid, kid), MLP_OK);
    assert_true(users_resolve(f->u, key, strlen(key), &p));
    users_forget_key(f->u, kid);
    assert_int_equal(users_cached(f->u), 0);
    assert_false(users_resolve(f->u, key, strlen(key), &p));
    assert_int_equal(users_cached(f->u), 0); /* refused keys are not cached */

    /* A role change is read anew once the user is forgotten. */
    char key2[USERS_KEY_LEN + 1];
    long long bob = new_user(f, "bob", ROLE_STUDENT, key2, NULL);
    assert_true(users_resolve(f->u, key2, strlen(key2), &p));
    store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "bob");
    u.role = ROLE_STAFF;
    mlp_error err = {0};
    assert_int_equal(store_user_update(f->s, &u, STORE_USER_SET_ROLE, &err), MLP_OK);
    users_forget_user(f->u, bob);
    assert_true(users_resolve(f->u, key2, strlen(key2), &p));
    assert_int_equal(p.role, ROLE_STAFF);
    /* Deleting the user: its keys go with it. */
    assert_int_equal(store_user_delete(f->s, "bob", USER_BOOTSTRAP_ID, 0, NULL, NULL, NULL, &err),
                     MLP_OK);
    users_forget_user(f->u, bob);
    assert_false(users_resolve(f->u, key2, strlen(key2), &p));
    /* Not even looked up: a key of the wrong shape, or no service. */
    assert_false(users_resolve(f->u, "mlpd_x", 6, &p));
    assert_false(users_resolve(NULL, key2, strlen(key2), &p));
}

/* The cache is bounded (direct-mapped): a key landing on a used slot evicts the one there,
 * and an evicted key still resolves, from the store. */
static void cache_is_bounded(void **state)
{
    fixture *f = *state;
    enum { MAXK = 200 }; /* P(no two of 200 random keys share one of 1024 slots) < 1e-8 */
    static char keys[MAXK][USERS_KEY_LEN + 1];
    principal p;
    int collided = -1;
    for (int i = 0; i < MAXK && collided < 0; i++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", i);
        new_user(f, name, ROLE_STUDENT, keys[i], NULL);
        assert_true(users_resolve(f->u, keys[i], USERS_KEY_LEN, &p));
        if (users_cached(f->u) == i) collided = i; /* i + 1 keys, i entries */
    }
    assert_true(collided > 0);
    for (int j = 0; j <= collided; j++) {
        char name[16];
        snprintf(name, sizeof name, "u%d", j);
        assert_true(users_resolve(f->u, keys[j], USERS_KEY_LEN, &p));
        assert_string_equal(p.name, name); /* never the slot's other key's user */
        assert_true(users_cached(f->u) <= collided);
    }
}

static int decide(fixture *f, const auth_keys *k, route_scope need, const char *key, int *at,
                  principal *who, const char **detail)
{
    size_t len = key ? strlen(key) : 0;
    return auth_decide_who(k, f->u, 0, need, key, len, at, who, detail);
}

static void decisions_with_users(void **state)
{
    fixture *f = *state;
    char stu[USERS_KEY_LEN + 1], adm[USERS_KEY_LEN + 1];
    new_user(f, "stu", ROLE_STUDENT, stu, NULL);
    long long aid = new_user(f, "boss", ROLE_ADMIN, adm, NULL);
    char list[] = "flagkey01:predict";
    auth_keys *k = NULL;
    mlp_error err = {0};
    assert_int_equal(auth_keys_new(list, &k, &err), MLP_OK);
    int at;
    principal who;
    const char *detail;
#define DECIDE(keys, need, key) decide(f, keys, need, key, &at, &who, &detail)
    assert_int_equal(DECIDE(k, SCOPE_TRAIN, stu), 0);
    assert_string_equal(who.name, "stu");
    assert_int_equal(who.role, ROLE_STUDENT);
    assert_int_equal(at, -1);
    assert_int_equal(DECIDE(k, SCOPE_ADMIN, stu), 403);
    assert_non_null(strstr(detail, "student"));
    assert_int_equal(who.id, 0);
    assert_int_equal(DECIDE(k, SCOPE_ADMIN, adm), 0);
    assert_int_equal(who.id, aid);
    /* A flag key comes first and acts as the bootstrap admin, with its own scope. */
    assert_int_equal(DECIDE(k, SCOPE_PREDICT, "flagkey01"), 0);
    assert_int_equal(who.id, USER_BOOTSTRAP_ID);
    assert_int_equal(at, 0);
    assert_int_equal(DECIDE(k, SCOPE_TRAIN, "flagkey01"), 403);
    assert_int_equal(DECIDE(k, SCOPE_TRAIN, "mlpd_nope"), 401);
    assert_int_equal(DECIDE(k, SCOPE_TRAIN, NULL), 401);
    /* No flag key: open, everyone the bootstrap admin, except a user's key, which is its user. */
    assert_int_equal(DECIDE(NULL, SCOPE_ADMIN, NULL), 0);
    assert_int_equal(who.id, USER_BOOTSTRAP_ID);
    assert_int_equal(DECIDE(NULL, SCOPE_ADMIN, "whatever1"), 0);
    assert_int_equal(who.id, USER_BOOTSTRAP_ID);
    assert_int_equal(DECIDE(NULL, SCOPE_TRAIN, stu), 0);
    assert_string_equal(who.name, "stu");
    assert_int_equal(DECIDE(NULL, SCOPE_ADMIN, stu), 403);
#undef DECIDE
    assert_int_equal(auth_role_scope(ROLE_STAFF), SCOPE_TRAIN);
    assert_int_equal(auth_role_scope(ROLE_ADMIN), SCOPE_ADMIN);
    assert_int_equal(auth_role_scope(ROLE_NONE), SCOPE_NONE);
    auth_keys_free(k);
}

static void store_users_and_audit(void **state)
{
    fixture *f = *state;
    char key[USERS_KEY_LEN + 1];
    new_user(f, "ann", ROLE_STUDENT, key, NULL);
    store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "ann");
    u.role = ROLE_STAFF;
    mlp_error err = {0};
    assert_int_equal(store_user_create(f->s, &u, NULL, NULL, NULL, &err), MLP_ECONFLICT);
    /* User 1 keeps its role and cannot be deleted. */
    snprintf(u.name, sizeof u.name, "admin");
    assert_int_equal(store_user_update(f->s, &u, STORE_USER_SET_ROLE, &err), MLP_ECONFLICT);
    assert_int_equal(store_user_delete(f->s, "admin", 2, 1, NULL, NULL, NULL, &err), MLP_ECONFLICT);
    /* Quotas: set one, leave the others. */
    memset(&u, 0, sizeof u);
    snprintf(u.name, sizeof u.name, "ann");
    u.quota[STORE_QUOTA_MODELS] = 5;
    assert_int_equal(store_user_update(f->s, &u, STORE_USER_SET_QUOTA(STORE_QUOTA_MODELS), &err),
                     MLP_OK);
    assert_int_equal(u.quota[STORE_QUOTA_MODELS], 5);
    assert_int_equal(u.quota[STORE_QUOTA_ACTIVE_RUNS], -1);
    assert_int_equal(u.role, ROLE_STUDENT);
    store_user *items = NULL;
    int n = 0;
    long total = 0;
    assert_int_equal(store_user_list(f->s, 10, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, 2);
    assert_string_equal(items[0].name, "admin");
    free(items);
    /* Audit: append-only, filtered, newest first. */
    principal who = user_bootstrap();
    assert_int_equal(store_audit_append(f->s, &who, "user.create", "users/ann", "{\"a\":1}"),
                     MLP_OK);
    assert_int_equal(store_audit_append(f->s, &who, "key.revoke", "users/ann/keys/1", NULL),
                     MLP_OK);
    store_audit *log = NULL;
    assert_int_equal(store_audit_list(f->s, "admin", NULL, NULL, 10, 0, &log, &n, &total), MLP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(log[0].action, "key.revoke");
    assert_string_equal(log[0].detail, "{}");
    store_audits_free(log, n);
    assert_int_equal(
        store_audit_list(f->s, NULL, "user.create", "users/ann", 10, 0, &log, &n, &total), MLP_OK);
    assert_int_equal(total, 1);
    store_audits_free(log, n);
    assert_int_equal(store_audit_list(f->s, "nobody", NULL, NULL, 10, 0, &log, &n, &total), MLP_OK);
    assert_int_equal(total, 0);
    store_audits_free(log, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_rendering),
        cmocka_unit_test_setup_teardown(cache_hits_and_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(decisions_with_users, setup, teardown),
        cmocka_unit_test_setup_teardown(store_users_and_audit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
