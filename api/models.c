/* models.c — /api/v1/models: list, detail, aliases, version delete, and the self-contained JSON
 * export/import document (task, layers with weights, standardisation, feature names, labels,
 * training params). Floats are written in their shortest round-trip spelling (fj_format_float),
 * so export -> import -> predict gives the same numbers. An ensemble version (server/ensemble.h)
 * exports the shared header (task, widths, feature names, labels) with "members", one network
 * each (task, widths, loss, activation, standardization, layers), and "ensemble" (the member
 * references); import reads that back. POST .../versions dispatches on the body's shape: an
 * export document with "members", one with "layers", or {"ensemble": [...]} to make one from
 * published versions (api/models_ensemble.c); an ONNX file (Content-Type application/onnx or
 * multipart) goes to api/models_onnx.c. Reads go to the store; every write
 * (import, alias move or delete, version delete) is one call to the models service
 * (server/modelsvc.h), which keeps the model cache consistent. */
#include "audit.h"
#include "bundle.h"
#include "config.h"
#include "guard.h"
#include "ensemble.h"
#include "handlers.h"
#include "jsonout.h"
#include "models_ensemble.h"
#include "models_onnx.h"
#include "modelsvc.h"
#include "onnx_export.h"
#include "problem.h"
#include "quota.h"
#include "store.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_FORMAT  "mlpd-model"
#define EXPORT_VERSION 1

static json_t *model_to_json(const store_model *m)
{
    json_t *v = json_array(), *al = json_object();
    for (int i = 0; i < m->n_versions; i++) json_array_append_new(v, json_integer(m->versions[i]));
    for (int i = 0; i < m->n_aliases; i++)
        json_object_set_new(al, m->aliases[i].alias, json_integer(m->aliases[i].version));
    return json_pack("{s:s, s:i, s:o, s:o, s:s, s:s}", "name", m->name, "latest_version",
                     m->latest_version, "versions", v, "aliases", al, "owner", m->owner,
                     "visibility", access_vis_name(m->vis));
}

static json_t *version_to_json(const store_model_version *v)
{
    json_t *meta = v->meta_json ? json_loads(v->meta_json, 0, NULL) : NULL;
    json_t *o =
        json_pack("{s:i, s:o, s:s, s:i, s:i, s:o, s:o, s:o, s:s}", "version", v->version, "run_id",
                  v->run_id[0] ? json_string(v->run_id) : json_null(), "task", v->task, "input_dim",
                  v->input_dim, "output_dim", v->output_dim, "feature_names",
                  meta ? json_incref(json_object_get(meta, "feature_names")) : json_array(),
                  "labels", meta ? json_incref(json_object_get(meta, "labels")) : json_array(),
                  "metrics", meta ? json_incref(json_object_get(meta, "metrics")) : json_object(),
                  "created_at", v->created_at);
    json_t *comp = meta ? json_object_get(meta, "compression") : NULL; /* autoencoders */
    if (o && json_is_object(comp)) json_object_set(o, "compression", comp);
    json_t *ens = models_ensemble_refs(meta);
    if (ens) json_object_set_new(o, "ensemble", ens);
    json_decref(meta);
    return o;
}

void models_list(http_req *req, http_resp *resp)
{
    int limit, offset;
    if (api_paging(req, resp, &limit, &offset)) return;
    store_model *items = NULL;
    int n = 0;
    long total = 0;
    store_view view = guard_view(req);
    mlp_err rc = store_model_list_for(req->app->store, &view, limit, offset, &items, &n, &total);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, model_to_json(&items[i]));
    store_models_free(items, n);
    api_json(resp, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
}

static const char *name_param(http_req *req, http_resp *resp)
{
    const char *name = route_param(&req->m, "name");
    if (!api_name_ok(name)) {
        api_failf(req, resp, 400, "name", "model name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        return NULL;
    }
    return name;
}

void models_get(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    if (!name) return;
    store_model m;
    store_model_version *vs = NULL;
    int n = 0;
    mlp_err rc = store_model_get(req->app->store, name, &m, &vs, &n);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "no model named '%s'", name);
        return;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    json_t *o = model_to_json(&m);
    json_t *det = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(det, version_to_json(&vs[i]));
    json_object_set_new(o, "model_versions", det);
    store_model_versions_free(vs, n);
    store_model_clear(&m);
    api_json(resp, 200, o);
}

