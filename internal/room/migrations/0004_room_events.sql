-- The room's own history of the durable events it shows besides danmaku
-- (gifts, memberships), written by one node per event from the bus's
-- durable stream; joining viewers catch up from it.
CREATE TABLE room_events (
	id TEXT PRIMARY KEY,
	channel_id BIGINT NOT NULL,
	type TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX room_events_by_channel ON room_events (channel_id, created_at);
