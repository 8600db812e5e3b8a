package webrtc

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// reorderer hands RTP packets on in sequence order. Packets that arrive
// early wait for the missing ones (a NACK retransmission usually fills the
// gap within a round trip); a gap that stays open longer than maxWait, or
// wider than the window, is given up as lost.
type reorderer struct {
	window   int
	maxWait  time.Duration
	buf      []*rtp.Packet
	arrived  []time.Time
	count    int
	expected uint16
	started  bool
}

func newReorderer(window int, maxWait time.Duration) *reorderer {
	return &reorderer{window: window, maxWait: maxWait, buf: make([]*rtp.Packet, window), arrived: make([]time.Time, window)}
}

// push takes one packet and returns the packets now in order, and how
// many packets were skipped as lost before them.
func (r *reorderer) push(p *rtp.Packet, now time.Time) (out []*rtp.Packet, lost int) {
	if !r.started {
		r.started = true
		r.expected = p.SequenceNumber + 1
		return []*rtp.Packet{p}, 0
	}
	diff := int16(p.SequenceNumber - r.expected)
	switch {
	case diff < 0:
		if diff > -int16(r.window)*4 {
			return nil, 0 // a duplicate, or a retransmission after its gap was given up
		}
		// Far behind: the sender restarted its sequence. Start over.
		r.reset()
		r.expected = p.SequenceNumber + 1
		return []*rtp.Packet{p}, 0
	case diff == 0:
		r.expected++
		out = append(out, p)
		return r.drain(out), 0
	case int(diff) >= r.window:
		// Too far ahead to wait for: everything buffered, then p, in order.
		out, lost = r.flush(nil)
		lost += int(int16(p.SequenceNumber - r.expected))
		r.expected = p.SequenceNumber + 1
		return append(out, p), lost
	}
	i := int(p.SequenceNumber) % r.window
	if r.buf[i] == nil {
		r.buf[i] = p
		r.arrived[i] = now
		r.count++
	}
	if r.oldestWait(now) > r.maxWait {
		return r.skipGap()
	}
	return nil, 0
}

func (r *reorderer) reset() {
	for i := range r.buf {
		r.buf[i] = nil
	}
	r.count = 0
}

// drain appends the buffered packets that follow on from expected.
func (r *reorderer) drain(out []*rtp.Packet) []*rtp.Packet {
	for r.count > 0 {
		i := int(r.expected) % r.window
		p := r.buf[i]
		if p == nil || p.SequenceNumber != r.expected {
			break
		}
		r.buf[i] = nil
		r.count--
		r.expected++
		out = append(out, p)
	}
	return out
}

func (r *reorderer) oldestWait(now time.Time) time.Duration {
	var oldest time.Duration
	for i, p := range r.buf {
		if p != nil {
			oldest = max(oldest, now.Sub(r.arrived[i]))
		}
	}
	return oldest
}

// skipGap gives up the packets missing before the first buffered one.
func (r *reorderer) skipGap() (out []*rtp.Packet, lost int) {
	for n := 0; n < r.window; n++ {
		if p := r.buf[int(r.expected)%r.window]; p != nil && p.SequenceNumber == r.expected {
			break
		}
		r.expected++
		lost++
	}
	return r.drain(nil), lost
}

// flush gives up every gap and returns all buffered packets in order.
func (r *reorderer) flush(out []*rtp.Packet) ([]*rtp.Packet, int) {
	lost := 0
	for r.count > 0 {
		var got []*rtp.Packet
		var l int
		got, l = r.skipGap()
		out = append(out, got...)
		lost += l
	}
	return out, lost
}

// H.264 RTP payload (RFC 6184) NAL unit types.
const (
	naluSTAPA = 24
	naluFUA   = 28
)

// Bounds on what a publisher may send in one access unit.
const (
	maxAUSize  = 8 << 20
	maxAUNALUs = 1024
)

var errBrokenAU = errors.New("broken access unit")

// h264Depacketizer turns in-order RTP packets into access units (the NAL
// units of one picture). The marker bit ends an access unit; a new
// timestamp does too, for senders that omit it. A lost packet breaks the
// access unit it belongs to, which is dropped.
type h264Depacketizer struct {
	nalus  [][]byte
	size   int
	ts     uint32
	active bool // nalus belong to ts
	broken bool
	fu     []byte // FU-A being reassembled
	inFU   bool
}