void models_alias_put(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    if (!name) return;
    const char *alias = route_param(&req->m, "alias");
    if (!api_name_ok(alias)) {
        api_failf(req, resp, 400, "alias", "alias must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        return;
    }
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    json_t *v = json_object_get(body, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000000) {
        json_decref(body);
        api_failf(req, resp, 400, "version", "version must be a whole number >= 1");
        return;
    }
    int version = (int)json_integer_value(v);
    json_decref(body);
    mlp_err rc = modelsvc_alias_set(req->app->store, req->app->reg, name, alias, version);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, "version", "model '%s' has no version %d", name, version);
        return;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    guard_audit(req, "alias.set", "models", name,
                json_pack("{s:s, s:i}", "alias", alias, "version", version));
    api_json(resp, 200,
             json_pack("{s:s, s:s, s:i}", "name", name, "alias", alias, "version", version));
}

void models_alias_delete(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    if (!name) return;
    const char *alias = route_param(&req->m, "alias");
    mlp_err rc = modelsvc_alias_delete(req->app->store, req->app->reg, name, alias);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "model '%s' has no alias '%s'", name, alias);
        return;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    guard_audit(req, "alias.delete", "models", name, json_pack("{s:s}", "alias", alias));
    resp_take(resp, 204, NULL, NULL, 0);
}

void models_delete_version(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    int v;
    if (!name || api_version_param(req, resp, &v)) return;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = modelsvc_delete_version(req->app->store, req->app->reg, name, v, &err);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "model '%s' has no version %d", name, v);
        return;
    }
    if (rc) {
        api_fail(req, resp, rc, &err);
        return;
    }
    guard_audit(req, "version.delete", "models", name, json_pack("{s:i}", "version", v));
    resp_take(resp, 204, NULL, NULL, 0);
}

/* params or metrics of the version's meta, compact (new string; "null" when absent). */
static char *meta_member(json_t *meta, const char *key)
{
    json_t *v = meta ? json_object_get(meta, key) : NULL;
    return v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_ENCODE_ANY)
             : strdup("null");
}

static size_t strs_max(char *const *v, int n)
{
    size_t m = 2;
    for (int i = 0; i < n; i++) m += JO_STR_MAX(strlen(v[i])) + 1;
    return m;
}

static char *put_strs(char *o, char *const *v, int n)
{
    *o++ = '[';
    for (int i = 0; i < n; i++) {
        if (i) *o++ = ',';
        o = jo_str(o, v[i]);
    }
    *o++ = ']';
    return o;
}

/* Bytes put_dims + put_net may write for network n. */
static size_t net_cap(const net *n)
{
    const net_spec *sp = net_get_spec(n);
    size_t fl = FJ_FLOAT_MAX + 1;
    size_t cap = 512 + 2 * (size_t)(sp->n_in + sp->n_out) * fl;
    for (int l = 0; l <= sp->n_hidden; l++) {
        const float *W, *bias;
        int out, in;
        net_layer(n, l, &W, &bias, &out, &in);
        cap += 128 + (size_t)out * ((size_t)in * fl + 3) + (size_t)out * fl;
    }
    return cap;
}

/* "task":…,"input_dim":…,"output_dim":… of n. */
static char *put_dims(char *o, const net *n)
{
    const net_spec *sp = net_get_spec(n);
    o = JO_LIT(o, "\"task\":");
    o = jo_str(o, task_name(sp->task));
    o = JO_LIT(o, ",\"input_dim\":");
    o = jo_long(o, sp->n_in);
    o = JO_LIT(o, ",\"output_dim\":");
    o = jo_long(o, sp->n_out);
    return o;
}

/* ,"loss":…,"activation":… of n. */
static char *put_kinds(char *o, const net *n)
{
    const net_spec *sp = net_get_spec(n);
    o = JO_LIT(o, ",\"loss\":");
    o = jo_str(o, loss_name(sp->loss));
    o = JO_LIT(o, ",\"activation\":");
    o = jo_str(o, act_name(sp->act));
    return o;
}

