-- A members-only replay plays only for the channel's active members (and
-- whoever manages the channel); others see it listed, marked as such.
ALTER TABLE replays ADD COLUMN members_only BIGINT NOT NULL DEFAULT 0;
