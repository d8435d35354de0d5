/* net.c — the immutable, published MLP (see net.h): spec validation, the single parameter block,
 * allocation-free inference (standardise, dense layers through cblas, activations, de-standardise),
 * the autoencoder's encoder, and the versioned little-endian file format with its CRC-32.
 *
 * File format, version 1 (every integer and float little-endian, whatever the host):
 *   "MLPN"  u32 version  u32 task  u32 n_in  u32 n_out  u32 n_hidden  u32 hidden[n_hidden]
 *   u32 act  u32 out_act  u32 loss  u32 batch_norm  u64 n_params
 *   f32 params[n_params]  f32 x_mean[n_in]  f32 x_scale[n_in]  f32 y_mean[n_out]
 *   f32 y_scale[n_out]  u32 crc32(every byte before it)
 * The length must match exactly; anything else is MLP_ECORRUPT. */
#include "net.h"

#include "act.h"
#include "crc32.h"
#include "le.h"
#include "loss.h"
#include "sparse.h"

#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_MAX_WIDTH  65536
#define NET_MAGIC      "MLPN"
#define NET_FORMAT_V1  1u
#define NET_MAX_LAYERS (NET_MAX_HIDDEN + 1)
#define NET_HEADER_MIN                                                                             \
    (4 + 4 * 5 + 4 * 4 + 8) /* magic .. n_hidden, act .. batch_norm, n_params                      \
                             */

struct net {
    net_spec spec;                 /* batch_norm always 0: a net holds folded layers */
    int n_layers;                  /* n_hidden + 1 */
    int width[NET_MAX_LAYERS + 1]; /* width[0] = n_in, width[l + 1] = outputs of layer l */
    size_t w_off[NET_MAX_LAYERS];  /* offset of layer l's W (out×in) in block, floats */
    size_t b_off[NET_MAX_LAYERS];  /* offset of layer l's b (out) in block, floats */
    size_t n_params;               /* weights + biases: the prefix of block */
    size_t scratch_w[2];           /* per-row widths of the two ping-pong scratch buffers */
    float *block;                  /* params | x_mean | x_scale (n_in) | y_mean | y_scale (n_out) */
    struct sparse0 *s0;            /* net_prepare_serving's layer-0 fast path, or NULL */
};

/* The fast path of layer 0 (net_prepare_serving), for one row and for batches. With
 * standardisation x'_j = (x_j - mean_j) / scale_j, layer 0 is z = b + Σ_j W[:,j]·x'_j. For a column
 * where 0 is a typical value (|mean_j / scale_j| <= SPARSE_MAX_Z: images' background, one-hot and
 * count features), split x'_j = x_j / scale_j + x'_j(0): the x'_j(0) terms go into the constant
 * c = b + Σ W[:,j]·x'_j(0), and column j costs nothing when x_j == 0. Columns where 0 is far from
 * the mean (a year, a price) are never split — that would add and cancel large terms — and are
 * always computed as x'_j. So u_j = (x_j - m_j) · inv_j with m_j = 0 in split columns, mean_j in
 * the others, inv_j = 1 / scale_j, and z = c + Σ over u_j != 0 of u_j·Wᵀ[j] (core/sparse.h: W is
 * kept transposed, row j = the weights of input j). A Fashion-MNIST image (1/2–2/3 zeros) reads
 * a third to a half of layer 0's weights (bench/RESULTS.md, "Forward pass: the sparse first
 * layer"). The result equals the dense path's up to float rounding (tests/core/test_netsparse.c
 * checks 1e-5 × (1 + each row's largest output)). */
#define SPARSE_MAX_Z  4.0
#define SPARSE_MIN_IN 16 /* narrower inputs: the dense product is as cheap */
#define SPARSE_GROUP  64 /* rows gathered per sparse_rows call */
struct sparse0 {
    float *wt;  /* n_in × width[1], layer 0's W transposed, in sparse_pack's panels */
    float *c;   /* width[1]: the response to x_j = 0 in every split column */
    float *m;   /* n_in: 0 in split columns, x_mean elsewhere */
    float *inv; /* n_in: 1 / x_scale */
};

