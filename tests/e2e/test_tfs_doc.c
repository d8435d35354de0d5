/* test_tfs_doc.c — TensorFlow Serving's "RESTful API" page (tensorflow_serving/g3doc/api_rest.md)
 * as a test: each documented request, adapted to a model mlpd trained, sent as the page shows it
 * and checked field by field. Three models: half_plus_two, a linear regression y = 0.5x + 2
 * trained to near-exactness so the page's own numbers hold (its toy is half_plus_three, so every
 * number is one lower); "kinds", a three-class classifier with features f1 and f2; and "coin", a
 * binary classifier, whose :regress is its score of the second label.
 *
 * Where the page disagrees with TF Serving itself, the server wins: the Classify and Regress
 * answers are {"results": ...} (json_tensor.cc's kClassifyRegressResponseKey, and the page's own
 * curl example), although the page's format section writes "result". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

/* Uploads csv as dataset name and trains model name on it; waits for it to succeed. */
static void train(const char *name, const char *csv, const char *task, const char *target,
                  const char *params)
{
    char tail[768];
    snprintf(tail, sizeof tail, "\"task\":\"%s\",\"target\":\"%s\",\"params\":%s", task, target,
             params);
    assert_int_equal(train_csv(&S, name, csv, tail, 300), 0);
}

static int setup(void **state)
{
    (void)state;
    if (srv_start(&S, NULL)) return -1;
    /* half_plus_two: y = 0.5x + 2 on x in [-4, 8), a linear model (no hidden layer) */
    char *csv = malloc(64 * 1024), *p = csv;
    p += sprintf(p, "x,y\n");
    for (int i = 0; i < 600; i++) {
        double x = -4.0 + 12.0 * i / 600.0;
        p += sprintf(p, "%.6f,%.6f\n", x, 0.5 * x + 2.0);
    }
    train("half_plus_two", csv, "regression", "y",
          "{\"hidden\":[],\"optimizer\":\"adam\",\"learning_rate\":0.02,\"epochs\":60,"
          "\"batch_size\":16,\"seed\":3}");
    /* kinds: three well separated classes on (f1, f2); coin: two classes on the sign of f1 */
    unsigned s = 7;
    p = csv;
    p += sprintf(p, "f1,f2,kind\n");
    for (int i = 0; i < 300; i++) {
        s = s * 1103515245u + 12345u;
        double n1 = ((s >> 8) & 0xFFFF) / 65536.0 - 0.5;
        s = s * 1103515245u + 12345u;
        double n2 = ((s >> 8) & 0xFFFF) / 65536.0 - 0.5;
        int k = i % 3;
        p += sprintf(p, "%.5f,%.5f,k%d\n", n1 + (k == 1 ? 3 : 0), n2 + (k == 2 ? 3 : 0), k);
    }
    train("kinds", csv, "classification", "kind",
          "{\"hidden\":[8],\"epochs\":30,\"learning_rate\":0.05,\"seed\":5}");
    p = csv;
    p += sprintf(p, "f1,f2,side\n");
    for (int i = 0; i < 300; i++) {
        s = s * 1103515245u + 12345u;
        double n1 = ((s >> 8) & 0xFFFF) / 65536.0 - 0.5;
        s = s * 1103515245u + 12345u;
        double n2 = ((s >> 8) & 0xFFFF) / 65536.0 - 0.5;
        int k = i % 2;
        p += sprintf(p, "%.5f,%.5f,%s\n", n1 + (k ? 2 : -2), n2, k ? "heads" : "tails");
    }
    train("coin", csv, "classification", "side",
          "{\"hidden\":[4],\"epochs\":20,\"learning_rate\":0.05,\"seed\":5}");
    free(csv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S) == 0 ? 0 : -1;
}

static json_t *post(const char *path, const char *body, long want)
{
    long st;
    json_t *o = post_json(&S, path, body, &st);
    if (st != want) fprintf(stderr, "POST %s %s -> %ld\n", path, body, st);
    assert_int_equal(st, want);
    assert_non_null(o);
    return o;
}

/* The {"error": "..."} body of a failed request: exactly one key, whose text contains want. */
static void expect_error(const char *path, const char *body, long status, const char *want)
{
    json_t *o = post(path, body, status);
    assert_int_equal(json_object_size(o), 1);
    const char *e = json_string_value(json_object_get(o, "error"));
    assert_non_null(e);
    if (!strstr(e, want)) fprintf(stderr, "error '%s' lacks '%s'\n", e, want);
    assert_non_null(strstr(e, want));
    json_decref(o);
}

