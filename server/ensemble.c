/* ensemble.c — ensembles: the combining forward pass, the member checks and publishing
 * (ensemble.h). */
#include "ensemble.h"

#include "modelsvc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ens_scratch_floats(net *const *members, int k, int rows)
{
    assert(members && k >= 1 && rows >= 0);
    size_t s = 0;
    for (int i = 0; i < k; i++) {
        size_t si = net_scratch_floats(members[i], rows);
        if (si > s) s = si;
    }
    return s + (size_t)rows * (size_t)net_get_spec(members[0])->n_out;
}

mlp_err ens_predict(net *const *members, int k, const float *X, int rows, float *Y, float *scratch)
{
    assert(members && k >= 1 && X && Y && scratch);
    size_t n = (size_t)rows * (size_t)net_get_spec(members[0])->n_out;
    float *T = scratch, *S = scratch + n; /* one member's outputs, then the nets' own scratch */
    mlp_err rc = net_predict(members[0], X, rows, Y, S);
    for (int i = 1; i < k && !rc; i++) {
        rc = net_predict(members[i], X, rows, T, S);
        for (size_t j = 0; j < n; j++) Y[j] += T[j];
    }
    float inv = 1.0f / (float)k;
    for (size_t j = 0; j < n; j++) Y[j] *= inv;
    return rc;
}

/* Member i in messages: "ensemble[i] (a v3)" as the subject, "a v3" as the object; without
 * refs (the members of an export document) "members[i]" either way. */
static void who(char *buf, size_t cap, const ens_ref *refs, int i, int subject)
{
    char name[160];
    if (!refs) {
        snprintf(buf, cap, "members[%d]", i);
        return;
    }
    if (refs[i].alias[0])
        snprintf(name, sizeof name, "%s@%s (version %d)", refs[i].model, refs[i].alias,
                 refs[i].version);
    else
        snprintf(name, sizeof name, "%s v%d", refs[i].model, refs[i].version);
    if (subject)
        snprintf(buf, cap, "ensemble[%d] (%s)", i, name);
    else
        snprintf(buf, cap, "%s", name);
}

/* The index of the first differing name of two lists of n names, or -1. */
static int first_diff(char *const *a, char *const *b, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0) return i;
    return -1;
}

mlp_err ens_check(const model_bundle *const *b, const ens_ref *refs, int k, mlp_error *err)
{
    if (k < 2 || k > ENS_MAX_MEMBERS) {
        if (err) snprintf(err->field, sizeof err->field, refs ? "ensemble" : "members");
        return mlp_fail(err, MLP_EINVAL, "an ensemble has 2 to %d members, not %d", ENS_MAX_MEMBERS,
                        k);
    }
    const net_spec *s0 = net_get_spec(b[0]->net);
    char w0[200], wi[200];
    who(w0, sizeof w0, refs, 0, 0);
    for (int i = 0; i < k; i++) {
        const net_spec *si = net_get_spec(b[i]->net);
        who(wi, sizeof wi, refs, i, 1);
        if (err)
            snprintf(err->field, sizeof err->field, "%s[%d]", refs ? "ensemble" : "members", i);
        if (b[i]->n_members) return mlp_fail(err, MLP_EINVAL, "%s is itself an ensemble", wi);
        if (si->task == TASK_AUTOENCODER)
            return mlp_fail(err, MLP_EINVAL,
                            "%s is an autoencoder; ensembles average classifiers "
                            "or regressors",
                            wi);
        if (i == 0) continue;
        if (si->task != s0->task)
            return mlp_fail(err, MLP_EINVAL, "%s is a %s model, but %s is a %s model", wi,
                            task_name(si->task), w0, task_name(s0->task));
        if (si->n_in != s0->n_in)
            return mlp_fail(err, MLP_EINVAL, "%s takes %d inputs, but %s takes %d", wi, si->n_in,
                            w0, s0->n_in);
        if (si->n_out != s0->n_out)
            return mlp_fail(err, MLP_EINVAL, "%s has %d outputs, but %s has %d", wi, si->n_out, w0,
                            s0->n_out);
        if (b[i]->n_features != b[0]->n_features)
            return mlp_fail(err, MLP_EINVAL, "%s has %d feature names, but %s has %d", wi,
                            b[i]->n_features, w0, b[0]->n_features);
        int d = first_diff(b[i]->features, b[0]->features, b[0]->n_features);
        if (d >= 0)
            return mlp_fail(err, MLP_EINVAL,
                            "%s has feature %d named '%s', but %s names it '%s' "
                            "(same feature names in the same order)",
                            wi, d, b[i]->features[d], w0, b[0]->features[d]);
        if (b[i]->n_labels != b[0]->n_labels)
            return mlp_fail(err, MLP_EINVAL, "%s has %d labels, but %s has %d", wi, b[i]->n_labels,
                            w0, b[0]->n_labels);
        if ((d = first_diff(b[i]->labels, b[0]->labels, b[0]->n_labels)) >= 0)
            return mlp_fail(err, MLP_EINVAL,
                            "%s has label %d '%s', but %s has '%s' (same labels in "
                            "the same order)",
                            wi, d, b[i]->labels[d], w0, b[0]->labels[d]);
    }
    if (err) err->field[0] = '\0';
    return MLP_OK;
}

