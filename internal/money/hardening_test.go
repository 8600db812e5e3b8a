package money

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// Regression tests for the money items of issue 10 (the hardening pass),
// on SQLite and PostgreSQL, each ending with a clean ledger verify.

const monthMs = int64(30 * 24 * 3600 * 1000) // 2,592,000,000

// TestHardening09MembershipUpgradePrice: an upgrade charges the higher
// tier's months and converts the time left on the lower tier at what was
// paid for it, pro-rated to the higher tier's price, to the millisecond.
func TestHardening09MembershipUpgradePrice(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("stage")
		fan := w.user("fan", 30_000)
		t0 := w.clock.UnixMilli()

		// 3 months of Captain (198), then at once 1 month of Admiral (1,998).
		p, err := w.s.BuyMembership(ctx, fan, "fan", ch, "stage", 1, 3, "cap-3", true)
		if err != nil || p.Amount != 594 || p.Membership.ExpiresAt.UnixMilli() != t0+3*monthMs {
			t.Fatalf("3 months of tier 1: %+v %v", p, err)
		}
		up, err := w.s.BuyMembership(ctx, fan, "fan", ch, "stage", 2, 1, "adm-1", true)
		if err != nil {
			t.Fatal(err)
		}
		// 3 × 2,592,000,000 ms × 198 / 1,998 = 770,594,594.59… ms, rounded down.
		const converted = 770_594_594
		if up.Amount != 1998 || up.Upgrade == nil || *up.Upgrade != (Upgrade{FromTier: 1, Credit: 594, ConvertedMs: converted}) {
			t.Fatalf("upgrade: %+v %+v %v", up, up.Upgrade, err)
		}
		got := up.Membership.ExpiresAt.UnixMilli()
		if got != t0+converted+monthMs || up.Membership.Tier != 2 || up.Membership.MonthlyPrice != 1998 {
			t.Fatalf("upgrade runs until +%d ms, want +%d", got-t0, converted+monthMs)
		}
		if got == t0+4*monthMs {
			t.Fatal("3 months of tier 1 then 1 month of tier 2 yielded 4 months of tier 2")
		}
		if bal := w.balance(fan); bal != 30_000-594-1998 {
			t.Fatalf("balance %d, want %d (2,592 coins spent)", bal, 30_000-594-1998)
		}
		// The member since date is kept; a retry is the same purchase, not a second conversion.
		if !up.Membership.StartedAt.Equal(w.clock) {
			t.Fatalf("started %v", up.Membership.StartedAt)
		}
		w.clock = w.clock.Add(time.Hour)
		again, err := w.s.BuyMembership(ctx, fan, "fan", ch, "stage", 2, 1, "adm-1", true)
		if err != nil || !again.Duplicate || again.ID != up.ID || again.Membership.ExpiresAt.UnixMilli() != t0+converted+monthMs || w.balance(fan) != 30_000-2592 {
			t.Fatalf("retry: %+v %v", again, err)
		}

		// What was paid counts, not today's price; periods bought at
		// different prices are each valued at their own; milliseconds count.
		ch2 := w.channel("hall")
		fan2 := w.user("fan2", 30_000)
		t1 := w.clock.UnixMilli()
		if _, err := w.s.BuyMembership(ctx, fan2, "fan2", ch2, "hall", 1, 1, "h1", false); err != nil { // [t1, t1+M) at 198
			t.Fatal(err)
		}
		if err := w.s.SetTiers(ctx, ch2, []Tier{{1, "Fan", 300}, {2, "Friend", 2500}, {3, "Family", 30000}}); err != nil {
			t.Fatal(err)
		}
		w.clock = w.clock.Add(10*24*time.Hour + 1234*time.Millisecond)
		if _, err := w.s.BuyMembership(ctx, fan2, "fan2", ch2, "hall", 1, 1, "h2", false); err != nil { // [t1+M, t1+2M) at 300
			t.Fatal(err)
		}
		w.clock = time.UnixMilli(t1 + 15*24*3600*1000 + 7)
		up2, err := w.s.BuyMembership(ctx, fan2, "fan2", ch2, "hall", 2, 1, "h3", false)
		if err != nil {
			t.Fatal(err)
		}
		// Left: 1,295,999,993 ms paid at 198 and 2,592,000,000 ms at 300:
		// 1,034,207,998,614 coin-ms per month; ÷ 2,500 = 413,683,199.45 ms;
		// ÷ 2,592,000,000 = 398.99… coins.
		if up2.Upgrade == nil || *up2.Upgrade != (Upgrade{FromTier: 1, Credit: 398, ConvertedMs: 413_683_199}) || up2.Amount != 2500 {
			t.Fatalf("second upgrade: %+v %+v", up2, up2.Upgrade)
		}
		if want := w.clock.UnixMilli() + 413_683_199 + monthMs; up2.Membership.ExpiresAt.UnixMilli() != want {
			t.Fatalf("second upgrade runs until %d, want %d", up2.Membership.ExpiresAt.UnixMilli(), want)
		}
		// And on to the top tier: the Friend time left (bought at 2,500 a month) converts at 30,000.
		left := up2.Membership.ExpiresAt.UnixMilli() - w.clock.UnixMilli()
		top, err := w.s.BuyMembership(ctx, fan2, "fan2", ch2, "hall", 3, 1, "h4", false)
		if err == nil || !errors.Is(err, ErrInsufficientFunds) {
			t.Fatalf("30,000 coins with %d left: %+v %v", w.balance(fan2), top, err)
		}
		mustGrant(t, w.s, fan2, 30_000)
		top, err = w.s.BuyMembership(ctx, fan2, "fan2", ch2, "hall", 3, 1, "h4", false)
		if err != nil || top.Upgrade.ConvertedMs != left*2500/30000 || top.Upgrade.Credit != left*2500/monthMs {
			t.Fatalf("top tier: %+v %+v %v (left %d ms)", top, top.Upgrade, err, left)
		}
		// A lower tier is still refused while a higher one runs.
		if _, err := w.s.BuyMembership(ctx, fan2, "fan2", ch2, "hall", 1, 1, "h5", false); !errors.Is(err, ErrHigherTier) {
			t.Fatalf("downgrade: %v", err)
		}
		mustVerify(t, w.s)
		w.noErrorsLogged()
	})
}

