-- Memberships can renew themselves each month from the member's coins;
-- the renewer needs the names the room event shows.
ALTER TABLE memberships ADD COLUMN auto_renew BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE memberships ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN room TEXT NOT NULL DEFAULT '';
CREATE INDEX memberships_due ON memberships (expires_at) WHERE auto_renew;
