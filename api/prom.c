/* prom.c — GET /metrics: the Prometheus text exposition (format 0.0.4) rendered by
 * server/metrics.c from its counters and the services of req->app. */
#include "handlers.h"
#include "metrics.h"
#include "problem.h"

void ops_metrics(http_req *req, http_resp *resp)
{
    size_t len = 0;
    char *text = metrics_render(req->app->store, req->app->jobs, req->app->reg, &len);
    if (!text) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    resp_take(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
