-- The account that owns the channel; 0 for channels the platform owns
-- (made with the admin token before accounts existed).
ALTER TABLE channels ADD COLUMN owner_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX channels_by_owner ON channels (owner_id);
