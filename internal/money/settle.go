package money

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/livehouse/livehouse/internal/store"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// Settle folds the unsettled entries of hot accounts into their balances,
// one short transaction per account. Earnings read by Balance include the
// unsettled part, so settling is bookkeeping, not a delay users see.
func (s *Service) Settle(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT account_id FROM ledger_entries WHERE settled = FALSE`)
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
	for _, id := range ids {
		if err := s.db.InTx(ctx, func(tx *sql.Tx) error { return settleAccount(ctx, tx, id) }); err != nil {
			return fmt.Errorf("settle account %d: %w", id, err)
		}
	}
	return nil
}

// settleAccount folds one account's unsettled entries into its balance.
// It sums exactly the rows its statement marks, so an entry that commits
// meanwhile is either marked and counted, or neither.
func settleAccount(ctx context.Context, tx *sql.Tx, id int64) error {
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

// Earnings is a channel's balance including entries not settled yet.
func (s *Service) Earnings(ctx context.Context, channelID int64) (int64, error) {
	acct, err := s.account(ctx, KindChannel, channelID)
	if err != nil {
		return 0, err
	}
	var bal, pending int64
	err = s.db.QueryRowContext(ctx, `SELECT a.balance, COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.account_id = a.id AND e.settled = FALSE), 0)
		FROM ledger_accounts a WHERE a.id = $1`, acct).Scan(&bal, &pending)
	return bal + pending, err
}

// Relay publishes outbox rows to the bus after their transaction committed,
// oldest first, and marks them published. At least once: a crash between
// publish and mark republishes, and clients de-duplicate by gift id.
type Relay struct {
	db   *store.DB
	nc   *nats.Conn
	svc  *Service
	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// StartRelay runs the outbox relay, the settler and the membership
// renewer until Stop.
func (s *Service) StartRelay(nc *nats.Conn) *Relay {
	r := &Relay{db: s.db, nc: nc, svc: s, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.nc, s.relay = nc, r
	r.wg.Add(1)
	go r.run()
	return r
}

// Kick asks the relay to publish now (after a commit).
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Stop publishes what is left and stops.
func (r *Relay) Stop() {
	close(r.stop)
	r.wg.Wait()
}

func (r *Relay) run() {
	defer r.wg.Done()
	poll := time.NewTicker(time.Second) // catches rows left by a crash
	defer poll.Stop()
	settle := time.NewTicker(2 * time.Second)
	defer settle.Stop()
	renew := time.NewTicker(time.Minute)
	defer renew.Stop()
	for {
		select {
		case <-r.stop:
			r.publishPending(true)
			return
		case <-r.kick:
			r.publishPending(true)
		case <-poll.C:
			r.publishPending(false)
		case <-renew.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if _, err := r.svc.RenewDue(ctx, time.Now()); err != nil {
				r.svc.log.Error("renew memberships", "err", err)
			}
			cancel()
		case <-settle.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := r.svc.Settle(ctx); err != nil {
				r.svc.log.Error("settle hot accounts", "err", err)
			}
			cancel()
		}
	}
}

// staleOutbox is when the relay takes over an unpublished outbox row.
const staleOutbox = 5 * time.Second

func markPublished(ctx context.Context, tx *sql.Tx, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		var q strings.Builder
		args := make([]any, 0, n+1)
		args = append(args, store.Now())
		q.WriteString(`UPDATE outbox SET published_at = $1 WHERE id IN (`)
		for i, id := range ids[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			args = append(args, id)
			fmt.Fprintf(&q, "$%d", i+2)
		}
		q.WriteByte(')')
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (r *Relay) publishPending(kicked bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		// With a group-commit writer, fresh rows are its to publish; the
		// relay takes rows older than a few seconds (left by a crash).
		cutoff := store.Now()
		if r.svc.writer != nil && !kicked {
			cutoff -= staleOutbox.Milliseconds()
		}
		rows, err := r.db.QueryContext(ctx, `SELECT id, subject, payload FROM outbox WHERE published_at IS NULL AND created_at <= $1 ORDER BY id LIMIT 500`, cutoff)
		if err != nil {
			r.svc.log.Error("read outbox", "err", err)
			return
		}
		var ids []int64
		for rows.Next() {
			var id int64
			var subject, payload string
			if err := rows.Scan(&id, &subject, &payload); err != nil {
				break
			}
			if err := r.nc.Publish(subject, []byte(payload)); err != nil {
				r.svc.log.Error("publish outbox row", "id", id, "err", err)
				break
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			return
		}
		// Mark exactly the rows published (ids may interleave with rows
		// whose transactions commit late), in one statement.
		if err := r.db.InTx(ctx, func(tx *sql.Tx) error { return markPublished(ctx, tx, ids) }); err != nil {
			r.svc.log.Error("mark outbox published", "err", err)
			return
		}
		if len(ids) < 500 {
			return
		}
	}
}

// RoomEventsSince returns the gift events of a room created after sinceMs
// (Unix ms), oldest first, as they were published: a viewer that was away
// (NATS delivers at most once) catches up on join. Clients de-duplicate by
// gift_id.
func (s *Service) RoomEventsSince(ctx context.Context, room string, sinceMs int64, limit int) ([]json.RawMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT payload FROM outbox WHERE subject = $1 AND created_at > $2 ORDER BY id LIMIT $3`,
		"room."+room, sinceMs, limit)
	if err != nil {
		return nil, fmt.Errorf("read room gift events: %w", err)
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(p))
	}
	return out, rows.Err()
}
