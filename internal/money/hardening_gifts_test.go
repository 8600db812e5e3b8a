package money

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Regression tests for issue 10's items 14, 15, 16 and 20 (gifts and
// requests), on SQLite and PostgreSQL.

// TestHardening14RetiredGiftRetry: a retry of a stored gift answers with it
// even after the gift was retired, went off sale or changed its price, with
// and without the group-commit writer; new keys are refused.
func TestHardening14RetiredGiftRetry(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		t.Run(map[bool]string{false: "one transaction per gift", true: "group commit"}[grouped], func(t *testing.T) {
			eachWorld(t, func(t *testing.T, w *world) {
				ctx := context.Background()
				if grouped {
					w.s.StartGroupCommit()
					defer w.s.StopGroupCommit()
				}
				ch := w.channel("fish")
				fan := w.user("fan", 1000)
				for _, id := range []string{"koi", "carp", "eel"} {
					if _, err := w.s.CreateGift(ctx, ch, Gift{ID: id, Name: id, Price: 5, Tier: 1, Icon: "🐟"}); err != nil {
						t.Fatal(err)
					}
				}
				five := int64(5)
				sent := map[string]SentGift{}
				for _, id := range []string{"koi", "carp", "eel"} {
					g, err := w.s.SendGiftOrder(ctx, GiftOrder{SenderID: fan, SenderName: "fan", ChannelID: ch, Room: "fish", Gift: id, Count: 2, Key: "k-" + id, Price: &five})
					if err != nil {
						t.Fatal(err)
					}
					sent[id] = g
				}
				past := time.Now().Add(-time.Minute)
				if err := w.s.RetireGift(ctx, ch, "koi"); err != nil {
					t.Fatal(err)
				}
				if _, err := w.s.UpdateGift(ctx, ch, Gift{ID: "carp", Name: "carp", Price: 5, Tier: 1, Icon: "🐟", AvailableUntil: &past}); err != nil {
					t.Fatal(err)
				}
				if _, err := w.s.UpdateGift(ctx, ch, Gift{ID: "eel", Name: "eel", Price: 8, Tier: 1, Icon: "🐟"}); err != nil {
					t.Fatal(err)
				}
				for id, why := range map[string]error{"koi": ErrNoGift, "carp": ErrGiftNotOnSale, "eel": &PriceChangedError{}} {
					g, err := w.s.SendGiftOrder(ctx, GiftOrder{SenderID: fan, SenderName: "fan", ChannelID: ch, Room: "fish", Gift: id, Count: 2, Key: "k-" + id, Price: &five})
					if err != nil || !g.Duplicate || g.ID != sent[id].ID || g.Amount != 10 {
						t.Fatalf("retry of %s: %+v %v", id, g, err)
					}
					_, err = w.s.SendGiftOrder(ctx, GiftOrder{SenderID: fan, SenderName: "fan", ChannelID: ch, Room: "fish", Gift: id, Count: 2, Key: "new-" + id, Price: &five})
					var pc *PriceChangedError
					if !errors.Is(err, why) && !(errors.As(why, &pc) && errors.As(err, &pc) && pc.Price == 8) {
						t.Fatalf("new gift of %s: %v, want %v", id, err, why)
					}
				}
				// The same key for another gift is still refused.
				if _, err := w.s.SendGift(ctx, fan, "fan", ch, "fish", "carp", 2, "k-koi"); !errors.Is(err, ErrKeyReused) {
					t.Fatalf("key reused: %v", err)
				}
				if bal := w.balance(fan); bal != 1000-30 {
					t.Fatalf("balance %d", bal)
				}
				mustVerify(t, w.s)
				w.noErrorsLogged()
			})
		})
	}
}

// TestHardening15ReplayLogsNoError: with the group-commit writer, retries
// whose whole group is replays commit nothing and log no error.
func TestHardening15ReplayLogsNoError(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		w.s.StartGroupCommit()
		defer w.s.StopGroupCommit()
		ch := w.channel("echo")
		fan := w.user("fan", 1000)
		first, err := w.s.SendGift(ctx, fan, "fan", ch, "echo", "heart", 1, "once")
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			g, err := w.s.SendGift(ctx, fan, "fan", ch, "echo", "heart", 1, "once")
			if err != nil || !g.Duplicate || g.ID != first.ID || g.Balance != 990 {
				t.Fatalf("replay: %+v %v", g, err)
			}
		}
		// Replays arriving together, in one group.
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g, err := w.s.SendGift(ctx, fan, "fan", ch, "echo", "heart", 1, "once"); err != nil || g.ID != first.ID {
					t.Errorf("concurrent replay: %+v %v", g, err)
				}
			}()
		}
		wg.Wait()
		if w.s.writer.slowDebits.Load() != 0 {
			t.Fatal("replays went down the one-by-one path")
		}
		if bal := w.balance(fan); bal != 990 {
			t.Fatalf("balance %d", bal)
		}
		w.noErrorsLogged()
		mustVerify(t, w.s)
	})
}

