CREATE TABLE users (
	id AUTO_ID,
	username TEXT NOT NULL,
	-- NFKC, case-folded, confusable skeleton: two names that look alike collide here.
	username_key TEXT NOT NULL UNIQUE,
	email TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL,
	is_admin BOOLEAN NOT NULL DEFAULT FALSE,
	can_stream BOOLEAN NOT NULL DEFAULT FALSE,
	xp BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	deleted_at BIGINT
);

CREATE TABLE sessions (
	token_hash TEXT PRIMARY KEY,
	user_id BIGINT NOT NULL REFERENCES users (id),
	csrf_token TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
	id AUTO_ID,
	user_id BIGINT NOT NULL REFERENCES users (id),
	name TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	scopes TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_used_at BIGINT,
	revoked_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE platform_settings (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
