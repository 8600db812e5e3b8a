-- A channel's ABR ladder mode: 'on' or 'off'; no row ('default'): the
-- platform's --ladder. Read when the channel goes live.
CREATE TABLE IF NOT EXISTS channel_ladder (
	channel_id BIGINT PRIMARY KEY REFERENCES channels (id),
	mode TEXT NOT NULL
);
