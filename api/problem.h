/* problem.h — error and JSON responses in each route family's style, and small request helpers
 * shared by the handlers: /api/v1 answers RFC 9457 application/problem+json
 * {"type","title","status","detail","code"} (+ "errors":[{"field","detail"}] for validation);
 * /v1 and /v2 answer {"error": "..."}. One table maps mlp_err codes to HTTP statuses.
 *
 * Threading: reentrant. */
#ifndef PROBLEM_H
#define PROBLEM_H

#include "http.h"
#include "mlp.h"

#include <jansson.h>

/* Renders an error body (the http_opts.render_error hook). */
void api_error(http_resp *resp, route_family fam, int status, const char *detail);
/* Error response for req's family from an mlp_err and its detail (field -> errors[]). */
void api_fail(http_req *req, http_resp *resp, mlp_err e, const mlp_error *err);
/* Error with a given status and printf-style detail; `field` (may be NULL) adds errors[]. */
void api_failf(http_req *req, http_resp *resp, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 200/201/... with a JSON body; takes the reference to body. */
void api_json(http_resp *resp, int status, json_t *body);

/* Parses the request body as a JSON object. On failure answers 400 naming line/column, or 415
 * naming a Content-Type that api_json_type_ok refuses, and returns NULL. Bodies nested deeper
 * than --max-json-depth are refused (400) before parsing. */
json_t *api_body_object(http_req *req, http_resp *resp);
/* 1 when req's body may be read as JSON: a Content-Type of application/json or text/json
 * (parameters allowed), none at all, or application/x-www-form-urlencoded, which is what
 * `curl -d` sends when not told otherwise (TensorFlow Serving reads those bodies as JSON too). */
int api_json_type_ok(http_req *req);
/* 1 when the media type of the Content-Type value ct (parameters after ';' ignored) is t, in any
 * case. */
int api_media_type_is(const char *ct, const char *t);
/* 1 when the JSON text s[0..len) nests arrays/objects at most max deep (a linear scan that skips
 * strings; it does not validate the JSON), else 0. jansson has no depth limit of its own below
 * 2048, so every JSON body api_body_object parses is checked with this first (against
 * --max-json-depth, a 400 naming the limit); a route that parses its body itself checks it too. */
int api_json_depth_ok(const char *s, size_t len, int max);
/* Checks an inference request's instance count against --max-instances: answers 413 naming the
 * limit and returns -1 when over, else 0. */
int api_instances_check(http_req *req, http_resp *resp, size_t n);
/* ?limit= (1..1000, default 50) and ?offset= (>= 0); answers 400 and returns -1 when bad. */
int api_paging(http_req *req, http_resp *resp, int *limit, int *offset);
/* The path's {version} (a whole number from 1 to 1e9) in *v, or 0 when the route has none;
 * answers 400 naming it and returns -1 when it is not one. */
int api_version_param(http_req *req, http_resp *resp, int *v);
/* 1 when name matches [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
int api_name_ok(const char *name);

#endif
