package moderation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// Report is a viewer's complaint about a user or message.
type Report struct {
	ID        int64     `json:"id"`
	Reporter  string    `json:"reporter"`
	Target    string    `json:"target"`
	ChannelID int64     `json:"channel_id"`
	MessageID string    `json:"message_id,omitempty"`
	Reason    string    `json:"reason"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// FileReport files a report into the channel's queue (or the platform's).
func (m *Store) FileReport(ctx context.Context, reporterID, targetID, channelID int64, messageID, reason string) (int64, error) {
	reason = strings.TrimSpace(reason)
	if err := account.CheckLabel("reason", reason, 500); err != nil {
		return 0, err
	}
	if len(messageID) > 64 {
		return 0, httpjson.BadRequest("", "message_id is too long")
	}
	if reporterID == targetID {
		return 0, httpjson.BadRequest("", "you cannot report yourself")
	}
	var id int64
	err := m.db.QueryRowContext(ctx, `INSERT INTO reports (reporter_id, target_user_id, channel_id, message_id, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, reporterID, targetID, channelID, messageID, reason, store.Now()).Scan(&id)
	return id, err
}

// Reports lists a queue, newest first; status "" means every status.
func (m *Store) Reports(ctx context.Context, channelID int64, status string, limit int) ([]Report, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT r.id, a.username, t.username, r.channel_id, r.message_id, r.reason, r.status, r.created_at
		FROM reports r JOIN users a ON a.id = r.reporter_id JOIN users t ON t.id = r.target_user_id
		WHERE r.channel_id = $1 AND ($2 = '' OR r.status = $2) ORDER BY r.id DESC LIMIT $3`, channelID, status, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Report{}
	for rows.Next() {
		var r Report
		var created int64
		if err := rows.Scan(&r.ID, &r.Reporter, &r.Target, &r.ChannelID, &r.MessageID, &r.Reason, &r.Status, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = time.UnixMilli(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReportChannel returns the queue a report belongs to.
func (m *Store) ReportChannel(ctx context.Context, id int64) (int64, error) {
	var ch int64
	err := m.db.QueryRowContext(ctx, `SELECT channel_id FROM reports WHERE id = $1`, id).Scan(&ch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoReport
	}
	return ch, err
}

// ErrNoReport is returned for an unknown report.
var ErrNoReport = httpjson.NewProblem(http.StatusNotFound, "", "no such report")

// Resolve marks a report actioned or dismissed.
func (m *Store) Resolve(ctx context.Context, id, actorID int64, status string) error {
	if status != "actioned" && status != "dismissed" {
		return httpjson.BadRequest("", "status must be actioned or dismissed")
	}
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		var ch int64
		if err := tx.QueryRowContext(ctx, `SELECT channel_id FROM reports WHERE id = $1`, id).Scan(&ch); errors.Is(err, sql.ErrNoRows) {
			return ErrNoReport
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reports SET status = $1, handled_by = $2, handled_at = $3 WHERE id = $4`,
			status, actorID, store.Now(), id); err != nil {
			return err
		}
		return logAct(ctx, tx, ch, actorID, "report."+status, 0, fmt.Sprintf("report %d", id))
	})
}
