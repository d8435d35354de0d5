/* runs.c — /api/v1/runs: create (validate, then server/runsvc.c stores, publishes and queues),
 * validate only, list, get, cancel, delete, metrics history. */
#include "config.h"
#include "events.h"
#include "guard.h"
#include "handlers.h"
#include "jsonout.h"
#include "problem.h"
#include "quota.h"
#include "runs.h"
#include "runsvc.h"
#include "runspec_api.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* The run object but its metrics (run_json appends those). */
static json_t *run_fields(const store_run *r)
{
    json_t *req = r->request_json ? json_loads(r->request_json, 0, NULL) : NULL;
    json_t *model = r->model_version ? json_pack("{s:s, s:i}", "name", r->model_name, "version",
                                                 r->model_version)
                                     : json_null();
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:i, s:i, s:f}, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o}",
        "id", r->id, "status", run_state_name(r->status), "task", r->task, "dataset_id",
        r->dataset_id, "model_name", r->model_name, "experiment", str_or_null(r->experiment),
        "params", req ? json_incref(json_object_get(req, "params")) : json_object(), "progress",
        "epoch", r->epoch, "epochs", r->epochs, "fraction",
        r->epochs ? (double)r->epoch / r->epochs : 0.0, "model", model, "error",
        str_or_null(r->error), "created_at", str_or_null(r->created_at), "started_at",
        str_or_null(r->started_at), "finished_at", str_or_null(r->finished_at), "target",
        req ? json_incref(json_object_get(req, "target")) : json_null(), "features",
        req ? json_incref(json_object_get(req, "features")) : json_null(), "validation",
        req ? json_incref(json_object_get(req, "validation")) : json_null());
    json_decref(req);
    json_object_set_new(o, "owner", json_string(r->owner));
    json_object_set_new(o, "cancel_requested", json_boolean(r->cancel_requested));
    if (r->status == RUN_QUEUED && r->wait_reason[0]) /* a quota holds it (server/quota.h) */
        json_object_set_new(o, "reason", json_string(r->wait_reason));
    json_object_set_new(o, "resumes", json_integer(r->resumes));
    json_object_set_new(o, "resumed_from_epoch",
                        r->resumes ? json_integer(r->resumed_from_epoch) : json_null());
    return o;
}

char *run_json(const store_run *r)
{
    char metrics[EVENTS_METRICS_JSON_MAX];
    size_t ml = events_metrics_json(metrics, sizeof metrics, &r->last);
    json_t *o = run_fields(r);
    char *fields = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    char *out = NULL;
    size_t fl = fields ? strlen(fields) : 0;
    if (!ml || fl < 2 || fields[fl - 1] != '}') goto done;
    static const char key[] = ",\"metrics\":";
    out = malloc(fl + sizeof key + ml + 1);
    if (!out) goto done;
    memcpy(out, fields, fl - 1); /* the fields without their closing brace */
    size_t n = fl - 1;
    memcpy(out + n, key, sizeof key - 1);
    n += sizeof key - 1;
    memcpy(out + n, metrics, ml);
    n += ml;
    out[n++] = '}';
    out[n] = '\0';
done:
    free(fields);
    return out;
}

/* Answers status with the run object of r. */
static void reply_run(http_resp *resp, int status, const store_run *r)
{
    char *s = run_json(r);
    if (!s) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    resp_take(resp, status, "application/json", s, strlen(s));
}

/* Threads a run may train with, each with OpenBLAS's packing buffers: every core when it trains
 * alone (server/cpusched.c shares them by the runs training); it only sizes the BLAS share of
 * the memory estimate. */
static int run_blas_threads(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu > 0 ? (int)ncpu : 1;
}

