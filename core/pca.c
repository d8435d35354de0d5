/* pca.c — principal components (see pca.h): the covariance from blocks of centred rows, its top
 * eigenvectors by Jacobi or subspace iteration, projection and reconstruction error. */
#include "pca.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCA_BLOCK      1024 /* rows centred and multiplied at a time */
#define PCA_OVERSAMPLE 8    /* extra vectors of the subspace iteration: faster convergence */
#define PCA_MAX_ITER   300
#define PCA_TOL        1e-9 /* relative change of the top k Ritz values that ends iteration */

void pca_free(pca *p)
{
    if (!p) return;
    free(p->mean);
    free(p->components);
    free(p->variance);
    free(p);
}

/* B (rows × d) = X - mean, for one block of rows. */
static void center(const float *X, long rows, int d, const float *mean, float *B)
{
    for (long i = 0; i < rows; i++)
        for (int j = 0; j < d; j++) B[i * d + j] = X[i * d + j] - mean[j];
}

mlp_err pca_sym_eig(double *A, int n, double *evals, double *evecs)
{
    assert(A && evals && evecs && n >= 1);
    int *order = malloc((size_t)n * sizeof *order);
    double *V = malloc((size_t)n * (size_t)n * sizeof *V);
    if (!order || !V) {
        free(order);
        free(V);
        return MLP_ENOMEM;
    }
    /* V accumulates the rotations as columns: A_original = V·diag·Vᵀ. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[i * n + j] = i == j ? 1.0 : 0.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += A[i * n + i] * A[i * n + i];
            for (int j = i + 1; j < n; j++) off += A[i * n + j] * A[i * n + j];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (apq == 0) continue;
                /* The rotation that zeroes A[p][q] (Golub & Van Loan, symmetric Schur). */
                double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* A = A·J */
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* A = Jᵀ·A */
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) { /* V = V·J */
                    double vkp = V[k * n + p], vkq = V[k * n + q];
                    V[k * n + p] = c * vkp - s * vkq;
                    V[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort by decreasing eigenvalue; n is small */
        int o = order[i], j = i;
        while (j > 0 && A[order[j - 1] * n + order[j - 1]] < A[o * n + o]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = o;
    }
    for (int i = 0; i < n; i++) {
        evals[i] = A[order[i] * n + order[i]];
        for (int k = 0; k < n; k++) evecs[i * n + k] = V[k * n + order[i]];
    }
    free(order);
    free(V);
    return MLP_OK;
}

/* Orthonormalises the p columns of Q (d × p, row-major) by modified Gram-Schmidt. A column that
 * vanishes (rank-deficient covariance) is replaced by a unit vector orthogonal to the others. */
static void orthonormalize(double *Q, int d, int p)
{
    for (int j = 0; j < p; j++) {
        for (int attempt = 0; attempt <= d; attempt++) {
            for (int i = 0; i < j; i++) {
                double dot = 0;
                for (int r = 0; r < d; r++) dot += Q[r * p + i] * Q[r * p + j];
                for (int r = 0; r < d; r++) Q[r * p + j] -= dot * Q[r * p + i];
            }
            double nrm = 0;
            for (int r = 0; r < d; r++) nrm += Q[r * p + j] * Q[r * p + j];
            nrm = sqrt(nrm);
            if (nrm > 1e-150) {
                for (int r = 0; r < d; r++) Q[r * p + j] /= nrm;
                break;
            }
            for (int r = 0; r < d; r++) Q[r * p + j] = r == (j + attempt) % d ? 1.0 : 0.0;
        }
    }
}

/* Top k eigenpairs of the d × d covariance C (full, symmetric) by subspace iteration on p = k +
 * PCA_OVERSAMPLE vectors: Q ← orth(C·Q), with the Ritz values of QᵀCQ watched for convergence,
 * then one Rayleigh-Ritz step. evals (k), evecs (k × d). */
static mlp_err subspace_eig(const double *C, int d, int k, double *evals, double *evecs)
{
    int p = k + PCA_OVERSAMPLE < d ? k + PCA_OVERSAMPLE : d;
    mlp_err rc = MLP_ENOMEM;
    double *Q = malloc((size_t)d * (size_t)p * sizeof *Q);
    double *Z = malloc((size_t)d * (size_t)p * sizeof *Z);
    double *T = malloc((size_t)p * (size_t)p * sizeof *T);
    double *tv = malloc((size_t)p * sizeof *tv), *prev = malloc((size_t)p * sizeof *prev);
    double *U = malloc((size_t)p * (size_t)p * sizeof *U);
    if (!Q || !Z || !T || !tv || !prev || !U) goto out;
    uint64_t s = 0x9e3779b97f4a7c15ull; /* a fixed start: the same fit for the same data */
    for (size_t i = 0; i < (size_t)d * (size_t)p; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        Q[i] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
    }
    orthonormalize(Q, d, p);
    for (int i = 0; i < p; i++) prev[i] = 0;
    for (int it = 0; it < PCA_MAX_ITER; it++) {
        /* Z = C·Q */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, p, d, 1.0, C, d, Q, p, 0.0, Z, p);
        if (it % 5 == 4 || it == PCA_MAX_ITER - 1) {
            /* T = Qᵀ·Z = QᵀCQ; its eigenvalues are the Ritz values */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, p, d, 1.0, Q, p, Z, p, 0.0, T,
                        p);
            if (pca_sym_eig(T, p, tv, U)) goto out;
            double change = 0;
            for (int i = 0; i < k; i++) {
                double c = fabs(tv[i] - prev[i]) / (fabs(tv[0]) > 0 ? fabs(tv[0]) : 1.0);
                if (c > change) change = c;
                prev[i] = tv[i];
            }
            if (change < PCA_TOL) break;
        }
        memcpy(Q, Z, (size_t)d * (size_t)p * sizeof *Q);
        orthonormalize(Q, d, p);
    }
    /* Rayleigh-Ritz: T = QᵀCQ = U·diag·Uᵀ; eigenvector i of C ≈ Q·(row i of U)ᵀ */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, p, d, 1.0, C, d, Q, p, 0.0, Z, p);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, p, d, 1.0, Q, p, Z, p, 0.0, T, p);
    if (pca_sym_eig(T, p, tv, U)) goto out;
    /* evecs (k × d) = U[0..k) (k × p) · Qᵀ */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, d, p, 1.0, U, p, Q, p, 0.0, evecs, d);
    for (int i = 0; i < k; i++) evals[i] = tv[i];
    rc = MLP_OK;
