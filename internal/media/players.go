package media

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Who is watching over HLS. A player that first asks for a playlist
// without a playback session gets one: Livehouse adds ?session=ID to the
// request, and gohlslib carries the request's query into every URL of the
// playlists it writes, so all of that player's later requests (media
// playlists, parts, segments, blocking reloads) carry the same id, as
// MediaMTX does. A viewer is a session seen in the last 15 s, and one
// client address adds at most PlayersPerAddress of them, so varying a
// header (User-Agent, cookies) or fetching the playlist 500 times makes no
// more viewers, while VLC, ffplay and apps behind one NAT still count.
//
// Livehouse's own pages load /hls/SLUG/index.m3u8?via=page: those players
// are counted by their room connection instead, and the frame grabber is
// not a viewer at all.

// SessionParam is the query parameter that carries a playback session id.
const SessionParam = "session"

// ViaParam marks requests from Livehouse's own pages (?via=page).
const ViaParam = "via"

// DefaultPlayersPerAddress is the cap when HLSConfig leaves it zero.
const DefaultPlayersPerAddress = 20

// viewerIdleAfter is how long a player may go without a request and still
// count as watching; LL-HLS players ask every part (~200 ms), VLC every segment.
const viewerIdleAfter = 15 * time.Second

// newSessionID is 96 random bits, URL-safe.
func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewSessionID makes a playback session id (edges issue them to the
// players they serve, as the origin does).
func NewSessionID() string { return newSessionID() }

// ValidSessionID accepts what newSessionID makes (and other short
// URL-safe tokens: ids from before a restart are reused, not re-issued on
// every reload). Anything else is treated as no session.
func ValidSessionID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// playback is what a request says about its player.
type playback struct {
	session string // "" when the request carries none (and none was issued)
	issued  bool   // the session was made for this request
	counted bool   // it is an external player
}

// identify reads (or, for a playlist, issues) the request's playback
// session. When it issues one, the returned request carries it in its query
// so the muxer writes it into every URL of the playlist.
func identify(r *http.Request, playlist bool) (*http.Request, playback) {
	q := r.URL.Query()
	// via=edge: another node pulling for its own viewers (it counts them).
	if !OutsidePlayer(r, q) {
		return r, playback{}
	}
	id := q.Get(SessionParam)
	if ValidSessionID(id) {
		return r, playback{session: id, counted: true}
	}
	if !playlist {
		return r, playback{} // a part or segment fetched outside a playlist
	}
	id = newSessionID()
	q.Set(SessionParam, id)
	r = r.Clone(r.Context())
	r.URL.RawQuery = q.Encode()
	return r, playback{session: id, issued: true, counted: true}
}

// OutsidePlayer reports whether a request (with its query q) comes from a
// player that counts as one: not Livehouse's pages (?via=page), not
// another node pulling for its viewers (?via=edge), not the frame grabber.
func OutsidePlayer(r *http.Request, q url.Values) bool {
	via := q.Get(ViaParam)
	return via != "page" && via != "edge" && r.UserAgent() != frameGrabberAgent
}

// clientHost is the request's client address without the port.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// PlayerSet counts playback sessions seen recently, at most perAddr of
// them from one client address. The media hub keeps one per stream it
// ingests; an edge keeps one per stream it pulls through, and the ingesting
// node adds the edges' counts from their load reports.
type PlayerSet struct {
	mu      sync.Mutex
	perAddr int
	seen    map[string]*player // by session id
	byAddr  map[string]int     // sessions counted per client address
	pruned  time.Time
}

type player struct {
	addr string
	last time.Time
}

func NewPlayerSet(perAddr int) *PlayerSet {
	if perAddr <= 0 {
		perAddr = DefaultPlayersPerAddress
	}
	return &PlayerSet{perAddr: perAddr, seen: map[string]*player{}, byAddr: map[string]int{}}
}

// Touch notes a request of session id from addr. A session is counted
// under the address that brought it first; an address already at its cap
// adds no more sessions (nor memory).
func (p *PlayerSet) Touch(id, addr string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Forget idle players even when nobody asks for the count, so a stream
	// passed around many addresses does not grow this map without bound.
	if now.Sub(p.pruned) > viewerIdleAfter {
		p.prune(now)
	}
	if pl, ok := p.seen[id]; ok {
		pl.last = now
		return
	}
	if p.byAddr[addr] >= p.perAddr {
		return
	}
	p.seen[id] = &player{addr: addr, last: now}
	p.byAddr[addr]++
}

// Forget stops counting a session (a player moved to another node).
func (p *PlayerSet) Forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl, ok := p.seen[id]; ok {
		delete(p.seen, id)
		if p.byAddr[pl.addr]--; p.byAddr[pl.addr] <= 0 {
			delete(p.byAddr, pl.addr)
		}
	}
}

// Count is how many players were seen in the last 15 s.
func (p *PlayerSet) Count(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	return len(p.seen)
}

func (p *PlayerSet) prune(now time.Time) {
	for id, pl := range p.seen {
		if now.Sub(pl.last) > viewerIdleAfter {
			delete(p.seen, id)
			if p.byAddr[pl.addr]--; p.byAddr[pl.addr] <= 0 {
				delete(p.byAddr, pl.addr)
			}
		}
	}
	p.pruned = now
}

// isPlaylist reports whether an LL-HLS file name is a playlist.
func isPlaylist(file string) bool { return strings.HasSuffix(file, ".m3u8") }
