package money

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// Streamer earnings going out: withdrawals and statements. (Top-up
// orders are in topups.go.)

// ProviderPayout owns the account withdrawn earnings move to.
const ProviderPayout int64 = 4

// MinWithdrawal is the smallest withdrawal, in coins.
const MinWithdrawal = 100

// Review states.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// Withdrawal is a streamer's request to be paid their earnings.
type Withdrawal struct {
	ID          int64      `json:"id"`
	ChannelID   int64      `json:"channel_id"`
	RequestedBy int64      `json:"requested_by"`
	Amount      int64      `json:"amount"`
	Status      string     `json:"status"`
	Note        string     `json:"note,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	// Duplicate: this answers a retry of a request already made.
	Duplicate bool `json:"duplicate"`
}

// checkKey validates an optional idempotency key.
func checkKey(key string) error {
	if len(key) > 64 {
		return &InputError{Msg: "idempotency_key must be up to 64 characters"}
	}
	return nil
}

// RequestWithdrawal moves amount out of a channel's earnings at once, into
// the payout account, pending an admin's decision. A key makes it
// idempotent: the same key from the same account is one request (asked
// again with another channel or amount: ErrKeyReused); without one every
// call is a new request.
func (s *Service) RequestWithdrawal(ctx context.Context, channelID, userID, amount int64, key string) (Withdrawal, error) {
	if err := checkKey(key); err != nil {
		return Withdrawal{}, err
	}
	if prev, ok, err := s.existingWithdrawal(ctx, userID, key, channelID, amount); err != nil || ok {
		return prev, err
	}
	if amount < MinWithdrawal || amount > 1_000_000_000_000 {
		return Withdrawal{}, &InputError{Msg: fmt.Sprintf("amount must be at least %d coins", MinWithdrawal)}
	}
	channelAcct, err := s.account(ctx, KindChannel, channelID)
	if err != nil {
		return Withdrawal{}, err
	}
	payout, err := s.account(ctx, KindProvider, ProviderPayout)
	if err != nil {
		return Withdrawal{}, err
	}
	w := Withdrawal{ChannelID: channelID, RequestedBy: userID, Amount: amount, Status: StatusPending}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM withdrawals WHERE channel_id = $1 AND status = 'pending'`, channelID).Scan(&pending); err != nil {
			return err
		}
		if pending >= 5 {
			return ErrTooManyPending
		}
		// Fold the hot account's appended credits in first, so the
		// conditional debit sees everything earned so far.
		if err := ledger.SettleAccount(ctx, tx, channelAcct); err != nil {
			return err
		}
		now := store.Now()
		posted, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "withdrawal", Memo: "requested", Actor: userID, At: now,
			Entries: []ledger.Entry{ledger.Move(channelAcct, -amount), ledger.Move(payout, amount)}})
		if errors.As(err, new(*ledger.ShortError)) {
			return ErrLowEarnings
		}
		if err != nil {
			return err
		}
		w.CreatedAt = time.UnixMilli(now)
		return tx.QueryRowContext(ctx, `INSERT INTO withdrawals (channel_id, requested_by, amount, status, request_tx_id, created_at, idempotency_key)
			VALUES ($1, $2, $3, 'pending', $4, $5, $6) RETURNING id`, channelID, userID, amount, posted.ID, now, nullKey(key)).Scan(&w.ID)
	})
	if err != nil && key != "" {
		// A copy of this request that raced in first (it holds the key, or
		// its debit left too little for this one) answers for it.
		if prev, ok, err2 := s.existingWithdrawal(ctx, userID, key, channelID, amount); err2 != nil || ok {
			return prev, err2
		}
	}
	if err != nil {
		return Withdrawal{}, err
	}
	return w, nil
}

func nullKey(key string) any {
	if key == "" {
		return nil
	}
	return key
}