/* ,"standardization":{…},"layers":[…] of n. */
static char *put_net(char *o, const net *n)
{
    const net_spec *sp = net_get_spec(n);
    o = JO_LIT(o, ",\"standardization\":{\"x_mean\":");
    o = jo_floats(o, net_x_mean_const(n), (size_t)sp->n_in);
    o = JO_LIT(o, ",\"x_scale\":");
    o = jo_floats(o, net_x_scale_const(n), (size_t)sp->n_in);
    o = JO_LIT(o, ",\"y_mean\":");
    o = jo_floats(o, net_y_mean_const(n), (size_t)sp->n_out);
    o = JO_LIT(o, ",\"y_scale\":");
    o = jo_floats(o, net_y_scale_const(n), (size_t)sp->n_out);
    o = JO_LIT(o, "},\"layers\":[");
    for (int l = 0; l <= sp->n_hidden; l++) {
        const float *W, *bias;
        int out, in;
        net_layer(n, l, &W, &bias, &out, &in);
        if (l) *o++ = ',';
        o = JO_LIT(o, "{\"in\":");
        o = jo_long(o, in);
        o = JO_LIT(o, ",\"out\":");
        o = jo_long(o, out);
        o = JO_LIT(o, ",\"activation\":");
        o = jo_str(o, act_name(l == sp->n_hidden ? sp->out_act : sp->act));
        o = JO_LIT(o, ",\"weights\":[");
        for (int r = 0; r < out; r++) {
            if (r) *o++ = ',';
            o = jo_floats(o, W + (size_t)r * (size_t)in, (size_t)in);
        }
        o = JO_LIT(o, "],\"bias\":");
        o = jo_floats(o, bias, (size_t)out);
        *o++ = '}';
    }
    *o++ = ']';
    return o;
}

/* The export document, written straight into the answer buffer (one float at a time, about 12
 * bytes a weight, where a jansson tree costs a node per weight and then the text besides). Keys
 * and order are those of the document import reads; an ensemble has "ensemble" (ens: its member
 * references, raw JSON) and "members" in place of loss, activation, standardization and layers. */
static void export_answer(http_req *req, http_resp *resp, const char *name, int v,
                          const model_bundle *b, const char *params, const char *metrics,
                          const char *ens)
{
    size_t cap = 1024 + JO_STR_MAX(strlen(name)) + strs_max(b->features, b->n_features) +
                 strs_max(b->labels, b->n_labels) + strlen(params) + strlen(metrics) + strlen(ens);
    int k = b->n_members ? b->n_members : 1;
    net *const *nets = b->n_members ? b->members : &b->net;
    for (int i = 0; i < k; i++) cap += 16 + net_cap(nets[i]);
    char *buf = http_resp_buf(req, cap), *o;
    int conn_buf = buf != NULL;
    if (!buf && !(buf = malloc(cap))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    o = buf;
    o = JO_LIT(o, "{\"format\":\"" EXPORT_FORMAT "\",\"format_version\":");
    o = jo_long(o, EXPORT_VERSION);
    o = JO_LIT(o, ",\"name\":");
    o = jo_str(o, name);
    o = JO_LIT(o, ",\"version\":");
    o = jo_long(o, v);
    *o++ = ',';
    o = put_dims(o, b->net);
    if (!b->n_members) o = put_kinds(o, b->net);
    o = JO_LIT(o, ",\"feature_names\":");
    o = put_strs(o, b->features, b->n_features);
    o = JO_LIT(o, ",\"labels\":");
    o = put_strs(o, b->labels, b->n_labels);
    if (b->n_members) {
        o = JO_LIT(o, ",\"ensemble\":");
        o = jo_raw(o, ens, strlen(ens));
        o = JO_LIT(o, ",\"members\":[");
        for (int i = 0; i < k; i++) {
            if (i) *o++ = ',';
            *o++ = '{';
            o = put_dims(o, nets[i]);
            o = put_kinds(o, nets[i]);
            o = put_net(o, nets[i]);
            *o++ = '}';
        }
        *o++ = ']';
    } else {
        o = put_net(o, b->net);
    }
    o = JO_LIT(o, ",\"params\":");
    o = jo_raw(o, params, strlen(params));
    o = JO_LIT(o, ",\"metrics\":");
    o = jo_raw(o, metrics, strlen(metrics));
    *o++ = '}';
    assert((size_t)(o - buf) <= cap);
    if (conn_buf)
        resp_conn(resp, 200, "application/json", buf, (size_t)(o - buf));
    else
        resp_take(resp, 200, "application/json", buf, (size_t)(o - buf));
}

/* ?format=onnx: the version as an ONNX file (server/onnx_export.h), named for the download. */
static void export_onnx(http_req *req, http_resp *resp, const char *name, int v, const char *run_id,
                        const model_bundle *b)
{
    onnx_export_info oi = {.model = name, .version = v, .run_id = run_id};
    void *buf = NULL;
    size_t len = 0;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = onnx_export(b, &oi, &buf, &len, &err);
    if (rc) {
        api_fail(req, resp, rc, &err);
        return;
    }
    resp_take(resp, 200, "application/onnx", buf, len);
    snprintf(resp->hdr_name, sizeof resp->hdr_name, "Content-Disposition");
    snprintf(resp->hdr_value, sizeof resp->hdr_value, "attachment; filename=\"%s-v%d.onnx\"", name,
             v);
}

void models_export(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    int v;
    if (!name || api_version_param(req, resp, &v)) return;
    const char *format = http_query(req, "format");
    int onnx = format && strcmp(format, "onnx") == 0;
    if (format && !onnx && strcmp(format, "json") != 0) {
        api_failf(req, resp, 400, "format", "format must be json or onnx");
        return;
    }
    store_model_version info;
    memset(&info, 0, sizeof info);
    void *blob = NULL;
    size_t len = 0;
    mlp_err rc = store_model_version_get(req->app->store, name, v, &info, &blob, &len);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "model '%s' has no version %d", name, v);
        return;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    model_bundle *b = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    rc = bundle_decode(blob, len, &b, &err);
    free(blob);
    if (rc) {
        free(info.meta_json);
        api_fail(req, resp, MLP_EIO, &err);
        return;
    }
    if (onnx) {
        export_onnx(req, resp, name, v, info.run_id, b);
        free(info.meta_json);
        bundle_free(b);
        return;
    }
    json_t *meta = info.meta_json ? json_loads(info.meta_json, 0, NULL) : NULL;
    char *params = meta_member(meta, "params"), *metrics = meta_member(meta, "metrics"),
         *ens = meta_member(meta, "ensemble");
    json_decref(meta);
    free(info.meta_json);
    if (!params || !metrics || !ens)
        api_fail(req, resp, MLP_ENOMEM, NULL);
    else
        export_answer(req, resp, name, v, b, params, metrics, ens);
    free(params);
    free(metrics);
    free(ens);
    bundle_free(b);
}

