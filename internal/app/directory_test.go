package app

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
)

// raw sends a body that is not JSON (an image upload) with the browser's
// session and CSRF token.
func (b *browser) raw(method, path, contentType string, body []byte) reply {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.n.http+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: b.session})
	req.Header.Set(account.CSRFHeader, b.csrf)
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	out := reply{code: res.StatusCode, header: res.Header, raw: string(data)}
	_ = json.Unmarshal(data, &out.body)
	return out
}

func slugsOf(t *testing.T, r reply) []string {
	t.Helper()
	var out []string
	for _, c := range r.body["channels"].([]any) {
		out = append(out, c.(map[string]any)["slug"].(string))
	}
	return out
}

// TestDirectoryAndCovers: search by title, tag, category and streamer
// name; followed channels first; covers (JPEG/PNG only, size-checked);
// a disabled channel is hidden, refuses publishing, and can be transferred.
func TestDirectoryAndCovers(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		mei := newUser(t, n, "meiling", true)
		bob := newUser(t, n, "bobcat", true)
		viewer := newUser(t, n, "watcher", false)
		admin := n.browser("127.0.0.1")
		admin.bearer = testAdminToken
		for _, c := range []struct {
			b                         *browser
			slug, title, cat, tagList string
		}{
			{mei, "mei-sings", "Mei sings ballads", "Music", "acoustic,粤语"},
			{mei, "mei-cooks", "Dumplings tonight", "Food", "cooking"},
			{bob, "bob-games", "Speedrun practice", "Games", "speedrun,retro"},
		} {
			tags := strings.Split(c.tagList, ",")
			if r := c.b.do("POST", "/api/channels", map[string]any{"slug": c.slug, "title": c.title, "category": c.cat, "tags": tags}); r.code != 201 {
				t.Fatalf("create %s: %d %s", c.slug, r.code, r.raw)
			}
		}
		search := func(q string) []string {
			r := viewer.do("GET", "/api/directory?"+q, nil)
			if r.code != 200 {
				t.Fatalf("directory %s: %d %s", q, r.code, r.raw)
			}
			return slugsOf(t, r)
		}
		for q, want := range map[string]string{
			"q=ballads": "mei-sings", "q=%E7%B2%A4%E8%AF%AD": "mei-sings", "q=RETRO": "bob-games",
			"category=Food": "mei-cooks", "q=bobc": "bob-games", "q=100%25": "",
		} {
			if got := strings.Join(search(q), ","); got != want {
				t.Errorf("search %s: %q, want %q", q, got, want)
			}
		}
		if got := search("q=meiling"); len(got) != 2 {
			t.Errorf("by streamer name: %v", got)
		}
		// Followed channels come first among equals.
		if r := viewer.do("POST", "/api/channels/bob-games/follow", nil); r.code != 200 {
			t.Fatalf("follow: %d", r.code)
		}
		all := viewer.do("GET", "/api/directory", nil)
		first := all.body["channels"].([]any)[0].(map[string]any)
		if first["slug"] != "bob-games" || first["followed"] != true || first["streamer"] != "bobcat" {
			t.Fatalf("followed first: %s", all.raw)
		}
		if r := viewer.do("GET", "/api/channels/bob-games/follow", nil); r.body["following"] != true || r.body["followers"] != float64(1) {
			t.Fatalf("follow state: %s", r.raw)
		}
		if cats := all.body["categories"].([]any); len(cats) != 3 {
			t.Fatalf("categories: %s", all.raw)
		}

		// Covers.
		img := image.NewRGBA(image.Rect(0, 0, 64, 36))
		for x := 0; x < 64; x++ {
			img.Set(x, 10, color.RGBA{255, 0, 0, 255})
		}
		var pngBuf, jpgBuf bytes.Buffer
		_ = png.Encode(&pngBuf, img)
		_ = jpeg.Encode(&jpgBuf, img, nil)
		if r := bob.raw("PUT", "/api/channels/mei-sings/cover", "image/png", pngBuf.Bytes()); r.code != 403 {
			t.Fatalf("someone else's cover: %d", r.code)
		}
		if r := mei.raw("PUT", "/api/channels/mei-sings/cover", "text/plain", []byte("not an image")); r.code != 400 || r.str("error") == "" {
			t.Fatalf("text as a cover: %d %s", r.code, r.raw)
		}
		if r := mei.raw("PUT", "/api/channels/mei-sings/cover", "image/png", bytes.Repeat([]byte{0}, 3<<20)); r.code != 413 {
			t.Fatalf("3 MiB cover: %d %s", r.code, r.raw)
		}
		up := mei.raw("PUT", "/api/channels/mei-sings/cover", "image/png", pngBuf.Bytes())
		if up.code != 200 || !strings.HasPrefix(up.str("cover_url"), "/covers/mei-sings?v=") {
			t.Fatalf("cover: %d %s", up.code, up.raw)
		}
		if r := mei.raw("PUT", "/api/channels/mei-cooks/cover", "image/jpeg", jpgBuf.Bytes()); r.code != 200 {
			t.Fatalf("jpeg cover: %d %s", r.code, r.raw)
		}
		res, err := http.Get(n.http + up.str("cover_url"))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := image.Decode(res.Body)
		res.Body.Close()
		if err != nil || got.Bounds().Dx() != 64 {
			t.Fatalf("served cover: %v", err)
		}
		for _, c := range viewer.do("GET", "/api/directory?q=mei", nil).body["channels"].([]any) {
			if !strings.HasPrefix(c.(map[string]any)["picture"].(string), "/covers/") {
				t.Fatalf("directory without the cover: %v", c)
			}
		}

		// An admin disables a channel: hidden, and its key no longer publishes.
		key := bob.do("POST", "/api/channels/bob-games/stream-key", nil).str("stream_key")
		if r := admin.do("POST", "/api/admin/channels/bob-games", map[string]any{"disabled": true}); r.code != 200 || r.body["disabled"] != true {
			t.Fatalf("disable: %d %s", r.code, r.raw)
		}
		if got := search("q=speedrun"); len(got) != 0 {
			t.Fatalf("disabled channel listed: %v", got)
		}
		if _, err := n.app.Channels.ChannelForKey(t.Context(), key); err == nil || !strings.Contains(err.Error(), "disabled") {
			t.Fatalf("disabled channel's key: %v", err)
		}
		if r := admin.do("POST", "/api/admin/channels/bob-games", map[string]any{"disabled": false, "owner": "meiling"}); r.code != 200 || r.body["owner"] != "meiling" {
			t.Fatalf("enable + transfer: %d %s", r.code, r.raw)
		}
		if r := mei.do("GET", "/api/me/channels", nil); len(r.body["channels"].([]any)) != 3 || r.body["can_create"] != true {
			t.Fatalf("mei's channels after the transfer: %s", r.raw)
		}
		if r := viewer.do("POST", "/api/admin/channels/mei-sings", map[string]any{"disabled": true}); r.code != 403 {
			t.Fatalf("a viewer disabling a channel: %d", r.code)
		}
	})
}

