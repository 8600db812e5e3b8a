package simulcast

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestStatesReachEveryNode: a destination's state set on the node that
// ingests reaches another node's service over the bus, and a late, older
// message does not undo a newer one.
func TestStatesReachEveryNode(t *testing.T) {
	// One in-process NATS server (no port), a connection per node.
	srv, err := server.NewServer(&server.Options{DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS did not start")
	}
	conn := func() *nats.Conn {
		nc, err := nats.Connect("", nats.InProcessServer(srv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	mine, other := conn(), conn()
	key := make([]byte, 32)
	ingest, err := New(Deps{Conn: mine, Key: key, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ingest.Close(t.Context()) })
	viewer, err := New(Deps{Conn: other, Key: key, Node: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { viewer.Close(t.Context()) })

	if err := other.Flush(); err != nil { // the subscription is in place
		t.Fatal(err)
	}
	if st := viewer.StateOf(7); st.State != StateIdle {
		t.Fatalf("unknown destination: %+v", st)
	}
	now := time.Now().UnixMilli()
	ingest.setState(State{ID: 7, Channel: 3, State: StateRetrying, RetryAt: now + 4000, Reason: ReasonUnreachable, Since: now})
	deadline := time.Now().Add(5 * time.Second)
	for viewer.StateOf(7).State != StateRetrying {
		if time.Now().After(deadline) {
			t.Fatalf("the other node never heard: %+v", viewer.StateOf(7))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := viewer.StateOf(7); st.Node != 1 || st.Reason != ReasonUnreachable || st.RetryAt != now+4000 {
		t.Fatalf("heard %+v", st)
	}
	viewer.storeState(State{ID: 7, State: StateConnecting, Since: now - 1000}) // older
	if st := viewer.StateOf(7); st.State != StateRetrying {
		t.Fatalf("an older state replaced a newer one: %+v", st)
	}
}
