/* store.h — everything mlpd keeps: datasets, runs, metrics, checkpoints and model versions.
 *
 * This interface speaks in datasets, runs, metrics and models, never in SQL, so that a second
 * backend (PostgreSQL, for several daemons sharing one store) can implement it without touching
 * api/, the registry or the job queue. The SQLite backend keeps one database in WAL mode at
 * <data_dir>/mlpd.db and dataset matrices as blobs (blob.h) under <data_dir>/datasets/ (written
 * to a temporary name, fsynced, renamed into place, directory fsynced, then the row committed).
 * Its files: store.c (open, pool, transactions; its DESIGN comment says where a second backend
 * plugs in), store_datasets.c, store_runs.c, store_models.c, store_users.c, store_usage.c (the
 * usage ledger and the quota checks made inside other resources' transactions; one resource's
 * SQL each), store_int.h (private), migrate.c, blob_dir.c, f32.c. Run states and metric ids: run.h.
 * A function that returns MLP_OK for a write has made it durable: callers answer 2xx only after
 * that.
 *
 * JSON-valued fields (request_json, meta_json) are opaque text to the store: api/ renders and
 * parses them. Ids are strings: "ds_N", "run_N".
 *
 * Class mode: every dataset, run and model has an owner (a users.id, with the user's name read
 * back), datasets and models a visibility; the lists can be seen through a caller (store_view),
 * filtered in SQL by the rules of server/access.h. See the blocks at the end.
 *
 * Owns: the database connections and files. Returned structs and arrays are new: free them with
 * the matching *_free function. Strings inside them belong to the struct.
 * Names (dataset, model, alias, experiment) are at most 71 bytes and tasks at most 15: longer
 * or empty ones are MLP_EINVAL. An id that is malformed ("ds_x", NULL) is MLP_ENOTFOUND.
 * List functions take limit >= 0 and offset >= 0 (else MLP_EINVAL); with no rows *items is
 * still a valid array to free (or NULL for models) and *n is 0. Functions without an
 * mlp_error return only the code.
 * Threading: one store is shared by every thread; each call is safe to make concurrently
 * (internally a pool of up to 8 SQLite connections; writes are serialised in-process and use
 * BEGIN IMMEDIATE, busy_timeout covers another process). store_close must not race other
 * calls. */
#ifndef STORE_H
#define STORE_H

#include "access.h"
#include "dataset.h"
#include "mlp.h"
#include "run.h"
#include "user.h"

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* Opens (creating if needed) data_dir and the database, applies pending migrations, and (when
 * no other process has the directory open) removes dataset files left by a crash.
 * Unwritable dir or full disk is MLP_EIO / MLP_ENOSPC with a clear err->msg; a database newer
 * than this binary's migrations is MLP_ECONFLICT. *out is new. */
mlp_err store_open(const char *data_dir, store **out, mlp_error *err);
/* NULL-tolerant. */
void store_close(store *s);
/* The schema version after migrations (highest applied migration number). */
int store_schema_version(store *s);
/* MLP_OK while <data_dir>/mlpd.db is still the file store_open opened; MLP_EIO with the reason
 * when it was removed or replaced under the running daemon (the open connections would still
 * read and write the old file, which the next start no longer sees). Never opens the file. */
mlp_err store_file_check(store *s, mlp_error *err);

/* ---- datasets ---- */
typedef struct {
    char id[24]; /* "ds_7" */
    char name[72];
    long rows;
    int cols;
    long long bytes;     /* size of the float matrix: rows * cols * 4 */
    char sha256[65];     /* hex SHA-256 of the float matrix bytes (little-endian float32) */
    char created_at[32]; /* RFC 3339 UTC, "2026-11-28T23:10:09Z" */
    long long owner_id;  /* users.id of its owner (access.h) */
    char owner[USER_NAME_MAX + 1]; /* that user's name */
    visibility vis;
    int rows_visible; /* 1 when whoever sees it may read its rows (access_rows) */
    int image[3];     /* {height, width, channels}, all 0 when not an image dataset */
} store_dataset;

/* Stores t (columns with stats and levels, the image shape, and the data) durably under a new
 * id. A full disk (or a file size limit) is MLP_ENOSPC and leaves nothing behind. out may be
 * NULL. */
mlp_err store_dataset_create(store *s, const char *name, const ds_table *t, store_dataset *out,
                             mlp_error *err);
