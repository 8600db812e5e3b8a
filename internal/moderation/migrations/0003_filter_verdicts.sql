-- The content filter's product side: each channel's filter setting, every
-- non-allow verdict with its reasons (the held queue is the verdicts with
-- action 'hold' and no decision yet), and appeals against verdicts.

CREATE TABLE channel_filter (
	channel_id BIGINT PRIMARY KEY,
	enabled BOOLEAN NOT NULL DEFAULT FALSE,
	level INTEGER NOT NULL DEFAULT 2 CHECK (level BETWEEN 0 AND 4),
	updated_at BIGINT NOT NULL,
	updated_by BIGINT NOT NULL
);

-- channel_id 0: a verdict outside any channel (a username at signup).
-- ticket is the opaque handle the sender gets (to appeal, to hear the decision).
-- payload is the held message as the room will publish it on approval.
CREATE TABLE filter_verdicts (
	id AUTO_ID,
	ticket TEXT NOT NULL UNIQUE,
	channel_id BIGINT NOT NULL,
	kind TEXT NOT NULL DEFAULT 'chat',
	user_id BIGINT NOT NULL,
	username TEXT NOT NULL DEFAULT '',
	text TEXT NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('hide', 'hold', 'block')),
	score INTEGER NOT NULL DEFAULT 0,
	category TEXT NOT NULL DEFAULT '',
	reasons TEXT NOT NULL DEFAULT '[]',
	payload TEXT NOT NULL DEFAULT '',
	decision TEXT NOT NULL DEFAULT '' CHECK (decision IN ('', 'approved', 'denied', 'denied_muted')),
	decided_by BIGINT NOT NULL DEFAULT 0,
	decided_at BIGINT,
	created_at BIGINT NOT NULL
);
CREATE INDEX filter_verdicts_by_channel ON filter_verdicts (channel_id, action, decision, id);

CREATE TABLE filter_appeals (
	id AUTO_ID,
	verdict_id BIGINT NOT NULL UNIQUE REFERENCES filter_verdicts (id),
	channel_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'upheld', 'rejected')),
	created_at BIGINT NOT NULL,
	decided_by BIGINT NOT NULL DEFAULT 0,
	decided_at BIGINT
);
CREATE INDEX filter_appeals_by_channel ON filter_appeals (channel_id, status, id);
