-- A joining viewer replays the room's recent gift events from the outbox.
CREATE INDEX outbox_by_subject ON outbox (subject, created_at);