/* Info, and optionally the columns without data (*cols_out new, data == NULL, image set; may
 * be NULL). */
mlp_err store_dataset_get(store *s, const char *id, store_dataset *out, ds_table **cols_out);
/* Columns and the whole matrix. *out is new. The matrix is checked against its sha256:
 * MLP_ECORRUPT when the file was damaged. */
mlp_err store_dataset_load(store *s, const char *id, ds_table **out);
/* Rows [offset, offset+limit) of the matrix (clipped to the table), *vals new (n_rows*cols). */
mlp_err store_dataset_read_rows(store *s, const char *id, long offset, long limit, float **vals,
                                long *n_rows);
/* Newest first. *items new (free()). total may be NULL. */
mlp_err store_dataset_list(store *s, int limit, int offset, store_dataset **items, int *n,
                           long *total);
/* ---- dataset image shape (data augmentation) ---- */
/* Sets the image shape {height, width, channels} of dataset id, or clears it when image is NULL
 * or all 0. The caller has checked it against the columns. MLP_ENOTFOUND naming the id. */
mlp_err store_dataset_set_image(store *s, const char *id, const int image[3], mlp_error *err);

/* MLP_ECONFLICT while a queued or running run uses it (as training or validation data), with
 * err->msg naming the run. The file is removed after the row. */
mlp_err store_dataset_delete(store *s, const char *id, mlp_error *err);

/* ---- runs (states and metric ids: run.h) ---- */
typedef struct {
    char id[24];
    run_state status;
    char task[16];
    char dataset_id[24];
    char val_dataset_id[24]; /* "" when validation is a fraction */
    char model_name[72];
    char experiment[72]; /* "" when none */
    char *request_json;  /* owned: normalised request with every param filled in */
    int epoch;           /* completed epochs */
    int epochs;          /* planned */
    run_metrics last;    /* metrics of the last completed epoch (NaN where not finite) */
    char *error;         /* owned, NULL unless failed */
    int model_version;   /* 0 until succeeded */
    char created_at[32], started_at[32], finished_at[32]; /* "" when not yet */
    int cancel_requested;   /* 1 once a cancel was stored (store_run_request_cancel) */
    int resumes;            /* times it resumed from a checkpoint (store_run_resume_point) */
    int resumed_from_epoch; /* checkpointed epoch the last resume started after; 0 when none */
    long long owner_id;     /* users.id of the user who created it (user.h) */
    char wait_reason[256];  /* why a queued run waits for a quota; "" otherwise */
    char owner[USER_NAME_MAX + 1]; /* that user's name */
} store_run;
void store_run_clear(store_run *r); /* frees owned strings; NULL-tolerant */
void store_runs_free(store_run *items, int n);

/* New queued run from r's task, dataset_id, val_dataset_id, model_name ("" means "run-N",
 * filled in), experiment, request_json (borrowed, required), epochs and owner_id (>= 1); fills
 * r->id, status and created_at.
 * MLP_ENOTFOUND (err->msg naming it) when a dataset does not exist. */
mlp_err store_run_create(store *s, store_run *r, mlp_error *err);
/* The same, refused with MLP_EBUSY (err->msg saying so) when max_queued > 0 runs are already
 * queued: the count and the insert are one transaction, so concurrent creates cannot pass the
 * limit together. */
mlp_err store_run_create_limited(store *s, store_run *r, int max_queued, mlp_error *err);
mlp_err store_run_get(store *s, const char *id, store_run *out);
/* Filters are NULL for "any". Newest first; total (may be NULL) counts with the same filters. */
mlp_err store_run_list(store *s, const run_state *status, const char *experiment,
                       const char *model_name, int limit, int offset, store_run **items, int *n,
                       long *total);
/* Runs left "running" by a previous process (to resume), then queued runs, each oldest first. */
mlp_err store_run_list_unfinished(store *s, store_run **items, int *n);
/* queued -> running (sets started_at). A running run stays running (OK: a resumed run may be
 * started again); a finished one is MLP_ECONFLICT. */
mlp_err store_run_start(store *s, const char *id);
/* Records one finished epoch atomically: the metric points (step = epoch; a point recorded
 * again replaces the old one; a non-finite value is stored as "no value" and read back as NaN),
 * progress, and, when ckpt != NULL, the training checkpoint that resumes after this epoch
 * (replacing the previous one; without ckpt the previous checkpoint stays). The run must be
 * running (else MLP_ECONFLICT). */
