/* test_onnx_import.c — ONNX import end to end against the real daemon: small ModelProtos built
 * with the generated protobuf-c structs (build/gen/onnx.pb-c.h) and POSTed as application/onnx to
 * /api/v1/models/{name}/versions. A 2-4-3 Gemm/Relu/Gemm/Softmax classifier imports (201 with its
 * Location) and predicts what the weights say; the error cases answer as documented: an op mlpd
 * does not import is a 400 naming the op, the node and the supported list; a truncated file and
 * garbage are 400; a body over --max-body is 413; a task the head does not fit, an unknown task
 * and labels of the wrong count are 400 naming the parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static srv S;

static const float W1[4 * 2] = {0.5f, -1.0f, 1.5f, 0.25f, -0.75f, 2.0f, 1.0f, 1.0f};
static const float B1[4] = {0.1f, -0.2f, 0.3f, 0.0f};
static const float W2[3 * 4] = {1.0f, -0.5f,  0.25f, 2.0f, -1.0f, 1.0f,
                                0.5f, -0.25f, 0.75f, 0.0f, -1.5f, 1.0f};
static const float B2[3] = {0.05f, -0.1f, 0.2f};

static Onnx__TensorProto *tensor(const char *name, const float *v, int64_t d0, int64_t d1)
{
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_dims = d1 ? 2 : 1;
    t->dims = calloc(2, sizeof *t->dims);
    t->dims[0] = d0;
    t->dims[1] = d1;
    t->n_float_data = (size_t)(d0 * (d1 ? d1 : 1));
    t->float_data = (float *)v;
    return t;
}

static Onnx__NodeProto *node(const char *op, const char *name, const char *in0, const char *in1,
                             const char *in2, const char *out, int transB)
{
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->input = calloc(3, sizeof *n->input);
    n->input[n->n_input++] = (char *)in0;
    if (in1) n->input[n->n_input++] = (char *)in1;
    if (in2) n->input[n->n_input++] = (char *)in2;
    n->n_output = 1;
    n->output = calloc(1, sizeof *n->output);
    n->output[0] = (char *)out;
    if (transB) {
        Onnx__AttributeProto *a = calloc(1, sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = "transB";
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = 1;
        n->n_attribute = 1;
        n->attribute = calloc(1, sizeof *n->attribute);
        n->attribute[0] = a;
    }
    return n;
}

static void node_free(Onnx__NodeProto *n)
{
    if (n->n_attribute) free(n->attribute[0]);
    free(n->attribute);
    free(n->input);
    free(n->output);
    free(n);
}

/* The serialized classifier; `extra_op` (named `extra_name`) is inserted after the Relu when
 * not NULL. *len gets the size; the buffer is new. */
static unsigned char *classifier(const char *extra_op, const char *extra_name, size_t *len)
{
    Onnx__TensorProto *init[4] = {tensor("W1", W1, 4, 2), tensor("B1", B1, 4, 0),
                                  tensor("W2", W2, 3, 4), tensor("B2", B2, 3, 0)};
    Onnx__NodeProto *nodes[5];
    size_t nn = 0;
    nodes[nn++] = node("Gemm", "dense1", "input", "W1", "B1", "h1", 1);
    nodes[nn++] = node("Relu", "relu1", "h1", NULL, NULL, "a1", 0);
    if (extra_op) nodes[nn++] = node(extra_op, extra_name, "a1", NULL, NULL, "a1x", 0);
    nodes[nn++] = node("Gemm", "dense2", extra_op ? "a1x" : "a1", "W2", "B2", "h2", 1);
    nodes[nn++] = node("Softmax", "head", "h2", NULL, NULL, "probabilities", 0);
    Onnx__ValueInfoProto in, out, *ins[1] = {&in}, *outs[1] = {&out};
    onnx__value_info_proto__init(&in);
    onnx__value_info_proto__init(&out);
    in.name = "input";
    out.name = "probabilities";
    Onnx__GraphProto g;
    onnx__graph_proto__init(&g);
    g.name = "t";
    g.n_node = nn;
    g.node = nodes;
    g.n_initializer = 4;
    g.initializer = init;
    g.n_input = 1;
    g.input = ins;
    g.n_output = 1;
    g.output = outs;
    Onnx__OperatorSetIdProto ops, *opsv[1] = {&ops};
    onnx__operator_set_id_proto__init(&ops);
    ops.domain = "";
    ops.has_version = 1;
    ops.version = 17;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.has_ir_version = 1;
    m.ir_version = 8;
    m.producer_name = "test_onnx_import";
    m.n_opset_import = 1;
    m.opset_import = opsv;
    m.graph = &g;
    *len = onnx__model_proto__get_packed_size(&m);
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(onnx__model_proto__pack(&m, buf), *len);
    for (int i = 0; i < 4; i++) {
        free(init[i]->dims);
        free(init[i]);
    }
    for (size_t i = 0; i < nn; i++) node_free(nodes[i]);
    return buf;
}

static long post_onnx(const char *path, const void *body, size_t len, hresp *r)
{
    return http_do(&S, "POST", path, "application/onnx", body, len, NULL, r);
}

/* The 400's detail and errors[0].field, checked. */
static void expect_400(hresp *r, const char *field, const char *const *needles)
{
    assert_int_equal(r->status, 400);
    json_t *j = hresp_json(r);
    assert_non_null(j);
    const char *d = json_string_value(json_object_get(j, "detail"));
    assert_non_null(d);
    for (int i = 0; needles && needles[i]; i++)
        if (!strstr(d, needles[i])) fail_msg("detail '%s' lacks '%s'", d, needles[i]);
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "field")), field);
    json_decref(j);
}