static void near(json_t *v, double want, double tol)
{
    assert_true(json_is_number(v));
    double got = json_number_value(v);
    if (fabs(got - want) > tol) fprintf(stderr, "%g is not within %g of %g\n", got, tol, want);
    assert_true(fabs(got - want) <= tol);
}

/* "Get status of the model": model_version_status, one entry, every field as the page shows. */
static void status_as_documented(void **state)
{
    (void)state;
    long st;
    json_t *o = get_json(&S, "/v1/models/half_plus_two", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(o), 1);
    json_t *list = json_object_get(o, "model_version_status");
    assert_int_equal(json_array_size(list), 1);
    json_t *v = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(v, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(v, "state")), "AVAILABLE");
    json_t *s = json_object_get(v, "status");
    assert_string_equal(json_string_value(json_object_get(s, "error_code")), "OK");
    assert_string_equal(json_string_value(json_object_get(s, "error_message")), "");
    json_decref(o);
}

/* The page's predict call: a list of scalars to a one-input model; "predictions" is a list of
 * scalars, half_plus_two's [2.5, 3.0, 4.5]. (Old code: 400 "instances[0] must be a list".) */
static void predict_scalars(void **state)
{
    (void)state;
    json_t *o = post("/v1/models/half_plus_two:predict", "{\"instances\": [1.0,2.0,5.0]}", 200);
    json_t *p = json_object_get(o, "predictions");
    assert_int_equal(json_array_size(p), 3);
    near(json_array_get(p, 0), 2.5, 0.02);
    near(json_array_get(p, 1), 3.0, 0.02);
    near(json_array_get(p, 2), 4.5, 0.02);
    json_decref(o);
}

/* Columnar with the input named: {"inputs": {"x": [...]}} answers "outputs". (Old code: 400.) */
static void predict_columnar_named(void **state)
{
    (void)state;
    json_t *o =
        post("/v1/models/half_plus_two:predict", "{\"inputs\": {\"x\": [1.0, 2.0, 5.0]}}", 200);
    assert_null(json_object_get(o, "predictions"));
    json_t *p = json_object_get(o, "outputs");
    assert_int_equal(json_array_size(p), 3);
    near(json_array_get(p, 0), 2.5, 0.02);
    near(json_array_get(p, 2), 4.5, 0.02);
    json_decref(o);
}

/* The page's regress call, with its non-default signature name: {"results": [2.5, 3.0]}.
 * (Old code: 400, no verb ':regress'.) */
static void regress_as_documented(void **state)
{
    (void)state;
    json_t *o = post("/v1/models/half_plus_two:regress",
                     "{\"signature_name\": \"tensorflow/serving/regress\", \"examples\": "
                     "[{\"x\": 1.0}, {\"x\": 2.0}]}",
                     200);
    assert_int_equal(json_object_size(o), 1);
    json_t *r = json_object_get(o, "results");
    assert_int_equal(json_array_size(r), 2);
    near(json_array_get(r, 0), 2.5, 0.02);
    near(json_array_get(r, 1), 3.0, 0.02);
    /* a version's path and an alias's path answer the same */
    hresp h;
    assert_int_equal(http_do(&S, "PUT", "/api/v1/models/half_plus_two/aliases/stable", NULL,
                             "{\"version\":1}", 13, NULL, &h),
                     200);
    hresp_free(&h);
    const char *paths[2] = {"/v1/models/half_plus_two/versions/1:regress",
                            "/v1/models/half_plus_two/labels/stable:regress"};
    for (int i = 0; i < 2; i++) {
        json_t *v = post(paths[i], "{\"examples\": [{\"x\": 1.0}, {\"x\": 2.0}]}", 200);
        assert_true(json_equal(v, o));
        json_decref(v);
    }
    json_decref(o);
    /* the default signature too, and a feature given as a list of one value */
    o = post("/v1/models/half_plus_two:regress", "{\"examples\": [{\"x\": [5.0]}]}", 200);
    near(json_array_get(json_object_get(o, "results"), 0), 4.5, 0.02);
    json_decref(o);
}

/* GET path answers status with exactly {"error": want}. */
static void expect_get_error(const char *path, long status, const char *want)
{
    hresp h;
    assert_int_equal(http_do(&S, "GET", path, NULL, NULL, 0, NULL, &h), status);
    json_t *o = json_loads(h.body, 0, NULL);
    assert_non_null(o);
    const char *e = json_string_value(json_object_get(o, "error"));
    if (!e || strcmp(e, want) != 0) fprintf(stderr, "%s: error '%s', want '%s'\n", path, e, want);
    assert_int_equal(json_object_size(o), 1);
    assert_string_equal(e, want);
    json_decref(o);
    hresp_free(&h);
}