out:
    free(Q);
    free(Z);
    free(T);
    free(tv);
    free(prev);
    free(U);
    return rc;
}

mlp_err pca_fit(const float *X, long n, int d, int k, pca **out, mlp_error *err)
{
    assert(out);
    *out = NULL;
    if (n < 1 || d < 1) return mlp_fail(err, MLP_EINVAL, "PCA needs at least one row and column");
    if (k < 1 || k > d)
        return mlp_fail(err, MLP_EINVAL, "PCA components must be 1 to %d, not %d", d, k);
    if (d > PCA_MAX_D)
        return mlp_fail(err, MLP_ETOOLARGE, "a PCA of %d columns is too wide (at most %d)", d,
                        PCA_MAX_D);
    mlp_err rc = MLP_ENOMEM;
    size_t dd = (size_t)d * (size_t)d;
    long bl = n < PCA_BLOCK ? n : PCA_BLOCK;
    pca *p = calloc(1, sizeof *p);
    double *msum = calloc((size_t)d, sizeof *msum), *C = calloc(dd, sizeof *C);
    double *evals = malloc((size_t)d * sizeof *evals), *evecs = NULL;
    float *B = malloc((size_t)bl * (size_t)d * sizeof *B), *Cb = malloc(dd * sizeof *Cb);
    if (!p || !msum || !C || !evals || !B || !Cb) goto out;
    p->d = d;
    p->k = k;
    p->mean = malloc((size_t)d * sizeof *p->mean);
    p->components = malloc((size_t)k * (size_t)d * sizeof *p->components);
    p->variance = malloc((size_t)k * sizeof *p->variance);
    if (!p->mean || !p->components || !p->variance) goto out;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) msum[j] += X[i * d + j];
    for (int j = 0; j < d; j++) p->mean[j] = (float)(msum[j] / (double)n);
    for (long r0 = 0; r0 < n; r0 += bl) {
        long rows = n - r0 < bl ? n - r0 : bl;
        center(X + r0 * d, rows, d, p->mean, B);
        /* Cb (upper) = Bᵀ·B, summed into C in double so that many blocks lose no precision */
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, d, (int)rows, 1.0f, B, d, 0.0f, Cb, d);
        for (int i = 0; i < d; i++)
            for (int j = i; j < d; j++) C[(size_t)i * d + j] += Cb[(size_t)i * d + j];
    }
    p->total = 0;
    for (int i = 0; i < d; i++) {
        for (int j = i; j < d; j++) {
            C[(size_t)i * d + j] /= (double)n;
            C[(size_t)j * d + i] = C[(size_t)i * d + j];
        }
        p->total += C[(size_t)i * d + i];
    }
    int full = d <= PCA_JACOBI_MAX_D || 2 * k >= d;
    evecs = malloc((full ? dd : (size_t)k * (size_t)d) * sizeof *evecs);
    if (!evecs) goto out;
    rc = full ? pca_sym_eig(C, d, evals, evecs) : subspace_eig(C, d, k, evals, evecs);
    if (rc) goto out;
    for (int i = 0; i < k; i++) {
        const double *v = evecs + (size_t)i * d;
        int big = 0;
        for (int j = 1; j < d; j++)
            if (fabs(v[j]) > fabs(v[big]) * (1 + 1e-9)) big = j;
        double sign = v[big] < 0 ? -1.0 : 1.0;
        for (int j = 0; j < d; j++) p->components[(size_t)i * d + j] = (float)(sign * v[j]);
        p->variance[i] = evals[i] > 0 ? evals[i] : 0;
    }
    *out = p;
    p = NULL;
    rc = MLP_OK;
