package money

import (
	"context"
	"encoding/csv"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func mustVerify(t *testing.T, s *Service) {
	t.Helper()
	if err := s.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(context.Background())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("ledger verify: %v %v", err, rep.Problems)
	}
}

func mustGrant(t *testing.T, s *Service, user, coins int64) {
	t.Helper()
	if _, err := s.Grant(context.Background(), user, coins, "test funds", 0); err != nil {
		t.Fatal(err)
	}
}

func TestMedalLevels(t *testing.T) {
	for _, c := range []struct {
		intimacy int64
		level    int
	}{{0, 0}, {-5, 0}, {1, 1}, {99, 1}, {100, 2}, {399, 2}, {400, 3}, {899, 3}, {900, 4}, {152099, 39}, {152100, 40}, {1 << 50, 40}} {
		if got := MedalLevel(c.intimacy); got != c.level {
			t.Errorf("MedalLevel(%d) = %d, want %d", c.intimacy, got, c.level)
		}
	}
}

// TestMemberships: join, renew (extends from the old expiry), upgrade,
// refuse a lower tier while a higher one runs, refuse without funds,
// idempotent retries; every purchase is split by the channel's share.
func TestMemberships(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		const viewer, ch = 7, 42
		mustGrant(t, s, viewer, 30_000)

		p, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 1, 1, "m1", false)
		if err != nil || p.Duplicate || p.Amount != 198 || p.Balance != 30_000-198 {
			t.Fatalf("join: %+v %v", p, err)
		}
		first := p.Membership.ExpiresAt
		if d := time.Until(first); d < MembershipMonth-time.Minute || d > MembershipMonth {
			t.Fatalf("a month of membership expires in %v", d)
		}
		again, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 1, 1, "m1", false)
		if err != nil || !again.Duplicate || again.ID != p.ID || again.Balance != p.Balance {
			t.Fatalf("retry: %+v %v", again, err)
		}
		if _, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 2, 1, "m1", false); !errors.Is(err, ErrKeyReused) {
			t.Fatalf("key reused for another tier: %v", err)
		}
		renew, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 1, 2, "m2", false)
		if err != nil || !renew.Membership.ExpiresAt.Equal(first.Add(2*MembershipMonth)) {
			t.Fatalf("renew: %+v %v (first expiry %v)", renew, err, first)
		}
		// Upgrading converts the ~3 months of Captain left (594 coins) to
		// ~8.9 days of Admiral, then adds the month bought (the exact
		// arithmetic: TestHardening09MembershipUpgradePrice).
		up, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 2, 1, "m3", false)
		if err != nil || up.Membership.Tier != 2 || up.Upgrade == nil || up.Upgrade.FromTier != 1 || up.Upgrade.Credit < 593 || up.Upgrade.Credit > 594 {
			t.Fatalf("upgrade: %+v %v", up, err)
		}
		if left := time.Until(up.Membership.ExpiresAt); left > MembershipMonth+770_594_594*time.Millisecond || left < MembershipMonth+770_594_594*time.Millisecond-time.Minute {
			t.Fatalf("upgrade leaves %v of Admiral", left)
		}
		if _, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 1, 1, "m4", false); !errors.Is(err, ErrHigherTier) {
			t.Fatalf("lower tier while higher runs: %v", err)
		}
		if _, err := s.BuyMembership(ctx, viewer, "v", ch, "star", 3, 12, "m5", false); !errors.Is(err, ErrInsufficientFunds) {
			t.Fatalf("12 months of governor: %v", err)
		}
		bal, _, _ := s.Wallet(ctx, viewer, 1)
		if want := int64(30_000 - 3*198 - 1998); bal != want {
			t.Fatalf("balance %d, want %d (refusals charge nothing)", bal, want)
		}
		b, err := s.Standing(ctx, viewer, ch, "star")
		if err != nil || b.MemberTier != 2 || b.MedalLevel != MedalLevel(3*198+1998) || b.MedalName != "STAR" {
			t.Fatalf("standing %+v %v", b, err)
		}
		// 30 % platform share: the channel earns 70 % of 2,592.
		if e, _ := s.Earnings(ctx, ch); e != (3*198+1998)-(198*3000/10000)*3-1998*3000/10000 {
			t.Fatalf("earnings %d", e)
		}
		mustVerify(t, s)

		// Another channel, its own prices.
		if err := s.SetTiers(ctx, 43, []Tier{{1, "Fan", 10}, {2, "Friend", 100}, {3, "Family", 50}}); err == nil {
			t.Fatal("tier 3 cheaper than tier 2 accepted")
		}
		if err := s.SetTiers(ctx, 43, []Tier{{1, "Fan", 10}, {2, "Friend", 100}, {3, "Family", 1000}}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.BuyMembership(ctx, viewer, "v", 43, "moon", 1, 1, "m6", false); err != nil || p.Amount != 10 {
			t.Fatalf("custom tier: %+v %v", p, err)
		}
	}, Migrations())
}

