-- Who follows which channel. Written "IF NOT EXISTS": a database made
-- before follows moved here from the trust domain (its version 3) already
-- has the table, and keeps it. Channels are referred to by id.
CREATE TABLE IF NOT EXISTS follows (
	user_id BIGINT NOT NULL REFERENCES users (id),
	channel_id BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, channel_id)
);
CREATE INDEX IF NOT EXISTS follows_by_channel ON follows (channel_id);
