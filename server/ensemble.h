/* ensemble.h — an ensemble version: K published networks (2..ENS_MAX_MEMBERS) that answer as one
 * model by the mean of their outputs: the mean of the class probabilities for classifiers, the
 * mean of the predictions (in target units) for regressors. Autoencoders are refused: a mean of
 * reconstructions has no code layer to serve :encode from, and nothing in the lecture asks for it.
 *
 * Storage is self-contained: an ensemble version's bundle (server/bundle.h, format version 2)
 * holds copies of its members' networks, so deleting, re-aliasing or exporting a member later
 * never changes or breaks a served ensemble. The members it was made from are recorded only as
 * information, in the version's meta JSON ("ensemble": [{"model", "version"}, ...]).
 *
 * Members must agree on what makes their outputs comparable: the task, the input and output
 * widths, the feature names in the same order, and the labels in the same order (ens_check). A
 * member that is itself an ensemble is refused (its networks would weigh more than the others).
 *
 * Owns: what ens_members_load loaded (ens_members_clear frees it). Borrows: the store, the
 * registry and the networks passed in.
 * Threading: ens_predict is reentrant (each caller brings its scratch); the rest are safe from any
 * thread, as the store and the models service are. */
#ifndef ENSEMBLE_H
#define ENSEMBLE_H

#include "bundle.h"
#include "mlp.h"
#include "net.h"
#include "registry.h"
#include "store.h"

#include <stddef.h>

#define ENS_MAX_MEMBERS BUNDLE_MAX_MEMBERS

/* One member as the request names it: model plus version, or model plus alias. */
typedef struct {
    char model[72];
    int version;    /* >= 1, or 0 when alias names it (ens_members_load fills it in) */
    char alias[72]; /* "" unless the member is named by alias */
} ens_ref;

/* The members of an ensemble being made: refs filled by the caller, bundles by ens_members_load. */
typedef struct {
    int k;                            /* members, 2..ENS_MAX_MEMBERS */
    ens_ref ref[ENS_MAX_MEMBERS];     /* the request's names */
    model_bundle *b[ENS_MAX_MEMBERS]; /* owned, decoded member bundles */
} ens_members;

/* Floats of scratch ens_predict needs for `rows` rows of k networks of n_out outputs each. */
size_t ens_scratch_floats(net *const *members, int k, int rows);
/* Y (rows × n_out) = the mean over the k members of net_predict(member, X): k forward passes.
 * scratch: ens_scratch_floats(members, k, rows) floats, caller-owned. Reentrant. */
mlp_err ens_predict(net *const *members, int k, const float *X, int rows, float *Y, float *scratch);

/* Whether k bundles can form one ensemble. MLP_EINVAL with err->field "ensemble[i]" and err->msg
 * naming the member (by refs[i]) and its mismatch with member 0 (task, input or output width,
 * feature names, labels), an autoencoder, a nested ensemble, or k outside 2..ENS_MAX_MEMBERS
 * (field "ensemble"). refs NULL: the members of an export document, "members[i]" in the field
 * and the message. */
mlp_err ens_check(const model_bundle *const *b, const ens_ref *refs, int k, mlp_error *err);

/* Resolves aliases, reads and decodes every member of m from the store and checks them
 * (ens_check). MLP_ENOTFOUND or MLP_EINVAL with err->field "ensemble[i]" naming the member;
 * store errors as they come. Bundles stay in m (ens_members_clear) even on failure. */
mlp_err ens_members_load(store *s, ens_members *m, mlp_error *err);
/* Frees the loaded bundles. NULL-tolerant. */
void ens_members_clear(ens_members *m);

/* Publishes k networks (borrowed, checked already) as a new version of `name` by user owner_id
 * through the models service: one bundle with copies of all k, the shared feature names and
 * labels, and meta_json. *version gets the new number; MLP_ECONFLICT (err naming the owner)
 * when the name is someone else's (modelsvc_import_bundle). err may be NULL. */
mlp_err ens_publish(store *s, registry *reg, long long owner_id, const char *name,
                    net *const *members, int k, int n_features, char *const *features, int n_labels,
                    char *const *labels, const char *meta_json, int *version, mlp_error *err);

#endif
