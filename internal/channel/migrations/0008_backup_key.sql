-- A channel's backup stream key (backup ingest): a second encoder publishing
-- with it is the hot standby of the one on the primary key. NULL: none made
-- yet. Hashed like the primary key; unique, so a key names one channel.
ALTER TABLE channels ADD COLUMN backup_key_hash TEXT;
CREATE UNIQUE INDEX channels_backup_key ON channels (backup_key_hash);
