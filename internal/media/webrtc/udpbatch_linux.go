package webrtc

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Sending is most of what a WHEP viewer costs: one sendto(2) per RTP
// packet, ~11 packets per video frame per viewer. batchUDPConn queues the
// shared ICE socket's writes and one goroutine sends them with sendmmsg(2),
// coalescing consecutive packets to one address into UDP GSO sends (one
// UDP_SEGMENT message the kernel splits into packets): a frame's FU-A
// fragments are all rtpMTU long, so a viewer's frame mostly leaves in one
// message. Writes never wait for a timer: a packet waits only for the
// packets queued before it, and batches form by themselves when the
// server is busy, which is when they matter.
const (
	// maxQueued packets wait to be sent; writers block beyond (as a
	// sendto on a full socket buffer does).
	maxQueued = 4096
	// gsoMaxSegments and gsoMaxBytes bound one GSO message (the kernel
	// allows 64 segments and an IP datagram's 64 KiB).
	gsoMaxSegments = 48
	gsoMaxBytes    = 60000
	// gsoMaxSegment is the largest packet coalesced: every link's MTU
	// takes it with IPv6 and UDP headers, so the kernel never refuses the
	// segment size.
	gsoMaxSegment = 1400
	// sendBatch is how many messages one sendmmsg(2) carries.
	sendBatch = 64
)

type queuedPacket struct {
	addr netip.AddrPort
	buf  []byte
}

// batchUDPConn is a net.PacketConn (and pion's AddrPortReaderWriter, so
// the mux keeps its allocation-free path) over a UDP socket. Reads pass
// through; writes are queued and return at once.
type batchUDPConn struct {
	conn  *net.UDPConn
	batch *ipv4.PacketConn // sendmmsg on the same socket
	gso   atomic.Bool      // UDP_SEGMENT works here

	mu      sync.Mutex
	work    *sync.Cond // the sender waits for packets
	room    *sync.Cond // writers wait for room in the queue
	queue   []queuedPacket
	spare   [][]byte // packet buffers to reuse
	closed  bool
	stopped chan struct{} // the sender returned
	once    sync.Once

	// Sender state, reused between batches.
	groups  []addrGroup
	byAddr  map[netip.AddrPort]int
	next    []int
	addrs   map[netip.AddrPort]*net.UDPAddr
	msgs    []ipv4.Message
	iovs    [][]byte
	oobs    []byte
	spans   []msgSpan
	pending []queuedPacket
}

// msgSpan is where a message's buffers and control message start in
// iovs and oobs.
type msgSpan struct{ iov, oob int }

type addrGroup struct {
	addr        netip.AddrPort
	first, last int
}

// batchWrites wraps the shared ICE socket; the returned conn owns it
// (Close closes it).
func batchWrites(conn *net.UDPConn) net.PacketConn {
	c := &batchUDPConn{conn: conn, batch: ipv4.NewPacketConn(conn), stopped: make(chan struct{}),
		byAddr: map[netip.AddrPort]int{}, addrs: map[netip.AddrPort]*net.UDPAddr{}}
	c.work = sync.NewCond(&c.mu)
	c.room = sync.NewCond(&c.mu)
	c.gso.Store(gsoSupported(conn))
	go c.sendLoop()
	return c
}

// gsoSupported asks the kernel whether the socket knows UDP_SEGMENT
// (Linux 4.18 and later).
func gsoSupported(conn *net.UDPConn) bool {
	raw, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		_, serr = unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
	}); err != nil {
		return false
	}
	return serr == nil
}

func (c *batchUDPConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.mu.Lock()
	for len(c.queue) >= maxQueued && !c.closed {
		c.room.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	var buf []byte
	if n := len(c.spare); n > 0 {
		buf = c.spare[n-1]
		c.spare = c.spare[:n-1]
	}
	c.queue = append(c.queue, queuedPacket{addr: addr, buf: append(buf[:0], b...)})
	if len(c.queue) == 1 {
		c.work.Signal()
	}
	c.mu.Unlock()
	return len(b), nil
}

func (c *batchUDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("not a UDP address")}
	}
	return c.WriteToAddrPort(b, ua.AddrPort())
}

func (c *batchUDPConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.conn.ReadFromUDPAddrPort(b)
}

func (c *batchUDPConn) ReadFrom(b []byte) (int, net.Addr, error) { return c.conn.ReadFrom(b) }
func (c *batchUDPConn) LocalAddr() net.Addr                      { return c.conn.LocalAddr() }
func (c *batchUDPConn) SetDeadline(t time.Time) error            { return c.conn.SetDeadline(t) }
func (c *batchUDPConn) SetReadDeadline(t time.Time) error        { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline applies to the sender's writes: pion's mux sets it to
// abort writes stuck on a full socket, which then unblocks the queue.
func (c *batchUDPConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// Close drops what is still queued, stops the sender and closes the
// socket.
func (c *batchUDPConn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.work.Broadcast()
		c.room.Broadcast()
		c.mu.Unlock()
		err = c.conn.Close() // a send blocked on a full buffer returns
		<-c.stopped
	})
	return err
}

