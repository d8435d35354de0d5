/* routes.c — builds route_table from api/routes.def (the one route table; see routes.h). */
#include "routes.h"

#include "handlers.h"

const route route_table[] = {
#define ROUTE(method, pattern, fn, scope, rule, family, flags, upload)                             \
    {#method, pattern, fn, scope, family, flags, upload, #fn, rule},
#include "routes.def"
#undef ROUTE
};

const size_t route_count = sizeof route_table / sizeof route_table[0];
