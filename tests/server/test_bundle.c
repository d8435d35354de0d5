/* test_bundle.c — server/bundle: a model bundle round-trips (names, labels, the net's weights
 * and answers), its CRC catches any damaged byte, and truncated or foreign bytes are refused as
 * MLP_ECORRUPT, never read past their end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "crc32.h"

static net *small_net(void)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = TASK_CLASSIFICATION;
    s.n_in = 3;
    s.n_out = 3;
    s.n_hidden = 1;
    s.hidden[0] = 5;
    s.act = ACT_RELU;
    s.out_act = ACT_SOFTMAX;
    s.loss = LOSS_CROSS_ENTROPY;
    net *n = NULL;
    assert_int_equal(net_new(&s, &n, NULL), MLP_OK);
    float *p = net_params(n);
    for (size_t i = 0; i < net_param_count(n); i++) p[i] = (float)((int)(i * 7 % 13) - 6) / 8.0f;
    return n;
}

static char *features[] = {"sepal", "petal", "stem"};
static char *labels[] = {"setosa", "versicolor", "virginica"};

static void encode(void **buf, size_t *len)
{
    net *n = small_net();
    assert_int_equal(bundle_encode(n, 3, features, 3, labels, buf, len), MLP_OK);
    net_free(n);
}

static void round_trip(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    encode(&buf, &len);
    assert_memory_equal(buf, "MLPB", 4);
    /* the trailer is core/crc32 over everything before it, little-endian */
    uint32_t want = crc32_of(buf, len - 4);
    const unsigned char *t = (const unsigned char *)buf + len - 4;
    assert_int_equal(t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24, want);

    model_bundle *b = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(bundle_decode(buf, len, &b, &err), MLP_OK);
    assert_int_equal(b->n_features, 3);
    assert_int_equal(b->n_labels, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(b->features[i], features[i]);
        assert_string_equal(b->labels[i], labels[i]);
    }
    net *n = small_net();
    assert_int_equal(net_param_count(b->net), net_param_count(n));
    assert_memory_equal(net_params_const(b->net), net_params_const(n),
                        net_param_count(n) * sizeof(float));
    float X[6] = {0.5f, -1, 2, 1, 1, 1}, Y1[6], Y2[6];
    float *s = malloc(net_scratch_floats(n, 2) * sizeof(float));
    assert_int_equal(net_predict(n, X, 2, Y1, s), MLP_OK);
    assert_int_equal(net_predict(b->net, X, 2, Y2, s), MLP_OK);
    assert_memory_equal(Y1, Y2, sizeof Y1);
    free(s);
    net_free(n);
    bundle_free(b);
    free(buf);
    bundle_free(NULL);
}

static void every_damaged_byte_is_caught(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    encode(&buf, &len);
    unsigned char *c = buf;
    for (size_t i = 0; i < len; i++) {
        c[i] ^= 0x20;
        model_bundle *b = NULL;
        mlp_error err;
        mlp_error_clear(&err);
        mlp_err rc = bundle_decode(buf, len, &b, &err);
        if (rc != MLP_ECORRUPT)
            fail_msg("byte %zu flipped: decode gave %d, not MLP_ECORRUPT", i, rc);
        assert_null(b);
        assert_true(err.msg[0] != '\0');
        c[i] ^= 0x20;
    }
    free(buf);
}

static void truncated_and_foreign_bytes_are_refused(void **state)
{
    (void)state;
    void *buf;
    size_t len;
    encode(&buf, &len);
    for (size_t cut = 0; cut < len; cut++) {
        /* an exact-size copy, so that ASan sees any read past the given length */
        void *part = malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        model_bundle *b = NULL;
        assert_int_equal(bundle_decode(part, cut, &b, NULL), MLP_ECORRUPT);
        assert_null(b);
        free(part);
    }
    static const char foreign[] = "PK\x03\x04 this is a zip file, not a model bundle";
    model_bundle *b = NULL;
    assert_int_equal(bundle_decode(foreign, sizeof foreign, &b, NULL), MLP_ECORRUPT);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(every_damaged_byte_is_caught),
        cmocka_unit_test(truncated_and_foreign_bytes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