json_t *runs_check_body(http_req *req, http_resp *resp, json_t *body, runspec *rs, runspec_mem *mem)
{
    memset(rs, 0, sizeof *rs); /* "out:" clears it, also when runspec_parse never ran */
    json_t *norm = NULL;
    ds_table *cols = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    json_t *ds = json_object_get(body, "dataset_id");
    if (!ds || !json_is_string(ds)) {
        api_failf(req, resp, 400, "dataset_id", "dataset_id is required (a dataset id)");
        goto out;
    }
    store_dataset info;
    mlp_err rc = store_dataset_get(req->app->store, json_string_value(ds), &info, &cols);
    if (rc == MLP_OK && !guard_sees_dataset(req, &info)) rc = MLP_ENOTFOUND;
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, "dataset_id", "dataset_id: no dataset '%s'",
                  json_string_value(ds));
        goto out;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    rc = runspec_parse(body, cols, req->app->cfg->max_params, rs, &norm, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        goto out;
    }
    if (guard_may_publish(req, resp, rs->model_name, "model_name")) {
        json_decref(norm);
        norm = NULL;
        goto out;
    }
    store_dataset vinfo;
    memset(&vinfo, 0, sizeof vinfo);
    if (rs->val_dataset_id[0]) {
        ds_table *vcols = NULL;
        rc = store_dataset_get(req->app->store, rs->val_dataset_id, &vinfo, &vcols);
        if (rc == MLP_OK && !guard_sees_dataset(req, &vinfo)) {
            ds_table_free(vcols);
            vcols = NULL;
            rc = MLP_ENOTFOUND;
        }
        if (rc == MLP_ENOTFOUND) {
            api_failf(req, resp, 404, "validation.dataset_id",
                      "validation.dataset_id: no dataset '%s'", rs->val_dataset_id);
            json_decref(norm);
            norm = NULL;
            goto out;
        }
        if (rc) { /* a store error: answered here, or http.c would send a bare 500 */
            mlp_fail(&err, rc, "validation dataset %s could not be read: %s", rs->val_dataset_id,
                     mlp_strerror(rc));
            snprintf(err.field, sizeof err.field, "validation.dataset_id");
            api_fail(req, resp, rc, &err);
        }
        for (int i = 0; !rc && i < rs->n_targets; i++)
            if (ds_table_find(vcols, rs->targets[i]) < 0) {
                api_failf(req, resp, 400, "validation.dataset_id",
                          "validation dataset %s has no target column '%s'", rs->val_dataset_id,
                          rs->targets[i]);
                rc = MLP_EINVAL;
            }
        ds_table_free(vcols);
        if (rc) {
            json_decref(norm);
            norm = NULL;
            goto out;
        }
    }
    const config *cfg = req->app->cfg;
    rc = runspec_mem_estimate(rs, cols, vinfo.rows, vinfo.cols,
                              runspec_mem_limit(cfg->max_train_memory, cfg->workers),
                              run_blas_threads(), mem, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        json_decref(norm);
        norm = NULL;
        goto out;
    }
out:
    if (!norm) runspec_clear(rs);
    ds_table_free(cols);
    return norm;
}

/* runs_check_body on req's JSON body. */
static json_t *check_request(http_req *req, http_resp *resp, runspec *rs, runspec_mem *mem)
{
    memset(rs, 0, sizeof *rs);
    json_t *body = api_body_object(req, resp);
    if (!body) return NULL;
    json_t *norm = runs_check_body(req, resp, body, rs, mem);
    json_decref(body);
    return norm;
}

void runs_record(store_run *r, const runspec *rs, json_t *norm, long long owner_id)
{
    memset(r, 0, sizeof *r);
    r->status = RUN_QUEUED;
    snprintf(r->task, sizeof r->task, "%s", task_name(rs->task));
    snprintf(r->dataset_id, sizeof r->dataset_id, "%s", rs->dataset_id);
    snprintf(r->val_dataset_id, sizeof r->val_dataset_id, "%s", rs->val_dataset_id);
    snprintf(r->model_name, sizeof r->model_name, "%s", rs->model_name);
    json_t *ex = json_object_get(norm, "experiment");
    if (json_is_string(ex))
        snprintf(r->experiment, sizeof r->experiment, "%s", json_string_value(ex));
    r->epochs = rs->tp.epochs;
    r->owner_id = owner_id;
    r->request_json = json_dumps(norm, JSON_COMPACT | JSON_REAL_PRECISION(17));
}

