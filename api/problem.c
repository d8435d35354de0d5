/* problem.c — error bodies, JSON responses and request helpers (see problem.h). */
#include "problem.h"

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one table from an error code to its HTTP status. */
static int api_status_of(mlp_err e)
{
    switch (e) {
    case MLP_OK:
        return 200;
    case MLP_EINVAL:
        return 400;
    case MLP_ENOTFOUND:
        return 404;
    case MLP_ECONFLICT:
        return 409;
    case MLP_ETOOLARGE:
        return 413;
    case MLP_EUNSUPPORTED:
        return 415;
    case MLP_EBUSY:
        return 429;
    case MLP_ENOSPC:
        return 507;
    case MLP_ECORRUPT:
        return 400;
    case MLP_ECANCELLED:
        return 409;
    case MLP_EDIVERGED:
        return 400;
    case MLP_ENOMEM:
        return 503;
    case MLP_EIO:
        return 500;
    }
    return 500;
}

static const char *title_of(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return "Internal Server Error";
    }
}

static const char *code_of(int status)
{
    switch (status) {
    case 400:
        return "invalid_argument";
    case 401:
        return "unauthenticated";
    case 403:
        return "permission_denied";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 413:
        return "too_large";
    case 415:
        return "unsupported_media_type";
    case 429:
        return "too_many_requests";
    case 503:
        return "unavailable";
    case 507:
        return "insufficient_storage";
    default:
        return "internal";
    }
}

void api_json(http_resp *resp, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(body);
    if (!s) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    resp_take(resp, status, "application/json", s, strlen(s));
}

static void render(http_resp *resp, route_family fam, int status, const char *detail,
                   const char *field)
{
    json_t *o;
    const char *ctype = "application/json";
    if (fam == FAM_MGMT || fam == FAM_PLAIN) {
        char type[64];
        snprintf(type, sizeof type, "urn:mlpd:problem:%s", code_of(status));
        o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", title_of(status),
                      "status", status, "detail", detail, "code", code_of(status));
        if (o && field && *field)
            json_object_set_new(o, "errors",
                                json_pack("[{s:s, s:s}]", "field", field, "detail", detail));
        ctype = "application/problem+json";
    } else {
        o = json_pack("{s:s}", "error", detail);
    }
    if (!o) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    resp_take(resp, status, ctype, s, strlen(s));
}

void api_error(http_resp *resp, route_family fam, int status, const char *detail)
{
    render(resp, fam, status, detail, NULL);
}

static route_family fam_of(const http_req *req)
{
    return req->m.rt ? req->m.rt->family : router_family_of(req->path);
}

void api_fail(http_req *req, http_resp *resp, mlp_err e, const mlp_error *err)
{
    char detail[700];
    const char *msg = err && err->msg[0] ? err->msg : mlp_strerror(e);
    char where[64] = "";
    if (err && err->row && err->col)
        snprintf(where, sizeof where, "row %ld, column %ld", err->row, err->col);
    else if (err && err->row)
        snprintf(where, sizeof where, "row %ld", err->row);
    if (where[0] && !strstr(msg, where)) /* unless the message names them already */
        snprintf(detail, sizeof detail, "%s (%s)", msg, where);
    else
        snprintf(detail, sizeof detail, "%s", msg);
    render(resp, fam_of(req), api_status_of(e), detail, err ? err->field : NULL);
}

void api_failf(http_req *req, http_resp *resp, int status, const char *field, const char *fmt, ...)
{
    char detail[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    render(resp, fam_of(req), status, detail, field);
}

int api_json_depth_ok(const char *s, size_t len, int max)
{
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"') { /* skip the string, escapes included */
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\') i++;
        } else if (c == '[' || c == '{') {
            if (++depth > max) return 0;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return 1;
}

/* Limits from the configuration, or the defaults when a request has none (unit tests). */
static int max_json_depth(const http_req *req)
{
    return req->app && req->app->cfg && req->app->cfg->max_json_depth > 0
               ? req->app->cfg->max_json_depth
               : 64;
}

/* api_json_depth_ok against --max-json-depth for req's body; answers 400 naming the limit and
 * returns -1 when too deep, else 0. */
static int api_json_depth_check(http_req *req, http_resp *resp)
{
    int max = max_json_depth(req);
    if (req->body && !api_json_depth_ok(req->body, req->body_len, max)) {
        api_failf(req, resp, 400, NULL,
                  "JSON body nests deeper than %d levels (the limit, --max-json-depth)", max);
        return -1;
    }
    return 0;
}

int api_instances_check(http_req *req, http_resp *resp, size_t n)
{
    size_t max = req->app && req->app->cfg && req->app->cfg->max_instances > 0
                     ? (size_t)req->app->cfg->max_instances
                     : 10000;
    if (n > max) {
        api_failf(req, resp, 413, NULL,
                  "%zu instances in one request; the limit is %zu (--max-instances)", n, max);
        return -1;
    }
    return 0;
}

int api_media_type_is(const char *ct, const char *t)
{
    size_t n = strlen(t);
    while (*ct == ' ' || *ct == '\t') ct++;
    if (strncasecmp(ct, t, n) != 0) return 0;
    for (ct += n; *ct == ' ' || *ct == '\t';) ct++;
    return *ct == '\0' || *ct == ';';
}

int api_json_type_ok(http_req *req)
{
    const char *ct = http_header(req, "Content-Type");
    return !ct || !*ct || api_media_type_is(ct, "application/json") ||
           api_media_type_is(ct, "text/json") ||
           api_media_type_is(ct, "application/x-www-form-urlencoded");
}

json_t *api_body_object(http_req *req, http_resp *resp)
{
    if (!req->body || req->body_len == 0) {
        api_failf(req, resp, 400, NULL, "request body is empty; expected a JSON object");
        return NULL;
    }
    if (!api_json_type_ok(req)) {
        api_failf(req, resp, 415, NULL, "Content-Type '%s' is not supported; send application/json",
                  http_header(req, "Content-Type"));
        return NULL;
    }
    if (api_json_depth_check(req, resp)) return NULL;
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        api_failf(req, resp, 400, NULL, "body is not valid JSON: %s (line %d, column %d)", je.text,
                  je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        api_failf(req, resp, 400, NULL, "body must be a JSON object");
        return NULL;
    }
    return o;
}

static int parse_int_param(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int api_paging(http_req *req, http_resp *resp, int *limit, int *offset)
{
    const char *l = http_query(req, "limit"), *o = http_query(req, "offset");
    long v;
    *limit = 50;
    *offset = 0;
    if (l) {
        if (parse_int_param(l, 1, 1000, &v)) {
            api_failf(req, resp, 400, "limit", "limit must be a whole number from 1 to 1000");
            return -1;
        }
        *limit = (int)v;
    }
    if (o) {
        if (parse_int_param(o, 0, 1000000000L, &v)) {
            api_failf(req, resp, 400, "offset", "offset must be a whole number >= 0");
            return -1;
        }
        *offset = (int)v;
    }
    return 0;
}

int api_version_param(http_req *req, http_resp *resp, int *v)
{
    const char *s = route_param(&req->m, "version");
    *v = 0;
    if (!s) return 0;
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < 1 || x > 1000000000) {
        api_failf(req, resp, 400, "version", "version must be a whole number >= 1, not '%s'", s);
        return -1;
    }
    *v = (int)x;
    return 0;
}

int api_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return 0;
    }
    return 1;
}
