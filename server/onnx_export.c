/* onnx_export.c — writes a published model as an ONNX ModelProto (see onnx_export.h). The graph
 * is built as protobuf-c structs (generated from Debian's onnx.proto, build/gen/onnx.pb-c.h) whose
 * every allocation is recorded in one list, freed after onnx__model_proto__pack has written the
 * bytes; nothing here encodes protobuf by hand. */
#include "onnx_export.h"

#include "onnx.h"
#include "onnx.pb-c.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable array of pointers. */
typedef struct {
    void **v;
    size_t n, cap;
} pvec;

/* The graph being built: every block it allocates (mem), its nodes and initializers in order,
 * and a sticky out-of-memory flag checked once at the end. */
typedef struct {
    pvec mem;   /* blocks to free() */
    pvec nodes; /* Onnx__NodeProto *, in execution order */
    pvec inits; /* Onnx__TensorProto * */
    int oom;
} gb;

static int pvec_push(pvec *p, void *x)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        void **v = realloc(p->v, cap * sizeof *v);
        if (!v) return -1;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = x;
    return 0;
}

/* Records p (an allocation) so that gb_free frees it; frees it at once and sets oom on failure. */
static void *gb_keep(gb *g, void *p)
{
    if (!p) {
        g->oom = 1;
        return NULL;
    }
    if (pvec_push(&g->mem, p)) {
        free(p);
        g->oom = 1;
        return NULL;
    }
    return p;
}

static void *gb_calloc(gb *g, size_t n, size_t size)
{
    return gb_keep(g, calloc(n ? n : 1, size));
}