mlp_err store_run_epoch(store *s, const char *id, int epoch, const run_metrics *m, const void *ckpt,
                        size_t ckpt_len);
/* One finished epoch for store_run_epochs: its number and metric points. */
typedef struct {
    int epoch;
    run_metrics m;
} store_epoch;
/* CPU-seconds to charge to a user's usage ledger with the epochs that consumed them. */
typedef struct {
    long long user_id; /* >= 1 */
    double seconds;    /* >= 0 */
    long long at;      /* unix time of the charge */
} store_charge;
/* Records n finished epochs (eps in ascending epoch order, n >= 1) in one transaction, as
 * store_run_epoch does each: their metric points, progress (the run's epoch becomes the last
 * one), and, when ckpt != NULL, the checkpoint that resumes after the LAST of them. With charge
 * != NULL it also adds one usage_ledger row per epoch, charge->seconds shared between them by
 * their epoch_seconds (evenly when none is positive), so the ledger and the epochs it paid for
 * commit together. Committed lazily: a process crash keeps it, a power loss may take it back to
 * the previous synced commit (store.c). The run must be running (else MLP_ECONFLICT). */
mlp_err store_run_epochs(store *s, const char *id, const store_epoch *eps, int n, const void *ckpt,
                         size_t ckpt_len, const store_charge *charge);
/* The last checkpoint (new buffer) and its epoch; MLP_ENOTFOUND when none. Also deletes metric
 * points after that epoch and sets the run's epoch to it, so a resumed run has exactly one
 * point per epoch (with no checkpoint: every point goes and the epoch is 0). Only for queued or
 * running runs (else MLP_ECONFLICT). Call it once per training start: when it returns a
 * checkpoint it also counts a resume (resumes + 1, resumed_from_epoch = *epoch), in the same
 * transaction. */
mlp_err store_run_resume_point(store *s, const char *id, void **ckpt, size_t *len, int *epoch);
/* Final states. succeeded (from running) also publishes the model version atomically (see
 * models below) and fills *version (may be NULL); a run whose cancel was requested is not
 * published (MLP_ECANCELLED: end it with store_run_cancel). failed (from queued or running)
 * carries error text. The checkpoint is dropped. A run already finished is MLP_ECONFLICT. */
mlp_err store_run_succeed(store *s, const char *id, const char *model_name, const char *task,
                          int input_dim, int output_dim, const char *meta_json, const void *blob,
                          size_t blob_len, int *version);
mlp_err store_run_fail(store *s, const char *id, const char *error);
mlp_err store_run_cancel(store *s, const char *id); /* queued or running -> cancelled */
/* Stores a cancel request durably before it is answered: a queued run becomes cancelled at
 * once; a running one keeps training but gets cancel_requested, so that it can no longer
 * succeed and a restart ends it cancelled instead of resuming it (its finished epochs' metrics
 * stay). *now (may be NULL) gets the status after the call, or the final status with
 * MLP_ECONFLICT when the run already finished. */
mlp_err store_run_request_cancel(store *s, const char *id, run_state *now);
/* Finished runs only (MLP_ECONFLICT otherwise). */
mlp_err store_run_delete(store *s, const char *id);

typedef struct {
    metric_id name;
    int step;
    double value;
    char timestamp[32];
} store_metric;
/* Points of one run ordered by (step, name); name NULL for all. after_step > 0 skips steps
 * <= after_step. *items new (free()). MLP_ENOTFOUND for an unknown run. */
mlp_err store_run_metrics(store *s, const char *id, const metric_id *name, int after_step,
                          store_metric **items, int *n);

/* ---- models ---- */
typedef struct {
    char name[72];
    int version;
    char run_id[24]; /* "" for imported versions */
    char task[16];
    int input_dim, output_dim;
    char *meta_json; /* owned: feature_names, labels, metrics, params */
    char created_at[32];
} store_model_version;
void store_model_versions_free(store_model_version *v, int n);

typedef struct {
    char alias[72];
    int version;
} store_alias;

typedef struct {
    char name[72];
    int latest_version;
    int *versions; /* ascending, owned */
    int n_versions;
    store_alias *aliases; /* owned */
    int n_aliases;
    long long owner_id; /* users.id of the user who first published the name (access.h) */
    char owner[USER_NAME_MAX + 1]; /* that user's name */
    visibility vis;
} store_model;
/* Frees an array of n models from store_model_list (NULL or n <= 0: nothing). */
void store_models_free(store_model *m, int n);
/* Frees what one model owns (versions, aliases) and zeroes those fields; for the struct that
 * store_model_get fills. NULL-tolerant. */
