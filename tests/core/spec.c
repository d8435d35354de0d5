/* spec.c — core test support (see spec.h). */
#include "spec.h"

#include <string.h>

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
