-- Which of the platform's ladder rungs a channel's streams get, by name,
-- comma-separated; '' is all of them. A row may now hold mode 'default'
-- (the platform decides on or off) with a rung choice.
ALTER TABLE channel_ladder ADD COLUMN rungs TEXT NOT NULL DEFAULT '';
