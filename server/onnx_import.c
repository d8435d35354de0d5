/* onnx_import.c — ONNX ModelProto -> net (the contract and the accepted ops: onnx_import.h).
 *
 * Parsing: protobuf-c unpacks the message with an allocator that counts bytes against a budget
 * (a few times the file's size), so a small file of many empty repeated messages cannot make it
 * allocate without bound; then counts, names, dims and metadata are checked against
 * server/onnx.h's limits before anything is derived from them.
 *
 * The walk: every value name of the graph is either a constant (an initializer, a Constant
 * node, or Identity of either) or a chain value: a position on the one chain from the input,
 * possibly with a pending element-wise function of it (Sigmoid, Softplus, Tanh of Softplus, Abs,
 * Abs + 1) that is either completed into an mlpd activation by the node that consumes it (the
 * swish, mish and softsign decompositions) or committed as an activation of its own (Sigmoid,
 * Softplus). A node may only consume the current position: consuming an older one means the
 * graph branches, which an MLP does not. Affine steps with constants (Sub, Add, Mul, Div and
 * inference BatchNormalization as Sub, Mul, Add) pile up as `pending` and are applied when the
 * chain moves on: to the rows of the dense layer they follow (before its activation), to the
 * columns of the next dense layer (after an activation), to the input standardisation (before
 * the first layer) or to the output standardisation (at the end). Each application replays the
 * steps in the file's order in float, so Sub then Div of the input gives mlpd's x_mean and
 * x_scale exactly, and Mul then Add at the end its y_scale and y_mean. */
#include "onnx_import.h"

#include "le.h"
#include "onnx.h"
#include "onnx_export.h"
#include "onnx.pb-c.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WIDTH   65536 /* a layer's width, as net_spec allows */
#define MAX_PENDING 64    /* affine steps waiting on one chain position */
#define MAX_ELEMS   (1u << 28)

static const char SUPPORTED[] =
    "Gemm, MatMul+Add, Relu, LeakyRelu (alpha 0.1), Elu (alpha 1), Sigmoid, Tanh, Softplus, "
    "Softsign, Softmax, LogSoftmax, Identity, Flatten, BatchNormalization, Sub/Div/Mul/Add with a "
    "constant, Dropout, Constant; swish as x*Sigmoid(x), mish as x*Tanh(Softplus(x))";

typedef enum { F_ID = 0, F_SIGMOID, F_SOFTPLUS, F_TANH_SOFTPLUS, F_ABS, F_ABS1 } vfn;

typedef struct {
    const char *name; /* borrowed from the message */
    int is_const;
    const float *f; /* constant: n floats (borrowed from the message or the arena); NULL for a
                       constant of another type, refused where a number is needed */
    size_t n;
    const Onnx__TensorProto *t; /* constant: its tensor, NULL for a value_float */
    int ndims;
    int64_t dims[ONNX_MAX_DIMS];
    int pos;  /* chain value: the position it is a function of */
    vfn fn;   /* chain value: that function */
    int node; /* the producing node, -1 for the graph input and initializers */
} val;

typedef enum { A_SUB, A_ADD, A_MUL, A_DIV } affop;

typedef struct {
    affop op;
    const float *k; /* 1 (broadcast) or width values, borrowed */
    size_t n;
    int node;
} affstep;

typedef struct {
    int out, in;
    float *W, *b; /* out × in and out, arena */
    int has_act;
    act_kind act;
    int act_node; /* the node that set act */
} layer;

typedef struct {
    size_t used, budget;
} budget_alloc;

struct onnx_import {
    Onnx__ModelProto *m;
    budget_alloc ba;
    ProtobufCAllocator alloc;
    void **arena; /* every array derived from the message */
    size_t n_arena, cap_arena;
    val *vals;
    size_t n_vals, cap_vals;
    layer L[NET_MAX_HIDDEN + 1];
    int nl;
    affstep pend[MAX_PENDING];
    int npend;
    int pos; /* current chain position */
    size_t params;
    size_t max_params;
    float *x_mean, *x_scale, *y_scale, *y_mean; /* arena; NULL = identity */
    int opset;
    net_task task;
    const char *out_name;
    /* The network before the folds, rebuilt from the "mlpd.exact" metadata and checked against
     * the graph (exact_recover); exact is 0 when there is none or the check failed. */
    int exact;
    float *ex_w0, *ex_b0; /* the first layer (arena) */
    float *ex_wl, *ex_bl; /* the last layer when it carries the output fold and is not the first */
    float *ex_xm, *ex_xs; /* input standardisation */
    float *ex_ym, *ex_ys; /* output standardisation, NULL when the last layer is not folded */
};

/* ---- allocation ---------------------------------------------------------------------------- */

typedef union {
    size_t n;
    max_align_t a;
} hdr;

static void *ba_alloc(void *data, size_t size)
{
    budget_alloc *b = data;
    if (size > b->budget - b->used || size > SIZE_MAX - sizeof(hdr)) return NULL;
    hdr *h = malloc(sizeof *h + size);
    if (!h) return NULL;
    h->n = size;
    b->used += size;
    return h + 1;
}

static void ba_free(void *data, void *p)
{
    if (!p) return;
    budget_alloc *b = data;
    hdr *h = (hdr *)p - 1;
    b->used -= h->n;
    free(h);
}

static void *arena_alloc(onnx_import *im, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    if (im->n_arena == im->cap_arena) {
        size_t c = im->cap_arena ? 2 * im->cap_arena : 32;
        void **a = realloc(im->arena, c * sizeof *a);
        if (!a) return NULL;
        im->arena = a;
        im->cap_arena = c;
    }
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p) im->arena[im->n_arena++] = p;
    return p;
}

/* ---- errors -------------------------------------------------------------------------------- */

static const char *node_label(const onnx_import *im, int i, char *buf, size_t cap)
{
    const Onnx__NodeProto *nd = im->m->graph->node[i];
    if (nd->name && *nd->name)
        snprintf(buf, cap, "'%s'", nd->name);
    else
        snprintf(buf, cap, "#%d", i);
    return buf;
}

