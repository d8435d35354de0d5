/* jobs.h — the training queue: run ids in fair-share order between their owners (FIFO within
 * one, server/fairq.h) served by --workers threads, which charge each epoch to the owner's usage
 * and pause a run whose owner's training quota is spent (server/quota.h); see the DESIGN comment
 * in jobs.c for states, ownership, cancellation, quotas, shutdown and restart). A run's data is
 * prepared by server/trainset.h; its threads' CPU priorities and the training share are
 * server/cpusched.h's.
 *
 * Owns: its worker threads and the in-memory queue. Borrows: the store, the registry, the event
 * hub, the sched and the quota service.
 * Threading: every function may be called from any thread. */
#ifndef JOBS_H
#define JOBS_H

#include "mlp.h"
#include "registry.h"
#include "runspec.h"
#include "store.h"

typedef struct jobs jobs;

/* What jobs needs from the JSON layer (api/), handed in by main so that server/ needs no JSON
 * library: decoding a stored, normalised run request, and describing a trained model. */
typedef struct {
    /* Decodes request_json into *out (runspec_clear frees it). */
    mlp_err (*decode)(const char *request_json, runspec *out, mlp_error *err);
    /* Returns the meta_json of a new model version (new string, free()); `final` holds the
     * metrics of `epoch`, the epoch whose weights the version serves (trainer_export_epoch). */
    char *(*describe)(const char *request_json, const run_metrics *final, int epoch, int n_features,
                      char *const *features, int n_labels, char *const *labels);
} jobs_hooks;

typedef struct {
    int workers;           /* runs that train at once */
    int blas_threads;      /* OpenBLAS threads each run may use */
    size_t max_params;     /* network size bound, re-checked at run time */
    struct events *events; /* borrowed, may be NULL: status changes and epochs published */
    struct sched *sched;   /* borrowed, not NULL: the CPU policy runs train under (cpusched.h) */
    struct quota *quota;   /* borrowed, may be NULL (no quotas): train_seconds_per_day pauses */
} jobs_opts;

/* The window of training seconds that fair scheduling compares between users (fairq.h): long
 * enough that a user's last few runs count, short enough that a busy morning is forgotten by
 * the afternoon. */
#define JOBS_FAIR_WINDOW_S 3600

/* Starts the workers and re-queues unfinished runs from the store: runs whose cancel was
 * stored are marked cancelled instead; runs left "running" by a previous process first (they
 * resume from their last checkpoint), then queued runs in order. *out new. */
mlp_err jobs_start(store *s, registry *reg, const jobs_hooks *hooks, const jobs_opts *o, jobs **out,
                   mlp_error *err);
/* Queues a run already created in the store (status queued). */
mlp_err jobs_submit(jobs *j, const char *run_id);
/* Cancels a queued or running run. MLP_OK means the request is durable in the store: a queued
 * run is cancelled at once, a running one within one mini-batch, and if the process stops first
 * (SIGTERM, a crash) the next start marks it cancelled; either way the run never succeeds.
 * MLP_ECONFLICT when it is already finished, MLP_ENOTFOUND when unknown, another code (err->msg
 * set) when the store could not record it: then nothing changed. A run it ends at once (queued,
 * or waiting to resume) has its "cancelled" event published here; a running one's by its worker. */
mlp_err jobs_cancel(jobs *j, const char *run_id, mlp_error *err);
/* Sets the hook every worker calls after it has stored an epoch of a run (its metrics durable,
 * its event published), on the worker's thread: fn(ctx, j, run_id, epoch). fn may cancel runs
 * (jobs_cancel) and must not block for long. Set it once, right after jobs_start; NULL: none. */
void jobs_on_epoch(jobs *j, void (*fn)(void *ctx, jobs *j, const char *run_id, int epoch),
                   void *ctx);
/* Runs waiting in the queue. */
int jobs_queue_depth(jobs *j);
/* Stops: running runs stop within one mini-batch and stay "running" with their last epoch
 * checkpointed (the next start resumes them), unless a user cancelled them (they end
 * cancelled); queued runs stay queued. Joins the workers. NULL-tolerant. */
void jobs_stop(jobs *j);

#endif
