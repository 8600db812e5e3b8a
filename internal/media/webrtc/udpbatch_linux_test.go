package webrtc

import (
	"net"
	"testing"
)

// TestBatchWritesKeepGSO: this kernel segments UDP, and nothing in the
// traffic of testBatchWrites (runs, short and oversized packets) makes a
// GSO send fail and turn it off.
func TestBatchWritesKeepGSO(t *testing.T) {
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conn := batchWrites(raw).(*batchUDPConn)
	defer conn.Close()
	if !conn.gso.Load() {
		t.Skip("no UDP GSO on this kernel")
	}
	testBatchWrites(t, conn)
	if !conn.gso.Load() {
		t.Error("a GSO send failed and turned GSO off")
	}
}
