/* onnx_export.c — writes a published model as an ONNX ModelProto (see onnx_export.h). The graph
 * is built as protobuf-c structs (generated from Debian's onnx.proto, build/gen/onnx.pb-c.h) whose
 * every allocation is recorded in one list, freed after onnx__model_proto__pack has written the
 * bytes; nothing here encodes protobuf by hand. */
#include "onnx_export.h"

#include "crc32.h"
#include "le.h"
#include "onnx.h"
#include "onnx.pb-c.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
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

/* ---- the exact fold (onnx_export.h) ------------------------------------------------------- */

/* The float bits of x, so that -0 and +0 (and NaNs) compare as different numbers. */
static uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

float onnx_unfold_weight(float wp, float xs, float ys, int fold_x, int fold_y, int d)
{
    assert(d >= 0 && d <= ONNX_EXACT_MAX_STEPS);
    float t = wp;
    if (fold_y) t = t / ys;
    if (fold_x) t = t * xs;
    for (int k = 0; k < d; k++) t = nextafterf(t, INFINITY);
    return t;
}

int onnx_fold_weight(float w, float xs, float ys, int fold_x, int fold_y, float *wp)
{
    double wj = w;
    if (fold_x) wj /= (double)xs;
    const float naive = (float)(fold_y ? wj * (double)ys : wj);
    /* the candidates in order of distance from the rounded fold: 0, -1, +1, -2, +2 ulps */
    float c[5];
    c[0] = naive;
    c[1] = nextafterf(naive, -INFINITY);
    c[2] = nextafterf(naive, INFINITY);
    c[3] = nextafterf(c[1], -INFINITY);
    c[4] = nextafterf(c[2], INFINITY);
    for (int d = 0; d <= ONNX_EXACT_MAX_STEPS; d++)
        for (int k = 0; k < 5; k++)
            if (isfinite(c[k]) &&
                f32_bits(onnx_unfold_weight(c[k], xs, ys, fold_x, fold_y, d)) == f32_bits(w)) {
                *wp = c[k];
                return d;
            }
    *wp = naive;
    return -1;
}

size_t onnx_fold_layer(const float *W, const float *b, int out, int in, const float *xm,
                       const float *xs, const float *ym, const float *ys, float *wf, float *bf,
                       uint8_t *d)
{
    assert(W && b && wf && bf && (!xm == !xs) && (!ym == !ys));
    size_t misses = 0;
    for (int i = 0; i < out; i++) {
        /* Input fold: W·(x - m)/s + b = (W/s)·x + (b - W·(m/s)). Output fold (a linear head):
         * (W·a + b)·ys + ym = (ys W)·a + (ys b + ym). Each W/s is one of the floats nearest it
         * from which W comes back exactly (onnx_fold_weight); the bias is computed from the
         * original W in double and rounded once. */
        const float *w = W + (size_t)i * (size_t)in;
        double bias = b[i];
        const float oscale = ys ? ys[i] : 1.0f;
        for (int j = 0; j < in; j++) {
            const size_t k = (size_t)i * (size_t)in + (size_t)j;
            if (xm) bias -= (double)w[j] * ((double)xm[j] / (double)xs[j]);
            int steps =
                onnx_fold_weight(w[j], xs ? xs[j] : 1.0f, oscale, xs != NULL, ys != NULL, &wf[k]);
            if (steps < 0) misses++;
            if (d) d[k] = (uint8_t)(steps < 0 ? 0 : steps);
        }
        bf[i] = (float)(ys ? bias * (double)ys[i] + (double)ym[i] : bias);
    }
    return misses;
}

uint32_t onnx_exact_crc(const float *w0, size_t n0, const float *wl, size_t nl)
{
    unsigned char buf[4096];
    uint32_t crc = 0;
    for (int part = 0; part < 2; part++) {
        const float *w = part ? wl : w0;
        size_t n = part ? nl : n0;
        for (size_t i = 0; w && i < n; i += sizeof buf / 4) {
            size_t k = n - i < sizeof buf / 4 ? n - i : sizeof buf / 4;
            le_put_f32s(buf, w + i, k);
            crc = crc32_update(crc, buf, 4 * k);
        }
    }
    return crc;
}

/* 1 when y = y'·scale + mean is the identity (every mean 0, every scale 1). */
static int identity_destd(const float *mean, const float *scale, int k)
{
    for (int j = 0; j < k; j++)
        if (mean[j] != 0.0f || scale[j] != 1.0f) return 0;
    return 1;
}

/* 1 when the last layer of n carries the output standardisation (a linear head of a regressor
 * or autoencoder whose standardisation is not the identity). */
static int folds_y(const net *n)
{
    const net_spec *sp = net_get_spec(n);
    return sp->task != TASK_CLASSIFICATION && sp->out_act == ACT_LINEAR &&
           !identity_destd(net_y_mean_const(n), net_y_scale_const(n), sp->n_out);
}

