/* sweep.c — a sweep's submission and its successive-halving rule (see sweep.h). */
#include "sweep.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many of vals[0..n) are better than vals[me]: lower, or equal and earlier. */
static int better_than(const double *vals, int n, int me)
{
    int better = 0;
    for (int i = 0; i < n; i++)
        if (i != me && (vals[i] < vals[me] || (vals[i] == vals[me] && i < me))) better++;
    return better;
}

int sweep_halving_prunes(const double *vals, int n, int me)
{
    assert(vals && me >= 0 && me < n);
    return better_than(vals, n, me) >= (n + 1) / 2;
}

void sweep_on_epoch(void *ctx, jobs *j, const char *run_id, int epoch)
{
    store *st = ctx;
    char sid[24];
    int rung = 0;
    if (store_sweep_of_run(st, run_id, sid, &rung) != MLP_OK || rung <= 0 || epoch % rung) return;
    store_run r;
    memset(&r, 0, sizeof r);
    char(*ids)[24] = NULL;
    double *vals = NULL;
    int n = 0, me = -1;
    mlp_err rc = store_run_get(st, run_id, &r);
    if (rc || epoch >= r.epochs) goto out; /* the last epoch: nothing left to save */
    rc = store_sweep_rung_losses(st, sid, epoch, &ids, &vals, &n);
    for (int i = 0; !rc && i < n; i++)
        if (strcmp(ids[i], run_id) == 0) me = i;
    if (rc || me < 0 || !sweep_halving_prunes(vals, n, me)) goto out;
    int better = better_than(vals, n, me);
    char reason[256];
    snprintf(reason, sizeof reason,
             "pruned by sweep %s (successive halving at epoch %d: val_loss %.6g ranks %d of %d, "
             "outside the better half)",
             sid, epoch, vals[me], better + 1, n);
    rc = store_sweep_prune(st, run_id, reason);
    if (rc == MLP_OK) {
        mlp_error err;
        mlp_error_clear(&err);
        rc = jobs_cancel(j, run_id, &err);
        if (rc == MLP_OK) fprintf(stderr, "mlpd: run %s %s\n", run_id, reason);
    }
out:
    if (rc && rc != MLP_ECONFLICT)
        fprintf(stderr, "mlpd: run %s: sweep %s could not apply successive halving: %s\n", run_id,
                sid, mlp_strerror(rc));
    free(ids);
    free(vals);
    store_run_clear(&r);
}

/* Removes what a failed sweep_submit stored: runs[0..n) (cancelled, then deleted) and the sweep. */
static void unwind(store *st, store_sweep *sw, store_run *runs, int n)
{
    for (int i = 0; i < n; i++) {
        store_run_request_cancel(st, runs[i].id, NULL);
        store_run_delete(st, runs[i].id);
    }
    store_sweep_delete(st, sw->id);
}

/* MLP_EBUSY with err->msg when n more runs would bring owner past q's active_runs quota. */
static mlp_err check_active_runs(store *st, long long owner, int n, const store_run_quota *q,
                                 mlp_error *err)
{
    long long used = 0;
    if (!q || q->active_runs <= 0) return MLP_OK;
    mlp_err rc = store_usage_active_runs(st, owner, &used);
    if (rc) return mlp_fail(err, rc, "could not count the active runs: %s", mlp_strerror(rc));
    if (used + n <= q->active_runs) return MLP_OK;
    return mlp_fail(err, MLP_EBUSY,
                    "quota active_runs exceeded: limit %lld, used %lld (queued and running "
                    "runs); the sweep's %d runs would make %lld, so none was queued; retry with "
                    "a smaller budget or when runs end",
                    q->active_runs, used, n, used + n);
}

mlp_err sweep_submit(store *st, jobs *j, events *ev, store_sweep *sw, store_run *runs,
                     char *const *params_json, int n, int max_queued, const store_run_quota *quota,
                     mlp_error *err)
{
    assert(st && j && sw && runs && params_json && n > 0);
    if (max_queued > 0) {
        run_state q = RUN_QUEUED;
        store_run *none = NULL;
        int k = 0;
        long queued = 0;
        mlp_err rc = store_run_list(st, &q, NULL, NULL, 0, 0, &none, &k, &queued);
        store_runs_free(none, k);
        if (rc) return mlp_fail(err, rc, "could not count the queued runs: %s", mlp_strerror(rc));
        if (queued + n > max_queued)
            return mlp_fail(err, MLP_EBUSY,
                            "the sweep's %d runs do not fit the queue: %ld runs are waiting, "
                            "the limit (--max-queued-runs) is %d; retry later",
                            n, queued, max_queued);
    }
    mlp_err rc = check_active_runs(st, sw->owner_id, n, quota, err);
    if (rc) return rc;
    rc = store_sweep_create(st, sw, err);
    if (rc) return rc;
    int made = 0;
    for (; made < n; made++) {
        assert(runs[made].owner_id == sw->owner_id);
        rc = store_run_create_quota(st, &runs[made], 0, quota, err);
        if (rc) break;
        rc = store_sweep_add_run(st, sw->id, made, runs[made].id, params_json[made], err);
        if (rc) {
            made++;
            break;
        }
    }
    if (rc) {
        unwind(st, sw, runs, made);
        return rc;
    }
    /* Every run stored and linked: from here on each is an ordinary queued run. */
    for (int i = 0; i < n; i++) {
        events_publish_status(ev, st, runs[i].id); /* queued */
        mlp_err qrc = jobs_submit(j, runs[i].id);
        if (qrc == MLP_OK) continue;
        if (store_run_fail(st, runs[i].id, "could not be queued") == MLP_OK)
            events_publish_status(ev, st, runs[i].id);
        if (!rc)
            rc = mlp_fail(err, qrc, "run %s of sweep %s could not be queued (%s)", runs[i].id,
                          sw->id, mlp_strerror(qrc));
    }
    return rc;
}
