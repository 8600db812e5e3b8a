package ledger_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// book is a ledger on a fresh database with a few accounts.
type book struct {
	t        *testing.T
	db       *store.DB
	accounts *ledger.Accounts
}

func eachBook(t *testing.T, fn func(t *testing.T, b *book)) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		b := &book{t: t, db: db, accounts: ledger.NewAccounts(db)}
		fn(t, b)
		b.clean()
	}, money.Migrations())
}

func (b *book) account(kind string, owner int64) int64 {
	b.t.Helper()
	id, err := b.accounts.ID(context.Background(), kind, owner)
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

// post posts t in a transaction of its own.
func (b *book) post(t ledger.Tx) (ledger.Posted, error) {
	var p ledger.Posted
	err := b.db.InTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		p, err = ledger.Post(context.Background(), tx, t)
		return err
	})
	return p, err
}

func (b *book) mustPost(t ledger.Tx) ledger.Posted {
	b.t.Helper()
	p, err := b.post(t)
	if err != nil {
		b.t.Fatalf("post %+v: %v", t, err)
	}
	return p
}

func (b *book) balance(acct int64) int64 {
	b.t.Helper()
	bal, err := ledger.Balance(context.Background(), b.db, acct)
	if err != nil {
		b.t.Fatal(err)
	}
	return bal
}

func (b *book) count(table string) int {
	b.t.Helper()
	var n int
	if err := b.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}

// clean settles and checks the ledger against itself.
func (b *book) clean() {
	b.t.Helper()
	if err := ledger.Settle(context.Background(), b.db); err != nil {
		b.t.Fatal(err)
	}
	r, err := ledger.Check(context.Background(), b.db)
	if err != nil || len(r.Problems) > 0 {
		b.t.Fatalf("ledger check: %v %v", r.Problems, err)
	}
}

