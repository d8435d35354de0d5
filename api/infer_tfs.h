/* infer_tfs.h — the parts of the /v1 inference front-end (api/infer_tfs.c) that other modules
 * use: TF Serving's answer for a model, version or label it cannot find (the guard and the model
 * lookup share it, so a hidden model and a missing one answer alike); and what tests drive
 * without a server: the renderers of the :classify, :reconstruct and :encode answers, each of
 * which gives the whole answer or nothing; and the rule for non-finite values, which /v2 shares.
 *
 * Threading: reentrant. */
#ifndef INFER_TFS_H
#define INFER_TFS_H

#include "http.h"

#include <jansson.h>

/* Answers what TF Serving answers when the /v1 route's model (name), its {version} or its
 * {alias} label is not there: a label it cannot resolve is 400 "Unrecognized servable version
 * label: L" (whether or not the model exists, as TF Serving resolves labels first); otherwise 404,
 * "Could not find any versions of model N" / "Could not find version V of model N" on the status
 * routes, and "Servable not found for request: Latest(N)" / "Specific(N, V)" on the others. */
void tfs_not_found(http_req *req, http_resp *resp, const char *name);

/* v as a JSON real, or null when it is not finite (json_real refuses NaN and infinities; :predict
 * writes them as null too). New reference, NULL only when out of memory. */
json_t *tfs_real_json(double v);

/* The :classify answer {"results": [[[label, score], ...], ...]} for the n rows of Y (n x n_out,
 * row-major): every label with its score, best first; a single output with two labels is the
 * probability of labels[1]; a score that is not finite is null. New reference, or NULL when any
 * allocation failed (never a partial answer). */
json_t *tfs_classify_json(const float *Y, int n, int n_out, char *const *labels, int n_labels);

/* The :regress answer {"results": [v, ...]}: column col of each of the n rows of Y (n x n_out,
 * row-major); a value that is not finite is null. New reference, or NULL when any allocation
 * failed (never a partial answer). */
json_t *tfs_regress_json(const float *Y, int n, int n_out, int col);

/* The :reconstruct answer {"reconstructions": [[...], ...], "errors": [e, ...]} for the n rows
 * of X and their reconstructions Y (both n x d, row-major); e is a row's mean squared error; a
 * value that is not finite is null. New reference, or NULL when any allocation failed (never a
 * partial answer). */
json_t *tfs_reconstruct_json(const float *X, const float *Y, int n, int d);

/* The :encode answer {"codes": [[...], ...]} for the n codes C (n x k, row-major); a value that
 * is not finite is null. New reference, or NULL when any allocation failed (never a partial
 * answer). */
json_t *tfs_encode_json(const float *C, int n, int k);

#endif
