-- Top-up packages: what a payment buys.
CREATE TABLE topup_packages (
	id TEXT PRIMARY KEY,
	coins BIGINT NOT NULL CHECK (coins > 0),
	price_cents BIGINT NOT NULL CHECK (price_cents > 0),
	currency TEXT NOT NULL,
	active BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO topup_packages (id, coins, price_cents, currency) VALUES
	('coins-100', 100, 100, 'CNY'),
	('coins-600', 600, 600, 'CNY'),
	('coins-3000', 3000, 2800, 'CNY'),
	('coins-10000', 10000, 8800, 'CNY');

-- Confirmed payments, one per provider transaction: a webhook delivered
-- twice credits once.
CREATE TABLE payments (
	id AUTO_ID,
	provider TEXT NOT NULL,
	provider_tx TEXT NOT NULL,
	user_id BIGINT NOT NULL,
	package_id TEXT NOT NULL REFERENCES topup_packages (id),
	coins BIGINT NOT NULL,
	tx_id BIGINT NOT NULL REFERENCES ledger_txs (id),
	created_at BIGINT NOT NULL,
	UNIQUE (provider, provider_tx)
);