func TestPostMovesCoins(t *testing.T) {
	eachBook(t, func(t *testing.T, b *book) {
		bank, alice, bob := b.account(ledger.KindProvider, 1), b.account(ledger.KindUser, 1), b.account(ledger.KindUser, 2)
		p := b.mustPost(ledger.Tx{Kind: "grant", Memo: "welcome", At: 1, Entries: []ledger.Entry{ledger.Move(bank, -100), ledger.Move(alice, 100)}})
		if p.ID == 0 || p.Balance(alice) != 100 || p.Balance(bank) != -100 {
			t.Fatalf("posted %+v: alice %d, bank %d", p, p.Balance(alice), p.Balance(bank))
		}
		// One debit, two credits; entries of 0 move nothing and are left out.
		p = b.mustPost(ledger.Tx{Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(alice, -30), ledger.Move(bob, 30), ledger.Move(bank, 0)}})
		if p.Balance(alice) != 70 || p.Balance(bob) != 30 || b.balance(alice) != 70 {
			t.Fatalf("alice %d bob %d", p.Balance(alice), p.Balance(bob))
		}
		var entries int
		b.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM ledger_entries WHERE tx_id = $1`, p.ID).Scan(&entries)
		if entries != 2 {
			t.Fatalf("%d entries written, want 2", entries)
		}
	})
}

func TestPostRefusesWhatBreaksTheRules(t *testing.T) {
	eachBook(t, func(t *testing.T, b *book) {
		bank, alice, hot := b.account(ledger.KindProvider, 1), b.account(ledger.KindUser, 1), b.account(ledger.KindChannel, 1)
		b.mustPost(ledger.Tx{Kind: "grant", At: 1, Entries: []ledger.Entry{ledger.Move(bank, -50), ledger.Move(alice, 50)}})
		txs, entries := b.count("ledger_txs"), b.count("ledger_entries")
		for name, bad := range map[string]ledger.Tx{
			"unbalanced":        {Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(alice, -10), ledger.Move(hot, 9)}},
			"one account":       {Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(alice, -10), ledger.Move(alice, 10)}},
			"appended debit":    {Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Append(hot, -10), ledger.Move(alice, 10)}},
			"no kind":           {At: 2, Entries: []ledger.Entry{ledger.Move(alice, -10), ledger.Move(hot, 10)}},
			"nothing":           {Kind: "gift", At: 2},
			"overflowing":       {Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(bank, -1<<62), ledger.Move(hot, 1<<62), ledger.Move(hot, 1<<62), ledger.Move(bank, -1<<62)}},
			"overflowing a sum": {Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(hot, 1<<62), ledger.Move(hot, 1<<62), ledger.Move(bank, -1)}},
		} {
			if _, err := b.post(bad); !errors.Is(err, ledger.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if b.count("ledger_txs") != txs || b.count("ledger_entries") != entries || b.balance(alice) != 50 {
			t.Fatal("a refused transaction left rows or moved coins")
		}
	})
}

// TestPostNeverTakesAnAccountBelowZero: a debit an account cannot cover
// refuses the whole transaction, with the short accounts named, and
// leaves every balance as it was — also those of the accounts that could
// pay, whose change the same statement had made. Providers may go negative.
func TestPostNeverTakesAnAccountBelowZero(t *testing.T) {
	eachBook(t, func(t *testing.T, b *book) {
		ctx := context.Background()
		bank, alice, bob, carol := b.account(ledger.KindProvider, 1), b.account(ledger.KindUser, 1), b.account(ledger.KindUser, 2), b.account(ledger.KindUser, 3)
		hot := b.account(ledger.KindChannel, 9)
		b.mustPost(ledger.Tx{Kind: "grant", At: 1, Entries: []ledger.Entry{ledger.Move(bank, -70), ledger.Move(alice, 50), ledger.Move(bob, 20)}})
		if b.balance(bank) != -70 {
			t.Fatalf("the provider's balance is %d, want -70", b.balance(bank))
		}
		txs := b.count("ledger_txs")
		// Alone.
		_, err := b.post(ledger.Tx{Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(bob, -21), ledger.Append(hot, 21)}})
		var short *ledger.ShortError
		if !errors.As(err, &short) || len(short.Accounts) != 1 || !short.Has(bob) {
			t.Fatalf("bob overspends: %v", err)
		}
		// In company: alice and carol (credited) could take it, bob cannot.
		err = b.db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "gift", At: 2, Entries: []ledger.Entry{
				ledger.Move(alice, -40), ledger.Move(bob, -25), ledger.Move(carol, 5), ledger.Append(hot, 60)}})
			if !errors.As(err, &short) || len(short.Accounts) != 1 || !short.Has(bob) || short.Has(alice) {
				t.Errorf("a group with one short account: %v", err)
			}
			// The transaction goes on as if the post had not been tried.
			balances, err := ledger.Lock(ctx, tx, alice, bob, carol)
			if err != nil {
				return err
			}
			if balances[alice] != 50 || balances[bob] != 20 || balances[carol] != 0 {
				t.Errorf("balances after a refused post: %v", balances)
			}
			p, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "gift", At: 2, Entries: []ledger.Entry{
				ledger.Move(alice, -40), ledger.Move(bob, -20), ledger.Move(carol, 5), ledger.Append(hot, 55)}})
			if err != nil {
				return err
			}
			if p.Balance(alice) != 10 || p.Balance(bob) != 0 || p.Balance(carol) != 5 {
				t.Errorf("balances after the post: %d %d %d", p.Balance(alice), p.Balance(bob), p.Balance(carol))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if b.count("ledger_txs") != txs+1 {
			t.Fatalf("%d transactions, want %d", b.count("ledger_txs"), txs+1)
		}
	})
}

// TestAppendedCreditsSettleLater: a hot account's credits are appended
// (its balance row is untouched until Settle), Available counts them
// before, and Settle folds them in exactly once.
func TestAppendedCreditsSettleLater(t *testing.T) {
	eachBook(t, func(t *testing.T, b *book) {
		ctx := context.Background()
		bank, fan, hot, platform := b.account(ledger.KindProvider, 1), b.account(ledger.KindUser, 1), b.account(ledger.KindChannel, 1), b.account(ledger.KindPlatform, 0)
		b.mustPost(ledger.Tx{Kind: "grant", At: 1, Entries: []ledger.Entry{ledger.Move(bank, -1000), ledger.Move(fan, 1000)}})
		for range 3 {
			p := b.mustPost(ledger.Tx{Kind: "gift", At: 2, Entries: []ledger.Entry{ledger.Move(fan, -100), ledger.Append(hot, 70), ledger.Append(platform, 30)}})
			if p.Balance(hot) != 0 {
				t.Fatalf("an appended credit reported a balance: %d", p.Balance(hot))
			}
		}
		if b.balance(hot) != 0 || b.balance(fan) != 700 {
			t.Fatalf("hot %d fan %d before settling", b.balance(hot), b.balance(fan))
		}
		if got, err := ledger.Available(ctx, b.db, hot); err != nil || got != 210 {
			t.Fatalf("available %d %v, want 210", got, err)
		}
		for range 2 {
			if err := ledger.Settle(ctx, b.db); err != nil {
				t.Fatal(err)
			}
			if b.balance(hot) != 210 || b.balance(platform) != 90 {
				t.Fatalf("after settling: hot %d platform %d", b.balance(hot), b.balance(platform))
			}
		}
		// A settled hot account pays out like any other, never below zero.
		if _, err := b.post(ledger.Tx{Kind: "withdrawal", At: 3, Entries: []ledger.Entry{ledger.Move(hot, -211), ledger.Move(bank, 211)}}); !errors.As(err, new(*ledger.ShortError)) {
			t.Fatalf("overdrawn earnings: %v", err)
		}
		b.mustPost(ledger.Tx{Kind: "withdrawal", At: 3, Entries: []ledger.Entry{ledger.Move(hot, -210), ledger.Move(bank, 210)}})
	})
}

// TestCheckFindsWhatPostNeverWrites: the self-check the tests end with
// does fail on a ledger edited by hand.
func TestCheckFindsWhatPostNeverWrites(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := &book{t: t, db: db, accounts: ledger.NewAccounts(db)}
		bank, fan := b.account(ledger.KindProvider, 1), b.account(ledger.KindUser, 1)
		p := b.mustPost(ledger.Tx{Kind: "grant", At: 1, Entries: []ledger.Entry{ledger.Move(bank, -10), ledger.Move(fan, 10)}})
		b.clean()
		for _, c := range []struct{ tamper, undo string }{
			{`UPDATE ledger_accounts SET balance = balance + 1 WHERE kind = 'user'`, `UPDATE ledger_accounts SET balance = balance - 1 WHERE kind = 'user'`},
			{`UPDATE ledger_entries SET amount = amount + 1 WHERE amount > 0`, `UPDATE ledger_entries SET amount = amount - 1 WHERE amount > 0`},
		} {
			db.ExecContext(ctx, c.tamper)
			if r, err := ledger.Check(ctx, db); err != nil || len(r.Problems) == 0 || r.Accounts != 2 || r.Transactions != 1 {
				t.Fatalf("%s: %+v %v", c.tamper, r, err)
			}
			db.ExecContext(ctx, c.undo)
		}
		if p.ID == 0 {
			t.Fatal("no transaction id")
		}
		b.clean()
	}, money.Migrations())
}
