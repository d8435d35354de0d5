/* test_access.c — class mode's ownership and visibility rules (server/access.h) as a table over
 * roles, ownership and visibility; every route of api/routes.def carrying a rule that fits what
 * it names; the store's list filters (SQL) agreeing with those rules for every viewer, with
 * ?owner= and paging totals; default visibility by the creator's role; the model-access cache
 * following every write; a model name owned by one student refused to another, at import
 * and at a run's publish; and sweeps, private to their owner, staff and admin, listed so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "access.h"
#include "routes.h"
#include "store.h"
#include "server/tmpdir.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The cast: admin (1, the bootstrap admin), two students, staff, and an anonymous caller. */
enum { P_ADMIN, P_ALICE, P_BOB, P_STAFF, P_ANON, P_COUNT };
static const principal people[P_COUNT] = {
    {1, ROLE_ADMIN, "admin"}, {2, ROLE_STUDENT, "alice"}, {3, ROLE_STUDENT, "bob"},
    {4, ROLE_STAFF, "tara"},  {0, ROLE_NONE, ""},
};

/* One row per (owner, visibility, rows_visible): the verdicts of see, change and rows for each
 * caller, as letters: o ok, h hidden (404), d denied (403). */
typedef struct {
    long long owner;
    visibility vis;
    int rows_visible;
    const char *see, *change, *rows; /* indexed by P_* */
} rule_case;

static const rule_case cases[] = {
    /*                               admin alice bob staff anon */
    {2, VIS_PRIVATE, 0, "oohoh", "oohoh", "oohoh"}, {2, VIS_PRIVATE, 1, "oohoh", "oohoh", "oohoh"},
    {2, VIS_CLASS, 0, "ooooh", "oodoh", "oodoh"},   {2, VIS_CLASS, 1, "ooooh", "oodoh", "ooooh"},
    {2, VIS_PUBLIC, 0, "ooooo", "oodod", "oodod"},  {2, VIS_PUBLIC, 1, "ooooo", "oodod", "ooooo"},
    {1, VIS_PRIVATE, 0, "ohhoh", "ohhoh", "ohhoh"}, {1, VIS_CLASS, 0, "ooooh", "oddoh", "oddoh"},
    {4, VIS_CLASS, 1, "ooooh", "oddoh", "ooooh"},
};

static char letter(access_verdict v)
{
    return v == ACCESS_OK ? 'o' : v == ACCESS_HIDDEN ? 'h' : 'd';
}

static void rules_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const rule_case *k = &cases[c];
        for (int p = 0; p < P_COUNT; p++) {
            char got[3] = {letter(access_see(&people[p], k->owner, k->vis)),
                           letter(access_change(&people[p], k->owner, k->vis)),
                           letter(access_rows(&people[p], k->owner, k->vis, k->rows_visible))};
            char want[3] = {k->see[p], k->change[p], k->rows[p]};
            if (memcmp(got, want, 3) != 0)
                fail_msg("case %zu (owner %lld, %s, rows_visible %d), caller %s: got %.3s, want "
                         "%.3s (see, change, rows)",
                         c, k->owner, access_vis_name(k->vis), k->rows_visible,
                         user_role_name(people[p].role), got, want);
        }
    }
}

