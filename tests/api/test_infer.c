/* test_infer.c — api/infer.c's per-thread buffers, which give back what one large request grew past
 * INFER_BUFS_KEEP_BYTES; and the :classify, :reconstruct and :encode renderers and /v2 infer's,
 * which under every injected allocation failure answer nothing rather than a partial list, and
 * write non-finite values as null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http.h"
#include "infer.h"
#include "infer_tfs.h"
#include "infer_v2.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A buffer grown past INFER_BUFS_KEEP_BYTES by one request is freed when the request ends; a
 * smaller one stays for the next request. */
static void large_buffers_released_after_request(void **state)
{
    (void)state;
    infer_bufs *t = infer_bufs_get();
    assert_non_null(t);
    size_t big = INFER_BUFS_KEEP_BYTES / sizeof(float) + 1;
    assert_non_null(infer_room(&t->x, 1000));
    assert_non_null(infer_room(&t->y, big));
    assert_non_null(infer_room(&t->s, INFER_BUFS_KEEP_BYTES / sizeof(float)));
    float *x = t->x.p, *s = t->s.p;
    size_t xcap = t->x.cap, scap = t->s.cap;
    assert_true(t->y.cap * sizeof(float) > INFER_BUFS_KEEP_BYTES);
    infer_bufs_done();
    assert_ptr_equal(infer_bufs_get(), t);
    assert_null(t->y.p);
    assert_int_equal(t->y.cap, 0);
    assert_ptr_equal(t->x.p, x); /* 1000 floats: kept */
    assert_int_equal(t->x.cap, xcap);
    assert_ptr_equal(t->s.p, s); /* exactly the limit: kept */
    assert_int_equal(t->s.cap, scap);
    assert_non_null(infer_room(&t->y, 10)); /* and it grows again */
    infer_bufs_done();
    assert_non_null(t->y.p);
}

/* The fail_at-th jansson allocation (counting from 0) fails, and only that one, so that later
 * ones could build a partial answer around the hole; -1: none fails. */
static long alloc_n, fail_at = -1;
static int alloc_failed;

static void *chaos_malloc(size_t n)
{
    if (fail_at >= 0 && alloc_n++ == fail_at) {
        alloc_failed = 1;
        return NULL;
    }
    return malloc(n);
}

/* Builds one answer with the test's fixed inputs. */
typedef json_t *(*build_fn)(void);

/* Every jansson allocation of build, failed in turn: NULL each time, never a partial answer; and
 * with none failing, an answer that complete() accepts. At least min_failures allocations were
 * failed (one per element of the answer). */
static void never_partial(build_fn build, int (*complete)(json_t *), int min_failures)
{
    int failures = 0, done = 0;
    for (fail_at = 0; fail_at < 10000 && !done; fail_at++) {
        alloc_n = 0;
        alloc_failed = 0;
        json_set_alloc_funcs(chaos_malloc, free);
        json_t *o = build();
        json_set_alloc_funcs(malloc, free);
        if (alloc_failed) {
            if (o) fprintf(stderr, "allocation %ld failed, yet an answer came back\n", fail_at);
            assert_null(o);
            failures++;
        } else {
            assert_true(complete(o));
            done = 1;
        }
        json_decref(o);
    }
    fail_at = -1;
    assert_true(done);
    assert_true(failures >= min_failures);
}

static char *labels[] = {"cat", "dog", "emu"};
static const float Y3[] = {0.2f, 0.7f, 0.1f, 0.5f, 0.1f,  0.4f,
                           0.3f, 0.3f, 0.4f, 0.9f, 0.05f, 0.05f};

static json_t *build_classify(void)
{
    return tfs_classify_json(Y3, 4, 3, labels, 3);
}

/* 1 when o is {"results": 4 rows of 3 [label, score] pairs}. */
static int classify_complete(json_t *o)
{
    json_t *res = json_object_get(o, "results");
    if (json_object_size(o) != 1 || json_array_size(res) != 4) return 0;
    for (size_t i = 0; i < 4; i++) {
        json_t *r = json_array_get(res, i);
        if (json_array_size(r) != 3) return 0;
        for (size_t j = 0; j < 3; j++)
            if (!json_is_string(json_array_get(json_array_get(r, j), 0))) return 0;
    }
    return 1;
}

