package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/livehouse/livehouse/internal/store"
)

// Accounts finds ledger accounts by (kind, owner), creating them on first
// use. Account ids never change, so they are cached.
type Accounts struct {
	db  *store.DB
	mu  sync.Mutex
	ids map[accountKey]int64
}

type accountKey struct {
	kind  string
	owner int64
}

// NewAccounts returns the accounts of db.
func NewAccounts(db *store.DB) *Accounts {
	return &Accounts{db: db, ids: map[accountKey]int64{}}
}

// ID returns the id of an account, creating it on first use (outside any
// transaction: SQLite has one writer, and the row is harmless if unused).
// Providers' accounts are the ones that may go negative.
func (a *Accounts) ID(ctx context.Context, kind string, owner int64) (int64, error) {
	k := accountKey{kind, owner}
	a.mu.Lock()
	id, ok := a.ids[k]
	a.mu.Unlock()
	if ok {
		return id, nil
	}
	_, err := a.db.ExecContext(ctx, `INSERT INTO ledger_accounts (kind, owner_id, may_go_negative) VALUES ($1, $2, $3)
		ON CONFLICT (kind, owner_id) DO NOTHING`, kind, owner, kind == KindProvider)
	if err != nil {
		return 0, fmt.Errorf("create %s account: %w", kind, err)
	}
	if err := a.db.QueryRowContext(ctx, `SELECT id FROM ledger_accounts WHERE kind = $1 AND owner_id = $2`, kind, owner).Scan(&id); err != nil {
		return 0, fmt.Errorf("read %s account: %w", kind, err)
	}
	a.mu.Lock()
	a.ids[k] = id
	a.mu.Unlock()
	return id, nil
}

// Lock takes the row locks of accounts for the rest of tx (a purchase
// that reads what it depends on after this cannot race a twin) and
// returns their settled balances.
func Lock(ctx context.Context, tx *sql.Tx, accounts ...int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(accounts))
	if len(accounts) == 0 {
		return out, nil
	}
	var q strings.Builder
	args := make([]any, len(accounts))
	q.WriteString(`UPDATE ledger_accounts SET balance = balance WHERE id IN (`)
	for i, a := range accounts {
		if i > 0 {
			q.WriteByte(',')
		}
		args[i] = a
		fmt.Fprintf(&q, "$%d", i+1)
	}
	q.WriteString(`) RETURNING id, balance`)
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: lock accounts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			return nil, err
		}
		out[id] = bal
	}
	return out, rows.Err()
}

// Balance is an account's settled balance (what a conditional debit sees).
func Balance(ctx context.Context, db *store.DB, account int64) (int64, error) {
	var bal int64
	err := db.QueryRowContext(ctx, `SELECT balance FROM ledger_accounts WHERE id = $1`, account).Scan(&bal)
	return bal, err
}

// Available is an account's balance including appended entries not
// settled yet (a hot account's earnings as its owner sees them).
func Available(ctx context.Context, db *store.DB, account int64) (int64, error) {
	var bal, pending int64
	err := db.QueryRowContext(ctx, `SELECT a.balance, COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.account_id = a.id AND e.settled = FALSE), 0)
		FROM ledger_accounts a WHERE a.id = $1`, account).Scan(&bal, &pending)
	return bal + pending, err
}