/* The page's error example: an unknown model is a 404 {"error": ...}, in TF Serving's words:
 * the servable lookup's for the verbs and metadata, the status monitor's for status, and a
 * label that does not resolve is a 400 (TF Serving resolves labels before models). (Old code:
 * mlpd's own texts, and 404 for a label.) */
static void unknown_model(void **state)
{
    (void)state;
    expect_error("/v1/models/half:predict", "{\"instances\": [1.0,5.0]}", 404,
                 "Servable not found for request: Latest(half)");
    expect_error("/v1/models/half_plus_two/versions/7:predict", "{\"instances\": [1.0]}", 404,
                 "Servable not found for request: Specific(half_plus_two, 7)");
    expect_error("/v1/models/half_plus_two/labels/canary:regress", "{\"examples\": [{\"x\": 1}]}",
                 400, "Unrecognized servable version label: canary");
    expect_error("/v1/models/half/labels/stable:predict", "{\"instances\": [1.0]}", 400,
                 "Unrecognized servable version label: stable");
    expect_get_error("/v1/models/half", 404, "Could not find any versions of model half");
    expect_get_error("/v1/models/half_plus_two/versions/7", 404,
                     "Could not find version 7 of model half_plus_two");
    expect_get_error("/v1/models/half/metadata", 404,
                     "Servable not found for request: Latest(half)");
    expect_get_error("/v1/models/half_plus_two/versions/7/metadata", 404,
                     "Servable not found for request: Specific(half_plus_two, 7)");
}

/* "signature_name": serving_default is the default; any other name is TF Serving's 400.
 * (Old code: the unknown name was ignored, 200.) */
static void signature_names(void **state)
{
    (void)state;
    json_t *a = post("/v1/models/kinds:predict", "{\"instances\": [[3, 0.1]]}", 200);
    json_t *b = post("/v1/models/kinds:predict",
                     "{\"signature_name\": \"serving_default\", \"instances\": [[3, 0.1]]}", 200);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    expect_error("/v1/models/kinds:predict",
                 "{\"signature_name\": \"nope\", \"instances\": [[3, 0.1]]}", 400,
                 "Serving signature name: \"nope\" not found in signature def");
    expect_error("/v1/models/kinds:classify",
                 "{\"signature_name\": \"nope\", \"examples\": [{\"f1\": 3, \"f2\": 0.1}]}", 400,
                 "No signature was found with the name: nope");
    expect_error("/v1/models/coin:classify",
                 "{\"signature_name\": \"tensorflow/serving/regress\", \"examples\": "
                 "[{\"f1\": 3, \"f2\": 0.1}]}",
                 400,
                 "Expected classification signature method_name to be "
                 "tensorflow/serving/classify. Was: tensorflow/serving/regress");
    /* :predict may name any signature, but the classify and regress ones take serialized
     * tf.Example strings (their metadata says DT_STRING "inputs"), which numbers and named
     * inputs are not: TF Serving's errors for the first value. (Old code: 200.) */
    expect_error("/v1/models/kinds:predict",
                 "{\"signature_name\": \"tensorflow/serving/classify\", \"instances\": "
                 "[[3.3, 0.1]]}",
                 400, "JSON Value: 3.3 Type: Number is not of expected type: string");
    expect_error("/v1/models/coin:predict",
                 "{\"signature_name\": \"tensorflow/serving/regress\", \"instances\": "
                 "[[3, 0.1]]}",
                 400, "JSON Value: 3 Type: Number is not of expected type: string");
    expect_error("/v1/models/kinds:predict",
                 "{\"signature_name\": \"tensorflow/serving/classify\", \"instances\": "
                 "[{\"f1\": 3, \"f2\": 0.1}]}",
                 400, "JSON object: does not have named input: f1");
    expect_error("/v1/models/kinds:predict",
                 "{\"signature_name\": \"tensorflow/serving/classify\", \"inputs\": "
                 "[[0.123456789, 1]]}",
                 400, "JSON Value: 0.123456791 Type: Number is not of expected type: string");
}

/* Row format with objects keyed by input name, and columnar with one list per input: the same
 * numbers as plain rows, under "predictions" and "outputs". (Old code: the columnar form was a
 * 400; the keyed rows passed.) */