static void sparse0_free(struct sparse0 *s)
{
    if (!s) return;
    free(s->wt);
    free(s->c);
    free(s->m);
    free(s->inv);
    free(s);
}

/* Every mutable accessor drops the fast path: it is a function of the parameters. */
static void net_touch(net *n)
{
    sparse0_free(n->s0);
    n->s0 = NULL;
}

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const task_names[TASK_COUNT] = {
    [TASK_CLASSIFICATION] = "classification",
    [TASK_REGRESSION] = "regression",
    [TASK_AUTOENCODER] = "autoencoder",
};

const char *task_name(net_task t)
{
    if ((unsigned)t < TASK_COUNT) return task_names[t];
    return "unknown";
}

mlp_err task_parse(const char *s, net_task *out)
{
    int i;
    mlp_err e = mlp_name_index(s, task_names, TASK_COUNT, &i);
    if (e == MLP_OK) *out = (net_task)i;
    return e;
}

/* ---- spec ----------------------------------------------------------------------------------- */

/* MLP_EINVAL naming the field at fault. */
__attribute__((format(printf, 3, 4))) static mlp_err spec_fail(mlp_error *err, const char *field,
                                                               const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        snprintf(err->field, sizeof err->field, "%s", field);
    }
    return MLP_EINVAL;
}

mlp_err net_spec_check(const net_spec *spec, mlp_error *err)
{
    if (!spec) return mlp_fail(err, MLP_EINVAL, "no network spec");
    if ((unsigned)spec->task >= TASK_COUNT)
        return spec_fail(err, "task", "unknown task %d", spec->task);
    if (spec->n_in < 1)
        return spec_fail(err, "features", "the network needs at least one input, got %d",
                         spec->n_in);
    if (spec->n_out < 1)
        return spec_fail(err, "target", "the network needs at least one output, got %d",
                         spec->n_out);
    if (spec->n_hidden < 0 || spec->n_hidden > NET_MAX_HIDDEN)
        return spec_fail(err, "params.hidden", "at most %d hidden layers are allowed, got %d",
                         NET_MAX_HIDDEN, spec->n_hidden);
    for (int i = 0; i < spec->n_hidden; i++)
        if (spec->hidden[i] < 1 || spec->hidden[i] > NET_MAX_WIDTH)
            return spec_fail(err, "params.hidden",
                             "hidden layer %d has width %d; each must be 1..65536", i + 1,
                             spec->hidden[i]);
    if ((unsigned)spec->act >= ACT_COUNT || spec->act == ACT_SOFTMAX)
        return spec_fail(err, "params.activation",
                         "hidden activation %d is not an element-wise activation", spec->act);
    if ((unsigned)spec->out_act >= ACT_COUNT)
        return spec_fail(err, "params.output_activation", "unknown output activation %d",
                         spec->out_act);
    if ((unsigned)spec->loss >= LOSS_COUNT)
        return spec_fail(err, "params.loss", "unknown loss %d", spec->loss);
    if (!loss_pair_ok(spec->loss, spec->out_act)) {
        return spec_fail(err, "params.loss", "loss %s cannot be used with output_activation %s%s",
                         loss_name(spec->loss), act_name(spec->out_act),
                         spec->loss == LOSS_CROSS_ENTROPY ? " (cross_entropy needs softmax)"
                         : spec->loss == LOSS_LOGISTIC    ? " (logistic needs sigmoid)"
                                                          : " (squared takes any but softmax)");
    }
    if (spec->batch_norm != 0 && spec->batch_norm != 1)
        return spec_fail(err, "params.batch_norm", "batch_norm must be 0 or 1, got %d",
                         spec->batch_norm);
    switch (spec->task) {
    case TASK_CLASSIFICATION:
        /* the outputs are class probabilities */
        if (spec->out_act != ACT_SOFTMAX && spec->out_act != ACT_SIGMOID) {
            return spec_fail(err, "params.output_activation",
                             "classification needs output_activation softmax or sigmoid, not %s",
                             act_name(spec->out_act));
        }
        if (spec->out_act == ACT_SOFTMAX && spec->n_out < 2)
            return spec_fail(err, "target",
                             "softmax classification needs at least 2 classes, got %d",
                             spec->n_out);
        break;
    case TASK_REGRESSION:
    case TASK_AUTOENCODER:
        if (spec->out_act == ACT_SOFTMAX) {
            return spec_fail(err, "params.output_activation",
                             "%s cannot use output_activation softmax", task_name(spec->task));
        }
        if (spec->task == TASK_AUTOENCODER && spec->n_hidden < 1)
            return spec_fail(err, "params.hidden",
                             "an autoencoder needs at least one hidden layer (its code)");
        if (spec->task == TASK_AUTOENCODER && spec->n_out != spec->n_in)
            return spec_fail(err, "task",
                             "an autoencoder reconstructs its input: n_out %d must equal n_in %d",
                             spec->n_out, spec->n_in);
        break;
    case TASK_COUNT:
    default:
        break;
    }
    return MLP_OK;
}

