package outbox_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// heard collects the payloads of durable events of one type about one
// channel or account, as a node tailing the bus receives them.
type heard struct {
	mu   sync.Mutex
	msgs []string
}

func listen(t *testing.T, b *bus.Bus, typ string, channelID, userID int64) *heard {
	t.Helper()
	h := &heard{}
	stop, err := b.Tail(func(e bus.Event) {
		if e.ChannelID != channelID || e.UserID != userID {
			return
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, string(e.Payload))
		h.mu.Unlock()
	}, typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return h
}

func (h *heard) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		got := append([]string(nil), h.msgs...)
		h.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("heard %d messages, want %d: %v", len(got), n, got)
			}
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func eachDB(t *testing.T, fn func(t *testing.T, db *store.DB, b *bus.Bus)) {
	b, err := bus.Open("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		fn(t, db, b)
		// Nothing here moves coins; the ledger stays clean.
		if r, err := ledger.Check(context.Background(), db); err != nil || len(r.Problems) > 0 {
			t.Fatalf("ledger check: %v %v", r.Problems, err)
		}
	}, money.Migrations())
}

func add(t *testing.T, db *store.DB, at int64, events ...outbox.Event) []outbox.Message {
	t.Helper()
	var msgs []outbox.Message
	err := db.InTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		msgs, err = outbox.Add(context.Background(), tx, at, events...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

type payload struct {
	N int `json:"n"`
}

func unpublished(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAddThenPublish: Add writes any number of events in one go and
// returns them in order with their ids; Publish sends them and marks them,
// so the relay's sweep finds nothing left.
func TestAddThenPublish(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB, b *bus.Bus) {
		ctx := context.Background()
		room := int64(len(t.Name())) + time.Now().UnixNano()%1_000_000 // a channel no other test uses
		h := listen(t, b, bus.RoomGift, room, 0)
		events := make([]outbox.Event, 450) // more than one statement's worth
		for i := range events {
			events[i] = outbox.Event{Type: bus.RoomGift, ChannelID: room, Payload: payload{N: i}}
		}
		msgs := add(t, db, store.Now(), events...)
		for i, m := range msgs {
			if m.ID == 0 || (i > 0 && m.ID <= msgs[i-1].ID) || m.Type != bus.RoomGift || m.ChannelID != room ||
				string(m.Data) != `{"n":`+strconv.Itoa(i)+`}` {
				t.Fatalf("message %d: %+v", i, m)
			}
		}
		if err := outbox.Publish(ctx, db, b, msgs); err != nil {
			t.Fatal(err)
		}
		got := h.wait(t, len(events))
		if got[0] != `{"n":0}` || got[449] != `{"n":449}` {
			t.Fatalf("published %s … %s", got[0], got[449])
		}
		if n := unpublished(t, db); n != 0 {
			t.Fatalf("%d rows left unpublished", n)
		}
		if n, err := outbox.PublishPending(ctx, db, b, store.Now()); err != nil || n != 0 {
			t.Fatalf("the sweep republished %d (%v)", n, err)
		}
		// Publishing a row again (a crash between publishing and marking)
		// is stored once: the event id comes from the row's.
		before, err := b.Stored(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := outbox.Publish(ctx, db, b, msgs[:1]); err != nil {
			t.Fatal(err)
		}
		if after, err := b.Stored(ctx); err != nil || after != before {
			t.Fatalf("a row published again was stored again: %d → %d events (%v)", before, after, err)
		}
	})
}

// TestPublishPendingTakesWhatWasLeft: rows nobody published (a crash
// between commit and publish) go out oldest first, once, and only up to
// the cutoff; a bus that refuses leaves them for the next sweep.
func TestPublishPendingTakesWhatWasLeft(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB, b *bus.Bus) {
		ctx := context.Background()
		user := time.Now().UnixNano() % 1_000_000_000
		h := listen(t, b, bus.MoneyNotice, 0, user)
		now := store.Now()
		add(t, db, now-3000, outbox.Event{Type: bus.MoneyNotice, UserID: user, Payload: payload{N: 1}})
		add(t, db, now-2000, outbox.Event{Type: bus.MoneyNotice, UserID: user, Payload: payload{N: 2}})
		add(t, db, now, outbox.Event{Type: bus.MoneyNotice, UserID: user, Payload: payload{N: 3}})

		closed, err := bus.Open("", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		if n, err := outbox.PublishPending(ctx, db, closed, now); err == nil || n != 0 {
			t.Fatalf("a closed bus: %d published, %v", n, err)
		}
		if unpublished(t, db) != 3 {
			t.Fatal("rows were marked though the bus refused them")
		}
		if n, err := outbox.PublishPending(ctx, db, b, now-1000); err != nil || n != 2 {
			t.Fatalf("published %d (%v), want the 2 before the cutoff", n, err)
		}
		if got := h.wait(t, 2); got[0] != `{"n":1}` || got[1] != `{"n":2}` {
			t.Fatalf("order: %v", got)
		}
		if n, err := outbox.PublishPending(ctx, db, b, now); err != nil || n != 1 {
			t.Fatalf("published %d (%v), want the last", n, err)
		}
		h.wait(t, 3)
	})
}

// TestPruneKeepsWhatIsYoungOrUnpublished: pruning deletes published rows
// older than the cutoff, in batches, and keeps younger ones and rows never
// published however old.
func TestPruneKeepsWhatIsYoungOrUnpublished(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB, b *bus.Bus) {
		ctx := context.Background()
		now := store.Now()
		day := (24 * time.Hour).Milliseconds()
		old := make([]outbox.Event, 2*outbox.PruneBatch+5)
		for i := range old {
			old[i] = outbox.Event{Type: bus.RoomGift, ChannelID: 9, Payload: payload{N: i}}
		}
		if err := outbox.Publish(ctx, db, b, add(t, db, now-2*day, old...)); err != nil {
			t.Fatal(err)
		}
		add(t, db, now-3*day, outbox.Event{Type: bus.RoomGift, ChannelID: 9, Payload: payload{N: -1}}) // never published
		young := add(t, db, now-1000, outbox.Event{Type: bus.RoomGift, ChannelID: 9, Payload: payload{N: 7}})
		if err := outbox.Publish(ctx, db, b, young); err != nil {
			t.Fatal(err)
		}
		// Gaps in the ids (rows pruned before, transactions rolled back)
		// do not mislead the search for the old rows.
		if _, err := db.ExecContext(ctx, `DELETE FROM outbox WHERE id % 7 = 3 AND published_at IS NOT NULL AND created_at < $1`, now-day); err != nil {
			t.Fatal(err)
		}
		var want int64
		db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE published_at IS NOT NULL AND created_at < $1`, now-day).Scan(&want)
		n, err := outbox.Prune(ctx, db, now-day)
		if err != nil || n != want || want < outbox.PruneBatch {
			t.Fatalf("pruned %d (%v), want %d", n, err, want)
		}
		var left int
		db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&left)
		if left != 2 || unpublished(t, db) != 1 {
			t.Fatalf("%d rows left (%d unpublished), want the young one and the unpublished one", left, unpublished(t, db))
		}
		var young7 string
		if err := db.QueryRowContext(ctx, `SELECT payload FROM outbox WHERE published_at IS NOT NULL`).Scan(&young7); err != nil || young7 != `{"n":7}` {
			t.Fatalf("the young row: %s %v", young7, err)
		}
		if n, err := outbox.Prune(ctx, db, now-day); err != nil || n != 0 {
			t.Fatalf("a second prune deleted %d (%v)", n, err)
		}
	})
}