void store_model_clear(store_model *m);

/* Adds a version of `name` (created if new): one more than the highest number ever given while
 * the model existed, so a deleted version's number is not reused for other weights. run_id ""
 * or NULL for an imported version, else "run_N" (MLP_EINVAL otherwise). *version filled. */
mlp_err store_model_add_version(store *s, const char *name, const char *run_id, const char *task,
                                int input_dim, int output_dim, const char *meta_json,
                                const void *blob, size_t blob_len, int *version);
/* Models by name, each with its versions and aliases. *items new (store_models_free). */
mlp_err store_model_list(store *s, int limit, int offset, store_model **items, int *n, long *total);
/* One model (out may be NULL; free with store_model_clear) and, when versions != NULL, every
 * version's info ascending (*versions new, store_model_versions_free). MLP_ENOTFOUND. */
mlp_err store_model_get(store *s, const char *name, store_model *out,
                        store_model_version **versions, int *n_versions);
/* version 0 means latest. Fills info (may be NULL; free info->meta_json) and the model blob
 * (new, may be NULL: then it is not read). MLP_ENOTFOUND. */
mlp_err store_model_version_get(store *s, const char *name, int version, store_model_version *info,
                                void **blob, size_t *len);
/* MLP_ENOTFOUND for an unknown alias. */
mlp_err store_model_alias_resolve(store *s, const char *name, const char *alias, int *version);
/* Creates or moves an alias. MLP_ENOTFOUND for an unknown model or version; version < 1 or a
 * bad alias is MLP_EINVAL. */
mlp_err store_model_alias_set(store *s, const char *name, const char *alias, int version);
/* MLP_ENOTFOUND when there is no such alias. */
mlp_err store_model_alias_delete(store *s, const char *name, const char *alias);
/* MLP_ECONFLICT while an alias points at it (err->msg names the alias). Deleting the last
 * version deletes the model. */
mlp_err store_model_version_delete(store *s, const char *name, int version, mlp_error *err);

/* ---- sweeps (store_sweeps.c): a sweep row and the runs it queued ---- */
typedef struct {
    char run_id[24];
    char *params_json;    /* owned: {"field": value, ...} of the params the sweep varies */
    char *pruned;         /* owned, NULL unless successive halving cancelled the run: why */
    double best_val_loss; /* lowest val_loss of any epoch; NaN when none yet */
    double best_val_acc;  /* highest val_accuracy of any epoch; NaN when none */
} store_sweep_run;

typedef struct {
    char id[24];        /* "swp_3" */
    char *request_json; /* owned: the normalised sweep request, opaque to the store */
    int rung;           /* epochs between successive-halving decisions; 0 = none */
    char created_at[32];
    store_sweep_run *runs; /* owned, in generation order; NULL and 0 from store_sweep_list */
    int n_runs;
    long long owner_id;            /* users.id of its owner, who owns its runs too (access.h) */
    char owner[USER_NAME_MAX + 1]; /* that user's name */
} store_sweep;
void store_sweep_clear(store_sweep *s); /* frees owned members; NULL-tolerant */
void store_sweeps_free(store_sweep *items, int n);

/* New sweep from request_json (required), rung and owner_id (0: the bootstrap admin, as for
 * the creates that name no owner); fills id, created_at, owner_id and owner. MLP_EINVAL when
 * owner_id names no user. Its runs are linked afterwards with store_sweep_add_run. */
mlp_err store_sweep_create(store *s, store_sweep *sw, mlp_error *err);
/* Links run run_id as run idx of sweep sweep_id, with the params it varies (JSON text).
 * MLP_ENOTFOUND for an unknown sweep or run; MLP_ECONFLICT when the run is in a sweep. */
mlp_err store_sweep_add_run(store *s, const char *sweep_id, int idx, const char *run_id,
                            const char *params_json, mlp_error *err);
