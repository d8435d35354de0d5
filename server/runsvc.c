/* runsvc.c — a run's submission and cancellation across store, hub and queue (see runsvc.h). */
#include "runsvc.h"

#include <assert.h>

mlp_err runsvc_submit_quota(store *st, jobs *j, events *ev, store_run *r, int max_queued,
                            const store_run_quota *q, mlp_error *err)
{
    assert(st && j && r);
    /* The queue limit and the quotas are counted inside the insert's transaction: concurrent
     * creates cannot pass them together. */
    mlp_err rc = store_run_create_quota(st, r, max_queued, q, err);
    if (rc) return rc;
    events_publish_status(ev, st, r->id); /* queued */
    rc = jobs_submit(j, r->id);
    if (!rc) return MLP_OK;
    /* Stored but not scheduled: end it rather than leave it waiting for nothing. */
    mlp_err frc = store_run_fail(st, r->id, "could not be queued");
    if (frc == MLP_OK) events_publish_status(ev, st, r->id);
    mlp_error_clear(err);
    return mlp_fail(err, rc,
                    frc == MLP_OK
                        ? "run %s could not be queued (%s) and was marked failed; retry"
                        : "run %s could not be queued (%s); it starts at the next restart",
                    r->id, mlp_strerror(rc));
}

mlp_err runsvc_cancel(jobs *j, const char *run_id, mlp_error *err)
{
    assert(j && run_id);
    return jobs_cancel(j, run_id, err);
}
