/* test_plot.c — GET /api/v1/runs/{id}/plot.svg against the real daemon: the SVG is well-formed
 * XML (a small strict checker below: one root, matched tags, quoted attributes without '<',
 * only the five predefined or numeric entities, no stray '&' or '<' in text, no control
 * characters), each series is one polyline with one point per epoch, a regression run plots
 * R², a run without validation only train loss, a queued run empty axes and a note, compare
 * mode one series per run, text from the user escaped, and 400/404 for bad compare lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;
static char DS[32];

/* ---- a strict XML well-formedness checker for what an SVG needs ---- */

typedef struct {
    char series[32], run[32];
    int points;
} poly;

typedef struct {
    const char *p, *end;
    int depth;
    poly polys[32];
    int n_polys;
    const char *err;
} xp;

static int name_start(int c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static int name_char(int c)
{
    return isalnum(c) || c == '_' || c == ':' || c == '-' || c == '.';
}

/* Checks character data up to the next '<' (or end of an attribute value at quote q). */
static int chars(xp *x, char q)
{
    while (x->p < x->end && *x->p != (q ? q : '<')) {
        unsigned char c = (unsigned char)*x->p;
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return (x->err = "control char"), -1;
        if (q && c == '<') return (x->err = "'<' in attribute"), -1;
        if (c == '&') {
            const char *semi = memchr(x->p, ';', (size_t)(x->end - x->p));
            if (!semi || semi - x->p > 10) return (x->err = "bare '&'"), -1;
            size_t n = (size_t)(semi - x->p - 1);
            const char *e = x->p + 1;
            int ok = (n == 3 && !strncmp(e, "amp", 3)) || (n == 2 && !strncmp(e, "lt", 2)) ||
                     (n == 2 && !strncmp(e, "gt", 2)) || (n == 4 && !strncmp(e, "quot", 4)) ||
                     (n == 4 && !strncmp(e, "apos", 4));
            if (!ok && n >= 2 && e[0] == '#') {
                ok = 1;
                int hex = e[1] == 'x';
                for (size_t i = 1 + (size_t)hex; i < n; i++)
                    ok &= (hex ? isxdigit((unsigned char)e[i]) : isdigit((unsigned char)e[i])) != 0;
                ok &= n > 1 + (size_t)hex;
            }
            if (!ok) return (x->err = "unknown entity"), -1;
            x->p = semi + 1;
            continue;
        }
        x->p++;
    }
    return 0;
}

static void skip_ws(xp *x)
{
    while (x->p < x->end && isspace((unsigned char)*x->p)) x->p++;
}

static int element(xp *x);

static int content(xp *x, const char *name, size_t nlen)
{
    for (;;) {
        if (chars(x, 0)) return -1;
        if (x->p >= x->end) return (x->err = "unclosed element"), -1;
        if (!strncmp(x->p, "<!--", 4)) {
            const char *e = strstr(x->p + 4, "-->");
            if (!e) return (x->err = "unclosed comment"), -1;
            x->p = e + 3;
        } else if (x->p[1] == '/') {
            x->p += 2;
            if ((size_t)(x->end - x->p) < nlen || strncmp(x->p, name, nlen) ||
                name_char((unsigned char)x->p[nlen]))
                return (x->err = "mismatched end tag"), -1;
            x->p += nlen;
            skip_ws(x);
            if (*x->p != '>') return (x->err = "bad end tag"), -1;
            x->p++;
            return 0;
        } else if (element(x)) {
            return -1;
        }
    }
}

static int element(xp *x)
{
    if (*x->p != '<' || !name_start((unsigned char)x->p[1])) return (x->err = "not a tag"), -1;
    const char *name = ++x->p;
    while (x->p < x->end && name_char((unsigned char)*x->p)) x->p++;
    size_t nlen = (size_t)(x->p - name);
    int is_poly = nlen == 8 && !strncmp(name, "polyline", 8);
    poly pl = {"", "", 0};
    char seen[16][32];
    int n_seen = 0;
    for (;;) {
        const char *before = x->p;
        skip_ws(x);
        if (x->p >= x->end) return (x->err = "eof in tag"), -1;
        if (*x->p == '>' || !strncmp(x->p, "/>", 2)) break;
        if (x->p == before) return (x->err = "no space before attribute"), -1;
        const char *an = x->p;
        if (!name_start((unsigned char)*an)) return (x->err = "bad attribute name"), -1;
        while (x->p < x->end && name_char((unsigned char)*x->p)) x->p++;
        size_t alen = (size_t)(x->p - an);
        for (int i = 0; i < n_seen; i++)
            if (strlen(seen[i]) == alen && !strncmp(seen[i], an, alen))
                return (x->err = "duplicate attribute"), -1;
        if (n_seen < 16 && alen < 32) {
            memcpy(seen[n_seen], an, alen);
            seen[n_seen++][alen] = '\0';
        }
        if (*x->p++ != '=') return (x->err = "attribute without ="), -1;
        char q = *x->p++;
        if (q != '"' && q != '\'') return (x->err = "unquoted attribute"), -1;
        const char *v = x->p;
        if (chars(x, q)) return -1;
        if (x->p >= x->end) return (x->err = "eof in attribute"), -1;
        size_t vlen = (size_t)(x->p - v);
        x->p++;
        if (is_poly && alen == 11 && !strncmp(an, "data-series", 11) && vlen < 32)
            memcpy(pl.series, v, vlen), pl.series[vlen] = '\0';
        if (is_poly && alen == 8 && !strncmp(an, "data-run", 8) && vlen < 32)
            memcpy(pl.run, v, vlen), pl.run[vlen] = '\0';
        if (is_poly && alen == 6 && !strncmp(an, "points", 6)) {
            pl.points = 0;
            for (size_t i = 0; i < vlen; i++)
                if (v[i] == ',') pl.points++;
        }
    }
    if (is_poly && x->n_polys < 32) x->polys[x->n_polys++] = pl;
    if (*x->p == '/') {
        x->p += 2;
        return 0;
    }
    x->p++;
    return content(x, name, nlen);
}

/* 0 when doc is well-formed with one root <svg>; fills x. */
static int xml_check(const char *doc, size_t len, xp *x)
{
    memset(x, 0, sizeof *x);
    x->p = doc;
    x->end = doc + len;
    if (!strncmp(x->p, "<?xml", 5)) {
        const char *e = strstr(x->p, "?>");
        if (!e) return -1;
        x->p = e + 2;
    }
    skip_ws(x);
    if (strncmp(x->p, "<svg", 4)) return (x->err = "root is not svg"), -1;
    if (element(x)) return -1;
    skip_ws(x);
    if (x->p != x->end) return (x->err = "content after the root"), -1;
    return 0;
}

static void check_checker(void **state)
{
    (void)state;
    xp x;
    const char *good = "<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><polyline data-series=\"s\" "
                       "points=\"1,2 3,4\"/></g><text>a &amp; b &#178;</text></svg>\n";
    assert_int_equal(xml_check(good, strlen(good), &x), 0);
    assert_int_equal(x.n_polys, 1);
    assert_int_equal(x.polys[0].points, 2);
    const char *bad[] = {"<svg><g></svg>",
                         "<svg>a & b</svg>",
                         "<svg a=1/>",
                         "<svg a=\"<\"/>",
                         "<svg/><svg/>",
                         "<svg>&nbsp;</svg>",
                         "<svg a=\"1\" a=\"2\"/>",
                         "<svg>\x01</svg>",
                         "<svg><g></h></svg>",
                         "<svg>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(xml_check(bad[i], strlen(bad[i]), &x), 0);
}

/* ---- fixtures ---- */

static char *run(const char *body_fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run(const char *body_fmt, ...)
{
    char body[1024];
    va_list ap;
    va_start(ap, body_fmt);
    vsnprintf(body, sizeof body, body_fmt, ap);
    va_end(ap);
    long st;
    json_t *j = post_json(&S, "/api/v1/runs", body, &st);
    if (st != 202) fprintf(stderr, "POST /api/v1/runs %s: %ld\n", body, st);
    assert_int_equal(st, 202);
    char *id = strdup(json_string_value(json_object_get(j, "id")));
    json_decref(j);
    return id;
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL)) return -1;
    char *csv = malloc(400 * 48 + 64), *p = csv;
    unsigned seed = 5;
    p += sprintf(p, "a,b,y,kind\n");
    for (int i = 0; i < 400; i++) {
        double a = h_urand(&seed), b = h_urand(&seed);
        p += sprintf(p, "%.4f,%.4f,%.4f,%s\n", a, b, 2 * a - b, a > b ? "x" : "o");
    }
    hresp r;
    long st =
        http_do(&S, "POST", "/api/v1/datasets?name=plot", "text/csv", csv, strlen(csv), NULL, &r);
    free(csv);
    json_t *j = hresp_json(&r);
    if (st == 201) snprintf(DS, sizeof DS, "%s", json_string_value(json_object_get(j, "id")));
    json_decref(j);
    hresp_free(&r);
    return st == 201 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = srv_stop(&S, SIGTERM);
    srv_cleanup(&S);
    return rc == 0 ? 0 : -1;
}

/* GETs a plot; checks status, type and well-formedness; fills x (doc kept in *body). */
static void get_plot(const char *path, xp *x, char **body)
{
    hresp r;
    long st = http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r);
    if (st != 200) fprintf(stderr, "%s: %ld %s\n", path, st, r.body);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r.content_type, "image/svg+xml"));
    int rc = xml_check(r.body, r.len, x);
    if (rc)
        fprintf(stderr, "%s: not well-formed: %s at offset %ld\n", path, x->err,
                (long)(x->p - r.body));
    assert_int_equal(rc, 0);
    *body = r.body; /* x points into it */
    r.body = NULL;
    hresp_free(&r);
}