__attribute__((format(printf, 4, 5))) static mlp_err
node_fail(const onnx_import *im, mlp_error *err, int i, const char *fmt, ...)
{
    char what[400], lab[ONNX_MAX_NAME + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const Onnx__NodeProto *nd = im->m->graph->node[i];
    mlp_fail(err, MLP_EINVAL, "node %s (op %s): %s", node_label(im, i, lab, sizeof lab),
             nd->op_type ? nd->op_type : "", what);
    if (err) snprintf(err->field, sizeof err->field, "onnx.node");
    return MLP_EINVAL;
}

static mlp_err unsupported(const onnx_import *im, mlp_error *err, int i, const char *why)
{
    return node_fail(im, err, i, "%s; mlpd imports: %s", why, SUPPORTED);
}

__attribute__((format(printf, 3, 4))) static mlp_err file_fail(mlp_error *err, mlp_err code,
                                                               const char *fmt, ...)
{
    char what[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    mlp_fail(err, code, "%s", what);
    if (err) snprintf(err->field, sizeof err->field, "onnx");
    return code;
}

/* ---- checks on the message ----------------------------------------------------------------- */

/* A name of the message: protobuf-c leaves an absent string NULL. */
static const char *str(const char *s)
{
    return s ? s : "";
}

static int name_ok(const char *s)
{
    return !s || strnlen(s, ONNX_MAX_NAME + 1) <= ONNX_MAX_NAME;
}

static mlp_err check_tensor_shape(const Onnx__TensorProto *t, mlp_error *err)
{
    if (t->n_dims > ONNX_MAX_DIMS)
        return file_fail(err, MLP_EINVAL, "tensor '%s' has %zu dims; at most %d", str(t->name),
                         t->n_dims, ONNX_MAX_DIMS);
    if (!name_ok(t->name))
        return file_fail(err, MLP_EINVAL, "a tensor name is longer than %d bytes", ONNX_MAX_NAME);
    return MLP_OK;
}

/* Bounds of server/onnx.h on counts, names, dims and metadata. */
static mlp_err check_bounds(const Onnx__ModelProto *m, mlp_error *err)
{
    const Onnx__GraphProto *g = m->graph;
    if (!g) return file_fail(err, MLP_EINVAL, "the model has no graph");
    if (g->n_node > ONNX_MAX_NODES)
        return file_fail(err, MLP_EINVAL, "the graph has %zu nodes; at most %d", g->n_node,
                         ONNX_MAX_NODES);
    if (g->n_initializer > ONNX_MAX_INITIALIZERS)
        return file_fail(err, MLP_EINVAL, "the graph has %zu initializers; at most %d",
                         g->n_initializer, ONNX_MAX_INITIALIZERS);
    if (g->n_input > ONNX_MAX_INITIALIZERS + 1 || g->n_output > ONNX_MAX_NODES)
        return file_fail(err, MLP_EINVAL, "the graph has too many inputs or outputs");
    if (g->n_sparse_initializer)
        return file_fail(err, MLP_EINVAL, "sparse initializers are not supported");
    if (m->n_metadata_props > ONNX_MAX_META)
        return file_fail(err, MLP_EINVAL, "%zu metadata_props; at most %d", m->n_metadata_props,
                         ONNX_MAX_META);
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        if (!name_ok(e->key) || !e->value || strlen(e->value) > ONNX_MAX_META_VALUE)
            return file_fail(err, MLP_EINVAL, "metadata_props[%zu] is longer than allowed", i);
    }
    for (size_t i = 0; i < g->n_initializer; i++) {
        mlp_err rc = check_tensor_shape(g->initializer[i], err);
        if (rc) return rc;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        if (!name_ok(nd->name) || !name_ok(nd->op_type) || !name_ok(nd->domain))
            return file_fail(err, MLP_EINVAL, "node #%zu has a name longer than %d bytes", i,
                             ONNX_MAX_NAME);
        if (nd->n_input > 8 || nd->n_output > 8 || nd->n_attribute > 16)
            return file_fail(err, MLP_EINVAL,
                             "node #%zu has too many inputs, outputs or attributes", i);
        for (size_t k = 0; k < nd->n_input; k++)
            if (!name_ok(nd->input[k]))
                return file_fail(err, MLP_EINVAL, "node #%zu: an input name is too long", i);
        for (size_t k = 0; k < nd->n_output; k++)
            if (!name_ok(nd->output[k]))
                return file_fail(err, MLP_EINVAL, "node #%zu: an output name is too long", i);
        for (size_t k = 0; k < nd->n_attribute; k++) {
            const Onnx__AttributeProto *a = nd->attribute[k];
            if (!name_ok(a->name))
                return file_fail(err, MLP_EINVAL, "node #%zu: an attribute name is too long", i);
            if (a->t) {
                mlp_err rc = check_tensor_shape(a->t, err);
                if (rc) return rc;
            }
        }
    }
    for (size_t i = 0; i < g->n_input; i++)
        if (!name_ok(g->input[i]->name))
            return file_fail(err, MLP_EINVAL, "an input name is too long");
    for (size_t i = 0; i < g->n_output; i++)
        if (!name_ok(g->output[i]->name))
            return file_fail(err, MLP_EINVAL, "an output name is too long");
    return MLP_OK;
}

/* ---- values -------------------------------------------------------------------------------- */

static val *find(onnx_import *im, const char *name)
{
    name = str(name);
    for (size_t i = im->n_vals; i-- > 0;)
        if (strcmp(im->vals[i].name, name) == 0) return &im->vals[i];
    return NULL;
}

static val *add_val(onnx_import *im, const char *name)
{
    if (im->n_vals == im->cap_vals) {
        size_t c = im->cap_vals ? 2 * im->cap_vals : 64;
        val *v = realloc(im->vals, c * sizeof *v);
        if (!v) return NULL;
        im->vals = v;
        im->cap_vals = c;
    }
    val *v = &im->vals[im->n_vals++];
    memset(v, 0, sizeof *v);
    v->name = str(name);
    v->node = -1;
    return v;
}

/* A constant value from tensor t: float32 only, n elements from the dims, data inline. */
static mlp_err tensor_val(onnx_import *im, const Onnx__TensorProto *t, const char *name, int node,
                          mlp_error *err)
{
    name = str(name);
    if (t->has_data_type && t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        val *v = add_val(im, name); /* a bool or integer: only Dropout's flag reads it */
        if (!v) return MLP_ENOMEM;
        v->is_const = 1;
        v->t = t;
        v->node = node;
        return MLP_OK;
    }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return file_fail(err, MLP_EINVAL,
                         "tensor '%s' keeps its data in an external file; save the model with "
                         "its weights inside",
                         name);
    if (t->segment) return file_fail(err, MLP_EINVAL, "tensor '%s' is segmented", name);
    size_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > (int64_t)MAX_ELEMS ||
            (size_t)t->dims[d] > MAX_ELEMS / (n ? n : 1))
            return file_fail(err, MLP_EINVAL, "tensor '%s' has a bad or too large shape", name);
        n *= (size_t)t->dims[d];
    }
    const float *f = NULL;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != n * 4 || t->n_float_data)
            return file_fail(err, MLP_EINVAL,
                             "tensor '%s': raw_data holds %zu bytes; its shape needs %zu", name,
                             t->raw_data.len, n * 4);
        float *x = arena_alloc(im, n, sizeof *x);
        if (!x) return MLP_ENOMEM;
        le_get_f32s(x, t->raw_data.data, n);
        f = x;
    } else {
        if (t->n_float_data != n)
            return file_fail(err, MLP_EINVAL, "tensor '%s' holds %zu floats; its shape needs %zu",
                             name, t->n_float_data, n);
        f = t->float_data;
    }
    val *v = add_val(im, name);
    if (!v) return MLP_ENOMEM;
    v->is_const = 1;
    v->f = f;
    v->t = t;
    v->n = n;
    v->ndims = (int)t->n_dims;
    for (size_t d = 0; d < t->n_dims; d++) v->dims[d] = t->dims[d];
    v->node = node;
    return MLP_OK;
}

