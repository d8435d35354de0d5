/* test_netsparse.c — core/sparse and the serving fast path of core/net for batches: every
 * variant of sparse_rows (portable, AVX2, AVX-512, as the CPU has them) gives the same bits on
 * every shape (panel tails, ranges of 128 inputs, groups of 64 rows), agrees with a double
 * reference, and gives a row the same bits alone as in a batch; a prepared net's predictions,
 * one row and batches, at densities from all zeros to none, for every activation, with and
 * without standardisation and with 0 far from a column's mean ("year" columns), equal the dense
 * path's and a double reference within 1e-5 × (1 + the output row's largest magnitude), the
 * bound tests/core/test_net.c holds the dense path to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act.h"
#include "core/spec.h"
#include "net.h"
#include "rng.h"
#include "sparse.h"

#define TOL 1e-5

/* Row r of rows × in: each input 0 with probability zero_p (-0 sometimes), else N(0, 1.5);
 * zero_p < 0: runs of zeros, a third of the row in whole blocks of 8 (a list of the whole row
 * that skips them). */
static void fill_rows(rng *r, float *X, int rows, int in, double zero_p)
{
    for (size_t i = 0; i < (size_t)rows * (size_t)in; i++) {
        if (zero_p < 0 ? (i % (size_t)in) / 8 % 3 == 1 : rng_uniform(r) < zero_p)
            X[i] = i % 13 == 0 ? -0.0f : 0.0f;
        else
            X[i] = (float)(rng_normal(r) * 1.5);
    }
}

/* sparse_rows under each variant the CPU has: the same bits; against a double reference; a row
 * alone gives the bits it gives in the batch. */
static void variants_agree_bit_for_bit(void **state)
{
    (void)state;
    const int ins[] = {1, 17, 128, 129, 300};
    const int outs[] = {1, 7, 8, 9, 63, 64, 65, 130, 256};
    const int rowss[] = {1, 3, 64, 70};
    const double zeros[] = {0.0, 0.3, 0.5, 0.8, 1.0, -1.0};
    const int best = sparse_isa(SPARSE_AVX512);
    rng r;
    rng_seed(&r, 5);
    for (size_t a = 0; a < sizeof ins / sizeof *ins; a++)
        for (size_t b = 0; b < sizeof outs / sizeof *outs; b++) {
            const int in = ins[a], out = outs[b];
            float *W = malloc((size_t)in * out * sizeof *W), *P = malloc((size_t)in * out * 4),
                  *c = malloc((size_t)out * sizeof *c), *m = calloc((size_t)in, sizeof *m),
                  *inv = malloc((size_t)in * sizeof *inv);
            assert_true(W && P && c && m && inv);
            for (int i = 0; i < in * out; i++) W[i] = (float)rng_normal(&r);
            for (int i = 0; i < out; i++) c[i] = (float)rng_normal(&r);
            for (int j = 0; j < in; j++) {
                inv[j] = (float)(0.5 + rng_uniform(&r));
                m[j] = j % 5 == 2 ? (float)rng_normal(&r) : 0.0f;
            }
            sparse_pack(W, in, out, P);
            for (size_t q = 0; q < sizeof rowss / sizeof *rowss; q++)
                for (size_t z = 0; z < sizeof zeros / sizeof *zeros; z++) {
                    const int rows = rowss[q];
                    float *X = malloc((size_t)rows * in * sizeof *X),
                          *L = malloc((size_t)rows * in * sizeof *L),
                          *Z[3] = {malloc((size_t)rows * out * 4), malloc((size_t)rows * out * 4),
                                   malloc((size_t)rows * out * 4)},
                          one[256];
                    int *nnz = malloc((size_t)rows * sizeof *nnz);
                    fill_rows(&r, X, rows, in, zeros[z]);
                    for (int i = 0; i < rows; i++)
                        nnz[i] = sparse_gather(X + (size_t)i * in, m, inv, in, L + (size_t)i * in);
                    for (int v = SPARSE_PORTABLE; v <= best; v++) {
                        assert_int_equal(sparse_isa(v), v);
                        sparse_rows(P, in, out, c, L, (size_t)in, nnz, rows, Z[v], (size_t)out);
                        if (v > SPARSE_PORTABLE &&
                            memcmp(Z[v], Z[0], (size_t)rows * out * sizeof(float)) != 0)
                            fail_msg("in %d out %d rows %d zeros %.1f: variant %d differs from "
                                     "the portable one",
                                     in, out, rows, zeros[z], v);
                    }
                    sparse_isa(SPARSE_AVX512);
                    for (int i = 0; i < rows; i++) {
                        const float *x = X + (size_t)i * in, *zi = Z[0] + (size_t)i * out;
                        double big = 1.0;
                        for (int o = 0; o < out; o++) big = fmax(big, fabs(zi[o]));
                        for (int o = 0; o < out; o++) {
                            /* float sums of `in` terms: within TOL of the terms' magnitude */
                            double ref = c[o], mag = fabs(c[o]);
                            for (int j = 0; j < in; j++) {
                                double t = ((double)x[j] - m[j]) * inv[j] * W[(size_t)o * in + j];
                                ref += t;
                                mag += fabs(t);
                            }
                            if (fabs(ref - zi[o]) > TOL * fmax(big, mag))
                                fail_msg("in %d out %d rows %d row %d out %d: %.9g, reference "
                                         "%.9g",
                                         in, out, rows, i, o, (double)zi[o], ref);
                        }
                        if (out <= 256) { /* alone: the same bits */
                            sparse_rows(P, in, out, c, L + (size_t)i * in, (size_t)in, nnz + i, 1,
                                        one, (size_t)out);
                            assert_memory_equal(one, zi, (size_t)out * sizeof(float));
                        }
                    }
                    free(X);
                    free(L);
                    for (int v = 0; v < 3; v++) free(Z[v]);
                    free(nnz);
                }
            free(W);
            free(P);
            free(c);
            free(m);
            free(inv);
        }
}

