-- 0005_visibility: who may see a dataset or a model besides its owner, staff and admin.
-- visibility: private (owner, staff, admin), class (any user), public (also anonymous callers
-- where --public-predict lets them in). rows_visible (datasets): 1 when a user who may see the
-- dataset but does not own it may also read its raw rows. Rows stored before this migration
-- belong to the teacher (owner 1, migration 0003) and are shared with the class.
ALTER TABLE datasets ADD COLUMN visibility TEXT NOT NULL DEFAULT 'class'
    CHECK (visibility IN ('private', 'class', 'public'));
ALTER TABLE datasets ADD COLUMN rows_visible INTEGER NOT NULL DEFAULT 0
    CHECK (rows_visible IN (0, 1));
ALTER TABLE models ADD COLUMN visibility TEXT NOT NULL DEFAULT 'class'
    CHECK (visibility IN ('private', 'class', 'public'));