/* a * b + c into *out, 0 on size_t overflow. */
static int mul_add(size_t a, size_t b, size_t c, size_t *out)
{
    if (b && a > (SIZE_MAX - c) / b) return 0;
    *out = a * b + c;
    return 1;
}

/* SIZE_MAX for a spec whose layer count or widths are out of range (or whose count overflows),
 * so that a --max-params bound always rejects it. */
size_t net_spec_param_count(const net_spec *spec)
{
    if (!spec || spec->n_in < 1 || spec->n_out < 1 || spec->n_hidden < 0 ||
        spec->n_hidden > NET_MAX_HIDDEN)
        return SIZE_MAX;
    size_t total = 0;
    int in = spec->n_in;
    for (int l = 0; l <= spec->n_hidden; l++) {
        int out = l < spec->n_hidden ? spec->hidden[l] : spec->n_out;
        if (out < 1) return SIZE_MAX;
        size_t layer;
        if (!mul_add((size_t)out, (size_t)in, (size_t)out, &layer)) return SIZE_MAX;
        if (total > SIZE_MAX - layer) return SIZE_MAX;
        total += layer;
        in = out;
    }
    return total;
}

int net_spec_code_layer(const net_spec *spec)
{
    if (!spec || spec->n_hidden < 1 || spec->n_hidden > NET_MAX_HIDDEN) return -1;
    int best = 0;
    for (int i = 1; i < spec->n_hidden; i++)
        if (spec->hidden[i] < spec->hidden[best]) best = i;
    return best;
}

/* ---- lifetime and accessors ----------------------------------------------------------------- */

static size_t block_floats(const net *n)
{
    return n->n_params + 2 * (size_t)n->spec.n_in + 2 * (size_t)n->spec.n_out;
}

mlp_err net_new(const net_spec *spec, net **out, mlp_error *err)
{
    mlp_err rc = net_spec_check(spec, err);
    net *n = NULL;
    if (rc != MLP_OK) goto out;
    rc = MLP_ENOMEM;
    n = calloc(1, sizeof *n);
    if (!n) goto out;
    n->spec = *spec;
    n->spec.batch_norm = 0;
    for (int i = spec->n_hidden; i < NET_MAX_HIDDEN; i++) n->spec.hidden[i] = 0;
    n->n_layers = spec->n_hidden + 1;
    n->width[0] = spec->n_in;
    for (int l = 0; l < n->n_layers; l++)
        n->width[l + 1] = l < spec->n_hidden ? spec->hidden[l] : spec->n_out;
    size_t off = 0;
    for (int l = 0; l < n->n_layers; l++) {
        n->w_off[l] = off;
        off += (size_t)n->width[l + 1] * (size_t)n->width[l];
        n->b_off[l] = off;
        off += (size_t)n->width[l + 1];
    }
    n->n_params = off;
    assert(off == net_spec_param_count(spec));
    /* x' lives in buffer 0; hidden layer l writes buffer (l + 1) % 2; the last layer writes Y */
    n->scratch_w[0] = (size_t)spec->n_in;
    for (int l = 0; l < spec->n_hidden; l++) {
        size_t *w = &n->scratch_w[(l + 1) & 1];
        if ((size_t)spec->hidden[l] > *w) *w = (size_t)spec->hidden[l];
    }
    size_t floats = block_floats(n);
    if (floats > SIZE_MAX / sizeof(float)) goto out;
    n->block = calloc(floats, sizeof(float));
    if (!n->block) goto out;
    for (int j = 0; j < spec->n_in; j++) net_x_scale(n)[j] = 1.0f;
    for (int j = 0; j < spec->n_out; j++) net_y_scale(n)[j] = 1.0f;
    rc = MLP_OK;
out:
    if (rc == MLP_ENOMEM)
        mlp_fail(err, rc, "out of memory for a network of %zu parameters",
                 n ? n->n_params : (size_t)0);
    if (rc != MLP_OK) {
        net_free(n);
        n = NULL;
    }
    *out = n;
    return rc;
}