static const poly *find(const xp *x, const char *series, const char *run_id)
{
    for (int i = 0; i < x->n_polys; i++)
        if (!strcmp(x->polys[i].series, series) && !strcmp(x->polys[i].run, run_id))
            return &x->polys[i];
    return NULL;
}

static void test_plots(void **state)
{
    (void)state;
    char *a = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                  "\"features\": [\"a\", \"b\"], \"model_name\": \"plot-a\", "
                  "\"experiment\": \"lr <0.1> & \\\"q\\\" 'x'\", "
                  "\"params\": {\"hidden\": [8], \"epochs\": 5, \"learning_rate\": 0.01}}",
                  DS);
    char *b = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                  "\"features\": [\"a\", \"b\"], "
                  "\"params\": {\"hidden\": [8], \"epochs\": 4, \"learning_rate\": 0.1}}",
                  DS);
    char *reg = run("{\"dataset_id\": \"%s\", \"task\": \"regression\", \"target\": \"y\", "
                    "\"features\": [\"a\", \"b\"], \"params\": {\"hidden\": [8], \"epochs\": 3}}",
                    DS);
    char *noval = run("{\"dataset_id\": \"%s\", \"task\": \"regression\", \"target\": \"y\", "
                      "\"features\": [\"a\", \"b\"], \"validation\": {\"fraction\": 0}, "
                      "\"params\": {\"hidden\": [8], \"epochs\": 2}}",
                      DS);
    const char *ids[] = {a, b, reg, noval};
    for (int i = 0; i < 4; i++) {
        json_t *j = wait_run(&S, ids[i], 60);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "succeeded");
        json_decref(j);
    }
    char path[512], *body = NULL;
    xp x;
    const poly *p;

    /* classification: train loss, val loss, val accuracy; 5 points each */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", a);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 3);
    assert_non_null(p = find(&x, "train_loss", a));
    assert_int_equal(p->points, 5);
    assert_non_null(p = find(&x, "val_loss", a));
    assert_int_equal(p->points, 5);
    assert_non_null(p = find(&x, "val_accuracy", a));
    assert_int_equal(p->points, 5);
    assert_non_null(strstr(body, "plot-a"));
    assert_non_null(strstr(body, "lr &lt;0.1&gt; &amp; &quot;q&quot; &#39;x&#39;"));
    assert_non_null(strstr(body, "learning_rate 0.01"));
    assert_non_null(strstr(body, "epoch</text>"));
    free(body);

    /* regression: R² on the right axis */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", reg);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 3);
    assert_non_null(p = find(&x, "val_r2", reg));
    assert_int_equal(p->points, 3);
    free(body);

    /* no validation rows: train loss only */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", noval);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 1);
    assert_non_null(p = find(&x, "train_loss", noval));
    assert_int_equal(p->points, 2);
    free(body);

    /* compare: one validation-loss series per run, train loss where a run has no validation */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s,%s,%s,%s", a, b, reg, noval,
             b);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 4);
    assert_int_equal(find(&x, "val_loss", a)->points, 5);
    assert_int_equal(find(&x, "val_loss", b)->points, 4);
    assert_int_equal(find(&x, "val_loss", reg)->points, 3);
    assert_int_equal(find(&x, "train_loss", noval)->points, 2);
    assert_non_null(strstr(body, "lr 0.1<"));
    assert_non_null(strstr(body, "lr 0.01<"));
    free(body);

    /* bad compare lists */
    hresp r;
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s,run_4242", a, b);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 404);
    assert_non_null(strstr(r.body, "run_4242"));
    hresp_free(&r);
    char list[128] = "";
    for (int i = 0; i < 12; i++) /* 12 others + this run = 13 */
        snprintf(list + strlen(list), sizeof list - strlen(list), "%srun_%d", i ? "," : "",
                 100 + i);
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s", a, list);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    assert_non_null(strstr(r.body, "12"));
    hresp_free(&r);
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg?compare=%s,,%s", a, b, b);
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &r), 400);
    hresp_free(&r);
    assert_int_equal(http_do(&S, "GET", "/api/v1/runs/run_999/plot.svg", NULL, NULL, 0, NULL, &r),
                     404);
    hresp_free(&r);
    free(a);
    free(b);
    free(reg);
    free(noval);
}

