-- Medal-only chat can ask for a minimum fan-medal level. A database that
-- added this column in the trust domain (its version 6, "medal_min_level")
-- records this version without running it (see Migrations).
ALTER TABLE channel_rules ADD COLUMN medal_min_level INTEGER NOT NULL DEFAULT 0;