mlp_err net_clone(const net *n, net **out)
{
    *out = NULL;
    if (!n) return MLP_EINVAL;
    net *c = malloc(sizeof *c);
    if (!c) goto fail;
    *c = *n;
    c->s0 = NULL;
    c->block = malloc(block_floats(n) * sizeof(float));
    if (!c->block) goto fail;
    memcpy(c->block, n->block, block_floats(n) * sizeof(float));
    *out = c;
    return MLP_OK;
fail:
    free(c);
    *out = NULL;
    return MLP_ENOMEM;
}

void net_free(net *n)
{
    if (!n) return;
    sparse0_free(n->s0);
    free(n->block);
    free(n);
}

const net_spec *net_get_spec(const net *n)
{
    return &n->spec;
}
size_t net_param_count(const net *n)
{
    return n->n_params;
}
float *net_params(net *n)
{
    net_touch(n);
    return n->block;
}
const float *net_params_const(const net *n)
{
    return n->block;
}

void net_layer(const net *n, int l, const float **W, const float **b, int *out, int *in)
{
    assert(l >= 0 && l < n->n_layers);
    if (W) *W = n->block + n->w_off[l];
    if (b) *b = n->block + n->b_off[l];
    if (out) *out = n->width[l + 1];
    if (in) *in = n->width[l];
}

float *net_layer_w(net *n, int l)
{
    assert(l >= 0 && l < n->n_layers);
    net_touch(n);
    return n->block + n->w_off[l];
}

float *net_layer_b(net *n, int l)
{
    assert(l >= 0 && l < n->n_layers);
    net_touch(n);
    return n->block + n->b_off[l];
}

float *net_x_mean(net *n)
{
    net_touch(n);
    return n->block + n->n_params;
}
float *net_x_scale(net *n)
{
    net_touch(n);
    return n->block + n->n_params + (size_t)n->spec.n_in;
}
float *net_y_mean(net *n)
{
    return n->block + n->n_params + 2 * (size_t)n->spec.n_in;
}
float *net_y_scale(net *n)
{
    return n->block + n->n_params + 2 * (size_t)n->spec.n_in + (size_t)n->spec.n_out;
}
const float *net_x_mean_const(const net *n)
{
    return n->block + n->n_params;
}
const float *net_x_scale_const(const net *n)
{
    return n->block + n->n_params + (size_t)n->spec.n_in;
}
const float *net_y_mean_const(const net *n)
{
    return net_y_mean((net *)n);
}
const float *net_y_scale_const(const net *n)
{
    return net_y_scale((net *)n);
}

int net_code_dim(const net *n)
{
    int c = net_spec_code_layer(&n->spec);
    return c < 0 ? 0 : n->spec.hidden[c];
}

/* ---- inference ------------------------------------------------------------------------------ */

size_t net_scratch_floats(const net *n, int rows)
{
    if (rows <= 0) return 0;
    return (size_t)rows * (n->scratch_w[0] + n->scratch_w[1]);
}