/* ---- attributes ---------------------------------------------------------------------------- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (nd->attribute[i]->name && strcmp(nd->attribute[i]->name, name) == 0)
            return nd->attribute[i];
    return NULL;
}

static float attr_f(const Onnx__NodeProto *nd, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_f ? a->f : dflt;
}

static int64_t attr_i(const Onnx__NodeProto *nd, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_i ? a->i : dflt;
}

/* ---- the chain ----------------------------------------------------------------------------- */

static int cur_width(const onnx_import *im)
{
    return im->nl ? im->L[im->nl - 1].out : 0;
}

/* k's shape broadcasts as one value or one per unit of the current value: [], [1], [w], [1, w]. */
static int const_width_ok(const val *k, int w)
{
    for (int d = 0; d + 1 < k->ndims; d++)
        if (k->dims[d] != 1) return 0;
    return k->n == 1 || w == 0 || k->n == (size_t)w;
}

/* MLP_OK when constant k holds float32 numbers, else the 400 naming it. */
static mlp_err numeric(const onnx_import *im, const val *k, int node, mlp_error *err)
{
    if (k->f) return MLP_OK;
    return node_fail(im, err, node, "constant '%s' has data type %d; mlpd imports float32 only",
                     k->name, k->t ? (int)k->t->data_type : 0);
}

static mlp_err push_step(onnx_import *im, affop op, const val *k, int node, mlp_error *err)
{
    mlp_err rc = numeric(im, k, node, err);
    if (rc) return rc;
    if (!const_width_ok(k, cur_width(im)))
        return node_fail(im, err, node, "constant '%s' has %zu values; the value has %d units",
                         k->name, k->n, cur_width(im));
    if (im->npend == MAX_PENDING)
        return node_fail(im, err, node, "more than %d element-wise steps in a row", MAX_PENDING);
    im->pend[im->npend++] = (affstep){.op = op, .k = k->f, .n = k->n, .node = node};
    return MLP_OK;
}

static float step_k(const affstep *s, int i)
{
    return s->n == 1 ? s->k[0] : s->k[i];
}

/* Unit i of the pending steps as v' = g·v + h, replayed in order. */
static void pend_gh(const onnx_import *im, int i, float *g, float *h)
{
    float G = 1.0f, H = 0.0f;
    for (int s = 0; s < im->npend; s++) {
        float k = step_k(&im->pend[s], i);
        switch (im->pend[s].op) {
        case A_SUB:
            H -= k;
            break;
        case A_ADD:
            H += k;
            break;
        case A_MUL:
            G *= k;
            H *= k;
            break;
        case A_DIV:
            G /= k;
            H /= k;
            break;
        }
    }
    *g = G;
    *h = H;
}

static mlp_err pend_width_check(onnx_import *im, int w, mlp_error *err)
{
    for (int s = 0; s < im->npend; s++)
        if (im->pend[s].n != 1 && im->pend[s].n != (size_t)w)
            return node_fail(im, err, im->pend[s].node,
                             "its constant has %zu values; the value has %d units", im->pend[s].n,
                             w);
    return MLP_OK;
}

/* The pending steps into the rows of layer L (its pre-activation output). */
static mlp_err pend_into_rows(onnx_import *im, layer *L, mlp_error *err)
{
    mlp_err rc = pend_width_check(im, L->out, err);
    if (rc) return rc;
    for (int s = 0; s < im->npend; s++) {
        const affstep *st = &im->pend[s];
        for (int o = 0; o < L->out; o++) {
            float k = step_k(st, o), *w = L->W + (size_t)o * (size_t)L->in;
            switch (st->op) {
            case A_SUB:
                L->b[o] -= k;
                break;
            case A_ADD:
                L->b[o] += k;
                break;
            case A_MUL:
                for (int i = 0; i < L->in; i++) w[i] *= k;
                L->b[o] *= k;
                break;
            case A_DIV:
                for (int i = 0; i < L->in; i++) w[i] /= k;
                L->b[o] /= k;
                break;
            }
        }
    }
    im->npend = 0;
    return MLP_OK;
}

/* The pending steps into the columns of layer L (its input): W' = W·diag(g), b' = b + W·h. */
static mlp_err pend_into_cols(onnx_import *im, layer *L, mlp_error *err)
{
    mlp_err rc = pend_width_check(im, L->in, err);
    if (rc) return rc;
    for (int i = 0; i < L->in; i++) {
        float g, h;
        pend_gh(im, i, &g, &h);
        for (int o = 0; o < L->out; o++) {
            float *w = L->W + (size_t)o * (size_t)L->in + i;
            L->b[o] = (float)((double)L->b[o] + (double)*w * (double)h);
            *w *= g;
        }
    }
    im->npend = 0;
    return MLP_OK;
}

/* The pending steps as the input standardisation x' = (x - mean) / scale of n_in inputs. */
static mlp_err pend_into_input(onnx_import *im, int n_in, mlp_error *err)
{
    mlp_err rc = pend_width_check(im, n_in, err);
    if (rc || !im->npend) return rc;
    im->x_mean = arena_alloc(im, (size_t)n_in, sizeof(float));
    im->x_scale = arena_alloc(im, (size_t)n_in, sizeof(float));
    if (!im->x_mean || !im->x_scale) return MLP_ENOMEM;
    for (int i = 0; i < n_in; i++) {
        float m = 0.0f, s = 1.0f;
        for (int k = 0; k < im->npend; k++) {
            float c = step_k(&im->pend[k], i);
            switch (im->pend[k].op) {
            case A_SUB:
                m += c * s;
                break;
            case A_ADD:
                m -= c * s;
                break;
            case A_DIV:
                s *= c;
                break;
            case A_MUL:
                s /= c;
                break;
            }
        }
        if (!isfinite(m) || !isfinite(s) || s == 0.0f)
            return file_fail(err, MLP_EINVAL,
                             "the input scaling of feature %d is not finite or is zero", i);
        im->x_mean[i] = m;
        im->x_scale[i] = s;
    }
    im->npend = 0;
    return MLP_OK;
}

/* The pending steps as the output standardisation y = y'·scale + mean. */
static mlp_err pend_into_output(onnx_import *im, mlp_error *err)
{
    const int w = cur_width(im);
    mlp_err rc = pend_width_check(im, w, err);
    if (rc || !im->npend) return rc;
    im->y_mean = arena_alloc(im, (size_t)w, sizeof(float));
    im->y_scale = arena_alloc(im, (size_t)w, sizeof(float));
    if (!im->y_mean || !im->y_scale) return MLP_ENOMEM;
    for (int i = 0; i < w; i++) {
        pend_gh(im, i, &im->y_scale[i], &im->y_mean[i]);
        if (!isfinite(im->y_scale[i]) || !isfinite(im->y_mean[i]))
            return file_fail(err, MLP_EINVAL, "the output scaling of unit %d is not finite", i);
    }
    im->npend = 0;
    return MLP_OK;
}

