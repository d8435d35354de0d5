/* sweep.h — the sweep service: queueing a sweep's runs (store, events, queue) and its
 * successive-halving rule, run from the training workers' per-epoch hook (jobs_on_epoch). The
 * JSON side (grid and random expansion, validation, rendering) is api/sweepgen.c and
 * api/sweeps.c; this module sees runs and numbers only.
 *
 * Successive halving, asynchronous (the ASHA rule): when a run of a sweep with rung N records
 * epoch k·N (and has epochs left), its val_loss at that epoch is ranked among the val_loss the
 * sweep's runs recorded at the same epoch (those still training, those that finished, those
 * pruned there); when it is not in the better half (rank >= ceil(count / 2), ties going to the
 * earlier run), the run is pruned: its reason is stored (store_sweep_prune) and it is cancelled
 * (jobs_cancel), so it ends "cancelled" with that reason as its error. Queued runs are judged
 * when they reach the rung, so no run is cancelled on another's account, and the outcome with one
 * worker depends only on the runs' order and their losses.
 *
 * Owns: nothing. Borrows: the store, the queue and the hub, for the call.
 * Threading: every function may be called from any thread. */
#ifndef SWEEP_H
#define SWEEP_H

#include "events.h"
#include "jobs.h"
#include "mlp.h"
#include "store.h"

/* Whether successive halving prunes the run at index me among the n val_loss values recorded at
 * one rung: 1 when fewer than ceil(n / 2) runs are better (lower; equal and earlier counts as
 * better). */
int sweep_halving_prunes(const double *vals, int n, int me);

/* The per-epoch hook (jobs_on_epoch; ctx: the store): applies successive halving to run_id
 * when it belongs to a sweep with a rung. Errors are logged, never fatal to the run. */
void sweep_on_epoch(void *ctx, jobs *j, const char *run_id, int epoch);

/* Creates sweep sw (store_sweep_create, owned by sw->owner_id, who owns the runs too) and its n
 * runs (each like runsvc_submit_quota: stored, linked with params_json[i], then queued and
 * published once all are stored). Refused with MLP_EBUSY (err set, nothing stored) when
 * max_queued > 0 and the queue cannot take n more, or when the n runs would bring the owner past
 * quota's active_runs limit (err->msg naming the quota, its limit and the use); quota may be NULL.
 * Each run's insert checks quota again (store_run_create_quota), so a concurrent submission cannot
 * slip past it. When storing fails part way, the runs already stored are cancelled and deleted and
 * the sweep deleted again: nothing of it is left queued. (A daemon killed part way leaves the
 * runs stored so far as runs of no sweep, queued at the next start like any run.) */
mlp_err sweep_submit(store *st, jobs *j, events *ev, store_sweep *sw, store_run *runs,
                     char *const *params_json, int n, int max_queued, const store_run_quota *quota,
                     mlp_error *err);

#endif
