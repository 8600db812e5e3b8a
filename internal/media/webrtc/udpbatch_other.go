//go:build !linux

package webrtc

import "net"

// batchWrites is the socket itself where sendmmsg and UDP GSO do not
// exist: one write per packet.
func batchWrites(conn *net.UDPConn) net.PacketConn { return conn }