/* Reads a JSON array of exactly n numbers into out: 0, -1 when a is not such an array, or -2
 * when element *bad does not fit a float32 as a finite value (1e39 is finite as a double and
 * infinite as a float; a NaN or Inf weight would poison every prediction). */
static int read_floats(json_t *a, int n, float *out, int *bad)
{
    if (!json_is_array(a) || json_array_size(a) != (size_t)n) return -1;
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_number(x)) return -1;
        out[i] = (float)json_number_value(x);
        if (!isfinite(out[i])) {
            *bad = i;
            return -2;
        }
    }
    return 0;
}

/* 400 naming field[i] for a read_floats -2. */
static void not_finite(http_req *req, http_resp *resp, const char *field, int i)
{
    char f[96];
    snprintf(f, sizeof f, "%s[%d]", field, i);
    api_failf(req, resp, 400, f, "%s is not a finite float32 number", f);
}

static char **read_strings(json_t *a, int *n)
{
    *n = json_is_array(a) ? (int)json_array_size(a) : 0;
    char **v = calloc((size_t)*n + 1, sizeof *v);
    for (int i = 0; v && i < *n; i++) {
        json_t *s = json_array_get(a, (size_t)i);
        v[i] = strdup(json_is_string(s) ? json_string_value(s) : "");
    }
    return v;
}

/* Reads one network (task, layers, loss, standardization) from doc, an export document or one
 * member of an ensemble's: 0 with *out new, or -1 after answering. */
