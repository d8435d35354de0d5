/* sweepgen.h — a sweep request expanded into run requests: the grid (cartesian product) or the
 * seeded random search over `params` fields, bounded by the budget and SWEEP_MAX_RUNS before
 * anything is allocated. Pure JSON work: validating each run is api/runs.c's
 * (runs_check_body), queueing them server/sweep.c's.
 *
 * A sweep body is a run request (POST /api/v1/runs) plus:
 *   grid:   {field: [v, ...], ...}   every combination; the first field varies slowest.
 *   random: {field: [v, ...] | {min, max, log}, ...}  budget draws, each field in order: a list
 *           picks one value uniformly; a range draws uniformly (log: log-uniformly, min > 0),
 *           and integers when min and max are both integers.
 *   seed:   the random search's seed (integer >= 0, default 1).
 *   budget: the most runs (1 to SWEEP_MAX_RUNS): a grid with more combinations is refused, not
 *           truncated; a random search draws exactly budget runs (required).
 *   early_stopping: {"rule": "successive_halving", "rung": N} (N >= 1), see server/sweep.h.
 *
 * Threading: reentrant. */
#ifndef SWEEPGEN_H
#define SWEEPGEN_H

#include "mlp.h"

#include <jansson.h>

#define SWEEP_MAX_RUNS 64

typedef struct {
    json_t **runs;   /* n new run request bodies: the base with the varied params set */
    json_t **params; /* n new objects: {field: value} of the params each run varies */
    int n;
    json_t *varying; /* new array of the varied field names, in order */
    int rung;        /* successive halving every rung epochs; 0 = none */
} sweep_plan;

/* Expands body (borrowed). MLP_EINVAL with err->msg and err->field on a bad sweep request;
 * MLP_ENOMEM. On success *out is filled (sweep_plan_clear it); on failure it is empty. */
mlp_err sweep_expand(json_t *body, sweep_plan *out, mlp_error *err);
/* Frees what a plan holds and zeroes it. NULL-tolerant. */
void sweep_plan_clear(sweep_plan *p);
/* "learning_rate=0.1, optimizer=adam": params (borrowed) as short text in buf (cap bytes). */
void sweep_params_text(json_t *params, char *buf, size_t cap);

#endif
