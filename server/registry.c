/* registry.c — bounded LRU cache of loaded model versions with reference counts (registry.h).
 *
 * Lock discipline: r->mu guards the slots, the pointer cache, the generations, the loose list,
 * the byte count and budget, and each model's last_use and evicted flag; refs is atomic but changes
 * to 0 only under mu (so reg_evict's wait cannot miss the last release). Every helper that says
 * "caller holds mu" asserts it with mu_held(), which knows the owning thread the way SQLite's
 * sqlite3_mutex_held() does: mu is taken and released only through mu_lock, mu_unlock and
 * mu_wait. */
#include "registry.h"
#include "bundle.h"
#include "ensemble.h"
#include "hmutex.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg_model {
    char name[72];
    int version;
    char task[16];
    model_bundle *b;              /* owned */
    atomic_int refs;              /* held references (the cache's own is not counted) */
    int evicted;                  /* removed from the cache; freed at the last release */
    struct reg_model *next_loose; /* registry's list of uncached models still referenced */
    unsigned long last_use;       /* r->tick at the last hold, for the LRU choice */
    size_t bytes;                 /* model_bytes: what it holds in memory */
};

typedef struct {
    char name[72];
    char alias[72]; /* "" = the latest-version entry */
    int version;
} reg_pointer;

#define REG_POINTERS    256
#define REG_GEN_BUCKETS 256 /* generations by hash of the model name; a collision only retries */
#define REG_ATTEMPTS    16  /* lookups raced by a change of the same name before giving up */

struct registry {
    store *st;
    int cap;
    hmutex mu;
    pthread_cond_t released;
    reg_model **m; /* cap slots, NULL = free */
    reg_pointer ptr[REG_POINTERS];
    int n_ptr;
    unsigned long gen[REG_GEN_BUCKETS]; /* bumped by every invalidate and evict of a name */
    reg_model *loose; /* referenced models served uncached (cache full), via next_loose */
    unsigned long tick;
    size_t budget; /* bytes the cached models may hold; 0 = no byte bound */
    size_t bytes;  /* what the cached models hold (the loose ones are not counted) */
};

static int mu_held(registry *r)
{
    return hmutex_held(&r->mu);
}
static void mu_lock(registry *r)
{
    hmutex_lock(&r->mu);
}

static void mu_unlock(registry *r)
{
    assert(mu_held(r));
    hmutex_unlock(&r->mu);
}

/* Waits for a release: mu is let go and taken again. Caller holds mu. */
static void mu_wait(registry *r)
{
    assert(mu_held(r));
    hmutex_wait(&r->released, &r->mu);
}

mlp_err reg_new(store *s, int capacity, registry **out)
{
    registry *r = calloc(1, sizeof *r);
    if (!r) return MLP_ENOMEM;
    r->m = calloc((size_t)capacity, sizeof *r->m);
    if (!r->m) {
        free(r);
        return MLP_ENOMEM;
    }
    r->st = s;
    r->cap = capacity;
    hmutex_init(&r->mu);
    pthread_cond_init(&r->released, NULL);
    *out = r;
    return MLP_OK;
}

static void model_free(reg_model *m)
{
    if (!m) return;
    bundle_free(m->b);
    free(m);
}

/* Heap a decoded net holds, from core/net.h's layout: the parameter block (weights, biases and
 * the standardisation vectors) and, once net_prepare_serving has run, layer 0's transposed
 * weights, constants and split flags. NET_OVERHEAD stands for the struct itself. */
#define NET_OVERHEAD 512
static size_t net_bytes(const net *n)
{
    const net_spec *sp = net_get_spec(n);
    size_t in = (size_t)sp->n_in, out = (size_t)sp->n_out;
    size_t floats = net_param_count(n) + 2 * in + 2 * out, extra = 0;
    if (net_serving_prepared(n)) {
        size_t w1 = sp->n_hidden ? (size_t)sp->hidden[0] : out;
        floats += in * w1 + w1;
        extra = in;
    }
    return NET_OVERHEAD + floats * sizeof(float) + extra;
}

/* What a loaded model holds: itself, its bundle, every member network of an ensemble (or the
 * one network) and the feature and label names. */
