package money

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/outbox"
)

// newBus starts an embedded NATS for one test.
func newBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// hear returns a channel of the room events (gifts, memberships) of a
// channel, as a node tailing the bus receives them.
func hear(t *testing.T, b *bus.Bus, channelID int64) <-chan []byte {
	t.Helper()
	ch := make(chan []byte, 100)
	stop, err := b.Tail(func(e bus.Event) {
		if e.ChannelID == channelID {
			ch <- e.Payload
		}
	}, bus.RoomGift, bus.RoomMembership)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ch
}

// gatedAccounts is the real account domain, except that Closed waits at a
// gate: a renewal round that takes as long as the test wants.
type gatedAccounts struct {
	Accounts
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (g *gatedAccounts) Closed(ctx context.Context, userID int64) (bool, error) {
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.release:
		return g.Accounts.Closed(ctx, userID)
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// TestRelayLoopsRunApart: a renewal round that does not end does not hold
// up the outbox (a gift's event still reaches the room at once), and Close
// stops every loop within its deadline, even the stuck one, and can be
// called again.
func TestRelayLoopsRunApart(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		nc := newBus(t)
		gate := &gatedAccounts{Accounts: w.users, entered: make(chan struct{}), release: make(chan struct{})}
		defer close(gate.release)
		s := NewService(w.db, 3000, slog.New(slog.NewTextHandler(w.logs, nil)), Deps{Accounts: gate, Channels: w.channels})
		ch := w.channel("apart")
		fan := w.user("fan", 1000)
		// A membership that runs out in half an hour renews on the next round.
		s.now = func() time.Time { return time.Now().Add(-MembershipMonth + 30*time.Minute) }
		if _, err := s.BuyMembership(ctx, fan, "fan", ch, "apart", 1, 1, "m1", true); err != nil {
			t.Fatal(err)
		}
		s.now = time.Now
		room := hear(t, nc, ch)
		relay := s.StartRelay(nc, RelayOptions{renewEvery: 20 * time.Millisecond})
		select {
		case <-room: // the membership's event, left for the relay's sweep
		case <-time.After(5 * time.Second):
			t.Fatal("the relay never published the membership's event")
		}
		select {
		case <-gate.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the renewal round never started")
		}
		sent := time.Now()
		g, err := s.SendGift(ctx, fan, "fan", ch, "apart", "heart", 1, "g1")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case data := <-room:
			if !containsID(data, g.ID) {
				t.Fatalf("heard %s, want gift %d", data, g.ID)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("a stuck renewal round held up the gift's event")
		}
		t.Logf("gift event published %v after the commit, renewals stuck", time.Since(sent))

		closeCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := s.Close(closeCtx); err != nil {
			t.Fatalf("close: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("close took %v", d)
		}
		if err := relay.Close(ctx); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if err := s.Close(ctx); err != nil {
			t.Fatalf("third close: %v", err)
		}
		if bal := w.balance(fan); bal != 1000-198-10 {
			t.Fatalf("balance %d: the stuck renewal charged", bal)
		}
		w.noErrorsLogged()
		mustVerify(t, s)
	})
}

func containsID(data []byte, id int64) bool {
	var ev GiftEvent
	return json.Unmarshal(data, &ev) == nil && ev.GiftID == itoa64(id)
}

// TestRelayPrunesTheOutbox: the relay's pruning loop deletes published
// rows older than the retention and keeps the rest, and the room's join
// replay still finds the recent gifts.
func TestRelayPrunesTheOutbox(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		nc := newBus(t)
		ch := w.channel("keep")
		fan := w.user("fan", 1000)
		old := time.Now().Add(-2 * time.Hour).UnixMilli()
		var msgs []outbox.Message
		if err := w.db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			msgs, err = outbox.Add(ctx, tx, old, outbox.Event{Type: bus.RoomGift, ChannelID: ch, Payload: GiftEvent{Type: "gift", GiftID: "old"}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := outbox.Publish(ctx, w.db, nc, msgs); err != nil {
			t.Fatal(err)
		}
		g, err := w.s.SendGift(ctx, fan, "fan", ch, "keep", "heart", 1, "g1")
		if err != nil {
			t.Fatal(err)
		}
		w.s.StartRelay(nc, RelayOptions{OutboxRetention: time.Hour, PruneEvery: 20 * time.Millisecond})
		defer w.s.Close(ctx)
		deadline := time.Now().Add(5 * time.Second)
		for {
			var rows, unpublished int
			w.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END), 0) FROM outbox`).Scan(&rows, &unpublished)
			if rows == 1 && unpublished == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d outbox rows (%d unpublished), want only the gift's, published", rows, unpublished)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var left string
		if err := w.db.QueryRowContext(ctx, `SELECT payload FROM outbox`).Scan(&left); err != nil || !containsID([]byte(left), g.ID) {
			t.Fatalf("the row kept: %s %v", left, err)
		}
		if err := w.s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		w.noErrorsLogged()
		mustVerify(t, w.s)
	})
}

// TestGiftWriterCloseObeysItsDeadline: while the database holds the
// writer's commit (another transaction has the sender's account), a Close
// with a deadline returns at the deadline, the waiting sender is answered
// with an error, and nothing of the gift is stored; Close again is
// harmless.
func TestGiftWriterCloseObeysItsDeadline(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("late")
		fan := w.user("fan", 1000)
		acct, err := w.s.account(ctx, KindUser, fan)
		if err != nil {
			t.Fatal(err)
		}
		w.s.StartGroupCommit()
		// A first gift makes the accounts it needs (an insert that would
		// wait behind the blocker below on SQLite) and fills the caches.
		if _, err := w.s.SendGift(ctx, fan, "fan", ch, "late", "heart", 1, "g0"); err != nil {
			t.Fatal(err)
		}
		release, held := make(chan struct{}), make(chan struct{})
		blocker := make(chan error, 1)
		go func() {
			blocker <- w.db.InTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE ledger_accounts SET balance = balance WHERE id = $1`, acct); err != nil {
					return err
				}
				close(held)
				<-release
				return nil
			})
		}()
		<-held
		answered := make(chan error, 1)
		go func() {
			_, err := w.s.SendGift(ctx, fan, "fan", ch, "late", "heart", 1, "g1")
			answered <- err
		}()
		time.Sleep(300 * time.Millisecond) // the gift reaches the writer, whose commit waits
		closeCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = w.s.Close(closeCtx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("close: %v, want the deadline's error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("close took %v with a 500 ms deadline", d)
		}
		select {
		case err := <-answered:
			if err == nil {
				t.Fatal("a gift whose commit was abandoned was acknowledged")
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the sender was never answered")
		}
		close(release)
		if err := <-blocker; err != nil {
			t.Fatal(err)
		}
		if err := w.s.Close(ctx); err != nil {
			t.Fatalf("second close: %v", err)
		}
		var gifts int
		w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM gifts`).Scan(&gifts)
		if gifts != 1 || w.balance(fan) != 990 {
			t.Fatalf("%d gifts stored, balance %d", gifts, w.balance(fan))
		}
		if _, err := w.s.SendGift(ctx, fan, "fan", ch, "late", "heart", 1, "g2"); err == nil {
			t.Fatal("a closed writer took a gift")
		}
		mustVerify(t, w.s)
	})
}
