-- Secrets of the platform itself (the admin token), stored hashed.
CREATE TABLE platform_credentials (
	name TEXT PRIMARY KEY,
	secret_hash TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
