/* test_ensemble.c — server/ensemble and the ensemble bundle: ens_predict is the mean of its
 * members' net_predict (one row and many, classifier and regressor), ens_check accepts matching
 * members and names the member and the mismatch for each way they can differ, and an ensemble
 * bundle round-trips its K networks and refuses truncated or oversized input and members of
 * unlike shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "crc32.h"
#include "ensemble.h"

/* A net of `task` with 3 inputs and n_out outputs whose weights depend on seed. */
static net *make_net(net_task task, int n_in, int n_out, unsigned seed)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = task;
    s.n_in = n_in;
    s.n_out = n_out;
    s.n_hidden = 1;
    s.hidden[0] = task == TASK_AUTOENCODER ? 2 : 5;
    s.act = ACT_TANH;
    s.out_act = task == TASK_CLASSIFICATION ? ACT_SOFTMAX : ACT_LINEAR;
    s.loss = task == TASK_CLASSIFICATION ? LOSS_CROSS_ENTROPY : LOSS_SQUARED;
    net *n = NULL;
    assert_int_equal(net_new(&s, &n, NULL), MLP_OK);
    float *p = net_params(n);
    for (size_t i = 0; i < net_param_count(n); i++)
        p[i] = (float)((int)((i * 7 + seed * 5) % 13) - 6) / 8.0f;
    if (task == TASK_REGRESSION)
        for (int j = 0; j < n_out; j++) {
            net_y_mean(n)[j] = 10.0f * (float)(j + 1);
            net_y_scale(n)[j] = 3.0f;
        }
    return n;
}

static char *features[] = {"a", "b", "c"};
static char *labels[] = {"cat", "dog", "emu"};

static const float X[] = {0.5f,  -1.0f, 2.0f, 0.0f,  0.0f, 0.0f,  -3.0f, 1.0f,
                          0.25f, 1.5f,  1.5f, -0.5f, 2.0f, -2.0f, 0.75f};

/* ens_predict of the k nets against the mean of their own net_predict, for rows 1 and 5. */
static void check_mean(net *const *nets, int k)
{
    int n_out = net_get_spec(nets[0])->n_out;
    for (int rows = 1; rows <= 5; rows += 4) {
        size_t no = (size_t)rows * (size_t)n_out;
        float *want = calloc(no, sizeof *want), *one = malloc(no * sizeof *one),
              *got = malloc(no * sizeof *got);
        float *s = malloc(ens_scratch_floats(nets, k, rows) * sizeof *s);
        assert_non_null(want);
        assert_non_null(one);
        assert_non_null(got);
        assert_non_null(s);
        for (int i = 0; i < k; i++) {
            float *ns = malloc(net_scratch_floats(nets[i], rows) * sizeof *ns);
            assert_int_equal(net_predict(nets[i], X, rows, one, ns), MLP_OK);
            for (size_t j = 0; j < no; j++) want[j] += one[j] / (float)k;
            free(ns);
        }
        assert_int_equal(ens_predict(nets, k, X, rows, got, s), MLP_OK);
        for (size_t j = 0; j < no; j++) assert_float_equal(got[j], want[j], 1e-5);
        /* the members differ, so a mean is not any one of them */
        float *ns = malloc(net_scratch_floats(nets[0], rows) * sizeof *ns);
        assert_int_equal(net_predict(nets[0], X, rows, one, ns), MLP_OK);
        double d = 0;
        for (size_t j = 0; j < no; j++)
            d += (double)(one[j] > got[j] ? one[j] - got[j] : got[j] - one[j]);
        assert_true(d > 1e-4);
        free(ns);
        free(want);
        free(one);
        free(got);
        free(s);
    }
}

static void predict_is_the_mean(void **state)
{
    (void)state;
    net *c[3] = {make_net(TASK_CLASSIFICATION, 3, 3, 1), make_net(TASK_CLASSIFICATION, 3, 3, 2),
                 make_net(TASK_CLASSIFICATION, 3, 3, 3)};
    check_mean(c, 3);
    check_mean(c, 2);
    net *r[2] = {make_net(TASK_REGRESSION, 3, 2, 4), make_net(TASK_REGRESSION, 3, 2, 9)};
    check_mean(r, 2);
    for (int i = 0; i < 3; i++) net_free(c[i]);
    for (int i = 0; i < 2; i++) net_free(r[i]);
}

/* A bundle borrowing n and names (freed by free_bundle, which keeps the names). */
static model_bundle *bundle_of(net *n, int nf, char **f, int nl, char **l)
{
    model_bundle *b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->net = n;
    b->n_features = nf;
    b->features = f;
    b->n_labels = nl;
    b->labels = l;
    return b;
}

static void free_bundle(model_bundle *b)
{
    net_free(b->net);
    free(b);
}

/* ens_check of {base, other}: MLP_EINVAL naming ensemble[1] and `needle`, or MLP_OK when needle
 * is NULL. Takes other. */
static void expect_mismatch(model_bundle *other, const char *needle)
{
    model_bundle *base = bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 1), 3, features, 3, labels);
    const model_bundle *b[2] = {base, other};
    ens_ref refs[2];
    memset(refs, 0, sizeof refs);
    strcpy(refs[0].model, "m");
    refs[0].version = 1;
    strcpy(refs[1].model, "n");
    refs[1].version = 7;
    mlp_error err;
    mlp_error_clear(&err);
    mlp_err rc = ens_check(b, refs, 2, &err);
    if (!needle) {
        assert_int_equal(rc, MLP_OK);
        assert_string_equal(err.field, "");
    } else {
        if (!strstr(err.msg, needle)) fprintf(stderr, "got: %s\n", err.msg);
        assert_int_equal(rc, MLP_EINVAL);
        assert_string_equal(err.field, "ensemble[1]");
        assert_non_null(strstr(err.msg, "n v7"));
        assert_non_null(strstr(err.msg, needle));
    }
    free_bundle(base);
    free_bundle(other);
}

