/* plot.c — GET /api/v1/runs/{id}/plot.svg: a run's learning curves as a self-contained SVG
 * (no scripts, fonts or external references, so it works in a browser tab and in an <img>).
 *
 * One run: train and validation loss against epoch on the left axis, and validation accuracy
 * (classification) or R² (regression) on a right axis; a title with the model name, run id and
 * state, a legend, and a caption with the main params. An unfinished run draws the epochs it
 * has; a run without any draws empty axes and a note. ?compare=run_3,run_5 overlays each run's
 * validation loss (train loss when a run has no validation rows, said in the legend): the
 * lecture's "compare step sizes", so the legend names each run with its learning rate. At most
 * PLOT_MAX_RUNS runs in one plot, the path's run included. plot_overlay (plot.h) draws such an
 * overlay for other callers too: a sweep's runs, labelled by the params it varies.
 * ?diagnostics=true draws instead the per-layer gradient norms (grad_norm.l0, grad_norm.l1, ...)
 * against epoch on a log scale, one line per layer, so vanishing gradients show as lines decades
 * apart; the caption gives the last epoch's dead and saturated fractions.
 *
 * Every series is one <polyline class="series" data-series=… data-run=…> with one point per
 * epoch (tests count them). Every text taken from the store is XML-escaped.
 * Threading: reentrant; everything is per request. */
#include "guard.h"
#include "handlers.h"
#include "plot.h"
#include "runs.h"
#include "problem.h"
#include "sbuf.h"
#include "store.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W = 760, H = 470, X0 = 80, X1 = W - 90, Y0 = 56, Y1 = H - 130 };

static const char *const palette[PLOT_MAX_RUNS] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                   "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                                   "#bcbd22", "#17becf", "#393b79", "#637939"};

/* Text as XML character data or attribute value: markup characters escaped, control characters
 * (not allowed in XML 1.0) replaced by '?'. */
static void sb_esc(sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&':
            SB_LIT(b, "&amp;");
            break;
        case '<':
            SB_LIT(b, "&lt;");
            break;
        case '>':
            SB_LIT(b, "&gt;");
            break;
        case '"':
            SB_LIT(b, "&quot;");
            break;
        case '\'':
            SB_LIT(b, "&#39;");
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') c = '?';
            sb_add(b, (const char *)&c, 1);
        }
    }
}

typedef struct {
    char name[24];   /* data-series: train_loss, val_loss, val_accuracy, val_r2 */
    char run_id[24]; /* data-run */
    char label[160]; /* legend text (unescaped) */
    const char *color;
    int dashed;
    int right; /* on the right axis */
    int n;
    int *x;
    double *y;
} series;

typedef struct {
    series s[RUN_LAYERS]; /* PLOT_MAX_RUNS + 3 at most, or one per layer */
    int n;
} series_set;
_Static_assert(RUN_LAYERS >= PLOT_MAX_RUNS + 3, "a series_set holds a compare plot");

static void series_free(series_set *ss)
{
    for (int i = 0; i < ss->n; i++) {
        free(ss->s[i].x);
        free(ss->s[i].y);
    }
    ss->n = 0;
}

/* Adds the points of metric `mid` from pts (ordered by step) as a series; none: nothing. */
static mlp_err add_series(series_set *ss, const store_metric *pts, int n, metric_id mid,
                          const char *run_id, const char *label, const char *color, int dashed,
                          int right)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += pts[i].name == mid && isfinite(pts[i].value);
    if (k == 0) return MLP_OK;
    series *s = &ss->s[ss->n];
    memset(s, 0, sizeof *s);
    s->x = malloc((size_t)k * sizeof *s->x);
    s->y = malloc((size_t)k * sizeof *s->y);
    if (!s->x || !s->y) {
        free(s->x);
        free(s->y);
        return MLP_ENOMEM;
    }
    for (int i = 0; i < n; i++)
        if (pts[i].name == mid && isfinite(pts[i].value)) {
            s->x[s->n] = pts[i].step;
            s->y[s->n] = pts[i].value;
            s->n++;
        }
    snprintf(s->name, sizeof s->name, "%s", metric_name(mid));
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    snprintf(s->label, sizeof s->label, "%s", label);
    s->color = color;
    s->dashed = dashed;
    s->right = right;
    ss->n++;
    return MLP_OK;
}

