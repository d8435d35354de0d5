/* sweeps.c — /api/v1/sweeps: create (expand with sweepgen.c, check every run as POST /runs does,
 * then server/sweep.c stores and queues them all or none, within the caller's active_runs
 * quota), list (what the caller may see), get (the runs best first),
 * plot.svg (their validation curves overlaid), :promote (an alias to the best finished run's
 * version) and delete (cancels the unfinished runs; finished runs stay).
 *
 * Class mode: a sweep and its runs are owned by the caller who created it; api/guard.c lets only
 * its owner, staff and admin read, delete or promote it (server/access.h, access_sweep), and
 * :promote also needs the right to move the model's aliases.
 *
 * "Best" everywhere is the lowest best_val_loss (the lowest val_loss of any epoch); runs
 * without one come last, in generation order, and ties keep generation order.
 * Threading: handlers are reentrant; everything is per request. */
#include "config.h"
#include "guard.h"
#include "handlers.h"
#include "modelsvc.h"
#include "plot.h"
#include "problem.h"
#include "runs.h"
#include "runsvc.h"
#include "store.h"
#include "sweep.h"
#include "sweepgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One run of a loaded sweep: its link (borrowed from the sweep) and the run itself. */
typedef struct {
    const store_sweep_run *link;
    store_run run;
    int idx; /* generation order */
} sweep_row;

typedef struct {
    store_sweep sw;
    sweep_row *rows; /* best first */
    int n;
    json_t *req; /* the stored request, parsed */
} loaded;

static void loaded_clear(loaded *l)
{
    for (int i = 0; l->rows && i < l->n; i++) store_run_clear(&l->rows[i].run);
    free(l->rows);
    store_sweep_clear(&l->sw);
    json_decref(l->req);
    memset(l, 0, sizeof *l);
}

static int row_cmp(const void *a, const void *b)
{
    const sweep_row *x = a, *y = b;
    double u = x->link->best_val_loss, v = y->link->best_val_loss;
    int ux = isnan(u), vy = isnan(v);
    if (ux != vy) return ux - vy;
    if (!ux && u != v) return u < v ? -1 : 1;
    return x->idx - y->idx;
}

/* Loads sweep id with its runs sorted best first. MLP_ENOTFOUND, or the store's error. */
static mlp_err load_sweep(store *st, const char *id, loaded *l)
{
    memset(l, 0, sizeof *l);
    mlp_err rc = store_sweep_get(st, id, &l->sw);
    if (rc) return rc;
    l->req = json_loads(l->sw.request_json, 0, NULL);
    l->rows = calloc((size_t)l->sw.n_runs + 1, sizeof *l->rows);
    if (!l->req || !l->rows) {
        loaded_clear(l);
        return MLP_ENOMEM;
    }
    for (int i = 0; i < l->sw.n_runs; i++) {
        l->rows[l->n].link = &l->sw.runs[i];
        l->rows[l->n].idx = i;
        rc = store_run_get(st, l->sw.runs[i].run_id, &l->rows[l->n].run);
        if (rc == MLP_ENOTFOUND) continue; /* deleted since the link was read */
        if (rc) {
            loaded_clear(l);
            return rc;
        }
        l->n++;
    }
    qsort(l->rows, (size_t)l->n, sizeof *l->rows, row_cmp);
    return MLP_OK;
}

/* Answers the error of load_sweep for the path's {id}. */
static int load_or_fail(http_req *req, http_resp *resp, loaded *l)
{
    const char *id = route_param(&req->m, "id");
    mlp_err rc = load_sweep(req->app->store, id, l);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "no sweep '%s'", id);
        return -1;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    return 0;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* o[key] (a new reference), or JSON null when absent. */
static json_t *get_or_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? json_incref(v) : json_null();
}

/* The best finished run (succeeded, with a model version), or NULL. */
static const sweep_row *best_finished(const loaded *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->rows[i].run.status == RUN_SUCCEEDED && l->rows[i].run.model_version > 0)
            return &l->rows[i];
    return NULL;
}

