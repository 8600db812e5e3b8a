package moderation

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// FilterSetting is a channel's content filter: on or off and how strict.
type FilterSetting struct {
	Enabled bool `json:"enabled"`
	Level   int  `json:"level"` // 0 off … 4 strict
}

// FilterSetting reads a channel's setting (off at level 2 when never set).
func (m *Store) FilterSetting(ctx context.Context, channelID int64) (FilterSetting, error) {
	fs := FilterSetting{Level: 2}
	err := m.db.QueryRowContext(ctx, `SELECT enabled, level FROM channel_filter WHERE channel_id = $1`, channelID).Scan(&fs.Enabled, &fs.Level)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fs, fmt.Errorf("read filter setting: %w", err)
	}
	return fs, nil
}

// FilterLevel is the level the filter screens a channel's chat at: its
// level when on, 0 when off.
func (m *Store) FilterLevel(ctx context.Context, channelID int64) (int, error) {
	fs, err := m.FilterSetting(ctx, channelID)
	if err != nil || !fs.Enabled {
		return 0, err
	}
	return fs.Level, nil
}

// SetFilterSetting stores a channel's setting and logs who changed it.
func (m *Store) SetFilterSetting(ctx context.Context, channelID, actorID int64, fs FilterSetting) error {
	if fs.Level < 0 || fs.Level > 4 {
		return httpjson.BadRequest("bad_level", "level must be 0 to 4")
	}
	now := store.Now()
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO channel_filter (channel_id, enabled, level, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (channel_id) DO UPDATE SET enabled = excluded.enabled, level = excluded.level, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			channelID, fs.Enabled, fs.Level, now, actorID); err != nil {
			return fmt.Errorf("save filter setting: %w", err)
		}
		return logAct(ctx, tx, channelID, actorID, "filter.setting", 0, fmt.Sprintf("enabled=%v level=%d", fs.Enabled, fs.Level))
	})
}

// VerdictRecord is a stored non-allow verdict: what was said, by whom,
// where, what the filter decided and why, and what a moderator decided.
type VerdictRecord struct {
	ID        int64           `json:"id,string"`
	Ticket    string          `json:"ticket"`
	ChannelID int64           `json:"channel_id"`
	Kind      string          `json:"kind"`
	UserID    int64           `json:"user_id"`
	Username  string          `json:"username"`
	Text      string          `json:"text"`
	Action    Action          `json:"action"`
	Score     int             `json:"score"`
	Category  string          `json:"category"`
	Reasons   json.RawMessage `json:"reasons"`
	Payload   json.RawMessage `json:"-"`
	Decision  string          `json:"decision"`
	DecidedBy int64           `json:"decided_by"`
	DecidedAt *time.Time      `json:"decided_at,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	// Appeal is the appeal against it, when there is one (lists only).
	Appeal *Appeal `json:"appeal,omitempty"`
}

// Decisions on a held message.
const (
	DecisionApproved    = "approved"
	DecisionDenied      = "denied"
	DecisionDeniedMuted = "denied_muted"
)

// newTicket is an unguessable handle for a verdict: the sender holds it
// to appeal and to recognise the decision on their message when the room
// announces it (it names neither the sender nor the text).
func newTicket() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// maxVerdictText bounds what a verdict keeps of the text.
const maxVerdictText = 2000

// RecordVerdict stores a non-allow verdict and returns it with its id and ticket.
func (m *Store) RecordVerdict(ctx context.Context, v VerdictRecord) (VerdictRecord, error) {
	if v.Action == Allow || v.Action == "" {
		return v, fmt.Errorf("record verdict: %q is not recorded", v.Action)
	}
	if v.Kind == "" {
		v.Kind = KindChat
	}
	if r := []rune(v.Text); len(r) > maxVerdictText {
		v.Text = string(r[:maxVerdictText])
	}
	if len(v.Reasons) == 0 {
		v.Reasons = json.RawMessage("[]")
	}
	v.Ticket = newTicket()
	now := store.Now()
	v.CreatedAt = time.UnixMilli(now)
	err := m.db.QueryRowContext(ctx, `INSERT INTO filter_verdicts (ticket, channel_id, kind, user_id, username, text, action, score, category, reasons, payload, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		v.Ticket, v.ChannelID, v.Kind, v.UserID, v.Username, v.Text, string(v.Action), v.Score, v.Category, string(v.Reasons), string(v.Payload), now).Scan(&v.ID)
	if err != nil {
		return v, fmt.Errorf("record verdict: %w", err)
	}
	return v, nil
}

const verdictColumns = `v.id, v.ticket, v.channel_id, v.kind, v.user_id, v.username, v.text, v.action, v.score, v.category, v.reasons, v.payload,
	v.decision, v.decided_by, v.decided_at, v.created_at`

