/* spec.h — core test support: a net_spec from its fields, for the core suites' many shapes, and
 * a double-precision reference forward pass to compare nets with.
 * Threading: none (pure functions; test_ref_forward fails the running cmocka test on a layer
 * whose input width does not follow). */
#ifndef TESTS_CORE_SPEC_H
#define TESTS_CORE_SPEC_H

#include "net.h"

/* A spec with n_hidden widths from hidden[], batch norm off. */
net_spec test_spec(net_task task, int n_in, int n_out, int n_hidden, const int *hidden,
                   act_kind act, act_kind out_act, loss_kind loss);

/* Independent double-precision forward pass of one row x through layers 0 .. last, written from
 * the contract (net_layer, act_scalar); de-standardises only the full pass (last == n_hidden).
 * Layers up to 512 units. */
void test_ref_forward(const net *n, const float *x, int last, double *y);

#endif