// renewalNotices reads the outbox rows published for a member's notices.
func renewalNotices(t *testing.T, w *world, user int64) []RenewalStoppedEvent {
	t.Helper()
	rows, err := w.db.QueryContext(context.Background(), `SELECT payload FROM outbox WHERE subject = $1 AND user_id = $2 ORDER BY id`, bus.MoneyNotice, user)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []RenewalStoppedEvent
	for rows.Next() {
		var p string
		var e RenewalStoppedEvent
		if err := rows.Scan(&p); err != nil || json.Unmarshal([]byte(p), &e) != nil {
			t.Fatalf("outbox row %q: %v", p, err)
		}
		out = append(out, e)
	}
	return out
}

// TestHardening10RenewalNeverChargesMore: a renewal charges at most the
// monthly price the member last paid; a rise stops it and tells them (a
// wallet notice and an event), once; buying again at the new price re-arms
// it; a price drop renews at the lower price.
func TestHardening10RenewalNeverChargesMore(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("star")
		ann, bob := w.user("ann", 10_000), w.user("bob", 10_000)
		pa, err := w.s.BuyMembership(ctx, ann, "ann", ch, "star", 1, 1, "a1", true)
		if err != nil || pa.Membership.MonthlyPrice != 198 {
			t.Fatalf("ann joins: %+v %v", pa, err)
		}
		if _, err := w.s.BuyMembership(ctx, bob, "bob", ch, "star", 1, 1, "b1", true); err != nil {
			t.Fatal(err)
		}
		// The owner raises Captain from 198 to 250.
		if err := w.s.SetTiers(ctx, ch, []Tier{{1, "Captain", 250}, {2, "Admiral", 1998}, {3, "Governor", 19998}}); err != nil {
			t.Fatal(err)
		}
		w.clock = pa.Membership.ExpiresAt.Add(-30 * time.Minute)
		for range 2 { // two nodes
			if n, err := w.s.RenewDue(ctx, w.clock); err != nil || n != 0 {
				t.Fatalf("renewed %d at a higher price (%v)", n, err)
			}
		}
		for _, u := range []int64{ann, bob} {
			if bal := w.balance(u); bal != 10_000-198 {
				t.Fatalf("member %d charged to %d", u, bal)
			}
			m, _ := w.s.MembershipOf(ctx, u, ch)
			if m.AutoRenew || !m.RenewalStopped || m.MonthlyPrice != 198 {
				t.Fatalf("membership after the rise: %+v", m)
			}
			notes, err := w.s.Notices(ctx, u)
			if err != nil || len(notes) != 1 || notes[0].Kind != NoticeRenewalStopped || notes[0].AgreedPrice != 198 || notes[0].Price != 250 ||
				notes[0].Channel != "star" || notes[0].TierName != "Captain" {
				t.Fatalf("notices of %d: %+v %v", u, notes, err)
			}
			ev := renewalNotices(t, w, u)
			if len(ev) != 1 || ev[0].Type != "membership.renewal_stopped" || ev[0].AgreedPrice != 198 || ev[0].Price != 250 || ev[0].UserID != u ||
				ev[0].NoticeID != fmt.Sprint(notes[0].ID) {
				t.Fatalf("events for %d: %+v", u, ev)
			}
		}

		// Ann buys again at the new price (not saying auto_renew): re-armed at 250.
		p, err := w.s.BuyMembershipOrder(ctx, MembershipOrder{UserID: ann, UserName: "ann", ChannelID: ch, Room: "star", Tier: 1, Months: 1, Key: "a2"})
		if err != nil || p.Amount != 250 || !p.Membership.AutoRenew || p.Membership.MonthlyPrice != 250 {
			t.Fatalf("ann buys again: %+v %v", p, err)
		}
		if notes, _ := w.s.Notices(ctx, ann); len(notes) != 0 {
			t.Fatalf("notice kept after buying again: %+v", notes)
		}
		// Bob switches renewal back on: he must accept the new price.
		var pc *PriceChangedError
		if err := w.s.SetAutoRenew(ctx, bob, ch, true, nil); !errors.As(err, &pc) || pc.Price != 250 {
			t.Fatalf("re-arming without the new price: %v", err)
		}
		old := int64(198)
		if err := w.s.SetAutoRenew(ctx, bob, ch, true, &old); !errors.As(err, &pc) {
			t.Fatalf("re-arming at the old price: %v", err)
		}
		newPrice := int64(250)
		if err := w.s.SetAutoRenew(ctx, bob, ch, true, &newPrice); err != nil {
			t.Fatal(err)
		}
		// Bob's lapsed month renews (within the grace) at 250.
		w.clock = pa.Membership.ExpiresAt.Add(time.Hour)
		if n, err := w.s.RenewDue(ctx, w.clock); err != nil || n != 1 || w.balance(bob) != 10_000-198-250 {
			t.Fatalf("bob's renewal: %d %v balance %d", n, err, w.balance(bob))
		}
		// A price drop renews at the lower price, which becomes the agreed one.
		if err := w.s.SetTiers(ctx, ch, []Tier{{1, "Captain", 150}, {2, "Admiral", 1998}, {3, "Governor", 19998}}); err != nil {
			t.Fatal(err)
		}
		m, _ := w.s.MembershipOf(ctx, ann, ch)
		w.clock = m.ExpiresAt.Add(-10 * time.Minute)
		if n, err := w.s.RenewDue(ctx, w.clock); err != nil || n != 1 {
			t.Fatalf("renewals after the drop: %d %v", n, err)
		}
		m2, _ := w.s.MembershipOf(ctx, ann, ch)
		if w.balance(ann) != 10_000-198-250-150 || m2.MonthlyPrice != 150 || !m2.AutoRenew || !m2.ExpiresAt.Equal(m.ExpiresAt.Add(MembershipMonth)) {
			t.Fatalf("ann after the drop: balance %d %+v", w.balance(ann), m2)
		}
		if len(renewalNotices(t, w, ann)) != 1 {
			t.Fatal("a second notice without a second rise")
		}
		mustVerify(t, w.s)
		w.noErrorsLogged()
	})
}