static char *gb_fmt(gb *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *gb_fmt(gb *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return gb_keep(g, s);
}

static void gb_free(gb *g)
{
    for (size_t i = 0; i < g->mem.n; i++) free(g->mem.v[i]);
    free(g->mem.v);
    free(g->nodes.v);
    free(g->inits.v);
}

/* Appends a node op_type(in[0..n_in)) -> out; returns it (NULL once oom). Names are copied. */
static Onnx__NodeProto *gb_node(gb *g, const char *op_type, const char *const *in, int n_in,
                                const char *out)
{
    if (g->oom) return NULL;
    Onnx__NodeProto *nd = gb_calloc(g, 1, sizeof *nd);
    char **ins = gb_calloc(g, (size_t)n_in, sizeof *ins);
    char **outs = gb_calloc(g, 1, sizeof *outs);
    if (!nd || !ins || !outs) return NULL;
    onnx__node_proto__init(nd);
    for (int i = 0; i < n_in; i++) ins[i] = gb_fmt(g, "%s", in[i]);
    outs[0] = gb_fmt(g, "%s", out);
    nd->n_input = (size_t)n_in;
    nd->input = ins;
    nd->n_output = 1;
    nd->output = outs;
    nd->op_type = gb_fmt(g, "%s", op_type);
    nd->name = gb_fmt(g, "%s_%s", out, op_type);
    if (pvec_push(&g->nodes, nd)) g->oom = 1;
    return g->oom ? NULL : nd;
}

/* Adds attribute name to node nd: an INT when is_int, else a FLOAT. */
static void gb_attr(gb *g, Onnx__NodeProto *nd, const char *name, int is_int, double value)
{
    if (!nd || g->oom) return;
    Onnx__AttributeProto *a = gb_calloc(g, 1, sizeof *a);
    Onnx__AttributeProto **v = gb_calloc(g, nd->n_attribute + 1, sizeof *v);
    if (!a || !v) return;
    onnx__attribute_proto__init(a);
    a->name = gb_fmt(g, "%s", name);
    a->has_type = 1;
    if (is_int) {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = (int64_t)value;
    } else {
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        a->has_f = 1;
        a->f = (float)value;
    }
    if (nd->n_attribute) memcpy(v, nd->attribute, nd->n_attribute * sizeof *v);
    v[nd->n_attribute++] = a;
    nd->attribute = v;
}

/* Adds a FLOAT initializer of shape [d0] (d1 == 0) or [d0, d1]; takes data (a gb block). */
static void gb_init(gb *g, const char *name, int d0, int d1, float *data)
{
    if (g->oom) return;
    Onnx__TensorProto *t = gb_calloc(g, 1, sizeof *t);
    int64_t *dims = gb_calloc(g, 2, sizeof *dims);
    if (!t || !dims || !data) return;
    onnx__tensor_proto__init(t);
    dims[0] = d0;
    dims[1] = d1;
    t->n_dims = d1 ? 2 : 1;
    t->dims = dims;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->n_float_data = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t->float_data = data;
    t->name = gb_fmt(g, "%s", name);
    if (pvec_push(&g->inits, t)) g->oom = 1;
}

/* Appends the unary node op(x) -> out; returns out. */
static const char *unary(gb *g, const char *op, const char *x, const char *out)
{
    gb_node(g, op, &x, 1, out);
    return out;
}

/* Appends activation a of z (tensor name) and returns the activated tensor's name (z itself for
 * linear). pfx names the layer ("m0_l1"). */
static const char *emit_act(gb *g, act_kind a, const char *z, const char *pfx)
{
    const char *t, *in2[2];
    Onnx__NodeProto *nd;
    switch (a) {
    case ACT_LINEAR:
        return z;
    case ACT_SIGMOID:
        return unary(g, "Sigmoid", z, gb_fmt(g, "%s_a", pfx));
    case ACT_TANH:
        return unary(g, "Tanh", z, gb_fmt(g, "%s_a", pfx));
    case ACT_RELU:
        return unary(g, "Relu", z, gb_fmt(g, "%s_a", pfx));
    case ACT_SOFTPLUS:
        return unary(g, "Softplus", z, gb_fmt(g, "%s_a", pfx));
    case ACT_SOFTSIGN:
        return unary(g, "Softsign", z, gb_fmt(g, "%s_a", pfx));
    case ACT_LEAKY_RELU: /* max(0.1 z, z), as core/act.c */
        t = gb_fmt(g, "%s_a", pfx);
        gb_attr(g, gb_node(g, "LeakyRelu", &z, 1, t), "alpha", 0, 0.1);
        return t;
    case ACT_ELU:
        t = gb_fmt(g, "%s_a", pfx);
        gb_attr(g, gb_node(g, "Elu", &z, 1, t), "alpha", 0, 1.0);
        return t;
    case ACT_SWISH: /* z · sigmoid(z): no Swish op before opset 24 */
        in2[0] = z;
        in2[1] = unary(g, "Sigmoid", z, gb_fmt(g, "%s_sig", pfx));
        t = gb_fmt(g, "%s_a", pfx);
        gb_node(g, "Mul", in2, 2, t);
        return t;
    case ACT_MISH: /* z · tanh(softplus(z)): Mish is opset 18 */
        in2[0] = z;
        in2[1] = unary(g, "Tanh", unary(g, "Softplus", z, gb_fmt(g, "%s_sp", pfx)),
                       gb_fmt(g, "%s_tsp", pfx));
        t = gb_fmt(g, "%s_a", pfx);
        gb_node(g, "Mul", in2, 2, t);
        return t;
    case ACT_SOFTMAX: /* over the classes of each row */
        t = gb_fmt(g, "%s_a", pfx);
        nd = gb_node(g, "Softmax", &z, 1, t);
        gb_attr(g, nd, "axis", 1, 1);
        return t;
    case ACT_COUNT:
        break;
    }
    return NULL;
}

/* 1 when y = y'·scale + mean is the identity (every mean 0, every scale 1). */
static int identity_destd(const float *mean, const float *scale, int k)
{
    for (int j = 0; j < k; j++)
        if (mean[j] != 0.0f || scale[j] != 1.0f) return 0;
    return 1;
}

/* Appends network n reading tensor x, with tensor names prefixed by pfx; returns the name of
 * the tensor holding its output in raw units (what net_predict returns). */
static const char *emit_net(gb *g, const net *n, const char *pfx, const char *x)
{
    const net_spec *sp = net_get_spec(n);
    const int last = sp->n_hidden;
    const float *xm = net_x_mean_const(n), *xs = net_x_scale_const(n);
    const float *ym = net_y_mean_const(n), *ys = net_y_scale_const(n);
    const int destd = sp->task != TASK_CLASSIFICATION && !identity_destd(ym, ys, sp->n_out);
    /* The output standardisation goes into the last Gemm when nothing follows it. */
    const int fold_y = destd && sp->out_act == ACT_LINEAR;
    const char *cur = x;
    for (int l = 0; l <= last && !g->oom; l++) {
        const float *W, *b;
        int out, in;
        net_layer(n, l, &W, &b, &out, &in);
        float *wf = gb_calloc(g, (size_t)out * (size_t)in, sizeof *wf);
        float *bf = gb_calloc(g, (size_t)out, sizeof *bf);
        if (!wf || !bf) break;
        for (int i = 0; i < out; i++) {
            /* Layer 0: W·(x - m)/s + b = (W/s)·x + (b - W·(m/s)). Last, linear head:
             * (W·a + b)·ys + ym = (ys W)·a + (ys b + ym). */
            const float *w = W + (size_t)i * (size_t)in;
            double bias = b[i];
            double oscale = l == last && fold_y ? ys[i] : 1.0;
            for (int j = 0; j < in; j++) {
                double wj = w[j];
                if (l == 0) {
                    bias -= wj * ((double)xm[j] / (double)xs[j]);
                    wj /= (double)xs[j];
                }
                wf[(size_t)i * (size_t)in + (size_t)j] = (float)(wj * oscale);
            }
            bf[i] = (float)(l == last && fold_y ? bias * oscale + ym[i] : bias);
        }
        const char *wn = gb_fmt(g, "%sl%d_W", pfx, l), *bn = gb_fmt(g, "%sl%d_b", pfx, l);
        const char *zn = gb_fmt(g, "%sl%d_z", pfx, l), *lp = gb_fmt(g, "%sl%d", pfx, l);
        if (g->oom) break;
        gb_init(g, wn, out, in, wf);
        gb_init(g, bn, out, 0, bf);
        /* Z = X·Wᵀ + b, W out × in as mlpd stores it */
        const char *gin[3] = {cur, wn, bn};
        gb_attr(g, gb_node(g, "Gemm", gin, 3, zn), "transB", 1, 1);
        cur = emit_act(g, l < last ? sp->act : sp->out_act, zn, lp);
    }
    if (destd && !fold_y && !g->oom) { /* y = a·ys + ym after a non-linear head */
        float *s = gb_calloc(g, (size_t)sp->n_out, sizeof *s);
        float *m = gb_calloc(g, (size_t)sp->n_out, sizeof *m);
        const char *sn = gb_fmt(g, "%sy_scale", pfx), *mn = gb_fmt(g, "%sy_mean", pfx);
        const char *t1 = gb_fmt(g, "%sy_scaled", pfx), *t2 = gb_fmt(g, "%sy", pfx);
        if (g->oom) return NULL;
        memcpy(s, ys, (size_t)sp->n_out * sizeof *s);
        memcpy(m, ym, (size_t)sp->n_out * sizeof *m);
        gb_init(g, sn, sp->n_out, 0, s);
        gb_init(g, mn, sp->n_out, 0, m);
        const char *mul[2] = {cur, sn}, *add[2] = {t1, mn};
        gb_node(g, "Mul", mul, 2, t1);
        gb_node(g, "Add", add, 2, t2);
        cur = t2;
    }
    return g->oom ? NULL : cur;
}

/* A JSON array of the n strings s (JSON escapes for '"', '\\' and control bytes). */
static char *json_strs(gb *g, char *const *s, int n)
{
    size_t cap = 3;
    for (int i = 0; i < n; i++) cap += 3 + 6 * strlen(s[i]);
    char *o = gb_calloc(g, cap, 1), *p = o;
    if (!o) return NULL;
    *p++ = '[';
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ',';
        *p++ = '"';
        for (const unsigned char *c = (const unsigned char *)s[i]; *c; c++) {
            if (*c == '"' || *c == '\\') {
                *p++ = '\\';
                *p++ = (char)*c;
            } else if (*c < 0x20) {
                p += sprintf(p, "\\u%04x", *c);
            } else {
                *p++ = (char)*c;
            }
        }
        *p++ = '"';
    }
    *p++ = ']';
    *p = '\0';
    return o;
}

