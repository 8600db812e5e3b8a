package room

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/livehouse/livehouse/internal/bus"
)

// TestIDsStayCausalWithASlowClock: node 2's clock is 5 s behind node 1's.
// Once node 2 has seen node 1's message, its next id sorts after it (so a
// viewer resuming after node 1's id gets node 2's answer); its own echoes
// do not push its ids ahead of its clock.
func TestIDsStayCausalWithASlowClock(t *testing.T) {
	fast, slow := newIDSource(1), newIDSource(2)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	seen := fast.next(now)
	if early := slow.next(now.Add(-5 * time.Second)); early >= seen {
		t.Fatalf("before observing, a slow clock's id %d should sort before %d (that is the problem)", early, seen)
	}
	slow.observe(seen)
	answer := slow.next(now.Add(-5*time.Second + time.Millisecond))
	if answer <= seen {
		t.Fatalf("the answer %d sorts before the message it answers %d", answer, seen)
	}
	if next := slow.next(now.Add(-5*time.Second + 2*time.Millisecond)); next <= answer {
		t.Fatalf("ids went backwards: %d after %d", next, answer)
	}
	// Its own message coming back over the bus changes nothing.
	own := fast.next(now)
	fast.observe(own)
	if again := fast.next(now); again != own+1 {
		t.Fatalf("after its own echo the next id is %d, want %d (same millisecond, next sequence)", again, own+1)
	}
	// A message from the past changes nothing either.
	before := slow.next(now)
	slow.observe(fast.next(now.Add(-time.Hour)))
	if after := slow.next(now); after != before+1 {
		t.Fatalf("an old id moved the clock: %d after %d", after, before)
	}
}

// TestHubObservesIDsFromTheBus: a danmaku from another node carries its id
// in a header; the hub hands it to the id source without decoding the event.
func TestHubObservesIDsFromTheBus(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := NewHub(b.Conn, "n1", HubOptions{FlushEvery: 5 * time.Millisecond, QueueLen: 16}, quietLog())
	observed := make(chan int64, 1)
	h.observe = func(id int64) { observed <- id }
	g := socketGateway(t, h)
	srv, _ := socketPair(t, listen(t), nil)
	c := attach(t, g, srv)
	r, err := h.join("room", 9, c)
	if err != nil {
		t.Fatal(err)
	}
	c.joined.Store(r)
	want := newIDSource(3).next(time.Now())
	if err := b.Conn.PublishMsg(&nats.Msg{Subject: subject(9), Data: []byte(`{"type":"danmaku"}`),
		Header: nats.Header{idHeader: []string{strconv.FormatInt(want, 10)}}}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-observed:
		if got != want {
			t.Fatalf("observed %d, want %d", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hub did not pass the id on")
	}
}
