/* run.h — the vocabulary of a training run: its states, the fixed per-epoch metric ids and the
 * per-epoch metric record. Domain words shared by the store (store.h keeps them in its rows),
 * the job queue (jobs.h moves runs through the states), the event hub (events.h publishes
 * them) and the metrics renderers; no module owns them, so they sit in this leaf header that
 * includes nothing from server/. The names are the strings of the HTTP API and the database.
 *
 * Owns: nothing; the name functions return static strings.
 * Threading: pure functions, reentrant. */
#ifndef RUN_H
#define RUN_H

#include "mlp.h"

/* A run's lifecycle: queued -> running -> succeeded | failed | cancelled (queued may also go
 * straight to failed or cancelled). */
typedef enum {
    RUN_QUEUED = 0,
    RUN_RUNNING,
    RUN_SUCCEEDED,
    RUN_FAILED,
    RUN_CANCELLED,
    RUN_STATE_COUNT
} run_state;
/* "queued", "running", ...; "unknown" outside the enum. Static string. */
const char *run_state_name(run_state s);
/* The inverse of run_state_name; MLP_EINVAL for any other string. */
mlp_err run_state_parse(const char *s, run_state *out);

/* The fixed per-epoch metrics. */
typedef enum {
    MET_TRAIN_LOSS = 0,
    MET_VAL_LOSS,
    MET_VAL_ACCURACY,
    MET_VAL_R2,
    MET_LEARNING_RATE,
    MET_EPOCH_SECONDS,
    MET_COUNT
} metric_id;
/* "train_loss", ...; "unknown" outside the enum. Static string. */
const char *metric_name(metric_id m);
/* The inverse of metric_name; MLP_EINVAL for any other string. */
mlp_err metric_parse(const char *s, metric_id *out);

/* One epoch's metrics. */
typedef struct {
    double v[MET_COUNT];
    unsigned present; /* bit m set when v[m] is meaningful */
} run_metrics;

#endif
