/* infer.c — per-thread inference buffers and the BLAS thread cap shared by /v1 and /v2 (see
 * infer.h). */
#include "infer.h"

#include "problem.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static pthread_key_t bufs_key;
static pthread_once_t bufs_once = PTHREAD_ONCE_INIT;

static void bufs_free(void *v)
{
    infer_bufs *t = v;
    free(t->x.p);
    free(t->y.p);
    free(t->s.p);
    free(t);
}

static void bufs_init(void)
{
    pthread_key_create(&bufs_key, bufs_free);
}

infer_bufs *infer_bufs_get(void)
{
    pthread_once(&bufs_once, bufs_init);
    infer_bufs *t = pthread_getspecific(bufs_key);
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) return NULL;
        if (pthread_setspecific(bufs_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    return t;
}

float *infer_room(fj_floats *b, size_t n)
{
    return fj_reserve(b, n ? n : 1) ? NULL : b->p;
}

static void bufs_trim(fj_floats *b)
{
    if (b->cap <= INFER_BUFS_KEEP_BYTES / sizeof *b->p) return;
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}

void infer_bufs_done(void)
{
    pthread_once(&bufs_once, bufs_init);
    infer_bufs *t = pthread_getspecific(bufs_key);
    if (!t) return;
    bufs_trim(&t->x);
    bufs_trim(&t->y);
    bufs_trim(&t->s);
}

const char *infer_model_name(http_req *req, http_resp *resp)
{
    const char *name = route_param(&req->m, "name");
    if (!api_name_ok(name)) {
        api_failf(req, resp, 400, NULL,
                  "model name '%s' is not valid ([A-Za-z0-9][A-Za-z0-9._-]{0,63})", name);
        return NULL;
    }
    return name;
}

reg_model *infer_model(http_req *req, http_resp *resp)
{
    const char *name = infer_model_name(req, resp);
    if (!name) return NULL;
    int v;
    if (api_version_param(req, resp, &v)) return NULL;
    reg_model *m = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = reg_get(req->app->reg, name, v, route_param(&req->m, "alias"), &m, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        return NULL;
    }
    return m;
}

/* Every enter and leave takes the mutex, so a request computes only after the cap is in
 * effect. (Session 1 counted with an atomic and locked only on 0 <-> 1: a second request could
 * start computing before the first one's openblas_set_num_threads(1) ran, run a two-thread
 * sgemv, and queue for OpenBLAS's pool thread — busy with a training sgemm and, at training
 * priority, not scheduled while requests keep the cores busy: p99 of 200-800 ms under training,
 * bench/RESULTS.md.) The critical section is a counter and, on 0 <-> 1, a 3 ns OpenBLAS call.
 * Under it too: the serving rate that pauses training (infer_serving_busy). A training run behind
 * its --train-share holds the cap as a request does (infer_blas_hold). */
static int blas_inflight; /* requests computing + runs holding the cap */
static int blas_default;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t blas_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t win_start_us; /* the current INFER_BUSY_WINDOW_US window of finished requests */
static int win_count;
static _Atomic uint64_t busy_until_us; /* serving counts as busy until then */

static void blas_capture(void)
{
    blas_default = openblas_get_num_threads();
}

/* Under blas_mu: one more (+1) or one fewer (-1) holder of the one-thread cap. */
static void cap_locked(int delta)
{
    int was = blas_inflight;
    blas_inflight += delta;
    if (blas_default > 1 && (was == 0) != (blas_inflight == 0))
        openblas_set_num_threads(blas_inflight ? 1 : blas_default);
}

void infer_blas_enter(void)
{
    pthread_once(&blas_once, blas_capture);
    pthread_mutex_lock(&blas_mu);
    cap_locked(+1);
    pthread_mutex_unlock(&blas_mu);
}

void infer_blas_hold(int on)
{
    pthread_once(&blas_once, blas_capture);
    pthread_mutex_lock(&blas_mu);
    cap_locked(on ? +1 : -1);
    pthread_mutex_unlock(&blas_mu);
}

void infer_blas_leave(void)
{
    pthread_mutex_lock(&blas_mu);
    cap_locked(-1);
    uint64_t now = http_now_us();
    if (now - win_start_us >= INFER_BUSY_WINDOW_US) {
        win_start_us = now;
        win_count = 0;
    }
    if (++win_count >= INFER_BUSY_REQUESTS)
        atomic_store_explicit(&busy_until_us, now + INFER_BUSY_WINDOW_US, memory_order_relaxed);
    pthread_mutex_unlock(&blas_mu);
}

int infer_serving_busy(void)
{
    return http_now_us() < atomic_load_explicit(&busy_until_us, memory_order_relaxed);
}
