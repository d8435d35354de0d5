/* sweepgen.c — expanding a sweep request into run requests (see sweepgen.h). */
#include "sweepgen.h"
#include "rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char *const sweep_keys[] = {"grid", "random", "seed", "budget", "early_stopping"};

void sweep_plan_clear(sweep_plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        if (p->runs) json_decref(p->runs[i]);
        if (p->params) json_decref(p->params[i]);
    }
    free(p->runs);
    free(p->params);
    json_decref(p->varying);
    memset(p, 0, sizeof *p);
}

/* MLP_EINVAL, with the message in err and the field at fault. */
#define FAIL_AT(fld, ...)                                                                          \
    (mlp_fail(err, MLP_EINVAL, __VA_ARGS__),                                                       \
     snprintf(err->field, sizeof err->field, "%.127s", (fld)), MLP_EINVAL)

/* The base run request: body without the sweep's own keys (new). */
static json_t *base_of(json_t *body)
{
    json_t *base = json_deep_copy(body);
    if (!base) return NULL;
    for (size_t i = 0; i < sizeof sweep_keys / sizeof *sweep_keys; i++)
        json_object_del(base, sweep_keys[i]);
    return base;
}

/* A run body: base with params.<field> = value for each pair of varied (new). */
static json_t *run_of(json_t *base, json_t *varied)
{
    json_t *run = json_deep_copy(base);
    if (!run) return NULL;
    json_t *params = json_object_get(run, "params");
    if (!json_is_object(params)) { /* absent (a bad type is the run's validation to name) */
        if (params) return run;
        params = json_object();
        if (json_object_set_new(run, "params", params)) {
            json_decref(run);
            return NULL;
        }
    }
    if (json_object_update(params, varied)) {
        json_decref(run);
        return NULL;
    }
    return run;
}

static int parse_int(json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v)) return -1;
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

/* Checks the search object (grid or random) and fills varying; *combos = the grid's size
 * (capped at SWEEP_MAX_RUNS + 1 so it cannot overflow). */
static mlp_err check_space(json_t *space, int random, json_t *varying, long long *combos,
                           mlp_error *err)
{
    const char *what = random ? "random" : "grid";
    char field[128];
    if (!json_is_object(space) || json_object_size(space) == 0)
        return FAIL_AT(what, "%s must be an object of params fields (not empty)", what);
    *combos = 1;
    const char *key;
    json_t *v;
    json_object_foreach(space, key, v)
    {
        snprintf(field, sizeof field, "%s.%s", what, key);
        if (!key[0]) return FAIL_AT(what, "%s: a field name is empty", what);
        if (json_is_array(v)) {
            size_t n = json_array_size(v);
            if (n == 0) return FAIL_AT(field, "%s: the list of values is empty", field);
            if (!random) {
                *combos *= (long long)n;
                if (*combos > SWEEP_MAX_RUNS) *combos = SWEEP_MAX_RUNS + 1;
            }
        } else if (random && json_is_object(v)) {
            json_t *lo = json_object_get(v, "min"), *hi = json_object_get(v, "max");
            json_t *lg = json_object_get(v, "log");
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                if (strcmp(k2, "min") && strcmp(k2, "max") && strcmp(k2, "log"))
                    return FAIL_AT(field, "%s: unknown field (min, max, log)", field);
            }
            if (!json_is_number(lo) || !json_is_number(hi))
                return FAIL_AT(field, "%s: a range needs numbers min and max", field);
            double a = json_number_value(lo), b = json_number_value(hi);
            if (!isfinite(a) || !isfinite(b) || a > b)
                return FAIL_AT(field, "%s: a range needs finite min <= max", field);
            if (lg && !json_is_boolean(lg))
                return FAIL_AT(field, "%s: log must be true or false", field);
            if (json_is_true(lg) && a <= 0)
                return FAIL_AT(field, "%s: a log range needs min > 0", field);
        } else {
            return random
                       ? FAIL_AT(field, "%s: must be a list of values or a range {min, max, log}",
                                 field)
                       : FAIL_AT(field, "%s: must be a list of values", field);
        }
        if (json_array_append_new(varying, json_string(key))) return MLP_ENOMEM;
    }
    return MLP_OK;
}

/* One random draw of range r ({min, max, log}) (new). */
static json_t *draw_range(json_t *r, rng *g)
{
    json_t *lo = json_object_get(r, "min"), *hi = json_object_get(r, "max");
    double a = json_number_value(lo), b = json_number_value(hi);
    int lg = json_is_true(json_object_get(r, "log"));
    double u = rng_uniform(g);
    double x = lg ? exp(log(a) + u * (log(b) - log(a))) : a + u * (b - a);
    if (json_is_integer(lo) && json_is_integer(hi)) {
        long long ia = json_integer_value(lo), ib = json_integer_value(hi);
        long long k = lg ? llround(x) : ia + (long long)rng_below(g, (uint64_t)(ib - ia) + 1);
        if (k < ia) k = ia;
        if (k > ib) k = ib;
        return json_integer(k);
    }
    return json_real(x > b ? b : x);
}