/* Sets activation a on the current layer and moves the chain on. */
static mlp_err set_act(onnx_import *im, act_kind a, int node, mlp_error *err)
{
    if (!im->nl) return node_fail(im, err, node, "an activation before the first Gemm or MatMul");
    layer *L = &im->L[im->nl - 1];
    if (L->has_act)
        return node_fail(im, err, node,
                         "a second activation on one layer (after %s); mlpd layers have one",
                         act_name(L->act));
    mlp_err rc = pend_into_rows(im, L, err);
    if (rc) return rc;
    L->has_act = 1;
    L->act = a;
    L->act_node = node;
    im->pos++;
    return MLP_OK;
}

/* A pending function of v that a node consumes as a whole becomes the activation it is. */
static mlp_err commit(onnx_import *im, val *v, mlp_error *err)
{
    mlp_err rc = MLP_OK;
    switch (v->fn) {
    case F_ID:
        return MLP_OK;
    case F_SIGMOID:
        rc = set_act(im, ACT_SIGMOID, v->node, err);
        break;
    case F_SOFTPLUS:
        rc = set_act(im, ACT_SOFTPLUS, v->node, err);
        break;
    case F_TANH_SOFTPLUS:
        return unsupported(im, err, v->node, "Tanh of Softplus is mish only when multiplied by x");
    case F_ABS:
    case F_ABS1:
        return unsupported(im, err, v->node, "Abs is softsign only as x / (Abs(x) + 1)");
    }
    if (!rc) {
        v->pos = im->pos;
        v->fn = F_ID;
    }
    return rc;
}

/* A new dense layer: W is out × in (transposed from B when trans == 0), b from C (or 0). */
static mlp_err add_layer(onnx_import *im, int node, const val *B, int transB, const val *C,
                         float alpha, float beta, mlp_error *err)
{
    mlp_err rc = numeric(im, B, node, err);
    if (!rc && C) rc = numeric(im, C, node, err);
    if (rc) return rc;
    if (B->ndims != 2 || B->dims[0] < 1 || B->dims[1] < 1)
        return node_fail(im, err, node, "its weight '%s' must be a 2-D constant", B->name);
    int64_t in = transB ? B->dims[1] : B->dims[0], out = transB ? B->dims[0] : B->dims[1];
    if (in > 100000000 || out > MAX_WIDTH)
        return node_fail(im, err, node, "a layer of %lld × %lld is too large", (long long)out,
                         (long long)in);
    if (im->nl == NET_MAX_HIDDEN + 1)
        return node_fail(im, err, node, "more than %d dense layers", NET_MAX_HIDDEN + 1);
    if (im->nl && in != cur_width(im))
        return node_fail(im, err, node, "it takes %lld inputs; the previous layer has %d",
                         (long long)in, cur_width(im));
    size_t np = (size_t)out * (size_t)in + (size_t)out;
    if (np > MAX_ELEMS || (im->max_params && im->params + np > im->max_params))
        return file_fail(err, MLP_ETOOLARGE, "the network has more than %zu parameters",
                         im->max_params ? im->max_params : (size_t)MAX_ELEMS);
    if (C && !(C->n == 1 || C->n == (size_t)out))
        return node_fail(im, err, node, "its bias '%s' has %zu values; the layer has %lld", C->name,
                         C->n, (long long)out);
    if (C && C->ndims == 2 && C->dims[0] != 1)
        return node_fail(im, err, node, "its bias '%s' must be one row", C->name);
    if (im->nl == 0) {
        rc = pend_into_input(im, (int)in, err);
    } else {
        layer *P = &im->L[im->nl - 1];
        if (!P->has_act) { /* a linear layer: what follows it folds into its rows */
            rc = pend_into_rows(im, P, err);
            P->has_act = 1;
            P->act = ACT_LINEAR;
            P->act_node = node;
        }
    }
    if (rc) return rc;
    layer *L = &im->L[im->nl];
    L->out = (int)out;
    L->in = (int)in;
    L->W = arena_alloc(im, (size_t)out * (size_t)in, sizeof(float));
    L->b = arena_alloc(im, (size_t)out, sizeof(float));
    if (!L->W || !L->b) return MLP_ENOMEM;
    for (int64_t o = 0; o < out; o++)
        for (int64_t i = 0; i < in; i++) {
            float w = transB ? B->f[o * in + i] : B->f[i * out + o];
            L->W[o * in + i] = alpha == 1.0f ? w : alpha * w;
        }
    for (int64_t o = 0; C && o < out; o++) {
        float c = C->n == 1 ? C->f[0] : C->f[o];
        L->b[o] = beta == 1.0f ? c : beta * c;
    }
    L->has_act = 0;
    im->nl++;
    im->params += np;
    /* the pending steps before an activated layer go into its columns */
    if (im->nl > 1 && im->npend) rc = pend_into_cols(im, L, err);
    im->pos++;
    return rc;
}

/* The chain value input k of node i, which must derive from the current position. */
static mlp_err chain_in(onnx_import *im, int i, val *v, mlp_error *err)
{
    if (v->pos != im->pos)
        return node_fail(im, err, i,
                         "it reads '%s', an earlier value of the chain: mlpd imports a single "
                         "chain of layers, without branches",
                         v->name);
    return MLP_OK;
}

/* The output k of node i as a chain value at the current position with function fn. */
static mlp_err out_chain(onnx_import *im, int i, vfn fn)
{
    const Onnx__NodeProto *nd = im->m->graph->node[i];
    if (!nd->n_output || !*nd->output[0]) return MLP_OK;
    val *v = add_val(im, nd->output[0]);
    if (!v) return MLP_ENOMEM;
    v->pos = im->pos;
    v->fn = fn;
    v->node = i;
    return MLP_OK;
}

/* 1 when constant k (of any type) is all zero bytes: false, 0 or 0.0. */
static int all_zero(const val *k)
{
    const Onnx__TensorProto *t = k->t;
    if (!t) return k->f && k->f[0] == 0.0f;
    for (size_t i = 0; t->has_raw_data && i < t->raw_data.len; i++)
        if (t->raw_data.data[i]) return 0;
    for (size_t i = 0; i < t->n_int32_data; i++)
        if (t->int32_data[i]) return 0;
    for (size_t i = 0; i < t->n_int64_data; i++)
        if (t->int64_data[i]) return 0;
    for (size_t i = 0; i < t->n_float_data; i++)
        if (t->float_data[i] != 0.0f) return 0;
    return 1;
}

static int all_equal(const val *k, float x)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->f[i] != x) return 0;
    return k->n > 0;
}

static mlp_err constant_node(onnx_import *im, int i, mlp_error *err)
{
    const Onnx__NodeProto *nd = im->m->graph->node[i];
    const Onnx__AttributeProto *a = attr(nd, "value");
    if (nd->n_output != 1 || !*nd->output[0])
        return node_fail(im, err, i, "a Constant has one output");
    if (a && a->t) return tensor_val(im, a->t, nd->output[0], i, err);
    a = attr(nd, "value_float");
    if (a && a->has_f) {
        float *f = arena_alloc(im, 1, sizeof *f);
        val *v = f ? add_val(im, nd->output[0]) : NULL;
        if (!v) return MLP_ENOMEM;
        *f = a->f;
        v->is_const = 1;
        v->f = f;
        v->n = 1;
        v->node = i;
        return MLP_OK;
    }
    return unsupported(im, err, i, "a Constant other than a float tensor");
}