/* sparse_gather: the pairs of the nonzero u_j in order, or the whole row past in/2 of them; a
 * NaN is kept. */
static void gather_lists(void **state)
{
    (void)state;
    float x[8] = {0, 2, 0, -0.0f, 4, 0, 0, 1}, m[8] = {0}, inv[8] = {1, 1, 1, 1, 0.5f, 1, 1, 1},
          list[8];
    assert_int_equal(sparse_gather(x, m, inv, 8, list), 3);
    int32_t j;
    memcpy(&j, &list[0], 4);
    assert_int_equal(j, 1);
    assert_true(list[1] == 2.0f);
    memcpy(&j, &list[2], 4);
    assert_int_equal(j, 4);
    assert_true(list[3] == 2.0f);
    memcpy(&j, &list[4], 4);
    assert_int_equal(j, 7);
    x[0] = NAN; /* 4 nonzeros: 4 pairs fill the 8 floats */
    assert_int_equal(sparse_gather(x, m, inv, 8, list), 4);
    assert_true(isnan(list[1]));
    x[2] = 3; /* 5 nonzeros: the whole row */
    assert_int_equal(sparse_gather(x, m, inv, 8, list), SPARSE_FULL);
    assert_true(list[2] == 3.0f && list[3] == 0.0f && list[4] == 2.0f);
    m[5] = 1; /* a column whose 0 is not typical: u = (0 - 1) * 1 */
    x[0] = 0, x[2] = 0;
    assert_int_equal(sparse_gather(x, m, inv, 8, list), 4);
    memcpy(&j, &list[4], 4);
    assert_int_equal(j, 5);
    assert_true(list[5] == -1.0f);
}

/* A prepared net against its dense clone and the double reference: batches and single rows,
 * densities 0 .. 1, every hidden activation, three standardisations. */
