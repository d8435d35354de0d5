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
/* jobs_hooks.decode. */
mlp_err runspec_decode(const char *request_json, runspec *out, mlp_error *err);
/* jobs_hooks.describe: {"feature_names", "labels", "metrics", "params"}; new string. */
char *runspec_describe(const char *request_json, const run_metrics *final, int n_features,
                       char *const *features, int n_labels, char *const *labels);

#endif
