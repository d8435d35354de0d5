/* tiny.h — the small trainer shared by fuzz_checkpoint.c and mkseeds.c: a 3-4-3 classifier on
 * six fixed rows, so that checkpoints restore into a trainer of the same shape.
 * Owns: the returned trainer (trainer_free). Threading: one caller at a time. */
#ifndef FUZZ_TINY_H
#define FUZZ_TINY_H

#include "train.h"

#include <string.h>

static float tiny_X[] = {0, 1, 2, 1, 0, 1, 2, 2, 0, 0, 0, 1, 1, 1, 1, 2, 0, 2};
static int tiny_y[] = {0, 1, 2, 0, 1, 2};

static trainer *tiny_trainer(void)
{
    net_spec s;
    memset(&s, 0, sizeof s);
    s.task = TASK_CLASSIFICATION;
    s.n_in = 3;
    s.n_out = 3;
    s.n_hidden = 1;
    s.hidden[0] = 4;
    s.act = ACT_RELU;
    s.out_act = ACT_SOFTMAX;
    s.loss = LOSS_CROSS_ENTROPY;
    s.batch_norm = 1;
    train_params p;
    train_params_default(&p, s.task, s.act);
    p.epochs = 2;
    p.batch_size = 2;
    p.optimizer = OPT_ADAM;
    train_data d = {tiny_X, 6, 3, NULL, tiny_y};
    trainer *t = NULL;
    if (trainer_new(&s, &p, &d, NULL, &t, NULL) != MLP_OK) return NULL;
    return t;
}

#endif
