/* diag.c — per-layer training diagnostics (see diag.h for what is measured and why). */
#include "diag.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct diag {
    int layers;
    int width[DIAG_LAYERS];             /* outputs of layer l */
    diag_units_kind kind[DIAG_LAYERS];  /* per layer, from its activation */
    unsigned char *active[DIAG_LAYERS]; /* width[l] flags: z > 0 seen (DEAD layers), or NULL */
    long long sat[DIAG_LAYERS], seen[DIAG_LAYERS]; /* saturated values / values looked at */
    double grad[DIAG_LAYERS], ratio[DIAG_LAYERS];  /* sums over the window's mini-batches */
    int steps[DIAG_LAYERS], ratio_steps[DIAG_LAYERS];
    float *scratch; /* max_l dim[l]·dim[l+1] floats */
};

diag_units_kind diag_units_of(act_kind a)
{
    switch (a) {
    case ACT_RELU:
    case ACT_LEAKY_RELU:
    case ACT_ELU:
        return DIAG_UNITS_DEAD;
    case ACT_SIGMOID:
    case ACT_TANH:
        return DIAG_UNITS_SATURATED;
    default:
        return DIAG_UNITS_NONE;
    }
}

static act_kind layer_act(int layers, int l, act_kind act, act_kind out_act)
{
    return l == layers - 1 ? out_act : act;
}

static size_t max_weights(int layers, const int *dim)
{
    size_t m = 1;
    for (int l = 0; l < layers; l++) {
        size_t n = (size_t)dim[l] * (size_t)dim[l + 1];
        if (n > m) m = n;
    }
    return m;
}

size_t diag_mem_bytes(int layers, const int *dim, act_kind act, act_kind out_act)
{
    size_t b = sizeof(struct diag) + max_weights(layers, dim) * sizeof(float);
    for (int l = 0; l < layers; l++)
        if (diag_units_of(layer_act(layers, l, act, out_act)) == DIAG_UNITS_DEAD)
            b += (size_t)dim[l + 1];
    return b;
}

mlp_err diag_new(int layers, const int *dim, act_kind act, act_kind out_act, diag **out)
{
    assert(layers >= 1 && layers <= DIAG_LAYERS && dim && out);
    *out = NULL;
    diag *d = calloc(1, sizeof *d);
    if (!d) return MLP_ENOMEM;
    d->layers = layers;
    d->scratch = malloc(max_weights(layers, dim) * sizeof(float));
    mlp_err rc = d->scratch ? MLP_OK : MLP_ENOMEM;
    for (int l = 0; rc == MLP_OK && l < layers; l++) {
        d->width[l] = dim[l + 1];
        d->kind[l] = diag_units_of(layer_act(layers, l, act, out_act));
        if (d->kind[l] != DIAG_UNITS_DEAD) continue;
        d->active[l] = calloc((size_t)dim[l + 1], 1);
        if (!d->active[l]) rc = MLP_ENOMEM;
    }
    if (rc != MLP_OK) {
        diag_free(d);
        return rc;
    }
    *out = d;
    return MLP_OK;
}

void diag_free(diag *d)
{
    if (!d) return;
    for (int l = 0; l < d->layers; l++) free(d->active[l]);
    free(d->scratch);
    free(d);
}

void diag_begin(diag *d)
{
    for (int l = 0; l < d->layers; l++) {
        if (d->active[l]) memset(d->active[l], 0, (size_t)d->width[l]);
        d->sat[l] = d->seen[l] = 0;
        d->grad[l] = d->ratio[l] = 0.0;
        d->steps[l] = d->ratio_steps[l] = 0;
    }
}

float *diag_scratch(diag *d)
{
    return d->scratch;
}

void diag_add_step(diag *d, int l, double grad_sq, double step_sq, double w_sq)
{
    assert(l >= 0 && l < d->layers);
    d->grad[l] += sqrt(grad_sq);
    d->steps[l]++;
    if (w_sq > 0.0) {
        d->ratio[l] += sqrt(step_sq / w_sq);
        d->ratio_steps[l]++;
    }
}

void diag_add_units(diag *d, int l, const float *Z, int rows, int n)
{
    assert(l >= 0 && l < d->layers && n == d->width[l]);
    if (d->kind[l] == DIAG_UNITS_DEAD) {
        unsigned char *act = d->active[l];
        for (int i = 0; i < rows; i++) {
            const float *z = Z + (size_t)i * n;
            for (int j = 0; j < n; j++) act[j] |= z[j] > 0.0f;
        }
    } else if (d->kind[l] == DIAG_UNITS_SATURATED) {
        long long c = 0;
        for (size_t i = 0, m = (size_t)rows * n; i < m; i++) c += fabsf(Z[i]) > DIAG_SAT_Z;
        d->sat[l] += c;
        d->seen[l] += (long long)rows * n;
    }
}

void diag_end(const diag *d, diag_layers *out)
{
    memset(out, 0, sizeof *out);
    out->layers = d->layers;
    for (int l = 0; l < d->layers; l++) {
        out->grad_norm[l] = d->steps[l] ? d->grad[l] / d->steps[l] : NAN;
        out->update_ratio[l] = d->ratio_steps[l] ? d->ratio[l] / d->ratio_steps[l] : NAN;
        out->units[l] = d->kind[l];
        if (d->kind[l] == DIAG_UNITS_DEAD) {
            long dead = 0;
            for (int j = 0; j < d->width[l]; j++) dead += !d->active[l][j];
            out->units_frac[l] = (double)dead / d->width[l];
        } else if (d->kind[l] == DIAG_UNITS_SATURATED) {
            out->units_frac[l] = d->seen[l] ? (double)d->sat[l] / (double)d->seen[l] : NAN;
        } else {
            out->units_frac[l] = NAN;
        }
    }
}

double diag_sumsq(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

double diag_diffsq(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - b[i];
        s += e * e;
    }
    return s;
}

double diag_fused_gradsq(const float *v0, const float *v1, float beta, float alpha, size_t n)
{
    assert(alpha > 0.0f);
    double s = 0.0, ia = 1.0 / alpha;
    for (size_t i = 0; i < n; i++) {
        double g = ((double)beta * v0[i] - v1[i]) * ia;
        s += g * g;
    }
    return s;
}
