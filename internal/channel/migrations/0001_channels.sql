CREATE TABLE channels (
	id AUTO_ID,
	slug TEXT NOT NULL UNIQUE,
	title TEXT NOT NULL,
	category TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '[]',
	stream_key_hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE live_sessions (
	id AUTO_ID,
	channel_id BIGINT NOT NULL REFERENCES channels (id),
	started_at BIGINT NOT NULL,
	ended_at BIGINT,
	end_reason TEXT,
	tracks TEXT NOT NULL,
	ingest_bytes BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX live_sessions_by_channel ON live_sessions (channel_id, started_at);
