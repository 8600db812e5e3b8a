package channel

import (
	"context"
	"errors"
	"testing"

	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestResolveSeesDisabledChannels: the channel-scope middleware resolves a
// disabled channel (moderators still manage it) and says it is disabled;
// chat and money (OpenChannel) are refused there.
func TestResolveSeesDisabledChannels(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		c, _, err := svc.Create(ctx, Input{Slug: ptr("quiet"), Title: ptr("Quiet")}, 7)
		if err != nil {
			t.Fatal(err)
		}
		if ch, err := svc.Resolve(ctx, "quiet"); err != nil || ch != (policy.Channel{ID: c.ID, OwnerID: 7, Slug: "quiet"}) {
			t.Fatalf("resolve: %+v %v", ch, err)
		}
		if err := svc.SetDisabled(ctx, "quiet", true); err != nil {
			t.Fatal(err)
		}
		if ch, err := svc.Resolve(ctx, "quiet"); err != nil || !ch.Disabled || ch.ID != c.ID {
			t.Fatalf("resolve a disabled channel: %+v %v", ch, err)
		}
		if _, _, err := svc.OpenChannel(ctx, "quiet"); !errors.Is(err, policy.ErrChannelDisabled) {
			t.Fatalf("open a disabled channel: %v", err)
		}
		if _, err := svc.Resolve(ctx, "nowhere"); !errors.Is(err, policy.ErrNoChannel) {
			t.Fatalf("resolve an unknown slug: %v", err)
		}
	}, Migrations())
}