static int import_net(http_req *req, http_resp *resp, json_t *doc, net **out)
{
    net *n = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    net_spec sp;
    memset(&sp, 0, sizeof sp);
    json_t *x = json_object_get(doc, "task");
    if (!json_is_string(x) || task_parse(json_string_value(x), &sp.task)) {
        api_failf(req, resp, 400, "task", "task must be classification, regression or autoencoder");
        goto out;
    }
    json_t *layers = json_object_get(doc, "layers");
    if (!json_is_array(layers) || json_array_size(layers) < 1 ||
        json_array_size(layers) > NET_MAX_HIDDEN + 1) {
        api_failf(req, resp, 400, "layers", "layers must be a list of 1 to %d layers",
                  NET_MAX_HIDDEN + 1);
        goto out;
    }
    int nlayers = (int)json_array_size(layers);
    sp.n_hidden = nlayers - 1;
    for (int l = 0; l < nlayers; l++) {
        json_t *L = json_array_get(layers, (size_t)l);
        json_t *in = json_object_get(L, "in"), *o = json_object_get(L, "out"),
               *a = json_object_get(L, "activation");
        act_kind ak;
        if (!json_is_integer(in) || !json_is_integer(o) || !json_is_string(a) ||
            act_parse(json_string_value(a), &ak) || json_integer_value(in) < 1 ||
            json_integer_value(o) < 1 || json_integer_value(o) > 65536 ||
            json_integer_value(in) > 100000000) {
            api_failf(req, resp, 400, "layers", "layers[%d] needs in, out and activation", l);
            goto out;
        }
        if (l == 0) sp.n_in = (int)json_integer_value(in);
        if (l < nlayers - 1) {
            sp.hidden[l] = (int)json_integer_value(o);
            if (l == 0)
                sp.act = ak;
            else if (ak != sp.act) {
                api_failf(req, resp, 400, "layers",
                          "layers[%d]: hidden layers share one activation", l);
                goto out;
            }
        } else {
            sp.n_out = (int)json_integer_value(o);
            sp.out_act = ak;
        }
    }
    if (sp.n_hidden == 0) sp.act = ACT_LINEAR;
    x = json_object_get(doc, "loss");
    if (!json_is_string(x) || loss_parse(json_string_value(x), &sp.loss)) {
        api_failf(req, resp, 400, "loss", "loss must be cross_entropy, logistic or squared");
        goto out;
    }
    mlp_err rc = net_spec_check(&sp, &err);
    if (!rc && net_spec_param_count(&sp) > req->app->cfg->max_params)
        rc = mlp_fail(&err, MLP_EINVAL, "the network exceeds --max-params");
    if (!rc) rc = net_new(&sp, &n, &err);
    if (rc) {
        snprintf(err.field, sizeof err.field, "layers");
        api_fail(req, resp, rc, &err);
        goto out;
    }
    for (int l = 0; l < nlayers; l++) {
        json_t *L = json_array_get(layers, (size_t)l);
        int out_n, in_n;
        const float *cw, *cb;
        net_layer(n, l, &cw, &cb, &out_n, &in_n);
        if ((int)json_integer_value(json_object_get(L, "in")) != in_n) {
            api_failf(req, resp, 400, "layers", "layers[%d].in must be %d (the previous out)", l,
                      in_n);
            goto out;
        }
        float *W = net_layer_w(n, l), *b = net_layer_b(n, l);
        json_t *rows = json_object_get(L, "weights");
        int bad = !json_is_array(rows) || json_array_size(rows) != (size_t)out_n, at = 0, o;
        char field[64];
        for (o = 0; !bad && o < out_n; o++)
            bad = read_floats(json_array_get(rows, (size_t)o), in_n, W + (size_t)o * in_n, &at);
        if (bad == -2) {
            snprintf(field, sizeof field, "layers[%d].weights[%d]", l, o - 1);
            not_finite(req, resp, field, at);
            goto out;
        }
        if (!bad) bad = read_floats(json_object_get(L, "bias"), out_n, b, &at);
        if (bad == -2) {
            snprintf(field, sizeof field, "layers[%d].bias", l);
            not_finite(req, resp, field, at);
            goto out;
        }
        if (bad) {
            api_failf(req, resp, 400, "layers",
                      "layers[%d]: weights must be %d rows of %d numbers and bias %d numbers", l,
                      out_n, in_n, out_n);
            goto out;
        }
    }
    json_t *st = json_object_get(doc, "standardization");
    if (st) {
        static const char *const keys[] = {"x_mean", "x_scale", "y_mean", "y_scale"};
        float *dst[] = {net_x_mean(n), net_x_scale(n), net_y_mean(n), net_y_scale(n)};
        int bad = 0, at = 0, k;
        for (k = 0; k < 4 && !bad; k++)
            bad =
                read_floats(json_object_get(st, keys[k]), k < 2 ? sp.n_in : sp.n_out, dst[k], &at);
        if (bad == -2) {
            char field[64];
            snprintf(field, sizeof field, "standardization.%s", keys[k - 1]);
            not_finite(req, resp, field, at);
            goto out;
        }
        if (bad) {
            api_failf(req, resp, 400, "standardization",
                      "standardization needs x_mean, x_scale (%d numbers) and y_mean, y_scale (%d)",
                      sp.n_in, sp.n_out);
            goto out;
        }
    }
    *out = n;
    return 0;
out:
    net_free(n);
    return -1;
}

