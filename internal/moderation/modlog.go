package moderation

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

// LogEntry is one moderation act.
type LogEntry struct {
	ID        int64     `json:"id"`
	ActorID   int64     `json:"actor_id"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	TargetID  int64     `json:"target_user_id,omitempty"`
	Target    string    `json:"target,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func logAct(ctx context.Context, tx *sql.Tx, channelID, actorID int64, action string, target int64, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO moderation_log (channel_id, actor_id, action, target_user_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		channelID, actorID, action, target, detail, store.Now())
	if err != nil {
		return fmt.Errorf("write moderation log: %w", err)
	}
	return nil
}

// Record writes a moderation act done elsewhere (a deleted danmaku) to the
// channel's audit log.
func (m *Store) Record(ctx context.Context, channelID, actorID int64, action string, target int64, detail string) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error { return logAct(ctx, tx, channelID, actorID, action, target, detail) })
}

// Log returns a channel's newest moderation acts (actor 0 is the admin token).
func (m *Store) Log(ctx context.Context, channelID int64, limit int) ([]LogEntry, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT l.id, l.actor_id, COALESCE(a.username, 'admin token'), l.action, l.target_user_id, COALESCE(t.username, ''), l.detail, l.created_at
		FROM moderation_log l LEFT JOIN users a ON a.id = l.actor_id LEFT JOIN users t ON t.id = l.target_user_id
		WHERE l.channel_id = $1 ORDER BY l.id DESC LIMIT $2`, channelID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []LogEntry{}
	for rows.Next() {
		var e LogEntry
		var created int64
		if err := rows.Scan(&e.ID, &e.ActorID, &e.Actor, &e.Action, &e.TargetID, &e.Target, &e.Detail, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = time.UnixMilli(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