static void run_rules(void **state)
{
    (void)state;
    /* alice's run, publishing to a model of bob's with each visibility, or to no model. */
    static const struct {
        int has_model;
        visibility vis;
        const char *read, *change; /* admin alice bob staff anon */
    } rc[] = {
        {0, VIS_PRIVATE, "oohoh", "oohoh"},
        {1, VIS_PRIVATE, "oohoh", "oohoh"},
        {1, VIS_CLASS, "ooooh", "oodoh"},
        {1, VIS_PUBLIC, "ooooo", "oodod"},
    };
    for (size_t c = 0; c < sizeof rc / sizeof rc[0]; c++)
        for (int p = 0; p < P_COUNT; p++) {
            char r = letter(access_run(&people[p], 2, rc[c].has_model, 3, rc[c].vis, 0));
            char w = letter(access_run(&people[p], 2, rc[c].has_model, 3, rc[c].vis, 1));
            if (r != rc[c].read[p] || w != rc[c].change[p])
                fail_msg("run case %zu caller %d: got %c%c want %c%c", c, p, r, w, rc[c].read[p],
                         rc[c].change[p]);
        }
    /* A private model seen by its owner does not show another user's run on it. */
    assert_int_equal(access_run(&people[P_BOB], 2, 1, 3, VIS_PRIVATE, 0), ACCESS_HIDDEN);
}

static void sweep_rules(void **state)
{
    (void)state;
    /* alice's sweep, and the bootstrap admin's: admin alice bob staff anon */
    static const struct {
        long long owner;
        const char *want;
    } sc[] = {{2, "oohoh"}, {3, "ohooh"}, {1, "ohhoh"}};
    for (size_t c = 0; c < sizeof sc / sizeof sc[0]; c++)
        for (int p = 0; p < P_COUNT; p++) {
            char got = letter(access_sweep(&people[p], sc[c].owner));
            if (got != sc[c].want[p])
                fail_msg("sweep of user %lld, caller %s: got %c want %c", sc[c].owner,
                         people[p].name, got, sc[c].want[p]);
        }
    /* An anonymous caller owns nothing, even with the id 0 of "no owner". */
    assert_int_equal(access_sweep(&people[P_ANON], 0), ACCESS_HIDDEN);
}

static void names_and_defaults(void **state)
{
    (void)state;
    visibility v;
    const char *names[] = {"private", "class", "public"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(access_vis_parse(names[i], &v), MLP_OK);
        assert_string_equal(access_vis_name(v), names[i]);
    }
    assert_int_equal(access_vis_parse("Class", &v), MLP_EINVAL);
    assert_int_equal(access_vis_parse(NULL, &v), MLP_EINVAL);
    assert_int_equal(access_default_vis(ROLE_STUDENT), VIS_PRIVATE);
    assert_int_equal(access_default_vis(ROLE_STAFF), VIS_CLASS);
    assert_int_equal(access_default_vis(ROLE_ADMIN), VIS_CLASS);
    assert_int_equal(access_role(&people[P_ALICE], ROLE_STAFF), ACCESS_DENIED);
    assert_int_equal(access_role(&people[P_STAFF], ROLE_STAFF), ACCESS_OK);
}

/* Every route has a rule, and one that fits what its path names. */
static void every_route_has_a_fitting_rule(void **state)
{
    (void)state;
    for (size_t i = 0; i < route_count; i++) {
        const route *r = &route_table[i];
        const char *p = r->pattern;
        if (r->rule <= RULE_MISSING || (int)r->rule >= RULE_COUNT)
            fail_msg("route %s %s has no access rule (api/routes.def)", r->method, p);
        int ds = strncmp(p, "/api/v1/datasets/{id}", 21) == 0;
        int run = strncmp(p, "/api/v1/runs/{id}", 17) == 0;
        int model = strstr(p, "models/{name}") != NULL;
        int sweep = strncmp(p, "/api/v1/sweeps/{id}", 19) == 0;
        int is_ds = r->rule >= RULE_DATASET_SEE && r->rule <= RULE_DATASET_CHANGE;
        int is_run = r->rule == RULE_RUN_SEE || r->rule == RULE_RUN_CHANGE;
        int is_model = r->rule >= RULE_MODEL_SEE && r->rule <= RULE_MODEL_PUBLISH;
        int is_sweep = r->rule == RULE_SWEEP_SEE || r->rule == RULE_SWEEP_CHANGE;
        if (ds != is_ds || run != is_run || model != is_model || sweep != is_sweep)
            fail_msg("route %s %s: rule %d does not fit what the path names", r->method, p,
                     (int)r->rule);
        /* A write to an /api/v1 resource needs more than seeing it. */
        int write = strcmp(r->method, "GET") != 0;
        if (write &&
            (r->rule == RULE_DATASET_SEE || r->rule == RULE_RUN_SEE || r->rule == RULE_SWEEP_SEE ||
             (r->rule == RULE_MODEL_SEE && strncmp(p, "/api/v1/", 8) == 0)))
            fail_msg("route %s %s writes with a read rule", r->method, p);
    }
}

