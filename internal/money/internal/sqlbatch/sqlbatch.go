// Package sqlbatch writes many rows with few statements: one multi-row
// INSERT per chunk of rows, the same SQL on SQLite and PostgreSQL. The
// ledger, the outbox and the gift writer use it for their batched forms.
package sqlbatch

import (
	"context"
	"database/sql"

	"github.com/livehouse/livehouse/internal/store"
)

// Chunk is how many rows one statement carries (SQLite allows 32,766
// parameters; a gift row has 9).
const Chunk = 200

// Exec inserts rows with head + "($1, …), (…)" + tail, a statement per Chunk.
func Exec(ctx context.Context, tx *sql.Tx, head string, rows [][]any, tail string) error {
	return Insert(ctx, tx, head, rows, tail, nil)
}

// Insert is Exec for a statement whose tail has RETURNING: scan is called
// with each returned row's Scan.
func Insert(ctx context.Context, tx *sql.Tx, head string, rows [][]any, tail string, scan func(func(...any) error) error) error {
	for len(rows) > 0 {
		n := min(Chunk, len(rows))
		part := rows[:n]
		rows = rows[n:]
		values, args := store.Values(part)
		q := head + values + tail
		if scan == nil {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			continue
		}
		res, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		for res.Next() {
			if err := scan(res.Scan); err != nil {
				res.Close()
				return err
			}
		}
		res.Close()
		if err := res.Err(); err != nil {
			return err
		}
	}
	return nil
}