/* BatchNormalization (inference) on the chain as Sub(mean), Mul(scale / sqrt(var + eps)),
 * Add(bias). */
static mlp_err batchnorm(onnx_import *im, int i, val *const in[5], mlp_error *err)
{
    const Onnx__NodeProto *nd = im->m->graph->node[i];
    if (attr_i(nd, "training_mode", 0) != 0)
        return node_fail(im, err, i, "training_mode must be 0 (export the model in eval mode)");
    for (int k = 1; k < 5; k++) {
        if (!in[k] || !in[k]->is_const)
            return node_fail(im, err, i, "its scale, bias, mean and var must be constants");
        mlp_err rc = numeric(im, in[k], i, err);
        if (rc) return rc;
    }
    const size_t n = in[1]->n;
    for (int k = 2; k < 5; k++)
        if (in[k]->n != n) return node_fail(im, err, i, "its parameters differ in length");
    float eps = attr_f(nd, "epsilon", 1e-5f);
    float *mul = arena_alloc(im, n, sizeof *mul);
    val *tmp = mul ? arena_alloc(im, 1, sizeof *tmp) : NULL;
    if (!tmp) return MLP_ENOMEM;
    for (size_t u = 0; u < n; u++) {
        mul[u] = in[1]->f[u] / sqrtf(in[4]->f[u] + eps);
        if (!isfinite(mul[u]))
            return node_fail(im, err, i, "unit %zu has a variance that is not positive", u);
    }
    *tmp = *in[1];
    tmp->f = mul;
    tmp->name = in[1]->name;
    mlp_err rc = push_step(im, A_SUB, in[3], i, err);
    if (!rc) rc = push_step(im, A_MUL, tmp, i, err);
    if (!rc) rc = push_step(im, A_ADD, in[2], i, err);
    return rc;
}

static int op_is(const Onnx__NodeProto *nd, const char *op)
{
    return strcmp(nd->op_type, op) == 0;
}

/* One node of the graph. */
static mlp_err walk_node(onnx_import *im, int i, mlp_error *err)
{
    const Onnx__NodeProto *nd = im->m->graph->node[i];
    if (nd->domain && *nd->domain && strcmp(nd->domain, "ai.onnx") != 0)
        return unsupported(im, err, i, "an op of another domain");
    if (!nd->op_type) return unsupported(im, err, i, "a node without an op");
    if (op_is(nd, "Constant")) return constant_node(im, i, err);
    val *in[8] = {0};
    int n_chain = 0, n_const = 0;
    for (size_t k = 0; k < nd->n_input; k++) {
        if (!*nd->input[k]) continue; /* an omitted optional input */
        in[k] = find(im, nd->input[k]);
        if (!in[k])
            return node_fail(im, err, i,
                             "input '%s' is not defined before it (the graph must be sorted)",
                             nd->input[k]);
        in[k]->is_const ? n_const++ : n_chain++;
    }
    if (!n_chain) {
        if (op_is(nd, "Identity") && nd->n_input == 1 && nd->n_output == 1 && in[0]) {
            val src = *in[0]; /* add_val may move the values */
            val *v = add_val(im, nd->output[0]);
            if (!v) return MLP_ENOMEM;
            *v = src;
            v->name = str(nd->output[0]);
            return MLP_OK;
        }
        return unsupported(im, err, i, "an op on constants only (export with constant folding)");
    }
    val *x = in[0];
    mlp_err rc;
    /* element-wise ops that may be part of a decomposition */
    if (op_is(nd, "Mul") || op_is(nd, "Div") || op_is(nd, "Add") || op_is(nd, "Sub")) {
        if (nd->n_input != 2 || !in[0] || !in[1])
            return node_fail(im, err, i, "it needs two inputs");
        val *a = in[0], *b = in[1];
        if (n_chain == 2) {
            if ((rc = chain_in(im, i, a, err)) || (rc = chain_in(im, i, b, err))) return rc;
            if (op_is(nd, "Mul") && a->fn != F_ID) {
                val *t = a;
                a = b;
                b = t;
            }
            if (a->fn == F_ID && op_is(nd, "Mul") && b->fn == F_SIGMOID)
                rc = set_act(im, ACT_SWISH, i, err);
            else if (a->fn == F_ID && op_is(nd, "Mul") && b->fn == F_TANH_SOFTPLUS)
                rc = set_act(im, ACT_MISH, i, err);
            else if (a->fn == F_ID && op_is(nd, "Div") && b->fn == F_ABS1)
                rc = set_act(im, ACT_SOFTSIGN, i, err);
            else
                return unsupported(im, err, i, "a product or quotient of two computed values");
            return rc ? rc : out_chain(im, i, F_ID);
        }
        int swapped = a->is_const;
        val *v = swapped ? b : a, *k = swapped ? a : b;
        if ((rc = chain_in(im, i, v, err))) return rc;
        if (op_is(nd, "Add") && v->fn == F_ABS && all_equal(k, 1.0f))
            return out_chain(im, i, F_ABS1);
        if ((rc = commit(im, v, err))) return rc;
        if (swapped && (op_is(nd, "Sub") || op_is(nd, "Div")))
            return unsupported(im, err, i, "a constant minus or over the value");
        affop op = op_is(nd, "Sub")   ? A_SUB
                   : op_is(nd, "Add") ? A_ADD
                   : op_is(nd, "Mul") ? A_MUL
                                      : A_DIV;
        if ((rc = push_step(im, op, k, i, err))) return rc;
        return out_chain(im, i, F_ID);
    }
    if (n_chain != 1 || !x || x->is_const)
        return node_fail(im, err, i, "its first input must be the chain's value");
    if ((rc = chain_in(im, i, x, err))) return rc;
    if (op_is(nd, "Sigmoid") && x->fn == F_ID) return out_chain(im, i, F_SIGMOID);
    if (op_is(nd, "Softplus") && x->fn == F_ID) return out_chain(im, i, F_SOFTPLUS);
    if (op_is(nd, "Tanh") && x->fn == F_SOFTPLUS) return out_chain(im, i, F_TANH_SOFTPLUS);
    if (op_is(nd, "Abs") && x->fn == F_ID) return out_chain(im, i, F_ABS);
    if (op_is(nd, "Identity") || op_is(nd, "Dropout") || op_is(nd, "Flatten")) {
        if (op_is(nd, "Flatten") && attr_i(nd, "axis", 1) != 1)
            return node_fail(im, err, i, "axis must be 1 (one row per example)");
        if (op_is(nd, "Dropout") && nd->n_input > 2 && in[2] && !all_zero(in[2]))
            return node_fail(im, err, i, "training_mode must be false");
        if (nd->n_output < 1) return MLP_OK;
        val src = *x;                        /* add_val may move the values */
        val *v = add_val(im, nd->output[0]); /* the mask output of Dropout stays undefined */
        if (!v) return MLP_ENOMEM;
        *v = src;
        v->name = str(nd->output[0]);
        v->node = i;
        return MLP_OK;
    }
    if ((rc = commit(im, x, err))) return rc;
    if (op_is(nd, "Gemm") || op_is(nd, "MatMul")) {
        int gemm = op_is(nd, "Gemm");
        if (!in[1] || !in[1]->is_const)
            return node_fail(im, err, i, "its weight must be a constant (an initializer)");
        if (gemm && attr_i(nd, "transA", 0) != 0)
            return node_fail(im, err, i, "transA must be 0 (one row per example)");
        rc = add_layer(im, i, in[1], gemm ? (int)attr_i(nd, "transB", 0) != 0 : 0,
                       gemm && nd->n_input > 2 ? in[2] : NULL,
                       gemm ? attr_f(nd, "alpha", 1.0f) : 1.0f,
                       gemm ? attr_f(nd, "beta", 1.0f) : 1.0f, err);
        return rc ? rc : out_chain(im, i, F_ID);
    }
    if (op_is(nd, "BatchNormalization")) {
        if (nd->n_input != 5) return node_fail(im, err, i, "it needs 5 inputs");
        rc = batchnorm(im, i, in, err);
        return rc ? rc : out_chain(im, i, F_ID);
    }
    static const struct {
        const char *op;
        act_kind a;
    } acts[] = {{"Relu", ACT_RELU},         {"LeakyRelu", ACT_LEAKY_RELU},
                {"Elu", ACT_ELU},           {"Sigmoid", ACT_SIGMOID},
                {"Tanh", ACT_TANH},         {"Softplus", ACT_SOFTPLUS},
                {"Softsign", ACT_SOFTSIGN}, {"Softmax", ACT_SOFTMAX},
                {"LogSoftmax", ACT_SOFTMAX}};
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        if (!op_is(nd, acts[k].op)) continue;
        if (op_is(nd, "LeakyRelu") && attr_f(nd, "alpha", 0.01f) != 0.1f)
            return node_fail(im, err, i, "alpha %g is not mlpd's leaky_relu slope 0.1",
                             (double)attr_f(nd, "alpha", 0.01f));
        if (op_is(nd, "Elu") && attr_f(nd, "alpha", 1.0f) != 1.0f)
            return node_fail(im, err, i, "alpha %g is not mlpd's elu alpha 1",
                             (double)attr_f(nd, "alpha", 1.0f));
        if (acts[k].a == ACT_SOFTMAX) {
            int64_t ax = attr_i(nd, "axis", im->opset >= 13 ? -1 : 1);
            if (ax != 1 && ax != -1) return node_fail(im, err, i, "axis must be 1 or -1");
        }
        rc = set_act(im, acts[k].a, i, err);
        return rc ? rc : out_chain(im, i, F_ID);
    }
    if (op_is(nd, "Erf"))
        return unsupported(im, err, i,
                           "gelu (the Erf in its decomposition) is not an mlpd activation");
    return unsupported(im, err, i, "an op mlpd does not import");
}

