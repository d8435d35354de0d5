/* test_onnx_fold.c — the exact round trip of ONNX export and import (onnx_export.h "The exact
 * fold"): for many random weights and scales the folded weight onnx_fold_weight picks is within
 * two ulps of the fold and gives the weight back bit for bit through onnx_unfold_weight; a net
 * with input and output standardisation, exported and imported, is the same net (every weight,
 * bias, mean and scale bit for bit, and net_predict's outputs), with one-bit steps and with
 * two-bit steps (a weight that needs two); a file with any one first-layer weight moved by one ulp,
 * or with edited steps metadata, imports as its graph. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bundle.h"
#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_export.h"
#include "onnx_import.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* xorshift64*, so the test does not depend on libc's rand */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* A float of random mantissa and sign with magnitude 2^e, e uniform in [lo, hi]. */
static float rand_float(int lo, int hi, int sign)
{
    uint64_t r = next_u64();
    double m = 1.0 + (double)(r >> 11) / 9007199254740992.0; /* [1, 2) */
    int e = lo + (int)((r & 0x3ff) % (uint64_t)(hi - lo + 1));
    float f = (float)ldexp(m, e);
    return sign && (r & 0x400) ? -f : f;
}

/* Counts, over n random (w, xs, ys), the weights with each step count, and fails on a folded
 * weight more than two ulps from the rounded fold, or on a miss but where the fold is subnormal
 * (it has fewer digits than w: no float gives w back). Returns the misses. */
static int check_random(int fold_x, int fold_y, int n, int w_lo, int w_hi)
{
    int count[ONNX_EXACT_MAX_STEPS + 1] = {0}, misses = 0;
    for (int i = 0; i < n; i++) {
        float w = rand_float(w_lo, w_hi, 1), xs = rand_float(-10, 10, 0),
              ys = rand_float(-10, 10, 0);
        float wp;
        int d = onnx_fold_weight(w, xs, ys, fold_x, fold_y, &wp);
        if (d < 0 && fabsf(wp) < FLT_MIN) {
            misses++;
            continue;
        }
        if (d < 0)
            fail_msg("no exact fold of w %a by xs %a ys %a", (double)w, (double)xs, (double)ys);
        count[d]++;
        float back = onnx_unfold_weight(wp, xs, ys, fold_x, fold_y, d);
        if (bits(back) != bits(w))
            fail_msg("w %a xs %a ys %a: folded %a, d %d, unfolds to %a", (double)w, (double)xs,
                     (double)ys, (double)wp, d, (double)back);
        double f = (double)w;
        if (fold_x) f /= (double)xs;
        if (fold_y) f *= (double)ys;
        float naive = (float)f, lo = nextafterf(nextafterf(naive, -INFINITY), -INFINITY),
              hi = nextafterf(nextafterf(naive, INFINITY), INFINITY);
        assert_true(wp >= lo && wp <= hi);
    }
    printf("fold_x %d fold_y %d, weights 2^[%d, %d]: steps 0/1/2/3 = %d/%d/%d/%d, misses %d "
           "of %d\n",
           fold_x, fold_y, w_lo, w_hi, count[0], count[1], count[2], count[3], misses, n);
    return misses;
}

static void fold_weight_recovers_every_weight(void **state)
{
    (void)state;
    assert_int_equal(check_random(1, 0, 200000, -12, 4), 0);
    assert_int_equal(check_random(0, 1, 200000, -12, 4), 0);
    assert_int_equal(check_random(1, 1, 200000, -12, 4), 0);
    /* near and below FLT_MIN some folds are subnormal: those miss (the export then goes without
     * "mlpd.exact"), the others recover */
    assert_true(check_random(1, 0, 20000, -140, -110) > 0);
    float wp;
    /* a zero or non-finite scale has no exact fold */
    assert_int_equal(onnx_fold_weight(0.5f, 0.0f, 1.0f, 1, 0, &wp), -1);
    assert_int_equal(onnx_fold_weight(0.5f, INFINITY, 1.0f, 1, 0, &wp), -1);
    assert_int_equal(onnx_fold_weight(0.5f, NAN, 1.0f, 1, 0, &wp), -1);
    /* a zero weight stays the same zero */
    assert_int_equal(onnx_fold_weight(-0.0f, 3.0f, 1.0f, 1, 0, &wp), 0);
    assert_int_equal(bits(wp), bits(-0.0f));
}

