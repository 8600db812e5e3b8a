package edge

import (
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
)

// TestOutsidePlayersOnAnEdgeCountOnTheOrigin: players an edge serves a
// pulled stream to (VLC and the like, by playback session, capped per
// address) reach the ingesting node through the load reports; Livehouse's
// pages, other edges and the frame grabber do not count, and a silent
// edge's players stop counting.
func TestOutsidePlayersOnAnEdgeCountOnTheOrigin(t *testing.T) {
	up := newUpstream(t)
	close(up.release)
	b := embeddedBus(t)

	e := newTestService(t, up.srv.URL) // caps two players per address
	get := func(target, addr, agent string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr = addr + ":40000"
		r.Header.Set("User-Agent", agent)
		r.SetPathValue("slug", "show")
		e.pull(rec, r, up.srv.URL)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	session := regexp.MustCompile(`session=([A-Za-z0-9_-]+)`)
	// Three players from one address (the cap is two), one from another;
	// each keeps coming back with the session its first playlist gave it.
	for _, addr := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		m := session.FindStringSubmatch(get("/hls/show/index.m3u8", addr, "VLC"))
		if m == nil {
			t.Fatal("no session issued")
		}
		get("/hls/show/a_part1.mp4?session="+m[1], addr, "VLC")
	}
	get("/hls/show/index.m3u8?via=page", "10.0.0.3", "Chromium")
	get("/hls/show/index.m3u8?via=edge", "10.0.0.4", "livehouse-edge")
	get("/hls/show/index.m3u8", "10.0.0.5", media.FrameGrabberAgent)
	if got := e.players.counts(time.Now()); got["show"] != 3 || len(got) != 1 {
		t.Fatalf("edge counts %v, want show: 3", got)
	}

	edgeLoads, err := live.NewLoads(b.Conn, 1, live.LoadsOptions{Every: 50 * time.Millisecond,
		Report: func(time.Duration) live.LoadReport {
			return live.LoadReport{Role: "edge", Players: e.players.counts(time.Now())}
		}})
	if err != nil {
		t.Fatal(err)
	}
	origin := newTestService(t, "")
	origin.loads = loadsOf(t, b, 2, live.LoadReport{Role: "origin", Players: map[string]int{"show": 7}})
	waitUntil(t, func() bool { return origin.PlayersElsewhere("show") == 3 })
	if n := origin.PlayersElsewhere("other"); n != 0 {
		t.Fatalf("another stream: %d", n)
	}
	// The edge stops reporting: after 3 s its players are not counted.
	edgeLoads.Close()
	deadline := time.Now().Add(live.HealthyWithin + 2*time.Second)
	for origin.PlayersElsewhere("show") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a silent edge's players still count: %d", origin.PlayersElsewhere("show"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
