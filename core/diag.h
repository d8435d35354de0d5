/* diag.h — per-layer training diagnostics: how large each layer's weight gradient is, how large
 * the optimiser's step is next to the weights, and how many units are dead (ReLU family) or
 * saturated (sigmoid, tanh). They make vanishing gradients visible: a deep sigmoid net with small
 * weights has first-layer gradients many orders of magnitude below the last layer's.
 *
 * What is measured, per dense layer l (0 = first, n_hidden = output), on the diagnostic window:
 * the mini-batches that hold the epoch's last DIAG_ROWS (1,000) rows, or the whole epoch when it
 * has fewer rows.
 *   grad_norm     mean over the window's mini-batches of ‖∂L/∂W_l‖_F, the gradient of the mean
 *                 batch loss with respect to the weights (not the biases), without weight decay.
 *   update_ratio  mean over the same mini-batches of ‖ΔW_l‖_F / ‖W_l‖_F, the step the optimiser
 *                 took (momentum, adaptive scaling and weight decay included) next to the
 *                 weights before it; left out (NaN) when a layer's weights are all zero.
 *   dead          ReLU, leaky ReLU, ELU: fraction of the layer's units whose pre-activation z
 *                 (after batch norm) was never > 0 on the window's rows.
 *   saturated     sigmoid, tanh: fraction of the layer's unit values (rows × units) on the
 *                 window's rows with |z| > DIAG_SAT_Z (4).
 *   Other activations (linear, softmax, softplus, swish, mish, softsign) get neither fraction.
 * Why a window rather than every mini-batch: the work is then a few mini-batches' worth per
 * epoch whatever its size (a weight snapshot and three passes over each layer's weights per
 * window batch), well under the 5% an epoch may pay for it (bench/diag_cost.sh).
 *
 * Owns: its accumulators, the per-unit activity flags and a weight-sized scratch vector.
 * Borrows: nothing.
 * Threading: a diag belongs to the thread of the trainer that owns it. The sums are pure
 * functions, reentrant. */
#ifndef DIAG_H
#define DIAG_H

#include "mlp.h"
#include "net.h"

#include <stddef.h>

#define DIAG_ROWS   1000 /* rows of the diagnostic window at the end of each epoch */
#define DIAG_SAT_Z  4.0f /* |z| above this is a saturated sigmoid / tanh unit */
#define DIAG_LAYERS (NET_MAX_HIDDEN + 1)

typedef enum { DIAG_UNITS_NONE = 0, DIAG_UNITS_DEAD, DIAG_UNITS_SATURATED } diag_units_kind;

/* Which unit fraction an activation gets: DEAD for relu, leaky_relu and elu; SATURATED for
 * sigmoid and tanh; NONE otherwise. */
diag_units_kind diag_units_of(act_kind a);

/* One epoch's diagnostics. */
typedef struct {
    int layers;                         /* dense layers measured; 0 when none */
    double grad_norm[DIAG_LAYERS];      /* mean ‖∂L/∂W_l‖_F */
    double update_ratio[DIAG_LAYERS];   /* mean ‖ΔW_l‖ / ‖W_l‖; NaN when undefined */
    diag_units_kind units[DIAG_LAYERS]; /* which fraction units_frac holds */
    double units_frac[DIAG_LAYERS];     /* dead or saturated fraction in [0, 1] */
} diag_layers;

typedef struct diag diag;

/* An accumulator for a net of `layers` dense layers whose input width is dim[0] and whose layer
 * l has dim[l + 1] outputs; act is the hidden activation, out_act the output layer's.
 * *out is new: diag_free it. */
mlp_err diag_new(int layers, const int *dim, act_kind act, act_kind out_act, diag **out);
/* NULL-tolerant. */
void diag_free(diag *d);
/* Bytes diag_new allocates for these shapes (for the trainer's memory estimate). */
size_t diag_mem_bytes(int layers, const int *dim, act_kind act, act_kind out_act);

/* Clears the accumulators at the start of an epoch. */
void diag_begin(diag *d);
/* Scratch of max_l dim[l]·dim[l+1] floats for the trainer's weight or velocity snapshot.
 * Borrowed until diag_free. */
float *diag_scratch(diag *d);
/* Adds one window mini-batch's measurements of layer l: grad_sq = ‖∂L/∂W_l‖², step_sq = ‖ΔW_l‖²,
 * w_sq = ‖W_l‖² before the step. */
void diag_add_step(diag *d, int l, double grad_sq, double step_sq, double w_sq);
/* Adds the pre-activations Z (rows × n, row-major; n == dim[l + 1]) of layer l on window rows to
 * its dead or saturated count (nothing for other activations). */
void diag_add_units(diag *d, int l, const float *Z, int rows, int n);
/* The epoch's result. */
void diag_end(const diag *d, diag_layers *out);

/* Σ x², Σ (a − b)², and Σ ((β·v0 − v1) / α)² (the gradient g that a fused momentum step
 * v1 = β·v0 − α·g folded into the velocity), each summed in double. alpha > 0. */
double diag_sumsq(const float *x, size_t n);
double diag_diffsq(const float *a, const float *b, size_t n);
double diag_fused_gradsq(const float *v0, const float *v1, float beta, float alpha, size_t n);

#endif