// TestHardening16RequestKeys: withdrawal requests and top-up orders are
// idempotent by key: a retry answers the first, another content is
// refused, concurrent copies make one.
func TestHardening16RequestKeys(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("keys")
		fan := w.user("fan", 10_000)
		if _, err := w.s.SendGift(ctx, fan, "fan", ch, "keys", "rocket", 5, "g"); err != nil { // earns 3,500
			t.Fatal(err)
		}
		const owner = 77
		wd, err := w.s.RequestWithdrawal(ctx, ch, owner, 1000, "w-1")
		if err != nil || wd.Duplicate {
			t.Fatalf("withdrawal: %+v %v", wd, err)
		}
		again, err := w.s.RequestWithdrawal(ctx, ch, owner, 1000, "w-1")
		if err != nil || !again.Duplicate || again.ID != wd.ID {
			t.Fatalf("retry: %+v %v", again, err)
		}
		if _, err := w.s.RequestWithdrawal(ctx, ch, owner, 900, "w-1"); !errors.Is(err, ErrKeyReused) {
			t.Fatalf("same key, other amount: %v", err)
		}
		// Eight copies at once, asking for more than half of what is left:
		// one request, and every copy answered with it.
		ids := make(chan int64, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x, err := w.s.RequestWithdrawal(ctx, ch, owner, 2000, "w-2")
				if err != nil {
					t.Error(err)
					return
				}
				ids <- x.ID
			}()
		}
		wg.Wait()
		close(ids)
		seen := map[int64]bool{}
		for id := range ids {
			seen[id] = true
		}
		if list, _ := w.s.Withdrawals(ctx, ch, "", 10); len(seen) != 1 || len(list) != 2 {
			t.Fatalf("concurrent copies made %d answers and %d requests", len(seen), len(list))
		}
		if e, _ := w.s.Earnings(ctx, ch); e != 3500-3000 {
			t.Fatalf("earnings %d", e)
		}

		o, err := w.s.RequestTopup(ctx, fan, "coins-600", "t-1")
		if err != nil || o.Duplicate {
			t.Fatal(o, err)
		}
		if again, err := w.s.RequestTopup(ctx, fan, "coins-600", "t-1"); err != nil || !again.Duplicate || again.ID != o.ID {
			t.Fatalf("top-up retry: %+v %v", again, err)
		}
		if _, err := w.s.RequestTopup(ctx, fan, "coins-100", "t-1"); !errors.Is(err, ErrKeyReused) {
			t.Fatalf("same key, other package: %v", err)
		}
		var twg sync.WaitGroup
		for range 6 {
			twg.Add(1)
			go func() {
				defer twg.Done()
				if _, err := w.s.RequestTopup(ctx, fan, "coins-100", "t-2"); err != nil {
					t.Error(err)
				}
			}()
		}
		twg.Wait()
		if list, _ := w.s.Topups(ctx, fan, "", 10); len(list) != 2 {
			t.Fatalf("%d top-up orders, want 2", len(list))
		}
		// Without a key every request is its own (old clients).
		if a, _ := w.s.RequestTopup(ctx, fan, "coins-100", ""); a.ID == 0 {
			t.Fatal("order without a key")
		}
		if list, _ := w.s.Topups(ctx, fan, "", 10); len(list) != 3 {
			t.Fatalf("%d top-up orders, want 3", len(list))
		}
		mustVerify(t, w.s)
		w.noErrorsLogged()
	})
}

// TestHardening20MoneyNames: gift, tier and medal names lose bidi overrides
// and invisible characters like danmaku, and control characters are refused.
func TestHardening20MoneyNames(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("names")
		g, err := w.s.CreateGift(ctx, ch, Gift{ID: "flip", Name: "\u202eevil\u202c  gift\u200b", Price: 5, Tier: 1, Icon: "🎁"})
		if err != nil || g.Name != "evil gift" {
			t.Fatalf("gift name: %q %v", g.Name, err)
		}
		var ie *InputError
		if _, err := w.s.CreateGift(ctx, 0, Gift{ID: "bell", Name: "ring\x07", Price: 5, Tier: 1, Icon: "🔔"}); !errors.As(err, &ie) || ie.Code != "control_chars" {
			t.Fatalf("control character in a gift name: %v", err)
		}
		if _, err := w.s.CreateGift(ctx, 0, Gift{ID: "bell", Name: "\u2066\u2069", Price: 5, Tier: 1, Icon: "🔔"}); !errors.As(err, &ie) {
			t.Fatalf("a name of only isolates: %v", err)
		}
		if _, err := w.s.CreateGift(ctx, 0, Gift{ID: "bell", Name: "Bell", Price: 5, Tier: 1, Icon: "\u202e🔔"}); !errors.As(err, &ie) {
			t.Fatalf("an override in an icon: %v", err)
		}
		if _, err := w.s.UpdateGift(ctx, ch, Gift{ID: "flip", Name: "new\u2067name", Price: 5, Tier: 1, Icon: "👨\u200d👩\u200d👧"}); err != nil {
			t.Fatalf("update (a joined emoji is fine): %v", err)
		}
		if list, _ := w.s.ChannelGifts(ctx, ch); len(list) != 1 || list[0].Name != "newname" {
			t.Fatalf("stored gifts: %+v", list)
		}
		if err := w.s.SetTiers(ctx, ch, []Tier{{1, "\u202eFan", 10}, {2, "Friend\u200f", 20}, {3, "Fam ily", 30}}); err != nil {
			t.Fatal(err)
		}
		tiers, _ := w.s.Tiers(ctx, ch)
		if tiers[0].Name != "Fan" || tiers[1].Name != "Friend" || tiers[2].Name != "Fam ily" {
			t.Fatalf("tiers %+v", tiers)
		}
		if err := w.s.SetTiers(ctx, ch, []Tier{{1, "Fan\x1b[31m", 10}, {2, "Friend", 20}, {3, "Family", 30}}); !errors.As(err, &ie) || ie.Code != "control_chars" {
			t.Fatalf("escape in a tier name: %v", err)
		}
		if name, err := w.s.SetMedalName(ctx, ch, "\u202dAB\u202c"); err != nil || name != "AB" {
			t.Fatalf("medal name %q %v", name, err)
		}
		mustVerify(t, w.s)
	})
}
