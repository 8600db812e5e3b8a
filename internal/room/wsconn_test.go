//go:build linux

package room

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	dto "github.com/prometheus/client_model/go"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// socketGateway is a gateway with its poller but no service: enough for
// the connection machinery (frames, parking, fan-out), not for chat frames.
func socketGateway(t testing.TB, h *Hub) *Gateway {
	g := &Gateway{hub: h, log: quietLog(), clients: map[*client]struct{}{}, byUser: map[int64]map[*client]struct{}{}, perIP: map[string]int{}}
	p, err := newPoller(g.onReadable)
	if err != nil {
		t.Fatal(err)
	}
	g.poll = p
	t.Cleanup(p.close)
	return g
}

// socketPair returns both ends of a loopback TCP connection; tune runs on
// the client end before it connects (small buffers make a slow reader).
func socketPair(t testing.TB, ln net.Listener, tune func(fd uintptr)) (server, peer net.Conn) {
	d := net.Dialer{}
	if tune != nil {
		d.Control = func(_, _ string, rc syscall.RawConn) error { return rc.Control(tune) }
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	peer, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return server, peer
}

// attach makes a server-side connection a gateway client watched by the poller.
func attach(t testing.TB, g *Gateway, conn net.Conn) *client {
	c := newClient(g, conn, g.hub.queueLen, true)
	if c.raw == nil {
		t.Fatal("no non-blocking socket")
	}
	g.wg.Add(1)
	if err := g.poll.add(c); err != nil {
		t.Fatal(err)
	}
	return c
}

// maskedFrame is a frame as a client sends it.
func maskedFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op, 0x80 | byte(len(payload))} // short payloads only
	mask := []byte{1, 2, 3, 4}
	b = append(b, mask...)
	for i, x := range payload {
		b = append(b, x^mask[i&3])
	}
	return b
}

// readServerFrame reads one server frame and returns its bytes as sent.
func readServerFrame(r *bufio.Reader) (op byte, payload, wire []byte, err error) {
	head := make([]byte, 2, 10)
	if _, err = io.ReadFull(r, head); err != nil {
		return
	}
	if head[1]&0x80 != 0 {
		return 0, nil, nil, fmt.Errorf("server frame is masked")
	}
	n := int(head[1] & 0x7f)
	switch n {
	case 126:
		head = head[:4]
		if _, err = io.ReadFull(r, head[2:]); err != nil {
			return
		}
		n = int(binary.BigEndian.Uint16(head[2:]))
	case 127:
		head = head[:10]
		if _, err = io.ReadFull(r, head[2:]); err != nil {
			return
		}
		n = int(binary.BigEndian.Uint64(head[2:]))
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return
	}
	return head[0] & 0x0f, payload, append(head, payload...), nil
}

func publishDanmaku(t testing.TB, b *bus.Bus, channelID int64, id int, text string) {
	data, _ := json.Marshal(event{Type: "danmaku", Message: &Message{ID: int64(id), Text: text}})
	if err := b.Conn.Publish(subject(channelID), data); err != nil {
		t.Fatal(err)
	}
}