static void classify_answer_never_partial(void **state)
{
    (void)state;
    never_partial(build_classify, classify_complete, 4 * 3);
    json_t *o = build_classify();
    assert_true(classify_complete(o));
    json_t *best = json_array_get(json_array_get(json_object_get(o, "results"), 1), 0);
    assert_string_equal(json_string_value(json_array_get(best, 0)), "cat");
    json_decref(o);
    /* one sigmoid output, two labels: the output is the probability of labels[1] */
    const float P[] = {0.8f};
    o = tfs_classify_json(P, 1, 1, labels, 2);
    best = json_array_get(json_array_get(json_object_get(o, "results"), 0), 0);
    assert_string_equal(json_string_value(json_array_get(best, 0)), "dog");
    json_decref(o);
}

/* 3 rows of 2 inputs, their reconstructions, and 3 codes of 2: values exact in float. */
static const float X32[] = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 4.0f};
static const float R32[] = {1.5f, 2.0f, 0.5f, 0.0f, 1.0f, 2.0f};

/* 1 when a is an array of n reals equal to v[0..n). */
static int reals_are(json_t *a, const float *v, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_real(x) || json_real_value(x) != (double)v[i]) return 0;
    }
    return 1;
}

static json_t *build_reconstruct(void)
{
    return tfs_reconstruct_json(X32, R32, 3, 2);
}

/* 1 when o is the whole :reconstruct answer for X32 and R32. */
static int reconstruct_complete(json_t *o)
{
    const float err[] = {0.125f, 0.5f, 2.5f}; /* mean of the squared differences per row */
    json_t *rec = json_object_get(o, "reconstructions");
    if (json_object_size(o) != 2 || json_array_size(rec) != 3) return 0;
    for (size_t i = 0; i < 3; i++)
        if (!reals_are(json_array_get(rec, i), R32 + 2 * i, 2)) return 0;
    return reals_are(json_object_get(o, "errors"), err, 3);
}

static void reconstruct_answer_never_partial(void **state)
{
    (void)state;
    never_partial(build_reconstruct, reconstruct_complete, 3 * 2 + 3);
    json_t *o = build_reconstruct();
    assert_true(reconstruct_complete(o));
    json_decref(o);
}

static json_t *build_encode(void)
{
    return tfs_encode_json(X32, 3, 2);
}

/* 1 when o is {"codes": the 3 rows of X32}. */
static int encode_complete(json_t *o)
{
    json_t *codes = json_object_get(o, "codes");
    if (json_object_size(o) != 1 || json_array_size(codes) != 3) return 0;
    for (size_t i = 0; i < 3; i++)
        if (!reals_are(json_array_get(codes, i), X32 + 2 * i, 2)) return 0;
    return 1;
}

static void encode_answer_never_partial(void **state)
{
    (void)state;
    never_partial(build_encode, encode_complete, 3 * 2);
    json_t *o = build_encode();
    assert_true(encode_complete(o));
    json_decref(o);
}

/* Outputs that are not finite (a model overflowing on inputs near the float limit) are written
 * as null, as :predict writes them: an answer, not an allocation failure, and no value dropped. */
