/* runsvc.h — the runs service: the consistency rules between the store, the event hub and the
 * training queue for a run's creation and cancellation, so that a handler (api/runs.c) parses,
 * makes one call and renders.
 *
 * Who publishes a run's events (the rule of server/events.h): the module that makes the store
 * write. runsvc_submit_quota publishes "queued" (and "failed" when the run could not be queued);
 * jobs.c publishes everything after that: "running", each epoch, and the final state, including
 * the "cancelled" of a cancel it records (jobs_cancel) and of runs it ends at start-up.
 *
 * Owns: nothing. Borrows: the store, the queue and the hub, for the call.
 * Threading: every function may be called from any thread. */
#ifndef RUNSVC_H
#define RUNSVC_H

#include "events.h"
#include "jobs.h"
#include "mlp.h"
#include "store.h"

/* Creates run r in the store (status queued; r->id is filled in), publishes its "queued" event
 * and queues it. Refused with MLP_EBUSY (err set) when max_queued runs already wait, or when r's
 * owner would pass q's active_runs or models quota (counted inside the insert's transaction; q
 * may be NULL). When it was stored but could not be queued, it is marked failed (and
 * published), or, if even that write fails, left queued for the next start; either way the
 * queue's code is returned with err->msg saying which. ev may be NULL. */
mlp_err runsvc_submit_quota(store *st, jobs *j, events *ev, store_run *r, int max_queued,
                            const store_run_quota *q, mlp_error *err);
/* Cancels a queued or running run (jobs_cancel: MLP_OK means durable; MLP_ECONFLICT when it
 * already finished, MLP_ENOTFOUND when unknown). */
mlp_err runsvc_cancel(jobs *j, const char *run_id, mlp_error *err);

#endif
