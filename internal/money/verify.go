package money

import (
	"context"
	"fmt"

	"github.com/livehouse/livehouse/internal/money/ledger"
)

// Report is the result of Verify.
type Report struct {
	Accounts     int `json:"accounts"`
	Transactions int `json:"transactions"`
	// Sources is how many source rows (gifts, membership purchases,
	// payments, withdrawals, grants, top-up orders) were reconciled.
	Sources  int      `json:"sources"`
	Problems []string `json:"problems"`
}

// maxListed is how many problems of one check are spelled out.
const maxListed = 20

// sourceMovements is what every source row says its ledger transaction
// moved: one row per (transaction, account) leg, with the transaction's
// kind. Accounts are named by (kind, owner), as ledger_accounts are.
var sourceMovements = fmt.Sprintf(`
	SELECT g.tx_id, 'gift' AS tx_kind,
		CASE WHEN tg.user_id IS NULL THEN 'user' ELSE 'provider' END AS acct_kind,
		CASE WHEN tg.user_id IS NULL THEN g.sender_id ELSE %[1]d END AS owner_id, -g.amount AS amount
		FROM gifts g LEFT JOIN trial_gifts_used tg ON tg.gift_row_id = g.id
	UNION ALL SELECT tx_id, 'gift', 'channel', channel_id, amount - platform_cut FROM gifts
	UNION ALL SELECT tx_id, 'gift', 'platform', 0, platform_cut FROM gifts
	UNION ALL SELECT tx_id, 'membership', 'user', user_id, -amount FROM membership_purchases
	UNION ALL SELECT tx_id, 'membership', 'channel', channel_id, amount - platform_cut FROM membership_purchases
	UNION ALL SELECT tx_id, 'membership', 'platform', 0, platform_cut FROM membership_purchases
	UNION ALL SELECT tx_id, 'topup', 'user', user_id, coins FROM payments
	UNION ALL SELECT tx_id, 'topup', 'provider', CASE WHEN provider = 'manual' THEN %[2]d ELSE %[3]d END, -coins FROM payments
	UNION ALL SELECT request_tx_id, 'withdrawal', 'channel', channel_id, -amount FROM withdrawals
	UNION ALL SELECT request_tx_id, 'withdrawal', 'provider', %[4]d, amount FROM withdrawals
	UNION ALL SELECT return_tx_id, 'withdrawal', 'provider', %[4]d, -amount FROM withdrawals WHERE return_tx_id IS NOT NULL
	UNION ALL SELECT return_tx_id, 'withdrawal', 'channel', channel_id, amount FROM withdrawals WHERE return_tx_id IS NOT NULL
	UNION ALL SELECT tx_id, 'grant', 'user', user_id, coins FROM grants
	UNION ALL SELECT tx_id, 'grant', 'provider', %[2]d, -coins FROM grants`,
	ProviderPromo, ProviderManual, ProviderWebhook, ProviderPayout)

// Verify checks the ledger against itself and against what it records:
//   - each account's settled entries sum to its balance, and only provider
//     accounts are negative; each transaction has two or more entries
//     summing to zero (ledger.Check);
//   - every source row — gift (trial gifts paid by the promotion account),
//     membership purchase, payment (webhook or approved top-up order),
//     withdrawal request and its return if rejected, grant — has its
//     transaction, of its kind, moving exactly its amounts between exactly
//     its accounts (the platform's cut included); and no transaction lacks
//     a source row;
//   - withdrawal states match their transactions (only a rejected one was
//     returned), and an approved top-up order is exactly one payment.
func (s *Service) Verify(ctx context.Context) (Report, error) {
	lr, err := ledger.Check(ctx, s.db)
	r := Report{Accounts: lr.Accounts, Transactions: lr.Transactions, Problems: lr.Problems}
	if r.Problems == nil {
		r.Problems = []string{}
	}
	if err != nil {
		return r, err
	}
	return r, s.verifySources(ctx, &r)
}

