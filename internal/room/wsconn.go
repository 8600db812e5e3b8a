package room

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/policy"
)

// client is one WebSocket connection. It owns no goroutine while idle:
// input wakes one through the poller, and output is written by whoever
// queues it (a room's flusher writes the shared batch frame straight to the
// socket); only a socket that cannot take more gets a goroutine, until its
// queue is drained. A queue past queueMax frames is a slow consumer.
type client struct {
	g       *Gateway // nil for a bare socket in hub tests
	conn    net.Conn
	raw     syscall.RawConn // nil: blocking mode (TLS, or no epoll here)
	fd      int
	pollGen uint32

	ip       string
	userID   int64 // 0: anonymous or the admin token
	admitted bool  // counted under its address and account
	// principal is who the connection acts as; replaced when a re-check
	// finds roles or a ban changed.
	principal atomic.Pointer[policy.Principal]
	checkedAt atomic.Int64 // Unix ms of the last identity re-check
	lastRead  atomic.Int64 // Unix ms of the last input (idle cut)
	queueMax  int

	mu          sync.Mutex
	replaying   bool     // frames arrive while the join replay is being sent
	held        [][]byte // those frames, filtered against the replay later
	gone        bool     // closing: no frames are taken any more
	queue       [][]byte // complete frames not yet (fully) written; shared, never modified
	off         int      // bytes of queue[0] already written
	writing     bool     // someone is writing the queue out
	closeQueued bool     // the queue ends with the close frame
	peerClosed  bool     // the client sent its close frame

	once    sync.Once
	code    websocket.StatusCode
	why     string
	done    chan struct{} // closed by kill
	endOnce sync.Once
	ended   chan struct{} // closed once the socket is closed

	// Input side: touched only by the one goroutine handling input.
	reading    atomic.Bool
	in         []byte // the start of a frame not yet complete
	msg        []byte // fragments of a message not yet complete
	msgOp      byte
	fragmented bool
	likes      likeGate
	joined     atomic.Pointer[liveRoom]
	ctx        context.Context
	cancel     context.CancelFunc
}

// newClient wraps an upgraded connection. raw is set for a TCP socket when
// the poller exists.
func newClient(g *Gateway, conn net.Conn, queueMax int, nonBlocking bool) *client {
	c := &client{g: g, conn: conn, queueMax: queueMax, done: make(chan struct{}), ended: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.lastRead.Store(time.Now().UnixMilli())
	if tc, ok := conn.(*net.TCPConn); ok && nonBlocking && pollable {
		if raw, err := tc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) { c.fd = int(fd) })
			c.raw = raw
		}
	}
	return c
}

// deliver queues a complete frame without ever blocking the room: the
// caller writes it at once when the socket is free.
func (c *client) deliver(frame []byte) {
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		return
	}
	if c.replaying {
		if len(c.held) >= heldFramesMax {
			c.mu.Unlock()
			c.kill(CloseSlowConsumer, "too slow to catch up")
			return
		}
		c.held = append(c.held, frame)
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= c.queueMax {
		c.mu.Unlock()
		c.kill(CloseSlowConsumer, "slow consumer: resume from your last id")
		return
	}
	c.queue = append(c.queue, frame)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.writeQueue()
	}
}

// kill ends the connection with a code: the close frame follows what is
// queued and the socket closes when the client answers it, or after
// closeGrace (a slow consumer's close frame is usually stuck behind its
// backlog; the room never waits for it either way).
func (c *client) kill(code websocket.StatusCode, why string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.gone = true
		c.code, c.why = code, why
		c.queue = append(c.queue, closeFrame(int(code), why))
		c.closeQueued = true
		start := !c.writing
		c.writing = true
		c.mu.Unlock()
		close(c.done)
		time.AfterFunc(closeGrace, c.finish)
		if start {
			c.writeQueue()
		}
	})
}

// closeGrace is how long a closing connection may take to flush its close
// frame and hear the client's.
const closeGrace = 2 * time.Second

// writeQueue writes the queue out; the caller set writing. Non-blocking
// writes (one writev of every queued frame) on the caller's goroutine; a
// full socket hands the rest to drain.
func (c *client) writeQueue() {
	if c.raw == nil {
		go c.drain()
		return
	}
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			closed := c.closeQueued && c.peerClosed
			c.mu.Unlock()
			if closed {
				c.finish()
			}
			return
		}
		bufs, off := c.queue, c.off
		c.mu.Unlock()
		n, again, err := c.writeNonBlocking(bufs, off)
		if err != nil {
			c.finish()
			return
		}
		c.consume(n)
		if again {
			go c.drain()
			return
		}
	}
}

// drain writes the queue with blocking writes until it is empty: the only
// goroutine a viewer gets for output, and only while it lags.
func (c *client) drain() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			closed := c.closeQueued && c.peerClosed
			c.mu.Unlock()
			if closed {
				c.finish()
			}
			return
		}
		bufs := append(net.Buffers(nil), c.queue...)
		bufs[0] = bufs[0][c.off:]
		c.mu.Unlock()
		n, err := bufs.WriteTo(c.conn)
		c.consume(int(n))
		if err != nil {
			c.finish()
			return
		}
	}
}

