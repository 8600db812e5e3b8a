package channel

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestBackupKeyOnBothEngines: the backup key resolves to the same channel,
// marked as the backup; rotating it retires the old one; the primary key
// still reads as primary; channels without a backup key coexist.
func TestBackupKeyOnBothEngines(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		c, key, err := svc.Create(ctx, Input{Slug: ptr("twin"), Title: ptr("Twin encoders")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Create(ctx, Input{Slug: ptr("single"), Title: ptr("One encoder")}, 0); err != nil {
			t.Fatalf("a second channel without a backup key: %v", err)
		}
		backup, err := svc.RegenerateBackupKey(ctx, "twin")
		if err != nil || !strings.HasPrefix(backup, "sk_") || backup == key {
			t.Fatalf("backup key %q %v", backup, err)
		}
		ref, err := svc.ChannelForKey(ctx, backup)
		if err != nil || ref.ID != c.ID || !ref.BackupKey {
			t.Fatalf("backup key resolves to %+v %v", ref, err)
		}
		if ref, err := svc.ChannelForKey(ctx, key); err != nil || ref.ID != c.ID || ref.BackupKey {
			t.Fatalf("primary key resolves to %+v %v", ref, err)
		}
		again, err := svc.RegenerateBackupKey(ctx, "twin")
		if err != nil || again == backup {
			t.Fatalf("rotate: %q %v", again, err)
		}
		if _, err := svc.ChannelForKey(ctx, backup); !errors.Is(err, media.ErrUnknownKey) {
			t.Fatalf("retired backup key: %v", err)
		}
		if _, err := svc.RegenerateBackupKey(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing channel: %v", err)
		}
	}, Migrations())
}

// TestTwoOriginsOneKey: two origins (media hubs of two nodes on one store)
// take the same key at once: exactly one accepts, the other is refused
// with the node that holds the channel; after the first lets go, the
// second may go live.
func TestTwoOriginsOneKey(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		_, key, err := svc.Create(ctx, Input{Slug: ptr("contested"), Title: ptr("Contested")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		hubs := make([]*media.Hub, 2)
		for i := range hubs {
			h, err := media.NewHub(media.HubOptions{Channels: svc, Directory: live.NewLocal(i + 1),
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h.Close(context.Background()) })
			hubs[i] = h
		}
		type result struct {
			c   *media.Claim
			err error
		}
		results := make(chan result, 2)
		for _, h := range hubs {
			go func() {
				c, err := h.ClaimInput(ctx, key)
				results <- result{c, err}
			}()
		}
		var won *media.Claim
		var refused error
		for range hubs {
			r := <-results
			switch {
			case r.err == nil && won == nil:
				won = r.c
			case r.err == nil:
				t.Fatal("both origins accepted the key")
			default:
				refused = r.err
			}
		}
		if won == nil || !errors.Is(refused, media.ErrAlreadyLive) || !strings.Contains(refused.Error(), "node") {
			t.Fatalf("winner %v, refusal %v", won, refused)
		}
		won.Release("test over")
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := hubs[1].ClaimInput(ctx, key)
			if err == nil {
				c.Release("test over")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("channel not free after release: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}, Migrations())
}
