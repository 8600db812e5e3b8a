package media

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParamsArePutBeforeKeyframes(t *testing.T) {
	sps, pps := []byte{0x67, 1}, []byte{0x68, 2}
	p := &videoParams{codec: H264, sps: sps, pps: pps}
	idr, slice := []byte{0x65, 9}, []byte{0x41, 9}

	got, key := p.process([][]byte{idr})
	if !key || len(got) != 3 || got[0][0] != 0x67 || got[1][0] != 0x68 || got[2][0] != 0x65 {
		t.Fatalf("IDR without params became %x (key %v)", got, key)
	}
	if got, key := p.process([][]byte{slice}); len(got) != 1 || key {
		t.Fatalf("non-IDR changed: %x (key %v)", got, key)
	}
	// A parameter-only unit updates the sets and is not passed on.
	newSPS := []byte{0x67, 7}
	if got, _ := p.process([][]byte{newSPS, pps}); got != nil {
		t.Fatalf("parameter-only unit passed on: %x", got)
	}
	got, _ = p.process([][]byte{idr})
	if got[0][1] != 7 {
		t.Fatalf("new SPS not used: %x", got)
	}
	// An IDR that carries its params keeps them, without duplicates.
	got, _ = p.process([][]byte{newSPS, pps, idr})
	if len(got) != 3 {
		t.Fatalf("IDR with params became %x", got)
	}

	h := &videoParams{codec: H265, vps: []byte{0x40, 1}, sps: []byte{0x42, 1}, pps: []byte{0x44, 1}}
	irap := []byte{19 << 1, 1} // IDR_W_RADL
	if got, key := h.process([][]byte{irap}); len(got) != 4 || !key {
		t.Fatalf("H.265 IRAP became %x (key %v)", got, key)
	}
}

func TestTimestampChecks(t *testing.T) {
	s := &Stream{Tracks: []*Track{{Codec: H264}, {Codec: AAC}}}
	ok := []Frame{
		{Track: 0, DTS: 0, PTS: 66 * time.Millisecond},
		{Track: 1, DTS: 10 * time.Millisecond, PTS: 10 * time.Millisecond},
		{Track: 0, DTS: 33 * time.Millisecond, PTS: 33 * time.Millisecond},
		{Track: 0, DTS: 20 * time.Millisecond, PTS: 40 * time.Millisecond}, // small step back: tolerated
	}
	for _, f := range ok {
		if err := s.checkTimestamps(f); err != nil {
			t.Fatalf("%+v refused: %v", f, err)
		}
	}
	bad := []Frame{
		{Track: 0, DTS: time.Hour, PTS: time.Hour},
		{Track: 1, DTS: -5 * time.Second, PTS: -5 * time.Second},
		{Track: 0, DTS: 40 * time.Millisecond, PTS: 40*time.Millisecond + 20*time.Second},
	}
	for _, f := range bad {
		if err := s.checkTimestamps(f); !errors.Is(err, ErrBadTimestamp) {
			t.Errorf("%+v: %v, want ErrBadTimestamp", f, err)
		}
	}
}

func TestDurationToTicks(t *testing.T) {
	if got := durationToTicks(time.Second, 90000); got != 90000 {
		t.Fatal(got)
	}
	if got := durationToTicks(1500*time.Millisecond, 48000); got != 72000 {
		t.Fatal(got)
	}
	// A month-long stream must not overflow.
	if got := durationToTicks(30*24*time.Hour, 90000); got != 30*24*3600*90000 {
		t.Fatal(got)
	}
}

func TestParsePartName(t *testing.T) {
	if n, ok := parsePartName("0c17_video1_part42.mp4"); !ok || n != 42 {
		t.Fatalf("got %d %v", n, ok)
	}
	for _, name := range []string{"0c17_video1_seg3.mp4", "index.m3u8", "x_part.mp4", "x_part-1.mp4", "x_part9.ts"} {
		if _, ok := parsePartName(name); ok {
			t.Errorf("%s parsed as a part", name)
		}
	}
}

func TestPlayersExpire(t *testing.T) {
	p := NewPlayerSet(20)
	now := time.Now()
	p.Touch("a", "10.0.0.1", now)
	p.Touch("a", "10.0.0.1", now) // the same player twice
	p.Touch("b", "10.0.0.2", now.Add(-20*time.Second))
	if n := p.Count(now); n != 1 {
		t.Fatalf("players = %d, want 1", n)
	}
	// The idle one's address may count a new session again.
	if len(p.byAddr) != 1 || p.byAddr["10.0.0.2"] != 0 {
		t.Fatalf("per-address counts %v", p.byAddr)
	}
}

