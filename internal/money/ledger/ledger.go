// Package ledger is the double-entry coin ledger, and Post is the only way
// coins move: every gift, trial gift, membership, top-up, withdrawal and
// grant is one Post of entries that sum to zero, inside the SQL transaction
// of the row that caused it. Post enforces the account rules in one place:
//
//   - the entries of a transaction sum to zero (amounts are integer coins);
//   - no account may go below zero except providers' (may_go_negative): a
//     debit that would is refused with *ShortError and nothing is written;
//   - hot accounts (a popular channel, the platform) are credited by
//     appended entries that leave their balance row alone, so thousands of
//     senders do not queue on one row; Settle folds them in later. Only
//     credits may be appended: a debit always changes the balance it is
//     checked against, in the same statement.
//
// The package owns the rows of ledger_accounts, ledger_txs and
// ledger_entries (the tables are in the money domain's migrations) and
// knows nothing of what a movement means; the money package does.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/livehouse/livehouse/internal/money/internal/sqlbatch"
)

// Account kinds. Providers (payment services, the promotion and payout
// accounts) are the only accounts that may go negative.
const (
	KindUser     = "user"
	KindChannel  = "channel"
	KindPlatform = "platform"
	KindProvider = "provider"
)

// Entry is one line of a transaction: a signed amount on an account
// (negative: a debit).
type Entry struct {
	Account int64
	Amount  int64
	// Appended credits a hot account without touching its balance row;
	// Settle folds the entry in later.
	Appended bool
}

// Move is a settled entry: the account's balance changes with it, and a
// debit is refused if the account cannot cover it.
func Move(account, amount int64) Entry { return Entry{Account: account, Amount: amount} }

// Append is an appended credit to a hot account (see Entry.Appended).
func Append(account, amount int64) Entry {
	return Entry{Account: account, Amount: amount, Appended: true}
}

// Tx is a transaction to post.
type Tx struct {
	Kind    string // gift, membership, topup, withdrawal, grant
	Memo    string
	Actor   int64 // who caused it (0: the platform, or many senders)
	At      int64 // Unix milliseconds
	Entries []Entry
}

// Posted is a transaction Post wrote.
type Posted struct {
	ID       int64
	balances map[int64]int64
}

// Balance is an account's settled balance right after the post, for the
// accounts whose balance the post changed (0 for others).
func (p Posted) Balance(account int64) int64 { return p.balances[account] }

// ShortError refuses a transaction because some accounts cannot cover
// their debits in it; nothing was written.
type ShortError struct {
	Accounts []int64
}

func (e *ShortError) Error() string {
	return fmt.Sprintf("ledger: accounts %v cannot cover their debits", e.Accounts)
}

// Has tells whether account is one of the short accounts.
func (e *ShortError) Has(account int64) bool {
	for _, a := range e.Accounts {
		if a == account {
			return true
		}
	}
	return false
}

// ErrInvalid is a transaction that breaks the ledger's rules by
// construction (a bug in the caller, never a user's doing).
var ErrInvalid = errors.New("ledger: invalid transaction")