// au is one depacketized access unit.
type au struct {
	ts    uint32
	nalus [][]byte
}

// lost marks the access unit in progress as broken.
func (d *h264Depacketizer) lost() {
	if d.active {
		d.broken = true
	}
	d.inFU = false
	d.fu = nil
}

// push takes the next packet in sequence order and returns the access
// units it completed, and an error when one was dropped as broken.
func (d *h264Depacketizer) push(p *rtp.Packet) (done []au, err error) {
	if d.active && p.Timestamp != d.ts {
		// The previous access unit ended without a marker bit.
		if a, e := d.finish(); e != nil {
			err = e
		} else if a != nil {
			done = append(done, *a)
		}
	}
	if !d.active {
		d.active, d.ts = true, p.Timestamp
	}
	if e := d.add(p.Payload); e != nil {
		d.broken = true
		err = e
	}
	if p.Marker {
		if a, e := d.finish(); e != nil {
			err = e
		} else if a != nil {
			done = append(done, *a)
		}
	}
	return done, err
}

func (d *h264Depacketizer) finish() (*au, error) {
	nalus, broken := d.nalus, d.broken || d.inFU
	ts := d.ts
	d.nalus, d.size, d.active, d.broken, d.inFU, d.fu = nil, 0, false, false, false, nil
	if broken {
		return nil, errBrokenAU
	}
	if len(nalus) == 0 {
		return nil, nil
	}
	return &au{ts: ts, nalus: nalus}, nil
}

func (d *h264Depacketizer) appendNALU(n []byte) error {
	if len(n) == 0 {
		return fmt.Errorf("%w: empty NAL unit", errBrokenAU)
	}
	if len(d.nalus) >= maxAUNALUs || d.size+len(n) > maxAUSize {
		return fmt.Errorf("%w: access unit too large", errBrokenAU)
	}
	d.nalus = append(d.nalus, n)
	d.size += len(n)
	return nil
}

func (d *h264Depacketizer) add(payload []byte) error {
	if len(payload) < 1 {
		return fmt.Errorf("%w: empty payload", errBrokenAU)
	}
	typ := payload[0] & 0x1f
	switch {
	case typ >= 1 && typ <= 23:
		if d.inFU {
			return fmt.Errorf("%w: fragment unit interrupted", errBrokenAU)
		}
		return d.appendNALU(payload)
	case typ == naluSTAPA:
		if d.inFU {
			return fmt.Errorf("%w: fragment unit interrupted", errBrokenAU)
		}
		b := payload[1:]
		for len(b) > 0 {
			if len(b) < 2 {
				return fmt.Errorf("%w: truncated STAP-A", errBrokenAU)
			}
			n := int(b[0])<<8 | int(b[1])
			b = b[2:]
			if n == 0 || n > len(b) {
				return fmt.Errorf("%w: STAP-A size %d of %d bytes", errBrokenAU, n, len(b))
			}
			if err := d.appendNALU(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	case typ == naluFUA:
		if len(payload) < 3 {
			return fmt.Errorf("%w: truncated FU-A", errBrokenAU)
		}
		start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
		switch {
		case start && d.inFU:
			return fmt.Errorf("%w: fragment unit restarted", errBrokenAU)
		case start:
			d.inFU = true
			d.fu = append(make([]byte, 0, 8*len(payload)), payload[0]&0xe0|payload[1]&0x1f)
		case !d.inFU:
			return fmt.Errorf("%w: fragment without its start", errBrokenAU)
		}
		if len(d.fu)+len(payload)-2 > maxAUSize {
			return fmt.Errorf("%w: NAL unit too large", errBrokenAU)
		}
		d.fu = append(d.fu, payload[2:]...)
		if end {
			d.inFU = false
			n := d.fu
			d.fu = nil
			return d.appendNALU(n)
		}
		return nil
	default:
		return fmt.Errorf("%w: unsupported NAL unit type %d", errBrokenAU, typ)
	}
}

// unwrapper extends 32-bit RTP timestamps to 64 bits across wrap-arounds:
// each timestamp is taken as the nearer of its possible values to the
// latest one (a step under half the range, either way).
type unwrapper struct {
	last    int64
	started bool
}

func (u *unwrapper) unwrap(ts uint32) int64 {
	if !u.started {
		u.started, u.last = true, int64(ts)
		return u.last
	}
	v := u.last + int64(int32(ts-uint32(u.last)))
	if v > u.last {
		u.last = v
	}
	return v
}
