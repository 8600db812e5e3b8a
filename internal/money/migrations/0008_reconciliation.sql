-- ledger verify reconciles every movement with its source row, so each
-- source row says exactly what moved.

-- A gift keeps the platform's cut it was split with. Gifts sent before:
-- the cut of a (transaction, channel) is what the channel's credit lacks
-- of the gifts' amounts, kept on the group's first gift (a group commit
-- credited each channel once for all its gifts).
ALTER TABLE gifts ADD COLUMN platform_cut BIGINT NOT NULL DEFAULT 0;
UPDATE gifts SET platform_cut = s.cut
FROM (SELECT g.first_id, g.total - COALESCE(c.credit, 0) AS cut
	FROM (SELECT tx_id, channel_id, MIN(id) AS first_id, SUM(amount) AS total FROM gifts GROUP BY tx_id, channel_id) AS g
	LEFT JOIN (SELECT e.tx_id, a.owner_id, SUM(e.amount) AS credit FROM ledger_entries e
		JOIN ledger_accounts a ON a.id = e.account_id JOIN ledger_txs t ON t.id = e.tx_id
		WHERE a.kind = 'channel' AND t.kind = 'gift' GROUP BY e.tx_id, a.owner_id) AS c
	ON c.tx_id = g.tx_id AND c.owner_id = g.channel_id) AS s
WHERE gifts.id = s.first_id;

-- Grants get a source row like every other movement (made before: read
-- back from their ledger transactions).
CREATE TABLE grants (
	id AUTO_ID,
	user_id BIGINT NOT NULL,
	coins BIGINT NOT NULL CHECK (coins > 0),
	reason TEXT NOT NULL,
	actor_id BIGINT NOT NULL,
	tx_id BIGINT NOT NULL UNIQUE REFERENCES ledger_txs (id),
	created_at BIGINT NOT NULL
);
INSERT INTO grants (user_id, coins, reason, actor_id, tx_id, created_at)
	SELECT a.owner_id, e.amount, t.memo, t.actor_id, t.id, t.created_at FROM ledger_txs t
	JOIN ledger_entries e ON e.tx_id = t.id JOIN ledger_accounts a ON a.id = e.account_id
	WHERE t.kind = 'grant' AND a.kind = 'user' AND e.amount > 0;
