/* infer_tfs.h — the parts of the /v1 inference front-end (api/infer_tfs.c) that tests drive
 * without a server: the renderers of the :classify, :reconstruct and :encode answers, each of
 * which gives the whole answer or nothing; and the rule for non-finite values, which /v2 shares.
 *
 * Threading: reentrant. */
#ifndef INFER_TFS_H
#define INFER_TFS_H

#include <jansson.h>

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
