-- In-app notifications. dedupe_key names the event a row comes from
-- ("live:CHANNEL:SESSION", "chat:MESSAGE:KIND"…): the same event never makes
-- two rows for one user, however many nodes or retries produce it.
-- payload is JSON text (both engines), read only by the notify domain.
CREATE TABLE notifications (
	id AUTO_ID,
	user_id BIGINT NOT NULL REFERENCES users (id),
	kind TEXT NOT NULL,
	channel_id BIGINT NOT NULL DEFAULT 0,
	channel_slug TEXT NOT NULL DEFAULT '',
	payload TEXT NOT NULL DEFAULT '{}',
	dedupe_key TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	read_at BIGINT
);
CREATE UNIQUE INDEX notifications_once ON notifications (user_id, dedupe_key);
CREATE INDEX notifications_by_user ON notifications (user_id, id);

-- Web Push subscriptions (PushSubscription: endpoint and keys), one row per
-- browser; an endpoint the push service answers 404/410 for is deleted.
CREATE TABLE push_subscriptions (
	id AUTO_ID,
	user_id BIGINT NOT NULL REFERENCES users (id),
	endpoint TEXT NOT NULL UNIQUE,
	p256dh TEXT NOT NULL,
	auth TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	last_error_at BIGINT
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);

-- The VAPID key pair generated on the first start when none is configured,
-- shared by every node (one row, id 1).
CREATE TABLE vapid_keys (
	id INTEGER PRIMARY KEY,
	public_key TEXT NOT NULL,
	private_key TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

-- When each channel was last announced as live and when that stream ended:
-- a conditional write here lets one node, once, announce a live session,
-- and a stream that comes back within the cool-down (a reconnect) is not
-- announced again.
CREATE TABLE live_announcements (
	channel_id BIGINT PRIMARY KEY,
	session_id BIGINT NOT NULL,
	announced_at BIGINT NOT NULL,
	ended_at BIGINT
);
