-- 0002_run_cancel_resume: a cancel request stored before it is answered, and how a run resumed.
-- cancel_requested is set (with the 202) while the run trains; the worker then ends it
-- cancelled, and a restart ends it cancelled instead of resuming it. resumes counts the times a
-- run resumed from a checkpoint after a restart; resumed_from_epoch is the checkpointed epoch
-- the last of them started after (NULL when it never resumed).
ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0
    CHECK (cancel_requested IN (0, 1));
ALTER TABLE runs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0 CHECK (resumes >= 0);
ALTER TABLE runs ADD COLUMN resumed_from_epoch INTEGER CHECK (resumed_from_epoch >= 1);