// TestRecentFrameOnTheHomePage: with ffmpeg installed, a live channel's
// directory picture becomes a JPEG frame of the stream.
func TestRecentFrameOnTheHomePage(t *testing.T) {
	needTool(t, "ffmpeg")
	n := startNode(t, "")
	key := n.createChannel("framed")
	startFFmpeg(t, n.rtmp+"/"+key, "640x360")
	var pic string
	waitFor(t, 30*time.Second, "a recent frame in the directory", func() bool {
		var d struct {
			Channels []struct{ Slug, Picture string } `json:"channels"`
		}
		n.api("GET", "/api/directory", "", nil, &d)
		for _, c := range d.Channels {
			if c.Slug == "framed" && strings.HasPrefix(c.Picture, "/frames/framed.jpg") {
				pic = c.Picture
				return true
			}
		}
		return false
	})
	res, err := http.Get(n.http + pic)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	cfg, format, err := image.DecodeConfig(res.Body)
	if err != nil || format != "jpeg" || cfg.Width != 640 || cfg.Height != 360 {
		t.Fatalf("frame: %v %s %dx%d", err, format, cfg.Width, cfg.Height)
	}
	// The grabber's requests are not viewers.
	if v := n.channel("framed").Viewers; v != 0 {
		t.Fatalf("the frame grabber counted as %d viewers", v)
	}

	// Disabling a live channel ends its stream at once.
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	if r := admin.do("POST", "/api/admin/channels/framed", map[string]any{"disabled": true}); r.code != 200 {
		t.Fatalf("disable: %d %s", r.code, r.raw)
	}
	waitFor(t, 5*time.Second, "the stream of the disabled channel to end", func() bool { return !n.channel("framed").Live })
	var sessions struct {
		Sessions []struct {
			EndReason string `json:"end_reason"`
		} `json:"sessions"`
	}
	n.api("GET", "/api/channels/framed/sessions", testAdminToken, nil, &sessions)
	if len(sessions.Sessions) == 0 || sessions.Sessions[0].EndReason != "stopped by the platform" {
		t.Fatalf("sessions: %+v", sessions)
	}
}