// existingWithdrawal returns the request already made with this key.
func (s *Service) existingWithdrawal(ctx context.Context, userID int64, key string, channelID, amount int64) (Withdrawal, bool, error) {
	if key == "" {
		return Withdrawal{}, false, nil
	}
	w, err := scanWithdrawal(s.db.QueryRowContext(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals WHERE requested_by = $1 AND idempotency_key = $2`,
		userID, key).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Withdrawal{}, false, nil
	}
	if err != nil {
		return Withdrawal{}, false, err
	}
	if w.ChannelID != channelID || w.Amount != amount {
		return Withdrawal{}, false, ErrKeyReused
	}
	w.Duplicate = true
	return w, true, nil
}

// DecideWithdrawal approves (the payout is made outside Livehouse) or
// rejects (the coins return to the channel's earnings) a pending request.
func (s *Service) DecideWithdrawal(ctx context.Context, id int64, approve bool, note string, actorID int64) (Withdrawal, error) {
	note = strings.TrimSpace(note)
	if len(note) > 200 {
		return Withdrawal{}, &InputError{Msg: "note must be up to 200 characters"}
	}
	payout, err := s.account(ctx, KindProvider, ProviderPayout)
	if err != nil {
		return Withdrawal{}, err
	}
	var w Withdrawal
	if w, err = s.withdrawal(ctx, id); err != nil {
		return Withdrawal{}, err
	}
	channelAcct, err := s.account(ctx, KindChannel, w.ChannelID)
	if err != nil {
		return Withdrawal{}, err
	}
	status := StatusApproved
	if !approve {
		status = StatusRejected
	}
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		res, err := tx.ExecContext(ctx, `UPDATE withdrawals SET status = $1, note = $2, decided_at = $3, decided_by = $4 WHERE id = $5 AND status = 'pending'`,
			status, note, now, actorID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotPending
		}
		// The requester hears of the decision (their bell).
		if _, err := outbox.Add(ctx, tx, now, outbox.Event{Type: bus.MoneyNotice, UserID: w.RequestedBy, ChannelID: w.ChannelID,
			Payload: WithdrawalDecidedEvent{Type: "withdrawal.decided", WithdrawalID: id, UserID: w.RequestedBy, ChannelID: w.ChannelID,
				Amount: w.Amount, Status: status, Note: note, At: now}}); err != nil {
			return err
		}
		if approve {
			return nil
		}
		// The coins return to the channel's earnings.
		posted, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "withdrawal", Memo: "rejected: " + note, Actor: actorID, At: now,
			Entries: []ledger.Entry{ledger.Move(payout, -w.Amount), ledger.Move(channelAcct, w.Amount)}})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE withdrawals SET return_tx_id = $1 WHERE id = $2`, posted.ID, id)
		return err
	})
	if err != nil {
		return Withdrawal{}, err
	}
	s.kickRelay() // the requester's notice event
	return s.withdrawal(ctx, id)
}

// WithdrawalDecidedEvent is published on bus.MoneyNotice (to the requester)
// when a withdrawal is approved or rejected.
type WithdrawalDecidedEvent struct {
	Type         string `json:"type"` // "withdrawal.decided"
	WithdrawalID int64  `json:"withdrawal_id"`
	UserID       int64  `json:"user_id"`
	ChannelID    int64  `json:"channel_id"`
	Amount       int64  `json:"amount"`
	Status       string `json:"status"` // approved or rejected
	Note         string `json:"note,omitempty"`
	At           int64  `json:"at"`
}

const withdrawalColumns = `id, channel_id, requested_by, amount, status, note, created_at, decided_at`

func scanWithdrawal(sc func(...any) error) (Withdrawal, error) {
	var w Withdrawal
	var created int64
	var decided sql.NullInt64
	if err := sc(&w.ID, &w.ChannelID, &w.RequestedBy, &w.Amount, &w.Status, &w.Note, &created, &decided); err != nil {
		return Withdrawal{}, err
	}
	w.CreatedAt = time.UnixMilli(created)
	if decided.Valid {
		t := time.UnixMilli(decided.Int64)
		w.DecidedAt = &t
	}
	return w, nil
}