/* The sweep with its runs (generation order) and their best validation metrics. */
mlp_err store_sweep_get(store *s, const char *id, store_sweep *out);
/* Newest first, without runs. *items new (store_sweeps_free). total may be NULL. */
mlp_err store_sweep_list(store *s, int limit, int offset, store_sweep **items, int *n, long *total);
/* Deletes the sweep record and its links; the runs stay. MLP_ENOTFOUND. */
mlp_err store_sweep_delete(store *s, const char *id);
/* The sweep run_id belongs to (sweep_id holds 24 bytes) and its rung; MLP_ENOTFOUND when none. */
mlp_err store_sweep_of_run(store *s, const char *run_id, char *sweep_id, int *rung);
/* The val_loss recorded at `epoch` by the runs of sweep_id that have one, in generation order:
 * *run_ids (24 bytes each) and *vals new (free()), *n their count. */
mlp_err store_sweep_rung_losses(store *s, const char *sweep_id, int epoch, char (**run_ids)[24],
                                double **vals, int *n);
/* Records that successive halving prunes run_id, and why: the link's pruned text and the run's
 * error (kept when the run then ends cancelled). MLP_ECONFLICT when the run already finished. */
mlp_err store_sweep_prune(store *s, const char *run_id, const char *reason);
/* ---- usage and quotas (store_usage.c; server/quota.h applies the rules) ---- */
/* Charges `seconds` of training of run_id's epoch to user_id at unix time `at` (usage ledger). */
mlp_err store_usage_charge(store *s, long long user_id, const char *run_id, int epoch,
                           double seconds, long long at);
/* Training seconds charged to user_id at unix times > since. */
mlp_err store_usage_seconds(store *s, long long user_id, long long since, double *out);
/* The unix time after which the seconds charged to user_id at times > since drop to at most
 * keep: the charge time at which enough of them leave a window that starts at `since` (the
 * caller adds the window's length). *at = since when they already do. */
mlp_err store_usage_frees_at(store *s, long long user_id, long long since, double keep,
                             long long *at);
/* Bytes user_id stores: dataset matrices plus model version bundles of models it owns. */
mlp_err store_usage_storage(store *s, long long user_id, long long *bytes);
/* user_id's runs that are queued or running. */
mlp_err store_usage_active_runs(store *s, long long user_id, long long *n);
/* Model names user_id owns. */
mlp_err store_usage_models(store *s, long long user_id, long long *n);
/* Sets (reason != NULL) or clears the wait_reason of queued run id ("" when not waiting). */
mlp_err store_run_set_wait_reason(store *s, const char *id, const char *reason);
/* The wait_reason of run id into buf ("" when none). */
mlp_err store_run_wait_reason(store *s, const char *id, char *buf, size_t cap);
/* running -> queued with wait_reason, keeping its checkpoint and metrics (a quota paused it at
 * an epoch boundary; the queue resumes it later). MLP_ECANCELLED when its cancel was requested
 * meanwhile (end it with store_run_cancel), MLP_ECONFLICT when it is not running. */
mlp_err store_run_pause(store *s, const char *id, const char *reason);
/* Limits that store_run_create_quota checks inside its insert transaction; 0 = unlimited. */
typedef struct {
    long long active_runs; /* the owner's queued + running runs, this one included */
    long long models;      /* model names the owner owns, counting this run's if new */
} store_run_quota;
/* store_run_create_limited, also refusing with MLP_EBUSY (err->msg naming the quota, its limit
 * and the use) when the owner would pass q's limits; q may be NULL. */
mlp_err store_run_create_quota(store *s, store_run *r, int max_queued, const store_run_quota *q,
                               mlp_error *err);
/* store_dataset_create owned by owner_id (>= 1), refused with MLP_ENOSPC (err->msg naming the
 * quota, its limit and the use) when its matrix would bring the owner's stored bytes past
 * storage_limit (0 = unlimited), checked inside the insert transaction. */
mlp_err store_dataset_create_owned(store *s, const char *name, const ds_table *t,
                                   long long owner_id, long long storage_limit, store_dataset *out,
                                   mlp_error *err);
/* ---- class mode: owners and visibility (server/access.h states the rules) ----
 * Every dataset, run and model has an owner; datasets and models a visibility. The functions
 * above that create without naming an owner act for the bootstrap admin (USER_BOOTSTRAP_ID).
 * A new dataset or model gets its owner's default visibility (access_default_vis of the
 * owner's role) unless told otherwise. Owner names come from the users table. */

/* Who is listing: viewer NULL lists everything; else only what access_see (datasets, models)
 * or access_run (runs) lets viewer see. owner (a user name, NULL for any) keeps that user's
 * items only (an unknown name lists nothing). Both borrowed for the call. */
typedef struct {
    const principal *viewer;
    const char *owner;
} store_view;

