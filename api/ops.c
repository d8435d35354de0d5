/* ops.c — operational routes: /healthz. */
#include "handlers.h"
#include "problem.h"

void ops_healthz(http_req *req, http_resp *resp)
{
    if (atomic_load(&req->app->shutting_down)) {
        api_json(resp, 503, json_pack("{s:s}", "status", "shutting_down"));
        return;
    }
    api_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}
