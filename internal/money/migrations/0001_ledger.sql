-- Double-entry ledger. Every movement is a ledger_txs row with entries that
-- sum to zero. Amounts are integer coins.
CREATE TABLE ledger_accounts (
	id AUTO_ID,
	kind TEXT NOT NULL CHECK (kind IN ('user', 'channel', 'platform', 'provider')),
	owner_id BIGINT NOT NULL,
	-- Hot accounts (channels, the platform) are credited by appended entries
	-- and settled in batches; balance holds the settled part.
	balance BIGINT NOT NULL DEFAULT 0,
	may_go_negative BOOLEAN NOT NULL DEFAULT FALSE,
	UNIQUE (kind, owner_id),
	CHECK (may_go_negative OR balance >= 0)
);

CREATE TABLE ledger_txs (
	id AUTO_ID,
	kind TEXT NOT NULL,
	memo TEXT NOT NULL DEFAULT '',
	actor_id BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
	id AUTO_ID,
	tx_id BIGINT NOT NULL REFERENCES ledger_txs (id),
	account_id BIGINT NOT NULL REFERENCES ledger_accounts (id),
	amount BIGINT NOT NULL,
	settled BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_unsettled ON ledger_entries (account_id) WHERE settled = FALSE;

CREATE TABLE gift_catalog (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	price BIGINT NOT NULL CHECK (price > 0),
	tier INTEGER NOT NULL,
	icon TEXT NOT NULL,
	active BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO gift_catalog (id, name, price, tier, icon) VALUES
	('glowstick', 'Glow stick', 1, 1, '✨'),
	('heart', 'Heart', 10, 1, '💖'),
	('flowers', 'Flowers', 52, 2, '💐'),
	('cake', 'Cake', 200, 2, '🎂'),
	('rocket', 'Rocket', 1000, 3, '🚀'),
	('castle', 'Castle', 10000, 4, '🏰');

CREATE TABLE gifts (
	id AUTO_ID,
	sender_id BIGINT NOT NULL,
	idempotency_key TEXT NOT NULL,
	channel_id BIGINT NOT NULL,
	gift_id TEXT NOT NULL REFERENCES gift_catalog (id),
	count INTEGER NOT NULL,
	amount BIGINT NOT NULL,
	tx_id BIGINT NOT NULL REFERENCES ledger_txs (id),
	created_at BIGINT NOT NULL,
	UNIQUE (sender_id, idempotency_key)
);
CREATE INDEX gifts_by_channel ON gifts (channel_id, id);

-- Transactional outbox: rows written in the gift's transaction, published
-- to the bus after commit by the relay (at least once).
CREATE TABLE outbox (
	id AUTO_ID,
	subject TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
