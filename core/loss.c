/* loss.c — output-layer losses (see loss.h): the mean over rows of the per-row loss and its
 * gradient with respect to the pre-activations Z. Values come from Z, not from the rounded
 * probabilities: cross entropy is lse(z) - z_y (log-sum-exp), logistic BCE is
 * softplus(z) - y z, so both stay finite when |z| is in the thousands. Accumulation is in double.
 * Also the loss names of the API. */
#include "loss.h"

#include "act.h"

#include <assert.h>
#include <math.h>
#include <string.h>

static const char *const loss_names[LOSS_COUNT] = {
    [LOSS_CROSS_ENTROPY] = "cross_entropy",
    [LOSS_LOGISTIC] = "logistic",
    [LOSS_SQUARED] = "squared",
};

const char *loss_name(loss_kind l)
{
    if ((unsigned)l < LOSS_COUNT) return loss_names[l];
    return "unknown";
}

mlp_err loss_parse(const char *s, loss_kind *out)
{
    int i;
    mlp_err e = mlp_name_index(s, loss_names, LOSS_COUNT, &i);
    if (e == MLP_OK) *out = (loss_kind)i;
    return e;
}

int loss_pair_ok(loss_kind loss, act_kind out_act)
{
    if ((unsigned)out_act >= ACT_COUNT) return 0;
    switch (loss) {
    case LOSS_CROSS_ENTROPY:
        return out_act == ACT_SOFTMAX;
    case LOSS_LOGISTIC:
        return out_act == ACT_SIGMOID;
    case LOSS_SQUARED:
        return out_act != ACT_SOFTMAX;
    case LOSS_COUNT:
    default:
        return 0;
    }
}

/* Target of row i, output j: dense Y, or from labels (one-hot for softmax and for k > 1; the label
 * value itself when k == 1 outside softmax). */
static inline double target(const float *Y, const int *labels, int one_hot, int i, int j, int k)
{
    if (Y) return Y[(size_t)i * (size_t)k + (size_t)j];
    return one_hot ? (labels[i] == j ? 1.0 : 0.0) : (double)labels[i];
}

/* softplus(z) = max(z, 0) + log1p(exp(-|z|)), in double. */
static inline double softplus_d(double z)
{
    return fmax(z, 0.0) + log1p(exp(-fabs(z)));
}

/* Cross entropy with softmax: per row sum_j t_j (lse(z) - z_j), which is lse(z) - z_y for a
 * label. dZ = (P * sum_j t_j - T) / rows (= (P - Y) / rows for one-hot targets). */
static double loss_ce(const float *Z, float *P, const float *Y, const int *labels, int rows, int k,
                      float *dZ)
{
    double total = 0.0;
    act_softmax(Z, P, rows, k);
    const float inv_rows = 1.0f / (float)rows;
    for (int i = 0; i < rows; i++) {
        const float *z = Z + (size_t)i * (size_t)k;
        float m = z[0];
        for (int j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        double s = 0.0;
        for (int j = 0; j < k; j++) s += exp((double)z[j] - (double)m);
        double lse = (double)m + log(s);
        double row = 0.0, tsum = 0.0;
        for (int j = 0; j < k; j++) {
            double t = target(Y, labels, 1, i, j, k);
            if (t != 0.0) row += t * (lse - (double)z[j]);
            tsum += t;
        }
        total += row;
        if (dZ) {
            float *p = P + (size_t)i * (size_t)k, *d = dZ + (size_t)i * (size_t)k;
            for (int j = 0; j < k; j++)
                d[j] = (float)((double)p[j] * tsum - target(Y, labels, 1, i, j, k)) * inv_rows;
        }
    }
    return total / rows;
}

/* Logistic with sigmoid: per element BCE(sigmoid(z), t) = softplus(z) - t z; dZ = (P - T)/rows. */
static double loss_logistic(const float *Z, float *P, const float *Y, const int *labels, int rows,
                            int k, float *dZ)
{
    double total = 0.0;
    const int one_hot = k > 1;
    const float inv_rows = 1.0f / (float)rows;
    act_forward(ACT_SIGMOID, Z, P, (size_t)rows * (size_t)k);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < k; j++) {
            size_t at = (size_t)i * (size_t)k + (size_t)j;
            double t = target(Y, labels, one_hot, i, j, k);
            double z = Z[at];
            total += softplus_d(z) - t * z;
            if (dZ) dZ[at] = (float)((double)P[at] - t) * inv_rows;
        }
    return total / rows;
}

/* Squared: per row 0.5 sum_j (p_j - t_j)^2; dZ = (P - T) * act'(Z) / rows. dZ may alias P, so the
 * derivative goes through a small buffer chunk by chunk: act_backward reads A[i] before it writes
 * dZ[i] at the same index. */
static double loss_squared(act_kind out_act, const float *Z, float *P, const float *Y,
                           const int *labels, int rows, int k, float *dZ)
{
    enum { CHUNK = 256 };
    float buf[CHUNK];
    double total = 0.0;
    const int one_hot = k > 1;
    const float inv_rows = 1.0f / (float)rows;
    const size_t n = (size_t)rows * (size_t)k;
    act_forward(out_act, Z, P, n);
    size_t at = 0, fill = 0, start = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < k; j++, at++) {
            double diff = (double)P[at] - target(Y, labels, one_hot, i, j, k);
            total += 0.5 * diff * diff;
            if (!dZ) continue;
            buf[fill++] = (float)diff * inv_rows;
            if (fill == CHUNK) {
                act_backward(out_act, Z + start, P + start, buf, dZ + start, fill);
                start += fill;
                fill = 0;
            }
        }
    if (dZ && fill) act_backward(out_act, Z + start, P + start, buf, dZ + start, fill);
    return total / rows;
}

double loss_forward(loss_kind loss, act_kind out_act, const float *Z, float *P, const float *Y,
                    const int *labels, int rows, int k, float *dZ)
{
    assert(loss_pair_ok(loss, out_act));
    assert((Y == NULL) != (labels == NULL));
    assert(P != Z);
    if (rows <= 0 || k <= 0) return 0.0;
    switch (loss) {
    case LOSS_CROSS_ENTROPY:
        return loss_ce(Z, P, Y, labels, rows, k, dZ);
    case LOSS_LOGISTIC:
        return loss_logistic(Z, P, Y, labels, rows, k, dZ);
    case LOSS_SQUARED:
        return loss_squared(out_act, Z, P, Y, labels, rows, k, dZ);
    case LOSS_COUNT:
    default:
        return NAN;
    }
}
