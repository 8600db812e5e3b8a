-- Pinyin initials are their own switch: two or three initials collide with
-- ordinary abbreviations, so only terms whose abbreviation is a known
-- evasion ("sb") turn them on.
ALTER TABLE modfilter_terms ADD COLUMN initials BOOLEAN NOT NULL DEFAULT FALSE;