/* What the rules of access.h need about one resource. */
typedef struct {
    long long owner_id;
    char owner[USER_NAME_MAX + 1];
    visibility vis;   /* VIS_PRIVATE for a run (runs have no visibility of their own) */
    int rows_visible; /* datasets only */
} store_access;

/* store_dataset_create, owned by owner_id with visibility vis (NULL: the owner's default) and
 * rows_visible, refused with MLP_ENOSPC when storage_limit > 0 and the owner's stored bytes
 * would pass it (store_dataset_create_owned). MLP_EINVAL when owner_id names no user. */
mlp_err store_dataset_create_as(store *s, long long owner_id, const visibility *vis,
                                int rows_visible, long long storage_limit, const char *name,
                                const ds_table *t, store_dataset *out, mlp_error *err);
/* The lists above, seen through v (may be NULL: everything). Totals count the same rows. */
mlp_err store_dataset_list_for(store *s, const store_view *v, int limit, int offset,
                               store_dataset **items, int *n, long *total);
mlp_err store_run_list_for(store *s, const store_view *v, const run_state *status,
                           const char *experiment, const char *model_name, int limit, int offset,
                           store_run **items, int *n, long *total);
mlp_err store_model_list_for(store *s, const store_view *v, int limit, int offset,
                             store_model **items, int *n, long *total);
/* Owner and visibility of a dataset or a model. MLP_ENOTFOUND. */
mlp_err store_dataset_access(store *s, const char *id, store_access *out);
mlp_err store_model_access(store *s, const char *name, store_access *out);
/* A run's owner in *run and, in *model, the owner and visibility of the model named by its
 * model_name (*has_model 0 when no such model exists). MLP_ENOTFOUND for an unknown run. */
mlp_err store_run_access(store *s, const char *id, store_access *run, int *has_model,
                         store_access *model);
/* store_sweep_list seen through v (NULL: everything): a sweep is seen by its owner, staff and
 * admin (access_sweep); v->owner keeps that user's sweeps. The total counts the same rows. */
mlp_err store_sweep_list_for(store *s, const store_view *v, int limit, int offset,
                             store_sweep **items, int *n, long *total);
/* A sweep's owner (out->vis is VIS_PRIVATE: sweeps have no visibility). MLP_ENOTFOUND. */
mlp_err store_sweep_access(store *s, const char *id, store_access *out);
/* Changes a dataset's visibility and/or rows_visible (NULL: unchanged). MLP_ENOTFOUND. */
mlp_err store_dataset_set_access(store *s, const char *id, const visibility *vis,
                                 const int *rows_visible);
/* Changes a model's visibility. MLP_ENOTFOUND. */
mlp_err store_model_set_visibility(store *s, const char *name, visibility vis);
/* store_model_add_version for an import by owner_id: a new name is created owned by owner_id
 * with its default visibility. A name that exists and that owner_id may not change (access.h:
 * it is not the owner, staff or admin) is MLP_ECONFLICT with err->msg naming the owner, checked
 * in the same transaction as the insert. A run's success (store_run_succeed) makes the same
 * check for the run's owner. */
mlp_err store_model_add_version_as(store *s, long long owner_id, const char *name,
                                   const char *run_id, const char *task, int input_dim,
                                   int output_dim, const char *meta_json, const void *blob,
                                   size_t blob_len, int *version, mlp_error *err);

/* ---- users, API keys and the audit log (class mode; store_users.c) ----
 * Users are named by API.md's naming rule (the api layer checks it); user 1 is the bootstrap
 * admin "admin" (user.h), which cannot be deleted nor change role. A quota value of -1 means
 * "no override: the server default" (NULL in the database). Keys are kept as their SHA-256
 * digest only. The audit log is append-only. */
#define STORE_USER_DISPLAY_MAX 128 /* bytes of a display name */

typedef enum {
    STORE_QUOTA_STORAGE_BYTES = 0,
    STORE_QUOTA_ACTIVE_RUNS,
    STORE_QUOTA_TRAIN_SECONDS_PER_DAY,
    STORE_QUOTA_MODELS,
    STORE_QUOTA_PREDICT_PER_SECOND,
    STORE_QUOTA_N
} store_quota;

typedef struct {
    long long id;
    char name[USER_NAME_MAX + 1];
    user_role role;
    char display_name[STORE_USER_DISPLAY_MAX + 1];
    char created_at[32];
    long long quota[STORE_QUOTA_N]; /* -1: the server default */
} store_user;

