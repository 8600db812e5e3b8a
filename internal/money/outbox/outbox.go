// Package outbox is the money domain's transactional outbox: an event is
// a row written by Add in the same SQL transaction as the movement that
// caused it, so no gift is charged without its event and no event is sent
// for a gift that was not stored. After commit it is stored in the bus's
// durable stream (at least once: a crash between publishing and marking
// republishes, under the same event id, which the stream and its consumers
// de-duplicate) and marked; published rows are pruned after a retention.
package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/internal/sqlbatch"
	"github.com/livehouse/livehouse/internal/store"
)

// Event is something to publish once the transaction commits: a durable
// bus event of Type about a channel or an account.
type Event struct {
	Type      string // bus.RoomGift, bus.RoomMembership, bus.MoneyNotice
	ChannelID int64
	UserID    int64
	Payload   any // stored and published as JSON
}

// Message is an outbox row: what Add wrote, ready to publish.
type Message struct {
	ID        int64
	Type      string
	ChannelID int64
	UserID    int64
	At        int64
	Data      []byte
}

// event is the bus event a row becomes; its id is made from the row's (and
// its time, so a database started afresh never reuses one), so a row
// published twice (a crash between publishing and marking) is stored once
// by the bus and recorded once by its consumers.
func (m Message) event() bus.Event {
	return bus.Event{ID: "money-outbox-" + strconv.FormatInt(m.ID, 10) + "-" + strconv.FormatInt(m.At, 10), Type: m.Type, At: m.At,
		ChannelID: m.ChannelID, UserID: m.UserID, Payload: m.Data}
}

// Bus stores events durably (*bus.Bus is one): all of them in flight at
// once, reporting which were stored.
type Bus interface {
	PublishDurableAll(ctx context.Context, events []bus.Event) ([]bool, error)
}

// Add writes events to the outbox inside tx (one statement for any number
// of them) and returns the rows, to publish after the commit.
func Add(ctx context.Context, tx *sql.Tx, at int64, events ...Event) ([]Message, error) {
	msgs := make([]Message, len(events))
	rows := make([][]any, len(events))
	for i, e := range events {
		data, err := json.Marshal(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("outbox: encode %s event: %w", e.Type, err)
		}
		msgs[i] = Message{Type: e.Type, ChannelID: e.ChannelID, UserID: e.UserID, At: at, Data: data}
		rows[i] = []any{e.Type, e.ChannelID, e.UserID, string(data), at}
	}
	i := 0
	err := sqlbatch.Insert(ctx, tx, `INSERT INTO outbox (subject, channel_id, user_id, payload, created_at) VALUES `, rows, ` RETURNING id`,
		func(scan func(...any) error) error {
			if i >= len(msgs) {
				return fmt.Errorf("outbox: more ids than rows")
			}
			err := scan(&msgs[i].ID)
			i++
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("outbox: add: %w", err)
	}
	return msgs, nil
}

// Publish stores messages whose transaction committed in the bus's durable
// stream and marks those stored; the relay publishes the rows a refusal
// left unmarked.
func Publish(ctx context.Context, db *store.DB, b Bus, msgs []Message) error {
	_, err := publish(ctx, db, b, msgs)
	return err
}

// publish stores msgs in the bus's stream, all in flight at once, and
// marks the rows that were stored; it returns how many.
func publish(ctx context.Context, db *store.DB, b Bus, msgs []Message) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	events := make([]bus.Event, len(msgs))
	for i, m := range msgs {
		events[i] = m.event()
	}
	stored, failed := b.PublishDurableAll(ctx, events)
	ids := make([]int64, 0, len(msgs))
	for i, ok := range stored {
		if ok {
			ids = append(ids, msgs[i].ID)
		}
	}
	if err := markPublished(ctx, db, ids); err != nil {
		return 0, err
	}
	if failed != nil {
		failed = fmt.Errorf("outbox: publish: %w", failed)
	}
	return len(ids), failed
}

