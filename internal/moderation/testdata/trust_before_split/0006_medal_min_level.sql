-- Medal-only chat can ask for a minimum fan-medal level.
ALTER TABLE channel_rules ADD COLUMN medal_min_level INTEGER NOT NULL DEFAULT 0;