/* A "nice" tick step (1, 2 or 5 x 10^k) for about `target` ticks over span. */
static double nice_step(double span, int target)
{
    double raw = span / target;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void tick_label(char *buf, size_t cap, double v, double step)
{
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 8) dec = 8;
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0" */
    snprintf(buf, cap, "%.*f", dec, v);
}

typedef struct {
    double lo, hi;
} range;

static double px_x(range r, double v)
{
    return X0 + (v - r.lo) / (r.hi - r.lo) * (X1 - X0);
}

static double px_y(range r, double v)
{
    return Y1 - (v - r.lo) / (r.hi - r.lo) * (Y1 - Y0);
}

static range data_range(const series_set *ss, int right, int *any)
{
    range r = {INFINITY, -INFINITY};
    for (int i = 0; i < ss->n; i++) {
        if (ss->s[i].right != right) continue;
        for (int k = 0; k < ss->s[i].n; k++) {
            if (ss->s[i].y[k] < r.lo) r.lo = ss->s[i].y[k];
            if (ss->s[i].y[k] > r.hi) r.hi = ss->s[i].y[k];
        }
    }
    *any = r.lo <= r.hi;
    return r;
}

/* Left axis: the losses, from 0 when that does not squash the curves, padded 5%. */
static range loss_range(const series_set *ss)
{
    int any;
    range r = data_range(ss, 0, &any);
    if (!any) return (range){0, 1};
    if (r.lo > 0 && r.lo < 0.5 * r.hi) r.lo = 0;
    double pad = (r.hi - r.lo) * 0.05;
    if (pad <= 0) pad = fabs(r.hi) > 0 ? fabs(r.hi) * 0.1 : 1;
    return (range){r.lo == 0 ? 0 : r.lo - pad, r.hi + pad};
}

static void axis_ticks(sbuf *b, range r, int vertical, int right)
{
    double step = nice_step(r.hi - r.lo, vertical ? 6 : 8);
    if (!vertical && step < 1) step = 1; /* epochs are whole */
    for (double v = ceil(r.lo / step - 1e-9) * step; v <= r.hi + step * 1e-9; v += step) {
        char lab[32];
        tick_label(lab, sizeof lab, v, step);
        if (!vertical) {
            double x = px_x(r, v);
            sb_printf(b,
                      "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>"
                      "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                      x, Y1, x, Y1 + 5, x, Y1 + 19, lab);
        } else if (!right) {
            double y = px_y(r, v);
            sb_printf(b,
                      "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                      "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>"
                      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                      X0, y, X1, y, X0 - 5, y, X0, y, X0 - 8, y + 4, lab);
        } else {
            double y = px_y(r, v);
            sb_printf(b,
                      "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>"
                      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"start\">%s</text>\n",
                      X1, y, X1 + 5, y, X1 + 8, y + 4, lab);
        }
    }
}

typedef struct {
    const char *title; /* unescaped */
    const char *caption[2];
    const char *left_label, *right_label; /* right_label NULL: no right axis */
    int right_is_r2;
    const char *note; /* drawn in the middle when there is no point */
} plot_text;

/* ---------- the parts both charts share (render and render_log) ---------- */

/* The x axis: epochs 1 to the last one drawn, at least [0, 2]. */
static range epoch_range(const series_set *ss)
{
    int max_e = 0;
    for (int i = 0; i < ss->n; i++)
        for (int k = 0; k < ss->s[i].n; k++)
            if (ss->s[i].x[k] > max_e) max_e = ss->s[i].x[k];
    return max_e >= 2 ? (range){1, max_e} : (range){0, 2};
}

/* The XML declaration, <svg>, <title>, the white background and the title line. */
static void svg_head(sbuf *b, const char *title)
{
    sb_printf(b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
              "font-size=\"12\">\n<title>",
              W, H, W, H);
    sb_esc(b, title);
    sb_printf(b, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
    SB_LIT(b, "<text x=\"380\" y=\"30\" text-anchor=\"middle\" font-size=\"16\" "
              "font-weight=\"bold\">");
    sb_esc(b, title);
    SB_LIT(b, "</text>\n");
}

/* The plot's frame, the x axis's "epoch" label and the left axis's label. */
static void plot_frame(sbuf *b, const char *left_label)
{
    sb_printf(b,
              "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
              "stroke=\"#333\"/>\n",
              X0, Y0, X1 - X0, Y1 - Y0);
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", (X0 + X1) / 2,
              Y1 + 40);
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">",
              24, (Y0 + Y1) / 2, 24, (Y0 + Y1) / 2);
    sb_esc(b, left_label);
    SB_LIT(b, "</text>\n");
}

