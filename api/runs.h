/* runs.h — run helpers shared by the /api/v1/runs handlers (runs.c, events.c, plot.c).
 *
 * Threading: reentrant. */
#ifndef RUNS_H
#define RUNS_H

#include "http.h"
#include "runspec_api.h"
#include "store.h"

#include <jansson.h>

/* The run object of API.md as JSON text (new string, free()), its "metrics" rendered by
 * events_metrics_json (server/events.h: the one metrics renderer, %.17g) and its other numbers
 * at 9 significant digits as every answer; NULL when out of memory. */
char *run_json(const store_run *r);
/* Loads the run named by the path's {id} into *r (store_run_clear it). On failure answers 404
 * or the store's error and returns -1. */
int runs_load(http_req *req, http_resp *resp, store_run *r);
/* Checks the run request body (borrowed) as POST /api/v1/runs does: its datasets, params and
 * --max-train-memory. Returns the normalised request (new) with *rs filled (runspec_clear it),
 * or NULL after answering the error in resp; *mem receives the memory estimate. */
json_t *runs_check_body(http_req *req, http_resp *resp, json_t *body, runspec *rs,
                        runspec_mem *mem);
/* Fills *r (zeroed first) as a new queued run of the checked request rs / norm (borrowed),
 * owned by user owner_id; r->request_json is new (NULL when out of memory; store_run_clear
 * frees it). */
void runs_record(store_run *r, const runspec *rs, json_t *norm, long long owner_id);
/* The active_runs and models limits of user owner that a run's insert checks (server/quota.h),
 * into *q (left as is when the server has no quota service). */
mlp_err runs_quota(http_req *req, long long owner, store_run_quota *q);

#endif
