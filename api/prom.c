/* prom.c — GET /metrics: the Prometheus text exposition (format 0.0.4). The services' gauges
 * (runs by state from the store, the queue depth, the models loaded) are read here, at scrape
 * time, and handed to server/metrics.c, which renders them with its own counters. */
#include "handlers.h"
#include "jobs.h"
#include "metrics.h"
#include "problem.h"
#include "registry.h"
#include "store.h"

void ops_metrics(http_req *req, http_resp *resp)
{
    const app *a = req->app;
    metrics_value runs[RUN_STATE_COUNT];
    size_t n_runs = 0;
    if (a->store) {
        for (int s = 0; s < RUN_STATE_COUNT; s++) {
            run_state rs = (run_state)s;
            store_run *items = NULL;
            int n = 0;
            long total = 0;
            if (store_run_list(a->store, &rs, NULL, NULL, 1, 0, &items, &n, &total) != MLP_OK)
                continue; /* that state's line is left out, as for any failed read */
            store_runs_free(items, n);
            runs[n_runs++] = (metrics_value){run_state_name(rs), total};
        }
    }
    metrics_gauges g = {.runs = a->store ? runs : NULL,
                        .n_runs = n_runs,
                        .queue_depth = a->jobs ? jobs_queue_depth(a->jobs) : -1,
                        .models_loaded = a->reg ? reg_loaded(a->reg) : -1};
    size_t len = 0;
    char *text = metrics_render(&g, &len);
    if (!text) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    resp_take(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
