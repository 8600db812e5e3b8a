package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// rtmpSink is an RTMP server made of `ffmpeg -listen 1` processes writing
// what they receive to FLV files: a stand-in for YouTube or Twitch. One
// such process takes one publisher and exits, so the sink starts another
// each time one ends, as a real server keeps listening, until kill.
type rtmpSink struct {
	t    *testing.T
	port string
	dir  string

	mu    sync.Mutex
	cmd   *exec.Cmd
	runs  int
	files []string
	stop  chan struct{}
	done  chan struct{}
}

func startRTMPSink(t *testing.T, port, dir string) *rtmpSink {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	s := &rtmpSink{t: t, port: port, dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			s.mu.Lock()
			s.runs++
			file := filepath.Join(dir, "sink-"+port+"-"+strconv.Itoa(len(s.files)+1)+".flv")
			cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-listen", "1",
				"-i", "rtmp://127.0.0.1:"+port+"/live/x", "-c", "copy", "-f", "flv", "-y", file)
			cmd.Stderr = &testLogWriter{t: t, prefix: "sink: "}
			err := cmd.Start()
			if err == nil {
				s.cmd = cmd
				s.files = append(s.files, file)
			}
			s.mu.Unlock()
			if err != nil {
				t.Errorf("start sink: %v", err)
				return
			}
			_ = cmd.Wait()
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(s.kill)
	return s
}

// kill ends the sink the hard way (a crash, a network cut).
func (s *rtmpSink) kill() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.mu.Lock()
	_ = s.cmd.Process.Kill()
	s.mu.Unlock()
	<-s.done
}

// received is the size of the largest file the sink wrote.
func (s *rtmpSink) received() (int64, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best int64
	var file string
	for _, f := range s.files {
		if st, err := os.Stat(f); err == nil && st.Size() >= best {
			best, file = st.Size(), f
		}
	}
	return best, file
}

type destView struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	URL      string `json:"url"`
	Key      string `json:"key"`
	Enabled  bool   `json:"enabled"`
	State    struct {
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Detail  string `json:"detail"`
		RetryAt int64  `json:"retry_at"`
		Slate   bool   `json:"slate"`
	} `json:"state"`
}

func destinations(t *testing.T, b *browser, slug string) []destView {
	t.Helper()
	r := b.do("GET", "/api/channels/"+slug+"/destinations", nil)
	if r.code != http.StatusOK {
		t.Fatalf("list destinations: %d %s", r.code, r.raw)
	}
	var out struct {
		Destinations []destView `json:"destinations"`
	}
	decodeInto(t, r.raw, &out)
	return out.Destinations
}

func destState(t *testing.T, b *browser, slug string, id int64) destView {
	t.Helper()
	for _, d := range destinations(t, b, slug) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("destination %d not listed", id)
	return destView{}
}

