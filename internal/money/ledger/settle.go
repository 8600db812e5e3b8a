package ledger

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/livehouse/livehouse/internal/store"
)

// Settle folds the appended entries of hot accounts into their balances,
// one short transaction per account. Earnings read through Available
// include the unsettled part, so settling is bookkeeping, not a delay
// users see.
func Settle(ctx context.Context, db *store.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT account_id FROM ledger_entries WHERE settled = FALSE`)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := db.InTx(ctx, func(tx *sql.Tx) error { return SettleAccount(ctx, tx, id) }); err != nil {
			return fmt.Errorf("settle account %d: %w", id, err)
		}
	}
	return nil
}

// SettleAccount folds one account's appended entries into its balance
// inside tx (a withdrawal does it before its conditional debit, so the
// debit sees everything earned so far). It sums exactly the rows its
// statement marks, so an entry that commits meanwhile is either marked and
// counted, or neither.
func SettleAccount(ctx context.Context, tx *sql.Tx, id int64) error {
	marked, err := tx.QueryContext(ctx, `UPDATE ledger_entries SET settled = TRUE
		WHERE account_id = $1 AND settled = FALSE RETURNING amount`, id)
	if err != nil {
		return err
	}
	var total int64
	for marked.Next() {
		var a int64
		if err := marked.Scan(&a); err != nil {
			marked.Close()
			return err
		}
		total += a
	}
	marked.Close()
	if err := marked.Err(); err != nil {
		return err
	}
	if total == 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2`, total, id)
	return err
}
