-- Moderators, channel rules, sanctions, the moderation log and reports.
-- Written "IF NOT EXISTS": a database made before these tables moved here
-- from the trust domain (its version 3) already has them, and keeps them.
-- channel_id 0 means the whole platform. Channels live in the channel
-- domain; these tables refer to them by id without a foreign key.
CREATE TABLE IF NOT EXISTS channel_moderators (
	channel_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL REFERENCES users (id),
	appointed_by BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (channel_id, user_id)
);

CREATE TABLE IF NOT EXISTS channel_rules (
	channel_id BIGINT PRIMARY KEY,
	min_level INTEGER NOT NULL DEFAULT 0,
	min_account_age_seconds BIGINT NOT NULL DEFAULT 0,
	links_min_level INTEGER NOT NULL DEFAULT 0,
	slow_mode_seconds INTEGER NOT NULL DEFAULT 0,
	followers_only BOOLEAN NOT NULL DEFAULT FALSE,
	members_only BOOLEAN NOT NULL DEFAULT FALSE,
	medal_only BOOLEAN NOT NULL DEFAULT FALSE,
	max_length INTEGER NOT NULL DEFAULT 200,
	updated_at BIGINT NOT NULL,
	updated_by BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS sanctions (
	id AUTO_ID,
	kind TEXT NOT NULL CHECK (kind IN ('mute', 'ban')),
	channel_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL REFERENCES users (id),
	reason TEXT NOT NULL,
	issuer_id BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT,
	lifted_at BIGINT
);
CREATE INDEX IF NOT EXISTS sanctions_by_user ON sanctions (user_id, channel_id, kind);

CREATE TABLE IF NOT EXISTS moderation_log (
	id AUTO_ID,
	channel_id BIGINT NOT NULL,
	actor_id BIGINT NOT NULL,
	action TEXT NOT NULL,
	target_user_id BIGINT NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS moderation_log_by_channel ON moderation_log (channel_id, id);

CREATE TABLE IF NOT EXISTS reports (
	id AUTO_ID,
	reporter_id BIGINT NOT NULL REFERENCES users (id),
	target_user_id BIGINT NOT NULL REFERENCES users (id),
	channel_id BIGINT NOT NULL,
	message_id TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'actioned', 'dismissed')),
	created_at BIGINT NOT NULL,
	handled_by BIGINT,
	handled_at BIGINT
);
CREATE INDEX IF NOT EXISTS reports_by_channel ON reports (channel_id, status, id);