/* Walks the whole graph from its one input to its one output. */
static mlp_err walk(onnx_import *im, mlp_error *err)
{
    const Onnx__GraphProto *g = im->m->graph;
    mlp_err rc;
    for (size_t i = 0; i < g->n_initializer; i++)
        if ((rc = tensor_val(im, g->initializer[i], g->initializer[i]->name, -1, err))) return rc;
    const Onnx__ValueInfoProto *input = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        if (find(im, g->input[i]->name)) continue; /* an initializer listed as input (IR < 4) */
        if (input)
            return file_fail(err, MLP_EINVAL,
                             "the graph has two inputs ('%s' and '%s'); an MLP has one",
                             str(input->name), str(g->input[i]->name));
        input = g->input[i];
    }
    if (!input) return file_fail(err, MLP_EINVAL, "the graph has no input");
    const Onnx__TypeProto *ty = input->type;
    if (ty && ty->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && ty->tensor_type &&
        ty->tensor_type->has_elem_type &&
        ty->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return file_fail(err, MLP_EINVAL, "input '%s' is not float32", str(input->name));
    val *v = add_val(im, input->name);
    if (!v) return MLP_ENOMEM;
    for (size_t i = 0; i < g->n_node; i++)
        if ((rc = walk_node(im, (int)i, err))) return rc;
    if (g->n_output != 1)
        return file_fail(err, MLP_EINVAL, "the graph has %zu outputs; an MLP has one", g->n_output);
    im->out_name = str(g->output[0]->name);
    val *o = find(im, im->out_name);
    if (!o || o->is_const)
        return file_fail(err, MLP_EINVAL, "output '%s' is not computed from the input",
                         im->out_name);
    if (o->pos != im->pos)
        return file_fail(err, MLP_EINVAL, "output '%s' is not the end of the chain", im->out_name);
    if ((rc = commit(im, o, err))) return rc;
    if (!im->nl) return file_fail(err, MLP_EINVAL, "the graph has no Gemm or MatMul layer");
    layer *last = &im->L[im->nl - 1];
    if (!last->has_act) {
        last->has_act = 1;
        last->act = ACT_LINEAR;
    }
    if ((rc = pend_into_output(im, err))) return rc;
    for (int l = 0; l + 1 < im->nl; l++) {
        if (im->L[l].act == ACT_SOFTMAX)
            return node_fail(im, err, im->L[l].act_node, "Softmax is only the output's activation");
        if (im->L[l].act != im->L[0].act)
            return node_fail(im, err, im->L[l].act_node,
                             "hidden layer %d uses %s, layer 1 %s: mlpd's hidden layers share one "
                             "activation",
                             l + 1, act_name(im->L[l].act), act_name(im->L[0].act));
    }
    for (int l = 0; l < im->nl; l++) {
        const layer *L = &im->L[l];
        size_t nw = (size_t)L->out * (size_t)L->in;
        for (size_t k = 0; k < nw + (size_t)L->out; k++)
            if (!isfinite(k < nw ? L->W[k] : L->b[k - nw]))
                return file_fail(err, MLP_EINVAL,
                                 "dense layer %d has a weight or bias that is not a finite float32",
                                 l + 1);
    }
    /* an input shape, when given in full, must match the first layer */
    if (ty && ty->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && ty->tensor_type &&
        ty->tensor_type->shape && ty->tensor_type->shape->n_dim >= 2) {
        const Onnx__TensorShapeProto *sh = ty->tensor_type->shape;
        int64_t prod = 1;
        int known = 1;
        for (size_t d = 1; d < sh->n_dim && known; d++) {
            const Onnx__TensorShapeProto__Dimension *dm = sh->dim[d];
            if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
                dm->dim_value < 1 || dm->dim_value > (int64_t)MAX_ELEMS ||
                prod > (int64_t)MAX_ELEMS)
                known = 0;
            else
                prod *= dm->dim_value;
        }
        if (known && prod != im->L[0].in)
            return file_fail(err, MLP_EINVAL,
                             "input '%s' has %lld features; the first layer takes %d",
                             str(input->name), (long long)prod, im->L[0].in);
    }
    return MLP_OK;
}

