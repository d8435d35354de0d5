-- 0003_users: the users of class mode and who owns each dataset, run and model.
-- role: admin (the teacher), staff (teaching assistants) or student. The quota_* columns are a
-- user's overrides; NULL means the server's default (a flag). User 1 is the bootstrap admin
-- named "admin": keys given by --api-key / MLPD_API_KEYS act as it, and everything stored
-- before this migration is owned by it. owner_id is not a foreign key: deleting a user hands
-- their rows to another user (or purges them) in the same transaction.
CREATE TABLE users (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    name                        TEXT    NOT NULL UNIQUE,
    role                        TEXT    NOT NULL CHECK (role IN ('admin', 'staff', 'student')),
    display_name                TEXT    NOT NULL DEFAULT '',
    created_at                  TEXT    NOT NULL,
    quota_storage_bytes         INTEGER CHECK (quota_storage_bytes >= 0),
    quota_active_runs           INTEGER CHECK (quota_active_runs >= 0),
    quota_train_seconds_per_day INTEGER CHECK (quota_train_seconds_per_day >= 0),
    quota_models                INTEGER CHECK (quota_models >= 0),
    quota_predict_per_second    INTEGER CHECK (quota_predict_per_second >= 0)
);
INSERT INTO users (id, name, role, display_name, created_at)
    VALUES (1, 'admin', 'admin', '', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

ALTER TABLE datasets ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 1 CHECK (owner_id >= 1);
ALTER TABLE runs ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 1 CHECK (owner_id >= 1);
ALTER TABLE models ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 1 CHECK (owner_id >= 1);
CREATE INDEX datasets_owner ON datasets (owner_id, id);
CREATE INDEX runs_owner ON runs (owner_id, status, id);
CREATE INDEX models_owner ON models (owner_id);
