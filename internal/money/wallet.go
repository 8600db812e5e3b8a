package money

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/store"
)

// Grant credits coins to a user from the manual provider (an admin's act,
// kept in the ledger with its reason and actor).
func (s *Service) Grant(ctx context.Context, userID, coins int64, reason string, actorID int64) (int64, error) {
	reason = strings.TrimSpace(reason)
	if coins <= 0 || coins > 1_000_000_000 {
		return 0, &InputError{Msg: "coins must be 1 to 1,000,000,000"}
	}
	if reason == "" || len(reason) > 200 {
		return 0, &InputError{Msg: "a reason (up to 200 characters) is required"}
	}
	user, err := s.account(ctx, KindUser, userID)
	if err != nil {
		return 0, err
	}
	provider, err := s.account(ctx, KindProvider, ProviderManual)
	if err != nil {
		return 0, err
	}
	var balance int64
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		p, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "grant", Memo: reason, Actor: actorID, At: now,
			Entries: []ledger.Entry{ledger.Move(provider, -coins), ledger.Move(user, coins)}})
		if err != nil {
			return err
		}
		balance = p.Balance(user)
		_, err = tx.ExecContext(ctx, `INSERT INTO grants (user_id, coins, reason, actor_id, tx_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			userID, coins, reason, actorID, p.ID, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("grant: %w", err)
	}
	return balance, nil
}

// Movement is one line of a wallet's history.
type Movement struct {
	TxID   int64     `json:"tx_id"`
	Kind   string    `json:"kind"`
	Memo   string    `json:"memo,omitempty"`
	Amount int64     `json:"amount"`
	At     time.Time `json:"at"`
	// A gift the user sent: which gift (its id, for the page's own name
	// of it, and the catalog name), how many and to which channel.
	Gift     string `json:"gift,omitempty"`
	GiftName string `json:"gift_name,omitempty"`
	Count    int    `json:"count,omitempty"`
	Channel  string `json:"channel,omitempty"`
}

// Wallet returns a user's balance and latest movements.
func (s *Service) Wallet(ctx context.Context, userID int64, limit int) (int64, []Movement, error) {
	acct, err := s.account(ctx, KindUser, userID)
	if err != nil {
		return 0, nil, err
	}
	balance, err := ledger.Balance(ctx, s.db, acct)
	if err != nil {
		return 0, nil, err
	}
	// A gift's debit finds its gift row by transaction, sender and amount
	// (a grouped transaction holds several senders' gifts).
	rows, err := s.db.QueryContext(ctx, `SELECT e.tx_id, t.kind, t.memo, e.amount, e.created_at,
		COALESCE(g.gift_id, ''), COALESCE(c.name, ''), COALESCE(g.count, 0), COALESCE(g.room, '')
		FROM ledger_entries e JOIN ledger_txs t ON t.id = e.tx_id
		LEFT JOIN gifts g ON t.kind = 'gift' AND g.id = (SELECT MIN(g2.id) FROM gifts g2 WHERE g2.tx_id = e.tx_id AND g2.sender_id = $3 AND g2.amount = -e.amount)
		LEFT JOIN gift_catalog c ON c.id = g.gift_id
		WHERE e.account_id = $1 ORDER BY e.id DESC LIMIT $2`, acct, limit, userID)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	out := []Movement{}
	for rows.Next() {
		var m Movement
		var at int64
		if err := rows.Scan(&m.TxID, &m.Kind, &m.Memo, &m.Amount, &at, &m.Gift, &m.GiftName, &m.Count, &m.Channel); err != nil {
			return 0, nil, err
		}
		m.At = time.UnixMilli(at)
		out = append(out, m)
	}
	return balance, out, rows.Err()
}