typedef struct {
    long long id;
    long long user_id;
    char prefix[24];       /* the key's first characters (users.h: USERS_KEY_PREFIX_LEN) */
    char created_at[32];   /* RFC 3339 UTC */
    char last_used_at[32]; /* "" when never used */
    char revoked_at[32];   /* "" while valid */
} store_key;

typedef struct {
    long long id;
    char at[32];
    long long actor_id;
    char actor_name[USER_NAME_MAX + 1];
    char action[48];
    char resource[128];
    char *detail; /* owned: a JSON object as text */
} store_audit;
void store_audits_free(store_audit *items, int n);

/* New user from u's name, role, display_name and quota (fills u->id and created_at) and, when
 * digest != NULL, its first key (32-byte SHA-256, prefix shown in listings; *key_id may be
 * NULL), in one transaction. MLP_ECONFLICT (err->msg naming it) when the name is taken. */
mlp_err store_user_create(store *s, store_user *u, const unsigned char *digest, const char *prefix,
                          long long *key_id, mlp_error *err);
/* By name (or by id with store_user_get_id). MLP_ENOTFOUND. */
mlp_err store_user_get(store *s, const char *name, store_user *out);
mlp_err store_user_get_id(store *s, long long id, store_user *out);
/* Ordered by id. *items new (free()). total may be NULL. */
mlp_err store_user_list(store *s, int limit, int offset, store_user **items, int *n, long *total);

/* Which fields store_user_update writes. */
#define STORE_USER_SET_ROLE     (1u << 0)
#define STORE_USER_SET_DISPLAY  (1u << 1)
#define STORE_USER_SET_QUOTA(q) (1u << (2 + (q)))
/* Writes the fields of u named by `set` to the user named u->name, then fills *u with the
 * stored user. The role of user 1 cannot change (MLP_ECONFLICT). MLP_ENOTFOUND. */
mlp_err store_user_update(store *s, store_user *u, unsigned set, mlp_error *err);
/* Deletes the user `name` and their keys in one transaction. Without purge their datasets,
 * runs, models and sweeps are handed to heir_id; with purge they are deleted (dataset files removed
 * after the commit), refused with MLP_ECONFLICT (err->msg naming the run) while the user has a
 * queued or running run or another user's queued or running run uses one of their datasets.
 * *purged (may be NULL) gets the models deleted, each with its name and latest_version only
 * (new, store_models_free), so that the caller can drop them from the model cache. User 1 is
 * MLP_ECONFLICT. *deleted (may be NULL) gets the user as it was. MLP_ENOTFOUND. */
mlp_err store_user_delete(store *s, const char *name, long long heir_id, int purge,
                          store_user *deleted, store_model **purged, int *n_purged, mlp_error *err);

/* A new key for user_id (digest 32 bytes). *out (may be NULL) filled. MLP_ENOTFOUND for an
 * unknown user, MLP_ECONFLICT for a digest already stored. */
mlp_err store_key_create(store *s, long long user_id, const unsigned char *digest,
                         const char *prefix, store_key *out);
/* Every key of user_id, revoked ones too, oldest first. *items new (free()). */
mlp_err store_key_list(store *s, long long user_id, store_key **items, int *n);
/* Revokes key key_id of user_id (a key already revoked stays as it was: MLP_OK).
 * MLP_ENOTFOUND when user_id has no such key. */
mlp_err store_key_revoke(store *s, long long user_id, long long key_id);
/* The user holding the valid (unrevoked) key with this digest: *who filled, *key_id and
 * *last_used (Unix seconds, 0 when never used) too. MLP_ENOTFOUND. A read, never a write. */
mlp_err store_key_lookup(store *s, const unsigned char *digest, principal *who, long long *key_id,
                         long long *last_used);
/* Sets the key's last_used_at to now. */
mlp_err store_key_touch(store *s, long long key_id);

/* Appends one audit entry (detail_json: a JSON object as text, NULL for "{}"). */
mlp_err store_audit_append(store *s, const principal *actor, const char *action,
                           const char *resource, const char *detail_json);
/* Entries newest first, filtered (NULL for "any") by actor name, action and resource.
 * *items new (store_audits_free). total may be NULL. */
mlp_err store_audit_list(store *s, const char *actor, const char *action, const char *resource,
                         int limit, int offset, store_audit **items, int *n, long *total);

#endif