static void b64_decode_is_strict(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(onnx_b64_decode("AAECAw==", out, 4), 0);
    assert_int_equal(out[3], 3);
    assert_int_equal(onnx_b64_decode("AAECAw=", out, 4), -1);  /* length */
    assert_int_equal(onnx_b64_decode("AAECA*==", out, 4), -1); /* a digit */
    assert_int_equal(onnx_b64_decode("AAECAx==", out, 4), -1); /* bits in the padding */
    assert_int_equal(onnx_b64_decode("AAECA=A=", out, 4), -1); /* a digit after '=' */
    assert_int_equal(onnx_b64_decode("AAEC", out, 3), 0);
}

/* A net of n_in inputs, hidden [7, 5] (none when shallow), with far-from-identity input and (for
 * regression and autoencoders) output standardisation, and weights that are not short binary
 * fractions. */
static net *make_net(net_task task, act_kind act, act_kind out_act, int shallow, unsigned seed)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = task;
    s.n_in = 6;
    s.n_out = task == TASK_CLASSIFICATION ? 3 : task == TASK_AUTOENCODER ? 6 : 2;
    s.n_hidden = shallow ? 0 : 2;
    s.hidden[0] = 7;
    s.hidden[1] = 5;
    s.act = act;
    s.out_act = out_act;
    s.loss = out_act == ACT_SOFTMAX ? LOSS_CROSS_ENTROPY : LOSS_SQUARED;
    net *n = NULL;
    assert_int_equal(net_new(&s, &n, NULL), MLP_OK);
    rng_state = 0x1234567ull + seed;
    float *p = net_params(n);
    for (size_t i = 0; i < net_param_count(n); i++) p[i] = rand_float(-6, 1, 1);
    for (int j = 0; j < s.n_in; j++) {
        net_x_mean(n)[j] = rand_float(-2, 12, 1);
        net_x_scale(n)[j] = rand_float(-8, 8, 0);
    }
    if (task != TASK_CLASSIFICATION)
        for (int j = 0; j < s.n_out; j++) {
            net_y_mean(n)[j] = rand_float(-2, 10, 1);
            net_y_scale(n)[j] = rand_float(-6, 6, 0);
        }
    return n;
}

static void *export_net(net *n, size_t *len)
{
    model_bundle b;
    memset(&b, 0, sizeof b);
    b.net = n;
    onnx_export_info info = {.model = "m", .version = 1, .run_id = ""};
    void *buf = NULL;
    assert_int_equal(onnx_export(&b, &info, &buf, len, NULL), MLP_OK);
    return buf;
}

static net *import_net(const void *buf, size_t len, net_task task, int *exact)
{
    onnx_import *im = NULL;
    mlp_error err;
    mlp_error_clear(&err);
    if (onnx_import_parse(buf, len, 0, &im, &err)) fail_msg("import: %s", err.msg);
    *exact = onnx_import_exact(im, task);
    net *n = NULL;
    assert_int_equal(onnx_import_net(im, task, &n, &err), MLP_OK);
    onnx_import_free(im);
    return n;
}

/* 1 when a and b hold the same weights, biases and standardisation, bit for bit. */
static int same_net(net *a, net *b)
{
    const net_spec *sa = net_get_spec(a), *sb = net_get_spec(b);
    if (net_param_count(a) != net_param_count(b) || sa->n_in != sb->n_in || sa->n_out != sb->n_out)
        return 0;
    return memcmp(net_params(a), net_params(b), net_param_count(a) * sizeof(float)) == 0 &&
           memcmp(net_x_mean(a), net_x_mean(b), (size_t)sa->n_in * sizeof(float)) == 0 &&
           memcmp(net_x_scale(a), net_x_scale(b), (size_t)sa->n_in * sizeof(float)) == 0 &&
           (sa->task == TASK_CLASSIFICATION ||
            (memcmp(net_y_mean(a), net_y_mean(b), (size_t)sa->n_out * sizeof(float)) == 0 &&
             memcmp(net_y_scale(a), net_y_scale(b), (size_t)sa->n_out * sizeof(float)) == 0));
}

