-- Per-channel money settings: an override of the platform's share (NULL
-- means the platform default) and the name of the channel's fan medal.
CREATE TABLE channel_money (
	channel_id BIGINT PRIMARY KEY,
	platform_share_bp INTEGER CHECK (platform_share_bp BETWEEN 0 AND 10000),
	medal_name TEXT NOT NULL DEFAULT ''
);

-- Membership tiers, priced per month in coins. Channel 0 holds the defaults
-- a channel uses until it prices its own.
CREATE TABLE membership_tiers (
	channel_id BIGINT NOT NULL,
	tier INTEGER NOT NULL CHECK (tier BETWEEN 1 AND 3),
	name TEXT NOT NULL,
	monthly_price BIGINT NOT NULL CHECK (monthly_price > 0),
	PRIMARY KEY (channel_id, tier)
);
INSERT INTO membership_tiers (channel_id, tier, name, monthly_price) VALUES
	(0, 1, 'Captain', 198),
	(0, 2, 'Admiral', 1998),
	(0, 3, 'Governor', 19998);

-- One membership per viewer and channel: the highest tier bought and when
-- it runs out (renewing extends expires_at).
CREATE TABLE memberships (
	channel_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	tier INTEGER NOT NULL,
	started_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

-- Every purchase, idempotent per buyer and key like gifts.
CREATE TABLE membership_purchases (
	id AUTO_ID,
	user_id BIGINT NOT NULL,
	idempotency_key TEXT NOT NULL,
	channel_id BIGINT NOT NULL,
	tier INTEGER NOT NULL,
	months INTEGER NOT NULL,
	amount BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	tx_id BIGINT NOT NULL REFERENCES ledger_txs (id),
	created_at BIGINT NOT NULL,
	UNIQUE (user_id, idempotency_key)
);

-- Fan medals: intimacy grows with coins spent on the channel and with a
-- daily watch bonus (counted in watch_minutes of watch_day, days since
-- 1970 UTC); the level follows from intimacy.
CREATE TABLE fan_medals (
	channel_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	intimacy BIGINT NOT NULL DEFAULT 0,
	watch_day INTEGER NOT NULL DEFAULT 0,
	watch_minutes INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX fan_medals_by_user ON fan_medals (user_id);

-- Custom gifts (channel_id > 0), time windows and free trial gifts.
ALTER TABLE gift_catalog ADD COLUMN channel_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE gift_catalog ADD COLUMN available_from BIGINT;
ALTER TABLE gift_catalog ADD COLUMN available_until BIGINT;
ALTER TABLE gift_catalog ADD COLUMN trial BOOLEAN NOT NULL DEFAULT FALSE;
INSERT INTO gift_catalog (id, name, price, tier, icon, trial) VALUES ('lucky-star', 'Lucky star', 20, 1, '🌟', TRUE);
CREATE TABLE trial_gifts_used (
	user_id BIGINT NOT NULL,
	gift_id TEXT NOT NULL,
	gift_row_id BIGINT NOT NULL,
	PRIMARY KEY (user_id, gift_id)
);

-- Withdrawals: requesting one moves the coins out of the channel's
-- earnings into the payout provider's account at once (so they cannot be
-- spent twice); rejecting moves them back; approving records the payout.
CREATE TABLE withdrawals (
	id AUTO_ID,
	channel_id BIGINT NOT NULL,
	requested_by BIGINT NOT NULL,
	amount BIGINT NOT NULL CHECK (amount > 0),
	status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
	note TEXT NOT NULL DEFAULT '',
	request_tx_id BIGINT NOT NULL REFERENCES ledger_txs (id),
	return_tx_id BIGINT,
	created_at BIGINT NOT NULL,
	decided_at BIGINT,
	decided_by BIGINT
);
CREATE INDEX withdrawals_by_channel ON withdrawals (channel_id, id);
CREATE INDEX withdrawals_by_status ON withdrawals (status, id);

-- Top-up orders through the manual provider: a viewer asks for a package,
-- an admin confirms the payment arrived (or rejects), and only then are
-- coins credited, once, through the payments table.
CREATE TABLE topup_orders (
	id AUTO_ID,
	user_id BIGINT NOT NULL,
	package_id TEXT NOT NULL REFERENCES topup_packages (id),
	status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
	created_at BIGINT NOT NULL,
	decided_at BIGINT,
	decided_by BIGINT
);
CREATE INDEX topup_orders_by_status ON topup_orders (status, id);
CREATE INDEX topup_orders_by_user ON topup_orders (user_id, id);