// A forgotten player stops counting, and its address may count another.
func TestPlayerForgotten(t *testing.T) {
	p := NewPlayerSet(1)
	now := time.Now()
	p.Touch("a", "10.0.0.1", now)
	p.Touch("b", "10.0.0.1", now) // over the cap of one
	p.Forget("a")
	p.Forget("nobody")
	if n := p.Count(now); n != 0 {
		t.Fatalf("players = %d after forgetting the only one", n)
	}
	p.Touch("b", "10.0.0.1", now)
	if n := p.Count(now); n != 1 {
		t.Fatalf("players = %d, want the address's new session", n)
	}
}

func FuzzParsePartName(f *testing.F) {
	f.Add("abc_video1_part7.mp4")
	f.Fuzz(func(t *testing.T, name string) {
		parsePartName(name)
	})
}

// TestHardening18IdentifyIssuesSessions: a playlist request without a
// session gets one in its query (which gohlslib copies into every URL);
// the pages' players and the frame grabber get none; parts and segments
// never get one issued.
func TestHardening18IdentifyIssuesSessions(t *testing.T) {
	req := func(target, agent string) *http.Request {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("User-Agent", agent)
		return r
	}
	r, pb := identify(req("/hls/x/index.m3u8?token=abc", "VLC"), true)
	id := r.URL.Query().Get(SessionParam)
	if !pb.issued || !pb.counted || pb.session != id || !ValidSessionID(id) || r.URL.Query().Get("token") != "abc" {
		t.Fatalf("issued %+v, query %q", pb, r.URL.RawQuery)
	}
	if _, again := identify(req("/hls/x/video1_stream.m3u8?session="+id+"&_HLS_msn=3&_HLS_part=1", "VLC"), true); again.issued || again.session != id {
		t.Fatalf("a request carrying its session: %+v", again)
	}
	if _, seg := identify(req("/hls/x/abc_video1_seg3.mp4?session="+id, "VLC"), false); !seg.counted || seg.session != id {
		t.Fatalf("segment with session: %+v", seg)
	}
	if _, seg := identify(req("/hls/x/abc_video1_seg3.mp4", "VLC"), false); seg.counted || seg.issued {
		t.Fatalf("segment without session: %+v", seg)
	}
	for _, bad := range []string{strings.Repeat("a", 33), "a b", "a%2Fb", "<x>"} {
		if r, pb := identify(req("/hls/x/index.m3u8?session="+url.QueryEscape(bad), "VLC"), true); !pb.issued || r.URL.Query().Get(SessionParam) == bad {
			t.Errorf("session %q was kept: %+v", bad, pb)
		}
	}
	for _, r := range []*http.Request{req("/hls/x/index.m3u8?via=page", "Chromium"), req("/hls/x/index.m3u8", frameGrabberAgent)} {
		r2, pb := identify(r, true)
		if pb.counted || pb.issued || r2.URL.Query().Has(SessionParam) {
			t.Errorf("%s %s: %+v", r.URL, r.UserAgent(), pb)
		}
	}
}

// TestHardening18PlayersCappedPerAddress: 500 sessions from one address
// count as the cap; another address has its own.
func TestHardening18PlayersCappedPerAddress(t *testing.T) {
	p := NewPlayerSet(0)
	now := time.Now()
	for i := 0; i < 500; i++ {
		p.Touch(newSessionID(), "10.0.0.1", now)
	}
	p.Touch(newSessionID(), "10.0.0.2", now)
	if n := p.Count(now); n != DefaultPlayersPerAddress+1 {
		t.Fatalf("players = %d, want %d", n, DefaultPlayersPerAddress+1)
	}
	if len(p.seen) > DefaultPlayersPerAddress+1 {
		t.Fatalf("%d sessions kept in memory", len(p.seen))
	}
	// Once they go idle the address may count new players again.
	later := now.Add(viewerIdleAfter + time.Second)
	p.Touch(newSessionID(), "10.0.0.1", later)
	if n := p.Count(later); n != 1 {
		t.Fatalf("after idling: %d players", n)
	}
}

// A playlist carrying a session issued to one client must not be stored by
// a shared cache, whatever the muxer marked it.
func TestPrivateCache(t *testing.T) {
	for in, want := range map[string]string{
		"public, max-age=30": "private, max-age=30",
		"max-age=30":         "private, max-age=30",
		"no-cache":           "private, no-cache",
		"":                   "private",
	} {
		if got := privateCache(in); got != want {
			t.Errorf("privateCache(%q) = %q, want %q", in, got, want)
		}
	}
}
