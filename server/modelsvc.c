/* modelsvc.c — model writes: the store write, then the registry step (modelsvc.h). */
#include "modelsvc.h"

#include "bundle.h"

#include <assert.h>
#include <stdlib.h>

mlp_err modelsvc_import(store *s, registry *reg, const char *name, const net *n, int n_features,
                        char *const *features, int n_labels, char *const *labels,
                        const char *meta_json, int *version)
{
    return modelsvc_import_as(s, reg, USER_BOOTSTRAP_ID, name, n, n_features, features, n_labels,
                              labels, meta_json, version, NULL);
}

mlp_err modelsvc_import_as(store *s, registry *reg, long long owner_id, const char *name,
                           const net *n, int n_features, char *const *features, int n_labels,
                           char *const *labels, const char *meta_json, int *version, mlp_error *err)
{
    assert(s && reg && name && n && meta_json && version);
    const net_spec *sp = net_get_spec(n);
    void *blob = NULL;
    size_t len = 0;
    mlp_err rc = bundle_encode(n, n_features, features, n_labels, labels, &blob, &len);
    if (rc) goto out;
    rc = store_model_add_version_as(s, owner_id, name, "", task_name(sp->task), sp->n_in, sp->n_out,
                                    meta_json, blob, len, version, err);
    if (rc) goto out;
    reg_invalidate(reg, name);
out:
    free(blob);
    return rc;
}

mlp_err modelsvc_import_bundle(store *s, registry *reg, long long owner_id, const char *name,
                               const char *task, int input_dim, int output_dim,
                               const char *meta_json, const void *blob, size_t blob_len,
                               int *version, mlp_error *err)
{
    assert(s && reg && name && task && meta_json && blob && version);
    mlp_err rc = store_model_add_version_as(s, owner_id, name, "", task, input_dim, output_dim,
                                            meta_json, blob, blob_len, version, err);
    if (rc == MLP_OK) reg_invalidate(reg, name);
    return rc;
}

mlp_err modelsvc_publish_run(store *s, registry *reg, const char *run_id, const char *model_name,
                             const char *task, int input_dim, int output_dim, const char *meta_json,
                             const void *blob, size_t blob_len, int *version)
{
    assert(s && reg && run_id && model_name);
    mlp_err rc = store_run_succeed(s, run_id, model_name, task, input_dim, output_dim, meta_json,
                                   blob, blob_len, version);
    if (rc == MLP_OK) reg_invalidate(reg, model_name);
    return rc;
}

mlp_err modelsvc_delete_version(store *s, registry *reg, const char *name, int version,
                                mlp_error *err)
{
    assert(s && reg && name);
    mlp_err rc = store_model_version_delete(s, name, version, err);
    if (rc == MLP_OK) reg_evict(reg, name, version);
    return rc;
}

mlp_err modelsvc_alias_set(store *s, registry *reg, const char *name, const char *alias,
                           int version)
{
    assert(s && reg && name && alias);
    mlp_err rc = store_model_alias_set(s, name, alias, version);
    if (rc == MLP_OK) reg_invalidate(reg, name);
    return rc;
}

mlp_err modelsvc_alias_delete(store *s, registry *reg, const char *name, const char *alias)
{
    assert(s && reg && name && alias);
    mlp_err rc = store_model_alias_delete(s, name, alias);
    if (rc == MLP_OK) reg_invalidate(reg, name);
    return rc;
}

void modelsvc_forget_purged(registry *reg, const store_model *models, int n)
{
    assert(reg && (models || n == 0));
    for (int i = 0; i < n; i++)
        for (int v = 1; v <= models[i].latest_version; v++) reg_evict(reg, models[i].name, v);
}
