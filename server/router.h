/* router.h — method + path -> route, over a route table handed in by the caller.
 *
 * The table is data of the api/ layer (api/routes.def, built into route_table by api/routes.c);
 * main.c hands it to http_start and metrics_init, so this layer matches against any table and
 * never names api/'s symbols.
 *
 * Patterns are '/'-separated segments: literals, "{param}" (one segment, never containing ':'),
 * and a ":verb" suffix on the last segment, literal ("{name}:predict", "runs:validate") or a
 * parameter ("{name}:{verb}"), as in the TensorFlow Serving REST API. The path given is already
 * percent-decoded (libmicrohttpd does it), so "%3Apredict" matches ":predict". One trailing '/' is
 * ignored. Routes are tried in table order and the first match wins, so a "{verb}" pattern goes
 * after the literal verbs of the same path.
 *
 * Owns: nothing (the table is borrowed). Threading: read-only after start; reentrant. */
#ifndef ROUTER_H
#define ROUTER_H

#include <stddef.h>

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_MAX  128

/* Who may call a route (API.md, Security): each scope includes the ones after it. */
typedef enum { SCOPE_NONE = 0, SCOPE_PREDICT, SCOPE_TRAIN, SCOPE_ADMIN } route_scope;

/* Who may act on what a route names, in class mode (server/access.h states the rules; the
 * api/ layer enforces them once per request through http_opts.authorize, after the scope).
 * Every route has one: RULE_MISSING (0) in a table is a defect that tests/api/test_openapi.c
 * and tests/e2e/test_access.c refuse. "Seen" and "changed" are access_see and access_change;
 * what the caller may not see answers 404, what it sees but may not change 403. */
typedef enum {
    RULE_MISSING = 0,
    RULE_OPEN,           /* whoever the scope lets in */
    RULE_LIST,           /* whoever the scope lets in; the handler lists only what they see */
    RULE_USER,           /* a signed-in user of any role (POST /runs: its datasets must be seen
                            and its model_name changeable, checked by the handler) */
    RULE_STAFF,          /* staff or admin */
    RULE_ADMIN,          /* admin */
    RULE_DATASET_SEE,    /* {id}: a dataset the caller sees */
    RULE_DATASET_ROWS,   /* {id}: ... whose raw rows it may read (access_rows) */
    RULE_DATASET_CHANGE, /* {id}: a dataset the caller may change */
    RULE_RUN_SEE,        /* {id}: a run the caller sees (access_run) */
    RULE_RUN_CHANGE,     /* {id}: a run the caller may cancel or delete */
    RULE_MODEL_SEE,      /* {name}: a model the caller sees (an unknown name: the handler's 404) */
    RULE_MODEL_CHANGE,   /* {name}: a model the caller may change */
    RULE_MODEL_PUBLISH,  /* {name}: a new name, or a model the caller may change; else 403
                            naming its owner */
    RULE_SWEEP_SEE,      /* {id}: a sweep the caller sees (access_sweep: its owner, staff, admin) */
    RULE_SWEEP_CHANGE    /* {id}: a sweep the caller may delete or promote (the same callers) */
} route_rule;
#define RULE_COUNT ((int)RULE_SWEEP_CHANGE + 1)

/* Error body style of a route family. */
typedef enum {
    FAM_PLAIN = 0, /* /healthz, /metrics, / */
    FAM_MGMT,      /* /api/v1: application/problem+json */
    FAM_TFS,       /* /v1: {"error": "..."} */
    FAM_V2         /* /v2: {"error": "..."} */
} route_family;

#define ROUTE_UPLOAD                                                                               \
    1u /* body is streamed to the handler's upload hooks, bounded by --max-upload */

struct http_req;
struct http_resp;
typedef void (*route_fn)(struct http_req *req, struct http_resp *resp);

/* Streaming body hooks of an upload route: begin on headers, feed per chunk, end frees. */
typedef struct {
    int (*begin)(struct http_req *req, struct http_resp *resp); /* 0 ok; else resp filled */
    int (*feed)(struct http_req *req, struct http_resp *resp, const char *data, size_t len);
    void (*abort)(struct http_req *req); /* free upload state without finishing */
} route_upload;

typedef struct {
    const char *method;  /* "GET", ... */
    const char *pattern; /* "/api/v1/runs/{id}" */
    route_fn fn;
    route_scope scope;
    route_family family;
    unsigned flags; /* ROUTE_UPLOAD */
    const route_upload *upload;
    const char *name; /* handler name, for logs and metrics labels */
    route_rule rule;  /* class mode's per-route rule */
} route;

typedef struct {
    const route *rt;
    int n_params;
    const char *names[ROUTE_MAX_PARAMS];            /* borrowed from the pattern table */
    char values[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX]; /* copied from the path */
} route_match;

/* Finds the route for (method, path) among table[0..n). Returns 0 and fills *m on a match
 * (m->rt points into table); 404 when no pattern matches the path; 405 when some pattern matches
 * but not the method, with the allowed methods written to allow ("GET, DELETE"). A parameter
 * longer than ROUTE_PARAM_MAX-1 is a 404. table is borrowed. */
int router_match(const route *table, size_t n, const char *method, const char *path, route_match *m,
                 char *allow, size_t allow_len);
/* Family of a path that matched nothing (by prefix), for the error style of a 404. */
route_family router_family_of(const char *path);
/* Value of a named parameter of a match, or NULL. */
const char *route_param(const route_match *m, const char *name);

#endif
