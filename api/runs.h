/* runs.h — run helpers shared by the /api/v1/runs handlers (runs.c, events.c, plot.c).
 *
 * Threading: reentrant. */
#ifndef RUNS_H
#define RUNS_H

#include "http.h"
#include "store.h"

#include <jansson.h>

/* The run object of API.md as JSON text (new string, free()), its "metrics" rendered by
 * events_metrics_json (server/events.h: the one metrics renderer, %.17g) and its other numbers
 * at 9 significant digits as every answer; NULL when out of memory. */
char *run_json(const store_run *r);
/* Loads the run named by the path's {id} into *r (store_run_clear it). On failure answers 404
 * or the store's error and returns -1. */
int runs_load(http_req *req, http_resp *resp, store_run *r);

#endif