func listen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Every viewer gets the very same bytes for a batch, and a viewer whose
// socket closes in the middle of the broadcast costs the others nothing.
func TestBatchFramesAreByteIdenticalAndACloseMidWriteHurtsNoOne(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := NewHub(b.Conn, "n1", HubOptions{FlushEvery: 5 * time.Millisecond, QueueLen: 256}, quietLog())
	g := socketGateway(t, h)
	ln := listen(t)
	const viewers, events = 40, 300
	peers := make([]net.Conn, viewers)
	for i := range peers {
		srv, peer := socketPair(t, ln, nil)
		c := attach(t, g, srv)
		r, err := h.join("same", 7, c)
		if err != nil {
			t.Fatal(err)
		}
		c.joined.Store(r)
		peers[i] = peer
	}
	streams := make([][]byte, viewers)
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(p)
			seen := 0
			for seen < events {
				if i == 0 && seen > 0 {
					p.Close() // gone in the middle of the broadcast
					return
				}
				_ = p.SetReadDeadline(time.Now().Add(10 * time.Second))
				op, payload, wire, err := readServerFrame(br)
				if err != nil {
					t.Errorf("viewer %d after %d events: %v", i, seen, err)
					return
				}
				var batch struct {
					Type   string
					Events []json.RawMessage
				}
				if op != opText || json.Unmarshal(payload, &batch) != nil || batch.Type != "batch" {
					t.Errorf("viewer %d: not a batch text frame: op %d %q", i, op, payload)
					return
				}
				if !bytes.Contains(payload, []byte(`"danmaku"`)) {
					continue // an online count sent while the viewers were still joining
				}
				seen += len(batch.Events)
				streams[i] = append(streams[i], wire...)
			}
		}()
	}
	for i := 1; i <= events; i++ {
		publishDanmaku(t, b, 7, i, fmt.Sprintf("message %d %s", i, bytes.Repeat([]byte("x"), rand.IntN(300))))
		if i%50 == 0 {
			time.Sleep(6 * time.Millisecond)
		}
	}
	wg.Wait()
	for i := 2; i < viewers; i++ {
		if !bytes.Equal(streams[i], streams[1]) {
			t.Fatalf("viewer %d got %d bytes that differ from viewer 1's %d", i, len(streams[i]), len(streams[1]))
		}
	}
	if len(streams[1]) == 0 {
		t.Fatal("nothing delivered")
	}
	for _, p := range peers {
		p.Close()
	}
	waitFor(t, func() bool { return h.Online("same") == 0 }, "every viewer left the room")
}

// A viewer that stops reading is cut with 4408; the others keep up.
func TestSlowConsumerIsDisconnectedAndOthersKeepUp(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := NewHub(b.Conn, "n1", HubOptions{FlushEvery: 5 * time.Millisecond, QueueLen: 32}, quietLog())
	g := socketGateway(t, h)
	ln := listen(t)
	small := func(fd uintptr) { _ = setRecvBuffer(fd, 4096) }
	slowSrv, slowPeer := socketPair(t, ln, small)
	defer slowPeer.Close()
	_ = slowSrv.(*net.TCPConn).SetWriteBuffer(4096)
	fastSrv, fastPeer := socketPair(t, ln, nil)
	defer fastPeer.Close()
	slow, fast := attach(t, g, slowSrv), attach(t, g, fastSrv)
	for _, c := range []*client{slow, fast} {
		r, err := h.join("busy", 1, c)
		if err != nil {
			t.Fatal(err)
		}
		c.joined.Store(r)
	}
	received := 0
	readerDone := make(chan struct{})
	go func() { // the fast viewer reads everything
		defer close(readerDone)
		br := bufio.NewReader(fastPeer)
		for received < 400 {
			_ = fastPeer.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, payload, _, err := readServerFrame(br)
			if err != nil {
				return
			}
			var batch struct{ Events []json.RawMessage }
			_ = json.Unmarshal(payload, &batch)
			received += len(batch.Events)
		}
	}()
	text := string(bytes.Repeat([]byte("y"), 1000))
	for i := 0; i < 400; i++ {
		publishDanmaku(t, b, 1, i+1, text)
		time.Sleep(time.Millisecond)
	}
	select {
	case <-slow.done:
		if slow.code != CloseSlowConsumer {
			t.Fatalf("slow viewer closed with %d, want %d", slow.code, CloseSlowConsumer)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a viewer that never reads was not disconnected")
	}
	select {
	case <-fast.done:
		t.Fatal("the reading viewer was disconnected too")
	default:
	}
	<-readerDone
	if received < 400 {
		t.Fatalf("fast viewer got %d of 400 events", received)
	}
	select {
	case <-slow.ended: // the slow socket is closed within the grace period
	case <-time.After(closeGrace + 2*time.Second):
		t.Fatal("the slow viewer's socket was never closed")
	}
	fastPeer.Close()
	waitFor(t, func() bool { return h.Online("busy") == 0 }, "the room emptied")
	h.Wait() // the room's flusher stops once it is empty
}

// Idle connections hold no goroutine; input wakes one that answers and
// goes away again.
func TestIdleConnectionsAreParkedAndWoken(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := NewHub(b.Conn, "n1", HubOptions{}, quietLog())
	g := socketGateway(t, h)
	ln := listen(t)
	const n = 300
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	peers := make([]net.Conn, n)
	clients := make([]*client, n)
	for i := range peers {
		srv, peer := socketPair(t, ln, nil)
		clients[i], peers[i] = attach(t, g, srv), peer
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() < before+20 }, "idle connections own no goroutine")
	// Wake every connection with a ping; each answers with a pong.
	for i, p := range peers {
		if _, err := p.Write(maskedFrame(opPing, []byte(fmt.Sprint(i)))); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range peers {
		_ = p.SetReadDeadline(time.Now().Add(10 * time.Second))
		op, payload, _, err := readServerFrame(bufio.NewReader(p))
		if err != nil || op != opPong || string(payload) != fmt.Sprint(i) {
			t.Fatalf("connection %d: op %d payload %q err %v", i, op, payload, err)
		}
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() < before+20 }, "woken connections park again")
	// A second wake-up works too (the connection was re-armed), then a close.
	p := peers[0]
	_, _ = p.Write(maskedFrame(opClose, []byte{0x03, 0xe8}))
	_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
	op, payload, _, err := readServerFrame(bufio.NewReader(p))
	if err != nil || op != opClose || binary.BigEndian.Uint16(payload) != 1000 {
		t.Fatalf("close answered with op %d %q %v", op, payload, err)
	}
	select {
	case <-clients[0].ended:
	case <-time.After(time.Second):
		t.Fatal("a closed connection was not let go")
	}
	for _, p := range peers {
		p.Close()
	}
	waitFor(t, func() bool {
		for _, c := range clients {
			if !c.isEnded() {
				return false
			}
		}
		return true
	}, "every closed socket noticed")
}

