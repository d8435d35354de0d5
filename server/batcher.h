/* batcher.h — opportunistic batching of small inference requests on large models: rows that
 * arrive while a forward pass computes are gathered into the next one, so one sgemm reads the
 * weights once for many requests instead of one sgemv per request.
 *
 * Flow: an HTTP handler that has read a request's rows calls batcher_submit (which copies them)
 * and returns at once; a free compute thread of the batcher's takes the oldest queued request, adds
 * every other queued request for the same model version (in arrival order, up to
 * BATCHER_MAX_ROWS rows), waits up to timeout_us for more when the batch is not full (0, the
 * default: takes what is queued and starts), runs reg_model_predict on the stacked rows inside
 * followed by sched_infer_done, counts it (metrics_batch: mlpd_inference_batches_total and
 * mlpd_inference_batched_rows_total), and calls each request's done callback with its own rows
 * of the output. Nothing is dropped: batcher_free computes what is still queued before it returns.
 *
 * Numerics: a batch is one net_predict of more rows, so a row's answer is what net_predict gives
 * for it inside a batch; OpenBLAS's sgemm and the one-row path (sgemv, and the sparse first layer
 * of core/net.c) add in different orders, so a batched row agrees with the same row computed
 * alone within float rounding (relative 1e-5 in tests/e2e/test_batcher.c), not bit for bit.
 *
 * Several compute threads (batcher_opts.threads; main gives it --threads) work side by side,
 * each on its own batch: while one computes, the next takes what has queued meanwhile.
 *
 * Owns: the queue, copies of the queued rows, the batch buffers and the compute threads.
 * Borrows: the sched (valid until batcher_free) and each submitted model (the caller holds its
 * reference until its done callback returns).
 * Threading: batcher_submit and batcher_wants may be called from any thread; done callbacks run
 * on a compute thread, never under the batcher's lock (two batches' callbacks may run at once). */
#ifndef BATCHER_H
#define BATCHER_H

#include "mlp.h"
#include "registry.h"

#include <stddef.h>

struct sched;
typedef struct batcher batcher;

#define BATCHER_MAX_ROWS     64 /* rows of one batched forward pass at most */
#define BATCHER_MAX_REQ_ROWS 8  /* a request with more rows is already a matrix product */

#define BATCHER_MAX_THREADS 8

typedef struct {
    int threads;       /* compute threads (1..BATCHER_MAX_THREADS) */
    long timeout_us;   /* longest wait for more rows once one is queued; 0 = none */
    size_t min_params; /* models with fewer parameters are not batched; 0 = every model */
} batcher_opts;

/* Starts the compute threads (at least one; MLP_ENOMEM when none could start). *out new
 * (batcher_free). s borrowed. */
mlp_err batcher_new(const batcher_opts *o, struct sched *s, batcher **out);
/* Computes every queued request (their callbacks run), then stops the threads. NULL-tolerant. */
void batcher_free(batcher *b);

/* 1 when a request of rows rows on m goes through the batcher: b is not NULL, m is a single
 * network of at least min_params parameters, and 1 <= rows <= BATCHER_MAX_REQ_ROWS. */
int batcher_wants(const batcher *b, const reg_model *m, int rows);

/* Called once per submitted request on a compute thread: Y (rows × n_out, borrowed until it
 * returns) holds its rows of the output when rc is MLP_OK. */
typedef void (*batcher_done_fn)(void *ctx, mlp_err rc, const float *Y, int rows);

/* Queues X (rows × n_in of m, copied) for the next batch; done(ctx, ...) runs once it is
 * computed. MLP_OK, or MLP_ENOMEM / MLP_EBUSY (stopping) with done never called. */
mlp_err batcher_submit(batcher *b, const reg_model *m, const float *X, int rows,
                       batcher_done_fn done, void *ctx);

#endif