static json_t *sweep_json(const loaded *l)
{
    json_t *runs = json_array();
    int counts[5] = {0};
    for (int i = 0; runs && i < l->n; i++) {
        const sweep_row *r = &l->rows[i];
        json_t *params = json_loads(r->link->params_json, 0, NULL);
        json_t *model = r->run.model_version ? json_pack("{s:s, s:i}", "name", r->run.model_name,
                                                         "version", r->run.model_version)
                                             : json_null();
        json_array_append_new(
            runs, json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:i, s:o, s:o, s:b}", "run_id",
                            r->run.id, "status", run_state_name(r->run.status), "params",
                            params ? params : json_object(), "best_val_loss",
                            num_or_null(r->link->best_val_loss), "best_val_accuracy",
                            num_or_null(r->link->best_val_acc), "epoch", r->run.epoch, "epochs",
                            r->run.epochs, "model", model, "error",
                            r->run.error ? json_string(r->run.error) : json_null(), "pruned",
                            r->link->pruned != NULL));
        if ((int)r->run.status >= 0 && (int)r->run.status < 5) counts[r->run.status]++;
    }
    int unfinished = counts[RUN_QUEUED] + counts[RUN_RUNNING];
    const char *status = l->n && counts[RUN_QUEUED] == l->n ? "queued"
                         : unfinished                       ? "running"
                                                            : "finished";
    const sweep_row *best = best_finished(l);
    json_t *grid = json_object_get(l->req, "grid");
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:i, s:i, s:i, s:i, s:i}, "
        "s:o, s:o}",
        "id", l->sw.id, "status", status, "owner", l->sw.owner, "created_at", l->sw.created_at,
        "search", grid ? "grid" : "random", "space", get_or_null(l->req, grid ? "grid" : "random"),
        "varying", get_or_null(l->req, "varying"), "budget", get_or_null(l->req, "budget"), "seed",
        get_or_null(l->req, "seed"), "early_stopping", get_or_null(l->req, "early_stopping"),
        "model_name", get_or_null(l->req, "model_name"), "counts", "queued", counts[RUN_QUEUED],
        "running", counts[RUN_RUNNING], "succeeded", counts[RUN_SUCCEEDED], "failed",
        counts[RUN_FAILED], "cancelled", counts[RUN_CANCELLED], "best_run_id",
        best ? json_string(best->run.id) : json_null(), "runs", runs);
    return o;
}

