/* run.h — the vocabulary of a training run: its states, the per-epoch metric ids (fixed ones,
 * then per-layer families such as grad_norm.l3) and the per-epoch metric record. Domain words
 * shared by the store (store.h keeps them in its rows), the job queue (jobs.h moves runs through
 * the states), the event hub (events.h publishes them) and the metrics renderers; no module owns
 * them, so they sit in this leaf header that includes nothing from server/. The names are the
 * strings of the HTTP API and the database.
 *
 * Owns: nothing; the name functions return static strings.
 * Threading: pure functions, reentrant. */
#ifndef RUN_H
#define RUN_H

#include "diag.h"
#include "mlp.h"
#include "net.h"

#include <stdint.h>

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

/* The per-epoch metrics. Ids below MET_COUNT are the fixed metrics; from MET_COUNT on come the
 * per-layer families (core/diag.h says what each measures), one id per family and dense layer
 * l (0 = first, up to RUN_LAYERS - 1), named "<family>.l<l>": grad_norm.l0, update_ratio.l2,
 * dead.l1 (ReLU family), saturated.l0 (sigmoid, tanh). Id = MET_COUNT + family·RUN_LAYERS + l. */
typedef enum {
    MET_TRAIN_LOSS = 0,
    MET_VAL_LOSS,
    MET_VAL_ACCURACY,
    MET_VAL_R2,
    MET_LEARNING_RATE,
    MET_EPOCH_SECONDS,
    MET_COUNT
} metric_id;
#define RUN_LAYERS (NET_MAX_HIDDEN + 1) /* dense layers a net can have */
typedef enum {
    MFAM_GRAD_NORM = 0,
    MFAM_UPDATE_RATIO,
    MFAM_DEAD,
    MFAM_SATURATED,
    MFAM_COUNT
} metric_family;
#define MET_ALL (MET_COUNT + MFAM_COUNT * RUN_LAYERS) /* every id, fixed and per-layer */
/* The id of family f's metric of layer l. */
metric_id metric_layer(metric_family f, int layer);
/* 1 when m is a per-layer metric (then *f and *layer, either may be NULL, say which), else 0. */
int metric_layer_of(metric_id m, metric_family *f, int *layer);
/* "train_loss", ..., "grad_norm.l0", ...; "unknown" outside [0, MET_ALL). Static string. */
const char *metric_name(metric_id m);
/* The inverse of metric_name; MLP_EINVAL for any other string (layer indexes are written
 * without leading zeros). */
mlp_err metric_parse(const char *s, metric_id *out);

/* One epoch's metrics: the fixed ones in v, the per-layer ones in lv. */
typedef struct {
    double v[MET_COUNT];
    unsigned present;                  /* bit m set when v[m] is meaningful */
    double lv[MFAM_COUNT][RUN_LAYERS]; /* lv[f][l]: family f, layer l */
    uint64_t lpresent[MFAM_COUNT];     /* bit l set when lv[f][l] is meaningful */
} run_metrics;
/* Sets metric m (any id below MET_ALL) to v and marks it present. */
void run_metrics_set(run_metrics *rm, metric_id m, double v);
/* 1 and *v when metric m is present in rm, else 0. */
int run_metrics_get(const run_metrics *rm, metric_id m, double *v);
/* Adds an epoch's per-layer diagnostics (core/diag.h): grad_norm and update_ratio of every layer,
 * dead or saturated where the layer's activation has one; non-finite values are left out. */
void run_metrics_add_diag(run_metrics *rm, const diag_layers *d);

#endif
