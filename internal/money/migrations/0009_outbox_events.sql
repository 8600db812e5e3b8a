-- Outbox rows are bus events now: subject holds the event type, and the
-- channel (room events) or account (notices) it is about is kept by id. The
-- room keeps its own history of gifts, so the replay index goes (one index
-- write less per gift). Rows a running node had not yet published when this
-- ran were addressed by slug: they are marked published (their gifts are
-- stored; only their live animation is skipped).
ALTER TABLE outbox ADD COLUMN channel_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN user_id BIGINT NOT NULL DEFAULT 0;
DROP INDEX outbox_by_subject;
UPDATE outbox SET published_at = created_at WHERE published_at IS NULL;
