/* infer.h — what the inference front-ends (/v1 in infer_tfs.c, /v2 in infer_v2.c) share:
 * per-thread buffers for request rows, outputs and activation scratch (no allocation per request
 * once warm), and the rule that puts inference before training on the BLAS threads.
 *
 * Owns: each request thread's buffers (freed by a key destructor when the thread exits).
 * Threading: infer_bufs returns the calling thread's own buffers; infer_blas_enter/leave may be
 * called from any number of request threads at once. */
#ifndef INFER_H
#define INFER_H

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

/* Brackets every forward pass of a request. OpenBLAS's thread count is process-wide, and a
 * multi-threaded sgemv/sgemm from a request thread waits for pool threads that training keeps
 * busy; so while any inference request computes, OpenBLAS runs on one thread (a 784x256 sgemv
 * is faster single-threaded anyway), and the start-up count returns when the last one leaves.
 * See server/jobs.c DESIGN. */
void infer_blas_enter(void);
void infer_blas_leave(void);
/* jobs_hooks.blas_single: a training run behind its --train-share holds the same cap (on = 1)
 * while it computes at request priority, so that its products need no pool thread; on = 0
 * releases it. Not counted as a request by infer_serving_busy. */
void infer_blas_hold(int on);

/* Training pauses for heavy serving: 1 while inference requests finish at a rate of at least
 * INFER_BUSY_REQUESTS per INFER_BUSY_WINDOW_US (2,000 requests/s: about a tenth of a core of
 * one-instance requests), and for one window after. A lighter load does not pause training: it
 * only preempts it (SCHED_IDLE). The pause is bounded: a run that has had less than
 * --train-share of a core is neither paused nor kept at SCHED_IDLE until it catches up. main
 * passes this to jobs as jobs_hooks.serving_busy; see server/jobs.c DESIGN. Lock-free. */
#define INFER_BUSY_WINDOW_US 2000
#define INFER_BUSY_REQUESTS  4
int infer_serving_busy(void);

#endif
