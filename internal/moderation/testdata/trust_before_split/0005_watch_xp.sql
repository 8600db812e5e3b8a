-- When watch time last earned experience, so heartbeats from many tabs or
-- a script cannot earn more than one point a minute.
ALTER TABLE users ADD COLUMN last_watch_xp_at BIGINT NOT NULL DEFAULT 0;
