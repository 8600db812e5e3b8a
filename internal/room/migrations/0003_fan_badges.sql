-- A danmaku keeps the badges its sender wore when it was sent.
ALTER TABLE danmaku ADD COLUMN member_tier INTEGER NOT NULL DEFAULT 0;
ALTER TABLE danmaku ADD COLUMN medal_name TEXT NOT NULL DEFAULT '';
ALTER TABLE danmaku ADD COLUMN medal_level INTEGER NOT NULL DEFAULT 0;
