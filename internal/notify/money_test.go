package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestMoneyNoticesOnce: a stopped renewal becomes one bell entry however
// often its event is delivered; unknown notices are acknowledged and left.
func TestMoneyNoticesOnce(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		payload, _ := json.Marshal(map[string]any{"type": "membership.renewal_stopped", "user_id": f.follower, "channel_id": f.channel.ID,
			"channel": f.channel.Slug, "tier": 1, "tier_name": "Captain", "agreed_price": 198, "price": 298, "expires_at": 1})
		e := bus.Event{ID: "money-outbox-7-1", Type: bus.MoneyNotice, At: 1000, UserID: f.follower, Payload: payload}
		for range 3 {
			if err := f.svc.onMoneyNotice(e); err != nil {
				t.Fatal(err)
			}
		}
		other, _ := json.Marshal(map[string]any{"type": "something.else", "user_id": f.follower})
		if err := f.svc.onMoneyNotice(bus.Event{ID: "x", Payload: other}); err != nil {
			t.Fatal(err)
		}
		items, unread, err := f.svc.store.List(context.Background(), f.follower, 0, 10)
		if err != nil || unread != 1 || len(items) != 1 || items[0].Kind != KindRenewalStopped || items[0].Channel != "bandroom" {
			t.Fatalf("bell: %+v %d %v", items, unread, err)
		}
		var p map[string]any
		if json.Unmarshal(items[0].Payload, &p) != nil || p["tier_name"] != "Captain" || p["price"] != float64(298) {
			t.Fatalf("payload %s", items[0].Payload)
		}
	}, migrations()...)
}

// TestRenewalReminders: an auto-renewing membership renewing within three
// days gets one reminder per period, on both engines; stopped renewals,
// manual ones and later ones none.
func TestRenewalReminders(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		now := time.Now()
		day := int64(24 * time.Hour / time.Millisecond)
		for i, m := range []struct {
			channel       int64
			expires       int64
			auto, stopped bool
		}{
			{f.channel.ID, now.UnixMilli() + day, true, false},       // reminded
			{f.channel.ID + 1, now.UnixMilli() + day, true, true},    // renewal stopped
			{f.channel.ID + 2, now.UnixMilli() + day, false, false},  // not auto-renewing
			{f.channel.ID + 3, now.UnixMilli() + 9*day, true, false}, // later
		} {
			if _, err := db.ExecContext(ctx, `INSERT INTO memberships (channel_id, user_id, tier, started_at, expires_at, auto_renew, room, monthly_price, renewal_stopped)
				VALUES ($1, $2, 1, 0, $3, $4, $5, 198, $6)`, m.channel, f.follower, m.expires, m.auto, fmt.Sprint("room", i), m.stopped); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if _, err := f.svc.remindRenewals(ctx, now); err != nil {
				t.Fatal(err)
			}
		}
		items, _, err := f.svc.store.List(ctx, f.follower, 0, 10)
		if err != nil || len(items) != 1 || items[0].Kind != KindRenewsSoon || items[0].Channel != "room0" {
			t.Fatalf("reminders: %+v %v", items, err)
		}
		var p map[string]any
		if err := json.Unmarshal(items[0].Payload, &p); err != nil || p["price"] != float64(198) || p["tier"] != float64(1) {
			t.Fatalf("payload %s: %v", items[0].Payload, err)
		}
	}, append(migrations(), money.Migrations())...)
}
