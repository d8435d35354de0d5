/* registry.h — loaded, published models shared read-only by request threads.
 *
 * Loading is lazy (first request for a version decodes its bundle from the store) and the cache
 * is bounded twice: by a count of versions (--model-cache) and by the bytes the decoded models
 * hold (--model-cache-bytes; reg_model_bytes: weights, standardisation, the serving fast path,
 * names; an ensemble counts every member). Least recently used unreferenced versions are dropped
 * while either bound is passed. A referenced version is never dropped, so a model bigger than
 * the whole byte budget still loads and is served (without pushing the others out: they could
 * not make room for it); it is the first dropped once released. So the cache is within both
 * bounds whenever no request holds a model. The
 * name -> latest version and alias -> version maps are cached too and invalidated by this
 * process's writes (reg_invalidate). A reg_model is immutable; reg_get hands out a counted
 * reference and reg_release returns it. reg_evict removes a version and waits until every
 * reader has released it, so a deleted version is never freed under a request.
 *
 * Store reads and decoding happen outside the lock, so a publish, delete or alias move of the
 * same name can land in between. Each name (by hash) has a generation that reg_invalidate and
 * reg_evict bump; reg_get notes it before reading the store and, under the lock again, caches
 * neither the pointer it resolved nor the model it loaded when it moved: it looks again
 * instead. So once a writer's reg_invalidate or reg_evict has returned, no later reg_get sees
 * the old "latest" or alias target, nor a deleted version.
 *
 * reg_model is opaque: a handler reads a held model through the reg_model_* accessors (name,
 * version, task, network, spec, feature names, labels) and never its bundle or reference count.
 * Who calls reg_invalidate and reg_evict: the models service (server/modelsvc.h), after each of
 * its store writes; and the /v2 repository extension's unload (api/infer_v2.c), which drops a
 * model's versions from the cache without touching the store (the next request loads again).
 * A version is one network or an ensemble of several (server/ensemble.h): handlers run either
 * through reg_model_predict; reg_model_net is then the first member (its spec is all members').
 *
 * Owns: the loaded bundles. Borrows: the store (outlives the registry).
 * Threading: all functions are safe from any thread; one mutex guards the maps (held only for
 * lookups, never during decoding or inference). */
#ifndef REGISTRY_H
#define REGISTRY_H

#include "mlp.h"
#include "net.h"
#include "store.h"

typedef struct registry registry;

/* One loaded version of a model: immutable while a reference is held. Opaque; the accessors
 * below read it. */
typedef struct reg_model reg_model;

/* capacity: versions kept loaded (>= 1); no byte bound until reg_set_budget. */
mlp_err reg_new(store *s, int capacity, registry **out);
void reg_free(registry *r);
/* Bytes the cached versions may hold together (0 = no byte bound); applies from the next load
 * or release. */
void reg_set_budget(registry *r, size_t bytes);

/* Resolves (name, version) — version 0 = latest — or (name, alias) when alias != NULL, loads if
 * needed, and returns a reference (*out). MLP_ENOTFOUND names what is missing in err;
 * MLP_EBUSY when the name changed under every one of a bounded number of attempts. */
mlp_err reg_get(registry *r, const char *name, int version, const char *alias, reg_model **out,
                mlp_error *err);
/* Returns a reference. NULL-tolerant. */
void reg_release(registry *r, reg_model *m);
/* Forgets cached "latest" and alias resolutions of `name` (after a new version or alias change);
 * call it after the store commit. */
void reg_invalidate(registry *r, const char *name);
/* Drops (name, version) from the cache, forgets name's resolutions and waits for its readers to
 * finish; call it after the store delete. */
void reg_evict(registry *r, const char *name, int version);
/* Versions currently loaded. */
int reg_loaded(registry *r);
/* Bytes the cached versions hold now (the sum of their reg_model_bytes). */
size_t reg_bytes(registry *r);
/* Whether (name, version) is in the cache now (a hint: it may be dropped right after). Loads
 * nothing. */
int reg_cached(registry *r, const char *name, int version);

/* What a held model is. Every pointer is borrowed: valid until reg_release of m. */
const char *reg_model_name(const reg_model *m);
int reg_model_version(const reg_model *m);
/* The task as the store recorded it ("classification", ...). */
const char *reg_model_task(const reg_model *m);
/* The memory the decoded version holds, as the byte budget counts it (an estimate from the
 * networks' layout: allocator overhead is not included). */
size_t reg_model_bytes(const reg_model *m);
/* The network (read-only; see core/net.h for concurrent use) and its spec. */
const net *reg_model_net(const reg_model *m);
const net_spec *reg_model_spec(const reg_model *m);
/* Runs the model: Y (rows × n_out) from X (rows × n_in), as net_predict, or for an ensemble
 * version the mean of its members' outputs (server/ensemble.h). scratch:
 * reg_model_scratch_floats(m, rows) floats, caller-owned. Reentrant. */
size_t reg_model_scratch_floats(const reg_model *m, int rows);
mlp_err reg_model_predict(const reg_model *m, const float *X, int rows, float *Y, float *scratch);
/* Feature names (*n of them; 0 when the model has none) and class labels in output order (*n;
 * 0 unless classification). */
char *const *reg_model_features(const reg_model *m, int *n);
char *const *reg_model_labels(const reg_model *m, int *n);

#endif
