/* test_onnx_export.c — server/onnx_export: the bytes decode with protobuf-c into a ModelProto of
 * IR version 8 and opset 17 whose input, output and metadata_props are as onnx.h names them, and
 * the graph, evaluated here in double by a small interpreter of the ops the exporter writes,
 * answers what net_predict answers (within 1e-5 relative) for every activation as hidden and
 * output activation, every task, with non-trivial input and output standardisation, and for an
 * ensemble (a Mean of its members). onnxruntime and ONNX's checker check the same files end to
 * end in tests/onnx/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "onnx.h"
#include "onnx.pb-c.h"
#include "onnx_export.h"

#define ROWS  5
#define MAX_T 256

static char *features[] = {"f0", "f1", "f2", "f3"};
static char *labels[] = {"cat", "dog", "emu"};

/* A net of 4 inputs, hidden [5, 3] (or none when shallow) with activation act, head out_act,
 * outputs by task; weights depend on seed; standardisation of inputs (and outputs, for regression
 * and autoencoders) far from the identity. */
static net *make_net_depth(net_task task, act_kind act, act_kind out_act, unsigned seed,
                           int shallow)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = task;
    s.n_in = 4;
    s.n_out = task == TASK_CLASSIFICATION ? (out_act == ACT_SIGMOID ? 1 : 3)
              : task == TASK_AUTOENCODER  ? 4
                                          : 2;
    s.n_hidden = shallow ? 0 : 2;
    s.hidden[0] = 5;
    s.hidden[1] = 3;
    s.act = act;
    s.out_act = out_act;
    s.loss = out_act == ACT_SOFTMAX                                  ? LOSS_CROSS_ENTROPY
             : out_act == ACT_SIGMOID && task == TASK_CLASSIFICATION ? LOSS_LOGISTIC
                                                                     : LOSS_SQUARED;
    net *n = NULL;
    assert_int_equal(net_new(&s, &n, NULL), MLP_OK);
    float *p = net_params(n);
    for (size_t i = 0; i < net_param_count(n); i++)
        p[i] = (float)((int)((i * 7 + seed * 5) % 13) - 6) / 6.0f;
    for (int j = 0; j < s.n_in; j++) {
        net_x_mean(n)[j] = 100.0f * (float)j - 3.0f;
        net_x_scale(n)[j] = 0.5f + 4.0f * (float)j;
    }
    if (task != TASK_CLASSIFICATION)
        for (int j = 0; j < s.n_out; j++) {
            net_y_mean(n)[j] = 10.0f * (float)(j + 1);
            net_y_scale(n)[j] = 3.0f + (float)j;
        }
    return n;
}

static net *make_net(net_task task, act_kind act, act_kind out_act, unsigned seed)
{
    return make_net_depth(task, act, out_act, seed, 0);
}

/* Raw inputs near each column's mean, a scale or two away. */
static void inputs(float *X)
{
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < 4; j++)
            X[r * 4 + j] = 100.0f * (float)j - 3.0f +
                           (0.5f + 4.0f * (float)j) * (float)((r * 3 + j * 5) % 7 - 3) / 2.0f;
}

/* ---- a small interpreter of the exported graph, in double ---------------------------------- */

typedef struct {
    const char *name;
    int rows, cols; /* a 1-D initializer has rows 0 */
    double *v;
} tensor;

typedef struct {
    tensor t[MAX_T];
    int n;
} env;

static tensor *find(env *e, const char *name)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->t[i].name, name) == 0) return &e->t[i];
    fail_msg("tensor %s is read before it is written", name);
    return NULL;
}

static tensor *add(env *e, const char *name, int rows, int cols)
{
    assert_true(e->n < MAX_T);
    for (int i = 0; i < e->n; i++) assert_string_not_equal(e->t[i].name, name); /* SSA */
    tensor *t = &e->t[e->n++];
    t->name = name;
    t->rows = rows;
    t->cols = cols;
    t->v = calloc((size_t)(rows ? rows : 1) * (size_t)cols, sizeof *t->v);
    assert_non_null(t->v);
    return t;
}

static double attr(const Onnx__NodeProto *nd, const char *name, double def)
{
    for (size_t i = 0; i < nd->n_attribute; i++) {
        const Onnx__AttributeProto *a = nd->attribute[i];
        if (strcmp(a->name, name) == 0) return a->has_i ? (double)a->i : (double)a->f;
    }
    return def;
}

static double softplus(double z)
{
    return fmax(z, 0.0) + log1p(exp(-fabs(z)));
}

