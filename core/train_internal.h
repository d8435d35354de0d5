/* train_internal.h — test-only access to a trainer's loss and gradient, for the gradient checks
 * in tests/core/test_grad.c. Not part of the public contract; the daemon must not use it.
 *
 * Threading: as train.h (a trainer belongs to one thread). */
#ifndef TRAIN_INTERNAL_H
#define TRAIN_INTERNAL_H

#include "train.h"

/* The trainable parameters (dense weights and biases in net layout, then batch-norm gamma and
 * beta per hidden layer). Borrowed, writable; *n receives their count. */
float *trainer_params_mut(trainer *t, size_t *n);

/* Training-mode loss of rows idx[0..n) of the training data (batch statistics; dropout and
 * noise as configured, so tests turn them off), including 0.5·weight_decay·‖W‖², and its
 * gradient with respect to every trainable parameter. Does not update the weights (batch-norm
 * running statistics do move). 1 <= n <= min(batch_size, rows). *grad is borrowed until the
 * next call. */
mlp_err trainer_loss_grad(trainer *t, const int *idx, int n, double *loss, const float **grad);

#endif
