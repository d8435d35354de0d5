/* net.h — a trained, immutable multi-layer perceptron: the thing the daemon publishes and serves.
 *
 * A net is a stack of dense layers with biases (row-major W is out×in, then b), hidden
 * activation `act` on every hidden layer and `out_act` on the last. Its parameters live in one
 * contiguous float block (layer 0 W, layer 0 b, layer 1 W, ...) so save, load, checksum and
 * optimisers work on flat vectors. A published net has batch norm folded into its dense layers
 * (running statistics) and carries the standardisation of its inputs and outputs, so
 * net_predict takes raw inputs and returns raw units.
 *
 * Owns: its parameter block, its standardisation vectors. Borrows: nothing.
 * Threading: a net is read-only after net_new/net_load/trainer_export returns; any number of
 * threads may call net_predict / net_encode on one net concurrently, each with its own scratch.
 * BLAS threading is the caller's choice (openblas_set_num_threads is process-wide). */
#ifndef NET_H
#define NET_H

#include "mlp.h"

#include <stddef.h>
#include <stdint.h>

#define NET_MAX_HIDDEN 32

typedef enum {
    ACT_LINEAR = 0,
    ACT_SIGMOID,
    ACT_TANH,
    ACT_RELU,
    ACT_LEAKY_RELU, /* max(0.1 z, z) */
    ACT_ELU,        /* alpha = 1 */
    ACT_SOFTPLUS,
    ACT_SWISH,    /* z * sigmoid(z) */
    ACT_MISH,     /* z * tanh(softplus(z)) */
    ACT_SOFTSIGN, /* z / (1 + |z|) */
    ACT_SOFTMAX,  /* output layer only */
    ACT_COUNT
} act_kind;

typedef enum { TASK_CLASSIFICATION = 0, TASK_REGRESSION, TASK_AUTOENCODER, TASK_COUNT } net_task;

typedef enum {
    LOSS_CROSS_ENTROPY = 0, /* softmax output, one-hot targets, mean over rows of -log p_y */
    LOSS_LOGISTIC,          /* sigmoid outputs, 0/1 targets, mean over rows of summed BCE */
    LOSS_SQUARED,           /* mean over rows of 0.5 * sum_k (yhat - y)^2 */
    LOSS_COUNT
} loss_kind;

typedef struct {
    net_task task;
    int n_in;     /* input width, >= 1 */
    int n_out;    /* output width: classes (softmax), targets, or n_in (autoencoder) */
    int n_hidden; /* number of hidden layers, 0..NET_MAX_HIDDEN */
    int hidden[NET_MAX_HIDDEN]; /* widths of the hidden layers, each 1..65536 */
    act_kind act;               /* hidden activation (not ACT_SOFTMAX) */
    act_kind out_act;           /* ACT_SOFTMAX, ACT_SIGMOID, ACT_LINEAR or any hidden activation */
    loss_kind loss;             /* cross_entropy needs softmax, logistic needs sigmoid */
    int batch_norm;             /* training only: BN after each hidden dense layer, before act */
} net_spec;

typedef struct net net;

/* Names as the API spells them ("leaky_relu", "cross_entropy", "autoencoder"). Static strings. */
const char *act_name(act_kind a);
const char *loss_name(loss_kind l);
const char *task_name(net_task t);
/* Parse a name; MLP_EINVAL if unknown. */
mlp_err act_parse(const char *s, act_kind *out);
mlp_err loss_parse(const char *s, loss_kind *out);
mlp_err task_parse(const char *s, net_task *out);

/* Checks a spec (widths, activation/loss pairing, autoencoder n_out == n_in). */
mlp_err net_spec_check(const net_spec *spec, mlp_error *err);
/* Total parameters of a spec (weights + biases), for the --max-params bound. */
size_t net_spec_param_count(const net_spec *spec);
/* Index (0-based among hidden layers) of the narrowest hidden layer: the autoencoder's code.
 * First one on ties; -1 when there is no hidden layer. */