/* Z (rows × out) = X (rows × in) · Wᵀ + b, W out×in row-major. */
static void dense_forward(const float *X, int rows, int in, const float *W, const float *b, int out,
                          float *Z)
{
    if (rows == 1) {
        /* z = W·x + b */
        memcpy(Z, b, (size_t)out * sizeof *Z);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, in, X, 1, 1.0f, Z, 1);
        return;
    }
    for (int r = 0; r < rows; r++) memcpy(Z + (size_t)r * (size_t)out, b, (size_t)out * sizeof *Z);
    /* Z = X·Wᵀ + b (b already broadcast into Z, beta = 1) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, X, in, W, in, 1.0f, Z,
                out);
}

mlp_err net_prepare_serving(net *n)
{
    if (!n) return MLP_EINVAL;
    net_touch(n);
    const int in = n->width[0], out = n->width[1];
    if (in < SPARSE_MIN_IN) return MLP_OK;
    mlp_err rc = MLP_ENOMEM;
    unsigned char *split = malloc((size_t)in);
    struct sparse0 *s = calloc(1, sizeof *s);
    if (!split || !s) goto out;
    s->wt = malloc((size_t)in * (size_t)out * sizeof *s->wt);
    s->c = malloc((size_t)out * sizeof *s->c);
    s->m = malloc((size_t)in * sizeof *s->m);
    s->inv = malloc((size_t)in * sizeof *s->inv);
    if (!s->wt || !s->c || !s->m || !s->inv) goto out;
    const float *W = n->block + n->w_off[0], *b = n->block + n->b_off[0];
    const float *mean = net_x_mean_const(n), *scale = net_x_scale_const(n);
    int any = 0;
    for (int j = 0; j < in; j++) {
        double z0 = -(double)mean[j] / (double)scale[j];
        split[j] = scale[j] != 0.0f && isfinite(z0) && fabs(z0) <= SPARSE_MAX_Z;
        any |= split[j];
        s->m[j] = split[j] ? 0.0f : mean[j];
        s->inv[j] = 1.0f / scale[j];
    }
    rc = MLP_OK;
    if (!any) goto out; /* nothing to skip: the dense path */
    for (int i = 0; i < out; i++) {
        const float *w = W + (size_t)i * (size_t)in;
        double acc = b[i];
        for (int j = 0; j < in; j++) {
            if (split[j]) acc += (double)w[j] * (double)((0.0f - mean[j]) / scale[j]);
        }
        s->c[i] = (float)acc;
    }
    sparse_pack(W, in, out, s->wt);
    n->s0 = s;
    s = NULL;
out:
    sparse0_free(s);
    free(split);
    return rc;
}

int net_serving_prepared(const net *n)
{
    return n && n->s0;
}

/* Xs (rows × n_in) = (X - x_mean) / x_scale. */
static void standardise_rows(const net *n, const float *X, int rows, float *Xs)
{
    const int n_in = n->spec.n_in;
    const float *mean = net_x_mean_const(n), *scale = net_x_scale_const(n);
    for (int r = 0; r < rows; r++) {
        const float *x = X + (size_t)r * (size_t)n_in;
        float *xs = Xs + (size_t)r * (size_t)n_in;
        for (int j = 0; j < n_in; j++) xs[j] = (x[j] - mean[j]) / scale[j];
    }
}

/* Layer 0 of `rows` rows through the fast path: z (rows × width[1]) = c + Σ u_j·Wᵀ[j] over each
 * row's nonzero u_j, 64 rows at a time. A group of rows with more nonzero inputs than
 * sparse_batch_max_density allows goes through the dense product instead (sgemm: it wins on
 * dense batches); one row always takes the sparse one. lists: rows × n_in floats of scratch. */