static void test_unfinished_run(void **state)
{
    (void)state;
    /* A long run holds the worker; a second one stays queued with no epoch. */
    char *lng = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                    "\"features\": [\"a\", \"b\"], \"params\": {\"hidden\": [8], "
                    "\"epochs\": 100000}}",
                    DS);
    char *q = run("{\"dataset_id\": \"%s\", \"task\": \"classification\", \"target\": \"kind\", "
                  "\"features\": [\"a\", \"b\"], \"params\": {\"epochs\": 3}}",
                  DS);
    assert_int_equal(wait_epoch(&S, lng, 2, 60), 0);
    char path[128], *body;
    xp x;
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", q);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 0);
    assert_non_null(strstr(body, "no finished epoch yet"));
    free(body);
    /* the running one draws what it has */
    snprintf(path, sizeof path, "/api/v1/runs/%s/plot.svg", lng);
    get_plot(path, &x, &body);
    assert_int_equal(x.n_polys, 3);
    assert_true(find(&x, "train_loss", lng)->points >= 2);
    free(body);
    long st;
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", q);
    json_decref(post_json(&S, path, "{}", &st));
    snprintf(path, sizeof path, "/api/v1/runs/%s/cancel", lng);
    json_decref(post_json(&S, path, "{}", &st));
    json_decref(wait_run(&S, lng, 60));
    free(lng);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_checker),
        cmocka_unit_test(test_plots),
        cmocka_unit_test(test_unfinished_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