// consume drops n written bytes from the front of the queue.
func (c *client) consume(n int) {
	c.mu.Lock()
	for n > 0 && len(c.queue) > 0 {
		rest := len(c.queue[0]) - c.off
		if n < rest {
			c.off += n
			break
		}
		n -= rest
		c.queue[0] = nil
		c.queue, c.off = c.queue[1:], 0
	}
	if len(c.queue) == 0 {
		c.queue = nil // an idle viewer keeps no buffer
	}
	c.mu.Unlock()
}

// peerClose notes the client's close frame; the socket closes once ours is out.
func (c *client) peerClose() {
	c.mu.Lock()
	c.peerClosed = true
	out := c.closeQueued && !c.writing
	c.mu.Unlock()
	if out {
		c.finish()
	}
}

// finish closes the socket and lets go of everything the connection holds.
func (c *client) finish() {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		if c.g != nil && c.raw != nil && c.g.poll != nil {
			c.g.poll.remove(c)
		}
		_ = c.conn.Close()
		c.cancel()
		close(c.ended)
		if c.g != nil {
			c.g.ended(c)
		}
	})
}

// isEnded reports whether the socket is closed.
func (c *client) isEnded() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

// readBufs are the buffers input is read into: one per waking connection,
// returned when it has nothing more to read.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// onReadable handles a connection the poller found readable.
func (g *Gateway) onReadable(c *client) {
	if !c.reading.CompareAndSwap(false, true) {
		return // a stale event; the goroutine reading re-arms
	}
	buf := readBufs.Get().(*[]byte)
	for {
		n, again, err := c.readNonBlocking(*buf)
		if again {
			break
		}
		if err != nil || n == 0 {
			readBufs.Put(buf)
			c.finish()
			return
		}
		g.input(c, (*buf)[:n])
	}
	readBufs.Put(buf)
	c.reading.Store(false)
	if !c.isEnded() {
		g.poll.rearm(c)
	}
}

// readBlocking is the input loop of a connection the poller cannot watch.
func (g *Gateway) readBlocking(c *client) {
	buf := make([]byte, 4096)
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			g.input(c, buf[:n])
		}
		if err != nil {
			c.finish()
			return
		}
	}
}

// input takes bytes from the socket and handles every complete frame.
func (g *Gateway) input(c *client, data []byte) {
	c.lastRead.Store(time.Now().UnixMilli())
	b := data
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		b = c.in
	}
	for len(b) > 0 {
		f, n, err := parseClientFrame(b, maxFrame)
		if err != nil {
			code := websocket.StatusProtocolError
			if err == errTooBig {
				code = websocket.StatusMessageTooBig
			}
			c.kill(code, err.Error())
			c.in = nil
			return
		}
		if n == 0 {
			break
		}
		b = b[n:]
		g.clientFrame(c, f)
	}
	if len(b) == 0 {
		c.in = nil
	} else {
		c.in = append([]byte(nil), b...)
	}
}

// clientFrame handles one frame: control frames here, messages to handle.
func (g *Gateway) clientFrame(c *client, f clientFrame) {
	if f.op == opClose {
		code := websocket.StatusNormalClosure
		if len(f.payload) >= 2 {
			code = websocket.StatusCode(binary.BigEndian.Uint16(f.payload))
		}
		c.peerClose()
		c.kill(code, "")
		return
	}
	c.mu.Lock()
	gone := c.gone
	c.mu.Unlock()
	if gone {
		return
	}
	switch f.op {
	case opPing:
		c.deliver(serverFrame(opPong, f.payload))
		return
	case opPong:
		return
	case opText, opBinary:
		if c.fragmented {
			c.kill(websocket.StatusProtocolError, "a new message inside a fragmented one")
			return
		}
		c.msgOp = f.op
		if f.fin {
			g.message(c, f.op, f.payload)
			return
		}
		c.fragmented = true
		c.msg = append(c.msg[:0], f.payload...)
	case opContinuation:
		if !c.fragmented {
			c.kill(websocket.StatusProtocolError, "continuation without a message")
			return
		}
		if c.msg = append(c.msg, f.payload...); len(c.msg) > maxFrame {
			c.kill(websocket.StatusMessageTooBig, errTooBig.Error())
			return
		}
		if f.fin {
			msg := c.msg
			c.msg, c.fragmented = nil, false
			g.message(c, c.msgOp, msg)
		}
	default:
		c.kill(websocket.StatusProtocolError, "unknown opcode")
	}
}

// message handles one complete client message.
func (g *Gateway) message(c *client, op byte, data []byte) {
	if op != opText {
		c.kill(CloseBadFrame, "text frames only")
		return
	}
	if g == nil {
		return
	}
	g.handle(c, data)
}