// TestFirstAccountRunsTheInstall: on a fresh install the first sign-up is
// the platform admin (so the pages alone can set it up); nobody after.
func TestFirstAccountRunsTheInstall(t *testing.T) {
	n := startNode(t, "")
	first, second := n.browser("127.0.0.1"), n.browser("127.0.0.2")
	if r := first.signup("founder", "founder-password"); r.code != 201 {
		t.Fatalf("first signup: %d %s", r.code, r.raw)
	}
	if r := second.signup("latecomer", "latecomer-password"); r.code != 201 {
		t.Fatalf("second signup: %d %s", r.code, r.raw)
	}
	if r := first.do("GET", "/api/me", nil); !strings.Contains(r.raw, `"admin"`) || !strings.Contains(r.raw, `"streamer"`) {
		t.Fatalf("first account: %s", r.raw)
	}
	if r := second.do("GET", "/api/me", nil); strings.Contains(r.raw, `"admin"`) {
		t.Fatalf("second account: %s", r.raw)
	}
	if r := second.do("GET", "/api/admin/users", nil); r.code != 403 {
		t.Fatalf("second account reached the admin API: %d", r.code)
	}

	// Refusals people meet often carry a code pages translate.
	third := n.browser("127.0.0.3")
	for _, c := range []struct{ name, password, code string }{
		{"FOUNDER", "another-password", "username_taken"},
		{"x", "another-password", "username_invalid"},
		{"newbie", "short", "password_too_short"},
	} {
		if r := third.signup(c.name, c.password); r.str("code") != c.code {
			t.Errorf("signup %q/%q: %d %s, want code %s", c.name, c.password, r.code, r.raw, c.code)
		}
	}
	if r := third.login("founder", "wrong-password"); r.code != 401 || r.str("code") != "bad_login" {
		t.Errorf("bad login: %d %s", r.code, r.raw)
	}
	for body, code := range map[string]string{`{"slug":"Bad Slug","title":"t"}`: "slug_invalid", `{"slug":"fine-slug","title":"  "}`: "title_required"} {
		var in map[string]any
		_ = json.Unmarshal([]byte(body), &in)
		if r := first.do("POST", "/api/channels", in); r.str("code") != code {
			t.Errorf("create %s: %d %s, want %s", body, r.code, r.raw, code)
		}
	}
	first.do("POST", "/api/channels", map[string]any{"slug": "taken", "title": "t"})
	if r := first.do("POST", "/api/channels", map[string]any{"slug": "taken", "title": "t"}); r.code != 409 || r.str("code") != "slug_taken" {
		t.Errorf("slug taken: %d %s", r.code, r.raw)
	}
}

// TestPlatformSettings: an admin changes who may stream, a rate limit and
// the default platform share through the API; the limit applies at once.
func TestPlatformSettings(t *testing.T) {
	n := startNode(t, "")
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	u := newUser(t, n, "chatty", false)
	if r := admin.do("PUT", "/api/admin/settings", map[string]any{"open_streaming": true, "rate_limits": map[string]int{"writes_per_account_per_minute": -1}}); r.code != 400 {
		t.Fatalf("negative limit: %d %s", r.code, r.raw)
	}
	r := admin.do("PUT", "/api/admin/settings", map[string]any{"open_streaming": true, "rate_limits": map[string]int{"writes_per_account_per_minute": 2}})
	if r.code != 200 || r.body["open_streaming"] != true || !strings.Contains(r.raw, `"rate_limits_in_force":{"writes_per_account_per_minute":2`) {
		t.Fatalf("settings: %d %s", r.code, r.raw)
	}
	codes := []int{}
	for i := range 3 {
		codes = append(codes, u.do("POST", "/api/channels", map[string]any{"slug": "try-" + strings.Repeat("x", i+2), "title": "t"}).code)
	}
	if codes[0] != 201 || codes[1] != 201 || codes[2] != 429 {
		t.Fatalf("with 2 writes a minute: %v", codes)
	}
	if r := admin.do("PUT", "/api/admin/settings", map[string]any{"open_streaming": false, "rate_limits": map[string]int{}}); !strings.Contains(r.raw, `"writes_per_account_per_minute":60`) {
		t.Fatalf("back to the default: %s", r.raw)
	}
	if r := admin.do("PUT", "/api/admin/platform-share", map[string]any{"platform_share_bp": 2500}); r.code != 200 || r.body["platform_share_bp"] != float64(2500) || r.body["set_by_admin"] != true {
		t.Fatalf("default share: %d %s", r.code, r.raw)
	}
	if r := u.do("GET", "/api/admin/platform-share", nil); r.code != 403 {
		t.Fatalf("a viewer read the admin share: %d", r.code)
	}
}
