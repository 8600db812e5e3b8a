-- Published outbox rows older than the retention (--outbox-retention) are
-- pruned oldest first.
CREATE INDEX outbox_by_age ON outbox (created_at);
