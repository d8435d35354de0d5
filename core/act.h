/* act.h — activation functions, forward and backward, over flat float arrays.
 *
 * Numerically stable forms: sigmoid and softplus do not overflow for |z| >= 100, softmax uses
 * log-sum-exp. Loops are plain and branch-light so the compiler vectorises them.
 * Threading: pure functions, reentrant. */
#ifndef ACT_H
#define ACT_H

#include "net.h"

#include <stddef.h>

/* A[i] = act(Z[i]) for i < n. Not for ACT_SOFTMAX (use act_softmax). A may alias Z. */
void act_forward(act_kind a, const float *Z, float *A, size_t n);
/* dZ[i] = dA[i] * act'(Z[i]); A = act(Z) is passed because some derivatives are cheaper from it.
 * Not for ACT_SOFTMAX. dZ may alias dA. */
void act_backward(act_kind a, const float *Z, const float *A, const float *dA, float *dZ, size_t n);
/* P = row-wise softmax of Z (rows x k), stable. P may alias Z. */
void act_softmax(const float *Z, float *P, int rows, int k);
/* Scalar forms in double, for gradient checks and reference code. */
double act_scalar(act_kind a, double z);
double act_scalar_deriv(act_kind a, double z);

#endif
