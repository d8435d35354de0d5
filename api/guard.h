/* guard.h — class mode's per-route rules (route.rule, api/routes.def), enforced once per request:
 * main.c sets http_opts.authorize to guard_check, which server/http.c calls right after the
 * scope check and before any body is read. The rules themselves are server/access.h; this file
 * looks up what the path names (a dataset's, run's, model's or sweep's owner and visibility) and
 * turns a verdict into an answer: 404 for what the caller may not see (the same answer as for
 * something that does not exist, so existence is not leaked), 403 for what it sees but may not
 * change, both naming the rule.
 *
 * Staff and admin pass every rule but RULE_ADMIN without a store lookup (so flag keys and an
 * open server pay nothing), and get the handlers' own answers. For everyone else a resource
 * that does not exist gets the same 404 as one they may not see; a name that is not valid is
 * left to the handler's 400.
 *
 * Owns: nothing. Threading: reentrant (reads the store). */
#ifndef GUARD_H
#define GUARD_H

#include "access.h"
#include "http.h"
#include "store.h"

#include <jansson.h>

/* The http_opts.authorize hook: 0 when req may go on, else resp holds the 401, 403 or 404. */
int guard_check(http_req *req, http_resp *resp);
/* The rule's name in error details ("dataset-rows"); "missing" for RULE_MISSING. */
const char *guard_rule_name(route_rule r);
/* The store_view of a list request: the caller, and ?owner= (NULL when absent). */
store_view guard_view(http_req *req);
/* 1 when the caller may see dataset d (access_see), for handlers that name datasets in a body. */
int guard_sees_dataset(const http_req *req, const store_dataset *d);
/* For a body that names a model to publish to (POST /api/v1/runs): 0 when `name` is new or the
 * caller may change it; else answers 403 naming the owner, with field as the error's field,
 * and returns -1 (also -1 after answering a store error). */
int guard_may_publish(http_req *req, http_resp *resp, const char *name, const char *field);
/* For a sweep's :promote, which moves an alias of model `name`: 0 when the caller may change
 * the model or no such model exists (the caller answers that); else answers 403 naming the
 * owner (rule model-change), or the store's error, and returns -1. */
int guard_may_move_alias(http_req *req, http_resp *resp, const char *name);
/* 1 when the caller may see run `id` (access_run); 0 for an unknown or hidden run. */
int guard_sees_run(http_req *req, const char *id);
/* Records an applied PATCH in the audit log (server/audit.h): action ("model.update"), the
 * resource kind/id ("models", "iris") and the fields changed (body, borrowed). */
void guard_audit_patch(http_req *req, const char *action, const char *kind, const char *id,
                       json_t *body);
/* Records a committed write by the caller in the audit log (server/audit.h): action
 * ("run.create"), the resource kind/id ("runs", "run_5") and a small detail object (takes it;
 * NULL for {}). */
void guard_audit(http_req *req, const char *action, const char *kind, const char *id,
                 json_t *detail);

#endif