static void imports_and_predicts(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = classifier(NULL, NULL, &len);
    hresp r;
    assert_int_equal(
        post_onnx("/api/v1/models/oc/versions?labels=a,b,c&features=x,y", buf, len, &r), 201);
    assert_string_equal(r.location, "/api/v1/models/oc/versions/1");
    json_t *v = hresp_json(&r);
    assert_string_equal(json_string_value(json_object_get(v, "task")), "classification");
    assert_int_equal(json_integer_value(json_object_get(v, "input_dim")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "output_dim")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "labels"), 2)), "c");
    json_decref(v);
    hresp_free(&r);
    free(buf);

    long st;
    json_t *p = post_json(&S, "/v1/models/oc:predict", "{\"instances\": [[0.5, -1.25]]}", &st);
    assert_int_equal(st, 200);
    const float x[2] = {0.5f, -1.25f};
    float a[4], z[3], mx = -INFINITY, sum = 0;
    for (int o = 0; o < 4; o++) {
        a[o] = B1[o] + W1[o * 2] * x[0] + W1[o * 2 + 1] * x[1];
        a[o] = a[o] > 0 ? a[o] : 0;
    }
    for (int o = 0; o < 3; o++) {
        z[o] = B2[o];
        for (int i = 0; i < 4; i++) z[o] += W2[o * 4 + i] * a[i];
        mx = fmaxf(mx, z[o]);
    }
    for (int o = 0; o < 3; o++) sum += expf(z[o] - mx);
    json_t *row = json_array_get(json_object_get(p, "predictions"), 0);
    assert_int_equal(json_array_size(row), 3);
    for (int o = 0; o < 3; o++) {
        double want = expf(z[o] - mx) / sum, got = json_number_value(json_array_get(row, o));
        if (fabs(got - want) > 1e-6) fail_msg("class %d: %g, want %g", o, got, want);
    }
    json_decref(p);
}

static void unsupported_op_names_op_and_node(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = classifier("Cos", "wobble", &len);
    hresp r;
    post_onnx("/api/v1/models/bad/versions", buf, len, &r);
    static const char *const needles[] = {"Cos", "'wobble'", "Gemm", "LeakyRelu", "Dropout", NULL};
    expect_400(&r, "onnx.node", needles);
    hresp_free(&r);
    free(buf);
}

static void truncated_and_garbage_are_400(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = classifier(NULL, NULL, &len);
    hresp r;
    post_onnx("/api/v1/models/bad/versions", buf, len / 2, &r);
    expect_400(&r, "onnx", NULL);
    hresp_free(&r);
    static const char garbage[] = "this is not a protobuf message at all \xff\xff\xff\xff";
    post_onnx("/api/v1/models/bad/versions", garbage, sizeof garbage - 1, &r);
    expect_400(&r, "onnx", NULL);
    hresp_free(&r);
    post_onnx("/api/v1/models/bad/versions", "", 0, &r);
    assert_int_equal(r.status, 400);
    hresp_free(&r);
    free(buf);
    /* nothing was published */
    long st;
    json_t *m = get_json(&S, "/api/v1/models/bad", &st);
    assert_int_equal(st, 404);
    json_decref(m);
}

/* On a daemon of its own with a small --max-body: a body that fits the socket buffers, so the
 * early 413 is read before the daemon closes the connection (an 8 MB body over the default limit
 * could meet the close mid-send, which curl reports as a reset, not as the answer). */
static void oversize_is_413(void **state)
{
    (void)state;
    srv small;
    static const char *const args[] = {"--max-body", "65536", NULL};
    assert_int_equal(srv_start(&small, args), 0);
    size_t n = 65536 + 4096; /* over that --max-body */
    unsigned char *big = calloc(1, n);
    assert_non_null(big);
    hresp r;
    long st = http_do(&small, "POST", "/api/v1/models/big/versions", "application/onnx", big, n,
                      NULL, &r);
    hresp_free(&r);
    free(big);
    assert_int_equal(srv_finish(&small), 0); /* clean exit, data dir removed */
    assert_int_equal(st, 413);
}

static void wrong_task_and_labels_are_400(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = classifier(NULL, NULL, &len);
    hresp r;
    static const char *const reg[] = {"regression", "softmax", NULL};
    post_onnx("/api/v1/models/t/versions?task=regression", buf, len, &r);
    expect_400(&r, "task", reg);
    hresp_free(&r);
    static const char *const ae[] = {"autoencoder", NULL};
    post_onnx("/api/v1/models/t/versions?task=autoencoder", buf, len, &r);
    expect_400(&r, "task", ae);
    hresp_free(&r);
    post_onnx("/api/v1/models/t/versions?task=clustering", buf, len, &r);
    expect_400(&r, "task", NULL);
    hresp_free(&r);
    static const char *const lab[] = {"3 classes", NULL};
    post_onnx("/api/v1/models/t/versions?labels=a,b", buf, len, &r);
    expect_400(&r, "labels", lab);
    hresp_free(&r);
    static const char *const feat[] = {"2 inputs", NULL};
    post_onnx("/api/v1/models/t/versions?features=a,b,c", buf, len, &r);
    expect_400(&r, "features", feat);
    hresp_free(&r);
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    return srv_start(&S, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return srv_finish(&S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(imports_and_predicts),
        cmocka_unit_test(unsupported_op_names_op_and_node),
        cmocka_unit_test(truncated_and_garbage_are_400),
        cmocka_unit_test(oversize_is_413),
        cmocka_unit_test(wrong_task_and_labels_are_400),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