static net_task guess_task(const onnx_import *im)
{
    const layer *last = &im->L[im->nl - 1];
    if (last->act == ACT_SOFTMAX || (last->act == ACT_SIGMOID && last->out == 1))
        return TASK_CLASSIFICATION;
    int narrow = 0;
    for (int l = 0; l + 1 < im->nl; l++)
        if (im->L[l].out < im->L[0].in) narrow = 1;
    if (last->out == im->L[0].in && narrow) return TASK_AUTOENCODER;
    return TASK_REGRESSION;
}

/* ---- the exact round trip (onnx_export.h "The exact fold") ------------------------------- */

/* n floats from metadata key (base64 of little-endian float32) as a new arena array, or NULL
 * when the key is missing, malformed or of another length. */
static float *meta_floats(onnx_import *im, const char *key, size_t n)
{
    const char *s = onnx_import_meta(im, key);
    if (!s || n > MAX_ELEMS) return NULL;
    uint8_t *raw = malloc(4 * n);
    float *f = arena_alloc(im, n, sizeof *f);
    int ok = raw && f && onnx_b64_decode(s, raw, 4 * n) == 0;
    if (ok) le_get_f32s(f, raw, n);
    free(raw);
    return ok ? f : NULL;
}

/* The n steps of metadata key ("<bits>:<base64>", onnx.h), one per byte in a new arena array, or
 * NULL. */
static uint8_t *meta_steps(onnx_import *im, const char *key, size_t n)
{
    const char *s = onnx_import_meta(im, key);
    if (!s || n > MAX_ELEMS || (s[0] != '1' && s[0] != '2') || s[1] != ':') return NULL;
    const int w = s[0] - '0';
    const size_t per = (size_t)(8 / w), nb = (n + per - 1) / per;
    uint8_t *packed = malloc(nb);
    uint8_t *d = arena_alloc(im, n, 1);
    int ok = packed && d && onnx_b64_decode(s + 2, packed, nb) == 0;
    for (size_t i = 0; ok && i < n; i++)
        d[i] = (uint8_t)(packed[i / per] >> (w * (int)(i % per)) & ((1 << w) - 1));
    free(packed);
    return ok ? d : NULL;
}

/* The weights of graph layer L before the folds (xs: input scale, or NULL; ys: output scale, or
 * NULL) given their steps d, then folded again: returns the unfolded weights (arena) when the
 * fold of them and of bias b gives L's weights and bias bit for bit with the same steps, else
 * NULL. */
static float *unfold_checked(onnx_import *im, const layer *L, const float *b, const float *xm,
                             const float *xs, const float *ym, const float *ys, const uint8_t *d)
{
    const size_t nw = (size_t)L->out * (size_t)L->in;
    float *W = arena_alloc(im, nw, sizeof *W);
    float *wf = malloc(nw * sizeof *wf), *bf = malloc((size_t)L->out * sizeof *bf);
    uint8_t *d2 = malloc(nw);
    int ok = W && wf && bf && d2;
    for (int i = 0; ok && i < L->out; i++)
        for (int j = 0; j < L->in; j++) {
            size_t k = (size_t)i * (size_t)L->in + (size_t)j;
            W[k] = onnx_unfold_weight(L->W[k], xs ? xs[j] : 1.0f, ys ? ys[i] : 1.0f, xs != NULL,
                                      ys != NULL, d[k]);
        }
    ok = ok && onnx_fold_layer(W, b, L->out, L->in, xm, xs, ym, ys, wf, bf, d2) == 0 &&
         memcmp(wf, L->W, nw * sizeof *wf) == 0 &&
         memcmp(bf, L->b, (size_t)L->out * sizeof *bf) == 0 && memcmp(d2, d, nw) == 0;
    free(wf);
    free(bf);
    free(d2);
    return ok ? W : NULL;
}

/* Rebuilds the network before the folds from the "mlpd.exact" metadata and sets im->exact when
 * folding it again gives the graph's initializers bit for bit. A file without the metadata, or
 * whose metadata do not match its graph (edited, or not mlpd's), is imported as its graph: the
 * metadata are never trusted beyond what the graph confirms. */
static void exact_recover(onnx_import *im)
{
    const char *fmt = onnx_import_meta(im, ONNX_META_EXACT);
    if (!fmt || strcmp(fmt, ONNX_EXACT_FORMAT) != 0) return;
    const layer *L0 = &im->L[0], *LL = &im->L[im->nl - 1];
    const int fy = onnx_import_meta(im, ONNX_META_EXACT_Y_MEAN) != NULL;
    /* mlpd's graphs fold the input standardisation, and the output one into a linear head (after
     * another head they carry it as Mul and Add, which import exactly) */
    if (im->x_mean || (fy && (im->y_scale || LL->act != ACT_LINEAR))) return;
    im->ex_xm = meta_floats(im, ONNX_META_EXACT_X_MEAN, (size_t)L0->in);
    im->ex_xs = meta_floats(im, ONNX_META_EXACT_X_SCALE, (size_t)L0->in);
    im->ex_b0 = meta_floats(im, ONNX_META_EXACT_B0, (size_t)L0->out);
    const uint8_t *d0 = meta_steps(im, ONNX_META_EXACT_D0, (size_t)L0->out * (size_t)L0->in);
    if (!im->ex_xm || !im->ex_xs || !im->ex_b0 || !d0) return;
    if (fy) {
        im->ex_ym = meta_floats(im, ONNX_META_EXACT_Y_MEAN, (size_t)LL->out);
        im->ex_ys = meta_floats(im, ONNX_META_EXACT_Y_SCALE, (size_t)LL->out);
        if (!im->ex_ym || !im->ex_ys) return;
    }
    const int one = im->nl == 1; /* the first layer is also the last: it carries both folds */
    im->ex_w0 = unfold_checked(im, L0, im->ex_b0, im->ex_xm, im->ex_xs, one ? im->ex_ym : NULL,
                               one ? im->ex_ys : NULL, d0);
    if (!im->ex_w0) return;
    if (fy && !one) {
        im->ex_bl = meta_floats(im, ONNX_META_EXACT_BL, (size_t)LL->out);
        const uint8_t *dl = meta_steps(im, ONNX_META_EXACT_DL, (size_t)LL->out * (size_t)LL->in);
        if (!im->ex_bl || !dl) return;
        im->ex_wl = unfold_checked(im, LL, im->ex_bl, NULL, NULL, im->ex_ym, im->ex_ys, dl);
        if (!im->ex_wl) return;
    }
    /* a graph weight edited by an ulp may still fold from a network an ulp away: the CRC of the
     * exported network tells it apart */
    char crc[16];
    const char *want = onnx_import_meta(im, ONNX_META_EXACT_CRC);
    snprintf(crc, sizeof crc, "%08x",
             onnx_exact_crc(im->ex_w0, (size_t)L0->out * (size_t)L0->in, im->ex_wl,
                            (size_t)LL->out * (size_t)LL->in));
    if (!want || strcmp(want, crc) != 0) return;
    im->exact = 1;
}

