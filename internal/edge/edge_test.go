package edge

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livehouse/livehouse/internal/live"
)

// upstream is a fake origin muxer: a blocking request waits for release,
// and every request is counted by its path and query.
type upstream struct {
	srv     *httptest.Server
	release chan struct{}
	mu      sync.Mutex
	hits    map[string]int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{release: make(chan struct{}), hits: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits[r.URL.Path+"?"+r.URL.RawQuery]++
		u.mu.Unlock()
		if r.URL.Query().Has("_HLS_msn") || strings.Contains(r.URL.Path, "_part") {
			<-u.release
		}
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			// As gohlslib does: the request's query, without the
			// delivery directives, after every URL.
			q := r.URL.Query()
			q.Del("_HLS_msn")
			q.Del("_HLS_part")
			w.Write([]byte("#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"a_part1.mp4?" + q.Encode() + "\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"a_part2.mp4?" + q.Encode() + "\"\n"))
			return
		}
		w.Write([]byte("part bytes of " + r.URL.Path))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) count() (n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, v := range u.hits {
		n += v
	}
	return n
}

func newTestService(t *testing.T, up string) *Service {
	t.Helper()
	s := &Service{viewers: newViewerSet(), players: newPulledPlayers(2), client: http.DefaultClient}
	s.flights = newFlights(1<<20, 5*time.Second, func() {})
	s.upstreamRequests = newCounterVec("u")
	s.edgeRequests = newCounterVec("e")
	s.log = discard()
	s.d.Upstream = up
	t.Cleanup(s.flights.close)
	return s
}

// TestCoalescesBlockedViewers: 50 viewers blocked on the same part and 50
// on the same blocking playlist reload, each with its own playback
// session, cost upstream one request each; every viewer gets the bytes,
// and each playlist carries the viewer's own session.
func TestCoalescesBlockedViewers(t *testing.T) {
	up := newUpstream(t)
	s := newTestService(t, up.srv.URL)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			session := "viewer" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			target := "/hls/show/a_part2.mp4?session=" + session
			if i%2 == 1 {
				target = "/hls/show/stream.m3u8?_HLS_msn=7&_HLS_part=2&session=" + session
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", target, nil)
			s.pull(rec, req, up.srv.URL)
			body := rec.Body.String()
			switch {
			case rec.Code != 200:
				bad.Add(1)
			case i%2 == 1 && (!strings.Contains(body, "a_part2.mp4?session="+session) || strings.Contains(body, "via=edge")):
				t.Errorf("viewer %d's playlist: %s", i, body)
			case i%2 == 0 && body != "part bytes of /hls/show/a_part2.mp4":
				t.Errorf("viewer %d's part: %q", i, body)
			}
		}()
	}
	// Every viewer is waiting (or about to) before the part exists.
	time.Sleep(300 * time.Millisecond)
	close(up.release)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d viewers failed", bad.Load())
	}
	if n := up.count(); n != 2 {
		t.Fatalf("upstream saw %d requests for 100 viewers of one part and one reload, want 2: %v", n, up.hits)
	}
	for k := range up.hits {
		if !strings.Contains(k, "via=edge") || strings.Contains(k, "session") {
			t.Fatalf("upstream request %q should carry via=edge and no viewer session", k)
		}
	}
	// A part stays cached: a late viewer costs nothing more.
	rec := httptest.NewRecorder()
	s.pull(rec, httptest.NewRequest("GET", "/hls/show/a_part2.mp4", nil), up.srv.URL)
	if rec.Code != 200 || up.count() != 2 {
		t.Fatalf("late viewer: %d, upstream %d", rec.Code, up.count())
	}
}

// TestPlaylistGetsASessionForOutsidePlayers: a player without session or
// via=page gets one in every URL, as the origin would give it.
func TestPlaylistGetsASessionForOutsidePlayers(t *testing.T) {
	up := newUpstream(t)
	close(up.release)
	s := newTestService(t, up.srv.URL)
	rec := httptest.NewRecorder()
	s.pull(rec, httptest.NewRequest("GET", "/hls/show/stream.m3u8", nil), up.srv.URL)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "a_part1.mp4?session=") || strings.Contains(body, "via=edge") {
		t.Fatalf("%d %s", rec.Code, body)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatal("no CORS header: a page on another node cannot read it")
	}
	rec = httptest.NewRecorder()
	s.pull(rec, httptest.NewRequest("GET", "/hls/show/stream.m3u8?via=page", nil), up.srv.URL)
	if body := rec.Body.String(); !strings.Contains(body, "a_part1.mp4?via=page\"") {
		t.Fatalf("page's playlist: %s", body)
	}
}

// TestUpstreamDownIs502: an upstream that refuses connections answers the
// viewer 502 {"error","code"} at once, not a hang.
func TestUpstreamDownIs502(t *testing.T) {
	s := newTestService(t, "http://127.0.0.1:1")
	rec := httptest.NewRecorder()
	s.pull(rec, httptest.NewRequest("GET", "/hls/show/a_part3.mp4", nil), "http://127.0.0.1:1")
	if rec.Code != 502 || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

func TestCacheStaysWithinItsBound(t *testing.T) {
	f := newFlights(1000, time.Second, func() {})
	defer f.close()
	for i := range 50 {
		f.get(context.Background(), url.QueryEscape(string(rune('a'+i))), func(context.Context) (int, http.Header, []byte, time.Duration) {
			return 200, nil, make([]byte, 100), time.Minute
		})
	}
	if b, n := f.usage(); b > 1000 || n != 10 {
		t.Fatalf("cache holds %d bytes in %d answers, bound 1000", b, n)
	}
}

func TestPickPrefersRegionThenLeastLoaded(t *testing.T) {
	mk := func(id int, role, region string, viewers int, healthy bool) live.NodeLoad {
		return live.NodeLoad{LoadReport: live.LoadReport{ID: id, Role: role, Region: region, Viewers: viewers, PublicURL: "http://n"}, Healthy: healthy}
	}
	nodes := []live.NodeLoad{mk(1, "origin", "eu", 0, true), mk(2, "edge", "eu", 500, true), mk(3, "edge", "eu", 10, true),
		mk(4, "edge", "us", 0, true), mk(5, "edge", "eu", 0, false)}
	both := func(i int) int { return []int{0, 1}[i%2] } // draws the first two of the set
	calls := 0
	seq := func(n int) int { calls++; return both(calls) % n }
	if n, _ := pick(nodes, "eu", seq); n.ID != 3 {
		t.Fatalf("eu: picked %d, want the less loaded eu edge 3", n.ID)
	}
	if n, _ := pick(nodes, "us", seq); n.ID != 4 {
		t.Fatalf("us: picked %d", n.ID)
	}
	if n, _ := pick(nodes, "asia", seq); n.ID == 1 || n.ID == 5 {
		t.Fatalf("asia: picked %d (origin or unhealthy)", n.ID)
	}
	if _, ok := pick([]live.NodeLoad{mk(1, "origin", "eu", 0, true)}, "eu", seq); ok {
		t.Fatal("an origin alone is no edge")
	}
}

func newCounterVec(name string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name}, []string{"kind"})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
