/* runspec.h — a training run, typed: what api/runspec.c decodes from a run request and what
 * jobs.c prepares data for and trains.
 *
 * Owns: the target and feature name arrays (runspec_clear frees them).
 * Threading: plain data; one owner at a time. */
#ifndef RUNSPEC_H
#define RUNSPEC_H

#include "net.h"
#include "train.h"

typedef struct {
    net_task task;
    char dataset_id[24];
    char val_dataset_id[24]; /* "" when validation is a fraction of dataset_id */
    double val_fraction;     /* [0, 1); used when val_dataset_id is "" */
    int n_targets;           /* 0 for autoencoders */
    char **targets;          /* column names, owned */
    int n_features;          /* 0 = every column but the targets */
    char **features;         /* column names, owned */
    char model_name[72];
    net_spec net; /* hidden, act, out_act, loss, batch_norm; n_in/n_out filled by jobs */
    train_params tp;
    int priority_high; /* params.priority "high": starts ahead of the fair-share order (staff and
                          admin only: api/runs.c checks the caller's role) */
} runspec;

/* Frees the owned arrays; NULL-tolerant. */
void runspec_clear(runspec *r);

#endif
