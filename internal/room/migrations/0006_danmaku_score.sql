-- The content filter's score (0-100) of a danmaku it let through to be
-- hidden by viewers above their shield level; 0 when not scored.
ALTER TABLE danmaku ADD COLUMN score INTEGER NOT NULL DEFAULT 0;
