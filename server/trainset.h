/* trainset.h — a run's training and validation matrices, prepared from its dataset(s) and its
 * run spec: the data step between the store (server/store.h) and the trainer (core/train.h).
 * jobs.c calls trainset_prepare once per run, before training; nothing else of a run's lifecycle
 * lives here.
 *
 * Rules (each refusal is MLP_EINVAL with err->msg, and ends the run failed):
 * - Features: the named columns, or every column that is not a target; a categorical column is
 *   refused as an input ("feature column 'c' is categorical: row R is not a number"), except that
 *   an autoencoder's default features skip categorical columns. Unknown names are refused
 *   ("feature column 'c' is not in the dataset"; "target ..." for targets).
 * - Validation split: with no validation dataset and a fraction f > 0, the rows are shuffled by
 *   rng seeded with seed ^ 0x5eedf00d, and the last round(N x f) rows (at least 1, fewer than N)
 *   of that order are the validation rows; not stratified. A validation dataset instead supplies
 *   its rows in order, its columns matched by name.
 * - Classes (single-target classification): the levels of a categorical target, in level order;
 *   or the sorted distinct values of a numeric one, each printed %.9g (at most 10000). A
 *   validation row whose class the training rows lack is refused.
 *
 * Owns: every array of a trainset (trainset_clear frees them). Borrows: the store and tables
 * passed in, for the call only.
 * Threading: no shared state; one trainset has one owner. */
#ifndef TRAINSET_H
#define TRAINSET_H

#include "dataset.h"
#include "mlp.h"
#include "runspec.h"
#include "store.h"

typedef struct {
    float *X, *Xv;   /* inputs: n x d training rows, nv x d validation rows (NULL when nv = 0) */
    int n, nv, d;    /* row counts and input width */
    float *Y, *Yv;   /* regression / multi-label targets, n x k and nv x k; else NULL */
    int *lab, *labv; /* single-target classification: class index of each row; else NULL */
    int k;           /* the network's output width */
    int n_features;  /* = d */
    char **features; /* input column names, owned */
    int n_labels;    /* classes (or multi-label targets); 0 for regression and autoencoders */
    char **labels;   /* class names, owned */
} trainset;

/* Prepares *out from table t (training rows) and tv (validation rows; NULL: split t by
 * rs->val_fraction) for run spec rs. On failure *out is empty. Borrows t, tv, rs. */
mlp_err trainset_build(const ds_table *t, const ds_table *tv, const runspec *rs, trainset *out,
                       mlp_error *err);
/* trainset_build on the datasets rs names, read from the store. A dataset that is gone or
 * unreadable is MLP_EINVAL (or the store's code) with err->msg. On failure *out is empty. */
mlp_err trainset_prepare(store *st, const runspec *rs, trainset *out, mlp_error *err);
/* Frees the arrays of p and zeroes it; NULL-tolerant. */
void trainset_clear(trainset *p);

#endif
