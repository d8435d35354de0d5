/* run.c — the names of run states and metric ids (see run.h). */
#include "run.h"

static const char *const run_state_names[RUN_STATE_COUNT] = {"queued", "running", "succeeded",
                                                             "failed", "cancelled"};
static const char *const metric_names[MET_COUNT] = {"train_loss", "val_loss",      "val_accuracy",
                                                    "val_r2",     "learning_rate", "epoch_seconds"};

const char *run_state_name(run_state st)
{
    return (unsigned)st < RUN_STATE_COUNT ? run_state_names[st] : "unknown";
}

mlp_err run_state_parse(const char *str, run_state *out)
{
    int i;
    mlp_err e = mlp_name_index(str, run_state_names, RUN_STATE_COUNT, &i);
    if (e == MLP_OK) *out = (run_state)i;
    return e;
}

const char *metric_name(metric_id m)
{
    return (unsigned)m < MET_COUNT ? metric_names[m] : "unknown";
}

mlp_err metric_parse(const char *str, metric_id *out)
{
    int i;
    mlp_err e = mlp_name_index(str, metric_names, MET_COUNT, &i);
    if (e == MLP_OK) *out = (metric_id)i;
    return e;
}
