/* routes.h — the one route table of the daemon, built from api/routes.def by api/routes.c.
 *
 * server/ never names it: main.c hands it to http_start (http_opts.routes) and metrics_init, and
 * the tests that walk every route (tests/api/test_openapi.c, tests/e2e/test_auth.c) read it here.
 *
 * Owns: the static table. Threading: read-only; any thread. */
#ifndef ROUTES_H
#define ROUTES_H

#include "router.h"

#include <stddef.h>

/* Every route, in match order (router_match tries them first to last). */
extern const route route_table[];
/* Entries of route_table. */
extern const size_t route_count;

#endif