static void prepared_batches_agree(void **state)
{
    (void)state;
    enum { IN = 150, ROWS = 70 };
    const int hidden[2] = {72, 9};
    rng r;
    rng_seed(&r, 11);
    for (int act = 0; act < ACT_COUNT; act++) {
        if (act == ACT_SOFTMAX) continue;
        for (int stdz = 0; stdz < 3; stdz++) {
            int regression = (act + stdz) % 2;
            net_spec s = test_spec(regression ? TASK_REGRESSION : TASK_CLASSIFICATION, IN,
                                   regression ? 3 : 4, 2, hidden, (act_kind)act,
                                   regression ? ACT_LINEAR : ACT_SOFTMAX,
                                   regression ? LOSS_SQUARED : LOSS_CROSS_ENTROPY);
            net *n = NULL, *dense = NULL;
            assert_int_equal(net_new(&s, &n, NULL), MLP_OK);
            float *p = net_params(n);
            for (size_t i = 0; i < net_param_count(n); i++) p[i] = (float)(rng_normal(&r) * 0.3);
            if (stdz > 0) /* 1: 0 near every mean; 2: and "year" columns, 0 far from the mean */
                for (int j = 0; j < IN; j++) {
                    int year = stdz == 2 && j % 7 == 3;
                    net_x_mean(n)[j] = year ? 2020.0f : (float)(rng_uniform(&r) * 0.6);
                    net_x_scale(n)[j] = year ? 5.0f : (float)(0.2 + rng_uniform(&r));
                }
            if (regression)
                for (int o = 0; o < s.n_out; o++)
                    net_y_mean(n)[o] = (float)rng_normal(&r), net_y_scale(n)[o] = 2.0f;
            assert_int_equal(net_clone(n, &dense), MLP_OK);
            assert_int_equal(net_prepare_serving(n), MLP_OK);
            assert_true(net_serving_prepared(n));
            float X[ROWS * IN], Y[ROWS * 4], Yd[ROWS * 4], y1[4];
            float *sc = malloc(net_scratch_floats(n, ROWS) * sizeof *sc);
            for (int d = 0; d <= 4; d++) {
                fill_rows(&r, X, ROWS, IN, d / 4.0);
                for (int i = 0; i < ROWS; i++)
                    if (stdz == 2)
                        for (int j = 3; j < IN; j += 7)
                            X[i * IN + j] = (float)(2020.0 + rng_normal(&r) * 5.0);
                assert_int_equal(net_predict(n, X, ROWS, Y, sc), MLP_OK);
                assert_int_equal(net_predict(dense, X, ROWS, Yd, sc), MLP_OK);
                for (int i = 0; i < ROWS; i++) {
                    double ref[4], big = 0.0;
                    test_ref_forward(n, X + i * IN, net_get_spec(n)->n_hidden, ref);
                    for (int o = 0; o < s.n_out; o++) big = fmax(big, fabs(ref[o]));
                    big += 1.0;
                    assert_int_equal(net_predict(n, X + i * IN, 1, y1, sc), MLP_OK);
                    for (int o = 0; o < s.n_out; o++) {
                        float yb = Y[i * s.n_out + o], yd = Yd[i * s.n_out + o];
                        if (fabs(yb - ref[o]) > TOL * big || fabs(yd - ref[o]) > TOL * big ||
                            fabs(y1[o] - ref[o]) > TOL * big)
                            fail_msg("act %s stdz %d zeros %d/4 row %d out %d: batch %.9g one "
                                     "row %.9g dense %.9g reference %.9g",
                                     act_name((act_kind)act), stdz, d, i, o, (double)yb,
                                     (double)y1[o], (double)yd, ref[o]);
                    }
                }
            }
            free(sc);
            net_free(dense);
            net_free(n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gather_lists),
        cmocka_unit_test(variants_agree_bit_for_bit),
        cmocka_unit_test(prepared_batches_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
