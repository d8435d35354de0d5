/* quota.c — per-user limits (defaults, overrides, roles), usage, and the predict buckets (see
 * quota.h). */
#include "quota.h"
#include "clock.h"
#include "ratelimit.h"
#include "user.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 256

/* One user's limits as last read; a mutex per slot, so that the inference path (one lookup
 * per request) never waits for another user's. */
typedef struct {
    pthread_mutex_t mu;
    long long user_id; /* 0 = empty */
    double at;         /* monotonic seconds when read */
    quota_limits lim;
} cache_slot;

struct quota {
    store *st;
    quota_limits defaults;
    rl *predict;                   /* buckets keyed by user id; rate and burst per call */
    cache_slot cache[CACHE_SLOTS]; /* direct-mapped by user id */
};

/* users.quota_* as store_user reads them: the same quotas in the same order. */
_Static_assert(QUOTA_N == (int)STORE_QUOTA_N &&
                   QUOTA_STORAGE_BYTES == (int)STORE_QUOTA_STORAGE_BYTES &&
                   QUOTA_ACTIVE_RUNS == (int)STORE_QUOTA_ACTIVE_RUNS &&
                   QUOTA_TRAIN_SECONDS_PER_DAY == (int)STORE_QUOTA_TRAIN_SECONDS_PER_DAY &&
                   QUOTA_MODELS == (int)STORE_QUOTA_MODELS &&
                   QUOTA_PREDICT_PER_SECOND == (int)STORE_QUOTA_PREDICT_PER_SECOND,
               "quota_kind follows store_quota");

static const char *const names[QUOTA_N] = {"storage_bytes", "active_runs", "train_seconds_per_day",
                                           "models", "predict_per_second"};

const char *quota_name(quota_kind k)
{
    assert(k >= 0 && k < QUOTA_N);
    return names[k];
}

mlp_err quota_new(store *s, const quota_limits *defaults, quota **out)
{
    quota *q = calloc(1, sizeof *q);
    if (!q) return MLP_ENOMEM;
    q->st = s;
    q->defaults = *defaults;
    if (rl_new(1, 1, &q->predict) != MLP_OK) {
        free(q);
        return MLP_ENOMEM;
    }
    for (int i = 0; i < CACHE_SLOTS; i++) pthread_mutex_init(&q->cache[i].mu, NULL);
    *out = q;
    return MLP_OK;
}

void quota_free(quota *q)
{
    if (!q) return;
    rl_free(q->predict);
    for (int i = 0; i < CACHE_SLOTS; i++) pthread_mutex_destroy(&q->cache[i].mu);
    free(q);
}

mlp_err quota_limits_of(quota *q, long long user_id, quota_limits *out)
{
    double now = clock_now_s();
    cache_slot *sl = &q->cache[(unsigned long long)user_id % CACHE_SLOTS];
    pthread_mutex_lock(&sl->mu);
    int hit = sl->user_id == user_id && now - sl->at < QUOTA_CACHE_S;
    if (hit) *out = sl->lim;
    pthread_mutex_unlock(&sl->mu);
    if (hit) return MLP_OK;
    store_user u;
    mlp_err rc = store_user_get_id(q->st, user_id, &u);
    if (rc == MLP_ENOTFOUND) { /* not (yet) a user row: the student defaults */
        memset(&u, 0, sizeof u);
        u.role = ROLE_STUDENT;
        for (int k = 0; k < QUOTA_N; k++) u.quota[k] = -1;
        rc = MLP_OK;
    }
    if (rc) return rc;
    int privileged = u.role >= ROLE_STAFF;
    for (int k = 0; k < QUOTA_N; k++)
        out->v[k] = u.quota[k] >= 0 ? u.quota[k] : privileged ? 0 : q->defaults.v[k];
    pthread_mutex_lock(&sl->mu);
    sl->user_id = user_id;
    sl->at = now;
    sl->lim = *out;
    pthread_mutex_unlock(&sl->mu);
    return MLP_OK;
}