out:
    if (rc == MLP_ENOMEM) mlp_fail(err, rc, "out of memory for a PCA of %d columns", d);
    pca_free(p);
    free(msum);
    free(C);
    free(evals);
    free(evecs);
    free(B);
    free(Cb);
    return rc;
}

mlp_err pca_project(const pca *p, const float *X, long n, float *Z)
{
    assert(p && (X || n == 0) && (Z || n == 0));
    int d = p->d, k = p->k;
    long bl = n < PCA_BLOCK ? n : PCA_BLOCK;
    if (n == 0) return MLP_OK;
    float *B = malloc((size_t)bl * (size_t)d * sizeof *B);
    if (!B) return MLP_ENOMEM;
    for (long r0 = 0; r0 < n; r0 += bl) {
        long rows = n - r0 < bl ? n - r0 : bl;
        center(X + r0 * d, rows, d, p->mean, B);
        /* Z = B·Cᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, k, d, 1.0f, B, d,
                    p->components, d, 0.0f, Z + r0 * k, k);
    }
    free(B);
    return MLP_OK;
}

mlp_err pca_recon_mse(const pca *p, const float *X, long n, double *mse)
{
    assert(p && mse);
    int d = p->d, k = p->k;
    *mse = 0;
    if (n == 0) return MLP_OK;
    long bl = n < PCA_BLOCK ? n : PCA_BLOCK;
    float *B = malloc((size_t)bl * (size_t)d * sizeof *B);
    float *Z = malloc((size_t)bl * (size_t)k * sizeof *Z);
    if (!B || !Z) {
        free(B);
        free(Z);
        return MLP_ENOMEM;
    }
    double sum = 0;
    for (long r0 = 0; r0 < n; r0 += bl) {
        long rows = n - r0 < bl ? n - r0 : bl;
        center(X + r0 * d, rows, d, p->mean, B);
        /* Z = B·Cᵀ, then B = B - Z·C: the residual of each centred row */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, k, d, 1.0f, B, d,
                    p->components, d, 0.0f, Z, k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, d, k, -1.0f, Z, k,
                    p->components, d, 1.0f, B, d);
        for (size_t i = 0; i < (size_t)rows * (size_t)d; i++) sum += (double)B[i] * B[i];
    }
    free(B);
    free(Z);
    *mse = sum / ((double)n * (double)d);
    return MLP_OK;
}