/* Series s as a polyline on x range rx and y range ry (logy: ry in decades of y). */
static void polyline(sbuf *b, const series *s, range rx, range ry, int logy)
{
    SB_LIT(b, "<polyline class=\"series\" data-series=\"");
    sb_esc(b, s->name);
    SB_LIT(b, "\" data-run=\"");
    sb_esc(b, s->run_id);
    sb_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s->color,
              s->dashed ? " stroke-dasharray=\"6 4\"" : "");
    for (int k = 0; k < s->n; k++)
        sb_printf(b, "%s%.1f,%.1f", k ? " " : "", px_x(rx, s->x[k]),
                  px_y(ry, logy ? log10(s->y[k]) : s->y[k]));
    SB_LIT(b, "\"/>\n");
}

/* The note in the middle of an empty plot (none when note is NULL). */
static void plot_note(sbuf *b, const char *note)
{
    if (!note) return;
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">", (X0 + X1) / 2,
              (Y0 + Y1) / 2);
    sb_esc(b, note);
    SB_LIT(b, "</text>\n");
}

/* One legend entry: s's stroke from x1 to x2, its label at tx, on baseline y. */
static void legend_entry(sbuf *b, const series *s, int x1, int x2, int tx, int y)
{
    sb_printf(b,
              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
              "stroke-width=\"2\"%s/><text x=\"%d\" y=\"%d\">",
              x1, y - 4, x2, y - 4, s->color, s->dashed ? " stroke-dasharray=\"6 4\"" : "", tx, y);
    sb_esc(b, s->label);
    SB_LIT(b, "</text>\n");
}

/* The two caption lines under the plot (empty ones left out) and </svg>. */
static void svg_tail(sbuf *b, const plot_text *t)
{
    for (int i = 0; i < 2; i++) {
        if (!t->caption[i] || !t->caption[i][0]) continue;
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">", W / 2,
                  H - 52 + 20 * i);
        sb_esc(b, t->caption[i]);
        SB_LIT(b, "</text>\n");
    }
    SB_LIT(b, "</svg>\n");
}

static void render(sbuf *b, const series_set *ss, const plot_text *t)
{
    range rx = epoch_range(ss);
    range ry = loss_range(ss);
    range rr = {0, 1};
    if (t->right_is_r2) {
        int any;
        range d = data_range(ss, 1, &any);
        if (any && d.lo < 0) rr.lo = floor(d.lo * 10) / 10;
    }
    svg_head(b, t->title);
    /* axes */
    axis_ticks(b, ry, 1, 0);
    axis_ticks(b, rx, 0, 0);
    if (t->right_label) axis_ticks(b, rr, 1, 1);
    plot_frame(b, t->left_label);
    if (t->right_label) {
        sb_printf(b,
                  "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                  "transform=\"rotate(90 %d %d)\">",
                  W - 30, (Y0 + Y1) / 2, W - 30, (Y0 + Y1) / 2);
        sb_esc(b, t->right_label);
        SB_LIT(b, "</text>\n");
    }
    /* series */
    for (int i = 0; i < ss->n; i++) {
        const series *s = &ss->s[i];
        range r = s->right ? rr : ry;
        polyline(b, s, rx, r, 0);
        if (s->n <= 40)
            for (int k = 0; k < s->n; k++)
                sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                          px_x(rx, s->x[k]), px_y(r, s->y[k]), s->color);
    }
    if (ss->n == 0) plot_note(b, t->note);
    /* legend, top right inside the plot */
    if (ss->n) {
        size_t widest = 0;
        for (int i = 0; i < ss->n; i++)
            if (strlen(ss->s[i].label) > widest) widest = strlen(ss->s[i].label);
        int lw = 40 + (int)widest * 7, lh = 8 + 18 * ss->n;
        int lx = X1 - 8 - lw, ly = Y0 + 8;
        sb_printf(b,
                  "<g class=\"legend\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                  "fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n",
                  lx, ly, lw, lh);
        for (int i = 0; i < ss->n; i++) {
            int y = ly + 17 + 18 * i;
            legend_entry(b, &ss->s[i], lx + 8, lx + 32, lx + 38, y);
        }
        SB_LIT(b, "</g>\n");
    }
    svg_tail(b, t);
}

