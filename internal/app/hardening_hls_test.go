package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/config"
)

// Issue 10, HLS items: 18 (viewer counts cannot be inflated by varying a
// header) and 21 (the end of a stream is not a 500).

// publishFixtureFFmpeg publishes the committed FLV over RTMP with ffmpeg,
// looped in real time and copied (no encoding), until stopped.
func publishFixtureFFmpeg(t *testing.T, rtmpURL string) *exec.Cmd {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", fixturePath(), "-c", "copy", "-f", "flv", rtmpURL)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
	return cmd
}

// waitForParts waits until the channel's media playlist has LL-HLS parts.
func waitForParts(t *testing.T, n *testNode, slug string) {
	t.Helper()
	waitFor(t, 20*time.Second, slug+" live with parts", func() bool {
		code, body := httpGet(t, n.http+"/hls/"+slug+"/video1_stream.m3u8?via=page")
		return code == 200 && strings.Contains(body, "#EXT-X-PART:")
	})
}

// getAs fetches url from fromIP with a User-Agent.
func getAs(t *testing.T, fromIP, url, agent string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("User-Agent", agent)
	res, err := proxyClient(fromIP).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metric reads one sample of /metrics ("name{labels}"), -1 when absent.
func metric(t *testing.T, n *testNode, series string) float64 {
	t.Helper()
	_, body := httpGet(t, n.http+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, line)
			}
			return v
		}
	}
	return -1
}

var sessionParam = regexp.MustCompile(`[?&]session=([A-Za-z0-9_-]+)`)

// TestHardening18PlayerSessionsNotHeaders: HLS viewers are playback
// sessions the server issues in playlist URLs, capped per address. 500
// playlist fetches with different User-Agents from one address make at
// most the cap (20); a real ffmpeg reading the stream is one viewer; the
// pages' own players (?via=page) and the frame grabber are not counted here.
func TestHardening18PlayerSessionsNotHeaders(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("counted")
	publishFixtureFFmpeg(t, n.rtmp+"/"+key)
	waitForParts(t, n, "counted")
	base := n.http + "/hls/counted/"
	players := func() int { return n.app.Hub.ExternalPlayers("counted") }

	// The pages' players carry via=page through every URL and get no session.
	code, page := getAs(t, "127.0.0.1", base+"index.m3u8?via=page", "Chromium")
	if code != 200 || !strings.Contains(page, "video1_stream.m3u8?via=page") || strings.Contains(page, "session=") {
		t.Fatalf("page playlist: %d\n%s", code, page)
	}
	_, media := getAs(t, "127.0.0.1", base+"video1_stream.m3u8?via=page", "Chromium")
	if !strings.Contains(media, "_part") || !strings.Contains(media, ".mp4?via=page") || strings.Contains(media, "session=") {
		t.Fatalf("page media playlist:\n%s", media)
	}
	if p := players(); p != 0 {
		t.Fatalf("the page's player counted as %d external players", p)
	}

	// A real player: ffmpeg reads the stream (playlist, media playlist
	// reloads, segments) and is one viewer.
	ff := needTool(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ff, "-hide_banner", "-loglevel", "error", "-i", base+"index.m3u8",
		"-t", "3", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg reading: %v\n%s", err, out)
	}
	if p := players(); p != 1 {
		t.Fatalf("ffmpeg reading counted as %d players, want 1", p)
	}

	// A playlist fetched without a session gets one in every URL.
	code, issued := getAs(t, "127.0.0.1", base+"index.m3u8", "player-0")
	m := sessionParam.FindStringSubmatch(issued)
	if code != 200 || m == nil {
		t.Fatalf("issued playlist: %d\n%s", code, issued)
	}
	_, mediaPl := getAs(t, "127.0.0.1", base+"video1_stream.m3u8?session="+m[1], "player-0")
	for _, line := range strings.Split(mediaPl, "\n") {
		// (gap.mp4 stands for segments gone before the stream began: never fetched.)
		if strings.Contains(line, ".mp4") && line != "gap.mp4" && !strings.Contains(line, "session="+m[1]) {
			t.Fatalf("media playlist line lacks the session: %q", line)
		}
	}
	// 500 fetches, each with its own User-Agent, from one address.
	for i := 1; i < 500; i++ {
		if code, _ := getAs(t, "127.0.0.1", base+"index.m3u8", fmt.Sprintf("player-%d", i)); code != 200 {
			t.Fatalf("fetch %d: %d", i, code)
		}
	}
	if p := players(); p != config.Default().HLSPlayersPerAddress {
		t.Fatalf("500 header-varied fetches from one address made %d players, want the cap %d", p, config.Default().HLSPlayersPerAddress)
	}
	// Another address is another household.
	getAs(t, "127.0.0.2", base+"index.m3u8", "vlc")
	if p := players(); p != 21 {
		t.Fatalf("a second address: %d players, want 21", p)
	}
	// The count is on the channel's live state and in /metrics.
	var live struct {
		Viewers         int `json:"viewers"`
		ExternalPlayers int `json:"external_players"`
	}
	n.api("GET", "/api/channels/counted/live", "", nil, &live)
	if live.ExternalPlayers != 21 || live.Viewers < 21 {
		t.Errorf("live state %+v", live)
	}
	if v := metric(t, n, `livehouse_hls_players{channel="counted"}`); v != 21 {
		t.Errorf("livehouse_hls_players = %v", v)
	}
	if v := metric(t, n, `livehouse_viewers{channel="counted"}`); v != 21 {
		t.Errorf("livehouse_viewers = %v (no watch page is open)", v)
	}
}

