/* models_ensemble.c — making an ensemble version from published versions (models_ensemble.h). */
#include "models_ensemble.h"

#include "ensemble.h"
#include "guard.h"
#include "handlers.h"
#include "problem.h"
#include "quota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads item i of the list into r: 0, or -1 after a 400 naming ensemble[i]. */
static int read_ref(http_req *req, http_resp *resp, json_t *it, int i, ens_ref *r)
{
    char field[64];
    snprintf(field, sizeof field, "ensemble[%d]", i);
    json_t *mo = json_object_get(it, "model"), *v = json_object_get(it, "version"),
           *al = json_object_get(it, "alias");
    if (!json_is_object(it) || !json_is_string(mo) || !api_name_ok(json_string_value(mo))) {
        api_failf(req, resp, 400, field,
                  "%s must be an object with a model name ([A-Za-z0-9][A-Za-z0-9._-]{0,63}) and "
                  "a version or an alias",
                  field);
        return -1;
    }
    if (!v == !al) {
        api_failf(req, resp, 400, field, "%s needs exactly one of version and alias", field);
        return -1;
    }
    if (v &&
        (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000)) {
        api_failf(req, resp, 400, field, "%s.version must be a whole number >= 1", field);
        return -1;
    }
    if (al && (!json_is_string(al) || !api_name_ok(json_string_value(al)))) {
        api_failf(req, resp, 400, field, "%s.alias must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                  field);
        return -1;
    }
    snprintf(r->model, sizeof r->model, "%s", json_string_value(mo));
    r->version = v ? (int)json_integer_value(v) : 0;
    snprintf(r->alias, sizeof r->alias, "%s", al ? json_string_value(al) : "");
    return 0;
}

static json_t *strs_json(char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_string(v[i]));
    return a;
}

int models_ensemble_create(http_req *req, http_resp *resp, const char *name, json_t *doc,
                           int *version)
{
    json_t *list = json_object_get(doc, "ensemble");
    if (!json_is_array(list) || json_array_size(list) < 2 ||
        json_array_size(list) > ENS_MAX_MEMBERS) {
        api_failf(req, resp, 400, "ensemble", "ensemble must be a list of 2 to %d members",
                  ENS_MAX_MEMBERS);
        return -1;
    }
    ens_members m;
    memset(&m, 0, sizeof m);
    m.k = (int)json_array_size(list);
    for (int i = 0; i < m.k; i++)
        if (read_ref(req, resp, json_array_get(list, (size_t)i), i, &m.ref[i])) return -1;
    int ret = -1;
    char *meta_s = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = ens_members_load(req->app->store, &m, &err);
    if (rc == MLP_ENOTFOUND || rc == MLP_EINVAL) {
        api_failf(req, resp, 400, err.field, "%s", err.msg);
        goto out;
    }
    if (rc) {
        api_fail(req, resp, rc, &err);
        goto out;
    }
    /* A member the caller may not see is answered as one that does not exist. */
    for (int i = 0; i < m.k; i++) {
        store_access a;
        rc = store_model_access(req->app->store, m.ref[i].model, &a);
        if (rc == MLP_OK && access_see(&req->who, a.owner_id, a.vis) != ACCESS_OK)
            rc = MLP_ENOTFOUND;
        if (rc == MLP_ENOTFOUND) { /* word for word what ens_members_load says of no model */
            char field[24];
            snprintf(field, sizeof field, "ensemble[%d]", i);
            if (m.ref[i].alias[0])
                api_failf(req, resp, 400, field, "%s: model '%s' has no alias '%s'", field,
                          m.ref[i].model, m.ref[i].alias);
            else
                api_failf(req, resp, 400, field, "%s: model '%s' has no version %d", field,
                          m.ref[i].model, m.ref[i].version);
            goto out;
        }
        if (rc) {
            api_fail(req, resp, rc, NULL);
            goto out;
        }
    }
    long long bytes = 0;
    for (int i = 0; i < m.k; i++)
        bytes += (long long)net_spec_param_count(net_get_spec(m.b[i]->net)) * 4;
    if (models_import_quota(req, resp, name, bytes)) goto out;
    json_t *refs = json_array();
    for (int i = 0; i < m.k; i++) {
        json_t *r = json_pack("{s:s, s:i}", "model", m.ref[i].model, "version", m.ref[i].version);
        if (r && m.ref[i].alias[0]) json_object_set_new(r, "alias", json_string(m.ref[i].alias));
        json_array_append_new(refs, r);
    }
    const model_bundle *b0 = m.b[0];
    json_t *meta = json_pack(
        "{s:o, s:o, s:n, s:n, s:o}", "feature_names", strs_json(b0->features, b0->n_features),
        "labels", strs_json(b0->labels, b0->n_labels), "metrics", "params", "ensemble", refs);
    meta_s = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!meta_s) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    net *nets[ENS_MAX_MEMBERS];
    for (int i = 0; i < m.k; i++) nets[i] = m.b[i]->net;
    mlp_error_clear(&err);
    rc = ens_publish(req->app->store, req->app->reg, req->who.id, name, nets, m.k, b0->n_features,
                     b0->features, b0->n_labels, b0->labels, meta_s, version, &err);
    if (rc) {
        models_publish_fail(req, resp, rc, &err);
        goto out;
    }
    ret = 0;
out:
    free(meta_s);
    ens_members_clear(&m);
    return ret;
}

json_t *models_ensemble_refs(json_t *meta)
{
    json_t *e = meta ? json_object_get(meta, "ensemble") : NULL;
    return json_is_array(e) ? json_incref(e) : NULL;
}

int models_import_quota(http_req *req, http_resp *resp, const char *name, long long bytes)
{
    if (!req->app->quota) return 0;
    mlp_error qerr;
    mlp_error_clear(&qerr);
    mlp_err rc = quota_check_import(req->app->quota, req->who.id, name, bytes, &qerr);
    if (!rc) return 0;
    api_fail(req, resp, rc, &qerr);
    return -1;
}

void models_publish_fail(http_req *req, http_resp *resp, mlp_err rc, const mlp_error *err)
{
    if (rc == MLP_ECONFLICT && err && err->msg[0]) /* the name became someone else's */
        api_failf(req, resp, 403, NULL, "%s (rule %s)", err->msg,
                  guard_rule_name(RULE_MODEL_PUBLISH));
    else
        api_fail(req, resp, rc, err);
}
