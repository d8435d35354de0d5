/* test_pca.c — core/pca: the Jacobi solver on a matrix with known eigenpairs, a fit whose
 * covariance is known exactly (components, variances, projection, reconstruction error), the
 * subspace-iteration path (d > PCA_JACOBI_MAX_D) finding planted directions, and bad k or d. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pca.h"
#include "rng.h"

/* The second-difference matrix: eigenvalues 2 + √2, 2, 2 - √2 with eigenvectors
 * (1, -√2, 1)/2, (1, 0, -1)/√2, (1, √2, 1)/2. */
static void test_jacobi_known(void **state)
{
    (void)state;
    double A[9] = {2, -1, 0, -1, 2, -1, 0, -1, 2}, ev[3], V[9];
    assert_int_equal(pca_sym_eig(A, 3, ev, V), MLP_OK);
    const double r2 = sqrt(2.0);
    const double want_ev[3] = {2 + r2, 2, 2 - r2};
    const double want_v[3][3] = {{0.5, -r2 / 2, 0.5}, {1 / r2, 0, -1 / r2}, {0.5, r2 / 2, 0.5}};
    for (int i = 0; i < 3; i++) {
        assert_true(fabs(ev[i] - want_ev[i]) < 1e-12);
        double dot = 0;
        for (int j = 0; j < 3; j++) dot += V[i * 3 + j] * want_v[i][j];
        assert_true(fabs(fabs(dot) - 1) < 1e-12);
    }
}

/* Rows m + a·u + b·v for a in {-3, 3}, b in {-1, 1}: mean m, covariance 9·uuᵀ + vvᵀ exactly. */
static void test_fit_known(void **state)
{
    (void)state;
    enum { D = 5 };
    const float h = (float)(1 / sqrt(2.0));
    const float m[D] = {1, 2, 3, 4, 5}, u[D] = {h, h, 0, 0, 0}, v[D] = {0, 0, h, -h, 0};
    float X[4 * D], Z[4 * 2];
    const float ab[4][2] = {{-3, -1}, {-3, 1}, {3, -1}, {3, 1}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < D; j++) X[i * D + j] = m[j] + ab[i][0] * u[j] + ab[i][1] * v[j];
    pca *p = NULL;
    assert_int_equal(pca_fit(X, 4, D, 2, &p, NULL), MLP_OK);
    assert_int_equal(p->k, 2);
    for (int j = 0; j < D; j++) {
        assert_true(fabsf(p->mean[j] - m[j]) < 1e-6f);
        /* the sign rule: the largest entry (the first on ties) is positive, so +u and +v */
        assert_true(fabsf(p->components[j] - u[j]) < 1e-5f);
        assert_true(fabsf(p->components[D + j] - v[j]) < 1e-5f);
    }
    assert_true(fabs(p->variance[0] - 9) < 1e-4);
    assert_true(fabs(p->variance[1] - 1) < 1e-4);
    assert_true(fabs(p->total - 10) < 1e-4);
    assert_int_equal(pca_project(p, X, 4, Z), MLP_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(fabsf(Z[i * 2] - ab[i][0]) < 1e-5f);
        assert_true(fabsf(Z[i * 2 + 1] - ab[i][1]) < 1e-5f);
    }
    double mse = -1;
    assert_int_equal(pca_recon_mse(p, X, 4, &mse), MLP_OK);
    assert_true(mse < 1e-10);
    pca_free(p);
    /* one component leaves b·v: |v|² = 1 per row, over D values */
    assert_int_equal(pca_fit(X, 4, D, 1, &p, NULL), MLP_OK);
    assert_int_equal(pca_recon_mse(p, X, 4, &mse), MLP_OK);
    assert_true(fabs(mse - 1.0 / D) < 1e-6);
    pca_free(p);
}

/* d = 300 goes through subspace iteration: three planted orthogonal directions with variances
 * 25, 9 and 4 over isotropic noise of variance 1e-4 come back in order. */
static void test_fit_subspace(void **state)
{
    (void)state;
    enum { D = 300, N = 3000, K = 3 };
    assert_true(D > PCA_JACOBI_MAX_D);
    rng r;
    rng_seed(&r, 7);
    static float dirs[K][D], X[N * D];
    for (int c = 0; c < K; c++) { /* disjoint supports: orthogonal by construction */
        double nrm = 0;
        for (int j = 0; j < D; j++) {
            dirs[c][j] = j % K == c ? (float)rng_normal(&r) : 0.0f;
            nrm += (double)dirs[c][j] * dirs[c][j];
        }
        for (int j = 0; j < D; j++) dirs[c][j] = (float)(dirs[c][j] / sqrt(nrm));
    }
    const double sd[K] = {5, 3, 2};
    for (int i = 0; i < N; i++) {
        double a[K];
        for (int c = 0; c < K; c++) a[c] = sd[c] * rng_normal(&r);
        for (int j = 0; j < D; j++) {
            double x = 10 + 0.01 * rng_normal(&r);
            for (int c = 0; c < K; c++) x += a[c] * dirs[c][j];
            X[i * D + j] = (float)x;
        }
    }
    pca *p = NULL;
    assert_int_equal(pca_fit(X, N, D, K, &p, NULL), MLP_OK);
    for (int c = 0; c < K; c++) {
        double dot = 0;
        for (int j = 0; j < D; j++) dot += (double)p->components[c * D + j] * dirs[c][j];
        assert_true(fabs(fabs(dot) - 1) < 1e-3);
        assert_true(fabs(p->variance[c] / (sd[c] * sd[c]) - 1) < 0.1);
    }
    for (int c = 0; c < K; c++)
        for (int e = c + 1; e < K; e++) {
            double dot = 0;
            for (int j = 0; j < D; j++)
                dot += (double)p->components[c * D + j] * p->components[e * D + j];
            assert_true(fabs(dot) < 1e-4);
        }
    double mse = 0;
    assert_int_equal(pca_recon_mse(p, X, N, &mse), MLP_OK);
    assert_true(mse < 2e-4 && mse > 5e-5); /* what is left is the noise: 1e-4 per value */
    pca_free(p);
}

static void test_fit_bad_k(void **state)
{
    (void)state;
    float X[6] = {1, 2, 3, 4, 5, 6};
    pca *p = (pca *)1;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(pca_fit(X, 2, 3, 0, &p, &err), MLP_EINVAL);
    assert_null(p);
    assert_int_equal(pca_fit(X, 2, 3, 4, &p, &err), MLP_EINVAL);
    assert_non_null(strstr(err.msg, "1 to 3"));
    static float wide[PCA_MAX_D + 1];
    assert_int_equal(pca_fit(wide, 1, PCA_MAX_D + 1, 1, &p, &err), MLP_ETOOLARGE);
    assert_null(p);
    pca_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jacobi_known),
        cmocka_unit_test(test_fit_known),
        cmocka_unit_test(test_fit_subspace),
        cmocka_unit_test(test_fit_bad_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
