-- The content filter's term lists (channel_id 0 is the platform's),
-- settings, labelled samples from moderators' decisions and trained
-- classifier models (base64 text, so one file serves both engines).
CREATE TABLE modfilter_terms (
	id AUTO_ID,
	channel_id BIGINT NOT NULL,
	term TEXT NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('block', 'hold', 'replace', 'allow')),
	category TEXT NOT NULL,
	pinyin BOOLEAN NOT NULL DEFAULT FALSE,
	created_by BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (channel_id, term)
);

CREATE TABLE modfilter_settings (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE modfilter_samples (
	id AUTO_ID,
	text TEXT NOT NULL,
	offensive BOOLEAN NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('deleted', 'approved', 'appeal_upheld')),
	created_at BIGINT NOT NULL
);

CREATE TABLE modfilter_models (
	id AUTO_ID,
	version TEXT NOT NULL UNIQUE,
	seed BIGINT NOT NULL,
	metrics TEXT NOT NULL,
	data TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
