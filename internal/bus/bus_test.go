package bus

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestEmbeddedBusDeliversInProcess(t *testing.T) {
	b, err := Open("", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *nats.Msg, 1)
	sub, err := b.Conn.ChanSubscribe("room.demo", got)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.Conn.Publish("room.demo", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m.Data) != "hello" {
			t.Fatalf("got %q", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message not delivered")
	}
	b.Close()
	if !b.Conn.IsClosed() {
		t.Fatal("connection still open after Close")
	}
}

func TestBadURLIsRefused(t *testing.T) {
	if _, err := Open("http://x", slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("accepted an http URL")
	}
}
