/* handlers.h — declarations of every route handler named in api/routes.def, and the upload
 * hooks of streaming routes. Each handler reads the request, calls the services in req->app,
 * and fills resp (status, JSON body, headers); see server/http.h.
 * Threading: handlers run on libmicrohttpd's request threads, many at once; they keep no state
 * between requests. */
#ifndef HANDLERS_H
#define HANDLERS_H

#include "http.h"
#include "router.h"

#define ROUTE(method, pattern, fn, scope, rule, family, flags, upload)                             \
    void fn(struct http_req *req, struct http_resp *resp);
#include "routes.def"
#undef ROUTE

extern const route_upload ds_upload_hooks;

#endif
