// Package webrtc takes publishers in over WHIP (RFC 9725) and gives viewers
// the stream over WHEP, both on one shared ICE port: every peer connection's
// media goes through one UDP socket (and, when set, one TCP listener), so a
// server behind a firewall opens two ports, not a range.
//
// WHIP feeds the media hub like every other ingest (Claim, GoLive,
// WriteFrame); WHEP reads a live stream through Stream.Subscribe. Video is
// passed through both ways, never transcoded.
package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	pion "github.com/pion/webrtc/v4"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// Session limits. WHEP sessions cost the server CPU for every packet they
// get (encryption per viewer), so they are capped in total and per client
// address; WHIP sessions are few (one per live channel) but a flood of
// offers must not exhaust ports or memory either.
const (
	// MaxViewers is how many WHEP sessions one node serves; more get 503.
	MaxViewers = 1000
	// MaxViewersPerAddress is how many WHEP sessions one client address
	// may hold; more get 429.
	MaxViewersPerAddress = 8
	// MaxPublishers caps WHIP sessions, including ones still connecting.
	MaxPublishers = 200
	// maxSDP is the largest offer or trickle fragment accepted.
	maxSDP = 64 << 10
	// connectTimeout is how long a new session may take to connect
	// before it is given up (and a publisher's claim released).
	connectTimeout = 15 * time.Second
	// disconnectGrace is how long a session may stay disconnected before
	// it is ended.
	disconnectGrace = 5 * time.Second
	// nackHistory is how many sent packets per track can be retransmitted.
	nackHistory = 512
)

// Options configures a Server.
type Options struct {
	Hub *media.Hub
	Log *slog.Logger
	// UDPAddr is the one UDP address all ICE traffic shares (required).
	UDPAddr string
	// TCPAddr is the ICE-TCP fallback listener; empty turns it off.
	TCPAddr string
	// PublicIPs replace the host candidates' addresses (a server behind
	// 1:1 NAT); empty announces the local addresses.
	PublicIPs []string
	// STUN servers (stun:HOST:PORT) are given to clients in a Link header.
	STUN []string
	// Limits, 0 for the package defaults (tests and benchmarks lower or
	// raise them).
	MaxViewers, MaxViewersPerAddress, MaxPublishers int
	// Relay, when set, makes a WHIP publisher whose channel another node
	// ingests that node's standby, relayed over RTMP (rtmp.RelayStandby);
	// without it such a publisher is refused.
	Relay rtmp.Relay
}

// Server owns the ICE sockets, the pion API built on them and every WHIP
// and WHEP session. Close ends the sessions and closes the sockets.
type Server struct {
	hub  *media.Hub
	log  *slog.Logger
	api  *pion.API
	stun []string
	// relay finds the RTMP address of the node on air (Options.Relay).
	relay rtmp.Relay

	udp    net.PacketConn
	udpMux ice.UDPMux
	tcp    net.Listener // nil without ICE-TCP
	tcpMux ice.TCPMux

	maxViewers, maxPerAddr, maxPublishers int

	ctx    context.Context // cancelled by Close: sessions end
	cancel context.CancelFunc
	wg     sync.WaitGroup // every session's goroutines

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
}

// New opens the ICE sockets and builds the pion API.
func New(o Options) (*Server, error) {
	if o.Hub == nil || o.Log == nil {
		return nil, errors.New("webrtc: hub and log are required")
	}
	if o.UDPAddr == "" {
		return nil, errors.New("webrtc: a UDP address is required")
	}
	s := &Server{hub: o.Hub, log: o.Log, stun: o.STUN, relay: o.Relay, sessions: map[string]*session{},
		maxViewers: or(o.MaxViewers, MaxViewers), maxPerAddr: or(o.MaxViewersPerAddress, MaxViewersPerAddress),
		maxPublishers: or(o.MaxPublishers, MaxPublishers)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	udpAddr, err := net.ResolveUDPAddr("udp", o.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("webrtc UDP address %q: %w", o.UDPAddr, err)
	}
	udp, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("listen for WebRTC on UDP %s: %w", o.UDPAddr, err)
	}
	// Many viewers on one socket: a larger kernel buffer rides out bursts
	// (keyframes to every viewer at once). Best effort.
	_ = udp.SetReadBuffer(4 << 20)
	_ = udp.SetWriteBuffer(4 << 20)
	// Writes go out in batches (sendmmsg, UDP GSO): see batchUDPConn.
	s.udp = batchWrites(udp)
	logs := logging.NewDefaultLoggerFactory()
	logs.DefaultLogLevel = logging.LogLevelWarn
	s.udpMux = pion.NewICEUDPMux(logs.NewLogger("ice-udp"), s.udp)
	if o.TCPAddr != "" {
		if s.tcp, err = net.Listen("tcp", o.TCPAddr); err != nil {
			s.udpMux.Close()
			return nil, fmt.Errorf("listen for WebRTC on TCP %s: %w", o.TCPAddr, err)
		}
		s.tcpMux = pion.NewICETCPMux(logs.NewLogger("ice-tcp"), s.tcp, 8)
	}
	if s.api, err = s.newAPI(o.PublicIPs, logs); err != nil {
		s.closeSockets()
		return nil, err
	}
	return s, nil
}

