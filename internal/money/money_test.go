package money

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func newService(db *store.DB) *Service {
	return NewService(db, 3000, slog.New(slog.NewTextHandler(io.Discard, nil)), Deps{})
}

// TestGiftStormOnOneStreamer: many senders gift one channel at once, some
// retrying with the same key; every gift is charged exactly once and the
// ledger balances.
func TestGiftStormOnOneStreamer(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		t.Run(map[bool]string{false: "one transaction per gift", true: "group commit"}[grouped], func(t *testing.T) {
			testGiftStorm(t, grouped)
		})
	}
}

func testGiftStorm(t *testing.T, grouped bool) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		if grouped {
			s.StartGroupCommit()
			defer s.StopGroupCommit()
		}
		const senders, giftsEach = 60, 8
		for u := int64(1); u <= senders; u++ {
			if _, err := s.Grant(ctx, u, 1000, "test funds", 0); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[int64]bool{}
		for u := int64(1); u <= senders; u++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < giftsEach; i++ {
					key := fmt.Sprintf("k-%d", i)
					for try := 0; try < 2; try++ { // every gift is retried once
						g, err := s.SendGift(ctx, u, fmt.Sprint(u), 42, "star", "flowers", 1, key)
						if err != nil {
							t.Errorf("sender %d gift %d: %v", u, i, err)
							return
						}
						if g.Duplicate != (try == 1) {
							t.Errorf("sender %d gift %d try %d: duplicate=%v", u, i, try, g.Duplicate)
						}
						mu.Lock()
						ids[g.ID] = true
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if grouped && s.writer.slowDebits.Load() != 0 {
			t.Fatalf("%d gifts were debited one by one though every sender could pay", s.writer.slowDebits.Load())
		}
		if len(ids) != senders*giftsEach {
			t.Fatalf("%d distinct gifts, want %d", len(ids), senders*giftsEach)
		}
		// 8 × 52 = 416 spent, 584 left; a 1,000-coin castle is refused and charges nothing.
		if _, err := s.SendGift(ctx, 1, "1", 42, "star", "castle", 1, "too-dear"); !errors.Is(err, ErrInsufficientFunds) {
			t.Fatalf("overspend: %v", err)
		}
		bal, moves, err := s.Wallet(ctx, 1, 5)
		if err != nil || bal != 1000-giftsEach*52 {
			t.Fatalf("sender balance %d (%v), want %d", bal, err, 1000-giftsEach*52)
		}
		// The history names each gift and its channel, grouped or not.
		for _, m := range moves {
			if m.Kind == "gift" && (m.Gift != "flowers" || m.GiftName != "Flowers" || m.Count != 1 || m.Channel != "star" || m.Amount != -52) {
				t.Errorf("gift movement %+v, want 1 flowers to star", m)
			}
		}
		if _, err := s.SendGift(ctx, 1, "1", 42, "star", "heart", 1, "k-0"); !errors.Is(err, ErrKeyReused) {
			t.Fatalf("key reused for another gift: %v", err)
		}
		// The platform's 30 % is taken per gift, rounded down: 52 → 15 + 37.
		want := int64(senders * giftsEach * (52 - 52*3000/10000))
		if got, err := s.Earnings(ctx, 42); err != nil || got != want {
			t.Fatalf("earnings before settling %d (%v), want %d", got, err, want)
		}
		if err := s.Settle(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Earnings(ctx, 42); got != want {
			t.Fatalf("earnings after settling %d, want %d", got, want)
		}
		r, err := s.Verify(ctx)
		if err != nil || len(r.Problems) > 0 {
			t.Fatalf("verify: %+v %v", r, err)
		}
		var outbox int
		db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&outbox)
		if outbox != senders*giftsEach {
			t.Fatalf("outbox rows %d, want one per gift", outbox)
		}
	}, Migrations())
}

func TestVerifyCatchesTampering(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		if _, err := s.Grant(ctx, 7, 100, "funds", 0); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Verify(ctx); len(r.Problems) != 0 {
			t.Fatalf("clean ledger reported %v", r.Problems)
		}
		db.ExecContext(ctx, `UPDATE ledger_accounts SET balance = balance + 5 WHERE kind = 'user'`)
		if r, _ := s.Verify(ctx); len(r.Problems) == 0 {
			t.Fatal("a balance edited by hand passed verification")
		}
	}, Migrations())
}

func TestGiftInputErrors(t *testing.T) {
	db := storetest.Open(t, store.SQLite, Migrations())
	s := newService(db)
	ctx := context.Background()
	s.Grant(ctx, 1, 100, "funds", 0)
	cases := []struct {
		gift  string
		count int
		key   string
	}{{"heart", 0, "a"}, {"heart", 10000, "b"}, {"heart", 1, ""}, {"nope", 1, "c"}}
	for _, c := range cases {
		if _, err := s.SendGift(ctx, 1, "1", 5, "r", c.gift, c.count, c.key); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := s.Grant(ctx, 1, -5, "x", 0); err == nil {
		t.Error("negative grant accepted")
	}
	if _, err := s.Grant(ctx, 1, 5, "", 0); err == nil {
		t.Error("grant without a reason accepted")
	}
	if bal, _, _ := s.Wallet(ctx, 1, 1); bal != 100 {
		t.Fatalf("balance %d after refused input", bal)
	}
}

// TestGroupWithSomeWhoCannotPay: in one group some senders lack funds; they
// are refused and charged nothing while the others' gifts go through.
func TestGroupWithSomeWhoCannotPay(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		s.StartGroupCommit()
		defer s.StopGroupCommit()
		const n = 30
		for u := int64(1); u <= n; u++ {
			coins := int64(100)
			if u%2 == 0 {
				coins = 10 // enough for one heart
			}
			if _, err := s.Grant(ctx, u, coins, "funds", 0); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := map[int64]int{}, map[int64]int{}
		for u := int64(1); u <= n; u++ {
			for k := 0; k < 2; k++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.SendGift(ctx, u, "u", 9, "r", "heart", 1, fmt.Sprintf("%d-%d", u, k))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok[u]++
					case errors.Is(err, ErrInsufficientFunds):
						refused[u]++
					default:
						t.Errorf("sender %d: %v", u, err)
					}
				}()
			}
		}
		wg.Wait()
		if s.writer.slowDebits.Load() == 0 {
			t.Fatal("senders short of funds never took the one-by-one path")
		}
		for u := int64(1); u <= n; u++ {
			want := 2
			if u%2 == 0 {
				want = 1
			}
			if ok[u] != want || ok[u]+refused[u] != 2 {
				t.Errorf("sender %d: %d sent, %d refused; want %d sent", u, ok[u], refused[u], want)
			}
			bal, _, _ := s.Wallet(ctx, u, 1)
			if bal < 0 || (u%2 == 0 && bal != 0) || (u%2 == 1 && bal != 80) {
				t.Errorf("sender %d balance %d", u, bal)
			}
		}
		if r, err := s.Verify(ctx); err != nil || len(r.Problems) > 0 {
			t.Fatalf("verify: %+v %v", r, err)
		}
	}, Migrations())
}
