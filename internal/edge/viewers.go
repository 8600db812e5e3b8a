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
