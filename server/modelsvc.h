/* modelsvc.h — the models service: every write to published models goes through here, and each
 * one keeps the model cache (server/registry.h) consistent with the store itself.
 *
 * A model write is a store write followed by the registry's matching step, in this order:
 *   import, publish (a run's new version), move or delete an alias -> store, then reg_invalidate
 *     (so the next "latest" or alias lookup reads the store again);
 *   delete a version -> store delete, then reg_evict (which also waits until no request still
 *     uses the deleted version);
 *   purge a user's models (store_user_delete) -> the store delete, then modelsvc_forget_purged.
 * The registry step runs only after the store has made the write durable, and only when it
 * succeeded. That is the whole rule; nothing else (no handler, not the job workers) calls
 * reg_invalidate or reg_evict. Reads (list, detail, export) go to the store directly.
 *
 * The service has no state of its own: each call takes the store and the registry it acts on.
 * Owns: nothing. Borrows: the store and the registry (both outlive the call); names and buffers
 * passed in.
 * Threading: safe from any thread, as the store and registry are; modelsvc_delete_version
 * blocks until the version's readers have released it. */
#ifndef MODELSVC_H
#define MODELSVC_H

#include "mlp.h"
#include "net.h"
#include "registry.h"
#include "store.h"

#include <stddef.h>

/* Publishes net n (borrowed) as a new version of model `name`, with no run behind it: the bundle
 * of n, its feature names (n_features of them, 0 or n's input width) and class labels, and
 * meta_json (opaque JSON text, store.h). *version gets the new number. Store errors as
 * store_model_add_version gives them (MLP_EINVAL for a bad name). */
mlp_err modelsvc_import(store *s, registry *reg, const char *name, const net *n, int n_features,
                        char *const *features, int n_labels, char *const *labels,
                        const char *meta_json, int *version);
/* The same, published by user owner_id (store_model_add_version_as: a new name becomes theirs;
 * MLP_ECONFLICT with err->msg naming the owner when they may not publish to it). err may be
 * NULL. modelsvc_import publishes as the bootstrap admin. */
mlp_err modelsvc_import_as(store *s, registry *reg, long long owner_id, const char *name,
                           const net *n, int n_features, char *const *features, int n_labels,
                           char *const *labels, const char *meta_json, int *version,
                           mlp_error *err);

/* Publishes an encoded bundle (blob, borrowed: bundle.h) as a new version of `name` with no run
 * behind it, by user owner_id, as modelsvc_import_as does for one network (same errors); an
 * ensemble (server/ensemble.h) comes this way. err may be NULL. */
mlp_err modelsvc_import_bundle(store *s, registry *reg, long long owner_id, const char *name,
                               const char *task, int input_dim, int output_dim,
                               const char *meta_json, const void *blob, size_t blob_len,
                               int *version, mlp_error *err);

/* Ends run `run_id` as succeeded and publishes its model version atomically (store_run_succeed:
 * same arguments, same errors, MLP_ECANCELLED when a cancel was stored first); on success the
 * cache forgets model_name's "latest". *version may be NULL. */
mlp_err modelsvc_publish_run(store *s, registry *reg, const char *run_id, const char *model_name,
                             const char *task, int input_dim, int output_dim, const char *meta_json,
                             const void *blob, size_t blob_len, int *version);

/* Deletes version `version` of `name` (store_model_version_delete: MLP_ENOTFOUND, or
 * MLP_ECONFLICT while an alias points at it, err->msg naming the alias), then drops it from the
 * cache and waits for the requests still using it. */
mlp_err modelsvc_delete_version(store *s, registry *reg, const char *name, int version,
                                mlp_error *err);

/* Points alias `alias` of `name` at `version` (store_model_alias_set: MLP_ENOTFOUND when there
 * is no such version); then lookups by the alias see the new target. */
mlp_err modelsvc_alias_set(store *s, registry *reg, const char *name, const char *alias,
                           int version);

/* Removes alias `alias` of `name` (MLP_ENOTFOUND when there is none); then lookups by it fail. */
mlp_err modelsvc_alias_delete(store *s, registry *reg, const char *name, const char *alias);

/* After store_user_delete purged `models` (n of them, each with its name and latest_version):
 * drops every version of each from the cache, waiting for their readers. */
void modelsvc_forget_purged(registry *reg, const store_model *models, int n);

#endif
