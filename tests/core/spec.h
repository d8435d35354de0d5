/* spec.h — core test support: a net_spec from its fields, for the core suites' many shapes.
 * Threading: none (a pure function). */
#ifndef TESTS_CORE_SPEC_H
#define TESTS_CORE_SPEC_H

#include "net.h"

/* A spec with n_hidden widths from hidden[], batch norm off. */
net_spec test_spec(net_task task, int n_in, int n_out, int n_hidden, const int *hidden,
                   act_kind act, act_kind out_act, loss_kind loss);

#endif