static void reply_sweep(http_resp *resp, int status, const loaded *l)
{
    json_t *o = sweep_json(l);
    if (!o) {
        resp_text(resp, 503, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    api_json(resp, status, o);
}

/* Answers run i's validation error (in sub, from runs_check_body) naming the combination. */
static void relay_run_error(http_req *req, http_resp *resp, http_resp *sub, int i, int n,
                            json_t *params)
{
    json_t *p = sub->body ? json_loadb(sub->body, sub->len, 0, NULL) : NULL;
    const char *detail = json_string_value(json_object_get(p, "detail"));
    const char *field = json_string_value(
        json_object_get(json_array_get(json_object_get(p, "errors"), 0), "field"));
    char txt[400];
    sweep_params_text(params, txt, sizeof txt);
    if (detail)
        api_failf(req, resp, sub->status, field, "sweep run %d of %d (%s): %s; nothing was queued",
                  i + 1, n, txt, detail);
    else
        api_failf(req, resp, sub->status ? sub->status : 400, field,
                  "sweep run %d of %d (%s) is not a valid run; nothing was queued", i + 1, n, txt);
    json_decref(p);
}

void sweeps_create(http_req *req, http_resp *resp)
{
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    sweep_plan plan;
    mlp_error err;
    mlp_error_clear(&err);
    store_run *runs = NULL;
    char **pj = NULL;
    store_sweep sw;
    memset(&sw, 0, sizeof sw);
    loaded l;
    memset(&l, 0, sizeof l);
    mlp_err rc = sweep_expand(body, &plan, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        goto out;
    }
    runs = calloc((size_t)plan.n, sizeof *runs);
    pj = calloc((size_t)plan.n, sizeof *pj);
    if (!runs || !pj) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    /* Every run is checked before anything is stored: one bad combination refuses them all. */
    for (int i = 0; i < plan.n; i++) {
        runspec rs;
        runspec_mem mem;
        http_resp sub;
        memset(&sub, 0, sizeof sub);
        json_t *norm = runs_check_body(req, &sub, plan.runs[i], &rs, &mem);
        if (!norm) {
            relay_run_error(req, resp, &sub, i, plan.n, plan.params[i]);
            if (!sub.body_conn) free(sub.body);
            goto out;
        }
        if (rs.priority_high && req->who.role < ROLE_STAFF) { /* as POST /runs: server/fairq.h */
            api_failf(req, resp, 403, "params.priority",
                      "params.priority \"high\" is for staff and admin; you are a %s",
                      user_role_name(req->who.role));
            json_decref(norm);
            runspec_clear(&rs);
            goto out;
        }
        runs_record(&runs[i], &rs, norm, req->who.id);
        json_decref(norm);
        runspec_clear(&rs);
        pj[i] = json_dumps(plan.params[i], JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!runs[i].request_json || !pj[i]) {
            api_fail(req, resp, MLP_ENOMEM, NULL);
            goto out;
        }
    }
    /* What the sweep keeps: the request with what was filled in. */
    json_object_set(body, "varying", plan.varying);
    json_object_set_new(body, "budget", json_integer(plan.n));
    if (json_object_get(body, "random") && !json_object_get(body, "seed"))
        json_object_set_new(body, "seed", json_integer(1));
    sw.request_json = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(17));
    sw.rung = plan.rung;
    sw.owner_id = req->who.id;
    if (!sw.request_json) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    store_run_quota q = {0, 0};
    rc = runs_quota(req, sw.owner_id, &q);
    if (!rc)
        rc = sweep_submit(req->app->store, req->app->jobs, req->app->events, &sw, runs, pj, plan.n,
                          req->app->cfg->max_queued_runs, &q, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        if (rc == MLP_EBUSY) resp->retry_after = 30;
        goto out;
    }
    guard_audit(req, "sweep.create", "sweeps", sw.id, json_pack("{s:i}", "runs", plan.n));
    rc = load_sweep(req->app->store, sw.id, &l);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    snprintf(resp->location, sizeof resp->location, "/api/v1/sweeps/%s", sw.id);
    reply_sweep(resp, 201, &l);
out:
    loaded_clear(&l);
    free(sw.request_json);
    for (int i = 0; runs && i < plan.n; i++) store_run_clear(&runs[i]);
    for (int i = 0; pj && i < plan.n; i++) free(pj[i]);
    free(runs);
    free(pj);
    sweep_plan_clear(&plan);
    json_decref(body);
}

void sweeps_list(http_req *req, http_resp *resp)
{
    int limit, offset;
    if (api_paging(req, resp, &limit, &offset)) return;
    store_sweep *items = NULL;
    int n = 0;
    long total = 0;
    store_view view = guard_view(req);
    mlp_err rc = store_sweep_list_for(req->app->store, &view, limit, offset, &items, &n, &total);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; !rc && i < n; i++) {
        loaded l;
        rc = load_sweep(req->app->store, items[i].id, &l);
        if (rc == MLP_ENOTFOUND) { /* deleted meanwhile */
            rc = MLP_OK;
            continue;
        }
        if (!rc) json_array_append_new(arr, sweep_json(&l));
        loaded_clear(&l);
    }
    store_sweeps_free(items, n);
    if (rc) {
        json_decref(arr);
        api_fail(req, resp, rc, NULL);
        return;
    }
    api_json(resp, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
}

void sweeps_get(http_req *req, http_resp *resp)
{
    loaded l;
    if (load_or_fail(req, resp, &l)) return;
    reply_sweep(resp, 200, &l);
    loaded_clear(&l);
}

void sweeps_delete(http_req *req, http_resp *resp)
{
    loaded l;
    if (load_or_fail(req, resp, &l)) return;
    mlp_err rc = MLP_OK;
    mlp_error err;
    mlp_error_clear(&err);
    for (int i = 0; !rc && i < l.n; i++) {
        if (l.rows[i].run.status != RUN_QUEUED && l.rows[i].run.status != RUN_RUNNING) continue;
        rc = runsvc_cancel(req->app->jobs, l.rows[i].run.id, &err);
        if (rc == MLP_ECONFLICT || rc == MLP_ENOTFOUND)
            rc = MLP_OK; /* ended or deleted meanwhile */
    }
    if (!rc) rc = store_sweep_delete(req->app->store, l.sw.id);
    if (rc == MLP_ENOTFOUND)
        api_failf(req, resp, 404, NULL, "no sweep '%s'", l.sw.id);
    else if (rc)
        api_fail(req, resp, rc, &err);
    else {
        guard_audit(req, "sweep.delete", "sweeps", l.sw.id, json_pack("{s:i}", "runs", l.n));
        resp_take(resp, 204, NULL, NULL, 0);
    }
    loaded_clear(&l);
}

void sweeps_plot(http_req *req, http_resp *resp)
{
    loaded l;
    if (load_or_fail(req, resp, &l)) return;
    int n = l.n < PLOT_MAX_RUNS ? l.n : PLOT_MAX_RUNS;
    store_run runs[PLOT_MAX_RUNS];
    char labels[PLOT_MAX_RUNS][160];
    char *lab[PLOT_MAX_RUNS];
    for (int i = 0; i < n; i++) {
        json_t *params = json_loads(l.rows[i].link->params_json, 0, NULL);
        char txt[140];
        sweep_params_text(params, txt, sizeof txt);
        json_decref(params);
        snprintf(labels[i], sizeof labels[i], "%s%s", txt,
                 l.rows[i].link->pruned ? " (pruned)" : "");
        lab[i] = labels[i];
        runs[i] = l.rows[i].run; /* borrowed: l owns them */
    }
    char title[128], caption[256];
    snprintf(title, sizeof title, "Sweep %s: validation loss", l.sw.id);
    if (l.n > n)
        snprintf(caption, sizeof caption, "the best %d of %d runs, by best validation loss", n,
                 l.n);
    else
        snprintf(caption, sizeof caption, "%d runs, one line each, labelled by the params varied",
                 l.n);
    plot_overlay(req, resp, runs, lab, n, title, caption);
    loaded_clear(&l);
}

void sweeps_promote(http_req *req, http_resp *resp)
{
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    loaded l;
    memset(&l, 0, sizeof l);
    json_t *ja = json_object_get(body, "alias");
    const char *alias = json_is_string(ja) ? json_string_value(ja) : NULL;
    if (!alias || !api_name_ok(alias)) {
        api_failf(req, resp, 400, "alias",
                  "alias is required and must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        goto out;
    }
    if (load_or_fail(req, resp, &l)) goto out;
    const sweep_row *best = best_finished(&l);
    if (!best) {
        api_failf(req, resp, 409, NULL, "sweep %s has no finished run yet (none has succeeded)",
                  l.sw.id);
        goto out;
    }
    if (guard_may_move_alias(req, resp, best->run.model_name)) goto out;
    mlp_err rc = modelsvc_alias_set(req->app->store, req->app->reg, best->run.model_name, alias,
                                    best->run.model_version);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 409, NULL, "the best run %s's model version %s/%d no longer exists",
                  best->run.id, best->run.model_name, best->run.model_version);
        goto out;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    guard_audit(req, "sweep.promote", "sweeps", l.sw.id,
                json_pack("{s:s, s:s, s:s, s:i}", "run_id", best->run.id, "model_name",
                          best->run.model_name, "alias", alias, "version",
                          best->run.model_version));
    api_json(resp, 200,
             json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}", "sweep_id", l.sw.id, "run_id",
                       best->run.id, "model_name", best->run.model_name, "alias", alias, "version",
                       best->run.model_version, "best_val_loss",
                       num_or_null(best->link->best_val_loss)));
out:
    loaded_clear(&l);
    json_decref(body);
}