/* The meta JSON of an imported version (new string, or NULL without memory). */
static char *import_meta(json_t *doc)
{
    json_t *meta = json_pack("{s:O, s:O, s:O, s:O}", "feature_names",
                             json_object_get(doc, "feature_names") ?: json_array(), "labels",
                             json_object_get(doc, "labels") ?: json_array(), "metrics",
                             json_object_get(doc, "metrics") ?: json_null(), "params",
                             json_object_get(doc, "params") ?: json_null());
    json_t *ens = json_object_get(doc, "members") ? json_object_get(doc, "ensemble") : NULL;
    if (meta && json_is_array(ens)) json_object_set(meta, "ensemble", ens);
    char *s = meta ? json_dumps(meta, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(meta);
    return s;
}

/* The 201 answer for a new version. */
/* Records the import (kind "network" or "ensemble": an ensemble's export document or a new
 * ensemble of published versions) and answers 201 with the new version. */
static void created(http_req *req, http_resp *resp, const char *name, int version, const char *kind)
{
    guard_audit(req, "model.import", "models", name,
                json_pack("{s:i, s:s}", "version", version, "kind", kind));
    store_model_version info;
    memset(&info, 0, sizeof info);
    mlp_err rc = store_model_version_get(req->app->store, name, version, &info, NULL, NULL);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return;
    }
    snprintf(resp->location, sizeof resp->location, "/api/v1/models/%s/versions/%d", name, version);
    json_t *o = version_to_json(&info);
    json_object_set_new(o, "name", json_string(name));
    free(info.meta_json);
    api_json(resp, 201, o);
}

/* Imports an ensemble's export document ("members"): 0 with *version, or -1 after answering. */
static int import_members(http_req *req, http_resp *resp, const char *name, json_t *doc,
                          char *const *fn, int nf, char *const *lb, int nl, int *version)
{
    json_t *mem = json_object_get(doc, "members");
    if (!json_is_array(mem) || json_array_size(mem) < 2 || json_array_size(mem) > ENS_MAX_MEMBERS) {
        api_failf(req, resp, 400, "members", "members must be a list of 2 to %d networks",
                  ENS_MAX_MEMBERS);
        return -1;
    }
    int k = (int)json_array_size(mem), ret = -1;
    net *nets[ENS_MAX_MEMBERS] = {0};
    model_bundle bs[ENS_MAX_MEMBERS];
    const model_bundle *bp[ENS_MAX_MEMBERS];
    char *meta_s = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    for (int i = 0; i < k; i++) {
        if (import_net(req, resp, json_array_get(mem, (size_t)i), &nets[i])) goto out;
        bs[i] = (model_bundle){.net = nets[i],
                               .n_features = nf,
                               .features = (char **)fn,
                               .n_labels = nl,
                               .labels = (char **)lb};
        bp[i] = &bs[i];
    }
    if (nf && nf != net_get_spec(nets[0])->n_in) {
        api_failf(req, resp, 400, "feature_names", "feature_names must have %d names",
                  net_get_spec(nets[0])->n_in);
        goto out;
    }
    mlp_err rc = ens_check(bp, NULL, k, &err);
    if (rc) {
        api_failf(req, resp, 400, err.field, "%s", err.msg);
        goto out;
    }
    if (!(meta_s = import_meta(doc))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    long long bytes = 0;
    for (int i = 0; i < k; i++) bytes += (long long)net_spec_param_count(net_get_spec(nets[i])) * 4;
    if (models_import_quota(req, resp, name, bytes)) goto out;
    rc = ens_publish(req->app->store, req->app->reg, req->who.id, name, nets, k, nf, fn, nl, lb,
                     meta_s, version, &err);
    if (rc) {
        models_publish_fail(req, resp, rc, &err);
        goto out;
    }
    ret = 0;
out:
    for (int i = 0; i < k; i++) net_free(nets[i]);
    free(meta_s);
    return ret;
}

void models_import(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    if (!name) return;
    int version = 0;
    if (models_onnx_request(req)) { /* an ONNX file (api/models_onnx.h) */
        if (models_onnx_import(req, resp, name, &version) == 0)
            created(req, resp, name, version, "onnx");
        return;
    }
    json_t *doc = api_body_object(req, resp);
    if (!doc) return;
    net *n = NULL;
    char **fn = NULL, **lb = NULL;
    int nf = 0, nl = 0;
    char *meta_s = NULL;
    json_t *x = json_object_get(doc, "format");
    if (!x && json_object_get(doc, "ensemble")) {
        if (models_ensemble_create(req, resp, name, doc, &version) == 0)
            created(req, resp, name, version, "ensemble");
        goto out;
    }
    if (!json_is_string(x) || strcmp(json_string_value(x), EXPORT_FORMAT) != 0) {
        api_failf(req, resp, 400, "format",
                  "format must be \"" EXPORT_FORMAT "\" (an export document)");
        goto out;
    }
    fn = read_strings(json_object_get(doc, "feature_names"), &nf);
    lb = read_strings(json_object_get(doc, "labels"), &nl);
    if (!fn || !lb) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    if (json_object_get(doc, "members")) {
        if (import_members(req, resp, name, doc, fn, nf, lb, nl, &version) == 0)
            created(req, resp, name, version, "ensemble");
        goto out;
    }
    if (import_net(req, resp, doc, &n)) goto out;
    const net_spec *sp = net_get_spec(n);
    if (nf && nf != sp->n_in) {
        api_failf(req, resp, 400, "feature_names", "feature_names must have %d names", sp->n_in);
        goto out;
    }
    if (!(meta_s = import_meta(doc))) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        goto out;
    }
    if (models_import_quota(req, resp, name, (long long)net_spec_param_count(sp) * 4)) goto out;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = modelsvc_import_as(req->app->store, req->app->reg, req->who.id, name, n, nf, fn,
                                    nl, lb, meta_s, &version, &err);
    if (rc) {
        models_publish_fail(req, resp, rc, &err);
        goto out;
    }
    created(req, resp, name, version, "network");
out:
    for (int i = 0; fn && i < nf; i++) free(fn[i]);
    for (int i = 0; lb && i < nl; i++) free(lb[i]);
    free(fn);
    free(lb);
    free(meta_s);
    net_free(n);
    json_decref(doc);
}

