package live

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// embeddedNATS starts NATS in the process the way bus.Open does (no port)
// and returns a function that opens a new connection to it.
func embeddedNATS(t *testing.T) func() *nats.Conn {
	t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("embedded NATS did not start")
	}
	return func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
}

func newCluster(t *testing.T, nc *nats.Conn, id int, expiry time.Duration) *Cluster {
	t.Helper()
	c, err := NewCluster(nc, id, ClusterOptions{Heartbeat: 100 * time.Millisecond, Expiry: expiry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// waitUntil polls cond and returns how long it took to hold.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return waitSince(t, time.Now(), timeout, what, cond)
}

// waitSince polls cond and returns how long after start it held.
func waitSince(t *testing.T, start time.Time, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// fakeStream stands for a media stream: its state changes over time.
type fakeStream struct {
	id      int64
	slug    string
	started time.Time
	kbps    atomic.Int64
}

func (f *fakeStream) state() State {
	return State{ChannelID: f.id, Slug: f.slug, SessionID: 10 * f.id, StartedAt: f.started, BitrateKbps: int(f.kbps.Load()),
		Tracks: []Track{{Codec: "h264", Width: 1280, Height: 720}}}
}

func TestLiveStateLocalDirectory(t *testing.T) {
	d := NewLocal(3)
	if _, ok := d.Lookup("alpha"); ok {
		t.Fatal("empty directory finds alpha")
	}
	s := &fakeStream{id: 1, slug: "alpha", started: time.Now()}
	s.kbps.Store(900)
	d.Publish(1, "alpha", s.state)
	d.Advertise("http://node3:8080")
	st, ok := d.Lookup("alpha")
	if !ok || !st.Local || st.Node != (Node{ID: 3, URL: "http://node3:8080"}) || st.BitrateKbps != 900 || st.SessionID != 10 {
		t.Fatalf("lookup alpha = %+v, %v", st, ok)
	}
	s.kbps.Store(1200) // read fresh on every lookup
	if st, _ := d.Lookup("alpha"); st.BitrateKbps != 1200 {
		t.Fatalf("bitrate %d, want the stream's current 1200", st.BitrateKbps)
	}
	d.Publish(2, "beta", (&fakeStream{id: 2, slug: "beta"}).state)
	if l := d.List(); len(l) != 2 || l[0].Slug != "alpha" || l[1].Slug != "beta" {
		t.Fatalf("list = %+v", l)
	}
	d.Withdraw(1)
	if _, ok := d.Lookup("alpha"); ok {
		t.Fatal("alpha still live after Withdraw")
	}
	if d.Self().ID != 3 {
		t.Fatalf("self = %+v", d.Self())
	}
}

// TestLiveStateClusterDirectory: a stream published on node 1 reads as live
// on node 2 within a second, with its node and URL and its changing
// numbers; its end at once; a node that says goodbye drops at once; a node
// that goes silent reads as offline after Expiry.
func TestLiveStateClusterDirectory(t *testing.T) {
	connect := embeddedNATS(t)
	ncA := connect()
	a := newCluster(t, ncA, 1, time.Second)
	b := newCluster(t, connect(), 2, time.Second)
	a.Advertise("http://node-a:8080")

	s := &fakeStream{id: 7, slug: "seven", started: time.Now().Add(-time.Minute)}
	s.kbps.Store(2500)
	start := time.Now()
	a.Publish(7, "seven", s.state)
	took := waitSince(t, start, time.Second, "B to see seven live", func() bool { _, ok := b.Lookup("seven"); return ok })
	t.Logf("live on node 1 seen on node 2 within %v", took)
	st, _ := b.Lookup("seven")
	if st.Local || st.Node != (Node{ID: 1, URL: "http://node-a:8080"}) || st.BitrateKbps != 2500 || len(st.Tracks) != 1 ||
		!st.StartedAt.Equal(s.started) || st.ChannelID != 7 {
		t.Fatalf("B sees %+v", st)
	}
	if l := b.List(); len(l) != 1 || l[0].Slug != "seven" {
		t.Fatalf("B lists %+v", l)
	}
	if own, _ := a.Lookup("seven"); !own.Local {
		t.Fatal("A does not see its own stream as local")
	}
	// The heartbeat carries numbers that changed without an event.
	s.kbps.Store(3100)
	waitUntil(t, time.Second, "B to see the new bitrate", func() bool { st, _ := b.Lookup("seven"); return st.BitrateKbps == 3100 })

	start = time.Now()
	a.Withdraw(7)
	took = waitSince(t, start, time.Second, "B to see seven offline", func() bool { _, ok := b.Lookup("seven"); return !ok })
	t.Logf("offline on node 1 seen on node 2 within %v", took)

	// Goodbye: a node that shuts down drops out at once, not after Expiry.
	a.Publish(7, "seven", s.state)
	waitUntil(t, time.Second, "B to see seven live again", func() bool { _, ok := b.Lookup("seven"); return ok })
	start = time.Now()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	took = waitSince(t, start, 500*time.Millisecond, "B to drop A after its goodbye", func() bool { _, ok := b.Lookup("seven"); return !ok })
	t.Logf("goodbye seen within %v", took)

	// Silence: a node whose connection dies says nothing; after Expiry its
	// streams read as offline.
	ncC := connect()
	c := newCluster(t, ncC, 3, time.Second)
	c.Publish(8, "eight", (&fakeStream{id: 8, slug: "eight", started: time.Now()}).state)
	waitUntil(t, time.Second, "B to see eight live", func() bool { _, ok := b.Lookup("eight"); return ok })
	ncC.Close()
	died := time.Now()
	waitUntil(t, 3*time.Second, "B to see eight offline", func() bool { _, ok := b.Lookup("eight"); return !ok })
	if gone := time.Since(died); gone < 800*time.Millisecond {
		t.Fatalf("a silent node dropped after %v, before its expiry", gone)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("close after the connection died: %v", err)
	}
}

// TestLiveStateClusterTakeover: while a dead node's snapshot has not yet
// expired, the newer session of the same channel on another node wins.
func TestLiveStateClusterTakeover(t *testing.T) {
	connect := embeddedNATS(t)
	a := newCluster(t, connect(), 1, time.Minute)
	b := newCluster(t, connect(), 2, time.Minute)
	watcher := newCluster(t, connect(), 3, time.Minute)
	old := &fakeStream{id: 5, slug: "five", started: time.Now().Add(-time.Hour)}
	a.Publish(5, "five", old.state)
	waitUntil(t, time.Second, "watcher to see five on A", func() bool { st, ok := watcher.Lookup("five"); return ok && st.Node.ID == 1 })
	b.Publish(5, "five", (&fakeStream{id: 5, slug: "five", started: time.Now()}).state)
	waitUntil(t, time.Second, "watcher to see five on B", func() bool { st, ok := watcher.Lookup("five"); return ok && st.Node.ID == 2 })
	if l := watcher.List(); len(l) != 1 || l[0].Node.ID != 2 {
		t.Fatalf("watcher lists %+v", l)
	}
}