static void non_finite_outputs_are_null(void **state)
{
    (void)state;
    const float nan = NAN, inf = INFINITY;
    const float Yc[] = {nan, nan, nan, 0.5f, 0.25f, 0.25f};
    json_t *o = tfs_classify_json(Yc, 2, 3, labels, 3);
    assert_non_null(o);
    json_t *res = json_object_get(o, "results");
    assert_int_equal(json_array_size(res), 2);
    for (size_t j = 0; j < 3; j++) {
        json_t *pair = json_array_get(json_array_get(res, 0), j);
        assert_int_equal(json_array_size(pair), 2);
        assert_true(json_is_null(json_array_get(pair, 1)));
    }
    assert_true(json_is_real(json_array_get(json_array_get(json_array_get(res, 1), 0), 1)));
    json_decref(o);

    const float X[] = {1.0f, 2.0f, 3.0f, 4.0f}, R[] = {inf, 2.0f, 3.0f, 5.0f};
    o = tfs_reconstruct_json(X, R, 2, 2);
    assert_non_null(o);
    json_t *row = json_array_get(json_object_get(o, "reconstructions"), 0);
    assert_int_equal(json_array_size(row), 2);
    assert_true(json_is_null(json_array_get(row, 0)));
    assert_true(json_real_value(json_array_get(row, 1)) == 2.0);
    json_t *errs = json_object_get(o, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_true(json_is_null(json_array_get(errs, 0)));
    assert_true(json_real_value(json_array_get(errs, 1)) == 0.5);
    json_decref(o);

    const float C[] = {nan, -inf, 1.5f, 0.0f};
    o = tfs_encode_json(C, 2, 2);
    assert_non_null(o);
    json_t *codes = json_object_get(o, "codes");
    assert_true(json_is_null(json_array_get(json_array_get(codes, 0), 0)));
    assert_true(json_is_null(json_array_get(json_array_get(codes, 0), 1)));
    assert_true(json_real_value(json_array_get(json_array_get(codes, 1), 0)) == 1.5);
    json_decref(o);
}

/* :regress answers one column of the outputs per row ({"results": [v, ...]}, TF Serving's
 * key): a regressor's only output, or a binary classifier's second label; not finite -> null. */
static void regress_answer_takes_its_column(void **state)
{
    (void)state;
    const float Y[] = {0.25f, 0.75f, 0.9f, 0.1f, NAN, 0.5f};
    json_t *o = tfs_regress_json(Y, 3, 2, 1);
    assert_non_null(o);
    json_t *res = json_object_get(o, "results");
    assert_int_equal(json_array_size(res), 3);
    assert_true(json_real_value(json_array_get(res, 0)) == 0.75);
    assert_true(json_real_value(json_array_get(res, 1)) == (double)0.1f);
    assert_true(json_real_value(json_array_get(res, 2)) == 0.5);
    json_decref(o);
    o = tfs_regress_json(Y, 3, 2, 0);
    res = json_object_get(o, "results");
    assert_true(json_real_value(json_array_get(res, 1)) == (double)0.9f);
    assert_true(json_is_null(json_array_get(res, 2)));
    json_decref(o);
}

/* A classifier of 2 inputs and 3 classes, as v2_answer_json sees it (no network needed). */
static const net_spec v2_spec = {.task = TASK_CLASSIFICATION, .n_in = 2, .n_out = 3};
static const float X42[] = {1, 2, 3, 4, 5, 6, 7, 8};

/* JSON probabilities and labels, with an id; or probabilities as binary data. */
static json_t *build_v2(const float *Y, int binary, size_t *bin_total)
{
    static const v2_want want_json[] = {{OUT_PROB, 0, 0}, {OUT_LABEL, 0, 0}};
    static const v2_want want_bin[] = {{OUT_PROB, 1, 0}, {OUT_LABEL, 0, 0}};
    json_t *id = json_string("req-1");
    if (!id) return NULL; /* an injected failure: the answer would need it */
    v2_result r = {"clf", 4, labels, 3, &v2_spec, id, binary ? want_bin : want_json, 2, X42, Y, 4};
    json_t *o = v2_answer_json(&r, bin_total);
    json_decref(id);
    return o;
}

static json_t *build_v2_json(void)
{
    size_t bin = 99;
    json_t *o = build_v2(Y3, 0, &bin);
    if (o && bin != 0) fail_msg("binary bytes %zu in a JSON answer", bin);
    return o;
}

static json_t *build_v2_binary(void)
{
    size_t bin = 0;
    json_t *o = build_v2(Y3, 1, &bin);
    if (o && bin != 4 * 3 * sizeof(float)) fail_msg("binary bytes %zu, not 48", bin);
    return o;
}

/* 1 when output i of o is named name with shape [4] or [4, cols]. */
static int v2_output_is(json_t *o, size_t i, const char *name, int cols)
{
    json_t *ot = json_array_get(json_object_get(o, "outputs"), i);
    json_t *shape = json_object_get(ot, "shape");
    return json_is_string(json_object_get(ot, "name")) &&
           strcmp(json_string_value(json_object_get(ot, "name")), name) == 0 &&
           json_is_string(json_object_get(ot, "datatype")) &&
           json_array_size(shape) == (cols ? 2u : 1u) &&
           json_integer_value(json_array_get(shape, 0)) == 4 &&
           (!cols || json_integer_value(json_array_get(shape, 1)) == cols);
}

/* 1 when o is the whole JSON answer: 4 x 3 probabilities and 4 labels. */
static int v2_json_complete(json_t *o)
{
    json_t *outs = json_object_get(o, "outputs");
    if (json_object_size(o) != 4 || json_array_size(outs) != 2 ||
        strcmp(json_string_value(json_object_get(o, "model_name")), "clf") != 0 ||
        strcmp(json_string_value(json_object_get(o, "model_version")), "4") != 0 ||
        strcmp(json_string_value(json_object_get(o, "id")), "req-1") != 0)
        return 0;
    if (!v2_output_is(o, 0, "probabilities", 3) || !v2_output_is(o, 1, "label", 0)) return 0;
    json_t *prob = json_object_get(json_array_get(outs, 0), "data");
    json_t *lab = json_object_get(json_array_get(outs, 1), "data");
    if (!reals_are(prob, Y3, 12) || json_array_size(lab) != 4) return 0;
    static const char *const best[] = {"dog", "cat", "emu", "cat"};
    for (size_t i = 0; i < 4; i++)
        if (!json_is_string(json_array_get(lab, i)) ||
            strcmp(json_string_value(json_array_get(lab, i)), best[i]) != 0)
            return 0;
    return 1;
}

/* 1 when o is the whole answer with binary probabilities: their size, no data. */
static int v2_binary_complete(json_t *o)
{
    json_t *outs = json_object_get(o, "outputs");
    if (json_object_size(o) != 4 || json_array_size(outs) != 2) return 0;
    json_t *p = json_array_get(outs, 0);
    if (!v2_output_is(o, 0, "probabilities", 3) || json_object_get(p, "data") ||
        json_integer_value(json_object_get(json_object_get(p, "parameters"), "binary_data_size")) !=
            48)
        return 0;
    return v2_output_is(o, 1, "label", 0) &&
           json_array_size(json_object_get(json_array_get(outs, 1), "data")) == 4;
}

/* /v2 infer's answer under every injected allocation failure: nothing rather than an answer whose
 * data is shorter than its shape; non-finite outputs are null. */
static void v2_answer_never_partial(void **state)
{
    (void)state;
    never_partial(build_v2_json, v2_json_complete, 12 + 4);
    never_partial(build_v2_binary, v2_binary_complete, 4);
    json_t *o = build_v2_json();
    assert_true(v2_json_complete(o));
    json_decref(o);
    const float Yn[] = {NAN, NAN, NAN, 0.2f, 0.3f, 0.5f, INFINITY, 0, 0, 1, 0, 0};
    size_t bin = 0;
    o = build_v2(Yn, 0, &bin);
    json_t *prob = json_object_get(json_array_get(json_object_get(o, "outputs"), 0), "data");
    assert_int_equal(json_array_size(prob), 12);
    assert_true(json_is_null(json_array_get(prob, 0)));
    assert_true(json_is_null(json_array_get(prob, 6)));
    assert_true(json_is_real(json_array_get(prob, 7)));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_buffers_released_after_request),
        cmocka_unit_test(classify_answer_never_partial),
        cmocka_unit_test(reconstruct_answer_never_partial),
        cmocka_unit_test(encode_answer_never_partial),
        cmocka_unit_test(non_finite_outputs_are_null),
        cmocka_unit_test(regress_answer_takes_its_column),
        cmocka_unit_test(v2_answer_never_partial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
