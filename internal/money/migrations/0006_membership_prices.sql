-- A membership remembers the monthly price its member last agreed to (an
-- automatic renewal never charges more) and whether a price rise stopped
-- its renewal (buying again at the new price re-arms it).
ALTER TABLE memberships ADD COLUMN monthly_price BIGINT NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN renewal_stopped BOOLEAN NOT NULL DEFAULT FALSE;

-- Each purchase keeps the period it paid for and its monthly price (an
-- upgrade converts the time left at what was paid for it) and the
-- platform's cut (ledger verify checks every split against it).
ALTER TABLE membership_purchases ADD COLUMN monthly_price BIGINT NOT NULL DEFAULT 0;
ALTER TABLE membership_purchases ADD COLUMN period_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE membership_purchases ADD COLUMN platform_cut BIGINT NOT NULL DEFAULT 0;
-- Purchases made before: every one charged months × the monthly price and
-- covered the months before its expiry (30 days = 2592000000 ms).
UPDATE membership_purchases SET monthly_price = amount / months, period_start = expires_at - months * 2592000000;
UPDATE membership_purchases SET platform_cut = membership_purchases.amount - c.credit
FROM (SELECT e.tx_id, SUM(e.amount) AS credit FROM ledger_entries e
	JOIN ledger_accounts a ON a.id = e.account_id JOIN ledger_txs t ON t.id = e.tx_id
	WHERE a.kind = 'channel' AND t.kind = 'membership' GROUP BY e.tx_id) AS c
WHERE membership_purchases.tx_id = c.tx_id;
UPDATE memberships SET monthly_price = COALESCE((SELECT p.monthly_price FROM membership_purchases p
	WHERE p.channel_id = memberships.channel_id AND p.user_id = memberships.user_id ORDER BY p.id DESC LIMIT 1), 0);

-- What the wallet tells its owner (a renewal stopped by a price rise),
-- until they dismiss it or buy again in that channel.
CREATE TABLE money_notices (
	id AUTO_ID,
	user_id BIGINT NOT NULL,
	kind TEXT NOT NULL,
	channel_id BIGINT NOT NULL,
	channel TEXT NOT NULL,
	tier INTEGER NOT NULL,
	tier_name TEXT NOT NULL,
	agreed_price BIGINT NOT NULL,
	price BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	dismissed_at BIGINT
);
CREATE INDEX money_notices_by_user ON money_notices (user_id, id);
