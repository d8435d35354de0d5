/* quota.h — the five per-user quotas of class mode and what a user uses of each.
 *
 *   storage_bytes          dataset matrices + model version bundles the user owns (507 beyond)
 *   active_runs            the user's queued + running runs (429 at POST /runs)
 *   train_seconds_per_day  CPU-seconds of training charged over a rolling 24 h (a run pauses)
 *   models                 model names the user owns (429 at POST /runs and import)
 *   predict_per_second     inference requests per second (429 with Retry-After)
 *
 * A limit of 0 means unlimited. A user's limit is its users.quota_* column when set (NULL means
 * "the default"); the default is the server's --quota-* flag for a student, and unlimited for
 * staff and admin, who run the class (an override still binds them: the tests set one on the
 * bootstrap admin). Limits are read from the store and kept for QUOTA_CACHE_S seconds, so a
 * PATCHed quota binds within that time and the inference path does not query the store.
 *
 * Where each is enforced: storage in api/ingest.c while the upload arrives and again inside the
 * dataset's insert transaction (store_dataset_create_owned); active runs and models inside the
 * run's insert transaction (store_run_create_quota); train seconds at each epoch boundary and
 * when a queued run would start (server/jobs.c); predict per second in server/http.c's access
 * check, one token bucket per user (server/ratelimit.h).
 *
 * Owns: the limits cache and the predict buckets. Borrows: the store.
 * Threading: every function may be called from any thread. */
#ifndef QUOTA_H
#define QUOTA_H

#include "mlp.h"
#include "store.h"

#include <stddef.h>

typedef enum {
    QUOTA_STORAGE_BYTES = 0,
    QUOTA_ACTIVE_RUNS,
    QUOTA_TRAIN_SECONDS_PER_DAY,
    QUOTA_MODELS,
    QUOTA_PREDICT_PER_SECOND,
    QUOTA_N
} quota_kind;

#define QUOTA_TRAIN_WINDOW_S 86400 /* train_seconds_per_day: a rolling 24 h */
#define QUOTA_CACHE_S        1.0   /* how long a user's limits are reused */

typedef struct {
    long long v[QUOTA_N]; /* 0 = unlimited */
} quota_limits;

typedef struct {
    long long used[QUOTA_N]; /* predict_per_second: requests of about the last second */
    long long limit[QUOTA_N];
} quota_usage;

typedef struct quota quota;

/* "storage_bytes", "active_runs", "train_seconds_per_day", "models", "predict_per_second". */
const char *quota_name(quota_kind k);
/* A service with the server's per-student defaults. *out new. */
mlp_err quota_new(store *s, const quota_limits *defaults, quota **out);
/* NULL-tolerant. */
void quota_free(quota *q);
/* user_id's limits (an unknown user gets the student defaults). */
mlp_err quota_limits_of(quota *q, long long user_id, quota_limits *out);
/* What user_id uses of each quota now, and its limits: GET /api/v1/me's usage. */
mlp_err quota_usage_of(quota *q, long long user_id, quota_usage *out);
/* Whether user_id's training budget is spent at unix time now: *spent 1 with reason (naming
 * the quota, its limit, the use, and when it frees, RFC 3339) and *frees_at (unix seconds) set;
 * *spent 0 when it is not (or unlimited). reason may be NULL. */
mlp_err quota_train_spent(quota *q, long long user_id, long long now, int *spent, char *reason,
                          size_t cap, long long *frees_at);
/* Whether user_id may import a version of model `name` holding about `bytes` of weights:
 * MLP_EBUSY when `name` is a new model past the models quota, MLP_ENOSPC when the bytes would
 * pass the storage quota, each with err->msg naming the quota, its limit and the use. A check
 * before the write (the import's transaction does not repeat it). */
mlp_err quota_check_import(quota *q, long long user_id, const char *name, long long bytes,
                           mlp_error *err);
/* One inference request of user_id at monotonic time now_s: 0 when it may go on (or the user
 * has no predict quota), else the whole seconds to wait; *limit gets the limit. */
int quota_predict_take(quota *q, long long user_id, double now_s, long long *limit);

#endif
