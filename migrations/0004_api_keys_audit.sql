-- 0004_api_keys_audit: the API keys of class-mode users, and the audit log of their writes.
-- api_keys: only the SHA-256 digest of a key is kept (the key is shown once, when issued);
-- prefix is the key's first characters, shown in listings so a user can tell keys apart. A
-- revoked key keeps its row (revoked_at set) so listings and the audit log still name it; a
-- user's keys go with the user. last_used_at is refreshed at most once a minute per key.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest       BLOB    NOT NULL UNIQUE CHECK (length(digest) = 32),
    prefix       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

-- Append-only: rows are inserted, never updated or deleted. actor_name is copied so an entry
-- still names its actor after the user is deleted. detail is a JSON object (text).
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT    NOT NULL,
    actor_id   INTEGER NOT NULL,
    actor_name TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_actor ON audit (actor_name, id);
CREATE INDEX audit_action ON audit (action, id);
CREATE INDEX audit_resource ON audit (resource, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