func scanVerdict(sc interface{ Scan(...any) error }, extra ...any) (VerdictRecord, error) {
	var v VerdictRecord
	var reasons, payload, action string
	var decided sql.NullInt64
	var created int64
	dest := append([]any{&v.ID, &v.Ticket, &v.ChannelID, &v.Kind, &v.UserID, &v.Username, &v.Text, &action, &v.Score, &v.Category,
		&reasons, &payload, &v.Decision, &v.DecidedBy, &decided, &created}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return v, err
	}
	v.Action, v.Reasons, v.Payload, v.CreatedAt = Action(action), json.RawMessage(reasons), json.RawMessage(payload), time.UnixMilli(created)
	if decided.Valid {
		t := time.UnixMilli(decided.Int64)
		v.DecidedAt = &t
	}
	return v, nil
}

// ErrNoVerdict answers for a verdict that does not exist (or is another channel's).
var ErrNoVerdict = httpjson.NewProblem(http.StatusNotFound, "verdict_not_found", "no such held or blocked message")

// ErrDecided answers a second decision on one held message.
var ErrDecided = httpjson.NewProblem(http.StatusConflict, "already_decided", "this message was already decided")

// Verdict reads one verdict by id.
func (m *Store) Verdict(ctx context.Context, id int64) (VerdictRecord, error) {
	v, err := scanVerdict(m.db.QueryRowContext(ctx, `SELECT `+verdictColumns+` FROM filter_verdicts v WHERE v.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNoVerdict
	}
	if err != nil {
		return v, fmt.Errorf("read verdict: %w", err)
	}
	return v, nil
}

// VerdictByTicket reads one verdict by its ticket.
func (m *Store) VerdictByTicket(ctx context.Context, ticket string) (VerdictRecord, error) {
	v, err := scanVerdict(m.db.QueryRowContext(ctx, `SELECT `+verdictColumns+` FROM filter_verdicts v WHERE v.ticket = $1`, ticket))
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNoVerdict
	}
	if err != nil {
		return v, fmt.Errorf("read verdict: %w", err)
	}
	return v, nil
}

// VerdictQuery selects verdicts for a queue.
type VerdictQuery struct {
	ChannelID int64 // -1: every channel (the platform's queue)
	Action    Action
	Pending   bool // only those not decided yet
	Kinds     []string
	Before    int64 // id; 0: newest
	Limit     int
}

// Verdicts lists verdicts, newest first.
func (m *Store) Verdicts(ctx context.Context, q VerdictQuery) ([]VerdictRecord, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 100
	}
	where := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if q.ChannelID >= 0 {
		where = append(where, "v.channel_id = "+arg(q.ChannelID))
	}
	if q.Action != "" {
		where = append(where, "v.action = "+arg(string(q.Action)))
	}
	if q.Pending {
		where = append(where, "v.action = 'hold' AND v.decision = ''")
	}
	if len(q.Kinds) > 0 {
		var in []string
		for _, k := range q.Kinds {
			in = append(in, arg(k))
		}
		where = append(where, "v.kind IN ("+strings.Join(in, ", ")+")")
	}
	if q.Before > 0 {
		where = append(where, "v.id < "+arg(q.Before))
	}
	rows, err := m.db.QueryContext(ctx, `SELECT `+verdictColumns+` FROM filter_verdicts v WHERE `+strings.Join(where, " AND ")+
		` ORDER BY v.id DESC LIMIT `+arg(q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list verdicts: %w", err)
	}
	defer rows.Close()
	out := []VerdictRecord{}
	for rows.Next() {
		v, err := scanVerdict(rows)
		if err != nil {
			return nil, fmt.Errorf("list verdicts: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Decide records a moderator's decision on a pending verdict, once: a
// second decision (another moderator, a double click) gets ErrDecided.
func (m *Store) Decide(ctx context.Context, id, actorID int64, decision string) (VerdictRecord, error) {
	switch decision {
	case DecisionApproved, DecisionDenied, DecisionDeniedMuted:
	default:
		return VerdictRecord{}, httpjson.BadRequest("bad_decision", "decision must be approve, deny or deny_mute")
	}
	var v VerdictRecord
	err := m.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE filter_verdicts SET decision = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND decision = ''`,
			decision, actorID, store.Now(), id)
		if err != nil {
			return fmt.Errorf("decide verdict: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanVerdict(tx.QueryRowContext(ctx, `SELECT `+verdictColumns+` FROM filter_verdicts v WHERE v.id = $1`, id)); errors.Is(err, sql.ErrNoRows) {
				return ErrNoVerdict
			}
			return ErrDecided
		}
		if v, err = scanVerdict(tx.QueryRowContext(ctx, `SELECT `+verdictColumns+` FROM filter_verdicts v WHERE v.id = $1`, id)); err != nil {
			return fmt.Errorf("read decided verdict: %w", err)
		}
		return logAct(ctx, tx, v.ChannelID, actorID, "filter."+decision, v.UserID, fmt.Sprintf("%s verdict %d (%s)", v.Kind, id, v.Category))
	})
	return v, err
}

// Undecide reopens a verdict whose decision could not be carried out (the
// room refused the approved message): it goes back to the queue.
func (m *Store) Undecide(ctx context.Context, id int64) error {
	if _, err := m.db.ExecContext(ctx, `UPDATE filter_verdicts SET decision = '', decided_by = 0, decided_at = NULL WHERE id = $1`, id); err != nil {
		return fmt.Errorf("reopen verdict: %w", err)
	}
	return nil
}