/* A params value as short text: numbers as %g, strings as is, arrays "[a, b]". */
static void param_text(char *buf, size_t cap, json_t *params, const char *key)
{
    json_t *v = json_object_get(params, key);
    buf[0] = '\0';
    if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
    } else if (json_is_number(v)) {
        snprintf(buf, cap, "%g", json_number_value(v));
    } else if (json_is_array(v)) {
        size_t len = 0;
        len += (size_t)snprintf(buf, cap, "[");
        for (size_t i = 0; i < json_array_size(v) && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%g", i ? ", " : "",
                                    json_number_value(json_array_get(v, i)));
        if (len < cap) snprintf(buf + len, cap - len, "]");
    } else if (json_is_boolean(v)) {
        snprintf(buf, cap, "%s", json_is_true(v) ? "true" : "false");
    } else {
        snprintf(buf, cap, "-");
    }
}

static json_t *run_params(const store_run *r)
{
    json_t *req = r->request_json ? json_loads(r->request_json, 0, NULL) : NULL;
    json_t *p = json_incref(json_object_get(req, "params"));
    json_decref(req);
    return p ? p : json_object();
}

/* Answers the SVG in b (taking its buffer), or 500 when building it ran out of memory. */
static void answer(http_req *req, http_resp *resp, sbuf *b)
{
    if (b->oom) {
        api_fail(req, resp, MLP_ENOMEM, NULL);
        return;
    }
    resp_take(resp, 200, "image/svg+xml; charset=utf-8", b->p, b->len);
    snprintf(resp->hdr_name, sizeof resp->hdr_name, "Cache-Control");
    snprintf(resp->hdr_value, sizeof resp->hdr_value, "no-cache");
    b->p = NULL;
}

static void plot_one(http_req *req, http_resp *resp, const store_run *r)
{
    series_set ss;
    ss.n = 0;
    store_metric *pts = NULL;
    int n = 0;
    sbuf b = {0};
    json_t *params = NULL;
    mlp_err rc = store_run_metrics(req->app->store, r->id, NULL, 0, &pts, &n);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    int r2 = 0, acc = 0;
    for (int i = 0; i < n; i++) {
        acc |= pts[i].name == MET_VAL_ACCURACY;
        r2 |= pts[i].name == MET_VAL_R2;
    }
    if (!rc) rc = add_series(&ss, pts, n, MET_TRAIN_LOSS, r->id, "train loss", palette[0], 0, 0);
    if (!rc) rc = add_series(&ss, pts, n, MET_VAL_LOSS, r->id, "validation loss", palette[1], 0, 0);
    if (!rc && acc)
        rc = add_series(&ss, pts, n, MET_VAL_ACCURACY, r->id, "validation accuracy (right)",
                        palette[2], 1, 1);
    if (!rc && r2 && !acc)
        rc = add_series(&ss, pts, n, MET_VAL_R2, r->id, "validation R\xc2\xb2 (right)", palette[2],
                        1, 1);
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    params = run_params(r);
    char hidden[256], act[64], opt[64], lr[64], bs[64];
    param_text(hidden, sizeof hidden, params, "hidden");
    param_text(act, sizeof act, params, "activation");
    param_text(opt, sizeof opt, params, "optimizer");
    param_text(lr, sizeof lr, params, "learning_rate");
    param_text(bs, sizeof bs, params, "batch_size");
    char title[256], cap1[512], cap2[512], note[128];
    snprintf(title, sizeof title, "%s \xe2\x80\x94 %s (%s, epoch %d of %d)", r->model_name, r->id,
             run_state_name(r->status), r->epoch, r->epochs);
    snprintf(cap1, sizeof cap1,
             "%s \xc2\xb7 hidden %s \xc2\xb7 activation %s \xc2\xb7 optimizer %s", r->task, hidden,
             act, opt);
    snprintf(cap2, sizeof cap2, "learning_rate %s \xc2\xb7 batch_size %s%s%s", lr, bs,
             r->experiment[0] ? " \xc2\xb7 experiment " : "", r->experiment);
    snprintf(note, sizeof note, "no finished epoch yet (the run is %s)", run_state_name(r->status));
    plot_text t = {title,      {cap1, cap2},
                   "loss",     acc ? "validation accuracy" : r2 ? "validation R\xc2\xb2" : NULL,
                   r2 && !acc, note};
    render(&b, &ss, &t);
    answer(req, resp, &b);
out:
    free(b.p);
    free(pts);
    json_decref(params);
    series_free(&ss);
}

