/* models_ensemble.h — the ensemble form of POST /api/v1/models/{name}/versions:
 * {"ensemble": [{"model": "a", "version": 3}, {"model": "b", "alias": "prod"}, ...]} makes a new
 * version of {name} that serves the mean of its members (server/ensemble.h: what is averaged,
 * what must match, and why the version holds copies of the members' weights). api/models.c
 * dispatches on the body's shape and answers the 201 itself.
 * Threading: runs on request threads; no state between requests. */
#ifndef MODELS_ENSEMBLE_H
#define MODELS_ENSEMBLE_H

#include "http.h"

#include <jansson.h>

/* Validates doc's "ensemble" list (2..ENS_MAX_MEMBERS members, each a model name with a version
 * or an alias), loads and checks the members and publishes the ensemble as a new version of
 * `name`. 0 with *version set, or -1 after answering (400 naming the member and the mismatch,
 * or the store's error). doc borrowed. */
int models_ensemble_create(http_req *req, http_resp *resp, const char *name, json_t *doc,
                           int *version);

/* Shared by both forms of the import (api/models.c): the models and storage_bytes quotas of a
 * new version of `name` holding `bytes` of weights (server/quota.h), 0 or -1 after answering
 * the 429/507; and the answer to a failed publish: 403 naming the owner when the name became
 * someone else's since the route's rule was checked (MLP_ECONFLICT), else the error. */
int models_import_quota(http_req *req, http_resp *resp, const char *name, long long bytes);
void models_publish_fail(http_req *req, http_resp *resp, mlp_err rc, const mlp_error *err);

/* The "ensemble" member list of a version's meta, as the version object shows it: a new array
 * of {"model", "version"[, "alias"]}, or NULL when the version is not an ensemble. */
json_t *models_ensemble_refs(json_t *meta);

#endif