int net_spec_code_layer(const net_spec *spec);

/* New net with zero parameters and identity standardisation. *out is new: net_free it. */
mlp_err net_new(const net_spec *spec, net **out, mlp_error *err);
/* Deep copy. *out is new. */
mlp_err net_clone(const net *n, net **out);
/* NULL-tolerant. */
void net_free(net *n);

/* Borrowed views, valid until net_free. The spec of a published net has batch_norm = 0. */
const net_spec *net_get_spec(const net *n);
size_t net_param_count(const net *n);
float *net_params(net *n);
const float *net_params_const(const net *n);
/* Layer l (0 .. n_hidden): W is out×in row-major, b is out. Borrowed. */
void net_layer(const net *n, int l, const float **W, const float **b, int *out, int *in);
float *net_layer_w(net *n, int l);
float *net_layer_b(net *n, int l);
/* Standardisation, applied as x' = (x - mean) / scale on input and y = y' * scale + mean on
 * output (regression, and linear-output autoencoders). Length n_in resp. n_out. Borrowed,
 * writable so that the trainer and importer can set them. */
float *net_x_mean(net *n);
float *net_x_scale(net *n);
float *net_y_mean(net *n);
float *net_y_scale(net *n);
const float *net_x_mean_const(const net *n);
const float *net_x_scale_const(const net *n);
const float *net_y_mean_const(const net *n);
const float *net_y_scale_const(const net *n);

/* Width of the autoencoder code (narrowest hidden layer); 0 when there is none. */
int net_code_dim(const net *n);

/* Floats of scratch that net_predict / net_encode need for `rows` rows. */
size_t net_scratch_floats(const net *n, int rows);
/* Y (rows × n_out) = net(X (rows × n_in)) in raw units: probabilities for classification,
 * target units for regression, reconstructions for autoencoders. rows == 1 uses sgemv, more
 * rows sgemm; a prepared net's layer 0 uses the sparse product of core/sparse.h instead (batches:
 * where the rows have zeros enough for it to win).
 * scratch: net_scratch_floats(n, rows) floats, caller-owned. Reentrant. */
mlp_err net_predict(const net *n, const float *X, int rows, float *Y, float *scratch);
/* Prepares the fast path of layer 0 for serving, one row or a batch: inputs equal to 0 skip
 * their weights (see net.c, struct sparse0; n_in × width[1] more floats). Call after the last
 * change of the parameters and before sharing the net; every mutable accessor above drops it again.
 * Results equal the dense path's up to float rounding, and a row's results do not depend on the
 * rows batched with it. MLP_ENOMEM leaves the dense path in place. */
mlp_err net_prepare_serving(net *n);
/* 1 while the fast path of net_prepare_serving is in place (some column can be skipped). */
int net_serving_prepared(const net *n);
/* codes (rows × net_code_dim) = activations of the code layer. MLP_EINVAL without one. */
mlp_err net_encode(const net *n, const float *X, int rows, float *codes, float *scratch);

/* Label index of one output row y (k outputs, as net_predict writes them): the largest value,
 * the lowest index on ties; a single sigmoid output (k == 1) is class 1 when y[0] >= 0.5. A NaN
 * never wins (every comparison with it is false), so a row of NaN is class 0. */
int net_argmax_row(const float *y, int k);
/* Mean squared error of one row's reconstruction y against its input x (d values each), summed
 * in double: sum_c (y_c - x_c)^2 / d. NaN or infinite when a value is. */
double net_recon_error(const float *x, const float *y, int d);

/* Serialises to a versioned, checksummed (CRC-32), little-endian buffer. *buf is new (free()). */
mlp_err net_save(const net *n, void **buf, size_t *len);
/* Parses such a buffer. Truncated, corrupted or wrong-version input is MLP_ECORRUPT, never a
 * crash. *out is new. */
mlp_err net_load(const void *buf, size_t len, net **out, mlp_error *err);

#endif