// TestHardening12MoneyRenewalsInDisabledChannel: a channel the platform
// disabled renews no membership (and switching it back on resumes them).
func TestHardening12MoneyRenewalsInDisabledChannel(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("shut")
		fan := w.user("fan", 1000)
		p, err := w.s.BuyMembership(ctx, fan, "fan", ch, "shut", 1, 1, "k", true)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.channels.SetDisabled(ctx, "shut", true); err != nil {
			t.Fatal(err)
		}
		w.clock = p.Membership.ExpiresAt.Add(-5 * time.Minute)
		if n, err := w.s.RenewDue(ctx, w.clock); err != nil || n != 0 || w.balance(fan) != 1000-198 {
			t.Fatalf("renewed in a disabled channel: %d %v balance %d", n, err, w.balance(fan))
		}
		if err := w.channels.SetDisabled(ctx, "shut", false); err != nil {
			t.Fatal(err)
		}
		if n, err := w.s.RenewDue(ctx, w.clock); err != nil || n != 1 || w.balance(fan) != 1000-2*198 {
			t.Fatalf("renewal after re-enabling: %d %v balance %d", n, err, w.balance(fan))
		}
		mustVerify(t, w.s)
		w.noErrorsLogged()
	})
}

// TestHardening13ClosedAccountRenewals: a deleted account is never charged
// for a renewal, and its auto-renew is switched off.
func TestHardening13ClosedAccountRenewals(t *testing.T) {
	eachWorld(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		ch := w.channel("club")
		gone, stays := w.user("gone", 1000), w.user("stays", 1000)
		p, err := w.s.BuyMembership(ctx, gone, "gone", ch, "club", 1, 1, "g", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.BuyMembership(ctx, stays, "stays", ch, "club", 1, 1, "s", true); err != nil {
			t.Fatal(err)
		}
		if err := w.users.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		w.clock = p.Membership.ExpiresAt.Add(-5 * time.Minute)
		if n, err := w.s.RenewDue(ctx, w.clock); err != nil || n != 1 {
			t.Fatalf("renewed %d (%v), want only the live account", n, err)
		}
		if w.balance(gone) != 1000-198 || w.balance(stays) != 1000-2*198 {
			t.Fatalf("balances: gone %d, stays %d", w.balance(gone), w.balance(stays))
		}
		if m, _ := w.s.MembershipOf(ctx, gone, ch); m.AutoRenew {
			t.Fatal("a closed account's auto-renew is still on")
		}
		mustVerify(t, w.s)
		w.noErrorsLogged()
	})
}
