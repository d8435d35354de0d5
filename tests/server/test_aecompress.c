/* test_aecompress.c — server/aecompress: a linear autoencoder whose weights are the data's first
 * principal component reconstructs exactly as PCA does, so both errors agree with the known
 * residual; validation rows are used when there are some, training rows otherwise; and the
 * "compression" member is spliced into a meta object (empty or not) as valid JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "aecompress.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { D = 3 };

/* Rows m + a·u + b·v, a in {-3, 3}, b in {-1, 1}: the first component is u; what it leaves is
 * b·v, |v|² = 1 per row, so the error per value is 1/3. */
static void rows(float *X, float shift)
{
    const float h = (float)(1 / sqrt(2.0));
    const float m[D] = {1, 2, 3}, u[D] = {h, h, 0}, v[D] = {0, 0, 1};
    const float ab[4][2] = {{-3, -1}, {-3, 1}, {3, -1}, {3, 1}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < D; j++)
            X[i * D + j] = m[j] + (ab[i][0] + shift) * u[j] + ab[i][1] * v[j];
}

/* The autoencoder x -> m + u·uᵀ(x - m): layer 0 W = uᵀ, b = -u·m; layer 1 W = u, b = m. */
static net *pca_net(void)
{
    net_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.task = TASK_AUTOENCODER;
    sp.n_in = sp.n_out = D;
    sp.n_hidden = 1;
    sp.hidden[0] = 1;
    sp.act = sp.out_act = ACT_LINEAR;
    sp.loss = LOSS_SQUARED;
    net *n = NULL;
    assert_int_equal(net_new(&sp, &n, NULL), MLP_OK);
    const float h = (float)(1 / sqrt(2.0)), m[D] = {1, 2, 3}, u[D] = {h, h, 0};
    float *W0 = net_layer_w(n, 0), *b0 = net_layer_b(n, 0), *W1 = net_layer_w(n, 1),
          *b1 = net_layer_b(n, 1);
    b0[0] = 0;
    for (int j = 0; j < D; j++) {
        W0[j] = u[j];
        b0[0] -= u[j] * m[j];
        W1[j] = u[j];
        b1[j] = m[j];
    }
    return n;
}

static void test_linear_ae_is_pca(void **state)
{
    (void)state;
    float X[4 * D], Xv[4 * D];
    rows(X, 0);
    rows(Xv, 0.5f); /* shifted along u: still reconstructed up to b·v */
    net *n = pca_net();
    trainset p;
    memset(&p, 0, sizeof p);
    p.X = X;
    p.n = 4;
    p.Xv = Xv;
    p.nv = 4;
    p.d = D;
    aecompress c;
    assert_int_equal(aecompress_measure(n, &p, &c, NULL), MLP_OK);
    assert_int_equal(c.input_dim, D);
    assert_int_equal(c.code_dim, 1);
    assert_true(c.ratio == 3.0);
    assert_int_equal(c.rows, 4);
    assert_int_equal(c.on_validation, 1);
    assert_true(fabs(c.ae_mse - 1.0 / 3) < 1e-5);
    assert_true(fabs(c.pca_mse - 1.0 / 3) < 1e-5);
    p.Xv = NULL; /* no validation rows: the training rows */
    p.nv = 0;
    assert_int_equal(aecompress_measure(n, &p, &c, NULL), MLP_OK);
    assert_int_equal(c.on_validation, 0);
    assert_true(fabs(c.ae_mse - c.pca_mse) < 1e-5);
    net_free(n);
}

static void test_meta(void **state)
{
    (void)state;
    aecompress c = {784, 2, 392, 6000, 1, 0.25, NAN};
    const char *in[] = {"{}", "{\"labels\":[],\"params\":{\"epochs\":3}}\n"};
    for (int i = 0; i < 2; i++) {
        char *s = aecompress_meta(in[i], &c);
        assert_non_null(s);
        json_error_t je;
        json_t *o = json_loads(s, 0, &je);
        assert_non_null(o);
        json_t *k = json_object_get(o, "compression");
        assert_int_equal(json_integer_value(json_object_get(k, "code_dim")), 2);
        assert_true(json_number_value(json_object_get(k, "ratio")) == 392);
        assert_string_equal(json_string_value(json_object_get(k, "on")), "validation");
        assert_true(json_number_value(json_object_get(k, "reconstruction_mse")) == 0.25);
        assert_true(json_is_null(json_object_get(k, "pca_mse")));
        if (i)
            assert_int_equal(
                json_integer_value(json_object_get(json_object_get(o, "params"), "epochs")), 3);
        json_decref(o);
        free(s);
    }
    assert_null(aecompress_meta("[1]", &c));
    assert_null(aecompress_meta("", &c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_ae_is_pca),
        cmocka_unit_test(test_meta),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