static void predict_named_inputs(void **state)
{
    (void)state;
    json_t *rows = post("/v1/models/kinds:predict", "{\"instances\": [[3, 0.1], [0.2, 2.9]]}", 200);
    json_t *keyed =
        post("/v1/models/kinds:predict",
             "{\"instances\": [{\"f1\": 3, \"f2\": 0.1}, {\"f2\": 2.9, \"f1\": 0.2}]}", 200);
    json_t *cols = post("/v1/models/kinds:predict",
                        "{\"inputs\": {\"f1\": [3, 0.2], \"f2\": [0.1, 2.9]}}", 200);
    assert_true(
        json_equal(json_object_get(rows, "predictions"), json_object_get(keyed, "predictions")));
    assert_true(json_equal(json_object_get(rows, "predictions"), json_object_get(cols, "outputs")));
    assert_null(json_object_get(cols, "predictions"));
    json_decref(rows);
    json_decref(keyed);
    json_decref(cols);
    expect_error("/v1/models/kinds:predict", "{\"inputs\": {\"f1\": [3, 0.2], \"f3\": [0.1, 2.9]}}",
                 400, "Missing named input: f2 in 'inputs' object.");
    expect_error("/v1/models/kinds:predict",
                 "{\"inputs\": {\"f1\": [3], \"f2\": [0.1], \"f7\": [1]}}", 400,
                 "inputs has named input 'f7', which the model lacks");
    expect_error("/v1/models/kinds:predict", "{\"inputs\": {\"f1\": [3, 0.2]}}", 400,
                 "Missing named input: f2 in 'inputs' object.");
    expect_error("/v1/models/kinds:predict", "{\"inputs\": {\"f1\": [3, 0.2], \"f2\": [0.1]}}", 400,
                 "every input needs one value per instance");
    expect_error("/v1/models/kinds:predict", "{\"instances\": [[3, 0.1]], \"inputs\": [[3, 0.1]]}",
                 400, "expecting only one of 'inputs' or 'instances' keys to exist");
}

/* Classify: "examples" with a shared "context"; the answer is the instances form's, label/score
 * pairs best first. (Old code: 400, "body needs instances".) */
static void classify_examples(void **state)
{
    (void)state;
    json_t *rows =
        post("/v1/models/kinds:classify", "{\"instances\": [[3, 0.1], [0.2, 0.1]]}", 200);
    json_t *ex = post("/v1/models/kinds:classify",
                      "{\"signature_name\": \"tensorflow/serving/classify\", \"context\": "
                      "{\"f2\": 0.1}, \"examples\": [{\"f1\": 3}, {\"f1\": 0.2}]}",
                      200);
    assert_int_equal(json_object_size(ex), 1);
    json_t *r = json_object_get(ex, "results");
    assert_true(json_equal(json_object_get(rows, "results"), r));
    assert_int_equal(json_array_size(r), 2);
    json_t *first = json_array_get(r, 0);
    assert_int_equal(json_array_size(first), 3);
    json_t *best = json_array_get(first, 0);
    assert_string_equal(json_string_value(json_array_get(best, 0)), "k1");
    assert_true(json_number_value(json_array_get(best, 1)) >
                json_number_value(json_array_get(json_array_get(first, 1), 1)));
    json_decref(rows);
    json_decref(ex);
    expect_error("/v1/models/kinds:classify",
                 "{\"context\": {\"f2\": 0.1}, \"examples\": [{\"f1\": 3, \"f2\": 1}]}", 400,
                 "Feature: f2 is in both 'context' and examples[0]");
    expect_error("/v1/models/kinds:classify", "{\"examples\": [{\"f1\": 3}]}", 400,
                 "examples[0] lacks feature 'f2'");
    expect_error("/v1/models/kinds:classify", "{\"examples\": []}", 400,
                 "'examples' value is an empty array");
    expect_error("/v1/models/kinds:classify", "{\"examples\": {\"f1\": 3}}", 400,
                 "Expecting 'examples' value to be an list/array");
    expect_error("/v1/models/kinds:classify", "{\"examples\": [{\"f1\": 3, \"f2\": 1, \"f9\": 2}]}",
                 400, "examples[0] has feature 'f9', which the model lacks");
    expect_error("/v1/models/kinds:classify",
                 "{\"context\": {\"f9\": 1}, \"examples\": [{\"f1\": 3, \"f2\": 1}]}", 400,
                 "context has feature 'f9', which the model lacks");
    expect_error("/v1/models/kinds:classify", "{\"examples\": [{\"f1\": \"a\", \"f2\": 1}]}", 400,
                 "Feature: f1 of examples[0] is not a number");
}

/* Regress on classifiers: a binary one answers its score of its second label (metadata's
 * labels[1], what :classify gives that label); a three-class one is TF Serving's method error.
 * (Old code: 400 for both.) */
