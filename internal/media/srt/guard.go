package srt

import "fmt"

// maxOpenPayload bounds the MPEG-TS payload a publisher may leave
// unfinished across all its PIDs. The demuxer (go-astits) gathers a PID's
// packets until the next payload start, without a limit: a stream that
// never starts a new payload would grow the server's memory until it
// fell over, taking every other stream with it. A 4K keyframe is a few MB.
const maxOpenPayload = 16 << 20

const (
	tsPacketSize = 188
	tsSyncByte   = 0x47
)

// tsGuard watches the MPEG-TS byte stream the demuxer reads, 188-byte
// packet by packet as the demuxer sees it, and fails when the payload left
// open (gathered, not yet complete) passes maxOpenPayload.
type tsGuard struct {
	carry []byte           // the start of a packet split across reads
	open  map[uint16]int64 // payload bytes gathered per PID since its last start
	total int64
}

// check accounts for the next bytes of the stream.
func (g *tsGuard) check(b []byte) error {
	if g.open == nil {
		g.open = map[uint16]int64{}
	}
	if len(g.carry) > 0 {
		n := min(tsPacketSize-len(g.carry), len(b))
		g.carry = append(g.carry, b[:n]...)
		b = b[n:]
		if len(g.carry) < tsPacketSize {
			return nil
		}
		err := g.packet(g.carry)
		g.carry = g.carry[:0]
		if err != nil {
			return err
		}
	}
	for len(b) >= tsPacketSize {
		if err := g.packet(b[:tsPacketSize]); err != nil {
			return err
		}
		b = b[tsPacketSize:]
	}
	g.carry = append(g.carry, b...)
	return nil
}

func (g *tsGuard) packet(p []byte) error {
	if p[0] != tsSyncByte || p[3]&0x10 == 0 { // not a packet, or no payload
		return nil
	}
	pid := uint16(p[1]&0x1f)<<8 | uint16(p[2])
	if p[1]&0x40 != 0 { // payload unit start: the PID's previous payload is complete
		g.total -= g.open[pid]
		g.open[pid] = 0
	}
	g.open[pid] += tsPacketSize - 4
	g.total += tsPacketSize - 4
	if g.total > maxOpenPayload {
		return fmt.Errorf("MPEG-TS payload of over %d MB left unfinished (PID %d holds %d KB)", maxOpenPayload>>20, pid, g.open[pid]>>10)
	}
	return nil
}
