-- Proof-of-work challenges already spent, so each solution works once
-- (on every node). Rows past expires_at are deleted as new ones arrive.
CREATE TABLE spent_challenges (
	id TEXT PRIMARY KEY,
	expires_at BIGINT NOT NULL
);
CREATE INDEX spent_challenges_expiry ON spent_challenges (expires_at);