void runs_validate(http_req *req, http_resp *resp)
{
    runspec rs;
    runspec_mem mem;
    json_t *norm = check_request(req, resp, &rs, &mem);
    if (!norm) return;
    runspec_clear(&rs);
    api_json(resp, 200,
             json_pack("{s:b, s:o, s:o}", "valid", 1, "request", norm, "train_memory",
                       runspec_mem_json(&mem)));
}

/* The owner's active_runs and models quotas, checked by the run's insert (server/quota.h). */
mlp_err runs_quota(http_req *req, long long owner, store_run_quota *q)
{
    quota_limits lim;
    if (!req->app->quota) return MLP_OK;
    mlp_err rc = quota_limits_of(req->app->quota, owner, &lim);
    if (rc) return rc;
    q->active_runs = lim.v[QUOTA_ACTIVE_RUNS];
    q->models = lim.v[QUOTA_MODELS];
    return MLP_OK;
}

void runs_create(http_req *req, http_resp *resp)
{
    runspec rs;
    runspec_mem mem;
    json_t *norm = check_request(req, resp, &rs, &mem);
    if (!norm) return;
    if (rs.priority_high && req->who.role < ROLE_STAFF) { /* server/fairq.h */
        api_failf(req, resp, 403, "params.priority",
                  "params.priority \"high\" is for staff and admin; you are a %s",
                  user_role_name(req->who.role));
        json_decref(norm);
        runspec_clear(&rs);
        return;
    }
    store_run r;
    runs_record(&r, &rs, norm, req->who.id);
    json_decref(norm);
    runspec_clear(&rs);
    if (!r.request_json) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    mlp_error err;
    mlp_error_clear(&err);
    store_run_quota q = {0, 0};
    mlp_err rc = runs_quota(req, r.owner_id, &q);
    if (!rc)
        rc = runsvc_submit_quota(req->app->store, req->app->jobs, req->app->events, &r,
                                 req->app->cfg->max_queued_runs, &q, &err);
    store_run_clear(&r);
    if (rc) {
        api_fail(req, resp, rc, &err);
        if (rc == MLP_EBUSY) resp->retry_after = 30;
        return;
    }
    store_run cur;
    memset(&cur, 0, sizeof cur);
    rc = store_run_get(req->app->store, r.id, &cur);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    guard_audit(
        req, "run.create", "runs", cur.id,
        json_pack("{s:s, s:s}", "model_name", cur.model_name, "dataset_id", cur.dataset_id));
    snprintf(resp->location, sizeof resp->location, "/api/v1/runs/%s", cur.id);
    reply_run(resp, 202, &cur);
    store_run_clear(&cur);
}

void runs_list(http_req *req, http_resp *resp)
{
    int limit, offset;
    if (api_paging(req, resp, &limit, &offset)) return;
    const char *st = http_query(req, "status");
    run_state state;
    if (st && run_state_parse(st, &state) != MLP_OK) {
        api_failf(req, resp, 400, "status",
                  "status must be one of: queued, running, succeeded, failed, cancelled");
        return;
    }
    store_run *items = NULL;
    int n = 0;
    long total = 0;
    store_view view = guard_view(req);
    mlp_err rc = store_run_list_for(req->app->store, &view, st ? &state : NULL,
                                    http_query(req, "experiment"), http_query(req, "model_name"),
                                    limit, offset, &items, &n, &total);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    /* {"items":[run,...],"total":N}, each run as run_json renders it */
    char **txt = calloc((size_t)n + 1, sizeof *txt);
    size_t cap = 64;
    for (int i = 0; txt && i < n; i++) {
        if (!(txt[i] = run_json(&items[i]))) break;
        cap += strlen(txt[i]) + 1;
    }
    store_runs_free(items, n);
    char *body = txt && (n == 0 || txt[n - 1]) ? malloc(cap) : NULL;
    if (body) {
        size_t len = (size_t)snprintf(body, cap, "{\"items\":[");
        for (int i = 0; i < n; i++) {
            size_t l = strlen(txt[i]);
            if (i) body[len++] = ',';
            memcpy(body + len, txt[i], l);
            len += l;
        }
        snprintf(body + len, cap - len, "],\"total\":%ld}", total);
    }
    for (int i = 0; txt && i < n; i++) free(txt[i]);
    free(txt);
    if (!body) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    resp_take(resp, 200, "application/json", body, strlen(body));
}

