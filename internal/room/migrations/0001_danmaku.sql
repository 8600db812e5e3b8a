-- The room log: every danmaku, in id order per room. Ids are made by the
-- node (time-ordered), so rows can be written in batches.
CREATE TABLE danmaku (
	id BIGINT PRIMARY KEY,
	channel_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	username TEXT NOT NULL,
	level INTEGER NOT NULL,
	text TEXT NOT NULL,
	color TEXT NOT NULL,
	mode TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	stream_offset_ms BIGINT NOT NULL,
	deleted_at BIGINT,
	deleted_by BIGINT
);
CREATE INDEX danmaku_by_channel ON danmaku (channel_id, id);
