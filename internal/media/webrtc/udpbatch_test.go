package webrtc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestBatchWritesArrive writes from several goroutines to several
// receivers, with runs of full-size packets (GSO messages), shorter last
// packets and small ones between: every packet arrives whole, in the order
// it was written to its address.
func TestBatchWritesArrive(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} { // "udp" is the dual-stack socket ":8189" makes
		t.Run(network, func(t *testing.T) {
			raw, err := net.ListenUDP(network, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if network == "udp" {
				raw, err = net.ListenUDP(network, &net.UDPAddr{IP: net.IPv6loopback})
				if err != nil {
					t.Skip("no IPv6 loopback:", err)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			conn := batchWrites(raw)
			defer conn.Close()
			testBatchWrites(t, conn)
		})
	}
}

func testBatchWrites(t *testing.T, conn net.PacketConn) {
	const writers, perWriter = 4, 3000
	local := conn.LocalAddr().(*net.UDPAddr)
	type receiver struct {
		conn *net.UDPConn
		got  [][]byte
	}
	var rs []*receiver
	var wg sync.WaitGroup
	for range writers {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.IP})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadBuffer(8 << 20)
		r := &receiver{conn: c}
		rs = append(rs, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 65536)
			for len(r.got) < perWriter {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				r.got = append(r.got, bytes.Clone(buf[:n]))
			}
		}()
	}
	// Packet i to a receiver: sequence number first, then filler; sizes
	// cycle through full runs, a shorter last one and tiny ones.
	packet := func(w, i int) []byte {
		size := 1228
		switch i % 13 {
		case 9:
			size = 700
		case 10:
			size = 20
		case 11:
			size = 1400 + 200 // larger than a GSO segment: sent alone
		case 12:
			size = 1228 + 1 // a larger packet after a run starts a new run
		}
		p := make([]byte, size)
		binary.BigEndian.PutUint32(p, uint32(i))
		for j := 4; j < size; j++ {
			p[j] = byte(w + j)
		}
		return p
	}
	var ww sync.WaitGroup
	for w, r := range rs {
		ww.Add(1)
		go func() {
			defer ww.Done()
			addr := r.conn.LocalAddr().(*net.UDPAddr).AddrPort()
			for i := range perWriter {
				var err error
				if i%2 == 0 {
					_, err = conn.(interface {
						WriteToAddrPort([]byte, netip.AddrPort) (int, error)
					}).WriteToAddrPort(packet(w, i), addr)
				} else {
					_, err = conn.WriteTo(packet(w, i), net.UDPAddrFromAddrPort(addr))
				}
				if err != nil {
					t.Error(err)
					return
				}
				if i%200 == 0 {
					time.Sleep(time.Millisecond) // the receivers keep up
				}
			}
		}()
	}
	ww.Wait()
	wg.Wait()
	for w, r := range rs {
		if len(r.got) != perWriter {
			t.Fatalf("receiver %d got %d of %d packets", w, len(r.got), perWriter)
		}
		for i, p := range r.got {
			if want := packet(w, i); !bytes.Equal(p, want) {
				t.Fatalf("receiver %d packet %d: got %d bytes (seq %d), want %d bytes", w, i, len(p), binary.BigEndian.Uint32(p), len(want))
			}
		}
		r.conn.Close()
	}
}

func TestBatchConnClose(t *testing.T) {
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conn := batchWrites(raw)
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close() // twice is harmless (pion's mux and the server both close it)
	if _, err := conn.WriteTo([]byte("x"), raw.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if _, _, err := conn.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
}