static void sparse0_forward(const net *n, const float *X, int rows, float *lists, float *z)
{
    const struct sparse0 *s = n->s0;
    const int in = n->width[0], out = n->width[1];
    const double most = rows == 1 ? 1.0 : sparse_batch_max_density();
    int nnz[SPARSE_GROUP];
    for (int r0 = 0; r0 < rows; r0 += SPARSE_GROUP) {
        int g = rows - r0 < SPARSE_GROUP ? rows - r0 : SPARSE_GROUP;
        const float *x0 = X + (size_t)r0 * (size_t)in;
        float *l0 = lists + (size_t)r0 * (size_t)in, *z0 = z + (size_t)r0 * (size_t)out;
        double used = 0;
        for (int r = 0; r < g && rows > 1; r++) used += sparse_count(x0 + (size_t)r * in, s->m, in);
        if (used <= most * g * (double)in) {
            for (int r = 0; r < g; r++)
                nnz[r] = sparse_gather(x0 + (size_t)r * (size_t)in, s->m, s->inv, in,
                                       l0 + (size_t)r * (size_t)in);
            sparse_rows(s->wt, in, out, s->c, l0, (size_t)in, nnz, g, z0, (size_t)out);
        } else { /* too few zeros in these rows for the sparse product to win: the dense one */
            standardise_rows(n, x0, g, l0);
            dense_forward(l0, g, in, n->block + n->w_off[0], n->block + n->b_off[0], out, z0);
        }
    }
}

/* act_forward's relu in place, 8 values a step: the same values, without a branch per value
 * (a hidden layer's signs are a coin toss for the branch predictor). */
static void relu_inplace(float *z, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int t = 0; t < 8; t++) z[i + t] = z[i + t] > 0.0f ? z[i + t] : 0.0f;
    for (; i < n; i++) z[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

/* The activation of layer l on its rows × out values in place. */
static void activate(const net *n, int l, float *z, int rows, int out)
{
    const act_kind k = l < n->n_layers - 1 ? n->spec.act : n->spec.out_act;
    if (k == ACT_RELU)
        relu_inplace(z, (size_t)rows * (size_t)out);
    else if (k == ACT_SOFTMAX)
        act_softmax(z, z, rows, out);
    else
        act_forward(k, z, z, (size_t)rows * (size_t)out);
}

/* Runs layers 0 .. last on X, leaving layer `last`'s activations in dst (rows × width[last+1]).
 * Layer n_layers - 1 uses out_act, the others the hidden activation. */
static void forward_to(const net *n, const float *X, int rows, int last, float *dst, float *scratch)
{
    float *buf[2] = {scratch, scratch + (size_t)rows * n->scratch_w[0]};
    const int fast0 = n->s0 != NULL;
    /* the fast path standardises the inputs it uses itself */
    if (!fast0) standardise_rows(n, X, rows, buf[0]);
    const float *in = buf[0];
    for (int l = 0; l <= last; l++) {
        const int out = n->width[l + 1];
        float *z = l == last ? dst : buf[(l + 1) & 1];
        if (l == 0 && fast0)
            sparse0_forward(n, X, rows, buf[0], z);
        else
            dense_forward(in, rows, n->width[l], n->block + n->w_off[l], n->block + n->b_off[l],
                          out, z);
        activate(n, l, z, rows, out);
        in = z;
    }
}

mlp_err net_predict(const net *n, const float *X, int rows, float *Y, float *scratch)
{
    if (!n || rows < 0 || (rows > 0 && (!X || !Y || !scratch))) return MLP_EINVAL;
    if (rows == 0) return MLP_OK;
    forward_to(n, X, rows, n->n_layers - 1, Y, scratch);
    /* y = y'·y_scale + y_mean (the identity, exactly, for mean 0 and scale 1). Class
     * probabilities are never rescaled, whatever the vectors hold. */
    if (n->spec.task == TASK_CLASSIFICATION) return MLP_OK;
    const int k = n->spec.n_out;
    const float *mean = net_y_mean_const(n), *scale = net_y_scale_const(n);
    for (int r = 0; r < rows; r++) {
        float *y = Y + (size_t)r * (size_t)k;
        for (int j = 0; j < k; j++) y[j] = y[j] * scale[j] + mean[j];
    }
    return MLP_OK;
}

mlp_err net_encode(const net *n, const float *X, int rows, float *codes, float *scratch)
{
    if (!n || rows < 0 || (rows > 0 && (!X || !codes || !scratch))) return MLP_EINVAL;
    int c = net_spec_code_layer(&n->spec);
    if (c < 0) return MLP_EINVAL;
    if (rows == 0) return MLP_OK;
    forward_to(n, X, rows, c, codes, scratch);
    return MLP_OK;
}

int net_argmax_row(const float *y, int k)
{
    assert(y && k >= 1);
    if (k == 1) return y[0] >= 0.5f ? 1 : 0;
    int best = 0;
    for (int i = 1; i < k; i++)
        if (y[i] > y[best]) best = i;
    return best;
}

double net_recon_error(const float *x, const float *y, int d)
{
    assert(x && y && d >= 1);
    double se = 0;
    for (int c = 0; c < d; c++) se += ((double)y[c] - x[c]) * ((double)y[c] - x[c]);
    return se / d;
}

/* ---- serialisation -------------------------------------------------------------------------- */

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    le_put_u32(p, v);
    return p + 4;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    le_put_u64(p, v);
    return p + 8;
}

