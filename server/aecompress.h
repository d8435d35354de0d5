/* aecompress.h — an autoencoder's compression, measured when its run publishes it: the input
 * width over the code width, and the reconstruction error of the autoencoder beside that of a
 * PCA with as many components as the code (core/pca.h), the linear baseline a non-linear
 * autoencoder should beat. Both errors are net_recon_error's mean squared error per value, in
 * the data's own units, on the run's validation rows (its training rows when it had none); the
 * PCA is fitted on the training rows. Each side uses at most AECOMPRESS_MAX_ROWS rows (the
 * first ones), so publishing a large run costs a bounded, small fraction of its training; a
 * model wider than PCA_MAX_D inputs gets no PCA baseline (pca_mse NaN, written as null).
 * Measured once at publish and stored in the version's meta_json (immutable, like the
 * version), so reading a model costs nothing.
 *
 * Owns: nothing beyond the strings it returns. Borrows: the model and the trainset.
 * Threading: reentrant; it runs on the run's worker thread. */
#ifndef AECOMPRESS_H
#define AECOMPRESS_H

#include "mlp.h"
#include "net.h"
#include "trainset.h"

#define AECOMPRESS_MAX_ROWS 20000

typedef struct {
    int input_dim, code_dim;
    double ratio;      /* input_dim / code_dim */
    long rows;         /* rows the errors were measured on */
    int on_validation; /* 1: validation rows; 0: training rows (the run had none) */
    double ae_mse;     /* the autoencoder's reconstruction error (NaN when not finite) */
    double pca_mse;    /* the PCA's, with code_dim components */
} aecompress;

/* Measures model (an autoencoder with a code) on p's rows into *out. MLP_EINVAL when the model
 * has no code layer or p has no rows; MLP_ENOMEM. */
mlp_err aecompress_measure(const net *model, const trainset *p, aecompress *out, mlp_error *err);
/* meta (a JSON object's text, as jobs_hooks.describe writes it) with the member
 * "compression": {"input_dim", "code_dim", "ratio", "rows", "on", "reconstruction_mse",
 * "pca_mse"} added at its end; a non-finite error is written as null. New string, or NULL when
 * out of memory or meta is not an object's text. */
char *aecompress_meta(const char *meta, const aecompress *c);

#endif