// Post writes t in tx: first the balance changes of its settled entries,
// every account's debits and credits in one conditional statement (the
// only rows a movement locks, and in one go), then the transaction and its
// entries. Entries of amount 0 move nothing and are left out. A short
// account fails the whole post with *ShortError, leaving tx as it was.
func Post(ctx context.Context, tx *sql.Tx, t Tx) (Posted, error) {
	entries, order, deltas, err := check(t)
	if err != nil {
		return Posted{}, err
	}
	balances, err := apply(ctx, tx, order, deltas)
	if err != nil {
		return Posted{}, err
	}
	p := Posted{balances: balances}
	if err := tx.QueryRowContext(ctx, `INSERT INTO ledger_txs (kind, memo, actor_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		t.Kind, t.Memo, t.Actor, t.At).Scan(&p.ID); err != nil {
		return Posted{}, fmt.Errorf("ledger: write %s transaction: %w", t.Kind, err)
	}
	rows := make([][]any, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []any{p.ID, e.Account, e.Amount, !e.Appended, t.At})
	}
	if err := sqlbatch.Exec(ctx, tx, `INSERT INTO ledger_entries (tx_id, account_id, amount, settled, created_at) VALUES `, rows, ""); err != nil {
		return Posted{}, fmt.Errorf("ledger: write %s entries: %w", t.Kind, err)
	}
	return p, nil
}

// check validates t and sums each settled account's change, in the order
// accounts first appear.
func check(t Tx) (entries []Entry, order []int64, deltas map[int64]int64, err error) {
	if t.Kind == "" {
		return nil, nil, nil, fmt.Errorf("%w: no kind", ErrInvalid)
	}
	deltas = map[int64]int64{}
	accounts := map[int64]bool{}
	var sum int64
	for _, e := range t.Entries {
		if e.Amount == 0 {
			continue
		}
		if e.Appended && e.Amount < 0 {
			return nil, nil, nil, fmt.Errorf("%w: %s debits account %d by an appended entry", ErrInvalid, t.Kind, e.Account)
		}
		if !addable(sum, e.Amount) {
			return nil, nil, nil, fmt.Errorf("%w: %s overflows", ErrInvalid, t.Kind)
		}
		sum += e.Amount
		entries = append(entries, e)
		accounts[e.Account] = true
		if e.Appended {
			continue
		}
		if _, ok := deltas[e.Account]; !ok {
			order = append(order, e.Account)
		}
		if !addable(deltas[e.Account], e.Amount) {
			return nil, nil, nil, fmt.Errorf("%w: %s overflows", ErrInvalid, t.Kind)
		}
		deltas[e.Account] += e.Amount
	}
	if sum != 0 {
		return nil, nil, nil, fmt.Errorf("%w: %s entries sum to %d", ErrInvalid, t.Kind, sum)
	}
	if len(accounts) < 2 {
		return nil, nil, nil, fmt.Errorf("%w: %s moves nothing between accounts", ErrInvalid, t.Kind)
	}
	return entries, order, deltas, nil
}

func addable(a, b int64) bool {
	return (b <= 0 || a <= math.MaxInt64-b) && (b >= 0 || a >= math.MinInt64-b)
}

// apply changes the balances of the settled accounts: one statement, which
// changes only accounts that stay at or above zero (or may go negative). If
// any could not, the others are changed back and *ShortError returned.
func apply(ctx context.Context, tx *sql.Tx, order []int64, deltas map[int64]int64) (map[int64]int64, error) {
	if len(order) == 0 {
		return nil, nil
	}
	balances := make(map[int64]int64, len(order))
	if len(order) == 1 {
		a := order[0]
		var bal int64
		err := tx.QueryRowContext(ctx, `UPDATE ledger_accounts SET balance = balance + $1
			WHERE id = $2 AND (balance + $1 >= 0 OR may_go_negative) RETURNING balance`, deltas[a], a).Scan(&bal)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &ShortError{Accounts: []int64{a}}
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: change balance: %w", err)
		}
		balances[a] = bal
		return balances, nil
	}
	q, args := updateBalances(order, deltas, "+", true)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger: change balances: %w", err)
	}
	for rows.Next() {
		var id, bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			rows.Close()
			return nil, err
		}
		balances[id] = bal
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: change balances: %w", err)
	}
	if len(balances) == len(order) {
		return balances, nil
	}
	short := &ShortError{}
	var applied []int64
	for _, a := range order {
		if _, ok := balances[a]; ok {
			applied = append(applied, a)
		} else {
			short.Accounts = append(short.Accounts, a)
		}
	}
	if len(applied) > 0 {
		q, args := updateBalances(applied, deltas, "-", false)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("ledger: undo balance changes: %w", err)
		}
	}
	return nil, short
}

// updateBalances renders UPDATE … SET balance = balance op CASE id WHEN $1
// THEN CAST($2 AS BIGINT) … END WHERE id IN ($1, …) [AND the account can
// take it] RETURNING id, balance. PostgreSQL needs the casts to type the
// amounts; both CASEs share the same parameters.
func updateBalances(accounts []int64, deltas map[int64]int64, op string, conditional bool) (string, []any) {
	var cases strings.Builder
	args := make([]any, 0, 2*len(accounts))
	cases.WriteString(`CASE id`)
	for _, a := range accounts {
		args = append(args, a, deltas[a])
		fmt.Fprintf(&cases, " WHEN $%d THEN CAST($%d AS BIGINT)", len(args)-1, len(args))
	}
	cases.WriteString(` END`)
	var q strings.Builder
	q.WriteString(`UPDATE ledger_accounts SET balance = balance ` + op + ` ` + cases.String() + ` WHERE id IN (`)
	for i := range accounts {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "$%d", 2*i+1)
	}
	q.WriteByte(')')
	if conditional {
		q.WriteString(` AND (balance + ` + cases.String() + ` >= 0 OR may_go_negative) RETURNING id, balance`)
	}
	return q.String(), args
}