/* Element-wise binary op on a [rows, cols] and b of the same shape or 1-D [cols]. */
static void binary(env *e, const Onnx__NodeProto *nd, int mul)
{
    tensor *a = find(e, nd->input[0]), *b = find(e, nd->input[1]);
    assert_true(a->rows > 0 && b->cols == a->cols && (b->rows == 0 || b->rows == a->rows));
    tensor *y = add(e, nd->output[0], a->rows, a->cols);
    for (int r = 0; r < a->rows; r++)
        for (int j = 0; j < a->cols; j++) {
            double x = a->v[r * a->cols + j], w = b->v[(b->rows ? r * b->cols : 0) + j];
            y->v[r * a->cols + j] = mul ? x * w : x + w;
        }
}

static void run_node(env *e, const Onnx__NodeProto *nd)
{
    const char *op = nd->op_type;
    assert_int_equal(nd->n_output, 1);
    if (strcmp(op, "Gemm") == 0) { /* Y = A·Bᵀ + C */
        assert_int_equal(nd->n_input, 3);
        assert_int_equal((int)attr(nd, "transB", 0), 1);
        tensor *a = find(e, nd->input[0]), *w = find(e, nd->input[1]), *c = find(e, nd->input[2]);
        assert_int_equal(w->cols, a->cols);
        assert_true(c->rows == 0 && c->cols == w->rows);
        tensor *y = add(e, nd->output[0], a->rows, w->rows);
        for (int r = 0; r < a->rows; r++)
            for (int i = 0; i < w->rows; i++) {
                double acc = c->v[i];
                for (int j = 0; j < a->cols; j++)
                    acc += a->v[r * a->cols + j] * w->v[i * w->cols + j];
                y->v[r * w->rows + i] = acc;
            }
        return;
    }
    if (strcmp(op, "Mul") == 0 || strcmp(op, "Add") == 0) {
        binary(e, nd, op[0] == 'M');
        return;
    }
    if (strcmp(op, "Mean") == 0) {
        tensor *a = find(e, nd->input[0]);
        tensor *y = add(e, nd->output[0], a->rows, a->cols);
        for (size_t k = 0; k < nd->n_input; k++) {
            tensor *x = find(e, nd->input[k]);
            assert_true(x->rows == a->rows && x->cols == a->cols);
            for (int i = 0; i < a->rows * a->cols; i++) y->v[i] += x->v[i] / (double)nd->n_input;
        }
        return;
    }
    assert_int_equal(nd->n_input, 1);
    tensor *x = find(e, nd->input[0]);
    tensor *y = add(e, nd->output[0], x->rows, x->cols);
    int n = x->rows * x->cols;
    if (strcmp(op, "Softmax") == 0) {
        assert_int_equal((int)attr(nd, "axis", -1), 1);
        for (int r = 0; r < x->rows; r++) {
            double m = -INFINITY, s = 0;
            for (int j = 0; j < x->cols; j++) m = fmax(m, x->v[r * x->cols + j]);
            for (int j = 0; j < x->cols; j++) s += exp(x->v[r * x->cols + j] - m);
            for (int j = 0; j < x->cols; j++)
                y->v[r * x->cols + j] = exp(x->v[r * x->cols + j] - m) / s;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        double z = x->v[i], a = NAN;
        if (strcmp(op, "Sigmoid") == 0)
            a = 1.0 / (1.0 + exp(-z));
        else if (strcmp(op, "Tanh") == 0)
            a = tanh(z);
        else if (strcmp(op, "Relu") == 0)
            a = z > 0 ? z : 0;
        else if (strcmp(op, "LeakyRelu") == 0)
            a = z > 0 ? z : attr(nd, "alpha", 0.01) * z;
        else if (strcmp(op, "Elu") == 0)
            a = z > 0 ? z : attr(nd, "alpha", 1.0) * expm1(z);
        else if (strcmp(op, "Softplus") == 0)
            a = softplus(z);
        else if (strcmp(op, "Softsign") == 0)
            a = z / (1.0 + fabs(z));
        else
            fail_msg("op %s is not one the exporter should write", op);
        y->v[i] = a;
    }
}

/* Evaluates model m on X (ROWS × n_in) into out (ROWS × n_out). */
static void evaluate(const Onnx__ModelProto *m, const float *X, int n_in, double *out, int n_out)
{
    env e;
    memset(&e, 0, sizeof e);
    const Onnx__GraphProto *g = m->graph;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        assert_int_equal(t->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        assert_true(t->n_dims == 1 || t->n_dims == 2);
        int rows = t->n_dims == 2 ? (int)t->dims[0] : 0;
        int cols = (int)t->dims[t->n_dims - 1];
        assert_int_equal(t->n_float_data, (size_t)(rows ? rows : 1) * (size_t)cols);
        tensor *x = add(&e, t->name, rows, cols);
        for (size_t k = 0; k < t->n_float_data; k++) x->v[k] = t->float_data[k];
    }
    tensor *in = add(&e, ONNX_INPUT_NAME, ROWS, n_in);
    for (int i = 0; i < ROWS * n_in; i++) in->v[i] = X[i];
    for (size_t i = 0; i < g->n_node; i++) run_node(&e, g->node[i]);
    tensor *y = find(&e, g->output[0]->name);
    assert_int_equal(y->rows, ROWS);
    assert_int_equal(y->cols, n_out);
    memcpy(out, y->v, (size_t)ROWS * (size_t)n_out * sizeof *out);
    for (int i = 0; i < e.n; i++) free(e.t[i].v);
}

static const char *meta(const Onnx__ModelProto *m, const char *key)
{
    for (size_t i = 0; i < m->n_metadata_props; i++)
        if (strcmp(m->metadata_props[i]->key, key) == 0) return m->metadata_props[i]->value;
    return NULL;
}

/* Exports bundle b, checks the model's frame and evaluates it against want (ROWS × n_out). */
static Onnx__ModelProto *export_check(const model_bundle *b, const float *want)
{
    const net_spec *sp = net_get_spec(b->net);
    onnx_export_info info = {.model = "m\"x", .version = 3, .run_id = "run_7"};
    void *buf = NULL;
    size_t len = 0;
    mlp_error err;
    mlp_error_clear(&err);
    assert_int_equal(onnx_export(b, &info, &buf, &len, &err), MLP_OK);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(m);
    assert_int_equal(m->ir_version, ONNX_IR_VERSION);
    assert_int_equal(m->n_opset_import, 1);
    assert_string_equal(m->opset_import[0]->domain, "");
    assert_int_equal(m->opset_import[0]->version, 17);
    const Onnx__GraphProto *g = m->graph;
    assert_int_equal(g->n_input, 1);
    assert_string_equal(g->input[0]->name, "input");
    assert_int_equal(g->n_output, 1);
    assert_string_equal(g->output[0]->name, onnx_output_name(sp->task));
    const Onnx__TensorShapeProto *sh = g->input[0]->type->tensor_type->shape;
    assert_int_equal(sh->n_dim, 2);
    assert_string_equal(sh->dim[0]->dim_param, "N");
    assert_int_equal(sh->dim[1]->dim_value, sp->n_in);
    assert_string_equal(meta(m, ONNX_META_TASK), task_name(sp->task));
    assert_string_equal(meta(m, ONNX_META_FEATURES), "[\"f0\",\"f1\",\"f2\",\"f3\"]");
    assert_string_equal(meta(m, ONNX_META_LABELS), sp->task == TASK_CLASSIFICATION && sp->n_out == 3
                                                       ? "[\"cat\",\"dog\",\"emu\"]"
                                                       : "[]");
    assert_string_equal(meta(m, ONNX_META_RUN_ID), "run_7");
    assert_string_equal(meta(m, ONNX_META_MODEL), "m\"x");
    assert_string_equal(meta(m, ONNX_META_VERSION), "3");
    for (size_t i = 0; i < g->n_node; i++)
        assert_string_not_equal(g->node[i]->op_type, "BatchNormalization");

    float X[ROWS * 4];
    inputs(X);
    double got[ROWS * 4];
    evaluate(m, X, sp->n_in, got, sp->n_out);
    for (int i = 0; i < ROWS * sp->n_out; i++) {
        double tol = 1e-5 * fmax(fabs(want[i]), 1e-3);
        if (fabs(got[i] - want[i]) > tol)
            fail_msg("%s act %s head %s: value %d: graph %.9g, net_predict %.9g",
                     task_name(sp->task), act_name(sp->act), act_name(sp->out_act), i, got[i],
                     (double)want[i]);
    }
    return m;
}

/* One network: the graph against net_predict. */
static void check_net(net *n)
{
    const net_spec *sp = net_get_spec(n);
    float X[ROWS * 4], want[ROWS * 4];
    inputs(X);
    float *s = malloc(net_scratch_floats(n, ROWS) * sizeof *s);
    assert_non_null(s);
    assert_int_equal(net_predict(n, X, ROWS, want, s), MLP_OK);
    free(s);
    model_bundle b;
    memset(&b, 0, sizeof b);
    b.net = n;
    b.n_features = 4;
    b.features = features;
    b.n_labels = sp->task == TASK_CLASSIFICATION && sp->n_out == 3 ? 3 : 0;
    b.labels = labels;
    Onnx__ModelProto *m = export_check(&b, want);
    /* Gemm per layer, and the head last: its output is the graph's. */
    int gemms = 0;
    for (size_t i = 0; i < m->graph->n_node; i++)
        gemms += !strcmp(m->graph->node[i]->op_type, "Gemm");
    assert_int_equal(gemms, sp->n_hidden + 1);
    const Onnx__NodeProto *last = m->graph->node[m->graph->n_node - 1];
    if (sp->out_act == ACT_SOFTMAX) assert_string_equal(last->op_type, "Softmax");
    if (sp->out_act == ACT_SIGMOID && sp->task == TASK_CLASSIFICATION)
        assert_string_equal(last->op_type, "Sigmoid");
    onnx__model_proto__free_unpacked(m, NULL);
}

static const act_kind hidden_acts[] = {ACT_LINEAR,     ACT_SIGMOID, ACT_TANH,     ACT_RELU,
                                       ACT_LEAKY_RELU, ACT_ELU,     ACT_SOFTPLUS, ACT_SWISH,
                                       ACT_MISH,       ACT_SOFTSIGN};
#define N_ACTS (sizeof hidden_acts / sizeof hidden_acts[0])

/* Every hidden activation under each task's usual head. */
static void every_activation_every_task(void **state)
{
    (void)state;
    for (size_t a = 0; a < N_ACTS; a++) {
        struct {
            net_task t;
            act_kind head;
        } cases[] = {{TASK_CLASSIFICATION, ACT_SOFTMAX},
                     {TASK_CLASSIFICATION, ACT_SIGMOID},
                     {TASK_REGRESSION, ACT_LINEAR},
                     {TASK_AUTOENCODER, ACT_LINEAR}};
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            net *n = make_net(cases[c].t, hidden_acts[a], cases[c].head, (unsigned)(a + c));
            check_net(n);
            net_free(n);
        }
    }
}

