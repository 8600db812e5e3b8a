package ledger

import (
	"context"
	"fmt"

	"github.com/livehouse/livehouse/internal/store"
)

// Report is what Check found.
type Report struct {
	Accounts     int
	Transactions int
	Problems     []string
}

// Check verifies the ledger against itself: each account's settled
// entries sum to its balance and only providers' accounts are negative
// (appended entries included); each transaction has two or more entries
// summing to zero. (What each movement should have been is the money
// domain's to reconcile.)
func Check(ctx context.Context, db *store.DB) (Report, error) {
	r := Report{Problems: []string{}}
	if err := checkBalances(ctx, db, &r); err != nil {
		return r, err
	}
	return r, checkTransactions(ctx, db, &r)
}

func checkBalances(ctx context.Context, db *store.DB, r *Report) error {
	rows, err := db.QueryContext(ctx, `SELECT a.id, a.kind, a.owner_id, a.balance, a.may_go_negative,
		COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.account_id = a.id AND e.settled), 0),
		COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.account_id = a.id), 0)
		FROM ledger_accounts a ORDER BY a.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, owner, balance, settled, all int64
		var kind string
		var mayNeg bool
		if err := rows.Scan(&id, &kind, &owner, &balance, &mayNeg, &settled, &all); err != nil {
			return err
		}
		r.Accounts++
		if balance != settled {
			r.Problems = append(r.Problems, fmt.Sprintf("%s account %d (owner %d): balance %d, settled entries sum to %d", kind, id, owner, balance, settled))
		}
		if !mayNeg && all < 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s account %d (owner %d) is negative: %d", kind, id, owner, all))
		}
	}
	return rows.Err()
}

func checkTransactions(ctx context.Context, db *store.DB, r *Report) error {
	rows, err := db.QueryContext(ctx, `SELECT t.id, COALESCE(SUM(e.amount), 0), COUNT(e.id) FROM ledger_txs t
		LEFT JOIN ledger_entries e ON e.tx_id = t.id GROUP BY t.id ORDER BY t.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, sum, n int64
		if err := rows.Scan(&id, &sum, &n); err != nil {
			return err
		}
		r.Transactions++
		if sum != 0 || n < 2 {
			r.Problems = append(r.Problems, fmt.Sprintf("transaction %d: %d entries summing to %d", id, n, sum))
		}
	}
	return rows.Err()
}
