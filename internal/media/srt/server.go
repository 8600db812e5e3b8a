// Package srt accepts publishers over SRT (OBS, ffmpeg, hardware encoders)
// sending MPEG-TS with H.264/H.265 video and AAC/Opus audio, and feeds
// their frames into the media hub.
//
// Publishers connect to srt://HOST:PORT?streamid=publish:STREAM_KEY (or the
// Haivision form #!::r=STREAM_KEY,m=publish). The key is checked and the
// channel claimed during the SRT handshake, so a wrong key or a channel
// already live is refused with an SRT reject code before any media flows.
package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// Server owns the SRT listener and every publisher it accepted. Close
// stops accepting, drops every publisher (ending its stream cleanly) and
// waits for their goroutines.
type Server struct {
	hub        *media.Hub
	relay      rtmp.Relay
	passphrase string
	timeouts   Timeouts
	log        *slog.Logger

	ln     gosrt.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// pending bounds the handshakes being decided at once (each asks the
	// store about a key); a flood beyond it is refused as overload.
	pending chan struct{}

	conns media.ConnSet[gosrt.Conn]
}

// Options configures a Server.
type Options struct {
	Hub *media.Hub
	// Passphrase, if set, is the one every publisher must encrypt with;
	// empty accepts unencrypted publishers only.
	Passphrase string
	Timeouts   Timeouts
	Log        *slog.Logger
	// Relay, when set, makes a publisher whose channel another node
	// ingests that node's standby, relayed over RTMP (rtmp.RelayStandby);
	// without it such a publisher is refused (conflict).
	Relay rtmp.Relay
}

// Timeouts bound how long a publisher may keep a channel without sending
// a stream Livehouse can play. Zero values take the defaults.
type Timeouts struct {
	// Read: a publisher that sends no data this long is dropped (default 10 s).
	Read time.Duration
	// Detect: the tracks, and for video a keyframe with its parameter
	// sets, must arrive this long after the handshake (default 5 s).
	Detect time.Duration
}

const (
	defaultReadTimeout   = 10 * time.Second
	defaultDetectTimeout = 5 * time.Second
	maxPendingHandshakes = 32
)

