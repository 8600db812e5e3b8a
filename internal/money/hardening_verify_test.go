package money

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestHardening17VerifyReconciles: ledger verify reconciles every kind of
// movement with its source rows — gifts, trial gifts, memberships, top-ups
// (webhook payments and approved orders), withdrawals (requested, rejected,
// approved), grants — and catches each kind of tampering.
func TestHardening17VerifyReconciles(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		s := w.s
		ch := w.channel("audit")
		other := w.channel("other")
		fan := w.user("fan", 5000)
		one := func(q string, args ...any) int64 {
			t.Helper()
			var v int64
			if err := w.db.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return v
		}
		if _, _, err := s.ConfirmPayment(ctx, "webhook", "pay-1", fan, "coins-100"); err != nil {
			t.Fatal(err)
		}
		paid, _ := s.RequestTopup(ctx, fan, "coins-600", "")
		unpaid, _ := s.RequestTopup(ctx, fan, "coins-100", "")
		if _, err := s.DecideTopup(ctx, paid.ID, true, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecideTopup(ctx, unpaid.ID, false, 0); err != nil {
			t.Fatal(err)
		}
		gift, err := s.SendGift(ctx, fan, "fan", ch, "audit", "rocket", 2, "g1")
		if err != nil {
			t.Fatal(err)
		}
		trial, err := s.SendGift(ctx, fan, "fan", ch, "audit", "lucky-star", 1, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.BuyMembership(ctx, fan, "fan", ch, "audit", 1, 1, "m1", false); err != nil {
			t.Fatal(err)
		}
		const owner = 1
		approved, _ := s.RequestWithdrawal(ctx, ch, owner, 100, "")
		rejected, _ := s.RequestWithdrawal(ctx, ch, owner, 200, "")
		pending, err := s.RequestWithdrawal(ctx, ch, owner, 300, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecideWithdrawal(ctx, approved.ID, true, "paid", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DecideWithdrawal(ctx, rejected.ID, false, "no", 0); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, s)
		rep, _ := s.Verify(ctx)
		if want := int(one(`SELECT (SELECT COUNT(*) FROM gifts) + (SELECT COUNT(*) FROM membership_purchases) + (SELECT COUNT(*) FROM payments)
			+ (SELECT COUNT(*) FROM withdrawals) + (SELECT COUNT(*) FROM grants) + (SELECT COUNT(*) FROM topup_orders)`)); rep.Sources != want || want < 10 {
			t.Fatalf("sources %d, want %d", rep.Sources, want)
		}

		giftTx := one(`SELECT tx_id FROM gifts WHERE id = $1`, gift.ID)
		memTx := one(`SELECT tx_id FROM membership_purchases`)
		grantID := one(`SELECT MIN(id) FROM grants`)
		grantTx := one(`SELECT tx_id FROM grants WHERE id = $1`, grantID)
		grantAt := one(`SELECT created_at FROM grants WHERE id = $1`, grantID)
		webhookTx := one(`SELECT tx_id FROM payments WHERE provider = 'webhook'`)
		chanAcct := one(`SELECT id FROM ledger_accounts WHERE kind = 'channel' AND owner_id = $1`, ch)
		otherAcct, err := s.account(ctx, KindChannel, other)
		if err != nil {
			t.Fatal(err)
		}
		manual := one(`SELECT id FROM ledger_accounts WHERE kind = 'provider' AND owner_id = $1`, ProviderManual)
		promo := one(`SELECT id FROM ledger_accounts WHERE kind = 'provider' AND owner_id = $1`, ProviderPromo)

		for _, c := range []struct {
			kind, want string
			tamper     []string
			undo       []string
		}{
			{"gift amount", "gift transaction",
				[]string{`UPDATE gifts SET amount = amount + 1 WHERE id = ` + itoa64(gift.ID)},
				[]string{`UPDATE gifts SET amount = amount - 1 WHERE id = ` + itoa64(gift.ID)}},
			{"gift split between channel and platform", "gift transaction",
				[]string{`UPDATE gifts SET platform_cut = platform_cut + 100 WHERE id = ` + itoa64(gift.ID)},
				[]string{`UPDATE gifts SET platform_cut = platform_cut - 100 WHERE id = ` + itoa64(gift.ID)}},
			// Balances kept consistent: only the reconciliation can see it.
			{"membership credited to another channel", "membership transaction " + itoa64(memTx) + ": the channel account of " + itoa64(other),
				[]string{`UPDATE ledger_entries SET account_id = ` + itoa64(otherAcct) + ` WHERE tx_id = ` + itoa64(memTx) + ` AND account_id = ` + itoa64(chanAcct),
					`UPDATE ledger_accounts SET balance = balance - 139 WHERE id = ` + itoa64(chanAcct),
					`UPDATE ledger_accounts SET balance = balance + 139 WHERE id = ` + itoa64(otherAcct)},
				[]string{`UPDATE ledger_entries SET account_id = ` + itoa64(chanAcct) + ` WHERE tx_id = ` + itoa64(memTx) + ` AND account_id = ` + itoa64(otherAcct),
					`UPDATE ledger_accounts SET balance = balance + 139 WHERE id = ` + itoa64(chanAcct),
					`UPDATE ledger_accounts SET balance = balance - 139 WHERE id = ` + itoa64(otherAcct)}},
			{"trial gift no longer a trial", "gift transaction",
				[]string{`DELETE FROM trial_gifts_used WHERE gift_row_id = ` + itoa64(trial.ID)},
				[]string{`INSERT INTO trial_gifts_used (user_id, gift_id, gift_row_id) VALUES (` + itoa64(fan) + `, 'lucky-star', ` + itoa64(trial.ID) + `)`}},
			{"membership amount", "membership transaction",
				[]string{`UPDATE membership_purchases SET amount = amount - 100`},
				[]string{`UPDATE membership_purchases SET amount = amount + 100`}},
			{"payment coins", "topup transaction",
				[]string{`UPDATE payments SET coins = coins + 1000 WHERE provider = 'webhook'`},
				[]string{`UPDATE payments SET coins = coins - 1000 WHERE provider = 'webhook'`}},
			{"payment without its transaction", "has no source row",
				[]string{`UPDATE payments SET tx_id = ` + itoa64(grantTx) + ` WHERE provider = 'webhook'`},
				[]string{`UPDATE payments SET tx_id = ` + itoa64(webhookTx) + ` WHERE provider = 'webhook'`}},
			{"approved order marked rejected", "top-up order",
				[]string{`UPDATE topup_orders SET status = 'rejected' WHERE id = ` + itoa64(paid.ID)},
				[]string{`UPDATE topup_orders SET status = 'approved' WHERE id = ` + itoa64(paid.ID)}},
			{"rejected order marked approved", "was never paid",
				[]string{`UPDATE topup_orders SET status = 'approved' WHERE id = ` + itoa64(unpaid.ID)},
				[]string{`UPDATE topup_orders SET status = 'rejected' WHERE id = ` + itoa64(unpaid.ID)}},
			{"withdrawal amount", "withdrawal transaction",
				[]string{`UPDATE withdrawals SET amount = amount + 50 WHERE id = ` + itoa64(pending.ID)},
				[]string{`UPDATE withdrawals SET amount = amount - 50 WHERE id = ` + itoa64(pending.ID)}},
			{"rejected withdrawal marked approved", "is approved but returned=true",
				[]string{`UPDATE withdrawals SET status = 'approved' WHERE id = ` + itoa64(rejected.ID)},
				[]string{`UPDATE withdrawals SET status = 'rejected' WHERE id = ` + itoa64(rejected.ID)}},
			{"approved withdrawal marked rejected", "is rejected but returned=false",
				[]string{`UPDATE withdrawals SET status = 'rejected' WHERE id = ` + itoa64(approved.ID)},
				[]string{`UPDATE withdrawals SET status = 'approved' WHERE id = ` + itoa64(approved.ID)}},
			{"pending withdrawal marked decided", "is pending but returned=false decided=true",
				[]string{`UPDATE withdrawals SET decided_at = 1 WHERE id = ` + itoa64(pending.ID)},
				[]string{`UPDATE withdrawals SET decided_at = NULL WHERE id = ` + itoa64(pending.ID)}},
			{"grant coins", "grant transaction",
				[]string{`UPDATE grants SET coins = coins + 1 WHERE id = ` + itoa64(grantID)},
				[]string{`UPDATE grants SET coins = coins - 1 WHERE id = ` + itoa64(grantID)}},
			{"grant without its row", "grant transaction " + itoa64(grantTx) + " has no source row",
				[]string{`DELETE FROM grants WHERE id = ` + itoa64(grantID)},
				[]string{`INSERT INTO grants (id, user_id, coins, reason, actor_id, tx_id, created_at) VALUES (` + itoa64(grantID) + `, ` + itoa64(fan) +
					`, 5000, 'test funds', 0, ` + itoa64(grantTx) + `, ` + itoa64(grantAt) + `)`}},
			{"transaction of another kind", "is a grant but a gift points at it",
				[]string{`UPDATE ledger_txs SET kind = 'grant' WHERE id = ` + itoa64(giftTx)},
				[]string{`UPDATE ledger_txs SET kind = 'gift' WHERE id = ` + itoa64(giftTx)}},
			{"a movement nothing caused", "bonus transaction 999999 has no source row",
				[]string{`INSERT INTO ledger_txs (id, kind, memo, actor_id, created_at) VALUES (999999, 'bonus', '', 0, 1)`,
					`INSERT INTO ledger_entries (tx_id, account_id, amount, settled, created_at) VALUES (999999, ` + itoa64(manual) + `, -5, FALSE, 1), (999999, ` + itoa64(promo) + `, 5, FALSE, 1)`},
				[]string{`DELETE FROM ledger_entries WHERE tx_id = 999999`, `DELETE FROM ledger_txs WHERE id = 999999`}},
		} {
			exec := func(stmts []string) {
				t.Helper()
				for _, q := range stmts {
					if _, err := w.db.ExecContext(ctx, q); err != nil {
						t.Fatalf("%s: %s: %v", c.kind, q, err)
					}
				}
			}
			exec(c.tamper)
			rep, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
				t.Errorf("%s: verify did not say %q:\n%s", c.kind, c.want, strings.Join(rep.Problems, "\n"))
			}
			exec(c.undo)
			if rep, err := s.Verify(ctx); err != nil || len(rep.Problems) != 0 {
				t.Fatalf("after undoing %s: %v %v", c.kind, rep.Problems, err)
			}
		}
		w.noErrorsLogged()
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestHardening17LegacyLedgerBackfilled: movements written before the
// reconciling migrations (a group-committed gift pair, a membership, a
// grant) are given what verify needs, and verify stays clean.
func TestHardening17LegacyLedgerBackfilled(t *testing.T) {
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < "0006" {
			b, _ := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
			old[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		exec := func(q string, args ...any) int64 {
			t.Helper()
			var id int64
			if strings.Contains(q, "RETURNING") {
				if err := db.QueryRowContext(ctx, q, args...).Scan(&id); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return id
			}
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return 0
		}
		acct := func(kind string, owner int64, balance int64) int64 {
			return exec(`INSERT INTO ledger_accounts (kind, owner_id, balance, may_go_negative) VALUES ($1, $2, $3, $4) RETURNING id`,
				kind, owner, balance, kind == KindProvider)
		}
		// What the code before this pass wrote.
		user, manual := acct(KindUser, 1, 1000-62-198), acct(KindProvider, ProviderManual, -1000)
		chanAcct, platform := acct(KindChannel, 5, 0), acct(KindPlatform, 0, 0)
		entry := func(tx, account, amount int64, settled bool) {
			exec(`INSERT INTO ledger_entries (tx_id, account_id, amount, settled, created_at) VALUES ($1, $2, $3, $4, 1)`, tx, account, amount, settled)
		}
		grant := exec(`INSERT INTO ledger_txs (kind, memo, actor_id, created_at) VALUES ('grant', 'welcome', 9, 1) RETURNING id`)
		entry(grant, manual, -1000, true)
		entry(grant, user, 1000, true)
		group := exec(`INSERT INTO ledger_txs (kind, memo, actor_id, created_at) VALUES ('gift', '2 gifts', 0, 2) RETURNING id`)
		entry(group, user, -62, true)
		entry(group, chanAcct, 7+37, false)
		entry(group, platform, 3+15, false)
		exec(`INSERT INTO gifts (sender_id, idempotency_key, channel_id, gift_id, count, amount, tx_id, created_at) VALUES
			(1, 'a', 5, 'heart', 1, 10, $1, 2), (1, 'b', 5, 'flowers', 1, 52, $1, 2)`, group)
		mem := exec(`INSERT INTO ledger_txs (kind, memo, actor_id, created_at) VALUES ('membership', 'Captain', 1, 3) RETURNING id`)
		entry(mem, user, -198, true)
		entry(mem, chanAcct, 139, false)
		entry(mem, platform, 59, false)
		const expires = int64(5_000_000_000)
		exec(`INSERT INTO memberships (channel_id, user_id, tier, started_at, expires_at, auto_renew, username, room) VALUES (5, 1, 1, 3, $1, TRUE, 'u', 'five')`, expires)
		exec(`INSERT INTO membership_purchases (user_id, idempotency_key, channel_id, tier, months, amount, expires_at, tx_id, created_at)
			VALUES (1, 'm', 5, 1, 1, 198, $1, $2, 3)`, expires, mem)

		if err := db.Migrate(ctx, account.Migrations(), channel.Migrations(), Migrations()); err != nil {
			t.Fatal(err)
		}
		s := newService(db)
		if rep, err := s.Verify(ctx); err != nil || len(rep.Problems) != 0 {
			t.Fatalf("verify after migrating: %v %v", rep.Problems, err)
		}
		var grants, cuts, purchaseCut, monthly, periodStart, agreed int64
		if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM grants WHERE coins = 1000 AND reason = 'welcome' AND actor_id = 9),
			(SELECT SUM(platform_cut) FROM gifts), (SELECT platform_cut FROM membership_purchases), (SELECT monthly_price FROM membership_purchases),
			(SELECT period_start FROM membership_purchases), (SELECT monthly_price FROM memberships)`).Scan(&grants, &cuts, &purchaseCut, &monthly, &periodStart, &agreed); err != nil {
			t.Fatal(err)
		}
		if grants != 1 || cuts != 18 || purchaseCut != 59 || monthly != 198 || periodStart != expires-MembershipMonth.Milliseconds() || agreed != 198 {
			t.Fatalf("backfill: grants %d cuts %d purchase cut %d monthly %d period start %d agreed %d", grants, cuts, purchaseCut, monthly, periodStart, agreed)
		}
		mustVerify(t, s)
		// And tampering with a legacy row is caught like any other.
		exec(`UPDATE gifts SET amount = 11 WHERE idempotency_key = 'a'`)
		if rep, _ := s.Verify(ctx); len(rep.Problems) == 0 {
			t.Fatal("tampered legacy gift not caught")
		}
	}, account.Migrations(), channel.Migrations(), store.MigrationSet{Domain: "money", FS: old})
}
