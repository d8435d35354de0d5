/* pca.h — principal component analysis of a row-major float matrix, in the numeric core with
 * cblas and no other dependency: what the autoencoder microscope uses to draw codes wider than
 * two in the plane, and the linear baseline an autoencoder's compression is compared with.
 *
 * The covariance is the population one (divided by n) of the centred rows, accumulated in
 * double from float blocks of cblas_ssyrk. Its top k eigenvectors come from a cyclic Jacobi
 * solver (pca_sym_eig) on the whole d × d matrix when d is small (<= PCA_JACOBI_MAX_D), else
 * from subspace iteration (blocks of cblas_dgemm, Gram-Schmidt, a Rayleigh-Ritz step solved by
 * the same Jacobi) on k + 8 vectors. Components are sorted by decreasing variance; the sign of
 * each is fixed so that its entry of largest magnitude is positive (the first on ties), so two
 * fits of the same data agree.
 *
 * Owns: a pca owns its mean, components and variances. Borrows: the matrices passed in, for the
 * call only.
 * Threading: a fitted pca is read-only; any number of threads may project with it. BLAS
 * threading is the caller's choice. */
#ifndef PCA_H
#define PCA_H

#include "mlp.h"

#define PCA_JACOBI_MAX_D 128
/* The covariance takes d² doubles (and d² floats while it is summed): 4096 columns cost 192 MiB,
 * and wider fits are refused rather than allowed to take the machine's memory. */
#define PCA_MAX_D 4096

typedef struct {
    int d;             /* input width */
    int k;             /* components kept, 1..d */
    float *mean;       /* d: the column means of the fitted rows */
    float *components; /* k × d, row-major: orthonormal rows, by decreasing variance */
    double *variance;  /* k: the covariance's eigenvalue along each component */
    double total;      /* trace of the covariance: the variance of all d columns together */
} pca;

/* Fits k components to X (n × d, n >= 1). MLP_EINVAL (err->msg) for k outside 1..d or n < 1;
 * MLP_ETOOLARGE (err->msg) for d > PCA_MAX_D. *out is new: pca_free it. */
mlp_err pca_fit(const float *X, long n, int d, int k, pca **out, mlp_error *err);
/* NULL-tolerant. */
void pca_free(pca *p);
/* Z (n × k) = (X - mean)·componentsᵀ. X is n × p->d. MLP_ENOMEM for its block buffer. */
mlp_err pca_project(const pca *p, const float *X, long n, float *Z);
/* Mean squared error per value of reconstructing X (n × d) from its k components:
 * sum over rows of |x - (mean + Cᵀ·C·(x - mean))|² / (n·d), in *mse. MLP_ENOMEM. */
mlp_err pca_recon_mse(const pca *p, const float *X, long n, double *mse);

/* Eigen-decomposition of the symmetric n × n row-major matrix A (destroyed) by cyclic Jacobi
 * rotations: evals (n) in decreasing order, evecs (n × n, row-major) with eigenvector i in row i.
 * MLP_ENOMEM. */
mlp_err pca_sym_eig(double *A, int n, double *evals, double *evecs);

#endif