// TestPlatformShareOverride: a channel's own share applies to its gifts.
func TestPlatformShareOverride(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		mustGrant(t, s, 1, 10_000)
		ten := int64(1000)
		if err := s.SetShare(ctx, 50, &ten); err != nil {
			t.Fatal(err)
		}
		bad := int64(10001)
		if err := s.SetShare(ctx, 50, &bad); err == nil {
			t.Fatal("share over 100 % accepted")
		}
		if _, err := s.SendGift(ctx, 1, "a", 50, "fifty", "rocket", 1, "g1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 51, "other", "rocket", 1, "g2"); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Earnings(ctx, 50); e != 900 {
			t.Fatalf("channel with a 10 %% share earned %d of 1000", e)
		}
		if e, _ := s.Earnings(ctx, 51); e != 700 {
			t.Fatalf("channel with the default 30 %% share earned %d of 1000", e)
		}
		if err := s.SetShare(ctx, 50, nil); err != nil {
			t.Fatal(err)
		}
		if bp, override, _ := s.ShareOf(ctx, 50); bp != 3000 || override {
			t.Fatalf("after clearing: %d %v", bp, override)
		}
		// An admin's platform default replaces the flag for channels without their own.
		twenty := int64(2000)
		if err := s.SetShare(ctx, 0, &twenty); err != nil {
			t.Fatal(err)
		}
		if err := s.SetShare(ctx, 52, &ten); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 51, "other", "rocket", 1, "g3"); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.Earnings(ctx, 51); e != 700+800 {
			t.Fatalf("after the default became 20 %%: %d", e)
		}
		if bp, override, _ := s.ShareOf(ctx, 52); bp != 1000 || !override {
			t.Fatalf("a channel's own share lost to the default: %d %v", bp, override)
		}
		if bp, set, _ := s.ShareOf(ctx, 0); bp != 2000 || !set {
			t.Fatalf("default: %d %v", bp, set)
		}
		mustVerify(t, s)
	}, Migrations())
}

