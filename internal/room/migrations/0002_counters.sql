-- Running totals per room. Nodes add their per-second sums, so a popular
-- room's likes cost one write a second per node, not one per tap.
CREATE TABLE room_counters (
	channel_id BIGINT PRIMARY KEY,
	likes BIGINT NOT NULL DEFAULT 0,
	shares BIGINT NOT NULL DEFAULT 0
);
