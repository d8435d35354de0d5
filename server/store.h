/* store.h — everything mlpd keeps: datasets, runs, metrics, checkpoints and model versions.
 *
 * This interface speaks in datasets, runs, metrics and models, never in SQL, so that a second
 * backend (PostgreSQL, for several daemons sharing one store) can implement it without touching
 * api/, the registry or the job queue. The SQLite backend keeps one database in WAL mode at
 * <data_dir>/mlpd.db and dataset matrices as blobs (blob.h) under <data_dir>/datasets/ (written
 * to a temporary name, fsynced, renamed into place, directory fsynced, then the row committed).
 * Its files: store.c (open, pool, transactions; its DESIGN comment says where a second backend
 * plugs in), store_datasets.c, store_runs.c, store_models.c (one resource's SQL each),
 * store_int.h (private), migrate.c, blob_dir.c, f32.c. Run states and metric ids: run.h.
 * A function that returns MLP_OK for a write has made it durable: callers answer 2xx only
 * after that.
 *
 * JSON-valued fields (request_json, meta_json) are opaque text to the store: api/ renders and
 * parses them. Ids are strings: "ds_N", "run_N".
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

#include "dataset.h"
#include "mlp.h"
#include "run.h"

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
    int image[3];        /* {height, width, channels}, all 0 when not an image dataset */
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
} store_run;
void store_run_clear(store_run *r); /* frees owned strings; NULL-tolerant */
void store_runs_free(store_run *items, int n);

/* New queued run from r's task, dataset_id, val_dataset_id, model_name ("" means "run-N",
 * filled in), experiment, request_json (borrowed, required) and epochs; fills r->id, status
 * and created_at.
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

#endif