/* Splits ?compare= into ids after the path's run; answers 400/404 and returns -1 when bad. */
static int compare_ids(http_req *req, http_resp *resp, const char *base, const char *list,
                       char ids[PLOT_MAX_RUNS][24], int *n_ids)
{
    snprintf(ids[0], 24, "%s", base);
    int n = 1;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == 0) {
            api_failf(req, resp, 400, "compare", "compare: an empty run id in the list");
            return -1;
        }
        if (len >= 24) {
            api_failf(req, resp, 404, "compare", "compare: no run '%.*s'", (int)len, p);
            return -1;
        }
        char id[24];
        memcpy(id, p, len);
        id[len] = '\0';
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= strcmp(ids[i], id) == 0;
        if (!dup) {
            if (n == PLOT_MAX_RUNS) {
                api_failf(req, resp, 400, "compare",
                          "compare: at most %d runs in one plot (the path's run included)",
                          PLOT_MAX_RUNS);
                return -1;
            }
            snprintf(ids[n++], 24, "%s", id);
        }
        if (!e) break;
        p = e + 1;
    }
    *n_ids = n;
    return 0;
}

void plot_overlay(http_req *req, http_resp *resp, const store_run *runs, char *const *labels, int n,
                  const char *title, const char *caption)
{
    assert(n >= 0 && n <= PLOT_MAX_RUNS);
    series_set ss;
    ss.n = 0;
    sbuf b = {0};
    for (int i = 0; i < n; i++) {
        store_metric *pts = NULL;
        int np = 0;
        mlp_err rc = store_run_metrics(req->app->store, runs[i].id, NULL, 0, &pts, &np);
        int has_val = 0;
        for (int k = 0; !rc && k < np; k++) has_val |= pts[k].name == MET_VAL_LOSS;
        char label[160];
        snprintf(label, sizeof label, "%s%s", labels[i], has_val ? "" : " (train loss)");
        if (!rc)
            rc = add_series(&ss, pts, np, has_val ? MET_VAL_LOSS : MET_TRAIN_LOSS, runs[i].id,
                            label, palette[i], 0, 0);
        free(pts);
        if (rc) {
            api_fail(req, resp, rc, NULL);
            goto out;
        }
    }
    plot_text t = {
        title, {caption, NULL}, "validation loss", NULL, 0, "no finished epoch yet in these runs"};
    render(&b, &ss, &t);
    answer(req, resp, &b);
out:
    free(b.p);
    series_free(&ss);
}

static void plot_compare(http_req *req, http_resp *resp, const store_run *base, const char *list)
{
    char ids[PLOT_MAX_RUNS][24];
    int n_ids = 0;
    store_run runs[PLOT_MAX_RUNS];
    char labels[PLOT_MAX_RUNS][160];
    char *lab[PLOT_MAX_RUNS];
    memset(runs, 0, sizeof runs);
    if (compare_ids(req, resp, base->id, list, ids, &n_ids)) return;
    for (int i = 0; i < n_ids; i++) {
        mlp_err rc = store_run_get(req->app->store, ids[i], &runs[i]);
        if (rc == MLP_OK && !guard_sees_run(req, ids[i])) rc = MLP_ENOTFOUND; /* run-see */
        if (rc == MLP_ENOTFOUND) {
            api_failf(req, resp, 404, "compare", "compare: no run '%s'", ids[i]);
            goto out;
        }
        if (rc) {
            api_fail(req, resp, rc, NULL);
            goto out;
        }
        json_t *params = run_params(&runs[i]);
        char lr[64];
        param_text(lr, sizeof lr, params, "learning_rate");
        json_decref(params);
        snprintf(labels[i], sizeof labels[i], "%.23s \xc2\xb7 lr %.63s", runs[i].id, lr);
        lab[i] = labels[i];
    }
    char title[512], cap1[512];
    size_t len = (size_t)snprintf(title, sizeof title, "Validation loss: ");
    for (int i = 0; i < n_ids && len < sizeof title; i++)
        len += (size_t)snprintf(title + len, sizeof title - len, "%s%s", i ? ", " : "", ids[i]);
    snprintf(cap1, sizeof cap1, "model %s \xc2\xb7 %s \xc2\xb7 one line per run, by learning rate",
             base->model_name, base->task);
    plot_overlay(req, resp, runs, lab, n_ids, title, cap1);
out:
    for (int i = 0; i < PLOT_MAX_RUNS; i++) store_run_clear(&runs[i]);
}

