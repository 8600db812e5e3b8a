package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/account"
)

// TestChromiumErrorPagesAndLoginReturn runs e2e/errpages.mjs in English
// and in Chinese: the styled 404 with the nav, /admin's log-in detour and
// return, the 403 page for a viewer, hostile next= values ignored, and the
// empty search. Screenshots go to LIVEHOUSE_SCREENSHOTS (or test-artifacts/).
func TestChromiumErrorPagesAndLoginReturn(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	for _, u := range []account.NewUser{{Username: "boss", Password: "boss-password", IsAdmin: true}, {Username: "viewer", Password: "viewer-password"}} {
		if _, err := n.app.Accounts.Users.Create(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	shots := os.Getenv("LIVEHOUSE_SCREENSHOTS")
	if shots == "" {
		var err error
		if shots, err = filepath.Abs("../../test-artifacts"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ lang, notFound, empty, admin, forbidden, hint string }{
		{"en", "Page not found", "No results for “zzz-nothing”.", "Administration", "You may not open this page", "Log in to open the page you asked for; you will be taken back to it."},
		{"zh-CN", "页面不存在", "没有找到“zzz-nothing”的结果。", "平台管理", "你无权打开此页面", "请先登录，登录后将带你回到刚才的页面。"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			out := runBrowser(t, node, chromium, "errpages.mjs", []string{base, c.lang, "boss", "viewer", shots},
				`NOTFOUND status=404 page=error html=`+c.lang+` h1="`+c.notFound+`" nav_links=2 home_link=1`,
				`EMPTY text="`+c.empty+`" clear=/ nobody_live_shown=false`,
				`CLEARED at=/ empty_search_shown=false`,
				`DETOUR at=/login?next=%2Fadmin hint="`+c.hint+`"`,
				`RETURN at=/admin sections=6 h1="`+c.admin+`"`,
				`FORBIDDEN at=/admin status=403 h1="`+c.forbidden+`"`,
				"NEXT //evil.example -> /account hint=false", "NEXT https://evil.example -> /account hint=false", "NEXT /%5Cevil.example -> /account hint=false")
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "NARROW ") && !strings.HasSuffix(line, "scroll_width=375") {
					t.Errorf("page scrolls sideways at 375 px: %s", line)
				}
			}
		})
	}
}

// TestErrorPageStatusCodes: pages fail with the right status and a styled
// page; programs' paths keep their JSON or plain answers.
func TestErrorPageStatusCodes(t *testing.T) {
	n := startNode(t, "")
	singer := newUser(t, n, "singer", true)
	if r := singer.do("POST", "/api/channels", map[string]any{"slug": "songs", "title": "Songs"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	noFollow := func(b *browser) {
		b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	viewer := newUser(t, n, "viewer", false)
	keeper := newUser(t, n, "keeper", false)
	if r := singer.do("POST", "/api/channels/songs/moderators", map[string]any{"username": "keeper"}); r.code >= 300 {
		t.Fatalf("appoint moderator: %d %s", r.code, r.raw)
	}
	noFollow(keeper)
	anon := n.browser("127.0.0.1")
	noFollow(anon)
	noFollow(viewer)
	noFollow(singer)
	get := func(b *browser, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", n.http+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
		if b.session != "" {
			req.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: b.session})
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	page := func(b *browser, path string, status int, want string) {
		t.Helper()
		resp, body := get(b, path)
		if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `class="top"`) || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %s, want %d with nav and %q:\n%.300s", path, resp.StatusCode, resp.Header.Get("Content-Type"), status, want, body)
		}
	}
	page(anon, "/c/nope", 404, "页面不存在")
	page(anon, "/no/such/page", 404, "页面不存在")
	page(anon, "/studio/nope", 404, "页面不存在")
	page(viewer, "/admin", 403, "你无权打开此页面")
	page(viewer, "/admin/users", 403, "你无权打开此页面")
	page(viewer, "/studio/songs", 403, "你无权打开此页面")
	page(viewer, "/studio/songs/money", 403, "你无权打开此页面")
	page(singer, "/studio/songs", 200, `data-page="studio"`)
	page(singer, "/studio/songs/money", 200, `class="top"`)
	page(keeper, "/studio/songs", 200, `data-page="studio"`) // moderators work in the studio
	page(keeper, "/studio/songs/money", 403, "你无权打开此页面")
	page(viewer, "/studio", 200, `data-page="studio-list"`)
	page(anon, "/c/songs", 200, `class="watch"`)

	// Logged out: the log-in page, with where to come back to.
	for _, path := range []string{"/admin", "/admin/settings", "/studio", "/studio/songs", "/studio/songs/money?x=1"} {
		resp, _ := get(anon, path)
		if want := "/login?next=" + url.QueryEscape(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s logged out: %d to %q, want 303 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	// API paths keep their JSON errors; media and static keep plain ones.
	for _, path := range []string{"/api/nope", "/api/channels/nope"} {
		resp, body := get(anon, path)
		var e struct{ Error, Code string }
		if resp.StatusCode != 404 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("GET %s: %d %q, want a 404 JSON error", path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/static/nope.js", "/hls/nope", "/whip/nope", "/whep/nope"} {
		resp, body := get(anon, path)
		if resp.StatusCode < 400 || strings.Contains(body, `class="top"`) {
			t.Errorf("GET %s: %d %.100q, want an error that is not a page", path, resp.StatusCode, body)
		}
	}
}