/* net_predict of a and b on raw rows around the input means: bit-identical outputs. */
static void same_predictions(const net *a, const net *b)
{
    const net_spec *sp = net_get_spec(a);
    enum { ROWS = 9 };
    float X[ROWS * 6], Ya[ROWS * 6], Yb[ROWS * 6];
    float *sa = malloc(net_scratch_floats(a, ROWS) * sizeof(float));
    float *sb = malloc(net_scratch_floats(b, ROWS) * sizeof(float));
    assert_non_null(sa);
    assert_non_null(sb);
    for (int i = 0; i < ROWS * sp->n_in; i++)
        X[i] = net_x_mean_const(a)[i % sp->n_in] +
               net_x_scale_const(a)[i % sp->n_in] * (float)(i % 5 - 2) / 1.7f;
    assert_int_equal(net_predict(a, X, ROWS, Ya, sa), MLP_OK);
    assert_int_equal(net_predict(b, X, ROWS, Yb, sb), MLP_OK);
    assert_memory_equal(Ya, Yb, (size_t)ROWS * (size_t)sp->n_out * sizeof(float));
    free(sa);
    free(sb);
}

static void round_trip_is_the_same_net(void **state)
{
    (void)state;
    struct {
        net_task task;
        act_kind act, out_act;
        int shallow;
    } cases[] = {
        {TASK_CLASSIFICATION, ACT_RELU, ACT_SOFTMAX, 0},
        {TASK_CLASSIFICATION, ACT_MISH, ACT_SOFTMAX, 1},
        {TASK_REGRESSION, ACT_TANH, ACT_LINEAR, 0},
        {TASK_REGRESSION, ACT_SWISH, ACT_LINEAR, 1}, /* one layer carries both folds */
        {TASK_REGRESSION, ACT_ELU, ACT_SIGMOID, 0},  /* output scaling as Mul and Add */
        {TASK_AUTOENCODER, ACT_LEAKY_RELU, ACT_LINEAR, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (unsigned seed = 0; seed < 4; seed++) {
            net *n = make_net(cases[c].task, cases[c].act, cases[c].out_act, cases[c].shallow,
                              seed + 10 * (unsigned)c);
            size_t len = 0;
            void *buf = export_net(n, &len);
            int exact = 0;
            net *m = import_net(buf, len, cases[c].task, &exact);
            if (!exact || !same_net(n, m))
                fail_msg("case %zu seed %u: exact %d, same net %d", c, seed, exact, same_net(n, m));
            same_predictions(n, m);
            free(buf);
            net_free(m);
            net_free(n);
        }
}

static const char *meta_of(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, key) == 0) return m->metadata_props[i]->value;
    return NULL;
}

/* A one-layer regressor whose first weight needs two steps (both folds in one Gemm): the steps
 * travel at two bits each, and the import is still the same net. */
static void two_bit_steps_round_trip(void **state)
{
    (void)state;
    net *n = make_net(TASK_REGRESSION, ACT_TANH, ACT_LINEAR, 1, 77);
    float w, xs, ys, wp;
    do {
        w = rand_float(-6, 1, 1);
        xs = rand_float(-8, 8, 0);
        ys = rand_float(-6, 6, 0);
    } while (onnx_fold_weight(w, xs, ys, 1, 1, &wp) != 2);
    net_layer_w(n, 0)[0] = w;
    net_x_scale(n)[0] = xs;
    net_y_scale(n)[0] = ys;
    size_t len = 0;
    void *buf = export_net(n, &len);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    assert_non_null(m);
    assert_non_null(meta_of(m, ONNX_META_EXACT_D0));
    assert_memory_equal(meta_of(m, ONNX_META_EXACT_D0), "2:", 2);
    onnx__model_proto__free_unpacked(m, NULL);
    int exact = 0;
    net *back = import_net(buf, len, TASK_REGRESSION, &exact);
    assert_int_equal(exact, 1);
    assert_true(same_net(n, back));
    same_predictions(n, back);
    free(buf);
    net_free(back);
    net_free(n);
}