/* Every activation as the head of a regressor whose outputs are standardised: the
 * de-standardisation then follows the activation (Mul, Add). */
static void every_head_with_output_standardisation(void **state)
{
    (void)state;
    for (size_t a = 0; a < N_ACTS; a++) {
        net *n = make_net(TASK_REGRESSION, ACT_TANH, hidden_acts[a], (unsigned)a);
        check_net(n);
        net_free(n);
        n = make_net(TASK_AUTOENCODER, ACT_RELU, hidden_acts[a], (unsigned)a + 3);
        check_net(n);
        net_free(n);
    }
}

/* No hidden layer: one Gemm carries both standardisations (linear and logistic regression,
 * softmax regression). */
static void one_layer_folds_both(void **state)
{
    (void)state;
    net *n = make_net_depth(TASK_REGRESSION, ACT_RELU, ACT_LINEAR, 2, 1);
    check_net(n);
    net_free(n);
    n = make_net_depth(TASK_CLASSIFICATION, ACT_RELU, ACT_SOFTMAX, 3, 1);
    check_net(n);
    net_free(n);
    n = make_net_depth(TASK_CLASSIFICATION, ACT_RELU, ACT_SIGMOID, 4, 1);
    check_net(n);
    net_free(n);
}

/* An ensemble: its members' layers under prefixes and a Mean, equal to the mean of their
 * predictions. */
