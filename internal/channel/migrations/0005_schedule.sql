-- Upcoming streams an owner announces (the studio's schedule; shown on the
-- channel page). starts_at is Unix ms UTC; weekly entries repeat every 7
-- days from starts_at, so they never drop out; one-off entries drop out
-- once they are past.
CREATE TABLE IF NOT EXISTS channel_schedule (
	id AUTO_ID,
	channel_id BIGINT NOT NULL REFERENCES channels (id),
	starts_at BIGINT NOT NULL,
	title TEXT NOT NULL,
	weekly INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS channel_schedule_by_channel ON channel_schedule (channel_id, starts_at);
