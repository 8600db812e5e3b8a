package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestDurableEventsSurviveARestart: events published while no consumer
// runs, and a publish retried with the same id, reach a shared consumer
// once each after the embedded server restarts on the same store; a failed
// handling is delivered again; a tail sees only what comes after it.
func TestDurableEventsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open("", quiet(), WithStoreDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"a", "b", "b", "c"} { // "b" retried
		if err := b.PublishDurable(ctx, Event{ID: id, Type: RoomGift, ChannelID: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	b, err = Open("", quiet(), WithStoreDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	seen := map[string]int{}
	failedOnce := false
	got := make(chan struct{}, 16)
	stop, err := b.Consume("recorder", func(e Event) error {
		mu.Lock()
		defer mu.Unlock()
		if e.ID == "c" && !failedOnce {
			failedOnce = true
			return errors.New("database busy")
		}
		seen[e.ID]++
		got <- struct{}{}
		return nil
	}, RoomGift, RoomMembership)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tailed := make(chan Event, 4)
	stopTail, err := b.Tail(func(e Event) { tailed <- e }, RoomGift)
	if err != nil {
		t.Fatal(err)
	}
	defer stopTail()
	for i := 0; i < 3; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 3 stored events consumed: %v", i, seen)
		}
	}
	mu.Lock()
	if seen["a"] != 1 || seen["b"] != 1 || seen["c"] != 1 || !failedOnce {
		t.Fatalf("consumed %v (failed once: %v), want a, b, c once each", seen, failedOnce)
	}
	mu.Unlock()
	select {
	case e := <-tailed:
		t.Fatalf("the tail saw an old event %s", e.ID)
	default:
	}
	if err := b.PublishDurable(ctx, Event{ID: "d", Type: RoomGift}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-tailed:
		if e.ID != "d" {
			t.Fatalf("tail got %s, want d", e.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the tail did not see a new event")
	}
}
