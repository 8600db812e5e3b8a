-- Chapters of a replay: markers at a time into it (ms), added live from
-- the studio ("mark this moment") or afterwards by the owner.
CREATE TABLE replay_chapters (
	id AUTO_ID,
	replay_id BIGINT NOT NULL,
	at_ms BIGINT NOT NULL,
	title TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX replay_chapters_by_replay ON replay_chapters (replay_id, at_ms);
