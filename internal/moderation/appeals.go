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

// Appeal is a sender's request to overturn a verdict on their text.
type Appeal struct {
	ID        int64      `json:"id,string"`
	VerdictID int64      `json:"verdict_id,string"`
	ChannelID int64      `json:"channel_id"`
	UserID    int64      `json:"user_id"`
	Reason    string     `json:"reason"`
	Status    string     `json:"status"` // open | upheld | rejected
	CreatedAt time.Time  `json:"created_at"`
	DecidedBy int64      `json:"decided_by"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// Verdict is what is appealed (lists only).
	Verdict *VerdictRecord `json:"verdict,omitempty"`
}

// Appeal errors.
var (
	ErrNoAppeal       = httpjson.NewProblem(http.StatusNotFound, "appeal_not_found", "no such appeal")
	ErrAppealed       = httpjson.NewProblem(http.StatusConflict, "already_appealed", "this verdict was already appealed")
	ErrNotAppealable  = httpjson.NewProblem(http.StatusBadRequest, "not_appealable", "only your own blocked messages can be appealed")
	ErrAppealDecided  = httpjson.NewProblem(http.StatusConflict, "already_decided", "this appeal was already decided")
	maxAppealReason   = 300
	appealStatusValid = map[string]bool{"upheld": true, "rejected": true}
)

// FileAppeal opens an appeal by userID against the verdict with ticket:
// only the sender, only against a block or a denied hold, once.
func (m *Store) FileAppeal(ctx context.Context, userID int64, ticket, reason string) (Appeal, error) {
	reason = strings.TrimSpace(reason)
	if err := account.CheckLabel("reason", reason, maxAppealReason); reason != "" && err != nil {
		return Appeal{}, err
	}
	v, err := m.VerdictByTicket(ctx, ticket)
	if err != nil {
		return Appeal{}, err
	}
	appealable := v.Action == Block || (v.Action == Hold && (v.Decision == DecisionDenied || v.Decision == DecisionDeniedMuted))
	if v.UserID != userID || !appealable {
		return Appeal{}, ErrNotAppealable
	}
	a := Appeal{VerdictID: v.ID, ChannelID: v.ChannelID, UserID: userID, Reason: reason, Status: "open", CreatedAt: time.UnixMilli(store.Now())}
	err = m.db.QueryRowContext(ctx, `INSERT INTO filter_appeals (verdict_id, channel_id, user_id, reason, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (verdict_id) DO NOTHING RETURNING id`, a.VerdictID, a.ChannelID, userID, reason, a.CreatedAt.UnixMilli()).Scan(&a.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Appeal{}, ErrAppealed
	}
	if err != nil {
		return Appeal{}, fmt.Errorf("file appeal: %w", err)
	}
	return a, nil
}

const appealColumns = `a.id, a.verdict_id, a.channel_id, a.user_id, a.reason, a.status, a.created_at, a.decided_by, a.decided_at`

func scanAppeal(sc interface{ Scan(...any) error }, extra ...any) (Appeal, error) {
	var a Appeal
	var created int64
	var decided sql.NullInt64
	if err := sc.Scan(append([]any{&a.ID, &a.VerdictID, &a.ChannelID, &a.UserID, &a.Reason, &a.Status, &created, &a.DecidedBy, &decided}, extra...)...); err != nil {
		return a, err
	}
	a.CreatedAt = time.UnixMilli(created)
	if decided.Valid {
		t := time.UnixMilli(decided.Int64)
		a.DecidedAt = &t
	}
	return a, nil
}

// Appeals lists appeals of a channel (-1: every channel), newest first,
// with the verdicts they are about; status "" means any.
func (m *Store) Appeals(ctx context.Context, channelID int64, status string, limit int) ([]Appeal, error) {
	if limit <= 0 || limit > 200 {
		limit = 100
	}
	rows, err := m.db.QueryContext(ctx, `SELECT `+appealColumns+`, `+verdictColumns+` FROM filter_appeals a JOIN filter_verdicts v ON v.id = a.verdict_id
		WHERE ($1 < 0 OR a.channel_id = $1) AND ($2 = '' OR a.status = $2) ORDER BY a.id DESC LIMIT $3`, channelID, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list appeals: %w", err)
	}
	defer rows.Close()
	out := []Appeal{}
	for rows.Next() {
		var v VerdictRecord
		var reasons, payload, action string
		var vdecided sql.NullInt64
		var vcreated int64
		a, err := scanAppeal(rows, &v.ID, &v.Ticket, &v.ChannelID, &v.Kind, &v.UserID, &v.Username, &v.Text, &action, &v.Score, &v.Category,
			&reasons, &payload, &v.Decision, &v.DecidedBy, &vdecided, &vcreated)
		if err != nil {
			return nil, fmt.Errorf("list appeals: %w", err)
		}
		v.Action, v.Reasons, v.CreatedAt = Action(action), []byte(reasons), time.UnixMilli(vcreated)
		a.Verdict = &v
		out = append(out, a)
	}
	return out, rows.Err()
}

// Appeal reads one appeal.
func (m *Store) Appeal(ctx context.Context, id int64) (Appeal, error) {
	a, err := scanAppeal(m.db.QueryRowContext(ctx, `SELECT `+appealColumns+` FROM filter_appeals a WHERE a.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNoAppeal
	}
	if err != nil {
		return a, fmt.Errorf("read appeal: %w", err)
	}
	return a, nil
}

// DecideAppeal upholds or rejects an open appeal, once.
func (m *Store) DecideAppeal(ctx context.Context, id, actorID int64, status string) (Appeal, error) {
	if !appealStatusValid[status] {
		return Appeal{}, httpjson.BadRequest("bad_decision", "decision must be uphold or reject")
	}
	var a Appeal
	err := m.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE filter_appeals SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'open'`,
			status, actorID, store.Now(), id)
		if err != nil {
			return fmt.Errorf("decide appeal: %w", err)
		}
		a, err = scanAppeal(tx.QueryRowContext(ctx, `SELECT `+appealColumns+` FROM filter_appeals a WHERE a.id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoAppeal
		}
		if err != nil {
			return fmt.Errorf("read appeal: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrAppealDecided
		}
		return logAct(ctx, tx, a.ChannelID, actorID, "filter.appeal_"+status, a.UserID, fmt.Sprintf("appeal %d on verdict %d", a.ID, a.VerdictID))
	})
	return a, err
}