static unsigned char *put_f32s(unsigned char *p, const float *v, size_t n)
{
    le_put_f32s(p, v, n);
    return p + 4 * n;
}

/* Bounds-checked reader: every read first checks the remaining length. */
typedef struct {
    const unsigned char *p;
    size_t left;
} reader;

static int rd_u32(reader *r, uint32_t *v)
{
    if (r->left < 4) return 0;
    *v = le_get_u32(r->p);
    r->p += 4;
    r->left -= 4;
    return 1;
}

static int rd_int(reader *r, int *v)
{
    uint32_t u;
    if (!rd_u32(r, &u) || u > INT_MAX) return 0;
    *v = (int)u;
    return 1;
}

static int rd_u64(reader *r, uint64_t *v)
{
    if (r->left < 8) return 0;
    *v = le_get_u64(r->p);
    r->p += 8;
    r->left -= 8;
    return 1;
}

static int rd_f32s(reader *r, float *v, size_t n)
{
    if (n > r->left / 4) return 0;
    le_get_f32s(v, r->p, n);
    r->p += 4 * n;
    r->left -= 4 * n;
    return 1;
}

mlp_err net_save(const net *n, void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    const net_spec *s = &n->spec;
    size_t floats = block_floats(n), size;
    if (floats > (SIZE_MAX - NET_HEADER_MIN - 4 * NET_MAX_HIDDEN - 4) / 4) return MLP_ENOMEM;
    size = NET_HEADER_MIN + 4 * (size_t)s->n_hidden + 4 * floats + 4;
    unsigned char *b = malloc(size), *p = b;
    if (!b) return MLP_ENOMEM;
    memcpy(p, NET_MAGIC, 4);
    p += 4;
    p = put_u32(p, NET_FORMAT_V1);
    p = put_u32(p, (uint32_t)s->task);
    p = put_u32(p, (uint32_t)s->n_in);
    p = put_u32(p, (uint32_t)s->n_out);
    p = put_u32(p, (uint32_t)s->n_hidden);
    for (int i = 0; i < s->n_hidden; i++) p = put_u32(p, (uint32_t)s->hidden[i]);
    p = put_u32(p, (uint32_t)s->act);
    p = put_u32(p, (uint32_t)s->out_act);
    p = put_u32(p, (uint32_t)s->loss);
    p = put_u32(p, (uint32_t)s->batch_norm);
    p = put_u64(p, (uint64_t)n->n_params);
    p = put_f32s(p, n->block, floats); /* params, x_mean, x_scale, y_mean, y_scale in order */
    p = put_u32(p, crc32_of(b, (size_t)(p - b)));
    assert((size_t)(p - b) == size);
    *buf = b;
    *len = size;
    return MLP_OK;
}

static mlp_err corrupt(mlp_error *err, const char *what)
{
    return mlp_fail(err, MLP_ECORRUPT, "not a valid saved network: %s", what);
}

