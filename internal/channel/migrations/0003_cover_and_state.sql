-- When the owner last uploaded a cover (the image lives in the data
-- directory); NULL: no cover. disabled_at: a platform admin switched the
-- channel off (no publishing, not listed).
ALTER TABLE channels ADD COLUMN cover_at BIGINT;
ALTER TABLE channels ADD COLUMN disabled_at BIGINT;
