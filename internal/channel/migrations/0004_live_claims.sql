-- A live session is also the claim that lets one node, and only one,
-- ingest a channel. node_id is the node that ingests it (live.Registry; NULL
-- for sessions from before node ids); claim_until is when the claim lapses
-- unless that node renews it (Unix ms on the database's clock; 0 for older
-- sessions, which count as lapsed).
ALTER TABLE live_sessions ADD COLUMN node_id INTEGER;
ALTER TABLE live_sessions ADD COLUMN claim_until BIGINT NOT NULL DEFAULT 0;

-- Older versions could leave two open sessions of one channel (two nodes
-- took one key): keep the newest open, before the index forbids it.
UPDATE live_sessions SET ended_at = started_at, end_reason = 'server restarted'
	WHERE ended_at IS NULL AND id NOT IN (SELECT MAX(id) FROM live_sessions WHERE ended_at IS NULL GROUP BY channel_id);

-- One open session per channel: the conditional write that claims a channel.
CREATE UNIQUE INDEX live_sessions_one_open ON live_sessions (channel_id) WHERE ended_at IS NULL;