// verifySources reconciles the ledger with the rows that caused it.
func (s *Service) verifySources(ctx context.Context, r *Report) error {
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM gifts) + (SELECT COUNT(*) FROM membership_purchases)
		+ (SELECT COUNT(*) FROM payments) + (SELECT COUNT(*) FROM withdrawals) + (SELECT COUNT(*) FROM grants)
		+ (SELECT COUNT(*) FROM topup_orders)`).Scan(&r.Sources)
	if err != nil {
		return err
	}
	checks := []struct {
		query  string
		report func(sc func(...any) error) (string, error)
	}{
		// Every leg of every transaction, against what its source rows say.
		{`WITH src AS (` + sourceMovements + `)
			SELECT x.tx_id, COALESCE(t.kind, ''), x.acct_kind, x.owner_id, SUM(x.by_ledger), SUM(x.by_source) FROM (
				SELECT e.tx_id, a.kind AS acct_kind, a.owner_id, e.amount AS by_ledger, 0 AS by_source
					FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
				UNION ALL SELECT tx_id, acct_kind, owner_id, 0, amount FROM src) x
			LEFT JOIN ledger_txs t ON t.id = x.tx_id
			GROUP BY x.tx_id, t.kind, x.acct_kind, x.owner_id
			HAVING SUM(x.by_ledger) <> SUM(x.by_source)
			ORDER BY x.tx_id, x.acct_kind, x.owner_id`,
			func(sc func(...any) error) (string, error) {
				var tx, owner, ledger, source int64
				var kind, acct string
				if err := sc(&tx, &kind, &acct, &owner, &ledger, &source); err != nil {
					return "", err
				}
				if kind == "" {
					kind = "missing"
				}
				return fmt.Sprintf("%s transaction %d: the %s account of %d moved %d in the ledger, %d by its source rows", kind, tx, acct, owner, ledger, source), nil
			}},
		// Source rows pointing at a transaction of another kind (or none).
		{`WITH src AS (` + sourceMovements + `)
			SELECT s.tx_id, s.tx_kind, COALESCE(t.kind, '') FROM (SELECT DISTINCT tx_id, tx_kind FROM src) s
			LEFT JOIN ledger_txs t ON t.id = s.tx_id WHERE t.id IS NULL OR t.kind <> s.tx_kind ORDER BY s.tx_id`,
			func(sc func(...any) error) (string, error) {
				var tx int64
				var want, got string
				if err := sc(&tx, &want, &got); err != nil {
					return "", err
				}
				if got == "" {
					return fmt.Sprintf("a %s's transaction %d does not exist", want, tx), nil
				}
				return fmt.Sprintf("transaction %d is a %s but a %s points at it", tx, got, want), nil
			}},
		// Transactions no source row accounts for.
		{`WITH src AS (` + sourceMovements + `)
			SELECT t.id, t.kind FROM ledger_txs t LEFT JOIN (SELECT DISTINCT tx_id FROM src) s ON s.tx_id = t.id
			WHERE s.tx_id IS NULL ORDER BY t.id`,
			func(sc func(...any) error) (string, error) {
				var tx int64
				var kind string
				if err := sc(&tx, &kind); err != nil {
					return "", err
				}
				return fmt.Sprintf("%s transaction %d has no source row", kind, tx), nil
			}},
		// Withdrawals: only a rejected request was returned; only a pending one is undecided.
		{`SELECT id, status, return_tx_id IS NOT NULL, decided_at IS NOT NULL FROM withdrawals
			WHERE (status = 'rejected') <> (return_tx_id IS NOT NULL) OR (status = 'pending') = (decided_at IS NOT NULL) ORDER BY id`,
			func(sc func(...any) error) (string, error) {
				var id int64
				var status string
				var returned, decided bool
				if err := sc(&id, &status, &returned, &decided); err != nil {
					return "", err
				}
				return fmt.Sprintf("withdrawal %d is %s but returned=%v decided=%v", id, status, returned, decided), nil
			}},
		// Top-up orders: approved exactly when paid, by that buyer for that package.
		{`SELECT o.id, o.status, COALESCE(p.id, 0) FROM topup_orders o
			LEFT JOIN payments p ON p.provider = 'manual' AND p.provider_tx = 'order-' || CAST(o.id AS TEXT)
			WHERE (o.status = 'approved') <> (p.id IS NOT NULL) OR p.user_id <> o.user_id OR p.package_id <> o.package_id ORDER BY o.id`,
			func(sc func(...any) error) (string, error) {
				var id, payment int64
				var status string
				if err := sc(&id, &status, &payment); err != nil {
					return "", err
				}
				if payment == 0 {
					return fmt.Sprintf("top-up order %d is %s but was never paid", id, status), nil
				}
				return fmt.Sprintf("top-up order %d is %s but payment %d credits it", id, status, payment), nil
			}},
		{`SELECT p.id, p.provider_tx FROM payments p WHERE p.provider = 'manual' AND NOT EXISTS (
				SELECT 1 FROM topup_orders o WHERE o.status = 'approved' AND 'order-' || CAST(o.id AS TEXT) = p.provider_tx) ORDER BY p.id`,
			func(sc func(...any) error) (string, error) {
				var id int64
				var ref string
				if err := sc(&id, &ref); err != nil {
					return "", err
				}
				return fmt.Sprintf("manual payment %d (%s) has no approved top-up order", id, ref), nil
			}},
	}
	for _, c := range checks {
		if err := s.listProblems(ctx, r, c.query, c.report); err != nil {
			return err
		}
	}
	return nil
}

// listProblems adds a line per row of query (the first maxListed, then
// how many more).
func (s *Service) listProblems(ctx context.Context, r *Report, query string, report func(func(...any) error) (string, error)) error {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("ledger verify: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		if n > maxListed {
			continue
		}
		line, err := report(rows.Scan)
		if err != nil {
			return err
		}
		r.Problems = append(r.Problems, line)
	}
	if n > maxListed {
		r.Problems = append(r.Problems, fmt.Sprintf("… and %d more like the above", n-maxListed))
	}
	return rows.Err()
}
