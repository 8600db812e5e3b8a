package srt

import (
	"errors"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"
	"github.com/datarhei/gosrt/circular"

	"github.com/livehouse/livehouse/internal/media"
)

// connReader reads the publisher's data: it counts bytes, notices packets
// SRT gave up on, drops a publisher that goes silent (gosrt has no read
// deadlines; its keepalives hold a connection open without data), and can
// cap how much is read. Only the publisher's goroutine uses it (but for
// the silence timer).
type connReader struct {
	conn    gosrt.Conn
	timeout time.Duration
	timer   *time.Timer
	quiet   atomic.Bool

	buf     []byte // the current packet's payload
	rest    []byte // what of it is still unread
	nextSeq circular.Number
	haveSeq bool
	// lost is set when a packet never arrived (SRT drops what is still
	// missing when its latency runs out); the publisher clears it.
	lost  bool
	guard tsGuard

	n       uint64
	counted uint64
	lastAdd time.Time
	max     uint64 // 0: no cap
	capped  uint64 // n when the cap was set
}

var errDetectTooLarge = errors.New("read cap reached")

func newConnReader(conn gosrt.Conn, timeout time.Duration) *connReader {
	r := &connReader{conn: conn, timeout: timeout, lastAdd: time.Now()}
	r.timer = time.AfterFunc(timeout, func() {
		r.quiet.Store(true)
		conn.Close()
	})
	return r
}

func (r *connReader) Read(b []byte) (int, error) {
	if r.max > 0 && r.n-r.capped >= r.max {
		return 0, errDetectTooLarge
	}
	if len(r.rest) == 0 {
		pkt, err := r.conn.ReadPacket()
		if err != nil {
			return 0, err
		}
		seq := pkt.Header().PacketSequenceNumber
		if r.haveSeq && !seq.Equals(r.nextSeq) {
			r.lost = true
		}
		r.nextSeq, r.haveSeq = seq.Inc(), true
		r.buf = append(r.buf[:0], pkt.Data()...)
		pkt.Decommission()
		r.rest = r.buf
		r.timer.Reset(r.timeout)
		r.n += uint64(len(r.buf))
		if err := r.guard.check(r.buf); err != nil {
			return 0, err
		}
	}
	n := copy(b, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// limit caps further reads at n bytes (0: no cap).
func (r *connReader) limit(n uint64) {
	r.max, r.capped = n, r.n
}

func (r *connReader) silent() bool { return r.quiet.Load() }

// countBytes adds what arrived since the last count to the channel's
// ingest counter, at most once a second.
func (r *connReader) countBytes(c media.Publication) {
	if now := time.Now(); now.Sub(r.lastAdd) >= time.Second {
		c.AddIngestBytes(r.n - r.counted)
		r.counted, r.lastAdd = r.n, now
	}
}

func (r *connReader) flushBytes(c media.Publication) {
	c.AddIngestBytes(r.n - r.counted)
	r.counted = r.n
}

func (r *connReader) stop() { r.timer.Stop() }