// TestFanMedals: gifts grow intimacy (group commit included); the daily
// watch bonus comes once a day and only to medal holders.
func TestFanMedals(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		s.StartGroupCommit()
		defer s.StopGroupCommit()
		const fan, idler, ch = 1, 2, 9
		mustGrant(t, s, fan, 5000)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.SendGift(ctx, fan, "fan", ch, "nine", "cake", 1, string(rune('a'+i))); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		m, err := s.MedalOf(ctx, fan, ch, "nine")
		if err != nil || m == nil || m.Intimacy != 800 || m.Level != 3 || m.NextLevelAt != 900 || m.Name != "NINE" {
			t.Fatalf("medal after 800 coins: %+v %v", m, err)
		}
		day := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
		for i := range 8 {
			if err := s.WatchMinute(ctx, fan, ch, day.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := s.WatchMinute(ctx, idler, ch, day.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if m, _ := s.MedalOf(ctx, fan, ch, "nine"); m.Intimacy != 800+MedalWatchBonus {
			t.Fatalf("after 8 minutes in a day: %d", m.Intimacy)
		}
		for i := range 5 { // the next day earns it again
			_ = s.WatchMinute(ctx, fan, ch, day.Add(24*time.Hour+time.Duration(i)*time.Minute))
		}
		if m, _ := s.MedalOf(ctx, fan, ch, "nine"); m.Intimacy != 800+2*MedalWatchBonus || m.Level != 4 {
			t.Fatalf("after two days: %+v", m)
		}
		if m, err := s.MedalOf(ctx, idler, ch, "nine"); m != nil || err != nil {
			t.Fatalf("watching alone earned a medal: %+v %v", m, err)
		}
		if _, err := s.SetMedalName(ctx, ch, "九九"); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.Standing(ctx, fan, ch, "nine"); b.MedalName != "九九" || b.MedalLevel != 4 || b.MemberTier != 0 {
			t.Fatalf("standing %+v", b)
		}
		mustVerify(t, s)
	}, Migrations())
}

// TestCatalogKinds: custom gifts only in their channel, sale windows, and
// trial gifts free once for viewers who have paid.
func TestCatalogKinds(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		mustGrant(t, s, 1, 1000)
		if _, err := s.CreateGift(ctx, 5, Gift{ID: "five-fish", Name: "Fish", Price: 5, Tier: 1, Icon: "🐟"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateGift(ctx, 6, Gift{ID: "five-fish", Name: "Fish", Price: 5, Tier: 1, Icon: "🐟"}); !errors.Is(err, ErrGiftExists) {
			t.Fatalf("duplicate id: %v", err)
		}
		if _, err := s.CreateGift(ctx, 5, Gift{ID: "free", Name: "Free", Price: 5, Tier: 1, Icon: "x", Trial: true}); err == nil {
			t.Fatal("a channel made a trial gift (paid by the platform)")
		}
		past := time.Now().Add(-time.Hour)
		if _, err := s.CreateGift(ctx, 0, Gift{ID: "new-year", Name: "Lantern", Price: 8, Tier: 1, Icon: "🏮", AvailableUntil: &past}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 5, "five", "five-fish", 2, "k1"); err != nil {
			t.Fatalf("custom gift in its channel: %v", err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 6, "six", "five-fish", 1, "k2"); !errors.Is(err, ErrNoGift) {
			t.Fatalf("custom gift in another channel: %v", err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 5, "five", "new-year", 1, "k3"); !errors.Is(err, ErrGiftNotOnSale) {
			t.Fatalf("gift after its window: %v", err)
		}
		list, _ := s.Catalog(ctx, 5)
		names := map[string]bool{}
		for _, g := range list {
			names[g.ID] = true
		}
		if !names["five-fish"] || names["new-year"] || !names["rocket"] {
			t.Fatalf("catalog of channel 5: %v", names)
		}
		if list, _ := s.Catalog(ctx, 6); len(list) != len(names)-1 {
			t.Fatalf("channel 6 sees %d gifts, channel 5 %d", len(list), len(names))
		}
		if err := s.RetireGift(ctx, 5, "five-fish"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 5, "five", "five-fish", 1, "k4"); !errors.Is(err, ErrNoGift) {
			t.Fatalf("retired gift: %v", err)
		}

		// Trial: granted coins are not a payment; a top-up is.
		if _, err := s.SendGift(ctx, 1, "a", 5, "five", "lucky-star", 1, "t1"); !errors.Is(err, ErrTrialNotYet) {
			t.Fatalf("trial before paying: %v", err)
		}
		if _, _, err := s.ConfirmPayment(ctx, "webhook", "pay-1", 1, "coins-100"); err != nil {
			t.Fatal(err)
		}
		before, _, _ := s.Wallet(ctx, 1, 1)
		g, err := s.SendGift(ctx, 1, "a", 5, "five", "lucky-star", 1, "t1")
		if err != nil || g.Balance != before {
			t.Fatalf("trial gift: %+v %v (balance before %d)", g, err, before)
		}
		if again, err := s.SendGift(ctx, 1, "a", 5, "five", "lucky-star", 1, "t1"); err != nil || !again.Duplicate || again.ID != g.ID {
			t.Fatalf("trial retry: %+v %v", again, err)
		}
		if _, err := s.SendGift(ctx, 1, "a", 5, "five", "lucky-star", 1, "t2"); !errors.Is(err, ErrTrialUsed) {
			t.Fatalf("second trial: %v", err)
		}
		if used, eligible, _ := s.TrialsUsed(ctx, 1); !used["lucky-star"] || !eligible {
			t.Fatalf("trials used %v eligible %v", used, eligible)
		}
		// The channel earns from it; the sender's medal does not grow.
		if e, _ := s.Earnings(ctx, 5); e != 10*7/10+20*7/10 {
			t.Fatalf("earnings %d", e)
		}
		if m, _ := s.MedalOf(ctx, 1, 5, "five"); m == nil || m.Intimacy != 10 {
			t.Fatalf("medal %+v", m)
		}
		mustVerify(t, s)
	}, Migrations())
}

// TestWithdrawalsAndStatements: a withdrawal takes coins out of the
// earnings at once; rejecting returns them, approving pays them out; the
// statement shows every movement with a running balance.
func TestWithdrawalsAndStatements(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		s.StartGroupCommit()
		defer s.StopGroupCommit()
		const owner, ch = 100, 7
		mustGrant(t, s, 1, 10_000)
		if _, err := s.SendGift(ctx, 1, "a", ch, "seven", "rocket", 2, "g1"); err != nil { // channel earns 1,400
			t.Fatal(err)
		}
		if _, err := s.RequestWithdrawal(ctx, ch, owner, 1401, ""); !errors.Is(err, ErrLowEarnings) {
			t.Fatalf("more than earned: %v", err)
		}
		if _, err := s.RequestWithdrawal(ctx, ch, owner, 50, ""); err == nil {
			t.Fatal("withdrawal under the minimum accepted")
		}
		w1, err := s.RequestWithdrawal(ctx, ch, owner, 1000, "")
		if err != nil || w1.Status != StatusPending {
			t.Fatalf("request: %+v %v", w1, err)
		}
		w2, err := s.RequestWithdrawal(ctx, ch, owner, 400, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RequestWithdrawal(ctx, ch, owner, 100, ""); !errors.Is(err, ErrLowEarnings) {
			t.Fatalf("the pending coins were spendable twice: %v", err)
		}
		if d, err := s.DecideWithdrawal(ctx, w1.ID, false, "bank details missing", 0); err != nil || d.Status != StatusRejected || d.Note != "bank details missing" {
			t.Fatalf("reject: %+v %v", d, err)
		}
		if _, err := s.DecideWithdrawal(ctx, w1.ID, true, "", 0); !errors.Is(err, ErrNotPending) {
			t.Fatalf("deciding twice: %v", err)
		}
		if d, err := s.DecideWithdrawal(ctx, w2.ID, true, "paid", 0); err != nil || d.Status != StatusApproved {
			t.Fatalf("approve: %+v %v", d, err)
		}
		sum, err := s.Summary(ctx, ch, time.Now())
		if err != nil || sum.Available != 1000 || sum.PaidOut != 400 || sum.PendingWithdrawals != 0 || sum.Today != 1400 {
			t.Fatalf("summary %+v %v", sum, err)
		}
		mustVerify(t, s)

		var b strings.Builder
		from := time.Now().UTC().Truncate(24 * time.Hour)
		if err := s.WriteStatement(ctx, &b, ch, from, from.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		// header, opening, gift, request ×2, return
		if len(rows) != 6 || rows[1][5] != "0" || rows[2][2] != "gift" || rows[2][4] != "1400" || rows[5][2] != "withdrawal" || rows[5][5] != "1000" {
			t.Fatalf("statement:\n%s", b.String())
		}
		if got := csvText("=cmd()"); got != "'=cmd()" {
			t.Fatalf("formula not defused: %q", got)
		}
	}, Migrations())
}

// TestTopupOrders: an order credits its package once, when approved.
func TestTopupOrders(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		if _, err := s.RequestTopup(ctx, 3, "no-such", ""); err == nil {
			t.Fatal("unknown package accepted")
		}
		o, err := s.RequestTopup(ctx, 3, "coins-600", "")
		if err != nil || o.Coins != 600 {
			t.Fatalf("order %+v %v", o, err)
		}
		r, err := s.RequestTopup(ctx, 3, "coins-100", "")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var approved int
		var mu sync.Mutex
		for range 4 { // admins clicking at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.DecideTopup(ctx, o.ID, true, 0); err == nil {
					mu.Lock()
					approved++
					mu.Unlock()
				} else if !errors.Is(err, ErrNotPending) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if _, err := s.DecideTopup(ctx, r.ID, false, 0); err != nil {
			t.Fatal(err)
		}
		bal, _, _ := s.Wallet(ctx, 3, 1)
		if approved != 1 || bal != 600 {
			t.Fatalf("approved %d times, balance %d", approved, bal)
		}
		list, _ := s.Topups(ctx, 3, "", 10)
		if len(list) != 2 || list[0].Status != StatusRejected || list[1].Status != StatusApproved {
			t.Fatalf("orders %+v", list)
		}
		mustVerify(t, s)
	}, Migrations())
}

// TestMembershipAutoRenew: a membership set to renew is charged for its next
// month shortly before it runs out, once per period even when the renewer
// runs twice (two nodes); a member who cannot pay is not renewed and keeps
// being tried until the grace period; switching it off stops it.
func TestMembershipAutoRenew(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		s := w.s
		ch := w.channel("star")
		rich, poor := w.user("rich", 1000), w.user("poor", 200)
		p, err := s.BuyMembership(ctx, rich, "rich", ch, "star", 1, 1, "a", true)
		if err != nil || !p.Membership.AutoRenew {
			t.Fatalf("buy: %+v %v", p, err)
		}
		if _, err := s.BuyMembership(ctx, poor, "poor", ch, "star", 1, 1, "b", true); err != nil {
			t.Fatal(err)
		}
		// Nothing is due a month ahead of expiry.
		if n, err := s.RenewDue(ctx, w.clock); err != nil || n != 0 {
			t.Fatalf("renewed %d early (%v)", n, err)
		}
		soon := p.Membership.ExpiresAt.Add(-30 * time.Minute)
		w.clock = soon
		for range 2 {
			if _, err := s.RenewDue(ctx, soon); err != nil {
				t.Fatal(err)
			}
		}
		m, _ := s.MembershipOf(ctx, rich, ch)
		if want := p.Membership.ExpiresAt.Add(MembershipMonth); !m.ExpiresAt.Equal(want) || !m.AutoRenew {
			t.Fatalf("rich member's expiry %v, want %v", m.ExpiresAt, want)
		}
		if bal := w.balance(rich); bal != 1000-2*198 {
			t.Fatalf("rich member charged to %d, want two months", bal)
		}
		// The poor member had 2 coins left: not renewed, not charged.
		if bal := w.balance(poor); bal != 2 {
			t.Fatalf("poor member's balance %d", bal)
		}
		// Switched off: the next period is not renewed.
		if err := s.SetAutoRenew(ctx, rich, ch, false, nil); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.RenewDue(ctx, m.ExpiresAt.Add(-time.Minute)); n != 0 {
			t.Fatalf("renewed %d after switching off", n)
		}
		if err := s.SetAutoRenew(ctx, 9999, ch, true, nil); !errors.Is(err, ErrNoMembership) {
			t.Fatalf("auto-renew without a membership: %v", err)
		}
		mustVerify(t, s)
		w.noErrorsLogged()
	})
}
