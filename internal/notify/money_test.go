package notify

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/livehouse/livehouse/internal/bus"
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
