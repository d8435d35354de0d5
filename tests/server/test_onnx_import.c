/* test_onnx_import.c — server/onnx_import: graphs built with the generated protobuf-c structs and
 * packed, then imported. Sub then Div of the input become x_mean and x_scale exactly, Mul then
 * Add after the head y_scale and y_mean exactly; BatchNormalization folds into the layer before
 * it (predictions match the graph's arithmetic); the swish decomposition is one activation; the
 * task is guessed from the head and a head that does not fit an overriding task is refused;
 * branches, mixed hidden activations, an unknown op, an opset out of range and a graph over
 * ONNX_MAX_NODES are refused with a message naming what; max_params is enforced before the
 * weights are copied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_import.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A graph under construction: nodes and initializers with their storage. */
typedef struct {
    Onnx__NodeProto *nodes[ONNX_MAX_NODES + 2];
    size_t nn;
    Onnx__TensorProto *inits[16];
    size_t ni;
    int opset;
} g_t;

static void g_init(g_t *g)
{
    memset(g, 0, sizeof *g);
    g->opset = 17;
}

static void g_tensor(g_t *g, const char *name, const float *v, int64_t d0, int64_t d1)
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
    g->inits[g->ni++] = t;
}

static Onnx__AttributeProto *int_attr(const char *name, int64_t v)
{
    Onnx__AttributeProto *a = calloc(1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

/* Node op(in0[, in1[, in2]]) -> out; transB set on a Gemm. */
static void g_node(g_t *g, const char *op, const char *in0, const char *in1, const char *in2,
                   const char *out)
{
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->input = calloc(3, sizeof *n->input);
    n->input[n->n_input++] = (char *)in0;
    if (in1) n->input[n->n_input++] = (char *)in1;
    if (in2) n->input[n->n_input++] = (char *)in2;
    n->n_output = 1;
    n->output = calloc(1, sizeof *n->output);
    n->output[0] = (char *)out;
    if (strcmp(op, "Gemm") == 0) {
        n->n_attribute = 1;
        n->attribute = calloc(1, sizeof *n->attribute);
        n->attribute[0] = int_attr("transB", 1);
    }
    g->nodes[g->nn++] = n;
}

/* Packs g with output `out` into a new buffer and frees the graph's parts. */
static unsigned char *g_pack(g_t *g, const char *out, size_t *len)
{
    Onnx__ValueInfoProto in, o, *ins[1] = {&in}, *outs[1] = {&o};
    onnx__value_info_proto__init(&in);
    onnx__value_info_proto__init(&o);
    in.name = "input";
    o.name = (char *)out;
    Onnx__GraphProto gr;
    onnx__graph_proto__init(&gr);
    gr.n_node = g->nn;
    gr.node = g->nodes;
    gr.n_initializer = g->ni;
    gr.initializer = g->inits;
    gr.n_input = 1;
    gr.input = ins;
    gr.n_output = 1;
    gr.output = outs;
    Onnx__OperatorSetIdProto ops, *opsv[1] = {&ops};
    onnx__operator_set_id_proto__init(&ops);
    ops.has_version = 1;
    ops.version = g->opset;
    Onnx__ModelProto m;
    onnx__model_proto__init(&m);
    m.n_opset_import = 1;
    m.opset_import = opsv;
    m.graph = &gr;
    *len = onnx__model_proto__get_packed_size(&m);
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    onnx__model_proto__pack(&m, buf);
    for (size_t i = 0; i < g->ni; i++) {
        free(g->inits[i]->dims);
        free(g->inits[i]);
    }
    for (size_t i = 0; i < g->nn; i++) {
        for (size_t k = 0; k < g->nodes[i]->n_attribute; k++) free(g->nodes[i]->attribute[k]);
        free(g->nodes[i]->attribute);
        free(g->nodes[i]->input);
        free(g->nodes[i]->output);
        free(g->nodes[i]);
    }
    return buf;
}

static mlp_err import(g_t *g, const char *out, size_t max_params, onnx_import **im, mlp_error *err)
{
    size_t len;
    unsigned char *buf = g_pack(g, out, &len);
    mlp_error_clear(err);
    mlp_err rc = onnx_import_parse(buf, len, max_params, im, err);
    free(buf);
    return rc;
}

static const float W1[3 * 2] = {0.5f, -1.0f, 1.5f, 0.25f, -0.75f, 2.0f};
static const float B1[3] = {0.1f, -0.2f, 0.3f};
static const float W2[2 * 3] = {1.0f, -0.5f, 0.25f, -1.0f, 1.0f, 0.5f};
static const float B2[2] = {0.05f, -0.1f};
static const float MEAN[2] = {3.3f, -1.7f}, SCALE[2] = {0.3f, 7.1f};
static const float YS[2] = {2.5f, 0.125f}, YM[2] = {-4.0f, 9.5f};

static void standardisation_is_exact(void **state)
{
    (void)state;
    g_t g;
    g_init(&g);
    g_tensor(&g, "m", MEAN, 2, 0);
    g_tensor(&g, "s", SCALE, 2, 0);
    g_tensor(&g, "W1", W1, 3, 2);
    g_tensor(&g, "B1", B1, 3, 0);
    g_tensor(&g, "W2", W2, 2, 3);
    g_tensor(&g, "B2", B2, 2, 0);
    g_tensor(&g, "ys", YS, 2, 0);
    g_tensor(&g, "ym", YM, 2, 0);
    g_node(&g, "Sub", "input", "m", NULL, "x1");
    g_node(&g, "Div", "x1", "s", NULL, "x2");
    g_node(&g, "Gemm", "x2", "W1", "B1", "h");
    g_node(&g, "Tanh", "h", NULL, NULL, "a");
    g_node(&g, "Gemm", "a", "W2", "B2", "z");
    g_node(&g, "Sigmoid", "z", NULL, NULL, "p");
    g_node(&g, "Mul", "p", "ys", NULL, "q");
    g_node(&g, "Add", "q", "ym", NULL, "y");
    onnx_import *im = NULL;
    mlp_error err;
    assert_int_equal(import(&g, "y", 0, &im, &err), MLP_OK);
    assert_int_equal(onnx_import_task(im), TASK_REGRESSION);
    net *n = NULL;
    assert_int_equal(onnx_import_net(im, TASK_REGRESSION, &n, &err), MLP_OK);
    const net_spec *sp = net_get_spec(n);
    assert_int_equal(sp->act, ACT_TANH);
    assert_int_equal(sp->out_act, ACT_SIGMOID);
    assert_memory_equal(net_x_mean_const(n), MEAN, sizeof MEAN);
    assert_memory_equal(net_x_scale_const(n), SCALE, sizeof SCALE);
    assert_memory_equal(net_y_scale_const(n), YS, sizeof YS);
    assert_memory_equal(net_y_mean_const(n), YM, sizeof YM);
    assert_memory_equal(net_layer_w(n, 0), W1, sizeof W1);
    assert_memory_equal(net_layer_b(n, 1), B2, sizeof B2);
    net_free(n);
    /* an output scaling does not fit a classifier */
    assert_int_equal(onnx_import_net(im, TASK_CLASSIFICATION, &n, &err), MLP_EINVAL);
    assert_string_equal(err.field, "task");
    onnx_import_free(im);
}

static void batchnorm_folds_and_swish_is_one_activation(void **state)
{
    (void)state;
    static const float gam[3] = {1.5f, 0.01f, 2.0f}, bet[3] = {0.1f, 0.0f, -0.3f},
                       mu[3] = {0.2f, -0.4f, 1.0f}, var[3] = {0.25f, 1e-4f, 1.0f};
    g_t g;
    g_init(&g);
    g_tensor(&g, "W1", W1, 3, 2);
    g_tensor(&g, "B1", B1, 3, 0);
    g_tensor(&g, "gam", gam, 3, 0);
    g_tensor(&g, "bet", bet, 3, 0);
    g_tensor(&g, "mu", mu, 3, 0);
    g_tensor(&g, "var", var, 3, 0);
    g_tensor(&g, "W2", W2, 2, 3);
    g_tensor(&g, "B2", B2, 2, 0);
    g_node(&g, "Gemm", "input", "W1", "B1", "h");
    Onnx__NodeProto *bn = NULL;
    g_node(&g, "BatchNormalization", "h", "gam", "bet", "hb");
    bn = g.nodes[g.nn - 1];
    bn->input = realloc(bn->input, 5 * sizeof *bn->input);
    bn->input[3] = "mu";
    bn->input[4] = "var";
    bn->n_input = 5;
    g_node(&g, "Sigmoid", "hb", NULL, NULL, "s");
    g_node(&g, "Mul", "hb", "s", NULL, "a");
    g_node(&g, "Gemm", "a", "W2", "B2", "z");
    g_node(&g, "Softmax", "z", NULL, NULL, "p");
    onnx_import *im = NULL;
    mlp_error err;
    assert_int_equal(import(&g, "p", 0, &im, &err), MLP_OK);
    assert_int_equal(onnx_import_task(im), TASK_CLASSIFICATION);
    net *n = NULL;
    assert_int_equal(onnx_import_net(im, TASK_CLASSIFICATION, &n, &err), MLP_OK);
    assert_int_equal(net_get_spec(n)->act, ACT_SWISH);
    assert_int_equal(net_get_spec(n)->out_act, ACT_SOFTMAX);
    /* the graph's arithmetic by hand */
    const float x[2] = {0.7f, -1.3f};
    double z[2], a[3], mx = -1e30, sum = 0;
    for (int o = 0; o < 3; o++) {
        double h = B1[o] + (double)W1[o * 2] * x[0] + (double)W1[o * 2 + 1] * x[1];
        h = (h - mu[o]) / sqrt(var[o] + 1e-5) * gam[o] + bet[o];
        a[o] = h / (1 + exp(-h));
    }
    for (int o = 0; o < 2; o++) {
        z[o] = B2[o] + W2[o * 3] * a[0] + W2[o * 3 + 1] * a[1] + W2[o * 3 + 2] * a[2];
        mx = fmax(mx, z[o]);
    }
    for (int o = 0; o < 2; o++) sum += exp(z[o] - mx);
    float y[2], *scratch = malloc(net_scratch_floats(n, 1) * sizeof(float));
    assert_int_equal(net_predict(n, x, 1, y, scratch), MLP_OK);
    for (int o = 0; o < 2; o++) assert_true(fabs(y[o] - exp(z[o] - mx) / sum) < 1e-6);
    free(scratch);
    net_free(n);
    /* a softmax head does not fit regression */
    assert_int_equal(onnx_import_net(im, TASK_REGRESSION, &n, &err), MLP_EINVAL);
    assert_non_null(strstr(err.msg, "softmax"));
    onnx_import_free(im);
}

/* An import of g that must fail with rc, its message holding `needle`. */
static void refused(g_t *g, const char *out, size_t max_params, mlp_err rc, const char *needle)
{
    onnx_import *im = NULL;
    mlp_error err;
    assert_int_equal(import(g, out, max_params, &im, &err), rc);
    assert_null(im);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void two_layers(g_t *g, const char *act1, const char *act2)
{
    g_init(g);
    g_tensor(g, "W1", W1, 3, 2);
    g_tensor(g, "B1", B1, 3, 0);
    g_tensor(g, "W3", W1, 3, 3);
    g_tensor(g, "W2", W2, 2, 3);
    g_node(g, "Gemm", "input", "W1", "B1", "h");
    g_node(g, act1, "h", NULL, NULL, "a");
    g_node(g, "Gemm", "a", "W3", NULL, "h2");
    g_node(g, act2, "h2", NULL, NULL, "a2");
}

static void refusals_name_what(void **state)
{
    (void)state;
    static const float w9[9] = {0};
    g_t g;
    two_layers(&g, "Relu", "Tanh");
    g.inits[2]->float_data = (float *)w9;
    g_node(&g, "Gemm", "a2", "W2", NULL, "y");
    refused(&g, "y", 0, MLP_EINVAL, "share one activation");

    two_layers(&g, "Relu", "Cos");
    g.inits[2]->float_data = (float *)w9;
    refused(&g, "a2", 0, MLP_EINVAL, "op Cos");

    two_layers(&g, "Relu", "Relu");
    g.inits[2]->float_data = (float *)w9;
    g_node(&g, "Add", "a2", "a", NULL, "y"); /* a branch back to an earlier value */
    refused(&g, "y", 0, MLP_EINVAL, "single chain");

    two_layers(&g, "Relu", "Relu");
    g.inits[2]->float_data = (float *)w9;
    g.opset = 30;
    refused(&g, "a2", 0, MLP_EINVAL, "opset");

    two_layers(&g, "Relu", "Relu");
    g.inits[2]->float_data = (float *)w9;
    refused(&g, "a2", 20, MLP_ETOOLARGE, "parameters");

    g_init(&g);
    g_tensor(&g, "W1", W1, 3, 2);
    for (int i = 0; i <= ONNX_MAX_NODES; i++) g_node(&g, "Identity", "input", NULL, NULL, "input");
    g_node(&g, "Gemm", "input", "W1", NULL, "y");
    refused(&g, "y", 0, MLP_EINVAL, "nodes");

    onnx_import *im = NULL;
    mlp_error err;
    static const unsigned char junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    assert_int_equal(onnx_import_parse(junk, sizeof junk, 0, &im, &err), MLP_EINVAL);
    assert_null(im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standardisation_is_exact),
        cmocka_unit_test(batchnorm_folds_and_swish_is_one_activation),
        cmocka_unit_test(refusals_name_what),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