func (s *Service) withdrawal(ctx context.Context, id int64) (Withdrawal, error) {
	w, err := scanWithdrawal(s.db.QueryRowContext(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals WHERE id = $1`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return Withdrawal{}, ErrNoRequest
	}
	return w, err
}

// Withdrawals lists requests, newest first: of one channel (channelID >
// 0) and/or in one status (status != "").
func (s *Service) Withdrawals(ctx context.Context, channelID int64, status string, limit int) ([]Withdrawal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+withdrawalColumns+` FROM withdrawals
		WHERE ($1 = 0 OR channel_id = $1) AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3`, channelID, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list withdrawals: %w", err)
	}
	defer rows.Close()
	out := []Withdrawal{}
	for rows.Next() {
		w, err := scanWithdrawal(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// EarningsSummary is what a streamer sees of their money.
type EarningsSummary struct {
	// Available is what can be withdrawn now (settled and not yet settled).
	Available int64 `json:"available"`
	// Today is what gifts and memberships earned since 00:00 UTC.
	Today              int64 `json:"today"`
	PendingWithdrawals int64 `json:"pending_withdrawals"`
	PaidOut            int64 `json:"paid_out"`
	PlatformShareBP    int64 `json:"platform_share_bp"`
}

// Summary reads a channel's earnings.
func (s *Service) Summary(ctx context.Context, channelID int64, now time.Time) (EarningsSummary, error) {
	var out EarningsSummary
	var err error
	if out.Available, err = s.Earnings(ctx, channelID); err != nil {
		return out, err
	}
	acct, err := s.account(ctx, KindChannel, channelID)
	if err != nil {
		return out, err
	}
	midnight := now.UTC().Truncate(24 * time.Hour).UnixMilli()
	err = s.db.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT SUM(e.amount) FROM ledger_entries e JOIN ledger_txs t ON t.id = e.tx_id
			WHERE e.account_id = $1 AND e.created_at >= $2 AND t.kind IN ('gift', 'membership')), 0),
		COALESCE((SELECT SUM(amount) FROM withdrawals WHERE channel_id = $3 AND status = 'pending'), 0),
		COALESCE((SELECT SUM(amount) FROM withdrawals WHERE channel_id = $3 AND status = 'approved'), 0)`,
		acct, midnight, channelID).Scan(&out.Today, &out.PendingWithdrawals, &out.PaidOut)
	if err != nil {
		return out, fmt.Errorf("read earnings summary: %w", err)
	}
	out.PlatformShareBP, _, err = s.ShareOf(ctx, channelID)
	return out, err
}

// WriteStatement writes a channel's ledger movements in [from, to) as CSV:
// time (UTC, RFC 3339), transaction, kind, memo, amount, balance after.
func (s *Service) WriteStatement(ctx context.Context, w io.Writer, channelID int64, from, to time.Time) error {
	acct, err := s.account(ctx, KindChannel, channelID)
	if err != nil {
		return err
	}
	var balance int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account_id = $1 AND created_at < $2`,
		acct, from.UnixMilli()).Scan(&balance); err != nil {
		return fmt.Errorf("read opening balance: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT e.created_at, e.tx_id, t.kind, t.memo, e.amount FROM ledger_entries e
		JOIN ledger_txs t ON t.id = e.tx_id WHERE e.account_id = $1 AND e.created_at >= $2 AND e.created_at < $3 ORDER BY e.id`,
		acct, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return fmt.Errorf("read statement: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"time", "transaction", "kind", "memo", "amount", "balance"})
	_ = cw.Write([]string{from.UTC().Format(time.RFC3339), "", "opening", "", "", strconv.FormatInt(balance, 10)})
	for rows.Next() {
		var at, txID, amount int64
		var kind, memo string
		if err := rows.Scan(&at, &txID, &kind, &memo, &amount); err != nil {
			return err
		}
		balance += amount
		if err := cw.Write([]string{time.UnixMilli(at).UTC().Format(time.RFC3339Nano), strconv.FormatInt(txID, 10), kind,
			csvText(memo), strconv.FormatInt(amount, 10), strconv.FormatInt(balance, 10)}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// csvText keeps spreadsheet programs from running a text cell as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// GiftsSince counts a channel's gifts since a time and the coins they cost.
func (s *Service) GiftsSince(ctx context.Context, channelID int64, since time.Time) (gifts, coins int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM gifts WHERE channel_id = $1 AND created_at >= $2`,
		channelID, since.UnixMilli()).Scan(&gifts, &coins)
	if err != nil {
		return 0, 0, fmt.Errorf("count gifts: %w", err)
	}
	return gifts, coins, nil
}