/* The varied params of grid combination c (new): mixed-radix digits, last field fastest. */
static json_t *grid_point(json_t *grid, json_t *varying, long long c)
{
    json_t *p = json_object();
    for (size_t i = json_array_size(varying); p && i-- > 0;) {
        const char *key = json_string_value(json_array_get(varying, i));
        json_t *vals = json_object_get(grid, key);
        size_t n = json_array_size(vals);
        if (json_object_set(p, key, json_array_get(vals, (size_t)(c % (long long)n)))) {
            json_decref(p);
            return NULL;
        }
        c /= (long long)n;
    }
    /* Set in reverse: rebuild in the fields' order so texts and labels read naturally. */
    json_t *q = p ? json_object() : NULL;
    for (size_t i = 0; q && i < json_array_size(varying); i++) {
        const char *key = json_string_value(json_array_get(varying, i));
        if (json_object_set(q, key, json_object_get(p, key))) {
            json_decref(q);
            q = NULL;
        }
    }
    json_decref(p);
    return q;
}

static json_t *random_point(json_t *space, json_t *varying, rng *g)
{
    json_t *p = json_object();
    for (size_t i = 0; p && i < json_array_size(varying); i++) {
        const char *key = json_string_value(json_array_get(varying, i));
        json_t *v = json_object_get(space, key);
        json_t *x = json_is_array(v)
                        ? json_incref(json_array_get(v, (size_t)rng_below(g, json_array_size(v))))
                        : draw_range(v, g);
        if (!x || json_object_set_new(p, key, x)) {
            json_decref(p);
            p = NULL;
        }
    }
    return p;
}

mlp_err sweep_expand(json_t *body, sweep_plan *out, mlp_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *grid = json_object_get(body, "grid"), *random = json_object_get(body, "random");
    json_t *base = NULL;
    mlp_err rc = MLP_OK;
    if (!grid == !random) {
        rc = FAIL_AT("grid", "a sweep needs exactly one of grid or random");
        goto out;
    }
    long long budget = 0, seed = 1;
    json_t *jb = json_object_get(body, "budget"), *js = json_object_get(body, "seed");
    if (jb && parse_int(jb, 1, SWEEP_MAX_RUNS, &budget)) {
        rc = FAIL_AT("budget", "budget must be an integer from 1 to %d", SWEEP_MAX_RUNS);
        goto out;
    }
    if (js && (!random || parse_int(js, 0, INT64_MAX, &seed))) {
        rc = random ? FAIL_AT("seed", "seed must be an integer >= 0")
                    : FAIL_AT("seed", "seed: only a random search has a seed");
        goto out;
    }
    json_t *es = json_object_get(body, "early_stopping");
    if (es) {
        json_t *rule = json_object_get(es, "rule");
        long long rung = 0;
        if (!json_is_object(es) || !json_is_string(rule) ||
            strcmp(json_string_value(rule), "successive_halving") != 0 ||
            json_object_size(es) != 2 ||
            parse_int(json_object_get(es, "rung"), 1, 1000000, &rung)) {
            rc = FAIL_AT("early_stopping",
                         "early_stopping must be {\"rule\": \"successive_halving\", \"rung\": "
                         "N} with N >= 1 epochs");
            goto out;
        }
        out->rung = (int)rung;
    }
    out->varying = json_array();
    if (!out->varying) {
        rc = MLP_ENOMEM;
        goto out;
    }
    long long combos = 0;
    rc = check_space(grid ? grid : random, random != NULL, out->varying, &combos, err);
    if (rc) goto out;
    long long n;
    if (grid) {
        if (combos > SWEEP_MAX_RUNS) {
            rc = FAIL_AT("grid", "grid: more than %d combinations; a sweep has at most %d runs",
                         SWEEP_MAX_RUNS, SWEEP_MAX_RUNS);
            goto out;
        }
        if (budget && combos > budget) {
            rc = FAIL_AT("budget",
                         "grid: %lld combinations, more than the budget of %lld runs (a grid "
                         "is never truncated: raise budget or shrink the grid)",
                         combos, budget);
            goto out;
        }
        n = combos;
    } else {
        if (!budget) {
            rc = FAIL_AT("budget",
                         "budget is required with random: the number of runs to draw "
                         "(1 to %d)",
                         SWEEP_MAX_RUNS);
            goto out;
        }
        n = budget;
    }
    base = base_of(body);
    out->runs = calloc((size_t)n, sizeof *out->runs);
    out->params = calloc((size_t)n, sizeof *out->params);
    if (!base || !out->runs || !out->params) {
        rc = MLP_ENOMEM;
        goto out;
    }
    rng g;
    rng_seed(&g, (uint64_t)seed);
    for (long long i = 0; i < n; i++) {
        json_t *p =
            grid ? grid_point(grid, out->varying, i) : random_point(random, out->varying, &g);
        json_t *r = p ? run_of(base, p) : NULL;
        out->params[out->n] = p;
        out->runs[out->n] = r;
        out->n++;
        if (!r) {
            rc = MLP_ENOMEM;
            goto out;
        }
    }
out:
    json_decref(base);
    if (rc) sweep_plan_clear(out);
    return rc;
}

void sweep_params_text(json_t *params, char *buf, size_t cap)
{
    size_t len = 0;
    const char *key;
    json_t *v;
    buf[0] = '\0';
    json_object_foreach(params, key, v)
    {
        if (len >= cap) break;
        char num[32];
        char *txt = NULL;
        if (json_is_real(v)) /* %g: 0.3, not the 17 digits of its double */
            snprintf(num, sizeof num, "%g", json_real_value(v));
        else if (!json_is_string(v))
            txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
        const char *shown = json_is_string(v) ? json_string_value(v) : json_is_real(v) ? num : txt;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=%s", len ? ", " : "", key,
                                shown ? shown : "?");
        free(txt);
    }
}
