-- Node ids: each running Livehouse process holds one row, by lease. The id
-- (1 to 1023, the 10 bits room message ids have room for) is stamped on
-- live sessions and room message ids. identity is the process's persisted
-- identity (a file in its data directory, or random for one run);
-- lease_until is Unix ms on the database's clock: a row whose lease ran out
-- may be taken by another node.
CREATE TABLE nodes (
	id INTEGER PRIMARY KEY,
	identity TEXT NOT NULL UNIQUE,
	started_at BIGINT NOT NULL,
	lease_until BIGINT NOT NULL
);
