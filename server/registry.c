/* registry.c — bounded LRU cache of loaded model versions with reference counts (registry.h). */
#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[72];
    char alias[72]; /* "" = the latest-version entry */
    int version;
} reg_pointer;

#define REG_POINTERS 256

struct registry {
    store *st;
    int cap;
    pthread_mutex_t mu;
    pthread_cond_t released;
    reg_model **m; /* cap slots, NULL = free */
    reg_pointer ptr[REG_POINTERS];
    int n_ptr;
    unsigned long tick;
};

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
    pthread_mutex_init(&r->mu, NULL);
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

void reg_free(registry *r)
{
    if (!r) return;
    for (int i = 0; i < r->cap; i++) model_free(r->m[i]);
    free(r->m);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->released);
    free(r);
}

/* Cached version for (name, alias); 0 if unknown. Caller holds mu. */
static int ptr_lookup(registry *r, const char *name, const char *alias)
{
    for (int i = 0; i < r->n_ptr; i++)
        if (strcmp(r->ptr[i].name, name) == 0 && strcmp(r->ptr[i].alias, alias) == 0)
            return r->ptr[i].version;
    return 0;
}

static void ptr_store(registry *r, const char *name, const char *alias, int version)
{
    if (r->n_ptr == REG_POINTERS) r->n_ptr = 0; /* crude but bounded: start over */
    reg_pointer *p = &r->ptr[r->n_ptr++];
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->alias, sizeof p->alias, "%s", alias);
    p->version = version;
}

void reg_invalidate(registry *r, const char *name)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_ptr;) {
        if (strcmp(r->ptr[i].name, name) == 0)
            r->ptr[i] = r->ptr[--r->n_ptr];
        else
            i++;
    }
    pthread_mutex_unlock(&r->mu);
}

static reg_model *find(registry *r, const char *name, int version)
{
    for (int i = 0; i < r->cap; i++)
        if (r->m[i] && r->m[i]->version == version && strcmp(r->m[i]->name, name) == 0)
            return r->m[i];
    return NULL;
}

/* Puts m in a free slot, or in place of the least recently used unreferenced model. Caller holds
 * mu. Returns 0, or -1 when every slot is busy (m is then served uncached). */
static int insert(registry *r, reg_model *m)
{
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
    model_free(r->m[victim]);
    r->m[victim] = m;
    return 0;
}

mlp_err reg_get(registry *r, const char *name, int version, const char *alias, reg_model **out,
                mlp_error *err)
{
    mlp_err rc;
    pthread_mutex_lock(&r->mu);
    int v = version ? version : ptr_lookup(r, name, alias ? alias : "");
    pthread_mutex_unlock(&r->mu);
    if (!v) {
        if (alias)
            rc = store_model_alias_resolve(r->st, name, alias, &v);
        else {
            store_model_version info;
            memset(&info, 0, sizeof info);
            rc = store_model_version_get(r->st, name, 0, &info, NULL, NULL);
            v = info.version;
            free(info.meta_json);
        }
        if (rc == MLP_ENOTFOUND)
            return mlp_fail(err, rc, alias ? "model '%s' has no alias '%s'" : "no model named '%s'",
                            name, alias ? alias : "");
        if (rc) return mlp_fail(err, rc, "model lookup failed");
        pthread_mutex_lock(&r->mu);
        ptr_store(r, name, alias ? alias : "", v);
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    reg_model *m = find(r, name, v);
    if (m) {
        atomic_fetch_add(&m->refs, 1);
        m->last_use = ++r->tick;
        pthread_mutex_unlock(&r->mu);
        *out = m;
        return MLP_OK;
    }
    pthread_mutex_unlock(&r->mu);

    /* Load outside the lock: decoding a big model must not stall other requests. */
    store_model_version info;
    memset(&info, 0, sizeof info);
    void *blob = NULL;
    size_t len = 0;
    rc = store_model_version_get(r->st, name, v, &info, &blob, &len);
    if (rc) {
        free(info.meta_json);
        if (rc == MLP_ENOTFOUND) return mlp_fail(err, rc, "model '%s' has no version %d", name, v);
        return mlp_fail(err, rc, "model load failed");
    }
    m = calloc(1, sizeof *m);
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
    (void)net_prepare_serving(m->b->net);
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->task, sizeof m->task, "%s", info.task);
    free(info.meta_json);
    m->version = v;
    atomic_store(&m->refs, 1);

    pthread_mutex_lock(&r->mu);
    reg_model *race = find(r, name, v);
    if (race) { /* another thread loaded it meanwhile: use theirs */
        atomic_fetch_add(&race->refs, 1);
        race->last_use = ++r->tick;
        pthread_mutex_unlock(&r->mu);
        model_free(m);
        *out = race;
        return MLP_OK;
    }
    m->last_use = ++r->tick;
    if (insert(r, m) != 0) m->evicted = 1; /* cache full of busy models: freed at release */
    pthread_mutex_unlock(&r->mu);
    *out = m;
    return MLP_OK;
}

void reg_release(registry *r, reg_model *m)
{
    if (!m) return;
    pthread_mutex_lock(&r->mu);
    int last = atomic_fetch_sub(&m->refs, 1) == 1;
    int do_free = last && m->evicted;
    if (last) pthread_cond_broadcast(&r->released);
    pthread_mutex_unlock(&r->mu);
    if (do_free) model_free(m);
}

void reg_evict(registry *r, const char *name, int version)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->cap; i++) {
        reg_model *m = r->m[i];
        if (!m || m->version != version || strcmp(m->name, name) != 0) continue;
        r->m[i] = NULL;
        while (atomic_load(&m->refs) > 0) pthread_cond_wait(&r->released, &r->mu);
        model_free(m);
    }
    pthread_mutex_unlock(&r->mu);
    reg_invalidate(r, name);
}

int reg_loaded(registry *r)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->cap; i++) n += r->m[i] != NULL;
    pthread_mutex_unlock(&r->mu);
    return n;
}