/* PATCH /api/v1/models/{name}: {"visibility": "private" | "class" | "public"}. Who may call it
 * is the route's rule (model-change). Each field is checked by its own function before any is
 * applied, so a bad field changes nothing. */
static int patch_visibility(http_req *req, http_resp *resp, const char *name, json_t *v, int apply)
{
    visibility vis;
    if (!json_is_string(v) || access_vis_parse(json_string_value(v), &vis) != MLP_OK) {
        api_failf(req, resp, 400, "visibility", "visibility must be private, class or public");
        return -1;
    }
    if (!apply) return 0;
    mlp_err rc = store_model_set_visibility(req->app->store, name, vis);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        return -1;
    }
    return 0;
}

typedef int (*model_patch_fn)(http_req *req, http_resp *resp, const char *name, json_t *v,
                              int apply);
static const struct {
    const char *field;
    model_patch_fn fn;
} model_patch_fields[] = {{"visibility", patch_visibility}};

void models_patch(http_req *req, http_resp *resp)
{
    const char *name = name_param(req, resp);
    if (!name) return;
    json_t *body = api_body_object(req, resp);
    if (!body) return;
    const size_t nf = sizeof model_patch_fields / sizeof model_patch_fields[0];
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < nf && strcmp(key, model_patch_fields[i].field) != 0) i++;
        if (i == nf) {
            api_failf(req, resp, 400, key, "%s cannot be changed (fields: visibility)", key);
            goto out;
        }
    }
    for (int apply = 0; apply < 2; apply++)
        for (size_t i = 0; i < nf; i++)
            if ((v = json_object_get(body, model_patch_fields[i].field)) &&
                model_patch_fields[i].fn(req, resp, name, v, apply) != 0)
                goto out;
    guard_audit_patch(req, "model.update", "models", name, body);
    store_model m;
    mlp_err rc = store_model_get(req->app->store, name, &m, NULL, NULL);
    if (rc == MLP_ENOTFOUND) {
        api_failf(req, resp, 404, NULL, "no model named '%s'", name);
        goto out;
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    api_json(resp, 200, model_to_json(&m));
    store_model_clear(&m);
out:
    json_decref(body);
}
