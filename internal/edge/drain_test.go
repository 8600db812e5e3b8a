package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/live"
)

// pulledOnly is a directory in which this node ingests nothing: every
// stream is pulled from --upstream.
type pulledOnly struct{ live.Directory }

func (pulledOnly) Lookup(string) (live.State, bool) { return live.State{}, false }

// embeddedBus is an embedded NATS server for one test.
func embeddedBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open("", discard(), bus.WithStoreDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// loadsOf starts node id's load reports on b with report's figures.
func loadsOf(t *testing.T, b *bus.Bus, id int, report live.LoadReport) *live.Loads {
	t.Helper()
	l, err := live.NewLoads(b.Conn, id, live.LoadsOptions{Every: 50 * time.Millisecond,
		Report: func(time.Duration) live.LoadReport { return report }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// TestDrainingNodeMovesPlayers: a draining edge answers players' playlist
// requests with a move to the other edge (503 + X-Livehouse-Move-To for
// the watch page, 307 for others), still serves parts and other edges,
// and keeps serving everything when there is nowhere to move them.
func TestDrainingNodeMovesPlayers(t *testing.T) {
	up := newUpstream(t)
	close(up.release)
	b := embeddedBus(t)

	s := newTestService(t, up.srv.URL)
	s.d.Directory = pulledOnly{}
	s.d.Drain = &live.Drain{}
	s.d.Drain.Start()
	s.loads = loadsOf(t, b, 1, live.LoadReport{Role: "edge", PublicURL: "http://self.example", Draining: true})
	var forgotLocal []string
	s.d.ForgetLocal = func(slug, session string) { forgotLocal = append(forgotLocal, slug+"/"+session) }

	serve := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", target, nil)
		r.SetPathValue("slug", "show")
		s.ServeHLS(rec, r)
		return rec
	}

	// Alone: nowhere to go, so players are served until the deadline.
	if rec := serve("/hls/show/stream.m3u8?via=page"); rec.Code != 200 {
		t.Fatalf("alone, draining: %d %s", rec.Code, rec.Body)
	}
	// An outside player watching here (session abc) counts here, until it
	// is moved below.
	if rec := serve("/hls/show/stream.m3u8?session=abc"); rec.Code != 200 || s.players.counts(time.Now())["show"] != 1 {
		t.Fatalf("an outside player, alone: %d, counted %v", rec.Code, s.players.counts(time.Now()))
	}

	loadsOf(t, b, 2, live.LoadReport{Role: "edge", PublicURL: "http://other.example"})
	waitUntil(t, func() bool { return len(s.loads.Nodes()) == 2 })
	before := s.lastPlayer.Load()

	rec := serve("/hls/show/stream.m3u8?via=page&_HLS_msn=3")
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"code":"node_draining"`) || rec.Header().Get("X-Livehouse-Move-To") != "node-2" {
		t.Fatalf("the watch page's playlist: %d %s %v", rec.Code, rec.Body, rec.Header())
	}
	rec = serve("/hls/show/stream.m3u8?session=abc&_HLS_msn=3&_HLS_part=1")
	if want := "http://other.example/hls/show/stream.m3u8?session=abc&_HLS_msn=3&_HLS_part=1"; rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != want {
		t.Fatalf("an outside player's playlist: %d to %q, want 307 to %s", rec.Code, rec.Header().Get("Location"), want)
	}
	if len(forgotLocal) != 1 || forgotLocal[0] != "show/abc" {
		t.Fatalf("the local muxer was told to forget %v, want [show/abc] (a stream ingested here counts its players there)", forgotLocal)
	}
	if n := s.players.counts(time.Now())["show"]; n != 0 {
		t.Fatalf("a player moved to another node still counts here (%d): the stream would count it twice", n)
	}
	if s.lastPlayer.Load() != before {
		t.Fatal("a moved request counted as a player served here: the drain would wait for nobody")
	}
	if rec := serve("/hls/show/a_part1.mp4?via=page"); rec.Code != 200 {
		t.Fatalf("a part already asked for: %d", rec.Code)
	}
	if rec := serve("/hls/show/stream.m3u8?via=edge"); rec.Code != 200 {
		t.Fatalf("another edge pulling through this one: %d", rec.Code)
	}
	if !s.PlayersServedWithin(time.Second) || s.movedOff.Load() != 2 {
		t.Fatalf("served recently %v, moved %d", s.PlayersServedWithin(time.Second), s.movedOff.Load())
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
