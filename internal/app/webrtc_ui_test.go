package app

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// Issue 12's pages: the studio's stream health, "go live from this
// browser" (WHIP) and the watch page's "Low delay" player (WHEP). The
// server ends (/health, /whip, /whep) are built on other branches; these
// tests check what the pages do with them and skip, saying so, what needs
// a server end this build does not have.

// publishFixture publishes the committed recording over RTMP in real time,
// looped, until the test ends.
func publishFixture(t *testing.T, n *testNode, key string) {
	t.Helper()
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("publish: %v", err)
		}
	})
}

// streamerChannel makes a streaming account NAME (password NAME-password)
// and its channel SLUG; it returns the stream key.
func streamerChannel(t *testing.T, n *testNode, name, slug string) string {
	t.Helper()
	b := newUser(t, n, name, true)
	r := b.do("POST", "/api/channels", map[string]any{"slug": slug, "title": "Stage " + slug})
	if r.code != http.StatusCreated || r.str("stream_key") == "" {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	return r.str("stream_key")
}

// served reports whether this build routes method path at all: a route
// that does not exist gets net/http's plain-text 404, while a handler that
// refuses answers JSON (or SDP).
func served(t *testing.T, n *testNode, method, path, contentType, body string) bool {
	t.Helper()
	req, _ := http.NewRequest(method, n.http+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	res.Body.Close()
	return !(res.StatusCode == http.StatusNotFound && strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"))
}

// TestChromiumStudioStreamHealth: with an RTMP stream live, the studio's
// health panel shows the stream's facts and draws its charts, at 1280 px
// and 375 px, in English and Chinese.
func TestChromiumStudioStreamHealth(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	key := streamerChannel(t, n, "healthy", "health-check")
	publishFixture(t, n, key)
	waitFor(t, 20*time.Second, "live", func() bool { return n.channel("health-check").Live })

	// The health API is another branch's work: without it the panel shows
	// the public live figures.
	var health map[string]any
	hasHealth := n.api("GET", "/api/channels/health-check/health", testAdminToken, nil, &health) == http.StatusOK
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	var lines []string
	for _, lang := range []string{"en", "zh-CN"} {
		out := runBrowser(t, node, chromium, "studio_health.mjs", []string{base, lang, "health-check", "healthy", "healthy-password", os.Getenv("LIVEHOUSE_SCREENSHOTS")},
			"INGEST whip="+base+"/whip/health-check srt=srt://localhost:", "HEALTH lang="+lang+" width=1280", "HEALTH lang="+lang+" width=375")
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "HEALTH ") {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d HEALTH lines, want 4", len(lines))
	}
	for _, l := range lines {
		// The fixture: H.264 1280×720 at 30 fps with AAC 48 kHz stereo.
		for _, want := range []string{`video="H264`, `resolution="1280×720`, `audio="AAC · 48,000 Hz · 2 `, "canvases=3", "chart_inside=true", "points=1"} {
			if !strings.Contains(l, want) {
				t.Errorf("%s\nlacks %s", l, want)
			}
		}
		if strings.Contains(l, "width=375") && !strings.Contains(l, "scroll_width=375") {
			t.Errorf("the 375 px studio scrolls sideways: %s", l)
		}
	}
	if !hasHealth {
		t.Fatal("GET /api/channels/SLUG/health is not served: the panel fell back to the public live figures")
	}
	for _, l := range lines {
		for _, want := range []string{"source=health", `protocol="RTMP"`, `keyframes="`} {
			if !strings.Contains(l, want) {
				t.Errorf("%s\nlacks %s", l, want)
			}
		}
		if strings.Contains(l, `keyframes="–"`) || strings.Contains(l, `video="H264"`) {
			t.Errorf("health facts missing (keyframe interval, profile): %s", l)
		}
	}
}

// TestChromiumGoLiveFromBrowserWHIP: the streamer opens "Go live from this
// browser" with Chromium's fake camera and microphone, picks devices, starts;
// the channel goes live over WHIP and a second browser watches it in "Low
// delay" (WHEP) and in LL-HLS; Stop ends it. On a LAN name over plain HTTP
// (no secure context, so no camera) the panel says why, in its language.
func TestChromiumGoLiveFromBrowserWHIP(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	key := streamerChannel(t, n, "camgirl", "webcam")
	want := []string{"PANEL camera_options=", "WHIP_LIVE", "WHEP_PLAYING", "HLS_PLAYING", "STOPPED", "LAN_HTTP secure=false"}
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ lang, lanState string }{
		{"en", `state="Failed: the browser allows the camera only on https:// pages`},
		{"zh-CN", `state="失败：浏览器只允许 https:// 页面`},
	} {
		out := runBrowser(t, node, chromium, "golive.mjs", []string{base, c.lang, "webcam", "camgirl", "camgirl-password", key, "present", os.Getenv("LIVEHOUSE_SCREENSHOTS")}, want...)
		if !strings.Contains(out, c.lanState) {
			t.Errorf("%s: over plain HTTP on a LAN name the panel did not say HTTPS is needed:\n%s", c.lang, out)
		}
		waitFor(t, 10*time.Second, "the stream to end after Stop", func() bool { return !n.channel("webcam").Live })
	}
}

// TestChromiumLowDelayFallsBackToLLHLS: a viewer with "Low delay" on
// watches an RTMP stream; when WHEP is refused the page says so in one line
// and plays LL-HLS, danmaku overlay in place; where the server has WHEP the
// same page then plays over WebRTC.
func TestChromiumLowDelayFallsBackToLLHLS(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	key := n.createChannel("lowdelay")
	publishFixture(t, n, key)
	waitFor(t, 20*time.Second, "live", func() bool { return n.channel("lowdelay").Live })
	whep := served(t, n, "POST", "/whep/lowdelay", "application/sdp", "v=0\r\n")
	if !whep {
		t.Fatal("POST /whep/SLUG is not served")
	}
	expect := "absent"
	if whep {
		expect = "present"
	}
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ lang, notice string }{
		{"en", "Low delay is off for now: "},
		{"zh-CN", "低延迟暂不可用"},
	} {
		want := []string{"FALLBACK player=hls notice=\"" + c.notice, "overlay_over_video=true", "REMEMBERED low_delay=true"}
		if whep {
			want = append(want, "WHEP_PLAYING")
		}
		runBrowser(t, node, chromium, "lowdelay.mjs", []string{base, c.lang, "lowdelay", expect, os.Getenv("LIVEHOUSE_SCREENSHOTS")}, want...)
	}
	if !whep {
		t.Skip("POST /whep/SLUG answers 404 in this build (the WHEP server is on branch webrtc): " +
			"checked the fallback to LL-HLS with its notice; not checked: playback over WHEP")
	}
}