mlp_err net_load(const void *buf, size_t len, net **out, mlp_error *err)
{
    net *n = NULL;
    mlp_err rc = MLP_ECORRUPT;
    const unsigned char *b = buf;
    *out = NULL;
    if (!b || len < 4 || memcmp(b, NET_MAGIC, 4) != 0) {
        rc = corrupt(err, len < 4 ? "truncated before the magic" : "bad magic (want \"MLPN\")");
        goto out;
    }
    if (len < 8) {
        rc = corrupt(err, "truncated before the version");
        goto out;
    }
    uint32_t version = le_get_u32(b + 4);
    if (version != NET_FORMAT_V1) {
        rc = mlp_fail(err, MLP_ECORRUPT,
                      "unsupported network format version %u (this build reads 1)",
                      (unsigned)version);
        goto out;
    }
    if (len < NET_HEADER_MIN + 4) {
        rc = corrupt(err, "truncated header");
        goto out;
    }
    if (crc32_of(b, len - 4) != le_get_u32(b + len - 4)) {
        rc = corrupt(err, "checksum mismatch (truncated or damaged)");
        goto out;
    }

    reader r = {b + 8, len - 8 - 4}; /* after magic and version, before the CRC */
    net_spec spec;
    memset(&spec, 0, sizeof spec);
    uint32_t task, act, out_act, loss;
    uint64_t n_params;
    if (!rd_u32(&r, &task) || !rd_int(&r, &spec.n_in) || !rd_int(&r, &spec.n_out) ||
        !rd_int(&r, &spec.n_hidden)) {
        rc = corrupt(err, "bad or truncated header");
        goto out;
    }
    if (spec.n_hidden > NET_MAX_HIDDEN) {
        rc = corrupt(err, "too many hidden layers");
        goto out;
    }
    for (int i = 0; i < spec.n_hidden; i++)
        if (!rd_int(&r, &spec.hidden[i])) {
            rc = corrupt(err, "bad or truncated hidden widths");
            goto out;
        }
    if (!rd_u32(&r, &act) || !rd_u32(&r, &out_act) || !rd_u32(&r, &loss) ||
        !rd_int(&r, &spec.batch_norm) || !rd_u64(&r, &n_params)) {
        rc = corrupt(err, "bad or truncated header");
        goto out;
    }
    if (task >= TASK_COUNT || act >= ACT_COUNT || out_act >= ACT_COUNT || loss >= LOSS_COUNT) {
        rc = corrupt(err, "unknown task, activation or loss code");
        goto out;
    }
    spec.task = (net_task)task;
    spec.act = (act_kind)act;
    spec.out_act = (act_kind)out_act;
    spec.loss = (loss_kind)loss;
    mlp_error why;
    mlp_error_clear(&why);
    if (net_spec_check(&spec, &why) != MLP_OK) {
        rc = mlp_fail(err, MLP_ECORRUPT, "not a valid saved network: stored spec is invalid: %s",
                      why.msg);
        goto out;
    }
    if (n_params != (uint64_t)net_spec_param_count(&spec)) {
        rc = corrupt(err, "parameter count does not match the layer widths");
        goto out;
    }
    /* exact remaining length: n_params + 2 n_in + 2 n_out floats, checked without overflow */
    size_t want_floats = (size_t)n_params;
    size_t std_floats = 2 * (size_t)spec.n_in + 2 * (size_t)spec.n_out;
    if (r.left % 4 != 0 || r.left / 4 < std_floats || r.left / 4 - std_floats != want_floats) {
        rc = corrupt(err, "length does not match the layer widths");
        goto out;
    }
    rc = net_new(&spec, &n, err);
    if (rc != MLP_OK) goto out;
    rc = MLP_ECORRUPT;
    if (!rd_f32s(&r, n->block, block_floats(n)) || r.left != 0) {
        rc = corrupt(err, "length does not match the layer widths");
        goto out;
    }
    const float *xs = net_x_scale_const(n), *ys = net_y_scale_const(n);
    for (int j = 0; j < spec.n_in; j++)
        if (!isfinite(xs[j]) || xs[j] == 0.0f) {
            rc = corrupt(err, "an input scale is zero or not finite");
            goto out;
        }
    for (int j = 0; j < spec.n_out; j++)
        if (!isfinite(ys[j])) {
            rc = corrupt(err, "an output scale is not finite");
            goto out;
        }
    rc = MLP_OK;
out:
    if (rc != MLP_OK) {
        net_free(n);
        n = NULL;
    }
    *out = n;
    return rc;
}
