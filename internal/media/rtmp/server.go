// Package rtmp accepts publishers over RTMP (OBS, ffmpeg, enhanced RTMP for
// H.265 and Opus) and feeds their frames into the media hub.
package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

// Server owns the RTMP listener and every connection it accepted. Close
// stops accepting, drops every connection (ending its stream cleanly) and
// waits for their goroutines.
type Server struct {
	hub         *media.Hub
	readTimeout time.Duration
	relay       Relay
	log         *slog.Logger

	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	conns media.ConnSet[net.Conn]
}

// Options configures a Server.
type Options struct {
	Hub         *media.Hub
	ReadTimeout time.Duration
	Log         *slog.Logger
	// TLS, when set, makes it an RTMPS server (RTMP inside TLS, as OBS
	// and the big platforms speak it). The handshake is bounded by
	// ReadTimeout like any other read.
	TLS *tls.Config
	// Relay, when set, makes an encoder whose channel another node
	// ingests that node's standby (relay.go); without it such an encoder
	// is refused.
	Relay Relay
}

// Listen binds addr and starts accepting publishers.
func Listen(addr string, o Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		name := "RTMP"
		if o.TLS != nil {
			name = "RTMPS"
		}
		return nil, fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	if o.TLS != nil {
		ln = tls.NewListener(ln, o.TLS)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		hub: o.Hub, readTimeout: o.ReadTimeout, relay: o.Relay, log: o.Log,
		ln: ln, ctx: ctx, cancel: cancel,
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Accept back-off after a temporary failure, as net/http does: 5 ms,
// doubling, at most 1 s.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors (EMFILE, ENFILE), a connection reset
			// before it was accepted, a timeout: wait and accept again. The
			// publisher waiting in the backlog is accepted once fds free up.
			if delay == 0 {
				delay = acceptRetryMin
			} else {
				delay = min(2*delay, acceptRetryMax)
			}
			s.log.Warn("RTMP accept failed; retrying", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if !s.conns.Track(nc) {
			nc.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.conns.Untrack(nc)
			c := &conn{nc: nc, srv: s, log: s.log.With("remote", nc.RemoteAddr().String())}
			c.run()
		}()
	}
}

// Close stops the server and waits until every connection has ended its
// stream, or ctx expires.
func (s *Server) Close(ctx context.Context) error {
	s.cancel()
	s.ln.Close()
	s.conns.CloseAll()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("RTMP server: connections still closing: %w", ctx.Err())
	}
}