/* The graph's input or output value info: FLOAT [N, width]. */
static Onnx__ValueInfoProto *value_info(gb *g, const char *name, int width)
{
    Onnx__ValueInfoProto *vi = gb_calloc(g, 1, sizeof *vi);
    Onnx__TypeProto *tp = gb_calloc(g, 1, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = gb_calloc(g, 1, sizeof *tt);
    Onnx__TensorShapeProto *sh = gb_calloc(g, 1, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = gb_calloc(g, 2, sizeof *dims);
    Onnx__TensorShapeProto__Dimension *d0 = gb_calloc(g, 1, sizeof *d0);
    Onnx__TensorShapeProto__Dimension *d1 = gb_calloc(g, 1, sizeof *d1);
    if (g->oom) return NULL;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    onnx__tensor_shape_proto__dimension__init(d0);
    onnx__tensor_shape_proto__dimension__init(d1);
    d0->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    d0->dim_param = gb_fmt(g, "%s", ONNX_BATCH_DIM);
    d1->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    d1->dim_value = width;
    dims[0] = d0;
    dims[1] = d1;
    sh->n_dim = 2;
    sh->dim = dims;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = gb_fmt(g, "%s", name);
    vi->type = tp;
    return vi;
}

/* One metadata_props entry; value is copied. */
static Onnx__StringStringEntryProto *meta(gb *g, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = gb_calloc(g, 1, sizeof *e);
    if (!e || !value) return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = gb_fmt(g, "%s", key);
    e->value = gb_fmt(g, "%s", value);
    return e;
}

mlp_err onnx_export(const model_bundle *b, const onnx_export_info *info, void **buf, size_t *len,
                    mlp_error *err)
{
    assert(b && b->net && info && info->model && buf && len);
    *buf = NULL;
    *len = 0;
    gb g;
    memset(&g, 0, sizeof g);
    mlp_err rc = MLP_OK;
    const net_spec *sp = net_get_spec(b->net);
    const char *out_name = onnx_output_name(sp->task);
    const int k = b->n_members ? b->n_members : 1;
    net *const *nets = b->n_members ? b->members : &b->net;

    /* The layers: one network, or each member then their Mean. */
    const char **outs = gb_calloc(&g, (size_t)k, sizeof *outs);
    for (int i = 0; i < k && !g.oom; i++) {
        const char *pfx = b->n_members ? gb_fmt(&g, "m%d_", i) : "";
        if (pfx) outs[i] = emit_net(&g, nets[i], pfx, ONNX_INPUT_NAME);
    }
    if (!g.oom && b->n_members) gb_node(&g, "Mean", outs, k, out_name);
    if (g.oom) goto oom;
    /* The producer of the last tensor is the last node: it writes the graph's output. */
    Onnx__NodeProto *tail = g.nodes.v[g.nodes.n - 1];
    tail->output[0] = gb_fmt(&g, "%s", out_name);

    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = gb_fmt(&g, "%s_v%d", info->model, info->version);
    graph.n_node = g.nodes.n;
    graph.node = (Onnx__NodeProto **)g.nodes.v;
    graph.n_initializer = g.inits.n;
    graph.initializer = (Onnx__TensorProto **)g.inits.v;
    Onnx__ValueInfoProto *gin = value_info(&g, ONNX_INPUT_NAME, sp->n_in);
    Onnx__ValueInfoProto *gout = value_info(&g, out_name, sp->n_out);
    graph.n_input = 1;
    graph.input = &gin;
    graph.n_output = 1;
    graph.output = &gout;

    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[1] = {&opset};
    opset.domain = "";
    opset.has_version = 1;
    opset.version = ONNX_OPSET;

    Onnx__StringStringEntryProto *props[7];
    size_t n_props = 0;
    props[n_props++] = meta(&g, ONNX_META_TASK, task_name(sp->task));
    props[n_props++] = meta(&g, ONNX_META_FEATURES, json_strs(&g, b->features, b->n_features));
    props[n_props++] = meta(&g, ONNX_META_LABELS, json_strs(&g, b->labels, b->n_labels));
    props[n_props++] = meta(&g, ONNX_META_RUN_ID, info->run_id ? info->run_id : "");
    props[n_props++] = meta(&g, ONNX_META_MODEL, info->model);
    props[n_props++] = meta(&g, ONNX_META_VERSION, gb_fmt(&g, "%d", info->version));
    if (b->n_members) props[n_props++] = meta(&g, ONNX_META_MEMBERS, gb_fmt(&g, "%d", k));
    if (g.oom) goto oom;

    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = ONNX_PRODUCER;
    model.has_model_version = 1;
    model.model_version = info->version;
    model.doc_string = gb_fmt(&g, "mlpd model %s version %d (%s)", info->model, info->version,
                              task_name(sp->task));
    model.graph = &graph;
    model.n_metadata_props = n_props;
    model.metadata_props = props;
    if (g.oom) goto oom;

    size_t n = onnx__model_proto__get_packed_size(&model);
    uint8_t *bytes = malloc(n ? n : 1);
    if (!bytes) goto oom;
    if (onnx__model_proto__pack(&model, bytes) != n) {
        free(bytes);
        rc = mlp_fail(err, MLP_EIO, "the ONNX encoder wrote a different size than it planned");
        goto out;
    }
    *buf = bytes;
    *len = n;
    goto out;
oom:
    rc = mlp_fail(err, MLP_ENOMEM, "out of memory while building the ONNX graph");
out:
    gb_free(&g);
    return rc;
}
