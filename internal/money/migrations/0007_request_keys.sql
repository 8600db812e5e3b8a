-- Withdrawal requests and top-up orders are idempotent by key like gifts:
-- the same key from the same account is one request.
ALTER TABLE withdrawals ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX withdrawals_by_key ON withdrawals (requested_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE topup_orders ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX topup_orders_by_key ON topup_orders (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
