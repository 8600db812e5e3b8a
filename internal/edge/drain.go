package edge

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

// Moving players off a draining node. A player asks for a playlist every
// part (about a third of a second), so a draining node that stops
// answering playlists moves every player within one part while their
// buffers still hold a second of media:
//   - Livehouse's watch page (?via=page) gets 503 node_draining and asks the
//     scheduler for another node, as it does when an edge dies, but with its
//     buffer still full;
//   - any other player (an embed, VLC, ffmpeg) is redirected (307) to the
//     same path on the node the scheduler would pick.
// With nowhere to move them (a single node, every other edge draining too)
// the node keeps serving until the drain deadline.
// Media parts and segments are always answered: a player finishes what it
// asked for before it moves.

// PagePlayer is ?via= of the watch page's LL-HLS requests.
const PagePlayer = "page"

// drainMoveHeader names the node a refused page player should move to.
const drainMoveHeader = "X-Livehouse-Move-To"

// moveOff answers a player's playlist request on a draining node with a
// move elsewhere; false when the request is to be served here.
func (s *Service) moveOff(w http.ResponseWriter, r *http.Request, via string) bool {
	if !s.d.Drain.Draining() || via == ViaEdge || r.UserAgent() == media.FrameGrabberAgent ||
		!strings.HasSuffix(r.URL.Path, ".m3u8") {
		return false
	}
	region := r.URL.Query().Get("region")
	if region == "" {
		region = r.Header.Get(RegionHeader)
	}
	nodes := s.loads.Nodes()
	others := nodes[:0:0]
	for _, n := range nodes {
		if !n.Self {
			others = append(others, n)
		}
	}
	n, ok := pick(others, region, rand.IntN)
	if !ok {
		return false
	}
	s.movedOff.Add(1)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", drainMoveHeader)
	w.Header().Set("Cache-Control", "no-store")
	if via == PagePlayer {
		w.Header().Set(drainMoveHeader, nodeName(n.ID))
		w.Header().Set("Retry-After", "1")
		hlsError(w, http.StatusServiceUnavailable, "node_draining", "this node is shutting down: play the stream from another node")
		return true
	}
	// The player keeps its session there; it counts there from now on.
	slug, session := r.PathValue("slug"), r.URL.Query().Get(media.SessionParam)
	s.players.forget(slug, session)
	if s.d.ForgetLocal != nil {
		s.d.ForgetLocal(slug, session)
	}
	http.Redirect(w, r, n.PublicURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	return true
}

// OthersServeViewers reports whether another healthy node takes viewers
// (where a draining node's viewers can go).
func (s *Service) OthersServeViewers() bool {
	for _, n := range s.loads.Nodes() {
		if !n.Self && servesViewers(n) {
			return true
		}
	}
	return false
}

// PlayersServedWithin reports whether this node served a player (not
// another edge) an LL-HLS answer within d: a draining node is done with
// its players once they have gone quiet.
func (s *Service) PlayersServedWithin(d time.Duration) bool {
	last := s.lastPlayer.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < d
}
