/* ui.c — the web dashboard: GET / (web/index.html) and GET /assets/{file} (its script, style
 * sheet and the uPlot chart library), served from the table compiled into the binary
 * (server/assets.h). Nothing is read from disk and nothing is fetched from elsewhere at run time.
 * The page is a client of the public API like any other; these routes need no key, so that a
 * browser can load the page and then ask for one (see README, Dashboard).
 *
 * Threading: reentrant; the asset table is read-only. */
#include "assets.h"
#include "handlers.h"
#include "problem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers with a copy of the embedded file at `path`, or a 404. The page is revalidated on every
 * load (a new binary shows at once); its assets may be reused for 5 minutes. */
static void serve(http_req *req, http_resp *resp, const char *path, const char *cache_control)
{
    const asset *a = asset_find(path);
    if (!a) {
        api_failf(req, resp, 404, NULL, "no asset '%s'", path);
        return;
    }
    char *body = malloc(a->len ? a->len : 1);
    if (!body) {
        api_failf(req, resp, 503, NULL, "out of memory");
        return;
    }
    memcpy(body, a->data, a->len);
    resp_take(resp, 200, a->content_type, body, a->len);
    snprintf(resp->hdr_name, sizeof resp->hdr_name, "Cache-Control");
    snprintf(resp->hdr_value, sizeof resp->hdr_value, "%s", cache_control);
}

void ui_index(http_req *req, http_resp *resp)
{
    serve(req, resp, "/index.html", "no-cache");
}

void ui_asset(http_req *req, http_resp *resp)
{
    const char *file = route_param(&req->m, "file");
    char path[ROUTE_PARAM_MAX + 16];
    /* "{file}" is one path segment, so "/assets/../x" cannot match; only table entries exist. */
    snprintf(path, sizeof path, "/assets/%s", file ? file : "");
    serve(req, resp, path, "max-age=300");
}