/* The exported file of n with one change made by edit, packed again. */
static void *edited(net *n, void (*edit)(Onnx__ModelProto *), size_t *len)
{
    size_t l0 = 0;
    void *buf = export_net(n, &l0);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, l0, buf);
    free(buf);
    assert_non_null(m);
    edit(m);
    *len = onnx__model_proto__get_packed_size(m);
    void *out = malloc(*len);
    assert_non_null(out);
    onnx__model_proto__pack(m, out);
    onnx__model_proto__free_unpacked(m, NULL);
    return out;
}

static size_t edit_at = 3; /* the weight one_ulp_up edits */

static void one_ulp_up(Onnx__ModelProto *m)
{
    for (size_t i = 0; i < m->graph->n_initializer; i++) {
        Onnx__TensorProto *t = m->graph->initializer[i];
        if (strcmp(t->name, "l0_W") != 0) continue;
        if (t->n_float_data) {
            t->float_data[edit_at] = nextafterf(t->float_data[edit_at], INFINITY);
        } else { /* raw_data, little-endian float32 */
            float f;
            memcpy(&f, t->raw_data.data + 4 * edit_at, 4);
            f = nextafterf(f, INFINITY);
            memcpy(t->raw_data.data + 4 * edit_at, &f, 4);
        }
        return;
    }
    fail_msg("no l0_W");
}

static void steps_changed(Onnx__ModelProto *m)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, ONNX_META_EXACT_D0) == 0) {
            char *v = m->metadata_props[i]->value;
            v[2] = v[2] == 'B' ? 'C' : 'B'; /* some of the first weights' steps */
            return;
        }
    fail_msg("no " ONNX_META_EXACT_D0);
}

static void tampered_file_imports_as_its_graph(void **state)
{
    (void)state;
    net *n = make_net(TASK_REGRESSION, ACT_TANH, ACT_LINEAR, 0, 3);
    size_t len = 0, glen = 0;
    void *buf = edited(n, one_ulp_up, &len);
    int exact = 1;
    net *m = import_net(buf, len, TASK_REGRESSION, &exact);
    assert_int_equal(exact, 0);
    assert_false(same_net(n, m));
    /* the graph as it is: no standardisation, the edited folded weight */
    void *graph = export_net(n, &glen);
    Onnx__ModelProto *g = onnx__model_proto__unpack(NULL, glen, graph);
    assert_non_null(g);
    one_ulp_up(g);
    const float *w0 = net_layer_w(m, 0);
    int found = 0;
    for (size_t i = 0; i < g->graph->n_initializer; i++) {
        const Onnx__TensorProto *t = g->graph->initializer[i];
        if (strcmp(t->name, "l0_W") != 0) continue;
        found = 1;
        const void *src = t->n_float_data ? (const void *)t->float_data : t->raw_data.data;
        assert_memory_equal(w0, src, 7 * 6 * sizeof(float));
    }
    assert_true(found);
    for (int j = 0; j < 6; j++) {
        assert_true(net_x_mean(m)[j] == 0.0f);
        assert_true(net_x_scale(m)[j] == 1.0f);
    }
    onnx__model_proto__free_unpacked(g, NULL);
    free(graph);
    free(buf);
    net_free(m);

    /* every weight of the first layer, edited alone, makes the file its graph */
    for (edit_at = 0; edit_at < 7 * 6; edit_at++) {
        buf = edited(n, one_ulp_up, &len);
        m = import_net(buf, len, TASK_REGRESSION, &exact);
        if (exact) fail_msg("weight %zu edited, the import is still exact", edit_at);
        free(buf);
        net_free(m);
    }

    buf = edited(n, steps_changed, &len);
    m = import_net(buf, len, TASK_REGRESSION, &exact);
    assert_int_equal(exact, 0);
    free(buf);
    net_free(m);
    net_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fold_weight_recovers_every_weight),
        cmocka_unit_test(b64_decode_is_strict),
        cmocka_unit_test(round_trip_is_the_same_net),
        cmocka_unit_test(two_bit_steps_round_trip),
        cmocka_unit_test(tampered_file_imports_as_its_graph),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
