-- 0001_init: datasets, runs with their metric points and checkpoint, models with versions
-- and aliases. Times are RFC 3339 UTC text ("2026-11-28T23:10:09Z"). Integer ids are rendered
-- as "ds_N" / "run_N" by server/store.c; AUTOINCREMENT keeps a deleted id from being reused.
-- schema_migrations itself is created by server/migrate.c before the first migration runs.

CREATE TABLE datasets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    rows       INTEGER NOT NULL CHECK (rows >= 0),
    cols       INTEGER NOT NULL CHECK (cols >= 1),
    bytes      INTEGER NOT NULL CHECK (bytes = rows * cols * 4),
    sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
    created_at TEXT    NOT NULL
);

-- One row per column, in column order. Statistics are NULL for categorical columns.
CREATE TABLE dataset_columns (
    dataset_id     INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    idx            INTEGER NOT NULL CHECK (idx >= 0),
    name           TEXT    NOT NULL,
    type           TEXT    NOT NULL CHECK (type IN ('numeric', 'categorical')),
    min            REAL,
    max            REAL,
    mean           REAL,
    std            REAL,
    n_levels       INTEGER NOT NULL DEFAULT 0 CHECK (n_levels >= 0),
    first_text_row INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (dataset_id, idx)
) WITHOUT ROWID;

-- The levels of categorical columns, in level-index order.
CREATE TABLE dataset_levels (
    dataset_id INTEGER NOT NULL,
    col        INTEGER NOT NULL,
    idx        INTEGER NOT NULL CHECK (idx >= 0),
    value      TEXT    NOT NULL,
    PRIMARY KEY (dataset_id, col, idx),
    FOREIGN KEY (dataset_id, col) REFERENCES dataset_columns (dataset_id, idx) ON DELETE CASCADE
) WITHOUT ROWID;

-- dataset_id / val_dataset_id are not foreign keys: a finished run outlives its data.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    status         TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    task           TEXT    NOT NULL,
    dataset_id     INTEGER NOT NULL,
    val_dataset_id INTEGER,
    model_name     TEXT    NOT NULL,
    experiment     TEXT    NOT NULL DEFAULT '',
    request_json   TEXT    NOT NULL,
    epoch          INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    epochs         INTEGER NOT NULL CHECK (epochs >= 0),
    error          TEXT,
    model_version  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL,
    started_at     TEXT,
    finished_at    TEXT
);
CREATE INDEX runs_status ON runs (status, id);
CREATE INDEX runs_dataset ON runs (dataset_id);
CREATE INDEX runs_val_dataset ON runs (val_dataset_id);
CREATE INDEX runs_experiment ON runs (experiment, id);
CREATE INDEX runs_model_name ON runs (model_name, id);

-- One point per (run, metric, step); step is the epoch. value is NULL when it was not finite.
CREATE TABLE run_metrics (
    run_id    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name      TEXT    NOT NULL,
    step      INTEGER NOT NULL CHECK (step >= 1),
    value     REAL,
    timestamp TEXT    NOT NULL,
    PRIMARY KEY (run_id, name, step)
) WITHOUT ROWID;
CREATE INDEX run_metrics_step ON run_metrics (run_id, step);

-- Only the latest training checkpoint of a run is kept.
CREATE TABLE run_checkpoints (
    run_id     INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    epoch      INTEGER NOT NULL CHECK (epoch >= 1),
    data       BLOB    NOT NULL,
    created_at TEXT    NOT NULL
);

-- last_version only grows while the model exists, so a deleted version number is never handed
-- out again for different weights.
CREATE TABLE models (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    last_version INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL
);

-- run_id is NULL for imported versions (not a foreign key: the version outlives its run).
CREATE TABLE model_versions (
    model_id   INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version >= 1),
    run_id     INTEGER,
    task       TEXT    NOT NULL,
    input_dim  INTEGER NOT NULL CHECK (input_dim >= 1),
    output_dim INTEGER NOT NULL CHECK (output_dim >= 1),
    meta_json  TEXT    NOT NULL,
    blob       BLOB    NOT NULL,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (model_id, version)
);

-- The version foreign key (no ON DELETE action) refuses to delete an aliased version.
CREATE TABLE model_aliases (
    model_id INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    alias    TEXT    NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);
CREATE INDEX model_aliases_version ON model_aliases (model_id, version);