int runs_load(http_req *req, http_resp *resp, store_run *r)
{
    const char *id = route_param(&req->m, "id");
    memset(r, 0, sizeof *r);
    mlp_err rc = store_run_get(req->app->store, id, r);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "no run '%s'", id);
        return -1;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    return 0;
}

void runs_get(http_req *req, http_resp *resp)
{
    store_run r;
    if (runs_load(req, resp, &r)) return;
    reply_run(resp, 200, &r);
    store_run_clear(&r);
}

void runs_cancel(http_req *req, http_resp *resp)
{
    store_run r;
    if (runs_load(req, resp, &r)) return;
    if (r.status != RUN_QUEUED && r.status != RUN_RUNNING) {
        api_failf(req, resp, 409, NULL, "run %s is already %s", r.id, run_state_name(r.status));
        store_run_clear(&r);
        return;
    }
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = runsvc_cancel(req->app->jobs, r.id, &err);
    if (rc) {
        store_run_clear(&r);
        api_fail(req, resp, rc, &err);
        return;
    }
    guard_audit(req, "run.cancel", "runs", r.id,
                json_pack("{s:s}", "was", run_state_name(r.status)));
    store_run_clear(&r);
    if (runs_load(req, resp, &r)) return;
    snprintf(resp->location, sizeof resp->location, "/api/v1/runs/%s", r.id);
    reply_run(resp, 202, &r);
    store_run_clear(&r);
}

void runs_delete(http_req *req, http_resp *resp)
{
    store_run r;
    if (runs_load(req, resp, &r)) return;
    mlp_err rc = store_run_delete(req->app->store, r.id);
    if (rc == MLP_ECONFLICT)
        api_failf(req, resp, 409, NULL, "run %s is %s; cancel it or wait until it finishes", r.id,
                  run_state_name(r.status));
    else if (rc)
        api_fail(req, resp, rc, NULL);
    else {
        guard_audit(req, "run.delete", "runs", r.id,
                    json_pack("{s:s}", "status", run_state_name(r.status)));
        resp_take(resp, 204, NULL, NULL, 0);
    }
    store_run_clear(&r);
}

void runs_metrics(http_req *req, http_resp *resp)
{
    store_run r;
    if (runs_load(req, resp, &r)) return;
    store_run_clear(&r);
    const char *name = http_query(req, "name");
    metric_id mid;
    if (name && metric_parse(name, &mid) != MLP_OK) {
        api_failf(req, resp, 400, "name",
                  "name must be one of: train_loss, val_loss, val_accuracy, val_r2, "
                  "learning_rate, epoch_seconds, or a per-layer metric grad_norm.l<i>, "
                  "update_ratio.l<i>, dead.l<i> or saturated.l<i> (i from 0 to 32)");
        return;
    }
    store_metric *pts = NULL;
    int n = 0;
    mlp_err rc = store_run_metrics(req->app->store, r.id, name ? &mid : NULL, 0, &pts, &n);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    /* {"metrics":[{"name":..,"step":..,"value":..,"timestamp":..},...]}, each value printed by
     * the metrics renderer (events_metric_number); a non-finite value is left out. */
    size_t per = 128 + JO_STR_MAX(sizeof pts[0].timestamp);
    char *body = malloc(32 + (size_t)n * per);
    char *o = body;
    if (o) o = JO_LIT(o, "{\"metrics\":[");
    for (int i = 0; o && i < n; i++) {
        char num[32];
        size_t nl =
            isfinite(pts[i].value) ? events_metric_number(num, sizeof num, pts[i].value) : 0;
        if (!nl) continue;
        if (o[-1] == '}') *o++ = ',';
        o += sprintf(o, "{\"name\":\"%s\",\"step\":%d,\"value\":", metric_name(pts[i].name),
                     pts[i].step);
        o = jo_raw(o, num, nl);
        o = JO_LIT(o, ",\"timestamp\":");
        o = jo_str(o, pts[i].timestamp);
        *o++ = '}';
    }
    free(pts);
    if (!o) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    o = JO_LIT(o, "]}");
    *o = '\0';
    resp_take(resp, 200, "application/json", body, (size_t)(o - body));
}