mlp_err ens_members_load(store *s, ens_members *m, mlp_error *err)
{
    assert(s && m);
    if (m->k < 2 || m->k > ENS_MAX_MEMBERS) return ens_check(NULL, m->ref, m->k, err);
    for (int i = 0; i < m->k; i++) {
        ens_ref *r = &m->ref[i];
        mlp_err rc;
        if (err) snprintf(err->field, sizeof err->field, "ensemble[%d]", i);
        if (r->alias[0]) {
            rc = store_model_alias_resolve(s, r->model, r->alias, &r->version);
            if (rc == MLP_ENOTFOUND)
                return mlp_fail(err, rc, "ensemble[%d]: model '%s' has no alias '%s'", i, r->model,
                                r->alias);
            if (rc) return mlp_fail(err, rc, "ensemble[%d]: alias lookup failed", i);
        }
        void *blob = NULL;
        size_t len = 0;
        rc = store_model_version_get(s, r->model, r->version, NULL, &blob, &len);
        if (rc == MLP_ENOTFOUND)
            return mlp_fail(err, rc, "ensemble[%d]: model '%s' has no version %d", i, r->model,
                            r->version);
        if (rc) return mlp_fail(err, rc, "ensemble[%d]: model lookup failed", i);
        rc = bundle_decode(blob, len, &m->b[i], err);
        free(blob);
        if (rc) return rc == MLP_ECORRUPT ? MLP_EIO : rc;
    }
    return ens_check((const model_bundle *const *)m->b, m->ref, m->k, err);
}

void ens_members_clear(ens_members *m)
{
    if (!m) return;
    for (int i = 0; i < ENS_MAX_MEMBERS; i++) {
        bundle_free(m->b[i]);
        m->b[i] = NULL;
    }
}

mlp_err ens_publish(store *s, registry *reg, long long owner_id, const char *name,
                    net *const *members, int k, int n_features, char *const *features, int n_labels,
                    char *const *labels, const char *meta_json, int *version, mlp_error *err)
{
    assert(s && reg && name && members && meta_json && version);
    const net_spec *sp = net_get_spec(members[0]);
    void *blob = NULL;
    size_t len = 0;
    mlp_err rc = bundle_encode_ensemble((const net *const *)members, k, n_features, features,
                                        n_labels, labels, &blob, &len);
    if (rc == MLP_OK)
        rc = modelsvc_import_bundle(s, reg, owner_id, name, task_name(sp->task), sp->n_in,
                                    sp->n_out, meta_json, blob, len, version, err);
    free(blob);
    return rc;
}
