package bus

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConsumersOnDebiansNATSServer runs a shared consumer and a tail of two
// event types on the nats-server Debian packages (2.9, before several
// filter subjects per consumer): they get exactly their types. Every node
// refused to start on that server before.
func TestConsumersOnDebiansNATSServer(t *testing.T) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("nats-server (scripts/test-deps.sh installs it): %v %s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(t.TempDir(), "js"))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var b *Bus
	deadline := time.Now().Add(10 * time.Second)
	for b, err = Open(url, quiet()); err != nil; b, err = Open(url, quiet()) {
		if time.Now().After(deadline) {
			t.Fatalf("open bus on %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer b.Close()
	t.Logf("server %s", b.Conn.ConnectedServerVersion())

	consumed := make(chan Event, 8)
	stop, err := b.Consume("two-types", func(e Event) error { consumed <- e; return nil }, RoomGift, RoomMembership)
	if err != nil {
		t.Fatalf("consume two types: %v", err)
	}
	defer stop()
	tailed := make(chan Event, 8)
	stopTail, err := b.Tail(func(e Event) { tailed <- e }, RoomGift, RoomMembership)
	if err != nil {
		t.Fatalf("tail two types: %v", err)
	}
	defer stopTail()
	ctx := context.Background()
	for i, typ := range []string{RoomGift, "room.other", RoomMembership} {
		if err := b.PublishDurable(ctx, Event{ID: fmt.Sprint("e", i), Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	for name, ch := range map[string]chan Event{"consumer": consumed, "tail": tailed} {
		var got []string
		for len(got) < 2 {
			select {
			case e := <-ch:
				got = append(got, e.ID+"="+e.Type)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s got %v, want e0 and e2", name, got)
			}
		}
		select {
		case e := <-ch:
			t.Fatalf("%s also got %s=%s", name, e.ID, e.Type)
		case <-time.After(300 * time.Millisecond):
		}
		if strings.Join(got, " ") != "e0=room.gift e2=room.membership" {
			t.Fatalf("%s got %v", name, got)
		}
	}
}

func TestServerAtLeast(t *testing.T) {
	for v, want := range map[string]bool{"2.9.10": false, "2.10.0": true, "2.11.4": true, "v2.9.1": false, "3.0.0": true, "1.99.0": false, "": true, "x.y": true} {
		if got := serverAtLeast(v, 2, 10); got != want {
			t.Errorf("serverAtLeast(%q) = %v, want %v", v, got, want)
		}
	}
}