static size_t model_bytes(const reg_model *m)
{
    const model_bundle *b = m->b;
    size_t n = sizeof *m + sizeof *b;
    if (b->n_members) {
        n += (size_t)b->n_members * sizeof *b->members;
        for (int i = 0; i < b->n_members; i++) n += net_bytes(b->members[i]);
    } else {
        n += net_bytes(b->net);
    }
    for (int i = 0; i < b->n_features; i++) n += sizeof *b->features + strlen(b->features[i]) + 1;
    for (int i = 0; i < b->n_labels; i++) n += sizeof *b->labels + strlen(b->labels[i]) + 1;
    return n;
}

void reg_set_budget(registry *r, size_t bytes)
{
    mu_lock(r);
    r->budget = bytes;
    mu_unlock(r);
}

void reg_free(registry *r)
{
    if (!r) return;
    for (int i = 0; i < r->cap; i++) model_free(r->m[i]);
    free(r->m);
    hmutex_destroy(&r->mu);
    pthread_cond_destroy(&r->released);
    free(r);
}

/* Cached version for (name, alias); 0 if unknown. Caller holds mu. */
static int ptr_lookup(registry *r, const char *name, const char *alias)
{
    assert(mu_held(r));
    for (int i = 0; i < r->n_ptr; i++)
        if (strcmp(r->ptr[i].name, name) == 0 && strcmp(r->ptr[i].alias, alias) == 0)
            return r->ptr[i].version;
    return 0;
}

/* Caches (name, alias) -> version. Caller holds mu. */
static void ptr_store(registry *r, const char *name, const char *alias, int version)
{
    assert(mu_held(r));
    if (r->n_ptr == REG_POINTERS) r->n_ptr = 0; /* crude but bounded: start over */
    reg_pointer *p = &r->ptr[r->n_ptr++];
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->alias, sizeof p->alias, "%s", alias);
    p->version = version;
}

/* Generation of `name`'s bucket. Caller holds mu. */
static unsigned long *gen_of(registry *r, const char *name)
{
    assert(mu_held(r));
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 16777619u;
    return &r->gen[h % REG_GEN_BUCKETS];
}

/* Forgets name's pointers and bumps its generation. Caller holds mu. */
static void invalidate_locked(registry *r, const char *name)
{
    assert(mu_held(r));
    (*gen_of(r, name))++;
    for (int i = 0; i < r->n_ptr;) {
        if (strcmp(r->ptr[i].name, name) == 0)
            r->ptr[i] = r->ptr[--r->n_ptr];
        else
            i++;
    }
}

void reg_invalidate(registry *r, const char *name)
{
    mu_lock(r);
    invalidate_locked(r, name);
    mu_unlock(r);
}

/* The cached model (name, version), or NULL. Caller holds mu. */
static reg_model *find(registry *r, const char *name, int version)
{
    assert(mu_held(r));
    for (int i = 0; i < r->cap; i++)
        if (r->m[i] && r->m[i]->version == version && strcmp(r->m[i]->name, name) == 0)
            return r->m[i];
    return NULL;
}

/* Puts m in a free slot, or in place of the least recently used unreferenced model. Caller holds
 * mu. Returns 0, or -1 when every slot is busy (m is then served uncached). */
static int insert(registry *r, reg_model *m)
{
    assert(mu_held(r));
    int victim = -1;
    for (int i = 0; i < r->cap; i++) {
        if (!r->m[i]) {
            victim = i;
            break;
        }
        if (atomic_load(&r->m[i]->refs) == 0 &&
            (victim < 0 || r->m[i]->last_use < r->m[victim]->last_use))
            victim = i;
    }
    if (victim < 0) return -1;
    if (r->m[victim]) r->bytes -= r->m[victim]->bytes;
    model_free(r->m[victim]);
    r->m[victim] = m;
    r->bytes += m->bytes;
    return 0;
}

/* Drops unreferenced models while the cache holds more than the byte budget: first any model
 * bigger than the whole budget, then the least recently used. A held model bigger than the
 * budget is not counted (dropping others cannot make room for it: it goes at its last release,
 * which trims again). Stops early when every model left is referenced. Caller holds mu. */
