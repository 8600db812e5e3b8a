package edge

import (
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

// viewerIdleAfter is how long a player may go without a request and still
// count (as the media hub counts its players).
const viewerIdleAfter = 15 * time.Second

// viewerSet counts the players a node serves, for its load report: a
// playback session (?session=), or for Livehouse's own pages (?via=page)
// and players without one, the client address and browser.
type viewerSet struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	pruned time.Time
}

func newViewerSet() *viewerSet { return &viewerSet{seen: map[string]time.Time{}} }

func (v *viewerSet) touch(r *http.Request, q url.Values) {
	key := q.Get(media.SessionParam)
	if key == "" || len(key) > 32 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		ua := r.UserAgent()
		if len(ua) > 200 {
			ua = ua[:200]
		}
		key = host + "|" + ua
	}
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.pruned) > viewerIdleAfter {
		v.pruneLocked(now)
	}
	v.seen[key] = now
}

func (v *viewerSet) count(now time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(now)
	return len(v.seen)
}

func (v *viewerSet) pruneLocked(now time.Time) {
	for k, t := range v.seen {
		if now.Sub(t) > viewerIdleAfter {
			delete(v.seen, k)
		}
	}
	v.pruned = now
}

// pulledPlayers counts the outside players (VLC, apps: not Livehouse's
// pages, not other edges) of each stream this node pulls through, with the
// media hub's rules (a playback session seen in the last 15 s, at most
// perAddr per client address). The load report carries the counts, and the
// ingesting node adds them to the stream's viewers.
type pulledPlayers struct {
	mu      sync.Mutex
	perAddr int
	streams map[string]*media.PlayerSet // by channel slug
}

func newPulledPlayers(perAddr int) *pulledPlayers {
	return &pulledPlayers{perAddr: perAddr, streams: map[string]*media.PlayerSet{}}
}

// touch notes a pulled-through request of an outside player's session.
func (p *pulledPlayers) touch(slug, session string, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	set := p.streams[slug]
	if set == nil {
		set = media.NewPlayerSet(p.perAddr)
		p.streams[slug] = set
	}
	// Under p.mu: counts must not drop a set between its lookup and this.
	set.Touch(session, host, time.Now())
}

// forget stops counting a player this node sent elsewhere (a draining
// node's 307): the node it moved to counts it now.
func (p *pulledPlayers) forget(slug, session string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if set := p.streams[slug]; set != nil {
		set.Forget(session)
	}
}

// counts returns the streams with players now, and forgets the others.
func (p *pulledPlayers) counts(now time.Time) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out map[string]int
	for slug, set := range p.streams {
		n := set.Count(now)
		if n == 0 {
			delete(p.streams, slug)
			continue
		}
		if out == nil {
			out = map[string]int{}
		}
		out[slug] = n
	}
	return out
}
