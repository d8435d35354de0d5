/* spec.c — core test support (see spec.h). */
#include "spec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "act.h"

net_spec test_spec(net_task task, int n_in, int n_out, int n_hidden, const int *hidden,
                   act_kind act, act_kind out_act, loss_kind loss)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = task;
    s.n_in = n_in;
    s.n_out = n_out;
    s.n_hidden = n_hidden;
    for (int i = 0; i < n_hidden; i++) s.hidden[i] = hidden[i];
    s.act = act;
    s.out_act = out_act;
    s.loss = loss;
    return s;
}

void test_ref_forward(const net *n, const float *x, int last, double *y)
{
    const net_spec *s = net_get_spec(n);
    double a[2][512];
    for (int j = 0; j < s->n_in; j++)
        a[0][j] = ((double)x[j] - net_x_mean_const(n)[j]) / net_x_scale_const(n)[j];
    int cur = 0, width = s->n_in;
    for (int l = 0; l <= last; l++) {
        const float *W, *b;
        int out, in;
        net_layer(n, l, &W, &b, &out, &in);
        assert_int_equal(in, width);
        double *z = a[cur ^ 1];
        for (int o = 0; o < out; o++) {
            z[o] = b[o];
            for (int i = 0; i < in; i++) z[o] += (double)W[o * in + i] * a[cur][i];
        }
        act_kind k = l < s->n_hidden ? s->act : s->out_act;
        if (k == ACT_SOFTMAX) {
            double m = z[0], sum = 0;
            for (int o = 1; o < out; o++) m = fmax(m, z[o]);
            for (int o = 0; o < out; o++) sum += exp(z[o] - m);
            for (int o = 0; o < out; o++) z[o] = exp(z[o] - m) / sum;
        } else {
            for (int o = 0; o < out; o++) z[o] = act_scalar(k, z[o]);
        }
        cur ^= 1;
        width = out;
    }
    for (int o = 0; o < width; o++) {
        y[o] = a[cur][o];
        if (last == s->n_hidden && s->task != TASK_CLASSIFICATION)
            y[o] = y[o] * net_y_scale_const(n)[o] + net_y_mean_const(n)[o];
    }
}
