/* fuzz_router.c — libFuzzer target: router_match (server/router.c) on "METHOD\nPATH". Checks the
 * contract: 0, 404 or 405; on 405 the Allow list is a NUL-terminated string within its buffer; on
 * a match every parameter of the pattern is a NUL-terminated string.
 * Owns: nothing beyond one input. Threading: libFuzzer's one thread. */
#include "routes.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    char *path = strchr(s, '\n');
    if (!path) goto out;
    *path++ = 0;
    route_match m;
    memset(&m, 0, sizeof m);
    char allow[128];
    memset(allow, 'x', sizeof allow);
    allow[0] = 0;
    int rc = router_match(route_table, route_count, s, path, &m, allow, sizeof allow);
    if (rc != 0 && rc != 404 && rc != 405) abort();
    if (rc == 405 && !memchr(allow, 0, sizeof allow)) abort();
    if (rc == 0) {
        static const char *const names[] = {"id", "name", "version", "alias"};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            const char *v = route_param(&m, names[i]);
            if (v && strlen(v) >= ROUTE_PARAM_MAX) abort();
        }
    }
    (void)router_family_of(path);
out:
    free(s);
    return 0;
}
