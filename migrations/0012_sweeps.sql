-- 0012_sweeps: hyperparameter sweeps and the link run -> sweep. A sweep keeps its normalised
-- request (base run request, grid or random search, budget, early stopping) as opaque JSON and
-- rung, the epochs between successive-halving decisions (0 = no early stopping). sweep_runs
-- lists the runs it queued in generation order with the params it varied for each; a run
-- belongs to at most one sweep. Deleting a run removes it from its sweep; deleting a sweep
-- keeps its runs. pruned is the reason when successive halving cancelled the run, else NULL.
CREATE TABLE sweeps (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_json TEXT    NOT NULL,
    rung         INTEGER NOT NULL DEFAULT 0 CHECK (rung >= 0),
    created_at   TEXT    NOT NULL
);

CREATE TABLE sweep_runs (
    sweep_id    INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    run_id      INTEGER NOT NULL UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
    params_json TEXT    NOT NULL,
    pruned      TEXT,
    PRIMARY KEY (sweep_id, idx)
);