static void check_names_each_mismatch(void **state)
{
    (void)state;
    static char *renamed[] = {"a", "x", "c"}, *relabelled[] = {"cat", "emu", "dog"};
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 2), 3, features, 3, labels),
                    NULL);
    expect_mismatch(bundle_of(make_net(TASK_REGRESSION, 3, 3, 2), 3, features, 0, labels),
                    "is a regression model, but m v1 is a classification model");
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 2, 3, 2), 2, features, 3, labels),
                    "takes 2 inputs, but m v1 takes 3");
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 3, 2, 2), 3, features, 2, labels),
                    "has 2 outputs, but m v1 has 3");
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 2), 0, features, 3, labels),
                    "has 0 feature names, but m v1 has 3");
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 2), 3, renamed, 3, labels),
                    "feature 1 named 'x', but m v1 names it 'b'");
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 2), 3, features, 0, labels),
                    "has 0 labels, but m v1 has 3");
    expect_mismatch(bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 2), 3, features, 3, relabelled),
                    "label 1 'emu', but m v1 has 'dog'");
    expect_mismatch(bundle_of(make_net(TASK_AUTOENCODER, 3, 3, 2), 3, features, 0, labels),
                    "autoencoder");
    model_bundle *nested =
        bundle_of(make_net(TASK_CLASSIFICATION, 3, 3, 2), 3, features, 3, labels);
    nested->n_members = 2; /* looks like an ensemble; ens_check reads nothing else of it */
    expect_mismatch(nested, "itself an ensemble");
}

static void check_counts(void **state)
{
    (void)state;
    mlp_error err;
    mlp_error_clear(&err);
    ens_ref refs[ENS_MAX_MEMBERS + 1];
    memset(refs, 0, sizeof refs);
    assert_int_equal(ens_check(NULL, refs, 1, &err), MLP_EINVAL);
    assert_string_equal(err.field, "ensemble");
    assert_non_null(strstr(err.msg, "2 to 16 members"));
    assert_int_equal(ens_check(NULL, refs, ENS_MAX_MEMBERS + 1, &err), MLP_EINVAL);
    assert_int_equal(ens_check(NULL, NULL, 1, &err), MLP_EINVAL); /* an export document's */
    assert_string_equal(err.field, "members");
}

static void bundle_round_trip(void **state)
{
    (void)state;
    net *c[3] = {make_net(TASK_CLASSIFICATION, 3, 3, 1), make_net(TASK_CLASSIFICATION, 3, 3, 2),
                 make_net(TASK_CLASSIFICATION, 3, 3, 3)};
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(
        bundle_encode_ensemble((const net *const *)c, 3, 3, features, 3, labels, &buf, &len),
        MLP_OK);
    model_bundle *b = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(bundle_decode(buf, len, &b, &err), MLP_OK);
    assert_int_equal(b->n_members, 3);
    assert_ptr_equal(b->net, b->members[0]);
    assert_int_equal(b->n_features, 3);
    assert_string_equal(b->labels[2], "emu");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(net_param_count(b->members[i]), net_param_count(c[i]));
        assert_memory_equal(net_params(b->members[i]), net_params(c[i]),
                            net_param_count(c[i]) * sizeof(float));
    }
    check_mean(b->members, 3);
    bundle_free(b);
    /* every truncation is refused (the CRC or a length), never read past the end */
    for (size_t cut = 0; cut < len; cut += 7) {
        b = NULL;
        assert_int_not_equal(bundle_decode(buf, cut, &b, &err), MLP_OK);
        assert_null(b);
    }
    /* K outside 2..16 under a valid checksum: u32 K follows magic, version, 3 features, 3 labels */
    unsigned char *u = buf;
    size_t at = 4 + 4 + 4 + 3 * (4 + 1) + 4 + 3 * (4 + 3);
    assert_int_equal(u[at], 3);
    for (unsigned k = 0; k < 40; k += 17) {
        u[at] = (unsigned char)k;
        uint32_t crc = crc32_of(buf, len - 4);
        for (int i = 0; i < 4; i++) u[len - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
        b = NULL;
        assert_int_equal(bundle_decode(buf, len, &b, &err), MLP_ECORRUPT);
        assert_non_null(strstr(err.msg, "ensemble size"));
    }
    free(buf);
    for (int i = 0; i < 3; i++) net_free(c[i]);
}

static void bundle_of_unlike_members_is_corrupt(void **state)
{
    (void)state;
    net *c[2] = {make_net(TASK_CLASSIFICATION, 3, 3, 1), make_net(TASK_CLASSIFICATION, 2, 3, 2)};
    void *buf = NULL;
    size_t len = 0;
    assert_int_equal(
        bundle_encode_ensemble((const net *const *)c, 2, 0, NULL, 3, labels, &buf, &len), MLP_OK);
    model_bundle *b = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(bundle_decode(buf, len, &b, &err), MLP_ECORRUPT);
    assert_null(b);
    assert_non_null(strstr(err.msg, "differ in shape"));
    free(buf);
    net_free(c[0]);
    net_free(c[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(predict_is_the_mean),
        cmocka_unit_test(check_names_each_mismatch),
        cmocka_unit_test(check_counts),
        cmocka_unit_test(bundle_round_trip),
        cmocka_unit_test(bundle_of_unlike_members_is_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