mlp_err onnx_import_parse(const void *buf, size_t len, size_t max_params, onnx_import **out,
                          mlp_error *err)
{
    *out = NULL;
    if (len > ONNX_MAX_BYTES)
        return file_fail(err, MLP_ETOOLARGE, "the ONNX file has %zu bytes; at most %u", len,
                         ONNX_MAX_BYTES);
    if (!len) return file_fail(err, MLP_EINVAL, "the ONNX file is empty");
    onnx_import *im = calloc(1, sizeof *im);
    if (!im) return MLP_ENOMEM;
    im->max_params = max_params;
    /* the unpacked message: its bytes fields, packed floats and structs, a few times len */
    im->ba.budget = 4 * len + (16u << 20);
    im->alloc = (ProtobufCAllocator){.alloc = ba_alloc, .free = ba_free, .allocator_data = &im->ba};
    mlp_err rc = MLP_OK;
    im->m = onnx__model_proto__unpack(&im->alloc, len, buf);
    if (!im->m) {
        rc = file_fail(err, MLP_EINVAL,
                       "the body is not an ONNX model (a protobuf ModelProto), or it is "
                       "truncated or larger than the parser's memory budget");
        goto out;
    }
    if ((rc = check_bounds(im->m, err))) goto out;
    int declared = 0;
    for (size_t i = 0; i < im->m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = im->m->opset_import[i];
        if ((!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0) && o->has_version) {
            im->opset = o->version > 1000 ? 1000 : o->version < -1000 ? -1000 : (int)o->version;
            declared = 1;
        }
    }
    if (!declared) {
        rc = file_fail(err, MLP_EINVAL, "the model declares no default (ai.onnx) opset_import");
        goto out;
    }
    if (im->opset < 7 || im->opset > 21) {
        rc = file_fail(err, MLP_EINVAL,
                       "the model's default opset is %d; mlpd imports opsets 7 to 21", im->opset);
        goto out;
    }
    if ((rc = walk(im, err))) goto out;
    im->task = guess_task(im);
    exact_recover(im);
    *out = im;
    return MLP_OK;
out:
    onnx_import_free(im);
    return rc;
}

int onnx_import_n_in(const onnx_import *im)
{
    return im->L[0].in;
}

int onnx_import_n_out(const onnx_import *im)
{
    return im->L[im->nl - 1].out;
}

net_task onnx_import_task(const onnx_import *im)
{
    return im->task;
}

int onnx_import_opset(const onnx_import *im)
{
    return im->opset;
}

size_t onnx_import_param_count(const onnx_import *im)
{
    return im->params;
}

const char *onnx_import_meta(const onnx_import *im, const char *key)
{
    for (size_t i = 0; i < im->m->n_metadata_props; i++)
        if (im->m->metadata_props[i]->key && strcmp(im->m->metadata_props[i]->key, key) == 0)
            return im->m->metadata_props[i]->value;
    return NULL;
}

int onnx_import_exact(const onnx_import *im, net_task task)
{
    /* a classifier has no output standardisation to carry the output fold's */
    return im->exact && !(im->ex_ym && task == TASK_CLASSIFICATION);
}

const char *onnx_import_producer(const onnx_import *im)
{
    return im->m->producer_name ? im->m->producer_name : "";
}

mlp_err onnx_import_net(const onnx_import *im, net_task task, net **out, mlp_error *err)
{
    *out = NULL;
    net_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.task = task;
    sp.n_in = im->L[0].in;
    sp.n_out = im->L[im->nl - 1].out;
    sp.n_hidden = im->nl - 1;
    for (int l = 0; l + 1 < im->nl; l++) sp.hidden[l] = im->L[l].out;
    sp.act = im->nl > 1 ? im->L[0].act : ACT_LINEAR;
    sp.out_act = im->L[im->nl - 1].act;
    sp.loss = sp.out_act == ACT_SOFTMAX                                  ? LOSS_CROSS_ENTROPY
              : sp.out_act == ACT_SIGMOID && task == TASK_CLASSIFICATION ? LOSS_LOGISTIC
                                                                         : LOSS_SQUARED;
    mlp_error e;
    mlp_error_clear(&e);
    if (task == TASK_CLASSIFICATION && im->y_scale) {
        mlp_fail(
            err, MLP_EINVAL,
            "task classification does not fit the graph: it scales its outputs after the head");
        if (err) snprintf(err->field, sizeof err->field, "task");
        return MLP_EINVAL;
    }
    if (net_spec_check(&sp, &e)) {
        mlp_fail(err, MLP_EINVAL, "task %s does not fit the graph: %s", task_name(task), e.msg);
        if (err) snprintf(err->field, sizeof err->field, "task");
        return MLP_EINVAL;
    }
    net *n = NULL;
    mlp_err rc = net_new(&sp, &n, err);
    if (rc) return rc;
    for (int l = 0; l < im->nl; l++) {
        const layer *L = &im->L[l];
        memcpy(net_layer_w(n, l), L->W, (size_t)L->out * (size_t)L->in * sizeof(float));
        memcpy(net_layer_b(n, l), L->b, (size_t)L->out * sizeof(float));
    }
    if (onnx_import_exact(im, task)) { /* the network before the folds (exact_recover) */
        const layer *L0 = &im->L[0], *LL = &im->L[im->nl - 1];
        memcpy(net_layer_w(n, 0), im->ex_w0, (size_t)L0->out * (size_t)L0->in * sizeof(float));
        memcpy(net_layer_b(n, 0), im->ex_b0, (size_t)L0->out * sizeof(float));
        if (im->ex_wl) {
            memcpy(net_layer_w(n, im->nl - 1), im->ex_wl,
                   (size_t)LL->out * (size_t)LL->in * sizeof(float));
            memcpy(net_layer_b(n, im->nl - 1), im->ex_bl, (size_t)LL->out * sizeof(float));
        }
        memcpy(net_x_mean(n), im->ex_xm, (size_t)sp.n_in * sizeof(float));
        memcpy(net_x_scale(n), im->ex_xs, (size_t)sp.n_in * sizeof(float));
    } else if (im->x_mean) {
        memcpy(net_x_mean(n), im->x_mean, (size_t)sp.n_in * sizeof(float));
        memcpy(net_x_scale(n), im->x_scale, (size_t)sp.n_in * sizeof(float));
    }
    if (onnx_import_exact(im, task) && im->ex_ym) {
        memcpy(net_y_mean(n), im->ex_ym, (size_t)sp.n_out * sizeof(float));
        memcpy(net_y_scale(n), im->ex_ys, (size_t)sp.n_out * sizeof(float));
    } else if (im->y_mean) {
        memcpy(net_y_mean(n), im->y_mean, (size_t)sp.n_out * sizeof(float));
        memcpy(net_y_scale(n), im->y_scale, (size_t)sp.n_out * sizeof(float));
    }
    *out = n;
    return MLP_OK;
}

void onnx_import_free(onnx_import *im)
{
    if (!im) return;
    if (im->m) onnx__model_proto__free_unpacked(im->m, &im->alloc);
    for (size_t i = 0; i < im->n_arena; i++) free(im->arena[i]);
    free(im->arena);
    free(im->vals);
    free(im);
}
