-- A danmaku may answer another one in the same room: the quoted author and
-- a short excerpt are kept with it, so history and live frames render the
-- quote without another lookup. mentions: the @names it resolved to
-- accounts, comma-separated.
ALTER TABLE danmaku ADD COLUMN reply_to BIGINT NOT NULL DEFAULT 0;
ALTER TABLE danmaku ADD COLUMN reply_user_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE danmaku ADD COLUMN reply_user TEXT NOT NULL DEFAULT '';
ALTER TABLE danmaku ADD COLUMN reply_excerpt TEXT NOT NULL DEFAULT '';
ALTER TABLE danmaku ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
-- Deleting a message blanks the quotes of its replies.
CREATE INDEX danmaku_replies ON danmaku (reply_to) WHERE reply_to > 0;
