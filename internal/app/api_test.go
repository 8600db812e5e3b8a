package app

import (
	"net/http"
	"strings"
	"testing"
)

func TestChannelAPI(t *testing.T) {
	eachEngine(t, testChannelAPI)
}

func testChannelAPI(t *testing.T, n *testNode) {
	var e channelResp
	body := map[string]any{"slug": "news", "title": "News", "category": "Talk", "tags": []string{"daily"}}

	// Auth: none, wrong, right.
	if code := n.api("POST", "/api/channels", "", body, &e); code != http.StatusUnauthorized || e.Error == "" {
		t.Fatalf("no token: %d %+v", code, e)
	}
	if code := n.api("POST", "/api/channels", "wrong-token-wrong-token", body, &e); code != http.StatusUnauthorized || e.Error == "" {
		t.Fatalf("wrong token: %d %+v", code, e)
	}
	var c channelResp
	if code := n.api("POST", "/api/channels", testAdminToken, body, &c); code != http.StatusCreated {
		t.Fatalf("create: %d %+v", code, c)
	}
	if c.Slug != "news" || c.Title != "News" || c.Category != "Talk" || len(c.Tags) != 1 || !strings.HasPrefix(c.StreamKey, "sk_") || c.Live {
		t.Fatalf("created %+v", c)
	}

	// Bad input: each is a 4xx with an error message, never a 5xx.
	bad := []struct {
		body any
		code int
	}{
		{body, http.StatusConflict},
		{map[string]any{"slug": "x", "title": "t"}, http.StatusBadRequest},
		{map[string]any{"slug": "okay", "title": ""}, http.StatusBadRequest},
		{map[string]any{"slug": "okay"}, http.StatusBadRequest},
		{map[string]any{"slug": "okay", "title": "t", "owners": "me"}, http.StatusBadRequest},
		{map[string]any{"slug": "okay", "title": "t", "owner": "nobody-here"}, http.StatusNotFound},
		{map[string]any{"slug": 7, "title": "t"}, http.StatusBadRequest},
		{`{"slug": "okay", "title": "t"} trailing`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{``, http.StatusBadRequest},
		{`{"slug":"okay","title":"` + strings.Repeat("a", 70000) + `"}`, http.StatusBadRequest},
	}
	for _, b := range bad {
		var e channelResp
		code := n.api("POST", "/api/channels", testAdminToken, b.body, &e)
		if code != b.code || e.Error == "" {
			t.Errorf("POST %.80v: %d %q, want %d with an error", b.body, code, e.Error, b.code)
		}
	}

	// Read, list, update, regenerate.
	if got := n.channel("news"); got.StreamKey != "" || got.Title != "News" {
		t.Fatalf("GET exposes %+v", got)
	}
	var list struct {
		Channels []channelResp `json:"channels"`
	}
	if code := n.api("GET", "/api/channels", "", nil, &list); code != 200 || len(list.Channels) != 1 || list.Channels[0].StreamKey != "" {
		t.Fatalf("list: %d %+v", code, list)
	}
	if code := n.api("GET", "/api/channels?limit=0", "", nil, &e); code != http.StatusBadRequest {
		t.Fatalf("limit=0: %d", code)
	}
	var u channelResp
	if code := n.api("PATCH", "/api/channels/news", testAdminToken, map[string]any{"title": "Evening news", "tags": []string{"A", "b"}}, &u); code != 200 || u.Title != "Evening news" || strings.Join(u.Tags, ",") != "a,b" || u.Category != "Talk" {
		t.Fatalf("patch: %d %+v", code, u)
	}
	if code := n.api("PATCH", "/api/channels/news", "", map[string]any{"title": "x"}, &e); code != http.StatusUnauthorized {
		t.Fatalf("patch without token: %d", code)
	}
	if code := n.api("PATCH", "/api/channels/nope", testAdminToken, map[string]any{"title": "x"}, &e); code != http.StatusNotFound {
		t.Fatalf("patch missing: %d", code)
	}
	var k channelResp
	if code := n.api("POST", "/api/channels/news/stream-key", testAdminToken, nil, &k); code != 200 || k.StreamKey == "" || k.StreamKey == c.StreamKey {
		t.Fatalf("regenerate: %d %+v", code, k)
	}
	if code := n.api("GET", "/api/channels/nope", "", nil, &e); code != http.StatusNotFound || e.Error == "" {
		t.Fatalf("missing channel: %d %+v", code, e)
	}
	if code := n.api("GET", "/api/nothing-here", "", nil, &e); code != http.StatusNotFound || e.Error == "" {
		t.Fatalf("unknown API: %d %+v", code, e)
	}

	// Pages, health and metrics.
	if code, page := httpGet(t, n.http+"/c/news"); code != 200 || !strings.Contains(page, "Evening news") || !strings.Contains(page, "hls.min.js") {
		t.Fatalf("watch page: %d", code)
	}
	if code, _ := httpGet(t, n.http+"/c/nope"); code != http.StatusNotFound {
		t.Fatalf("watch page of a missing channel: %d", code)
	}
	if code, body := httpGet(t, n.http+"/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, n.http+"/hls/news/index.m3u8"); code != http.StatusNotFound || !strings.Contains(body, "not live") {
		t.Fatalf("HLS of an offline channel: %d %s", code, body)
	}
	code, metrics := httpGet(t, n.http+"/metrics")
	for _, m := range []string{"livehouse_live_streams 0", `livehouse_hls_requests_total{code="404",kind="playlist"} 1`, "go_goroutines"} {
		if code != 200 || !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

func TestTitlesAreEscapedOnPages(t *testing.T) {
	n := startNode(t, "")
	var c channelResp
	n.api("POST", "/api/channels", testAdminToken, map[string]any{"slug": "xss", "title": `<script>alert(1)</script>`}, &c)
	_, page := httpGet(t, n.http+"/c/xss")
	if strings.Contains(page, "<script>alert(1)") || !strings.Contains(page, "&lt;script&gt;alert(1)") {
		t.Fatal("title reached the page unescaped")
	}
	_, home := httpGet(t, n.http+"/")
	if strings.Contains(home, "<script>alert(1)") {
		t.Fatal("title reached the home page unescaped")
	}
}
