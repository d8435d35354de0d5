/* oacheck.h — every response the e2e suites receive is checked against the OpenAPI document
 * the daemon serves (GET /api/v1/openapi.json): the status must be documented for the
 * operation, the Content-Type must be one of the documented media types, and a JSON body must
 * satisfy the documented schema. So an answer that drifts from api/openapi.json fails a test.
 *
 * The schema checker covers the JSON Schema keywords api/openapi.json uses: $ref (local), type
 * (one or a list), enum, const, properties, required, additionalProperties, items, minItems,
 * maxItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern
 * (as a POSIX extended regex), oneOf, anyOf, allOf. Annotations (description, examples, format,
 * default, title) are not assertions and are ignored.
 *
 * Owns: the loaded document (one per process). Threading: oa_check may be called from any
 * thread; a violation found on the thread that loaded the harness (the cmocka test thread)
 * fails the running test at once, one found on another thread is counted and printed, and the
 * process then exits 1 at exit. */
#ifndef OACHECK_H
#define OACHECK_H

#include <stddef.h>

/* Checks one response to `method path` (path may carry a query, which is ignored). port is the
 * daemon's, used to fetch the document on first use. Requests to paths the document does not
 * describe (the 404 of an unknown route) are not checked. */
void oa_check(int port, const char *method, const char *path, long status, const char *content_type,
              const char *body, size_t len);
/* The check itself, reporting nothing: 0 when the response matches, 1 when it is not checked
 * (an undocumented path, OPTIONS, HEAD, no answer), -1 with the reason in why when it does not
 * match. */
int oa_validate(int port, const char *method, const char *path, long status,
                const char *content_type, const char *body, size_t len, char *why, size_t cap);
/* Violations so far on threads other than the test thread. */
int oa_violations(void);

#endif
