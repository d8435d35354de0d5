/* guard.c — enforcement of the per-route rules (see guard.h; the rules are server/access.h). */
#include "guard.h"

#include "audit.h"
#include "infer_tfs.h"
#include "problem.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *guard_rule_name(route_rule r)
{
    static const char *const names[RULE_COUNT] = {
        [RULE_MISSING] = "missing",
        [RULE_OPEN] = "open",
        [RULE_LIST] = "list",
        [RULE_USER] = "user",
        [RULE_STAFF] = "staff",
        [RULE_ADMIN] = "admin",
        [RULE_DATASET_SEE] = "dataset-see",
        [RULE_DATASET_ROWS] = "dataset-rows",
        [RULE_DATASET_CHANGE] = "dataset-change",
        [RULE_RUN_SEE] = "run-see",
        [RULE_RUN_CHANGE] = "run-change",
        [RULE_MODEL_SEE] = "model-see",
        [RULE_MODEL_CHANGE] = "model-change",
        [RULE_MODEL_PUBLISH] = "model-publish",
        [RULE_SWEEP_SEE] = "sweep-see",
        [RULE_SWEEP_CHANGE] = "sweep-change",
    };
    return (int)r >= 0 && (int)r < RULE_COUNT && names[r] ? names[r] : "missing";
}

store_view guard_view(http_req *req)
{
    store_view v = {&req->who, http_query(req, "owner")};
    return v;
}

int guard_sees_dataset(const http_req *req, const store_dataset *d)
{
    return access_see(&req->who, d->owner_id, d->vis) == ACCESS_OK;
}

/* 0 when model `name` does not exist or the caller may change it; else answers 403 naming the
 * owner ("only its owner, staff or admin may <what>", rule), or the store's error, and returns
 * -1. A model the caller may not see is refused by its owner's name too: names are global, so
 * publishing to it could never succeed, and a sweep's owner knows the name its runs used. */
static int may_change_model(http_req *req, http_resp *resp, const char *name, const char *field,
                            const char *what, route_rule rule)
{
    store_access a;
    mlp_err rc = store_model_access(req->app->store, name, &a);
    if (rc == MLP_ENOTFOUND) return 0;
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    if (access_change(&req->who, a.owner_id, VIS_PUBLIC) == ACCESS_OK) return 0;
    api_failf(req, resp, 403, field,
              "model '%s' is owned by user '%s': only its owner, staff or admin may %s (rule: %s)",
              name, a.owner, what, guard_rule_name(rule));
    return -1;
}

int guard_may_publish(http_req *req, http_resp *resp, const char *name, const char *field)
{
    if (!name || !*name) return 0;
    return may_change_model(req, resp, name, field, "publish versions to it", RULE_MODEL_PUBLISH);
}

int guard_sees_run(http_req *req, const char *id)
{
    store_access run, model;
    int has_model = 0;
    if (access_sees_all(&req->who)) return 1;
    if (store_run_access(req->app->store, id, &run, &has_model, &model) != MLP_OK) return 0;
    return access_run(&req->who, run.owner_id, has_model, model.owner_id, model.vis, 0) ==
           ACCESS_OK;
}

/* Answers 404 (hidden, or absent) or 403 (denied, `denied` saying who may) for verdict v on the
 * `kind` ("dataset") named id, owned by user `owner`, naming the route's rule. 0 for ACCESS_OK,
 * else -1. */
static int answer(http_req *req, http_resp *resp, access_verdict v, const char *kind,
                  const char *id, const char *owner, const char *denied)
{
    const char *rule = guard_rule_name(req->m.rt->rule);
    if (v == ACCESS_OK) return 0;
    if (v == ACCESS_HIDDEN)
        api_failf(req, resp, 404, NULL, "no %s '%s' (or none you may see: rule %s)", kind, id,
                  rule);
    else
        api_failf(req, resp, 403, NULL, "%s '%s' is owned by user '%s': %s (rule %s)", kind, id,
                  owner, denied, rule);
    return -1;
}

static const char only_owner[] = "only its owner, staff or admin may change it";

static int check_dataset(http_req *req, http_resp *resp, route_rule rule)
{
    const char *id = route_param(&req->m, "id");
    store_access a;
    mlp_err rc = store_dataset_access(req->app->store, id, &a);
    if (rc == MLP_ENOTFOUND) return answer(req, resp, ACCESS_HIDDEN, "dataset", id, "", "");
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    access_verdict v;
    const char *why = only_owner;
    if (rule == RULE_DATASET_SEE)
        v = access_see(&req->who, a.owner_id, a.vis);
    else if (rule == RULE_DATASET_ROWS) {
        v = access_rows(&req->who, a.owner_id, a.vis, a.rows_visible);
        why = "its rows are not shared (rows_visible is false), so only its owner, staff or "
              "admin may read them";
    } else
        v = access_change(&req->who, a.owner_id, a.vis);
    return answer(req, resp, v, "dataset", id, a.owner, why);
}