// PublishPending publishes the rows not published yet that were created
// at or before cutoff (Unix ms), oldest first, and marks exactly those
// (ids may interleave with rows whose transactions commit late). It
// returns how many it published.
func PublishPending(ctx context.Context, db *store.DB, b Bus, cutoff int64) (int, error) {
	const batch = 500
	total := 0
	for {
		rows, err := db.QueryContext(ctx, `SELECT id, subject, channel_id, user_id, created_at, payload FROM outbox
			WHERE published_at IS NULL AND created_at <= $1 ORDER BY id LIMIT $2`, cutoff, batch)
		if err != nil {
			return total, fmt.Errorf("outbox: read: %w", err)
		}
		var msgs []Message
		for rows.Next() {
			var m Message
			var payload string
			if err := rows.Scan(&m.ID, &m.Type, &m.ChannelID, &m.UserID, &m.At, &payload); err != nil {
				rows.Close()
				return total, fmt.Errorf("outbox: read: %w", err)
			}
			m.Data = []byte(payload)
			msgs = append(msgs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("outbox: read: %w", err)
		}
		n, err := publish(ctx, db, b, msgs)
		total += n
		if err != nil || len(msgs) < batch {
			return total, err
		}
	}
}

// markPublished marks rows published, 500 to a statement.
func markPublished(ctx context.Context, db *store.DB, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for rest := ids; len(rest) > 0; {
			n := min(len(rest), 500)
			var q strings.Builder
			args := make([]any, 0, n+1)
			args = append(args, store.Now())
			q.WriteString(`UPDATE outbox SET published_at = $1 WHERE id IN (`)
			for i, id := range rest[:n] {
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
			rest = rest[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: mark published: %w", err)
	}
	return nil
}

// PruneBatch is how many rows one pruning statement deletes, so that a
// large backlog never holds SQLite's single writer for long.
const PruneBatch = 1000

// Prune deletes rows published before before (Unix ms), PruneBatch at a
// time, each batch its own transaction; rows never published are kept
// whatever their age. It returns how many it deleted.
//
// Rows are found by id, not by an index on their time: that index would
// cost every gift two more index writes (at insert and when marked
// published), which the gift writer's throughput notices. Ids grow with
// created_at, so the old rows are those below the first id created at or
// after before, found by bisecting ids.
func Prune(ctx context.Context, db *store.DB, before int64) (int64, error) {
	below, err := firstSince(ctx, db, before)
	if err != nil {
		return 0, fmt.Errorf("outbox: prune: %w", err)
	}
	var total int64
	for {
		var n int64
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			// created_at is checked too: rows of concurrent transactions
			// may be out of order by a transaction's length.
			res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
				WHERE id < $1 AND published_at IS NOT NULL AND created_at < $2 ORDER BY id LIMIT $3)`, below, before, PruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("outbox: prune: %w", err)
		}
		total += n
		if n < PruneBatch {
			return total, nil
		}
	}
}

// firstSince returns the smallest id from which on every row was created
// at or after at (one past the last row if none was): a bisection of ids,
// each step a probe of the primary key.
func firstSince(ctx context.Context, db *store.DB, at int64) (int64, error) {
	var lo, hi sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM outbox`).Scan(&lo, &hi); err != nil || !lo.Valid {
		return 0, err
	}
	l, h := lo.Int64, hi.Int64+1 // no row at or after h: the answer is at most h
	for l < h {
		m := l + (h-l)/2
		var id, created int64
		err := db.QueryRowContext(ctx, `SELECT id, created_at FROM outbox WHERE id >= $1 ORDER BY id LIMIT 1`, m).Scan(&id, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows) || (err == nil && created >= at):
			h = m
		case err != nil:
			return 0, err
		default:
			l = id + 1 // no row in [m, id) and row id is older
		}
	}
	return l, nil
}
