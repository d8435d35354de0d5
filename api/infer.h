/* infer.h — what the inference front-ends (/v1 in infer_tfs.c, /v2 in infer_v2.c) share:
 * per-thread buffers for request rows, outputs and activation scratch (no allocation per request
 * once warm), and the lookup of the model a request path names. The rule that puts inference
 * before training is server/cpusched.h's: every forward pass is followed by
 * sched_infer_done(req->app->sched), which counts it for sched_serving_busy.
 *
 * Owns: each request thread's buffers (freed by a key destructor when the thread exits).
 * Threading: infer_bufs returns the calling thread's own buffers. */
#ifndef INFER_H
#define INFER_H

#include "app.h"
#include "cpusched.h"
#include "fastjson.h"
#include "http.h"
#include "registry.h"

#include <stddef.h>

typedef struct {
    fj_floats x; /* request rows, n x d */
    fj_floats y; /* outputs, n x k */
    fj_floats s; /* net_predict / net_encode scratch */
} infer_bufs;

/* A buffer larger than this is freed when its request ends (infer_bufs_done), so one large
 * request does not keep its memory for the life of the thread; smaller ones are kept for reuse. */
#define INFER_BUFS_KEEP_BYTES ((size_t)64 << 20)

/* This thread's buffers, or NULL when out of memory. */
infer_bufs *infer_bufs_get(void);
/* b grown to at least n floats (borrowed until the next call on this thread), or NULL. */
float *infer_room(fj_floats *b, size_t n);
/* Ends a request's use of this thread's buffers: each one larger than INFER_BUFS_KEEP_BYTES is
 * freed (its pointers are then invalid). Every handler that used infer_bufs_get calls this once
 * its answer no longer points into them. A no-op when the thread has no buffers. */
void infer_bufs_done(void);

/* The {name} of a /v1 or /v2 request path (borrowed), or NULL after answering 400 when it breaks
 * the naming rule (api_name_ok): the one check every inference route makes. */
const char *infer_model_name(http_req *req, http_resp *resp);
/* The model version the request path names: {name} (checked by infer_model_name) with
 * {version}, {alias} or neither (the latest). A counted reference (reg_release it), or NULL
 * after answering 400 (a bad name or version) or 404. */
reg_model *infer_model(http_req *req, http_resp *resp);

#endif
