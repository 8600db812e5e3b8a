package webrtc

import (
	"log/slog"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// session is one WHIP publisher or WHEP viewer: a peer connection and what
// feeds it or reads from it. It ends once (end), from whichever comes
// first: DELETE, the peer failing or staying disconnected, the stream
// ending, a kick, or the server closing.
type session struct {
	srv  *Server
	kind sessionKind
	id   string
	slug string
	addr string // client host, for the per-address cap
	etag string
	log  *slog.Logger
	pc   *pion.PeerConnection
	// remoteUfrag is the offer's ICE username fragment: a trickle fragment
	// with another one asks for an ICE restart, which is not offered.
	remoteUfrag string

	// onEnd runs once when the session ends, after the peer connection is
	// closed (a publisher releases its claim, a viewer its subscription).
	onEnd func(reason string)

	done        chan struct{}
	connectedCh chan struct{} // closed when the peer first connects
	endOnce     sync.Once
	mu          sync.Mutex
	connected   bool
	lostTimer   *time.Timer // running while disconnected
}

func newSession(srv *Server, kind sessionKind, slug, addr string) *session {
	id := newSessionID()
	return &session{srv: srv, kind: kind, id: id, slug: slug, addr: addr, etag: `"` + id[:16] + `"`,
		log: srv.log.With("session", id[:8], "protocol", string(kind), "channel", slug, "remote", addr), done: make(chan struct{}),
		connectedCh: make(chan struct{})}
}

// location is where the client PATCHes and DELETEs its session.
func (ss *session) location() string { return "/" + string(ss.kind) + "/" + ss.slug + "/" + ss.id }

// watch ends the session when the peer connection fails, closes, stays
// disconnected for disconnectGrace, or does not connect in time.
func (ss *session) watch() {
	connectTimer := time.AfterFunc(connectTimeout, func() {
		ss.mu.Lock()
		ok := ss.connected
		ss.mu.Unlock()
		if !ok {
			ss.end("peer did not connect")
		}
	})
	ss.pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		switch st {
		case pion.PeerConnectionStateConnected:
			if !ss.connected {
				ss.connected = true
				close(ss.connectedCh)
				connectTimer.Stop()
				ss.log.Info("WebRTC peer connected")
			}
			if ss.lostTimer != nil {
				ss.lostTimer.Stop()
				ss.lostTimer = nil
			}
		case pion.PeerConnectionStateDisconnected:
			if ss.lostTimer == nil {
				ss.lostTimer = time.AfterFunc(disconnectGrace, func() { ss.end("peer disconnected") })
			}
		case pion.PeerConnectionStateFailed:
			go ss.end("peer connection failed")
		case pion.PeerConnectionStateClosed:
			go ss.end("peer connection closed")
		}
	})
}

// end tears the session down once; the teardown runs on its own goroutine
// because end is called from pion's callbacks, which Close would wait for.
func (ss *session) end(reason string) {
	ss.endOnce.Do(func() {
		close(ss.done)
		go func() {
			defer ss.srv.remove(ss)
			ss.mu.Lock()
			if ss.lostTimer != nil {
				ss.lostTimer.Stop()
			}
			ss.mu.Unlock()
			if ss.pc != nil {
				if err := ss.pc.Close(); err != nil {
					ss.log.Debug("close peer connection", "err", err)
				}
			}
			if ss.onEnd != nil {
				ss.onEnd(reason)
			}
			ss.log.Info("WebRTC session ended", "reason", reason)
		}()
	})
}

// ended reports whether end was called.
func (ss *session) ended() bool {
	select {
	case <-ss.done:
		return true
	default:
		return false
	}
}

// goTracked runs fn on a goroutine the server waits for in Close.
func (s *Server) goTracked(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}
