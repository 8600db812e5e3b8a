package moderation

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// Sanction is a mute or ban.
type Sanction struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	ChannelID int64      `json:"channel_id"`
	UserID    int64      `json:"user_id"`
	Username  string     `json:"username"`
	Reason    string     `json:"reason"`
	IssuerID  int64      `json:"issuer_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

const maxReason = 200

// Sanction mutes or bans user in channel (PlatformScope for a platform
// ban) for duration (0: until lifted), replacing any earlier one of that kind.
func (m *Store) Sanction(ctx context.Context, kind string, channelID, userID, actorID int64, reason string, d time.Duration) (Sanction, error) {
	reason = strings.TrimSpace(reason)
	if err := account.CheckLabel("reason", reason, maxReason); err != nil {
		return Sanction{}, err
	}
	if kind != "mute" && kind != "ban" {
		return Sanction{}, httpjson.BadRequest("", "kind must be mute or ban")
	}
	if kind == "mute" && (d <= 0 || d > 30*24*time.Hour) {
		return Sanction{}, httpjson.BadRequest("", "a mute lasts from 1 minute to 30 days")
	}
	if d < 0 || d > 10*365*24*time.Hour {
		return Sanction{}, httpjson.BadRequest("", "duration out of range")
	}
	now := time.UnixMilli(store.Now())
	s := Sanction{Kind: kind, ChannelID: channelID, UserID: userID, Reason: reason, IssuerID: actorID, CreatedAt: now}
	var expires sql.NullInt64
	if d > 0 {
		at := now.Add(d)
		s.ExpiresAt = &at
		expires = sql.NullInt64{Int64: at.UnixMilli(), Valid: true}
	}
	err := m.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sanctions SET lifted_at = $1 WHERE user_id = $2 AND channel_id = $3 AND kind = $4 AND lifted_at IS NULL`,
			now.UnixMilli(), userID, channelID, kind); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO sanctions (kind, channel_id, user_id, reason, issuer_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, kind, channelID, userID, reason, actorID, now.UnixMilli(), expires).Scan(&s.ID); err != nil {
			return fmt.Errorf("insert sanction: %w", err)
		}
		detail := reason
		if d > 0 {
			detail = fmt.Sprintf("%s (for %v)", reason, d)
		}
		return logAct(ctx, tx, channelID, actorID, kind, userID, detail)
	})
	return s, err
}

// Lift ends a user's mute or ban early.
func (m *Store) Lift(ctx context.Context, kind string, channelID, userID, actorID int64) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sanctions SET lifted_at = $1 WHERE user_id = $2 AND channel_id = $3 AND kind = $4 AND lifted_at IS NULL
			AND (expires_at IS NULL OR expires_at > $1)`, store.Now(), userID, channelID, kind)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoSanction
		}
		return logAct(ctx, tx, channelID, actorID, "un"+kind, userID, "")
	})
}

// ErrNoSanction is returned when there is nothing to lift.
var ErrNoSanction = httpjson.NewProblem(http.StatusNotFound, "", "no such mute or ban in force")

// Active reports which sanctions are in force for user in channel (and platform-wide).
func (m *Store) Active(ctx context.Context, channelID, userID int64, now time.Time) (muted, banned, platformBanned bool, err error) {
	rows, err := m.db.QueryContext(ctx, `SELECT kind, channel_id FROM sanctions WHERE user_id = $1 AND channel_id IN ($2, 0)
		AND lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $3)`, userID, channelID, now.UnixMilli())
	if err != nil {
		return false, false, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var ch int64
		if err := rows.Scan(&kind, &ch); err != nil {
			return false, false, false, err
		}
		switch {
		case ch == PlatformScope && kind == "ban":
			platformBanned = true
		case ch == channelID && kind == "ban":
			banned = true
		case ch == channelID && kind == "mute":
			muted = true
		}
	}
	return muted, banned, platformBanned, rows.Err()
}

// ListSanctions returns sanctions in force in a channel.
func (m *Store) ListSanctions(ctx context.Context, channelID int64, now time.Time) ([]Sanction, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT s.id, s.kind, s.channel_id, s.user_id, u.username, s.reason, s.issuer_id, s.created_at, s.expires_at
		FROM sanctions s JOIN users u ON u.id = s.user_id WHERE s.channel_id = $1 AND s.lifted_at IS NULL
		AND (s.expires_at IS NULL OR s.expires_at > $2) ORDER BY s.id DESC LIMIT 500`, channelID, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Sanction{}
	for rows.Next() {
		var s Sanction
		var created int64
		var exp sql.NullInt64
		if err := rows.Scan(&s.ID, &s.Kind, &s.ChannelID, &s.UserID, &s.Username, &s.Reason, &s.IssuerID, &created, &exp); err != nil {
			return nil, err
		}
		s.CreatedAt = time.UnixMilli(created)
		if exp.Valid {
			at := time.UnixMilli(exp.Int64)
			s.ExpiresAt = &at
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
