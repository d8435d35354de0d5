/* act.c — activation functions (see act.h): float forward/backward over flat arrays, the row-wise
 * stable softmax, double scalar references for gradient checks, and the activation names of the
 * API. Every exp() is taken of a non-positive argument (exp(-|z|)) so that nothing overflows for
 * large |z|; the loops are plain per-element so the compiler can vectorise them. */
#include "act.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static const char *const act_names[ACT_COUNT] = {
    [ACT_LINEAR] = "linear",     [ACT_SIGMOID] = "sigmoid",       [ACT_TANH] = "tanh",
    [ACT_RELU] = "relu",         [ACT_LEAKY_RELU] = "leaky_relu", [ACT_ELU] = "elu",
    [ACT_SOFTPLUS] = "softplus", [ACT_SWISH] = "swish",           [ACT_MISH] = "mish",
    [ACT_SOFTSIGN] = "softsign", [ACT_SOFTMAX] = "softmax",
};

const char *act_name(act_kind a)
{
    if ((unsigned)a < ACT_COUNT) return act_names[a];
    return "unknown";
}

mlp_err act_parse(const char *s, act_kind *out)
{
    int i;
    mlp_err e = mlp_name_index(s, act_names, ACT_COUNT, &i);
    if (e == MLP_OK) *out = (act_kind)i;
    return e;
}

/* sigmoid(z) = 1/(1+e^-z) for z >= 0 and e^z/(1+e^z) below: both from e = exp(-|z|) <= 1. */
static inline float sigmoidf_stable(float z)
{
    float e = expf(-fabsf(z));
    return (z >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* softplus(z) = log(1 + e^z) = max(z, 0) + log1p(exp(-|z|)). */
static inline float softplusf_stable(float z)
{
    return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z)));
}

void act_forward(act_kind a, const float *Z, float *A, size_t n)
{
    switch (a) {
    case ACT_LINEAR:
        if (A != Z) memmove(A, Z, n * sizeof *A);
        break;
    case ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) A[i] = sigmoidf_stable(Z[i]);
        break;
    case ACT_TANH:
        for (size_t i = 0; i < n; i++) A[i] = tanhf(Z[i]);
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) A[i] = Z[i] > 0.0f ? Z[i] : 0.0f;
        break;
    case ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) A[i] = Z[i] > 0.0f ? Z[i] : 0.1f * Z[i];
        break;
    case ACT_ELU:
        for (size_t i = 0; i < n; i++) A[i] = Z[i] > 0.0f ? Z[i] : expm1f(fminf(Z[i], 0.0f));
        break;
    case ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++) A[i] = softplusf_stable(Z[i]);
        break;
    case ACT_SWISH:
        for (size_t i = 0; i < n; i++) A[i] = Z[i] * sigmoidf_stable(Z[i]);
        break;
    case ACT_MISH:
        for (size_t i = 0; i < n; i++) A[i] = Z[i] * tanhf(softplusf_stable(Z[i]));
        break;
    case ACT_SOFTSIGN:
        for (size_t i = 0; i < n; i++) A[i] = Z[i] / (1.0f + fabsf(Z[i]));
        break;
    case ACT_SOFTMAX:
    case ACT_COUNT:
    default:
        /* Programmer error: softmax is row-wise (act_softmax). */
        assert(!"act_forward: not an element-wise activation");
        for (size_t i = 0; i < n; i++) A[i] = NAN;
        break;
    }
}

