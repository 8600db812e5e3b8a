-- Simulcast destinations: where a channel's stream is re-sent when it goes
-- live (YouTube, Twitch, another Livehouse…). The stream key is stored
-- sealed (AES-256-GCM, nonce first, base64) with the key file in the data
-- directory; key_hint is its last four characters, the only part shown back.
CREATE TABLE simulcast_destinations (
	id AUTO_ID,
	channel_id BIGINT NOT NULL REFERENCES channels (id),
	name TEXT NOT NULL,
	protocol TEXT NOT NULL,
	url TEXT NOT NULL,
	key_ciphertext TEXT NOT NULL DEFAULT '',
	key_hint TEXT NOT NULL DEFAULT '',
	enabled BOOLEAN NOT NULL DEFAULT TRUE,
	created_at BIGINT NOT NULL
);
CREATE INDEX simulcast_destinations_by_channel ON simulcast_destinations (channel_id, id);