/* ---------- ?diagnostics=true: per-layer gradient norms, log scale ---------- */

/* Decades [lo, hi] (powers of ten) around the positive values of ss. */
static range log_range(const series_set *ss, int *any)
{
    range r = {INFINITY, -INFINITY};
    for (int i = 0; i < ss->n; i++)
        for (int k = 0; k < ss->s[i].n; k++) {
            double e = log10(ss->s[i].y[k]);
            if (e < r.lo) r.lo = e;
            if (e > r.hi) r.hi = e;
        }
    *any = r.lo <= r.hi;
    if (!*any) return (range){-4, 0};
    r.lo = floor(r.lo);
    r.hi = ceil(r.hi);
    if (r.hi <= r.lo) r.hi = r.lo + 1;
    return r;
}

static void render_log(sbuf *b, const series_set *ss, const plot_text *t)
{
    int any;
    range rx = epoch_range(ss);
    range ry = log_range(ss, &any); /* in decades */
    svg_head(b, t->title);
    int span = (int)(ry.hi - ry.lo), every = span <= 8 ? 1 : (span + 7) / 8;
    for (int d = (int)ry.lo; d <= (int)ry.hi; d += every) {
        double y = px_y(ry, d);
        sb_printf(b,
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n",
                  X0, y, X1, y, X0 - 5, y, X0, y, X0 - 8, y + 4, d);
    }
    axis_ticks(b, rx, 0, 0);
    plot_frame(b, t->left_label);
    for (int i = 0; i < ss->n; i++) {
        const series *s = &ss->s[i];
        polyline(b, s, rx, ry, 1);
    }
    if (ss->n == 0) plot_note(b, t->note);
    if (ss->n) { /* legend: one short entry per layer, 16 to a column */
        int rows = ss->n < 16 ? ss->n : 16, cols = (ss->n + 15) / 16;
        int lw = 62 * cols + 8, lh = 8 + 16 * rows, ly = Y0;
        int lx = cols == 1 ? X1 + 4 : X1 - 8 - lw; /* beside the plot, or inside when wide */
        sb_printf(
            b,
            "<g class=\"legend\" font-size=\"10\"><rect x=\"%d\" y=\"%d\" "
            "width=\"%d\" height=\"%d\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n",
            lx, ly, lw, lh);
        for (int i = 0; i < ss->n; i++) {
            int x = lx + 6 + 62 * (i / 16), y = ly + 16 + 16 * (i % 16);
            legend_entry(b, &ss->s[i], x, x + 18, x + 22, y);
        }
        SB_LIT(b, "</g>\n");
    }
    svg_tail(b, t);
}

#define CAPTION_CHARS 110 /* characters of a caption line that fit the image's width */

/* Cuts text at the last ", " that keeps it within CAPTION_CHARS; returns where the rest starts
 * (NULL when it all fits). */
static char *cut_line(char *text)
{
    if (strlen(text) <= CAPTION_CHARS) return NULL;
    char *cut = NULL;
    for (char *p = strstr(text, ", "); p && p - text < CAPTION_CHARS; p = strstr(p + 2, ", "))
        cut = p;
    if (!cut) cut = text + CAPTION_CHARS;
    *cut = '\0';
    return cut[1] == ' ' ? cut + 2 : cut + 1;
}

/* dst (cap bytes) = text then tail, cut to fit (cut_line keeps text within CAPTION_CHARS). */
static void copy_cut(char *dst, size_t cap, const char *text, const char *tail)
{
    size_t n = strlen(text), t = strlen(tail);
    if (n > cap - 1) n = cap - 1;
    memcpy(dst, text, n);
    if (t > cap - 1 - n) t = cap - 1 - n;
    memcpy(dst + n, tail, t);
    dst[n + t] = '\0';
}

/* The last epoch's dead and saturated fractions, layer by layer, as at most two caption lines:
 * "dead at epoch 6: l0 0%, l1 28%, ..." ("..." where the rest does not fit). */
