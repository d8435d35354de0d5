/* runspec_api.h — run requests as JSON: parse + validate (field-level errors, defaults filled in,
 * the normalised request echoed by the run object), decode the stored normalised request for the
 * workers, and describe a trained model version (its meta_json).
 *
 * Threading: reentrant. */
#ifndef RUNSPEC_API_H
#define RUNSPEC_API_H

#include "dataset.h"
#include "problem.h"
#include "runspec.h"
#include "store.h"

#include <jansson.h>

/* Validates body into *rs (runspec_clear it). cols (may be NULL) are the training dataset's
 * columns: targets/features given by index are resolved to names and checked for existence and
 * type, and the network size is checked against max_params. *normalized (may be NULL) receives a
 * new object with every field and param filled in. MLP_EINVAL with err->field on bad input. */
mlp_err runspec_parse(json_t *body, const ds_table *cols, size_t max_params, runspec *rs,
                      json_t **normalized, mlp_error *err);
/* Peak memory of training a run, in bytes. */
typedef struct {
    train_mem t;   /* the trainer's part (core/train.h), checkpoint with SQLite's copy */
    size_t tables; /* the dataset tables (and row index) loaded while the data is prepared */
    size_t total;  /* the peak: data + the larger of tables and the rest of t */
    size_t limit;  /* the limit it was checked against; 0 = none */
} runspec_mem;

/* --max-train-memory as configured, or its default when 0: half of physical memory divided by
 * the workers. 0 when physical memory is unknown. */
size_t runspec_mem_limit(size_t configured, int workers);
/* The estimate for a parsed run (rs from runspec_parse with the same cols, which carry the
 * dataset's rows); val_rows / val_cols: the validation dataset's shape when
 * rs->val_dataset_id is set. blas_threads: OpenBLAS threads a run uses. Over limit (> 0):
 * MLP_EINVAL naming params.batch_size or params.hidden (the larger share) with the estimate,
 * its parts and the limit in err->msg; *out is filled either way. */
mlp_err runspec_mem_estimate(const runspec *rs, const ds_table *cols, long val_rows, int val_cols,
                             size_t limit, int blas_threads, runspec_mem *out, mlp_error *err);
/* {"estimate_bytes", "limit_bytes", "parts": {...}}; new. */
json_t *runspec_mem_json(const runspec_mem *m);
/* jobs_hooks.decode. */
mlp_err runspec_decode(const char *request_json, runspec *out, mlp_error *err);
/* jobs_hooks.describe: {"feature_names", "labels", "metrics", "params"}, metrics holding
 * `final` and "epoch"; new string. */
char *runspec_describe(const char *request_json, const run_metrics *final, int epoch,
                       int n_features, char *const *features, int n_labels, char *const *labels);

#endif