// TestSimulcastTwoDestinations: a channel live on node A is re-sent to a
// second Livehouse (node B) and to an ffmpeg RTMP sink; killing the sink
// shows "retrying" and it resumes when the sink is back, while node B's
// stream never notices.
func TestSimulcastTwoDestinations(t *testing.T) {
	needTool(t, "ffmpeg")
	ffprobe := needTool(t, "ffprobe")
	a := startNode(t, "")
	b := startNode(t, "")
	cast := newUser(t, a, "caster", true)
	r := cast.do("POST", "/api/channels", map[string]any{"slug": "origin", "title": "Origin"})
	if r.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	keyA := r.str("stream_key")
	keyB := b.createChannel("mirror")

	port := freePort(t)
	dir := t.TempDir()
	sink := startRTMPSink(t, port, dir)

	r = cast.do("POST", "/api/channels/origin/destinations", map[string]any{"name": "Node B", "url": b.rtmp, "key": keyB})
	if r.code != http.StatusCreated {
		t.Fatalf("add node B: %d %s", r.code, r.raw)
	}
	var toB destView
	decodeInto(t, r.raw, &toB)
	if toB.Key != "••••"+keyB[len(keyB)-4:] || strings.Contains(r.raw, keyB) || toB.Protocol != "rtmp" || !toB.Enabled {
		t.Fatalf("added destination shows %+v (%s)", toB, r.raw)
	}
	r = cast.do("POST", "/api/channels/origin/destinations", map[string]any{"name": "Sink",
		"url": "rtmp://127.0.0.1:" + port + "/live/x"})
	if r.code != http.StatusCreated {
		t.Fatalf("add sink: %d %s", r.code, r.raw)
	}
	var toSink destView
	decodeInto(t, r.raw, &toSink)
	// A third one with a key node B does not know: it fails, alone.
	r = cast.do("POST", "/api/channels/origin/destinations", map[string]any{"name": "Wrong key", "url": b.rtmp, "key": "live_wrongwrongwrong"})
	if r.code != http.StatusCreated {
		t.Fatalf("add wrong key: %d %s", r.code, r.raw)
	}
	var toWrong destView
	decodeInto(t, r.raw, &toWrong)

	// The key is sealed at rest: the column holds no trace of it.
	var sealed string
	if err := a.app.DB.QueryRow(`SELECT key_ciphertext FROM simulcast_destinations WHERE id = $1`, toB.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if sealed == "" || strings.Contains(sealed, keyB) {
		t.Fatalf("stored key %q is not sealed", sealed)
	}
	for _, d := range destinations(t, cast, "origin") {
		if strings.Contains(d.Key, keyB) {
			t.Fatalf("listing shows the key: %+v", d)
		}
		if d.State.State != "idle" {
			t.Errorf("destination %d is %q before the channel is live", d.ID, d.State.State)
		}
	}

	stopPublisher := publishUntil(t, a, keyA)
	waitFor(t, 20*time.Second, "node A live", func() bool { return a.channel("origin").Live })
	waitFor(t, 30*time.Second, "node B's mirror live", func() bool { return b.channel("mirror").Live })
	waitFor(t, 30*time.Second, "both destinations live", func() bool {
		return destState(t, cast, "origin", toB.ID).State.State == "live" && destState(t, cast, "origin", toSink.ID).State.State == "live"
	})
	waitFor(t, 30*time.Second, "the sink to receive 200 kB", func() bool { n, _ := sink.received(); return n > 200_000 })
	waitFor(t, 60*time.Second, "the wrong key's destination to fail", func() bool {
		st := destState(t, cast, "origin", toWrong.ID).State
		return st.State == "failed" && st.Reason == "refused"
	})
	mirror := b.channel("mirror")
	if len(mirror.Tracks) != 2 || mirror.Tracks[0].Codec != "h264" || mirror.Tracks[0].Width != 1280 || mirror.Tracks[1].Codec != "aac" {
		t.Fatalf("node B's tracks = %+v, want the source's H.264 1280x720 and AAC", mirror.Tracks)
	}

	// The sink dies: its destination retries; node B goes on.
	sink.kill()
	waitFor(t, 30*time.Second, "the sink's destination to retry", func() bool {
		d := destState(t, cast, "origin", toSink.ID)
		return d.State.State == "retrying" && d.State.RetryAt > 0 && d.State.Reason != ""
	})
	if st := destState(t, cast, "origin", toB.ID).State.State; st != "live" {
		t.Fatalf("node B's destination is %q while the sink retries", st)
	}
	sink2 := startRTMPSink(t, port, t.TempDir())
	waitFor(t, 60*time.Second, "the sink's destination live again", func() bool {
		return destState(t, cast, "origin", toSink.ID).State.State == "live"
	})
	waitFor(t, 30*time.Second, "the restarted sink to receive 200 kB", func() bool { n, _ := sink2.received(); return n > 200_000 })

	// The publisher goes away: both destinations are held with the
	// fallback image, so neither platform's stream ends; it comes back
	// within the grace period and they carry it again.
	t.Log("publisher stops")
	stopPublisher()
	waitFor(t, 20*time.Second, "node A offline", func() bool { return !a.channel("origin").Live })
	waitFor(t, 20*time.Second, "both destinations on the fallback image", func() bool {
		x, y := destState(t, cast, "origin", toB.ID).State, destState(t, cast, "origin", toSink.ID).State
		return x.State == "live" && x.Slate && y.State == "live" && y.Slate
	})
	// Node B ends a stream that sends nothing for 5 s (RTMPReadTimeout):
	// 7 s away, it must have been fed the slate.
	time.Sleep(7 * time.Second) // the length of the outage, not an assertion on timing
	if !b.channel("mirror").Live {
		t.Fatal("node B's mirror ended while the source was away")
	}
	if st := destState(t, cast, "origin", toSink.ID).State; st.State != "live" || !st.Slate {
		t.Fatalf("the sink's destination is %+v after 7 s on the fallback image", st)
	}
	t.Log("publisher back")
	publishUntil(t, a, keyA)
	waitFor(t, 20*time.Second, "node A live again", func() bool { return a.channel("origin").Live })
	waitFor(t, 30*time.Second, "both destinations carrying the source again", func() bool {
		x, y := destState(t, cast, "origin", toB.ID).State, destState(t, cast, "origin", toSink.ID).State
		return x.State == "live" && !x.Slate && y.State == "live" && !y.Slate
	})
	back, _ := sink2.received()
	waitFor(t, 30*time.Second, "the sink to receive 1 MB more of the source", func() bool { n, _ := sink2.received(); return n > back+1_000_000 })
	sink2.kill()
	_, file := sink2.received()
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", file).Output()
	if err != nil || !strings.Contains(string(out), "h264,1280,720") || !strings.Contains(string(out), "aac") {
		t.Fatalf("ffprobe of the sink's recording: %q %v", out, err)
	}

	// Node B's stream never broke: one session, still live.
	if !b.channel("mirror").Live {
		t.Fatal("node B's mirror went offline")
	}
	var sessions struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if code := b.api("GET", "/api/channels/mirror/sessions", "", nil, &sessions); code != 200 || len(sessions.Sessions) != 1 {
		t.Fatalf("node B's sessions: %d %+v, want exactly one", code, sessions)
	}

	for _, l := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(l, "simulcast") {
			t.Log(l)
		}
	}

	// Switching a destination off ends its stream there.
	if r := cast.do("PATCH", "/api/channels/origin/destinations/"+strconv.FormatInt(toB.ID, 10), map[string]any{"enabled": false}); r.code != 200 {
		t.Fatalf("switch off: %d %s", r.code, r.raw)
	}
	waitFor(t, 30*time.Second, "node B's mirror offline after switching it off", func() bool { return !b.channel("mirror").Live })
	waitFor(t, 10*time.Second, "the switched-off destination idle", func() bool {
		return destState(t, cast, "origin", toB.ID).State.State == "idle"
	})
}