/* Appends network n reading tensor x, with tensor names prefixed by pfx; returns the name of
 * the tensor holding its output in raw units (what net_predict returns). d0 and dl, when not
 * NULL, receive the steps of the first and last layers' weights (onnx_fold_layer); *misses the
 * count of their weights that have none. */
static const char *emit_net(gb *g, const net *n, const char *pfx, const char *x, uint8_t *d0,
                            uint8_t *dl, size_t *misses)
{
    const net_spec *sp = net_get_spec(n);
    const int last = sp->n_hidden;
    const float *xm = net_x_mean_const(n), *xs = net_x_scale_const(n);
    const float *ym = net_y_mean_const(n), *ys = net_y_scale_const(n);
    const int destd = sp->task != TASK_CLASSIFICATION && !identity_destd(ym, ys, sp->n_out);
    /* The output standardisation goes into the last Gemm when nothing follows it. */
    const int fold_y = folds_y(n);
    const char *cur = x;
    for (int l = 0; l <= last && !g->oom; l++) {
        const float *W, *b;
        int out, in;
        net_layer(n, l, &W, &b, &out, &in);
        float *wf = gb_calloc(g, (size_t)out * (size_t)in, sizeof *wf);
        float *bf = gb_calloc(g, (size_t)out, sizeof *bf);
        if (!wf || !bf) break;
        const int fy = l == last && fold_y;
        size_t m = onnx_fold_layer(W, b, out, in, l == 0 ? xm : NULL, l == 0 ? xs : NULL,
                                   fy ? ym : NULL, fy ? ys : NULL, wf, bf,
                                   l == 0      ? d0
                                   : l == last ? dl
                                               : NULL);
        if (misses && (l == 0 || fy)) *misses += m;
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

/* ---- base64 (RFC 4648, padded) of the exact-round-trip metadata ---------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The n bytes p in base64 (a gb block), or NULL when oom. */
static char *b64_encode(gb *g, const uint8_t *p, size_t n)
{
    char *o = gb_calloc(g, 4 * ((n + 2) / 3) + 1, 1), *q = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        *q++ = B64[v >> 18 & 63];
        *q++ = B64[v >> 12 & 63];
        *q++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *q = '\0';
    return o;
}

/* The value of one base64 digit, or -1. */
static int b64_digit(char c)
{
    const char *p = c ? strchr(B64, c) : NULL;
    return p ? (int)(p - B64) : -1;
}

int onnx_b64_decode(const char *s, uint8_t *out, size_t n)
{
    size_t len = strlen(s);
    if (len != 4 * ((n + 2) / 3)) return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pads = 0;
        for (int k = 0; k < 4; k++) {
            int dg = b64_digit(s[i + (size_t)k]);
            /* '=' only at the end of the last group, and nothing but '=' after one */
            if (s[i + (size_t)k] == '=' && i + 4 == len && k >= 2)
                pads++;
            else if (dg < 0 || pads)
                return -1;
            v = v << 6 | (uint32_t)(dg < 0 ? 0 : dg);
        }
        for (int k = 0; k < 3; k++) {
            uint8_t byte = (uint8_t)(v >> (16 - 8 * k));
            if (o < n)
                out[o++] = byte;
            else if (byte)
                return -1; /* non-zero bits in the padding: not the canonical encoding */
        }
    }
    return 0;
}

/* k floats as base64 of their little-endian bytes (a gb block). */
static char *b64_floats(gb *g, const float *f, size_t k)
{
    uint8_t *p = gb_calloc(g, k, 4);
    if (!p) return NULL;
    le_put_f32s(p, f, k);
    return b64_encode(g, p, 4 * k);
}

/* The steps d (0..3, one per weight) as "<bits>:<base64>" (onnx.h): one bit per step when every
 * step is 0 or 1 (the usual case), else two. */
static char *b64_steps(gb *g, const uint8_t *d, size_t k)
{
    int w = 1;
    for (size_t i = 0; i < k; i++)
        if (d[i] > 1) w = 2;
    const size_t per = (size_t)(8 / w), nb = (k + per - 1) / per;
    uint8_t *p = gb_calloc(g, nb, 1);
    if (!p) return NULL;
    for (size_t i = 0; i < k; i++) p[i / per] |= (uint8_t)(d[i] << (w * (int)(i % per)));
    char *b = b64_encode(g, p, nb);
    return b ? gb_fmt(g, "%d:%s", w, b) : NULL;
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

/* The mlpd.exact entries of network n into props (at most ONNX_EXACT_MAX_KEYS): what the
 * importer needs to undo the folds exactly, given the steps d0 and dl of the first and last
 * layers (emit_net). None when nothing is folded (the graph's weights are the net's) or when a
 * value would exceed ONNX_MAX_META_VALUE, which the importer refuses. Returns the count. */
static size_t exact_meta(gb *g, const net *n, const uint8_t *d0, const uint8_t *dl,
                         Onnx__StringStringEntryProto **props)
{
    const net_spec *sp = net_get_spec(n);
    const int last = sp->n_hidden, fy = folds_y(n);
    const float *xm = net_x_mean_const(n), *xs = net_x_scale_const(n);
    if (!fy && identity_destd(xm, xs, sp->n_in)) return 0;
    const float *b0, *bl;
    int o0, i0, ol, il;
    net_layer(n, 0, NULL, &b0, &o0, &i0);
    net_layer(n, last, NULL, &bl, &ol, &il);
    const char *v[ONNX_EXACT_MAX_KEYS][2];
    size_t k = 0;
    v[k][0] = ONNX_META_EXACT;
    v[k++][1] = ONNX_EXACT_FORMAT;
    v[k][0] = ONNX_META_EXACT_X_MEAN;
    v[k++][1] = b64_floats(g, xm, (size_t)sp->n_in);
    v[k][0] = ONNX_META_EXACT_X_SCALE;
    v[k++][1] = b64_floats(g, xs, (size_t)sp->n_in);
    v[k][0] = ONNX_META_EXACT_B0;
    v[k++][1] = b64_floats(g, b0, (size_t)o0);
    v[k][0] = ONNX_META_EXACT_D0;
    v[k++][1] = b64_steps(g, d0, (size_t)o0 * (size_t)i0);
    if (fy) {
        v[k][0] = ONNX_META_EXACT_Y_MEAN;
        v[k++][1] = b64_floats(g, net_y_mean_const(n), (size_t)sp->n_out);
        v[k][0] = ONNX_META_EXACT_Y_SCALE;
        v[k++][1] = b64_floats(g, net_y_scale_const(n), (size_t)sp->n_out);
        if (last > 0) {
            v[k][0] = ONNX_META_EXACT_BL;
            v[k++][1] = b64_floats(g, bl, (size_t)ol);
            v[k][0] = ONNX_META_EXACT_DL;
            v[k++][1] = b64_steps(g, dl, (size_t)ol * (size_t)il);
        }
    }
    const float *w0, *wl;
    net_layer(n, 0, &w0, NULL, NULL, NULL);
    net_layer(n, last, &wl, NULL, NULL, NULL);
    v[k][0] = ONNX_META_EXACT_CRC;
    v[k++][1] = gb_fmt(g, "%08x",
                       onnx_exact_crc(w0, (size_t)o0 * (size_t)i0, fy && last > 0 ? wl : NULL,
                                      (size_t)ol * (size_t)il));
    assert(k <= ONNX_EXACT_MAX_KEYS);
    for (size_t i = 0; i < k; i++)
        if (!v[i][1] || strlen(v[i][1]) > ONNX_MAX_META_VALUE) return 0;
    for (size_t i = 0; i < k; i++) props[i] = meta(g, v[i][0], v[i][1]);
    return k;
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
    const int last = sp->n_hidden;
    int o0, i0, ol, il;
    net_layer(b->net, 0, NULL, NULL, &o0, &i0);
    net_layer(b->net, last, NULL, NULL, &ol, &il);
    uint8_t *d0 = b->n_members ? NULL : gb_calloc(&g, (size_t)o0 * (size_t)i0, 1);
    uint8_t *dl = b->n_members ? NULL : gb_calloc(&g, (size_t)ol * (size_t)il, 1);
    size_t misses = 0;
    for (int i = 0; i < k && !g.oom; i++) {
        const char *pfx = b->n_members ? gb_fmt(&g, "m%d_", i) : "";
        if (pfx) outs[i] = emit_net(&g, nets[i], pfx, ONNX_INPUT_NAME, d0, dl, &misses);
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

    Onnx__StringStringEntryProto *props[7 + ONNX_EXACT_MAX_KEYS];
    size_t n_props = 0;
    props[n_props++] = meta(&g, ONNX_META_TASK, task_name(sp->task));
    props[n_props++] = meta(&g, ONNX_META_FEATURES, json_strs(&g, b->features, b->n_features));
    props[n_props++] = meta(&g, ONNX_META_LABELS, json_strs(&g, b->labels, b->n_labels));
    props[n_props++] = meta(&g, ONNX_META_RUN_ID, info->run_id ? info->run_id : "");
    props[n_props++] = meta(&g, ONNX_META_MODEL, info->model);
    props[n_props++] = meta(&g, ONNX_META_VERSION, gb_fmt(&g, "%d", info->version));
    if (b->n_members) props[n_props++] = meta(&g, ONNX_META_MEMBERS, gb_fmt(&g, "%d", k));
    if (!b->n_members && !misses) n_props += exact_meta(&g, b->net, d0, dl, props + n_props);
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
