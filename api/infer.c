/* infer.c — per-thread inference buffers and the model lookup shared by /v1 and /v2 (see
 * infer.h). */
#include "infer.h"

#include "infer_tfs.h"
#include "problem.h"

#include <pthread.h>
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
    if (rc == MLP_ENOTFOUND && req->m.rt && req->m.rt->family == FAM_TFS) {
        tfs_not_found(req, resp, name);
        return NULL;
    }
    if (rc) {
        api_fail(req, resp, rc, &err);
        return NULL;
    }
    return m;
}