// publishUntil publishes the fixture to n in a loop until the returned
// function (also called at cleanup) stops it.
func publishUntil(t *testing.T, n *testNode, key string) func() {
	t.Helper()
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("publish: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func decodeInto(t *testing.T, raw string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
}

// TestSimulcastAPIRefusals: validation, the limit of 8, owner only.
func TestSimulcastAPIRefusals(t *testing.T) {
	eachEngine(t, testSimulcastAPIRefusals)
}

func testSimulcastAPIRefusals(t *testing.T, n *testNode) {
	own := newUser(t, n, "owner1", true)
	if r := own.do("POST", "/api/channels", map[string]any{"slug": "chan1", "title": "Chan"}); r.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	for _, bad := range []map[string]any{
		{"name": "x", "url": "http://example.com/live"},
		{"name": "x", "url": "rtmp://"},
		{"name": "", "url": "rtmp://example.com/live"},
		{"name": "x", "url": "rtmp://example.com/live", "key": "has space"},
	} {
		r := own.do("POST", "/api/channels/chan1/destinations", bad)
		if r.code != http.StatusBadRequest || r.str("code") == "" {
			t.Errorf("POST %v: %d %s, want 400 with a code", bad, r.code, r.raw)
		}
	}
	if r := own.do("POST", "/api/channels/chan1/destinations", map[string]any{"name": "x", "url": "ftp://h/x"}); r.str("code") != "bad_destination_url" {
		t.Errorf("bad URL code = %q", r.str("code"))
	}
	for i := range 8 {
		r := own.do("POST", "/api/channels/chan1/destinations", map[string]any{"name": "d" + strconv.Itoa(i),
			"url": "rtmps://live.example.com:443/app", "key": "secret-key-" + strconv.Itoa(i), "enabled": false})
		if r.code != http.StatusCreated {
			t.Fatalf("add %d: %d %s", i, r.code, r.raw)
		}
		if strings.Contains(r.raw, "secret-key") || r.str("key") != "••••ey-"+strconv.Itoa(i) {
			t.Fatalf("key shown: %s", r.raw)
		}
	}
	if r := own.do("POST", "/api/channels/chan1/destinations", map[string]any{"name": "ninth", "url": "srt://h:9000?streamid=x"}); r.code != http.StatusConflict || r.str("code") != "too_many_destinations" {
		t.Fatalf("ninth: %d %s", r.code, r.raw)
	}
	ds := destinations(t, own, "chan1")
	if len(ds) != 8 {
		t.Fatalf("%d destinations", len(ds))
	}
	// A new key replaces the old one; the URL can change protocol.
	id := strconv.FormatInt(ds[0].ID, 10)
	if r := own.do("PATCH", "/api/channels/chan1/destinations/"+id, map[string]any{"key": "another-key-wxyz", "url": "srt://h:9000"}); r.code != 200 ||
		r.str("key") != "••••wxyz" || r.str("protocol") != "srt" {
		t.Fatalf("patch: %d %s", r.code, r.raw)
	}
	// Someone else's channel: refused; so is an anonymous caller.
	other := newUser(t, n, "other1", true)
	for _, c := range []*browser{other, n.browser("127.0.0.1")} {
		if r := c.do("GET", "/api/channels/chan1/destinations", nil); r.code != http.StatusForbidden && r.code != http.StatusUnauthorized {
			t.Errorf("a stranger lists destinations: %d %s", r.code, r.raw)
		}
		if r := c.do("DELETE", "/api/channels/chan1/destinations/"+id, nil); r.code != http.StatusForbidden && r.code != http.StatusUnauthorized {
			t.Errorf("a stranger deletes a destination: %d %s", r.code, r.raw)
		}
	}
	if r := own.do("DELETE", "/api/channels/chan1/destinations/"+id, nil); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	if r := own.do("DELETE", "/api/channels/chan1/destinations/"+id, nil); r.code != 404 || r.str("code") != "no_such_destination" {
		t.Fatalf("delete again: %d %s", r.code, r.raw)
	}
}

// TestChromiumSimulcastPanel: the studio's Simulcast panel (e2e/simulcast.mjs)
// in English and Chinese at 1280 and 375 px: destinations added through
// the form, one live (node B), one retrying (nothing listens), keys masked.
func TestChromiumSimulcastPanel(t *testing.T) {
	node, chromium := needPlaywright(t)
	a := startNode(t, "")
	b := startNode(t, "")
	caster := newUser(t, a, "panelist", true)
	r := caster.do("POST", "/api/channels", map[string]any{"slug": "panel", "title": "Panel"})
	if r.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	keyB := b.createChannel("panel-mirror")
	stopPublisher := publishUntil(t, a, r.str("stream_key"))
	waitFor(t, 20*time.Second, "node A live", func() bool { return a.channel("panel").Live })
	bad := "rtmp://127.0.0.1:" + freePort(t) + "/live/x"
	base := strings.Replace(a.http, "127.0.0.1", "localhost", 1)
	var lines []string
	for _, lang := range []string{"en", "zh-CN"} {
		out := runBrowser(t, node, chromium, "simulcast.mjs", []string{base, lang, "panel", "panelist", "panelist-password", b.rtmp, keyB, bad,
			os.Getenv("LIVEHOUSE_SCREENSHOTS")}, "SIM lang="+lang+" width=1280", "SIM lang="+lang+" width=375", "OFF ")
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "SIM ") {
				lines = append(lines, l)
			}
		}
		if lang == "en" && !strings.Contains(out, `REFUSED "The server URL must start with rtmp://`) {
			t.Errorf("the bad URL's refusal is not explained in English:\n%s", out)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d SIM lines, want 4", len(lines))
	}
	masked := "••••" + keyB[len(keyB)-4:]
	for _, l := range lines {
		if !strings.Contains(l, `states=["live","retrying"]`) || !strings.Contains(l, masked) || strings.Contains(l, keyB) {
			t.Errorf("%s\nwant live and retrying, the key masked as %s", l, masked)
		}
		if strings.Contains(l, "width=375") && !strings.Contains(l, "scroll_width=375") {
			t.Errorf("the 375 px studio scrolls sideways: %s", l)
		}
	}
	if !b.channel("panel-mirror").Live {
		t.Error("node B is not receiving the stream")
	}
	// The source goes away: the panel says the destination is on the fallback image.
	stopPublisher()
	runBrowser(t, node, chromium, "simulcast.mjs", []string{base, "en", "panel", "panelist", "panelist-password", b.rtmp, keyB, bad,
		os.Getenv("LIVEHOUSE_SCREENSHOTS"), "slate"}, `SLATE "Live · fallback image`)
}

