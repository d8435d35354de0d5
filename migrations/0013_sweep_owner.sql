-- 0013_sweep_owner: who owns each sweep (class mode). A sweep is owned by the user whose key
-- created it, as are the runs it queues; it is seen and changed by its owner, staff and admin
-- (server/access.h). Sweeps stored before this migration belong to the bootstrap admin (user 1),
-- as migration 0003 did for datasets, runs and models. Not a foreign key, as in 0003: deleting a
-- user hands their sweeps to an heir or purges them in the same transaction.
ALTER TABLE sweeps ADD COLUMN owner_id INTEGER NOT NULL DEFAULT 1 CHECK (owner_id >= 1);
CREATE INDEX sweeps_owner ON sweeps (owner_id, id);
