-- Recordings of live sessions (replays). The media lives on the disk of
-- the node that ingested the session (node_id), under path (relative to
-- the data directory); started_at is the wall-clock time (Unix ms) of the
-- replay's time 0, which maps the room log onto the replay. state is
-- 'recording' while the session is live (or was, when its node died) and
-- 'ready' once finalised from what is on disk.
CREATE TABLE replays (
	id AUTO_ID,
	channel_id BIGINT NOT NULL,
	channel_slug TEXT NOT NULL,
	session_id BIGINT NOT NULL DEFAULT 0,
	node_id BIGINT NOT NULL DEFAULT 0,
	title TEXT NOT NULL DEFAULT '',
	started_at BIGINT NOT NULL,
	duration_ms BIGINT NOT NULL DEFAULT 0,
	bytes BIGINT NOT NULL DEFAULT 0,
	path TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL DEFAULT 'recording',
	hidden BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL
);
CREATE INDEX replays_by_channel ON replays (channel_id, started_at);
CREATE INDEX replays_by_start ON replays (started_at);

-- Whether a channel records its live sessions; no row: the platform's
-- default (--recording-default).
CREATE TABLE recording_settings (
	channel_id BIGINT PRIMARY KEY,
	enabled BIGINT NOT NULL
);