// Viewers connect, join, read a little and vanish (some politely, some by
// dropping the socket) while the room broadcasts: run under -race.
func TestGatewayChurnWhileBroadcasting(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := NewHub(b.Conn, "n1", HubOptions{FlushEvery: 2 * time.Millisecond, QueueLen: 16}, quietLog())
	g := socketGateway(t, h)
	ln := listen(t)
	stop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			publishDanmaku(t, b, 3, i, "churn")
			time.Sleep(200 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []*client
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				srv, peer := socketPair(t, ln, nil)
				c := attach(t, g, srv)
				mu.Lock()
				all = append(all, c)
				mu.Unlock()
				if r, err := h.join("churn", 3, c); err == nil {
					c.joined.Store(r)
				}
				br := bufio.NewReader(peer)
				_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _, _, _ = readServerFrame(br)
				switch i % 3 {
				case 0:
					_, _ = peer.Write(maskedFrame(opClose, []byte{0x03, 0xe8}))
				case 1:
					c.kill(CloseIdle, "test")
				}
				peer.Close()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-pubDone
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range all {
			if !c.isEnded() {
				return false
			}
		}
		return true
	}, "every connection ended")
	waitFor(t, func() bool { return h.Online("churn") == 0 }, "the room emptied")
	h.Wait()
	g.wg.Wait()
}