func or(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// newAPI builds the one pion API every session uses: the shared sockets,
// the codecs Livehouse carries and the interceptors (NACK both ways, RTCP
// reports, TWCC).
func (s *Server) newAPI(publicIPs []string, logs logging.LoggerFactory) (*pion.API, error) {
	var se pion.SettingEngine
	se.LoggerFactory = logs
	se.SetICEUDPMux(s.udpMux)
	networks := []pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6}
	if s.tcpMux != nil {
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, pion.NetworkTypeTCP4, pion.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	// A server bound to loopback (tests, a local proxy) still has candidates.
	se.SetIncludeLoopbackCandidate(true)
	// mDNS candidates only work on a LAN and cost CPU; servers have addresses.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(disconnectGrace, 2*disconnectGrace, time.Second)
	// SRTP with AES-GCM costs a fraction of AES-CM with HMAC-SHA1 per
	// packet. The DTLS server picks the profile, and pion answers as the
	// DTLS client by default, so Chromium chose HMAC-SHA1: answering as
	// the server makes this order decide. HMAC-SHA1 stays as the fallback.
	if err := se.SetAnsweringDTLSRole(pion.DTLSRoleServer); err != nil {
		return nil, fmt.Errorf("webrtc DTLS role: %w", err)
	}
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	if len(publicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(pion.ICEAddressRewriteRule{
			External: publicIPs, AsCandidateType: pion.ICECandidateTypeHost, Mode: pion.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("webrtc public IPs: %w", err)
		}
	}
	me := &pion.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	// Pion's defaults minus the stats interceptor (per-packet bookkeeping
	// nobody reads here, a measurable share of a viewer's CPU): NACK
	// (generator for ingest, responder for viewers), RTCP sender/receiver
	// reports, and TWCC feedback so a browser publisher's bandwidth
	// estimator works.
	reg := &interceptor.Registry{}
	// The NACK responder keeps a copy of every packet a viewer was sent,
	// 1024 by default: ~1.5 MB per viewer. 512 is 1.5 s of the bench's
	// 3.2 Mbit/s video and 0.6 s at 8 Mbit/s, longer than a browser's
	// jitter buffer waits for a retransmission.
	if err := pion.ConfigureNackWithOptions(me, reg, nil, nack.ResponderSize(nackHistory)); err != nil {
		return nil, fmt.Errorf("webrtc NACK: %w", err)
	}
	if err := pion.ConfigureRTCPReports(reg); err != nil {
		return nil, fmt.Errorf("webrtc RTCP reports: %w", err)
	}
	if err := pion.ConfigureTWCCSender(me, reg); err != nil {
		return nil, fmt.Errorf("webrtc TWCC: %w", err)
	}
	return pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(me), pion.WithInterceptorRegistry(reg)), nil
}

// h264Profiles are the profile-level-ids offered and accepted: constrained
// baseline (what every browser sends), baseline, main and (constrained)
// high, all in packetization mode 1 (fragmented NAL units).
var h264Profiles = []string{"42e01f", "42001f", "4d001f", "640c1f", "64001f"}

func registerCodecs(me *pion.MediaEngine) error {
	// NACK, PLI and transport-cc feedback are added by the interceptors.
	fb := []pion.RTCPFeedback{{Type: "ccm", Parameter: "fir"}}
	for i, p := range h264Profiles {
		if err := me.RegisterCodec(pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + p, RTCPFeedback: fb},
			PayloadType: pion.PayloadType(102 + 2*i),
		}, pion.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register H.264: %w", err)
		}
	}
	if err := me.RegisterCodec(pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111,
	}, pion.RTPCodecTypeAudio); err != nil {
		return fmt.Errorf("register Opus: %w", err)
	}
	return nil
}

// UDPAddr is the address the shared ICE UDP socket is bound to.
func (s *Server) UDPAddr() net.Addr { return s.udp.LocalAddr() }

// TCPAddr is the ICE-TCP listener's address, nil when off.
func (s *Server) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// sessionKind tells publishers from viewers.
type sessionKind string

const (
	kindWHIP sessionKind = "whip"
	kindWHEP sessionKind = "whep"
)

// add registers a session unless the server is closing or a limit is
// reached; the error is the refusal to send.
func (s *Server) add(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errShuttingDown
	}
	var total, fromAddr int
	for _, o := range s.sessions {
		if o.kind != ss.kind {
			continue
		}
		total++
		if o.addr == ss.addr {
			fromAddr++
		}
	}
	switch {
	case ss.kind == kindWHIP && total >= s.maxPublishers:
		return errTooManySessions
	case ss.kind == kindWHEP && total >= s.maxViewers:
		return errTooManySessions
	case ss.kind == kindWHEP && fromAddr >= s.maxPerAddr:
		return errTooManyFromAddr
	}
	s.sessions[ss.id] = ss
	s.wg.Add(1) // done in remove
	return nil
}

func (s *Server) remove(ss *session) {
	s.mu.Lock()
	_, ok := s.sessions[ss.id]
	delete(s.sessions, ss.id)
	s.mu.Unlock()
	if ok {
		s.wg.Done()
	}
}

func (s *Server) lookup(kind sessionKind, slug, id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok || ss.kind != kind || ss.slug != slug {
		return nil, false
	}
	return ss, true
}

// Viewers is how many WHEP sessions this node serves.
func (s *Server) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if ss.kind == kindWHEP {
			n++
		}
	}
	return n
}

// Close ends every session (publishers' streams end cleanly) and closes
// the sockets, waiting for the sessions' goroutines until ctx expires.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	s.cancel()
	for _, ss := range all {
		ss.end("server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("WebRTC server: sessions still closing: %w", ctx.Err())
	}
	s.closeSockets()
	return err
}

func (s *Server) closeSockets() {
	if s.tcpMux != nil {
		_ = s.tcpMux.Close()
	}
	if s.tcp != nil {
		_ = s.tcp.Close()
	}
	if s.udpMux != nil {
		_ = s.udpMux.Close()
	}
	_ = s.udp.Close()
}

// newSessionID is an unguessable session id: knowing it is what lets a
// client PATCH or DELETE its session.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clientHost is the request's client address without the port (set by the
// trusted-proxy middleware when behind one).
func clientHost(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return strings.ToLower(host)
}