/* ---- the store's filters against the rules ---- */

typedef struct {
    char dir[64];
    store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (tmpdir_store("access", f->dir, sizeof f->dir, &f->s)) return -1;
    /* The users the users engineer's API would create, written straight into the table. */
    char path[128];
    snprintf(path, sizeof path, "%s/mlpd.db", f->dir);
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    int rc = sqlite3_exec(db,
                          "INSERT INTO users (id, name, role, created_at) VALUES"
                          " (2, 'alice', 'student', 'x'), (3, 'bob', 'student', 'x'),"
                          " (4, 'tara', 'staff', 'x')",
                          NULL, NULL, NULL);
    sqlite3_close(db);
    if (rc != SQLITE_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tmpdir_store_close(f->s, f->dir);
    free(f);
    return 0;
}

static ds_table *table2(void)
{
    ds_table *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->rows = 2;
    t->cols = 2;
    t->columns = calloc(2, sizeof *t->columns);
    t->data = calloc(4, sizeof(float));
    assert_non_null(t->columns);
    assert_non_null(t->data);
    t->columns[0].name = strdup("a");
    t->columns[1].name = strdup("b");
    return t;
}

static const float w[4] = {1, 2, 3, 4};

static void add_model(store *s, long long owner, const char *name, const visibility *vis)
{
    int v = 0;
    mlp_error err = {0};
    assert_int_equal(store_model_add_version_as(s, owner, name, NULL, "regression", 3, 1, "{}", w,
                                                sizeof w, &v, &err),
                     MLP_OK);
    if (vis) assert_int_equal(store_model_set_visibility(s, name, *vis), MLP_OK);
}

static void lists_agree_with_the_rules(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    ds_table *t = table2();
    /* Datasets: each owner with each visibility, and the owner's default. */
    const long long owners[] = {1, 2, 3, 4};
    int n_ds = 0;
    for (int o = 0; o < 4; o++)
        for (int v = -1; v <= VIS_PUBLIC; v++) {
            visibility vis = (visibility)v;
            store_dataset d;
            assert_int_equal(store_dataset_create_as(f->s, owners[o], v < 0 ? NULL : &vis, 0, 0,
                                                     "d", t, &d, &err),
                             MLP_OK);
            if (v < 0)
                assert_int_equal(d.vis,
                                 access_default_vis(owners[o] == 2 || owners[o] == 3 ? ROLE_STUDENT
                                                                                     : ROLE_STAFF));
            n_ds++;
        }
    ds_table_free(t);
    /* Models: alice's private, class and public, bob's private (by default), staff's class. */
    visibility pv = VIS_PRIVATE, cv = VIS_CLASS, uv = VIS_PUBLIC;
    add_model(f->s, 2, "a-priv", &pv);
    add_model(f->s, 2, "a-class", &cv);
    add_model(f->s, 2, "a-pub", &uv);
    add_model(f->s, 3, "b-default", NULL);
    add_model(f->s, 4, "t-default", NULL);
    store_access ma;
    assert_int_equal(store_model_access(f->s, "b-default", &ma), MLP_OK);
    assert_int_equal(ma.vis, VIS_PRIVATE);
    assert_string_equal(ma.owner, "bob");
    assert_int_equal(store_model_access(f->s, "t-default", &ma), MLP_OK);
    assert_int_equal(ma.vis, VIS_CLASS);
    /* Runs: bob's on each model and on a name with no model. */
    const char *targets[] = {"a-priv", "a-class", "a-pub", "b-default", "t-default", "none"};
    for (int i = 0; i < 6; i++) {
        store_run r;
        memset(&r, 0, sizeof r);
        snprintf(r.task, sizeof r.task, "regression");
        snprintf(r.dataset_id, sizeof r.dataset_id, "ds_1");
        snprintf(r.model_name, sizeof r.model_name, "%s", targets[i]);
        r.request_json = "{}";
        r.epochs = 1;
        r.owner_id = 3;
        assert_int_equal(store_run_create(f->s, &r, &err), MLP_OK);
    }

    for (int p = 0; p < P_COUNT; p++) {
        store_view v = {&people[p], NULL};
        store_dataset *ds = NULL;
        int n = 0;
        long total = 0;
        assert_int_equal(store_dataset_list_for(f->s, &v, 100, 0, &ds, &n, &total), MLP_OK);
        int want = 0;
        for (int i = 1; i <= n_ds; i++) {
            char id[24];
            snprintf(id, sizeof id, "ds_%d", i);
            store_access a;
            assert_int_equal(store_dataset_access(f->s, id, &a), MLP_OK);
            int seen = access_see(&people[p], a.owner_id, a.vis) == ACCESS_OK, listed = 0;
            for (int k = 0; k < n; k++) listed |= strcmp(ds[k].id, id) == 0;
            if (seen != listed)
                fail_msg("caller %d: dataset %s seen %d but listed %d", p, id, seen, listed);
            want += seen;
        }
        assert_int_equal(n, want);
        assert_int_equal(total, want);
        free(ds);
        /* Paging keeps the total. */
        assert_int_equal(store_dataset_list_for(f->s, &v, 1, 0, &ds, &n, &total), MLP_OK);
        assert_int_equal(total, want);
        free(ds);

        store_model *ms = NULL;
        assert_int_equal(store_model_list_for(f->s, &v, 100, 0, &ms, &n, &total), MLP_OK);
        want = 0;
        for (int i = 0; i < 5; i++) {
            store_access a;
            assert_int_equal(store_model_access(f->s, targets[i], &a), MLP_OK);
            int seen = access_see(&people[p], a.owner_id, a.vis) == ACCESS_OK, listed = 0;
            for (int k = 0; k < n; k++) listed |= strcmp(ms[k].name, targets[i]) == 0;
            if (seen != listed)
                fail_msg("caller %d: model %s seen %d but listed %d", p, targets[i], seen, listed);
            want += seen;
        }
        assert_int_equal(total, want);
        store_models_free(ms, n);

        store_run *rs = NULL;
        assert_int_equal(store_run_list_for(f->s, &v, NULL, NULL, NULL, 100, 0, &rs, &n, &total),
                         MLP_OK);
        want = 0;
        for (int i = 1; i <= 6; i++) {
            char id[24];
            snprintf(id, sizeof id, "run_%d", i);
            store_access ra, mo;
            int has = 0;
            assert_int_equal(store_run_access(f->s, id, &ra, &has, &mo), MLP_OK);
            assert_string_equal(ra.owner, "bob");
            int seen =
                    access_run(&people[p], ra.owner_id, has, mo.owner_id, mo.vis, 0) == ACCESS_OK,
                listed = 0;
            for (int k = 0; k < n; k++) listed |= strcmp(rs[k].id, id) == 0;
            if (seen != listed)
                fail_msg("caller %d: run %s seen %d but listed %d", p, id, seen, listed);
            want += seen;
        }
        assert_int_equal(total, want);
        store_runs_free(rs, n);
    }

    /* ?owner=: one user's items among what the caller sees; an unknown name lists nothing. */
    store_view v = {&people[P_ALICE], "bob"};
    store_dataset *ds = NULL;
    int n = 0;
    long total = 0;
    assert_int_equal(store_dataset_list_for(f->s, &v, 100, 0, &ds, &n, &total), MLP_OK);
    assert_int_equal(n, 2); /* bob's class and public ones */
    for (int k = 0; k < n; k++) {
        assert_string_equal(ds[k].owner, "bob");
        assert_true(ds[k].vis >= VIS_CLASS);
    }
    free(ds);
    v.owner = "nobody";
    assert_int_equal(store_dataset_list_for(f->s, &v, 100, 0, &ds, &n, &total), MLP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
    free(ds);
    store_view all = {NULL, "alice"};
    store_model *ms = NULL;
    assert_int_equal(store_model_list_for(f->s, &all, 100, 0, &ms, &n, &total), MLP_OK);
    assert_int_equal(n, 3);
    store_models_free(ms, n);
}

/* Sweeps: one per user (and one created naming no owner: the bootstrap admin's); each caller
 * lists exactly those access_sweep lets it see, ?owner= narrows, paging keeps the total. */
static void sweeps_agree_with_the_rules(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    const long long owners[] = {2, 3, 4, 1, 0};
    const int n_sw = (int)(sizeof owners / sizeof owners[0]);
    for (int i = 0; i < n_sw; i++) {
        store_sweep sw;
        memset(&sw, 0, sizeof sw);
        sw.request_json = "{}";
        sw.owner_id = owners[i];
        assert_int_equal(store_sweep_create(f->s, &sw, &err), MLP_OK);
        assert_int_equal(sw.owner_id, owners[i] ? owners[i] : 1);
        assert_string_equal(sw.owner, people[sw.owner_id - 1].name);
    }
    store_sweep bad;
    memset(&bad, 0, sizeof bad);
    bad.request_json = "{}";
    bad.owner_id = 99; /* no such user */
    assert_int_equal(store_sweep_create(f->s, &bad, &err), MLP_EINVAL);
    for (int p = 0; p < P_COUNT; p++) {
        store_view v = {&people[p], NULL};
        store_sweep *items = NULL;
        int n = 0, want = 0;
        long total = 0;
        assert_int_equal(store_sweep_list_for(f->s, &v, 100, 0, &items, &n, &total), MLP_OK);
        for (int i = 1; i <= n_sw; i++) {
            char id[24];
            snprintf(id, sizeof id, "swp_%d", i);
            store_access a;
            assert_int_equal(store_sweep_access(f->s, id, &a), MLP_OK);
            int seen = access_sweep(&people[p], a.owner_id) == ACCESS_OK, listed = 0;
            for (int k = 0; k < n; k++)
                if (strcmp(items[k].id, id) == 0) {
                    listed = 1;
                    assert_int_equal(items[k].owner_id, a.owner_id);
                    assert_string_equal(items[k].owner, a.owner);
                }
            if (seen != listed)
                fail_msg("caller %d: sweep %s seen %d but listed %d", p, id, seen, listed);
            want += seen;
        }
        assert_int_equal(n, want);
        assert_int_equal(total, want);
        store_sweeps_free(items, n);
        assert_int_equal(store_sweep_list_for(f->s, &v, 1, 0, &items, &n, &total), MLP_OK);
        assert_int_equal(total, want);
        store_sweeps_free(items, n);
    }
    /* ?owner=: staff narrowed to alice's; alice asking for bob's gets none; NULL view: all. */
    store_view tv = {&people[P_STAFF], "alice"}, av = {&people[P_ALICE], "bob"}, all = {NULL, NULL};
    store_sweep *items = NULL;
    int n = 0;
    long total = 0;
    assert_int_equal(store_sweep_list_for(f->s, &tv, 100, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].owner, "alice");
    store_sweeps_free(items, n);
    assert_int_equal(store_sweep_list_for(f->s, &av, 100, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
    store_sweeps_free(items, n);
    assert_int_equal(store_sweep_list_for(f->s, &all, 100, 0, &items, &n, &total), MLP_OK);
    assert_int_equal(total, n_sw);
    store_sweeps_free(items, n);
    store_access a;
    assert_int_equal(store_sweep_access(f->s, "swp_99", &a), MLP_ENOTFOUND);
    assert_int_equal(store_sweep_access(f->s, "run_1", &a), MLP_ENOTFOUND);
    /* A deleted user's sweeps go to the heir, or with the purge. */
    assert_int_equal(store_user_delete(f->s, "bob", 2, 0, NULL, NULL, NULL, &err), MLP_OK);
    assert_int_equal(store_sweep_access(f->s, "swp_2", &a), MLP_OK);
    assert_string_equal(a.owner, "alice");
    assert_int_equal(store_user_delete(f->s, "tara", 0, 1, NULL, NULL, NULL, &err), MLP_OK);
    assert_int_equal(store_sweep_access(f->s, "swp_3", &a), MLP_ENOTFOUND);
    assert_int_equal(store_sweep_access(f->s, "swp_1", &a), MLP_OK);
}

static void set_access_round_trips(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    ds_table *t = table2();
    store_dataset d;
    assert_int_equal(store_dataset_create_as(f->s, 2, NULL, 0, 0, "d", t, &d, &err), MLP_OK);
    ds_table_free(t);
    assert_string_equal(d.owner, "alice");
    assert_int_equal(d.vis, VIS_PRIVATE);
    visibility cv = VIS_CLASS;
    int one = 1;
    assert_int_equal(store_dataset_set_access(f->s, d.id, &cv, NULL), MLP_OK);
    store_access a;
    assert_int_equal(store_dataset_access(f->s, d.id, &a), MLP_OK);
    assert_int_equal(a.vis, VIS_CLASS);
    assert_int_equal(a.rows_visible, 0);
    assert_int_equal(store_dataset_set_access(f->s, d.id, NULL, &one), MLP_OK);
    assert_int_equal(store_dataset_access(f->s, d.id, &a), MLP_OK);
    assert_int_equal(a.vis, VIS_CLASS);
    assert_int_equal(a.rows_visible, 1);
    assert_int_equal(store_dataset_set_access(f->s, "ds_99", &cv, NULL), MLP_ENOTFOUND);
    assert_int_equal(store_model_set_visibility(f->s, "nope", cv), MLP_ENOTFOUND);
    /* An owner that is no user is refused. */
    t = table2();
    assert_int_equal(store_dataset_create_as(f->s, 77, NULL, 0, 0, "d", t, NULL, &err), MLP_EINVAL);
    ds_table_free(t);
}

/* store_model_access answers from a cache that every committed write invalidates. */
static void model_access_cache_follows_writes(void **state)
{
    fixture *f = *state;
    store_access a;
    add_model(f->s, 2, "cached", NULL);
    for (int i = 0; i < 2; i++) { /* a read, then a hit */
        assert_int_equal(store_model_access(f->s, "cached", &a), MLP_OK);
        assert_int_equal(a.vis, VIS_PRIVATE);
        assert_string_equal(a.owner, "alice");
    }
    assert_int_equal(store_model_set_visibility(f->s, "cached", VIS_PUBLIC), MLP_OK);
    assert_int_equal(store_model_access(f->s, "cached", &a), MLP_OK);
    assert_int_equal(a.vis, VIS_PUBLIC);
    for (int i = 0; i < 2; i++)
        assert_int_equal(store_model_access(f->s, "later", &a), MLP_ENOTFOUND);
    add_model(f->s, 3, "later", NULL);
    assert_int_equal(store_model_access(f->s, "later", &a), MLP_OK);
    assert_string_equal(a.owner, "bob");
    /* deleting the last version deletes the model, and another user may take the name */
    mlp_error err = {0};
    assert_int_equal(store_model_version_delete(f->s, "later", 1, &err), MLP_OK);
    assert_int_equal(store_model_access(f->s, "later", &a), MLP_ENOTFOUND);
    add_model(f->s, 2, "later", NULL);
    assert_int_equal(store_model_access(f->s, "later", &a), MLP_OK);
    assert_string_equal(a.owner, "alice");
}

static void model_names_belong_to_their_first_publisher(void **state)
{
    fixture *f = *state;
    mlp_error err = {0};
    int v = 0;
    add_model(f->s, 2, "mine", NULL);
    /* bob may not publish to alice's name, even when it is public; staff and admin may. */
    visibility uv = VIS_PUBLIC;
    assert_int_equal(store_model_set_visibility(f->s, "mine", uv), MLP_OK);
    assert_int_equal(store_model_add_version_as(f->s, 3, "mine", NULL, "regression", 3, 1, "{}", w,
                                                sizeof w, &v, &err),
                     MLP_ECONFLICT);
    assert_non_null(strstr(err.msg, "'alice'"));
    assert_int_equal(store_model_add_version_as(f->s, 4, "mine", NULL, "regression", 3, 1, "{}", w,
                                                sizeof w, &v, &err),
                     MLP_OK);
    assert_int_equal(v, 2);
    store_access a;
    assert_int_equal(store_model_access(f->s, "mine", &a), MLP_OK);
    assert_string_equal(a.owner, "alice"); /* staff publishing does not take it over */
    /* A run of bob's that names alice's model is refused when it would publish. */
    store_run r;
    memset(&r, 0, sizeof r);
    snprintf(r.task, sizeof r.task, "regression");
    ds_table *t = table2();
    store_dataset d;
    assert_int_equal(store_dataset_create_as(f->s, 3, NULL, 0, 0, "d", t, &d, &err), MLP_OK);
    ds_table_free(t);
    snprintf(r.dataset_id, sizeof r.dataset_id, "%s", d.id);
    snprintf(r.model_name, sizeof r.model_name, "mine");
    r.request_json = "{}";
    r.epochs = 1;
    r.owner_id = 3;
    assert_int_equal(store_run_create(f->s, &r, &err), MLP_OK);
    assert_int_equal(store_run_start(f->s, r.id), MLP_OK);
    assert_int_equal(
        store_run_succeed(f->s, r.id, "mine", "regression", 3, 1, "{}", w, sizeof w, &v),
        MLP_ECONFLICT);
    assert_int_equal(store_model_get(f->s, "mine", NULL, NULL, NULL), MLP_OK);
    store_model m;
    assert_int_equal(store_model_get(f->s, "mine", &m, NULL, NULL), MLP_OK);
    assert_int_equal(m.n_versions, 2); /* nothing was published */
    store_model_clear(&m);
    /* A run's success publishes a new name as its owner's. */
    store_run r2 = r;
    snprintf(r2.model_name, sizeof r2.model_name, "bobs");
    r2.request_json = "{}";
    assert_int_equal(store_run_create(f->s, &r2, &err), MLP_OK);
    assert_int_equal(store_run_start(f->s, r2.id), MLP_OK);
    assert_int_equal(
        store_run_succeed(f->s, r2.id, "bobs", "regression", 3, 1, "{}", w, sizeof w, &v), MLP_OK);
    assert_int_equal(store_model_access(f->s, "bobs", &a), MLP_OK);
    assert_string_equal(a.owner, "bob");
    assert_int_equal(a.vis, VIS_PRIVATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_table),
        cmocka_unit_test(run_rules),
        cmocka_unit_test(sweep_rules),
        cmocka_unit_test(names_and_defaults),
        cmocka_unit_test(every_route_has_a_fitting_rule),
        cmocka_unit_test_setup_teardown(lists_agree_with_the_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(sweeps_agree_with_the_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(set_access_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(model_access_cache_follows_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(model_names_belong_to_their_first_publisher, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