// TestHardening18PlayerCapIsConfigurable: --hls-players-per-address.
func TestHardening18PlayerCapIsConfigurable(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) { c.HLSPlayersPerAddress = 3 })
	key := n.createChannel("capped")
	publishFixtureFFmpeg(t, n.rtmp+"/"+key)
	waitForParts(t, n, "capped")
	for i := 0; i < 10; i++ {
		getAs(t, "127.0.0.1", n.http+"/hls/capped/index.m3u8", "ua-"+strconv.Itoa(i))
	}
	if p := n.app.Hub.ExternalPlayers("capped"); p != 3 {
		t.Fatalf("players = %d, want the cap 3", p)
	}
}

// TestHardening21StreamEndIsNot500: blocking playlist requests (and a
// request for the preload-hinted part) waiting when a real stream ends are
// answered 404 stream_ended, and /metrics shows no 500s. The node has a 1 s
// body timeout: the blocking GETs are not subject to it. The publisher is
// frozen first, so the hinted part is never made, then it vanishes.
func TestHardening21StreamEndIsNot500(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) {
		c.HLSSegmentDuration = 4 * time.Second // a blocking request waits at least one segment
		c.HTTPBodyTimeout = time.Second
	})
	key := n.createChannel("ending")
	ff := publishFixtureFFmpeg(t, n.rtmp+"/"+key)
	waitForParts(t, n, "ending")
	base := n.http + "/hls/ending/"
	// The publisher freezes: no part is made from now on.
	if err := ff.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // frames already sent arrive

	// The segment being made now: MEDIA-SEQUENCE plus the complete ones.
	_, pl := httpGet(t, base+"video1_stream.m3u8")
	var seq int
	for _, line := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"); ok {
			seq, _ = strconv.Atoi(v)
		}
	}
	inProgress := seq + strings.Count(pl, "#EXTINF:")
	// The part being made: the muxer holds a request for it until it is.
	hint := regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"?]*_part)(\d+)\.mp4`).FindStringSubmatch(pl)
	if hint == nil {
		t.Fatalf("no preload hint in\n%s", pl)
	}
	hinted, _ := strconv.Atoi(hint[2])
	// A part beyond it is not known yet: 404 at once, no wait.
	code, body := httpGet(t, base+hint[1]+strconv.Itoa(hinted+100)+".mp4")
	if code != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("a part far ahead: %d %s", code, body)
	}
	urls := []string{base + hint[1] + hint[2] + ".mp4"}
	for i := 0; i < 4; i++ {
		// The next segment's 30th part: with 4 s segments of 200 ms parts it
		// is the one after, at least 4 s away.
		urls = append(urls, fmt.Sprintf("%svideo1_stream.m3u8?_HLS_msn=%d&_HLS_part=30", base, inProgress+1))
	}
	type answer struct {
		code int
		body string
		err  error
		at   time.Time
	}
	answers := make([]answer, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(u)
			if err != nil {
				answers[i] = answer{err: err}
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			answers[i] = answer{code: res.StatusCode, body: string(b), at: time.Now()}
		}()
	}
	// Every blocking reload waits; the hinted part too, unless the frames
	// already on their way when the publisher froze finished it (seen on
	// a loaded machine): then it was answered at once and is left out.
	waitFor(t, 5*time.Second, "the requests to wait", func() bool {
		return metric(t, n, "livehouse_hls_waiting_requests") >= float64(len(urls)-1)
	})
	time.Sleep(200 * time.Millisecond)
	// The streamer vanishes (the connection closes).
	killed := time.Now()
	_ = ff.Process.Kill()
	_ = ff.Wait()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("waiting requests were not answered after the stream ended")
	}
	for i, a := range answers {
		var body struct{ Code string }
		_ = json.Unmarshal([]byte(a.body), &body)
		if i == 0 && a.err == nil && a.at.Before(killed) {
			t.Logf("the hinted part was answered before the stream ended (%d %s): not a waiting request", a.code, a.body)
			continue
		}
		if a.err != nil || a.code != http.StatusNotFound || body.Code != "stream_ended" {
			t.Errorf("request %s: %d %v %q", urls[i], a.code, a.err, a.body)
		}
	}
	waitFor(t, 10*time.Second, "offline", func() bool { return !n.channel("ending").Live })
	_, metrics := httpGet(t, n.http+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "livehouse_hls_requests_total") && strings.Contains(sc.Text(), `code="500"`) {
			t.Errorf("a 500 was served: %s", sc.Text())
		}
	}
	if metric(t, n, "livehouse_hls_waiting_requests") != 0 {
		t.Error("requests still counted as waiting")
	}
}

// TestHardening02ViewerCountsUseTheRealAddress: behind a trusted reverse
// proxy, each client's players are capped under its own address, not all
// under the proxy's.
func TestHardening02ViewerCountsUseTheRealAddress(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) { c.TrustedProxies = "127.0.0.1"; c.HLSPlayersPerAddress = 3 })
	key := n.createChannel("proxied")
	publishFixtureFFmpeg(t, n.rtmp+"/"+key)
	waitForParts(t, n, "proxied")
	target, _ := url.Parse(n.http)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	go proxy.Serve(ln)
	t.Cleanup(func() { proxy.Close() })
	for _, client := range []string{"127.0.0.2", "127.0.0.3"} {
		for i := 0; i < 5; i++ {
			if code, _ := getAs(t, client, "http://"+ln.Addr().String()+"/hls/proxied/index.m3u8", "ua"); code != 200 {
				t.Fatalf("through the proxy: %d", code)
			}
		}
	}
	if p := n.app.Hub.ExternalPlayers("proxied"); p != 6 {
		t.Fatalf("two clients behind the proxy: %d players, want 3 each", p)
	}
}