// Listen binds addr (UDP) and starts accepting publishers.
func Listen(addr string, o Options) (*Server, error) {
	if o.Timeouts.Read <= 0 {
		o.Timeouts.Read = defaultReadTimeout
	}
	if o.Timeouts.Detect <= 0 {
		o.Timeouts.Detect = defaultDetectTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	cfg := gosrt.DefaultConfig()
	// A live stream: the receive buffer (latency) stays at SRT's default
	// 120 ms unless the publisher asks for more.
	ln, err := gosrt.Listen("srt", addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("listen for SRT on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		hub: o.Hub, passphrase: o.Passphrase, timeouts: o.Timeouts, log: o.Log, relay: o.Relay,
		ln: ln, ctx: ctx, cancel: cancel,
		pending: make(chan struct{}, maxPendingHandshakes),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the UDP address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		req, err := s.ln.Accept2()
		if err != nil {
			// Accept2 fails only once the listener is done: closed by us,
			// or its socket failed.
			if s.ctx.Err() == nil && !errors.Is(err, gosrt.ErrListenerClosed) {
				s.log.Error("SRT listener stopped", "err", err)
			}
			return
		}
		select {
		case s.pending <- struct{}{}:
		default:
			req.Reject(gosrt.REJX_OVERLOAD)
			s.log.Warn("SRT publish refused", "remote", req.RemoteAddr().String(), "reason", "too many handshakes at once", "code", "overload")
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(req)
		}()
	}
}

// refusal is a publish refused during the handshake: the reject code the
// caller gets, and the reason the log gets.
type refusal struct {
	code   gosrt.RejectionReason
	reason error
}

// handle decides a connection request (key, mode, passphrase, claim),
// then runs the accepted publisher until it ends. Every request is either
// accepted or rejected, never left pending.
func (s *Server) handle(req gosrt.ConnRequest) {
	log := s.log.With("remote", req.RemoteAddr().String())
	claim, slug, ref := s.decide(req)
	if ref != nil {
		<-s.pending
		req.Reject(ref.code)
		log.Warn("SRT publish refused", "reason", ref.reason, "code", rejectName(ref.code))
		return
	}
	conn, err := req.Accept()
	<-s.pending
	if err != nil {
		claim.Release("SRT handshake failed")
		log.Warn("SRT publish refused", "reason", fmt.Errorf("accept: %w", err))
		return
	}
	if !s.conns.Track(conn) {
		conn.Close()
		claim.Release("server shutting down")
		return
	}
	defer s.conns.Untrack(conn)
	p := &publisher{srv: s, conn: conn, claim: claim, log: log.With("channel", slug)}
	p.run()
}

// decide checks a request; a nil refusal comes with the channel's claim
// (or the relay to the node that ingests it) and its slug.
func (s *Server) decide(req gosrt.ConnRequest) (media.Publication, string, *refusal) {
	if req.Version() < 5 {
		return nil, "", &refusal{gosrt.REJ_VERSION, errors.New("SRT handshake v4 carries no stream id; use an SRT 1.3+ client")}
	}
	sid, err := ParseStreamID(req.StreamId())
	if err != nil {
		return nil, "", &refusal{gosrt.REJX_BAD_REQUEST, err}
	}
	if sid.Mode != ModePublish {
		return nil, "", &refusal{gosrt.REJX_BAD_MODE, errors.New("reading over SRT is not offered; players read LL-HLS at /hls/CHANNEL/index.m3u8 or WebRTC at /whep/CHANNEL")}
	}
	switch {
	case s.passphrase == "" && req.IsEncrypted():
		return nil, "", &refusal{gosrt.REJ_UNSECURE, errors.New("publisher encrypts but this server has no SRT passphrase; publish without one")}
	case s.passphrase != "" && !req.IsEncrypted():
		return nil, "", &refusal{gosrt.REJ_UNSECURE, errors.New("this server requires an SRT passphrase; the publisher sent none")}
	case s.passphrase != "":
		if err := req.SetPassphrase(s.passphrase); err != nil {
			return nil, "", &refusal{gosrt.REJ_BADSECRET, errors.New("wrong SRT passphrase")}
		}
	}
	// A second publisher of a live channel (its backup key, or the same
	// key from another encoder) becomes the stream's hot standby.
	claim, err := s.hub.ClaimInput(s.ctx, sid.Key)
	var elsewhere *media.LiveElsewhere
	switch {
	case err == nil:
		return claim, claim.Channel.Slug, nil
	case errors.As(err, &elsewhere) && s.relay != nil:
		relayed, err := rtmp.RelayStandby(s.ctx, rtmp.RelayOptions{Hub: s.hub, Relay: s.relay, Key: sid.Key, Elsewhere: elsewhere,
			Timeout: s.timeouts.Read, Log: s.log.With("channel", elsewhere.Slug)})
		if err != nil {
			return nil, "", &refusal{gosrt.REJX_CONFLICT, err}
		}
		return relayed, elsewhere.Slug, nil
	case errors.Is(err, media.ErrUnknownKey):
		// The key itself is a secret: never log it.
		return nil, "", &refusal{gosrt.REJX_UNAUTHORIZED, err}
	case errors.Is(err, media.ErrChannelDisabled):
		return nil, "", &refusal{gosrt.REJX_FORBIDDEN, err}
	case errors.Is(err, media.ErrAlreadyLive):
		return nil, "", &refusal{gosrt.REJX_CONFLICT, err}
	case errors.Is(err, media.ErrShutdown), errors.Is(err, media.ErrDraining):
		return nil, "", &refusal{gosrt.REJX_DOWN, err}
	default:
		return nil, "", &refusal{gosrt.REJX_ISE, fmt.Errorf("claim channel: %w", err)}
	}
}

// rejectName names the reject codes this server sends, for logs.
func rejectName(code gosrt.RejectionReason) string {
	switch code {
	case gosrt.REJ_VERSION:
		return "version"
	case gosrt.REJ_UNSECURE:
		return "unsecure"
	case gosrt.REJ_BADSECRET:
		return "bad_secret"
	case gosrt.REJX_BAD_REQUEST:
		return "bad_request"
	case gosrt.REJX_BAD_MODE:
		return "bad_mode"
	case gosrt.REJX_UNAUTHORIZED:
		return "unauthorized"
	case gosrt.REJX_FORBIDDEN:
		return "forbidden"
	case gosrt.REJX_CONFLICT:
		return "conflict"
	case gosrt.REJX_DOWN:
		return "down"
	case gosrt.REJX_OVERLOAD:
		return "overload"
	case gosrt.REJX_ISE:
		return "internal_error"
	}
	return fmt.Sprint(uint32(code))
}

// Close stops the server and waits until every publisher has ended its
// stream, or ctx expires.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	s.conns.CloseAll()
	s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("SRT server: publishers still closing: %w", ctx.Err())
	}
}
