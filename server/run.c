/* run.c — the names of run states and metric ids, and the metric record's accessors (see
 * run.h). The per-layer names are string literals built by the preprocessor, so metric_name
 * returns static strings for every id. */
#include "run.h"

#include <assert.h>
#include <math.h>

static const char *const run_state_names[RUN_STATE_COUNT] = {"queued", "running", "succeeded",
                                                             "failed", "cancelled"};
#define LAYER_NAMES(f)                                                                             \
    f ".l0", f ".l1", f ".l2", f ".l3", f ".l4", f ".l5", f ".l6", f ".l7", f ".l8", f ".l9",      \
        f ".l10", f ".l11", f ".l12", f ".l13", f ".l14", f ".l15", f ".l16", f ".l17", f ".l18",  \
        f ".l19", f ".l20", f ".l21", f ".l22", f ".l23", f ".l24", f ".l25", f ".l26", f ".l27",  \
        f ".l28", f ".l29", f ".l30", f ".l31", f ".l32"
_Static_assert(RUN_LAYERS == 33, "LAYER_NAMES lists 33 layers");
static const char *const metric_names[MET_ALL] = {"train_loss",
                                                  "val_loss",
                                                  "val_accuracy",
                                                  "val_r2",
                                                  "learning_rate",
                                                  "epoch_seconds",
                                                  LAYER_NAMES("grad_norm"),
                                                  LAYER_NAMES("update_ratio"),
                                                  LAYER_NAMES("dead"),
                                                  LAYER_NAMES("saturated")};

const char *run_state_name(run_state st)
{
    return (unsigned)st < RUN_STATE_COUNT ? run_state_names[st] : "unknown";
}

mlp_err run_state_parse(const char *str, run_state *out)
{
    int i;
    mlp_err e = mlp_name_index(str, run_state_names, RUN_STATE_COUNT, &i);
    if (e == MLP_OK) *out = (run_state)i;
    return e;
}

const char *metric_name(metric_id m)
{
    return (unsigned)m < MET_ALL ? metric_names[m] : "unknown";
}

mlp_err metric_parse(const char *str, metric_id *out)
{
    int i;
    mlp_err e = mlp_name_index(str, metric_names, MET_ALL, &i);
    if (e == MLP_OK) *out = (metric_id)i;
    return e;
}

metric_id metric_layer(metric_family f, int layer)
{
    assert((unsigned)f < MFAM_COUNT && layer >= 0 && layer < RUN_LAYERS);
    return (metric_id)(MET_COUNT + (int)f * RUN_LAYERS + layer);
}

int metric_layer_of(metric_id m, metric_family *f, int *layer)
{
    if ((int)m < MET_COUNT || (int)m >= MET_ALL) return 0;
    int k = (int)m - MET_COUNT;
    if (f) *f = (metric_family)(k / RUN_LAYERS);
    if (layer) *layer = k % RUN_LAYERS;
    return 1;
}

void run_metrics_set(run_metrics *rm, metric_id m, double v)
{
    metric_family f;
    int l;
    assert((unsigned)m < MET_ALL);
    if (metric_layer_of(m, &f, &l)) {
        rm->lv[f][l] = v;
        rm->lpresent[f] |= (uint64_t)1 << l;
    } else {
        rm->v[m] = v;
        rm->present |= 1u << m;
    }
}

int run_metrics_get(const run_metrics *rm, metric_id m, double *v)
{
    metric_family f;
    int l;
    if ((unsigned)m >= MET_ALL) return 0;
    if (metric_layer_of(m, &f, &l)) {
        if (!(rm->lpresent[f] & ((uint64_t)1 << l))) return 0;
        *v = rm->lv[f][l];
    } else {
        if (!(rm->present & (1u << m))) return 0;
        *v = rm->v[m];
    }
    return 1;
}

static void set_finite(run_metrics *rm, metric_family f, int l, double v)
{
    if (isfinite(v)) run_metrics_set(rm, metric_layer(f, l), v);
}

void run_metrics_add_diag(run_metrics *rm, const diag_layers *d)
{
    for (int l = 0; l < d->layers && l < RUN_LAYERS; l++) {
        set_finite(rm, MFAM_GRAD_NORM, l, d->grad_norm[l]);
        set_finite(rm, MFAM_UPDATE_RATIO, l, d->update_ratio[l]);
        if (d->units[l] == DIAG_UNITS_DEAD) set_finite(rm, MFAM_DEAD, l, d->units_frac[l]);
        if (d->units[l] == DIAG_UNITS_SATURATED)
            set_finite(rm, MFAM_SATURATED, l, d->units_frac[l]);
    }
}