static void trim(registry *r)
{
    assert(mu_held(r));
    if (!r->budget) return;
    size_t big_held = 0;
    for (int i = 0; i < r->cap; i++)
        if (r->m[i] && atomic_load(&r->m[i]->refs) > 0 && r->m[i]->bytes > r->budget)
            big_held += r->m[i]->bytes;
    while (r->bytes - big_held > r->budget) {
        int victim = -1, big = 0;
        for (int i = 0; i < r->cap; i++) {
            reg_model *m = r->m[i];
            if (!m || atomic_load(&m->refs) > 0) continue;
            int m_big = m->bytes > r->budget;
            if (victim < 0 || m_big > big ||
                (m_big == big && m->last_use < r->m[victim]->last_use)) {
                victim = i;
                big = m_big;
            }
        }
        if (victim < 0) return;
        r->bytes -= r->m[victim]->bytes;
        model_free(r->m[victim]);
        r->m[victim] = NULL;
    }
}

/* The version that (name, alias) or "latest" names now, read from the store without the lock. */
static mlp_err resolve(registry *r, const char *name, const char *alias, int *v, mlp_error *err)
{
    mlp_err rc;
    if (alias) {
        rc = store_model_alias_resolve(r->st, name, alias, v);
    } else {
        store_model_version info;
        memset(&info, 0, sizeof info);
        rc = store_model_version_get(r->st, name, 0, &info, NULL, NULL);
        *v = info.version;
        free(info.meta_json);
    }
    if (rc == MLP_ENOTFOUND)
        return mlp_fail(err, rc, alias ? "model '%s' has no alias '%s'" : "no model named '%s'",
                        name, alias ? alias : "");
    if (rc) return mlp_fail(err, rc, "model lookup failed");
    return MLP_OK;
}

/* Reads and decodes version v of name without the lock. *out new (refs 1, not cached). */
static mlp_err load(registry *r, const char *name, int v, reg_model **out, mlp_error *err)
{
    store_model_version info;
    memset(&info, 0, sizeof info);
    void *blob = NULL;
    size_t len = 0;
    mlp_err rc = store_model_version_get(r->st, name, v, &info, &blob, &len);
    if (rc) {
        free(info.meta_json);
        if (rc == MLP_ENOTFOUND) return mlp_fail(err, rc, "model '%s' has no version %d", name, v);
        return mlp_fail(err, rc, "model load failed");
    }
    reg_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(blob);
        free(info.meta_json);
        return MLP_ENOMEM;
    }
    rc = bundle_decode(blob, len, &m->b, err);
    free(blob);
    if (rc) {
        free(info.meta_json);
        free(m);
        return rc;
    }
    /* the one-row fast path (core/net.h); without memory for it the dense path serves */
    if (m->b->n_members)
        for (int i = 0; i < m->b->n_members; i++) (void)net_prepare_serving(m->b->members[i]);
    else
        (void)net_prepare_serving(m->b->net);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->task, sizeof m->task, "%s", info.task);
    free(info.meta_json);
    m->version = v;
    m->bytes = model_bytes(m);
    atomic_store(&m->refs, 1);
    *out = m;
    return MLP_OK;
}

/* A cached model: one more reference. Caller holds mu. */
static reg_model *hold(registry *r, reg_model *m)
{
    assert(mu_held(r));
    atomic_fetch_add(&m->refs, 1);
    m->last_use = ++r->tick;
    return m;
}

mlp_err reg_get(registry *r, const char *name, int version, const char *alias, reg_model **out,
                mlp_error *err)
{
    const char *key = alias ? alias : "";
    for (int attempt = 0; attempt < REG_ATTEMPTS; attempt++) {
        mu_lock(r);
        unsigned long g = *gen_of(r, name);
        int v = version ? version : ptr_lookup(r, name, key);
        reg_model *m = v ? find(r, name, v) : NULL;
        if (m) {
            *out = hold(r, m);
            mu_unlock(r);
            return MLP_OK;
        }
        mu_unlock(r);

        mlp_err rc;
        if (!v) {
            if ((rc = resolve(r, name, alias, &v, err)) != MLP_OK) return rc;
            mu_lock(r);
            if (*gen_of(r, name) != g) { /* published, deleted or moved meanwhile: look again */
                mu_unlock(r);
                continue;
            }
            ptr_store(r, name, key, v);
            m = find(r, name, v);
            if (m) {
                *out = hold(r, m);
                mu_unlock(r);
                return MLP_OK;
            }
            mu_unlock(r);
        }

        /* Load outside the lock: decoding a big model must not stall other requests. */
        if ((rc = load(r, name, v, &m, err)) != MLP_OK) return rc;

        mu_lock(r);
        if (*gen_of(r, name) != g) { /* the version may be deleted: never cache or serve it */
            mu_unlock(r);
            model_free(m);
            continue;
        }
        reg_model *race = find(r, name, v);
        if (race) { /* another thread loaded it meanwhile: use theirs */
            *out = hold(r, race);
            mu_unlock(r);
            model_free(m);
            return MLP_OK;
        }
        m->last_use = ++r->tick;
        if (insert(r, m) != 0) { /* cache full of busy models: served uncached, freed at release */
            m->evicted = 1;
            m->next_loose = r->loose;
            r->loose = m;
        }
        trim(r);
        mu_unlock(r);
        *out = m;
        return MLP_OK;
    }
    return mlp_fail(err, MLP_EBUSY, "model '%s' changed %d times during this request; try again",
                    name, REG_ATTEMPTS);
}