mlp_err quota_usage_of(quota *q, long long user_id, quota_usage *out)
{
    memset(out, 0, sizeof *out);
    quota_limits lim;
    mlp_err rc = quota_limits_of(q, user_id, &lim);
    double secs = 0;
    if (!rc) rc = store_usage_storage(q->st, user_id, &out->used[QUOTA_STORAGE_BYTES]);
    if (!rc) rc = store_usage_active_runs(q->st, user_id, &out->used[QUOTA_ACTIVE_RUNS]);
    if (!rc)
        rc = store_usage_seconds(q->st, user_id, (long long)time(NULL) - QUOTA_TRAIN_WINDOW_S,
                                 &secs);
    if (!rc) rc = store_usage_models(q->st, user_id, &out->used[QUOTA_MODELS]);
    if (rc) return rc;
    out->used[QUOTA_TRAIN_SECONDS_PER_DAY] = (long long)ceil(secs);
    /* a rate: the requests its bucket holds back now, about those of the last second */
    double rate = (double)lim.v[QUOTA_PREDICT_PER_SECOND];
    if (rate > 0)
        out->used[QUOTA_PREDICT_PER_SECOND] = (long long)ceil(
            rate - rl_tokens(q->predict, &user_id, sizeof user_id, clock_now_s(), rate, rate));
    for (int k = 0; k < QUOTA_N; k++) out->limit[k] = lim.v[k];
    return MLP_OK;
}

mlp_err quota_train_spent(quota *q, long long user_id, long long now, int *spent, char *reason,
                          size_t cap, long long *frees_at)
{
    *spent = 0;
    quota_limits lim;
    mlp_err rc = quota_limits_of(q, user_id, &lim);
    long long limit = lim.v[QUOTA_TRAIN_SECONDS_PER_DAY];
    if (rc || limit <= 0) return rc;
    long long since = now - QUOTA_TRAIN_WINDOW_S;
    double used = 0;
    rc = store_usage_seconds(q->st, user_id, since, &used);
    if (rc || used < (double)limit) return rc;
    /* It frees once enough charges leave the window to give back at least one second. */
    long long at = since;
    rc = store_usage_frees_at(q->st, user_id, since, (double)(limit > 1 ? limit - 1 : 0), &at);
    if (rc) return rc;
    *spent = 1;
    *frees_at = at + QUOTA_TRAIN_WINDOW_S;
    if (*frees_at <= now) *frees_at = now + 1;
    if (reason) {
        char when[CLOCK_RFC3339_LEN];
        struct timespec ts = {(time_t)*frees_at, 0};
        clock_rfc3339_at(&ts, 0, when);
        snprintf(reason, cap,
                 "quota train_seconds_per_day exceeded: limit %lld, used %.1f CPU-seconds in the "
                 "last 24 h; training resumes when it frees, at %s, or when the quota is raised",
                 limit, used, when);
    }
    return MLP_OK;
}

mlp_err quota_check_import(quota *q, long long user_id, const char *name, long long bytes,
                           mlp_error *err)
{
    quota_limits lim;
    mlp_err rc = quota_limits_of(q, user_id, &lim);
    if (rc) return rc;
    long long models = lim.v[QUOTA_MODELS], storage = lim.v[QUOTA_STORAGE_BYTES], used = 0;
    if (models > 0) {
        rc = store_model_get(q->st, name, NULL, NULL, NULL);
        if (rc == MLP_ENOTFOUND) {
            rc = store_usage_models(q->st, user_id, &used);
            if (!rc && used + 1 > models)
                return mlp_fail(err, MLP_EBUSY,
                                "quota models exceeded: limit %lld, used %lld (model names "
                                "owned); %s would be a new one",
                                models, used, name);
        }
        if (rc) return rc;
    }
    if (storage > 0) {
        rc = store_usage_storage(q->st, user_id, &used);
        if (!rc && used + bytes > storage)
            return mlp_fail(err, MLP_ENOSPC,
                            "quota storage_bytes exceeded: limit %lld, used %lld, this model about "
                            "%lld bytes; delete datasets or model versions to make room",
                            storage, used, bytes);
    }
    return rc;
}

int quota_predict_take(quota *q, long long user_id, double now_s, long long *limit)
{
    quota_limits lim;
    *limit = 0;
    if (quota_limits_of(q, user_id, &lim) != MLP_OK) return 0; /* the store is down: serve */
    *limit = lim.v[QUOTA_PREDICT_PER_SECOND];
    if (*limit <= 0) return 0;
    double rate = (double)*limit;
    return rl_take_rate(q->predict, &user_id, sizeof user_id, now_s, rate, rate);
}