static void ensemble_is_the_mean(void **state)
{
    (void)state;
    net *nets[3];
    float X[ROWS * 4], want[ROWS * 3] = {0}, one[ROWS * 3];
    inputs(X);
    for (int k = 0; k < 3; k++) {
        nets[k] = make_net(TASK_CLASSIFICATION, k == 1 ? ACT_MISH : ACT_RELU, ACT_SOFTMAX,
                           (unsigned)k * 4 + 1);
        float *s = malloc(net_scratch_floats(nets[k], ROWS) * sizeof *s);
        assert_non_null(s);
        assert_int_equal(net_predict(nets[k], X, ROWS, one, s), MLP_OK);
        free(s);
        for (int i = 0; i < ROWS * 3; i++) want[i] += one[i] / 3.0f;
    }
    model_bundle b;
    memset(&b, 0, sizeof b);
    b.net = nets[0];
    b.n_members = 3;
    b.members = nets;
    b.n_features = 4;
    b.features = features;
    b.n_labels = 3;
    b.labels = labels;
    Onnx__ModelProto *m = export_check(&b, want);
    const Onnx__NodeProto *last = m->graph->node[m->graph->n_node - 1];
    assert_string_equal(last->op_type, "Mean");
    assert_int_equal(last->n_input, 3);
    assert_string_equal(meta(m, ONNX_META_MEMBERS), "3");
    int gemms = 0;
    for (size_t i = 0; i < m->graph->n_node; i++)
        gemms += !strcmp(m->graph->node[i]->op_type, "Gemm");
    assert_int_equal(gemms, 9);
    onnx__model_proto__free_unpacked(m, NULL);
    for (int k = 0; k < 3; k++) net_free(nets[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_activation_every_task),
        cmocka_unit_test(every_head_with_output_standardisation),
        cmocka_unit_test(one_layer_folds_both),
        cmocka_unit_test(ensemble_is_the_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
