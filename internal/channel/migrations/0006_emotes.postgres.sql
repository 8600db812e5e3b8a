-- Channel emotes: small images owners upload; ":name:" in chat shows them.
-- The image itself lives here (not in the data directory) so every node
-- serves it. sha is the SHA-256 of data (the ETag and the URL's version).
CREATE TABLE IF NOT EXISTS channel_emotes (
	id BIGSERIAL PRIMARY KEY,
	channel_id BIGINT NOT NULL REFERENCES channels (id),
	name TEXT NOT NULL,
	content_type TEXT NOT NULL,
	data BYTEA NOT NULL,
	sha TEXT NOT NULL,
	width INTEGER NOT NULL,
	height INTEGER NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (channel_id, name)
);