void act_backward(act_kind a, const float *Z, const float *A, const float *dA, float *dZ, size_t n)
{
    switch (a) {
    case ACT_LINEAR:
        if (dZ != dA) memmove(dZ, dA, n * sizeof *dZ);
        break;
    case ACT_SIGMOID: /* s' = s (1 - s) */
        for (size_t i = 0; i < n; i++) dZ[i] = dA[i] * A[i] * (1.0f - A[i]);
        break;
    case ACT_TANH: /* tanh' = 1 - tanh^2 */
        for (size_t i = 0; i < n; i++) dZ[i] = dA[i] * (1.0f - A[i] * A[i]);
        break;
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) dZ[i] = Z[i] > 0.0f ? dA[i] : 0.0f;
        break;
    case ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) dZ[i] = Z[i] > 0.0f ? dA[i] : 0.1f * dA[i];
        break;
    case ACT_ELU: /* z <= 0: (e^z - 1)' = e^z = A + 1 */
        for (size_t i = 0; i < n; i++) dZ[i] = Z[i] > 0.0f ? dA[i] : dA[i] * (A[i] + 1.0f);
        break;
    case ACT_SOFTPLUS: /* softplus' = sigmoid */
        for (size_t i = 0; i < n; i++) dZ[i] = dA[i] * sigmoidf_stable(Z[i]);
        break;
    case ACT_SWISH: /* (z s)' = s + z s (1 - s) = s + A (1 - s) */
        for (size_t i = 0; i < n; i++) {
            float s = sigmoidf_stable(Z[i]);
            dZ[i] = dA[i] * (s + A[i] * (1.0f - s));
        }
        break;
    case ACT_MISH: /* (z t)' = t + z (1 - t^2) sigmoid(z), t = tanh(softplus(z)) */
        for (size_t i = 0; i < n; i++) {
            float z = Z[i];
            float t = tanhf(softplusf_stable(z));
            dZ[i] = dA[i] * (t + z * (1.0f - t * t) * sigmoidf_stable(z));
        }
        break;
    case ACT_SOFTSIGN: /* (z / (1 + |z|))' = 1 / (1 + |z|)^2 */
        for (size_t i = 0; i < n; i++) {
            float d = 1.0f + fabsf(Z[i]);
            dZ[i] = dA[i] / (d * d);
        }
        break;
    case ACT_SOFTMAX:
    case ACT_COUNT:
    default:
        assert(!"act_backward: not an element-wise activation");
        for (size_t i = 0; i < n; i++) dZ[i] = NAN;
        break;
    }
}

void act_softmax(const float *Z, float *P, int rows, int k)
{
    for (int r = 0; r < rows; r++) {
        const float *z = Z + (size_t)r * (size_t)k;
        float *p = P + (size_t)r * (size_t)k;
        float m = z[0];
        for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        double sum = 0.0;
        for (int j = 0; j < k; j++) {
            p[j] = expf(z[j] - m); /* <= 1: no overflow */
            sum += p[j];
        }
        float inv = (float)(1.0 / sum); /* sum >= 1: the max term is exp(0) */
        for (int j = 0; j < k; j++) p[j] *= inv;
    }
}

static double sigmoid_d(double z)
{
    double e = exp(-fabs(z));
    return (z >= 0.0 ? 1.0 : e) / (1.0 + e);
}

static double softplus_d(double z)
{
    return fmax(z, 0.0) + log1p(exp(-fabs(z)));
}

double act_scalar(act_kind a, double z)
{
    switch (a) {
    case ACT_LINEAR:
        return z;
    case ACT_SIGMOID:
        return sigmoid_d(z);
    case ACT_TANH:
        return tanh(z);
    case ACT_RELU:
        return z > 0.0 ? z : 0.0;
    case ACT_LEAKY_RELU:
        return z > 0.0 ? z : 0.1 * z;
    case ACT_ELU:
        return z > 0.0 ? z : expm1(z);
    case ACT_SOFTPLUS:
        return softplus_d(z);
    case ACT_SWISH:
        return z * sigmoid_d(z);
    case ACT_MISH:
        return z * tanh(softplus_d(z));
    case ACT_SOFTSIGN:
        return z / (1.0 + fabs(z));
    case ACT_SOFTMAX:
    case ACT_COUNT:
    default:
        return NAN;
    }
}

double act_scalar_deriv(act_kind a, double z)
{
    switch (a) {
    case ACT_LINEAR:
        return 1.0;
    case ACT_SIGMOID: {
        double s = sigmoid_d(z);
        return s * (1.0 - s);
    }
    case ACT_TANH: {
        double t = tanh(z);
        return 1.0 - t * t;
    }
    case ACT_RELU:
        return z > 0.0 ? 1.0 : 0.0;
    case ACT_LEAKY_RELU:
        return z > 0.0 ? 1.0 : 0.1;
    case ACT_ELU:
        return z > 0.0 ? 1.0 : exp(z);
    case ACT_SOFTPLUS:
        return sigmoid_d(z);
    case ACT_SWISH: {
        double s = sigmoid_d(z);
        return s + z * s * (1.0 - s);
    }
    case ACT_MISH: {
        double t = tanh(softplus_d(z));
        return t + z * (1.0 - t * t) * sigmoid_d(z);
    }
    case ACT_SOFTSIGN: {
        double d = 1.0 + fabs(z);
        return 1.0 / (d * d);
    }
    case ACT_SOFTMAX:
    case ACT_COUNT:
    default:
        return NAN;
    }
}