static void caption_units(char *line1, char *line2, size_t cap, const store_metric *pts, int n,
                          int last)
{
    static const metric_family fams[2] = {MFAM_DEAD, MFAM_SATURATED};
    static const char *const what[2] = {"dead", "saturated"};
    double v[2][RUN_LAYERS];
    int has[2][RUN_LAYERS] = {{0}};
    for (int i = 0; i < n; i++) {
        metric_family f;
        int l;
        if (pts[i].step != last || !metric_layer_of(pts[i].name, &f, &l)) continue;
        for (int k = 0; k < 2; k++)
            if (f == fams[k]) v[k][l] = pts[i].value, has[k][l] = 1;
    }
    char all[2048] = "";
    size_t len = 0;
    for (int k = 0; k < 2; k++)
        for (int l = 0, first = 1; l < RUN_LAYERS && len < sizeof all; l++) {
            if (!has[k][l]) continue;
            if (first)
                len += (size_t)snprintf(all + len, sizeof all - len,
                                        "%s%s at epoch %d: ", len ? "; " : "", what[k], last);
            if (len < sizeof all)
                len += (size_t)snprintf(all + len, sizeof all - len, "%sl%d %.0f%%",
                                        first ? "" : ", ", l, 100.0 * v[k][l]);
            first = 0;
        }
    char *rest = cut_line(all);
    copy_cut(line1, cap, all, "");
    line2[0] = '\0';
    if (!rest) return;
    char *more = cut_line(rest);
    copy_cut(line2, cap, rest, more ? ", \xe2\x80\xa6" : "");
}

static void plot_diag(http_req *req, http_resp *resp, const store_run *r)
{
    series_set ss;
    ss.n = 0;
    store_metric *pts = NULL;
    int n = 0;
    sbuf b = {0};
    mlp_err rc = store_run_metrics(req->app->store, r->id, NULL, 0, &pts, &n);
    int last = 0;
    for (int l = 0; !rc && l < RUN_LAYERS; l++) {
        metric_id mid = metric_layer(MFAM_GRAD_NORM, l);
        /* only the positive values have a logarithm; a gradient of exactly 0 leaves a gap */
        store_metric *keep = malloc((size_t)(n ? n : 1) * sizeof *keep);
        if (!keep) {
            rc = MLP_ENOMEM;
            break;
        }
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (pts[i].name == mid && pts[i].value > 0) keep[k++] = pts[i];
            if (pts[i].step > last) last = pts[i].step;
        }
        char label[16];
        snprintf(label, sizeof label, "l%d", l);
        rc = add_series(&ss, keep, k, mid, r->id, label, palette[l % PLOT_MAX_RUNS],
                        l >= PLOT_MAX_RUNS, 0);
        free(keep);
    }
    if (rc) {
        api_fail(req, resp, rc, NULL);
        goto out;
    }
    char title[256], cap1[512] = "", cap2[512] = "", note[160];
    snprintf(title, sizeof title, "%s \xe2\x80\x94 %s: gradient norm per layer", r->model_name,
             r->id);
    caption_units(cap1, cap2, sizeof cap1, pts, n, last);
    snprintf(note, sizeof note, "no per-layer diagnostics recorded (the run is %s)",
             run_state_name(r->status));
    plot_text t = {title,
                   {cap1, cap2},
                   "mean \xe2\x80\x96\xe2\x88\x82L/\xe2\x88\x82W\xe2\x80\x96 (log scale)",
                   NULL,
                   0,
                   note};
    render_log(&b, &ss, &t);
    answer(req, resp, &b);
out:
    free(b.p);
    free(pts);
    series_free(&ss);
}

void runs_plot(http_req *req, http_resp *resp)
{
    store_run r;
    if (runs_load(req, resp, &r)) return;
    const char *cmp = http_query(req, "compare");
    const char *dg = http_query(req, "diagnostics");
    if (dg && strcmp(dg, "true") != 0 && strcmp(dg, "false") != 0)
        api_failf(req, resp, 400, "diagnostics", "diagnostics must be true or false");
    else if (dg && strcmp(dg, "true") == 0 && cmp)
        api_failf(req, resp, 400, "diagnostics",
                  "diagnostics=true draws one run's layers; it does not combine with compare");
    else if (dg && strcmp(dg, "true") == 0)
        plot_diag(req, resp, &r);
    else if (cmp)
        plot_compare(req, resp, &r, cmp);
    else
        plot_one(req, resp, &r);
    store_run_clear(&r);
}
