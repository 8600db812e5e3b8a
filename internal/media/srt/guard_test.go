package srt

import (
	"strings"
	"testing"
)

// tsPacket builds a TS packet of pid with a payload, starting a new
// payload unit when start is set.
func tsPacket(pid uint16, start bool, cc byte) []byte {
	p := make([]byte, tsPacketSize)
	p[0] = tsSyncByte
	p[1] = byte(pid>>8) & 0x1f
	if start {
		p[1] |= 0x40
	}
	p[2] = byte(pid)
	p[3] = 0x10 | cc&0x0f
	return p
}

func TestGuardBoundsUnfinishedPayload(t *testing.T) {
	var g tsGuard
	// Frames that end (a new start per 100 packets) pass, however long
	// the stream; split reads do not matter.
	for i := 0; i < 200000; i++ {
		pkt := tsPacket(256, i%100 == 0, byte(i))
		if err := g.check(pkt[:50]); err != nil {
			t.Fatal(err)
		}
		if err := g.check(pkt[50:]); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	// One payload that never ends is stopped at the bound.
	var h tsGuard
	var err error
	n := 0
	for ; err == nil && n < 1e6; n++ {
		err = h.check(tsPacket(300, n == 0, byte(n)))
	}
	if err == nil || !strings.Contains(err.Error(), "PID 300") || n*(tsPacketSize-4) < maxOpenPayload || n*(tsPacketSize-4) > maxOpenPayload+tsPacketSize {
		t.Fatalf("after %d packets: %v", n, err)
	}
}

func FuzzTSGuard(f *testing.F) {
	f.Add(append(tsPacket(256, true, 0), tsPacket(256, false, 1)[:100]...))
	f.Add([]byte{0x47, 0x5f, 0xff, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		var g tsGuard
		for len(b) > 0 {
			n := min(len(b), 1+int(b[0])%400)
			if err := g.check(b[:n]); err != nil {
				t.Fatalf("%d bytes reported %v", len(b), err)
			}
			b = b[n:]
		}
		if g.total < 0 || len(g.carry) >= tsPacketSize {
			t.Fatalf("total %d, carry %d", g.total, len(g.carry))
		}
	})
}
