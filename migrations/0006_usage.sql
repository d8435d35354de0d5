-- 0006_usage: the training-seconds ledger behind fair scheduling and the train-seconds quota,
-- and why a queued run waits. One ledger row per finished epoch: the CPU-seconds its compute
-- thread spent on it, charged to the run's owner at unix time `at`. Fair scheduling reads the
-- last hour of it, the train_seconds_per_day quota the last 24 hours. wait_reason is set while a
-- queued run waits for a quota (which one, and when it frees) and cleared when it starts.
CREATE TABLE usage_ledger (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL CHECK (user_id >= 1),
    run_id  INTEGER NOT NULL,
    epoch   INTEGER NOT NULL CHECK (epoch >= 1),
    seconds REAL    NOT NULL CHECK (seconds >= 0),
    at      INTEGER NOT NULL
);
CREATE INDEX usage_ledger_user ON usage_ledger (user_id, at);
ALTER TABLE runs ADD COLUMN wait_reason TEXT;
