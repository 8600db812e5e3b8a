-- The wallet history names the channel a gift went to: the room's slug as
-- the sender addressed it. Older gifts keep '' (the history then shows the
-- gift without the channel).
ALTER TABLE gifts ADD COLUMN room TEXT NOT NULL DEFAULT '';