static void regress_classifiers(void **state)
{
    (void)state;
    long st;
    json_t *md = get_json(&S, "/v1/models/coin/metadata", &st);
    assert_int_equal(st, 200);
    json_t *labels = json_object_get(json_object_get(md, "metadata"), "labels");
    assert_int_equal(json_array_size(labels), 2);
    const char *second = json_string_value(json_array_get(labels, 1));
    for (int side = 0; side < 2; side++) {
        const char *body = side ? "{\"examples\": [{\"f1\": 1.5, \"f2\": 0}]}"
                                : "{\"examples\": [{\"f1\": -1.5, \"f2\": 0}]}";
        json_t *c = post("/v1/models/coin:classify", body, 200);
        json_t *g = post("/v1/models/coin:regress", body, 200);
        double score = NAN;
        json_t *pairs = json_array_get(json_object_get(c, "results"), 0), *pr;
        size_t i;
        json_array_foreach(pairs, i, pr)
        {
            if (strcmp(json_string_value(json_array_get(pr, 0)), second) == 0)
                score = json_number_value(json_array_get(pr, 1));
        }
        assert_false(isnan(score));
        near(json_array_get(json_object_get(g, "results"), 0), score, 1e-6);
        json_decref(c);
        json_decref(g);
    }
    json_decref(md);
    expect_error("/v1/models/kinds:regress", "{\"examples\": [{\"f1\": 3, \"f2\": 0.1}]}", 400,
                 "Expected regression signature method_name to be tensorflow/serving/regress. "
                 "Was: tensorflow/serving/classify");
}

/* The Model Metadata API: GetModelMetadataResponse as TF Serving renders it. (Old code: no
 * model_spec.signature_name, signature_def not nested in a SignatureDefMap.) */
static void metadata_as_documented(void **state)
{
    (void)state;
    long st;
    json_t *o = get_json(&S, "/v1/models/coin/metadata", &st);
    assert_int_equal(st, 200);
    json_t *spec = json_object_get(o, "model_spec");
    assert_string_equal(json_string_value(json_object_get(spec, "name")), "coin");
    assert_string_equal(json_string_value(json_object_get(spec, "version")), "1");
    assert_string_equal(json_string_value(json_object_get(spec, "signature_name")), "");
    json_t *map = json_object_get(json_object_get(o, "metadata"), "signature_def");
    assert_string_equal(json_string_value(json_object_get(map, "@type")),
                        "type.googleapis.com/tensorflow.serving.SignatureDefMap");
    json_t *sigs = json_object_get(map, "signature_def");
    assert_int_equal(json_object_size(sigs), 3);
    json_t *sd = json_object_get(sigs, "serving_default");
    assert_string_equal(json_string_value(json_object_get(sd, "method_name")),
                        "tensorflow/serving/predict");
    assert_true(json_is_object(json_object_get(sd, "defaults")));
    json_t *in = json_object_get(json_object_get(sd, "inputs"), "input");
    assert_string_equal(json_string_value(json_object_get(in, "dtype")), "DT_FLOAT");
    json_t *shape = json_object_get(in, "tensor_shape");
    assert_true(json_is_false(json_object_get(shape, "unknown_rank")));
    json_t *dim = json_object_get(shape, "dim");
    assert_int_equal(json_array_size(dim), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(dim, 0), "size")), "-1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(dim, 1), "size")), "2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(dim, 1), "name")), "");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(sigs, "tensorflow/serving/classify"), "method_name")),
                        "tensorflow/serving/classify");
    json_t *rg = json_object_get(sigs, "tensorflow/serving/regress");
    assert_string_equal(json_string_value(json_object_get(rg, "method_name")),
                        "tensorflow/serving/regress");
    assert_non_null(json_object_get(json_object_get(rg, "outputs"), "outputs"));
    json_decref(o);
    /* a regression has serving_default and regress; the versioned path answers the same */
    o = get_json(&S, "/v1/models/half_plus_two/versions/1/metadata", &st);
    assert_int_equal(st, 200);
    sigs = json_object_get(json_object_get(json_object_get(o, "metadata"), "signature_def"),
                           "signature_def");
    assert_int_equal(json_object_size(sigs), 2);
    assert_non_null(json_object_get(sigs, "tensorflow/serving/regress"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_as_documented),   cmocka_unit_test(predict_scalars),
        cmocka_unit_test(predict_columnar_named), cmocka_unit_test(regress_as_documented),
        cmocka_unit_test(unknown_model),          cmocka_unit_test(signature_names),
        cmocka_unit_test(predict_named_inputs),   cmocka_unit_test(classify_examples),
        cmocka_unit_test(regress_classifiers),    cmocka_unit_test(metadata_as_documented),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
