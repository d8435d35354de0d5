/* onnx_import.h — reads an untrusted ONNX file (a serialized ModelProto) holding a multi-layer
 * perceptron and turns it into mlpd's net: the graph is parsed by libprotobuf-c (server/onnx.h)
 * under a byte budget, bounded by server/onnx.h's limits, then walked node by node, in the
 * file's (topological) order, as one chain from the graph's single input to its single output.
 *
 * What the walk accepts (anything else is MLP_EINVAL naming the node, its op and this list):
 *   Gemm (alpha, beta, transB; transA = 0), MatMul followed by Add of a bias -> a dense layer;
 *   Relu, LeakyRelu (alpha 0.1), Elu (alpha 1), Sigmoid, Tanh, Softplus, Softsign, and the
 *   decompositions torch.onnx.export writes for swish (x·Sigmoid(x)), mish (x·Tanh(Softplus(x)))
 *   and softsign (x / (Abs(x) + 1)) -> the layer's activation;
 *   Softmax, LogSoftmax (axis 1 or -1) -> the output layer's softmax (mlpd serves probabilities:
 *   a LogSoftmax graph's outputs are their logarithms);
 *   BatchNormalization (inference) -> folded into the dense layer before it;
 *   Sub, Div, Mul, Add of a constant (scalar or one per unit) -> before the first layer the
 *   input standardisation, between layers folded into a dense layer, after the last one the
 *   output standardisation (y = y'·scale + mean);
 *   Identity, Dropout (inference: removed), Flatten (axis 1: mlpd's rows are flat already);
 *   Constant, and Identity of a constant, as constant sources.
 * Weights are float32 tensors (raw_data, little-endian, or float_data); external data is
 * refused. Hidden layers share one activation (mlpd's net_spec).
 *
 * A file mlpd exported carries in its metadata what undoes the folds of its standardisation; when
 * folding the network they describe gives the graph's initializers bit for bit, the import is
 * that network (onnx_import_exact), else the graph as it is.
 *
 * The task the graph suggests: a Softmax or LogSoftmax head, or a Sigmoid head with one output,
 * is classification; an output as wide as the input after a narrower hidden layer is an
 * autoencoder; anything else is regression. The caller may override it (onnx_import_net checks
 * that the head fits the task) and reads the metadata_props mlpd's exporter writes.
 *
 * Owns: the parsed message and every array derived from it. Borrows: nothing after parse returns.
 * Threading: an onnx_import belongs to one thread; separate imports run concurrently. */
#ifndef ONNX_IMPORT_H
#define ONNX_IMPORT_H

#include "mlp.h"
#include "net.h"

#include <stddef.h>

typedef struct onnx_import onnx_import;

/* Parses and checks buf (len bytes, borrowed for the call) and walks its graph. max_params bounds
 * the dense layers' weights and biases before any of them is allocated (0 = no bound beyond
 * server/onnx.h's). *out is new (onnx_import_free). A malformed file, an op or shape mlpd cannot
 * represent, or a bound exceeded is MLP_EINVAL with err->msg naming what and where (err->field
 * "onnx", or "onnx.node" for a node); MLP_ETOOLARGE for a file over ONNX_MAX_BYTES or a network
 * over max_params; MLP_ENOMEM. err may be NULL. */
mlp_err onnx_import_parse(const void *buf, size_t len, size_t max_params, onnx_import **out,
                          mlp_error *err);

/* Input and output widths, and the task the graph suggests (see above). */
int onnx_import_n_in(const onnx_import *im);
int onnx_import_n_out(const onnx_import *im);
net_task onnx_import_task(const onnx_import *im);
/* The default-domain opset the file declares. */
int onnx_import_opset(const onnx_import *im);
/* Total weights and biases of the network. */
size_t onnx_import_param_count(const onnx_import *im);
/* The value of metadata_props key `key` (borrowed, valid until onnx_import_free), or NULL. */
const char *onnx_import_meta(const onnx_import *im, const char *key);
/* 1 when onnx_import_net(im, task, ...) gives the network mlpd exported before folding its
 * standardisation into the graph, bit for bit: the file carries "mlpd.exact" metadata
 * (server/onnx.h) and folding the network they rebuild gives the graph's initializers exactly
 * (onnx_export.h "The exact fold"). 0 for any other file, which imports as its graph. */
int onnx_import_exact(const onnx_import *im, net_task task);
/* The producer_name, or "" (borrowed). */
const char *onnx_import_producer(const onnx_import *im);

/* A new net of task `task` with the graph's weights, standardisation and activations. A head
 * that does not fit the task (classification needs a Softmax or Sigmoid head, regression and
 * autoencoder no Softmax, an autoencoder as many outputs as inputs) or an output scaling on a
 * classifier is MLP_EINVAL naming it (err->field "task"). *out is new (net_free). */
mlp_err onnx_import_net(const onnx_import *im, net_task task, net **out, mlp_error *err);

/* NULL-tolerant. */
void onnx_import_free(onnx_import *im);

#endif