static int check_run(http_req *req, http_resp *resp, int change)
{
    const char *id = route_param(&req->m, "id");
    store_access run, model;
    int has_model = 0;
    mlp_err rc = store_run_access(req->app->store, id, &run, &has_model, &model);
    if (rc == MLP_ENOTFOUND) return answer(req, resp, ACCESS_HIDDEN, "run", id, "", "");
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    access_verdict v =
        access_run(&req->who, run.owner_id, has_model, model.owner_id, model.vis, change);
    return answer(req, resp, v, "run", id, run.owner, only_owner);
}

static int check_model(http_req *req, http_resp *resp, route_rule rule)
{
    const char *name = route_param(&req->m, "name");
    if (!name || !api_name_ok(name)) return 0; /* the handler's 400 */
    if (rule == RULE_MODEL_PUBLISH) return guard_may_publish(req, resp, name, NULL);
    store_access a;
    mlp_err rc = store_model_access(req->app->store, name, &a);
    if (rc && rc != MLP_ENOTFOUND) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    access_verdict v = rc == MLP_ENOTFOUND      ? ACCESS_HIDDEN
                       : rule == RULE_MODEL_SEE ? access_see(&req->who, a.owner_id, a.vis)
                                                : access_change(&req->who, a.owner_id, a.vis);
    if (v == ACCESS_HIDDEN) {
        /* One answer, in the route family's style, for a model that does not exist and one the
         * caller may not see (the handlers' own 404s name versions and aliases, which would
         * tell the two apart). */
        if (req->m.rt->family == FAM_TFS)
            tfs_not_found(req, resp, name);
        else
            api_failf(req, resp, 404, NULL, "no model named '%s'", name);
        return -1;
    }
    return answer(req, resp, v, "model", name, a.owner, only_owner);
}

static int check_sweep(http_req *req, http_resp *resp)
{
    const char *id = route_param(&req->m, "id");
    store_access a;
    mlp_err rc = store_sweep_access(req->app->store, id, &a);
    if (rc == MLP_ENOTFOUND) return answer(req, resp, ACCESS_HIDDEN, "sweep", id, "", "");
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    return answer(req, resp, access_sweep(&req->who, a.owner_id), "sweep", id, a.owner, only_owner);
}

int guard_may_move_alias(http_req *req, http_resp *resp, const char *name)
{
    return may_change_model(req, resp, name, NULL, "move its aliases", RULE_MODEL_CHANGE);
}

int guard_check(http_req *req, http_resp *resp)
{
    route_rule rule = req->m.rt->rule;
    assert(rule != RULE_MISSING);
    if (rule == RULE_OPEN || rule == RULE_LIST) return 0;
    if (rule == RULE_ADMIN ? req->who.role >= ROLE_ADMIN : access_sees_all(&req->who)) return 0;
    switch (rule) {
    case RULE_USER:
    case RULE_STAFF:
    case RULE_ADMIN: {
        user_role need = rule == RULE_USER    ? ROLE_STUDENT
                         : rule == RULE_STAFF ? ROLE_STAFF
                                              : ROLE_ADMIN;
        if (access_role(&req->who, need) == ACCESS_OK) return 0;
        if (req->who.role == ROLE_NONE) {
            api_failf(req, resp, 401, NULL, "this route needs the key of a %s user (rule %s)",
                      user_role_name(need), guard_rule_name(rule));
            resp->www_authenticate = "Bearer realm=\"mlpd\"";
        } else {
            api_failf(req, resp, 403, NULL,
                      "this route is for %s users and above; you are %s "
                      "(rule %s)",
                      user_role_name(need), user_role_name(req->who.role), guard_rule_name(rule));
        }
        return -1;
    }
    case RULE_DATASET_SEE:
    case RULE_DATASET_ROWS:
    case RULE_DATASET_CHANGE:
        return check_dataset(req, resp, rule);
    case RULE_RUN_SEE:
    case RULE_RUN_CHANGE:
        return check_run(req, resp, rule == RULE_RUN_CHANGE);
    case RULE_MODEL_SEE:
    case RULE_MODEL_CHANGE:
    case RULE_MODEL_PUBLISH:
        return check_model(req, resp, rule);
    case RULE_SWEEP_SEE:
    case RULE_SWEEP_CHANGE:
        return check_sweep(req, resp);
    case RULE_MISSING:
    case RULE_OPEN:
    case RULE_LIST:
        break;
    }
    api_failf(req, resp, 500, NULL, "route %s %s has no access rule", req->m.rt->method,
              req->m.rt->pattern);
    return -1;
}

void guard_audit_patch(http_req *req, const char *action, const char *kind, const char *id,
                       json_t *body)
{
    char res[160];
    snprintf(res, sizeof res, "%s/%s", kind, id);
    char *detail = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    audit_record(req->app, &req->who, action, res, detail);
    free(detail);
}

void guard_audit(http_req *req, const char *action, const char *kind, const char *id,
                 json_t *detail)
{
    guard_audit_patch(req, action, kind, id, detail); /* json_dumps(NULL): NULL, recorded as {} */
    json_decref(detail);
}
