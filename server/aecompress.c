/* aecompress.c — an autoencoder's compression against PCA at the same size (see aecompress.h). */
#include "aecompress.h"

#include "pca.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AECOMPRESS_BLOCK 256 /* rows per forward pass */

mlp_err aecompress_measure(const net *model, const trainset *p, aecompress *out, mlp_error *err)
{
    memset(out, 0, sizeof *out);
    int c = net_code_dim(model), d = p->d;
    if (c < 1) return mlp_fail(err, MLP_EINVAL, "the model has no code layer");
    if (p->n < 1) return mlp_fail(err, MLP_EINVAL, "no training rows");
    out->input_dim = d;
    out->code_dim = c;
    out->ratio = (double)d / c;
    out->on_validation = p->nv > 0;
    const float *E = p->nv > 0 ? p->Xv : p->X;
    long ne = p->nv > 0 ? p->nv : p->n;
    if (ne > AECOMPRESS_MAX_ROWS) ne = AECOMPRESS_MAX_ROWS;
    long nf = p->n < AECOMPRESS_MAX_ROWS ? p->n : AECOMPRESS_MAX_ROWS;
    out->rows = ne;
    pca *pc = NULL;
    mlp_err rc = MLP_OK;
    out->pca_mse = NAN; /* no baseline for inputs wider than a PCA may be */
    if (d <= PCA_MAX_D) {
        rc = pca_fit(p->X, nf, d, c < d ? c : d, &pc, err);
        if (!rc) rc = pca_recon_mse(pc, E, ne, &out->pca_mse);
        pca_free(pc);
        if (rc) return rc == MLP_ENOMEM ? mlp_fail(err, rc, "out of memory for the PCA") : rc;
    }
    float *Y = malloc((size_t)AECOMPRESS_BLOCK * (size_t)d * sizeof *Y);
    float *s = malloc(net_scratch_floats(model, AECOMPRESS_BLOCK) * sizeof *s);
    double sum = 0;
    for (long r0 = 0; Y && s && !rc && r0 < ne; r0 += AECOMPRESS_BLOCK) {
        int rows = (int)(ne - r0 < AECOMPRESS_BLOCK ? ne - r0 : AECOMPRESS_BLOCK);
        const float *X = E + (size_t)r0 * (size_t)d;
        rc = net_predict(model, X, rows, Y, s);
        for (int i = 0; !rc && i < rows; i++)
            sum += net_recon_error(X + (size_t)i * d, Y + (size_t)i * d, d);
    }
    if (!Y || !s) rc = mlp_fail(err, MLP_ENOMEM, "out of memory for the reconstructions");
    free(Y);
    free(s);
    out->ae_mse = sum / (double)ne;
    return rc;
}

/* Writes v as a JSON number (%.9g), or null when it is not finite. */
static int put_num(char *o, size_t cap, double v)
{
    return isfinite(v) ? snprintf(o, cap, "%.9g", v) : snprintf(o, cap, "null");
}

char *aecompress_meta(const char *meta, const aecompress *c)
{
    size_t len = strlen(meta);
    while (len && (meta[len - 1] == ' ' || meta[len - 1] == '\n')) len--;
    if (len < 2 || meta[0] != '{' || meta[len - 1] != '}') return NULL;
    char ae[40], pc[40];
    put_num(ae, sizeof ae, c->ae_mse);
    put_num(pc, sizeof pc, c->pca_mse);
    char add[400];
    int n =
        snprintf(add, sizeof add,
                 "\"compression\":{\"input_dim\":%d,\"code_dim\":%d,\"ratio\":%.9g,\"rows\":%ld,"
                 "\"on\":\"%s\",\"reconstruction_mse\":%s,\"pca_mse\":%s}}",
                 c->input_dim, c->code_dim, c->ratio, c->rows,
                 c->on_validation ? "validation" : "training", ae, pc);
    char *out = malloc(len + (size_t)n + 2);
    if (!out) return NULL;
    memcpy(out, meta, len - 1); /* all but the closing brace */
    size_t o = len - 1;
    if (len > 2) out[o++] = ','; /* "{}" has no member to follow */
    memcpy(out + o, add, (size_t)n + 1);
    return out;
}