void reg_release(registry *r, reg_model *m)
{
    if (!m) return;
    mu_lock(r);
    int last = atomic_fetch_sub(&m->refs, 1) == 1;
    int do_free = last && m->evicted;
    if (do_free) /* an uncached one leaves the loose list (a no-op for one reg_evict dropped) */
        for (reg_model **p = &r->loose; *p; p = &(*p)->next_loose)
            if (*p == m) {
                *p = m->next_loose;
                break;
            }
    if (last) pthread_cond_broadcast(&r->released);
    if (last && !m->evicted) trim(r); /* a model bigger than the budget goes at its release */
    mu_unlock(r);
    if (do_free) model_free(m);
}

void reg_evict(registry *r, const char *name, int version)
{
    mu_lock(r);
    invalidate_locked(r, name); /* a load of this version under way is not cached or served */
    for (int i = 0; i < r->cap; i++) {
        reg_model *m = r->m[i];
        if (!m || m->version != version || strcmp(m->name, name) != 0) continue;
        r->m[i] = NULL;
        r->bytes -= m->bytes;
        while (atomic_load(&m->refs) > 0) mu_wait(r);
        model_free(m);
    }
    /* copies served uncached because the cache was full: their last release frees them */
    for (reg_model *m = r->loose; m;) {
        if (m->version == version && strcmp(m->name, name) == 0) {
            mu_wait(r);
            m = r->loose; /* the list may have changed: look again from the start */
        } else {
            m = m->next_loose;
        }
    }
    mu_unlock(r);
}

int reg_loaded(registry *r)
{
    int n = 0;
    mu_lock(r);
    for (int i = 0; i < r->cap; i++) n += r->m[i] != NULL;
    mu_unlock(r);
    return n;
}

size_t reg_bytes(registry *r)
{
    mu_lock(r);
    size_t n = r->bytes;
    mu_unlock(r);
    return n;
}

size_t reg_model_bytes(const reg_model *m)
{
    return m->bytes;
}

int reg_cached(registry *r, const char *name, int version)
{
    mu_lock(r);
    int hit = find(r, name, version) != NULL;
    mu_unlock(r);
    return hit;
}

const char *reg_model_name(const reg_model *m)
{
    return m->name;
}

int reg_model_version(const reg_model *m)
{
    return m->version;
}

const char *reg_model_task(const reg_model *m)
{
    return m->task;
}

const net *reg_model_net(const reg_model *m)
{
    return m->b->net;
}

const net_spec *reg_model_spec(const reg_model *m)
{
    return net_get_spec(m->b->net);
}

size_t reg_model_scratch_floats(const reg_model *m, int rows)
{
    const model_bundle *b = m->b;
    return b->n_members ? ens_scratch_floats(b->members, b->n_members, rows)
                        : net_scratch_floats(b->net, rows);
}

mlp_err reg_model_predict(const reg_model *m, const float *X, int rows, float *Y, float *scratch)
{
    const model_bundle *b = m->b;
    if (b->n_members) return ens_predict(b->members, b->n_members, X, rows, Y, scratch);
    return net_predict(b->net, X, rows, Y, scratch);
}

char *const *reg_model_features(const reg_model *m, int *n)
{
    *n = m->b->n_features;
    return m->b->features;
}

char *const *reg_model_labels(const reg_model *m, int *n)
{
    *n = m->b->n_labels;
    return m->b->labels;
}
