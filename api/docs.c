/* docs.c — GET /api/v1/openapi.json (the OpenAPI 3.1 document, embedded at build time from
 * api/openapi.json) and GET /api/v1/docs (web/docs.html, a self-contained page that renders that
 * document). Both come from the asset table (server/assets.h); nothing is read from disk. */
#include "assets.h"
#include "handlers.h"
#include "problem.h"

#include <stdlib.h>
#include <string.h>

static void serve_asset(http_req *req, http_resp *resp, const char *path)
{
    const asset *a = asset_find(path);
    if (!a) {
        api_failf(req, resp, 404, NULL, "%s is not part of this build", path);
        return;
    }
    /* The asset is static: MHD frees the body, so hand it a copy (one per request; small). */
    char *b = malloc(a->len ? a->len : 1);
    if (!b) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    memcpy(b, a->data, a->len);
    resp_take(resp, 200, a->content_type, b, a->len);
}

void ops_openapi(http_req *req, http_resp *resp)
{
    serve_asset(req, resp, "/api/v1/openapi.json");
}

void ops_docs(http_req *req, http_resp *resp)
{
    serve_asset(req, resp, "/api/v1/docs.html");
}