// TestSimulcastSRT: an SRT destination (node B's SRT ingest, the key as
// the streamid) receives the stream as MPEG-TS.
func TestSimulcastSRT(t *testing.T) {
	a := startNode(t, "")
	b := startNode(t, "")
	cast := newUser(t, a, "srtcaster", true)
	r := cast.do("POST", "/api/channels", map[string]any{"slug": "srt-origin", "title": "SRT origin"})
	if r.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	keyA := r.str("stream_key")
	keyB := b.createChannel("srt-mirror")
	r = cast.do("POST", "/api/channels/srt-origin/destinations", map[string]any{"name": "B over SRT",
		"url": "srt://" + b.app.SRT.Addr().String(), "key": "publish:" + keyB})
	if r.code != http.StatusCreated || r.str("protocol") != "srt" {
		t.Fatalf("add: %d %s", r.code, r.raw)
	}
	publishUntil(t, a, keyA)
	waitFor(t, 30*time.Second, "node B's channel live over SRT", func() bool { return b.channel("srt-mirror").Live })
	waitFor(t, 30*time.Second, "the destination live", func() bool {
		return destState(t, cast, "srt-origin", int64(r.body["id"].(float64))).State.State == "live"
	})
	m := b.channel("srt-mirror")
	if len(m.Tracks) != 2 || m.Tracks[0].Codec != "h264" || m.Tracks[0].Width != 1280 || m.Tracks[1].Codec != "aac" {
		t.Fatalf("node B's tracks over SRT = %+v", m.Tracks)
	}
}