func waitFor(t testing.TB, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(closeGrace + 5*time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func setRecvBuffer(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}

// A quiet room sends an event at once instead of at the next tick, and a
// room's batches stay at most one per FlushEvery: what arrives within the
// gap goes out together when it ends.
func TestQuietRoomFlushesAtOnceAndBatchesWithinTheGap(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const gap = 3 * time.Second // far longer than any scheduling delay
	h := NewHub(b.Conn, "n1", HubOptions{FlushEvery: gap, MinFlushGap: gap, QueueLen: 16}, quietLog())
	g := socketGateway(t, h)
	srv, peer := socketPair(t, listen(t), nil)
	defer peer.Close()
	c := attach(t, g, srv)
	r, err := h.join("quiet", 9, c)
	if err != nil {
		t.Fatal(err)
	}
	c.joined.Store(r)
	br := bufio.NewReader(peer)
	// next reads the next batch carrying danmaku: how many, and when.
	next := func() (int, time.Time) {
		t.Helper()
		for {
			_ = peer.SetReadDeadline(time.Now().Add(3 * gap))
			_, payload, _, err := readServerFrame(br)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if n := bytes.Count(payload, []byte(`"danmaku"`)); n > 0 {
				return n, time.Now()
			}
		}
	}

	sent := time.Now()
	publishDanmaku(t, b, 9, 1, "first in a quiet room")
	n, at := next()
	if first := at.Sub(sent); n != 1 || first > gap/2 {
		t.Fatalf("the first event came %v after it was sent (%d in the batch), not at once", first, n)
	}
	t.Logf("first event after %v", at.Sub(sent))
	// Within the gap: held, then sent together when it ends.
	burst := time.Now()
	for i := 2; i <= 4; i++ {
		publishDanmaku(t, b, 9, i, fmt.Sprintf("burst %d", i))
	}
	n, at = next()
	if n != 3 {
		t.Fatalf("the three events within the gap came in batches of %d, want one of 3", n)
	}
	if waited := at.Sub(sent); waited < gap-100*time.Millisecond {
		t.Fatalf("a second batch %v after the first, want the gap of %v", waited, gap)
	}
	t.Logf("the burst waited %v for the gap", at.Sub(burst))
	// The server's side of it, as /metrics shows: four events, three of
	// which waited most of the gap between the hub and the viewer.
	// (Observed when the pass ends, a moment after the viewer has read.)
	var hist *dto.Histogram
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		var m dto.Metric
		if err := h.fanout.Write(&m); err != nil {
			t.Fatal(err)
		}
		if hist = m.GetHistogram(); hist.GetSampleCount() >= 4 || time.Now().After(deadline) {
			break
		}
	}
	if hist.GetSampleCount() != 4 || hist.GetSampleSum() < 3*(gap-500*time.Millisecond).Seconds() {
		t.Fatalf("fanout histogram: %d events, %.2f s in all; want 4 events, three near the %v gap",
			hist.GetSampleCount(), hist.GetSampleSum(), gap)
	}
}

// The gap after a room's batch is as long as its write pass took, within
// bounds: a small room may flush again after 10 ms, a large one waits 50.
func TestFlushGapFollowsTheWritePass(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct{ pass, want time.Duration }{
		{0, 10 * ms}, {500 * time.Microsecond, 10 * ms}, {20 * ms, 20 * ms}, {40 * ms, 40 * ms}, {time.Second, 50 * ms},
	} {
		if got := flushGap(c.pass, 10*ms, 50*ms); got != c.want {
			t.Errorf("pass %v: gap %v, want %v", c.pass, got, c.want)
		}
	}
	if got := flushGap(0, 10*ms, 5*ms); got != 5*ms {
		t.Errorf("a maximum under the minimum wins: %v", got)
	}
}

// A node with no viewer in a room still counts the viewers other nodes
// report for it (the ingesting node shows the channel's viewers when all
// of them watch through an edge), and stops when that node's room empties.
func TestOnlineChannelCountsOtherNodesWithoutALocalRoom(t *testing.T) {
	b, err := bus.Open("", quietLog(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	edge := NewHub(b.Conn, "edge", HubOptions{}, quietLog())
	origin := NewHub(b.Conn, "origin", HubOptions{}, quietLog())
	g := socketGateway(t, edge)
	ln := listen(t)
	var peers []net.Conn
	for i := range 2 {
		srv, peer := socketPair(t, ln, nil)
		peers = append(peers, peer)
		go io.Copy(io.Discard, peer)
		c := attach(t, g, srv)
		c.userID = int64(i + 1)
		r, err := edge.join("far", 11, c)
		if err != nil {
			t.Fatal(err)
		}
		c.joined.Store(r)
	}
	if n := edge.OnlineChannel(11); n != 2 {
		t.Fatalf("the edge counts %d of its own viewers, want 2", n)
	}
	waitFor(t, func() bool { return origin.OnlineChannel(11) == 2 }, "the origin to count the edge's two viewers")
	if origin.Online("far") != 0 || origin.OnlineChannel(12) != 0 {
		t.Fatal("counts leaked to a room or a channel nobody watches")
	}
	for _, p := range peers {
		p.Close()
	}
	waitFor(t, func() bool { return edge.Online("far") == 0 }, "the viewers to leave the edge")
	// The edge's last viewer left: it says so, no waiting for its reports
	// to time out.
	deadline := time.Now().Add(presenceTTL / 2)
	for origin.OnlineChannel(11) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the origin still counts %d viewers of a room nobody reports", origin.OnlineChannel(11))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
