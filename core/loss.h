/* loss.h — losses of the output layer, paired with its activation.
 *
 * The loss is the mean over rows of the per-row loss: cross_entropy -log p_y (softmax),
 * logistic sum_k BCE(sigmoid(z_k), y_k), squared 0.5 * sum_k (yhat_k - y_k)^2. Values are
 * computed from the pre-activations Z (log-sum-exp, softplus), so they stay finite for large |z|.
 * Targets come either as a dense matrix Y (rows x k) or as class labels (one-hot for softmax;
 * for logistic with k == 1 the label itself is y, with k > 1 one-vs-rest).
 * Threading: pure functions, reentrant. */
#ifndef LOSS_H
#define LOSS_H

#include "net.h"

/* Computes P = out_act(Z) (rows x k), returns the mean loss (double accumulation), and when dZ
 * is non-NULL fills dZ = d(mean loss)/dZ (already divided by rows): (P - Y)/rows for the
 * canonical pairs softmax + cross_entropy and sigmoid + logistic, (P - Y) * out_act'(Z)/rows
 * for squared. Exactly one of Y and labels is non-NULL. P may not alias Z; dZ may alias P. */
double loss_forward(loss_kind loss, act_kind out_act, const float *Z, float *P, const float *Y,
                    const int *labels, int rows, int k, float *dZ);
/* 1 when (loss, out_act) is an allowed pairing: cross_entropy needs softmax, logistic needs
 * sigmoid, squared takes any activation but softmax. */
int loss_pair_ok(loss_kind loss, act_kind out_act);

#endif