func (c *batchUDPConn) sendLoop() {
	defer close(c.stopped)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.work.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue = c.pending[:0]
		c.room.Broadcast()
		c.mu.Unlock()

		c.send(batch)

		c.mu.Lock()
		for i := range batch {
			c.spare = append(c.spare, batch[i].buf)
			batch[i].buf = nil
		}
		c.pending = batch[:0]
		c.mu.Unlock()
	}
}

// send writes one batch: packets grouped by address (order kept within an
// address, which is all RTP and DTLS need), runs of equal-sized packets to
// one address as one GSO message.
func (c *batchUDPConn) send(batch []queuedPacket) {
	c.groups = c.groups[:0]
	clear(c.byAddr)
	c.next = c.next[:0]
	for i, p := range batch {
		c.next = append(c.next, -1)
		if g, ok := c.byAddr[p.addr]; ok {
			c.next[c.groups[g].last] = i
			c.groups[g].last = i
			continue
		}
		c.byAddr[p.addr] = len(c.groups)
		c.groups = append(c.groups, addrGroup{addr: p.addr, first: i, last: i})
	}
	gso := c.gso.Load()
	c.msgs = c.msgs[:0]
	c.iovs = c.iovs[:0]
	c.oobs = c.oobs[:0]
	c.spans = c.spans[:0]
	for _, g := range c.groups {
		addr := c.udpAddr(g.addr)
		for i := g.first; i >= 0; {
			seg := len(batch[i].buf)
			iov0, n, bytes := len(c.iovs), 0, 0
			for i >= 0 {
				l := len(batch[i].buf)
				if n > 0 && (!gso || seg == 0 || seg > gsoMaxSegment || l > seg || n == gsoMaxSegments || bytes+l > gsoMaxBytes) {
					break
				}
				c.iovs = append(c.iovs, batch[i].buf)
				n++
				bytes += l
				i = c.next[i]
				if l < seg {
					break // a shorter packet ends a GSO run
				}
			}
			oob := -1
			if n > 1 {
				oob = len(c.oobs)
				c.oobs = appendGSO(c.oobs, seg)
			}
			c.msgs = append(c.msgs, ipv4.Message{Addr: addr})
			c.spans = append(c.spans, msgSpan{iov0, oob})
		}
	}
	// The slices are taken once iovs and oobs stop growing.
	for m := range c.msgs {
		end := len(c.iovs)
		if m+1 < len(c.spans) {
			end = c.spans[m+1].iov
		}
		c.msgs[m].Buffers = c.iovs[c.spans[m].iov:end]
		if o := c.spans[m].oob; o >= 0 {
			c.msgs[m].OOB = c.oobs[o : o+gsoCmsgSpace]
		}
	}
	for m := 0; m < len(c.msgs); {
		n, err := c.batch.WriteBatch(c.msgs[m:min(m+sendBatch, len(c.msgs))], 0)
		m += n
		if err == nil {
			continue
		}
		if c.isClosed() {
			return
		}
		// The message at m failed. A GSO message is sent again packet by
		// packet; EIO means the device cannot segment, so GSO is off
		// from now on. Anything else (an unreachable address) loses that
		// message, as a failed sendto would.
		msg := &c.msgs[m]
		if len(msg.OOB) > 0 {
			if errors.Is(err, unix.EIO) {
				c.gso.Store(false)
			}
			for _, b := range msg.Buffers {
				_, _ = c.conn.WriteToUDPAddrPort(b, msg.Addr.(*net.UDPAddr).AddrPort())
			}
		}
		m++
	}
	clear(c.msgs) // drop references to the packet buffers
}

func (c *batchUDPConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// udpAddr is addr as the *net.UDPAddr sendmmsg wants, cached.
func (c *batchUDPConn) udpAddr(addr netip.AddrPort) *net.UDPAddr {
	if a, ok := c.addrs[addr]; ok {
		return a
	}
	if len(c.addrs) >= 4*MaxViewers {
		clear(c.addrs)
	}
	a := net.UDPAddrFromAddrPort(addr)
	c.addrs[addr] = a
	return a
}

var gsoCmsgSpace = unix.CmsgSpace(2)

// appendGSO appends the UDP_SEGMENT control message: the kernel cuts the
// message into packets of size bytes (the last may be shorter).
func appendGSO(b []byte, size int) []byte {
	off := len(b)
	b = append(b, make([]byte, gsoCmsgSpace)...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[off+unix.CmsgLen(0)])) = uint16(size)
	return b
}
