package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/ratelimit"
)

// browser is one client of the HTTP API: a source address and, once
// logged in, the session and CSRF cookies (kept by hand, so a test decides
// which cookies go with each request).
type browser struct {
	t       *testing.T
	n       *testNode
	client  *http.Client
	session string
	csrf    string
	bearer  string
	headers map[string]string
}

func (n *testNode) browser(fromIP string) *browser {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fromIP)}}
	return &browser{t: n.t, n: n, client: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}, headers: map[string]string{}}
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func (b *browser) do(method, path string, body any) reply {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.n.http+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if b.session != "" {
		req.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: b.session})
		if b.csrf != "" {
			req.Header.Set(account.CSRFHeader, b.csrf)
		}
	}
	if b.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	for k, v := range b.headers {
		req.Header.Set(k, v)
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	out := reply{code: res.StatusCode, header: res.Header, raw: string(data)}
	_ = json.Unmarshal(data, &out.body)
	if res.StatusCode >= 400 && out.str("error") == "" {
		b.t.Fatalf("%s %s: %d without a JSON error: %q", method, path, res.StatusCode, data)
	}
	for _, c := range res.Cookies() {
		switch c.Name {
		case account.SessionCookie:
			// Secure exactly when the request went over TLS (issue 10, item 1).
			if !c.HttpOnly || c.Secure != (res.Request.URL.Scheme == "https") || c.SameSite != http.SameSiteLaxMode {
				b.t.Errorf("session cookie flags: %+v", c)
			}
			b.session = c.Value
		case account.CSRFCookie:
			b.csrf = c.Value
		}
	}
	return out
}

// signup solves the proof-of-work challenge, as the sign-up page does.
func (b *browser) signup(username, password string) reply {
	b.t.Helper()
	ch := b.do("GET", "/api/challenge?purpose=signup", nil)
	if ch.code != 200 {
		b.t.Fatalf("challenge: %d %s", ch.code, ch.raw)
	}
	nonce := account.Solve(ch.str("challenge"), int(ch.body["difficulty"].(float64)))
	return b.do("POST", "/api/auth/signup", map[string]string{
		"username": username, "password": password, "challenge": ch.str("challenge"), "nonce": nonce})
}

func (b *browser) login(username, password string) reply {
	b.t.Helper()
	return b.do("POST", "/api/auth/login", map[string]string{"username": username, "password": password})
}

func TestAccountsOverHTTP(t *testing.T) {
	eachEngine(t, testAccounts)
}

func testAccounts(t *testing.T, n *testNode) {
	alice := n.browser("127.0.0.1")
	if r := alice.signup("alice", "alice-password-1"); r.code != http.StatusCreated || r.str("username") != "alice" {
		t.Fatalf("signup: %d %s", r.code, r.raw)
	}
	me := alice.do("GET", "/api/me", nil)
	if me.code != 200 || me.str("username") != "alice" || me.body["level"].(float64) != 0 || !strings.Contains(me.raw, `"viewer"`) {
		t.Fatalf("me: %d %s", me.code, me.raw)
	}

	// Sign-up needs a solved challenge, and look-alike names are taken.
	other := n.browser("127.0.0.1")
	if r := other.do("POST", "/api/auth/signup", map[string]string{"username": "mallory", "password": "mallory-password"}); r.code != http.StatusBadRequest {
		t.Fatalf("signup without challenge: %d", r.code)
	}
	if r := other.signup("ALICE", "another-password"); r.code != http.StatusConflict {
		t.Fatalf("look-alike signup: %d %s", r.code, r.raw)
	}
	for i, bad := range []string{"", "x", "has space", "ctrl\x07", strings.Repeat("z", 40)} {
		// From separate addresses: sign-ups are limited per address.
		other := n.browser(fmt.Sprintf("127.0.1.%d", i+1))
		if r := other.do("POST", "/api/auth/signup", map[string]string{"username": bad, "password": "long-enough-pw"}); r.code != http.StatusBadRequest {
			t.Errorf("username %q: %d", bad, r.code)
		}
	}

	// CSRF: a cookie-authenticated write needs the session's token, and a
	// cross-site form post is refused outright.
	token := alice.csrf
	alice.csrf = ""
	if r := alice.do("POST", "/api/tokens", map[string]any{"name": "bot", "scopes": []string{"chat:write"}}); r.code != http.StatusForbidden {
		t.Fatalf("write without CSRF token: %d", r.code)
	}
	alice.csrf = token
	alice.headers["Sec-Fetch-Site"] = "cross-site"
	alice.headers["Origin"] = "https://evil.example"
	if r := alice.do("POST", "/api/tokens", map[string]any{"name": "bot", "scopes": []string{"chat:write"}}); r.code != http.StatusForbidden {
		t.Fatalf("cross-site write: %d", r.code)
	}
	alice.headers = map[string]string{}

	// Personal tokens: scoped, shown once, revocable.
	tok := alice.do("POST", "/api/tokens", map[string]any{"name": "chat bot", "scopes": []string{"chat:write"}})
	if tok.code != http.StatusCreated || !strings.HasPrefix(tok.str("token"), "lh_pat_") {
		t.Fatalf("create token: %d %s", tok.code, tok.raw)
	}
	if r := alice.do("POST", "/api/tokens", map[string]any{"name": "x", "scopes": []string{"root"}}); r.code != http.StatusBadRequest {
		t.Fatalf("unknown scope: %d", r.code)
	}
	bot := n.browser("127.0.0.1")
	bot.bearer = tok.str("token")
	if r := bot.do("GET", "/api/me", nil); r.code != http.StatusForbidden {
		t.Fatalf("chat token reading the account (no account:read scope): %d", r.code)
	}
	if r := bot.do("POST", "/api/tokens", map[string]any{"name": "y", "scopes": []string{"chat:write"}}); r.code != http.StatusForbidden {
		t.Fatalf("token minting tokens: %d", r.code)
	}
	if r := bot.do("POST", "/api/channels", map[string]any{"slug": "botchan", "title": "x"}); r.code != http.StatusForbidden {
		t.Fatalf("chat token creating a channel: %d", r.code)
	}
	list := alice.do("GET", "/api/tokens", nil)
	if list.code != 200 || strings.Contains(list.raw, tok.str("token")) || !strings.Contains(list.raw, "chat bot") {
		t.Fatalf("token list: %s", list.raw)
	}
	if r := alice.do("DELETE", "/api/tokens/"+jsonNum(tok.body["id"]), nil); r.code != 200 {
		t.Fatalf("revoke: %d %s", r.code, r.raw)
	}
	if r := bot.do("GET", "/api/channels/x/rules", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.code)
	}

	// Session fixation: a session value chosen before log-in is never adopted.
	fixed := n.browser("127.0.0.1")
	fixed.session = "attacker-chosen-session-value"
	if r := fixed.login("alice", "alice-password-1"); r.code != 200 || fixed.session == "attacker-chosen-session-value" {
		t.Fatalf("login kept the planted session: %d", r.code)
	}
	planted := n.browser("127.0.0.1")
	planted.session = "attacker-chosen-session-value"
	if r := planted.do("GET", "/api/me", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("planted session authenticates: %d", r.code)
	}

	// Logout ends that session only; a password change ends the others.
	old := fixed.session
	if r := fixed.do("POST", "/api/auth/logout", nil); r.code != 200 {
		t.Fatalf("logout: %d %s", r.code, r.raw)
	}
	fixed.session = old
	if r := fixed.do("GET", "/api/me", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("session after logout: %d", r.code)
	}
	second := n.browser("127.0.0.1")
	second.login("alice", "alice-password-1")
	if r := alice.do("POST", "/api/me/password", map[string]string{"current_password": "wrong-one-here", "new_password": "alice-password-2"}); r.code != http.StatusUnauthorized {
		t.Fatalf("password change with a wrong current password: %d", r.code)
	}
	if r := alice.do("POST", "/api/me/password", map[string]string{"current_password": "alice-password-1", "new_password": "alice-password-2"}); r.code != 200 {
		t.Fatalf("password change: %d %s", r.code, r.raw)
	}
	if r := second.do("GET", "/api/me", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("other session survived the password change: %d", r.code)
	}
	if r := alice.do("GET", "/api/me", nil); r.code != 200 {
		t.Fatalf("the changing session was ended: %d", r.code)
	}

	// Brute force: three free failures, then growing waits with Retry-After.
	guesser := n.browser("127.0.0.1")
	for i := 0; i < 4; i++ {
		if r := guesser.login("alice", "not-the-password"); r.code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, r.code)
		}
	}
	r := guesser.login("alice", "alice-password-2")
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 4 failures: %d (Retry-After %q)", r.code, r.header.Get("Retry-After"))
	}

	// Deleting the account needs the password, ends the session, frees the name.
	if r := alice.do("DELETE", "/api/me", map[string]string{"password": "alice-password-2"}); r.code != 200 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	if r := alice.do("GET", "/api/me", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("deleted account's session: %d", r.code)
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOwnerModeratorViewer walks the story: an owner appoints a
// moderator who mutes a viewer; a level-0 account cannot post links where
// the rule forbids it; every act lands in the audit log.
func TestOwnerModeratorViewer(t *testing.T) {
	n := startNode(t, "")
	for _, u := range []struct {
		name     string
		streamer bool
	}{{"owner1", true}, {"mod1", false}, {"viewer1", false}} {
		if _, err := n.app.Accounts.Users.Create(context.Background(), account.NewUser{Username: u.name, Password: u.name + "-password", CanStream: u.streamer}); err != nil {
			t.Fatal(err)
		}
	}
	owner, mod, viewer := n.browser("127.0.0.1"), n.browser("127.0.0.1"), n.browser("127.0.0.1")
	owner.login("owner1", "owner1-password")
	mod.login("mod1", "mod1-password")
	viewer.login("viewer1", "viewer1-password")

	if r := viewer.do("POST", "/api/channels", map[string]any{"slug": "nope", "title": "x"}); r.code != http.StatusForbidden {
		t.Fatalf("viewer created a channel: %d", r.code)
	}
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "owned", "title": "Owner's room"}); r.code != http.StatusCreated || r.str("stream_key") == "" {
		t.Fatalf("streamer creating a channel: %d %s", r.code, r.raw)
	}
	if r := mod.do("POST", "/api/channels/owned/moderators", map[string]string{"username": "viewer1"}); r.code != http.StatusForbidden {
		t.Fatalf("non-owner appointing: %d", r.code)
	}
	if r := owner.do("POST", "/api/channels/owned/moderators", map[string]string{"username": "mod1"}); r.code != http.StatusCreated {
		t.Fatalf("appoint: %d %s", r.code, r.raw)
	}
	if r := mod.do("PATCH", "/api/channels/owned", map[string]string{"title": "hijack"}); r.code != http.StatusForbidden {
		t.Fatalf("moderator editing the channel: %d", r.code)
	}

	// Links need level 1 here; the viewer is level 0.
	if r := mod.do("PUT", "/api/channels/owned/rules", map[string]any{"links_min_level": 1, "max_length": 100}); r.code != 200 {
		t.Fatalf("set rules: %d %s", r.code, r.raw)
	}
	if r := viewer.do("PUT", "/api/channels/owned/rules", map[string]any{"max_length": 500}); r.code != http.StatusForbidden {
		t.Fatalf("viewer setting rules: %d", r.code)
	}
	if r := viewer.do("POST", "/api/channels/owned/check-message", map[string]string{"text": "hello!"}); r.code != 200 {
		t.Fatalf("plain message: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/channels/owned/check-message", map[string]string{"text": "free stuff at www.spam.com"}); r.code != http.StatusForbidden || r.str("code") != "links" {
		t.Fatalf("level-0 link: %d %s", r.code, r.raw)
	}
	if r := mod.do("POST", "/api/channels/owned/check-message", map[string]string{"text": "rules at www.example.com"}); r.code != 200 {
		t.Fatalf("moderator link: %d %s", r.code, r.raw)
	}

	// The moderator mutes the viewer for 10 minutes.
	if r := mod.do("POST", "/api/channels/owned/mutes", map[string]any{"username": "owner1", "minutes": 10, "reason": "x"}); r.code != http.StatusForbidden {
		t.Fatalf("muting the owner: %d", r.code)
	}
	if r := mod.do("POST", "/api/channels/owned/mutes", map[string]any{"username": "viewer1", "minutes": 10, "reason": "spamming links"}); r.code != http.StatusCreated {
		t.Fatalf("mute: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/channels/owned/check-message", map[string]string{"text": "hello?"}); r.code != http.StatusForbidden || !strings.Contains(r.str("error"), "muted") {
		t.Fatalf("muted viewer: %d %s", r.code, r.raw)
	}
	// The mute runs out by itself (its expiry moved into the past, as time would).
	if _, err := n.app.DB.ExecContext(context.Background(), `UPDATE sanctions SET expires_at = $1`, time.Now().Add(-time.Second).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if r := viewer.do("POST", "/api/channels/owned/check-message", map[string]string{"text": "back again"}); r.code != 200 {
		t.Fatalf("after the mute expired: %d %s", r.code, r.raw)
	}

	// A report lands in the channel's queue; the moderator actions it.
	rep := viewer.do("POST", "/api/reports", map[string]string{"username": "mod1", "channel": "owned", "reason": "rude", "message_id": "m-1"})
	if rep.code != http.StatusCreated {
		t.Fatalf("report: %d %s", rep.code, rep.raw)
	}
	if r := viewer.do("GET", "/api/channels/owned/reports", nil); r.code != http.StatusForbidden {
		t.Fatalf("viewer reading the queue: %d", r.code)
	}
	q := mod.do("GET", "/api/channels/owned/reports?status=open", nil)
	if q.code != 200 || !strings.Contains(q.raw, `"rude"`) {
		t.Fatalf("queue: %s", q.raw)
	}
	if r := mod.do("POST", "/api/reports/"+jsonNum(rep.body["id"]), map[string]string{"status": "dismissed"}); r.code != 200 {
		t.Fatalf("resolve: %d %s", r.code, r.raw)
	}

	log := owner.do("GET", "/api/channels/owned/modlog", nil)
	for _, act := range []string{"moderator.appoint", "rules.update", `"mute"`, "report.dismissed"} {
		if !strings.Contains(log.raw, act) {
			t.Errorf("audit log lacks %s: %s", act, log.raw)
		}
	}

	// Platform ban by the admin token: the viewer can no longer act anywhere.
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	users := admin.do("GET", "/api/admin/users?q=view", nil)
	if users.code != 200 || !strings.Contains(users.raw, "viewer1") || strings.Contains(users.raw, "owner1") {
		t.Fatalf("admin user search: %s", users.raw)
	}
	vid := jsonNum(users.body["users"].([]any)[0].(map[string]any)["id"])
	if r := admin.do("POST", "/api/admin/users/"+vid+"/ban", map[string]any{"reason": "abuse"}); r.code != http.StatusCreated {
		t.Fatalf("platform ban: %d %s", r.code, r.raw)
	}
	if r := viewer.do("POST", "/api/channels/owned/check-message", map[string]string{"text": "hi"}); r.code != http.StatusForbidden {
		t.Fatalf("platform-banned viewer: %d", r.code)
	}
	if r := admin.do("POST", "/api/admin/users/"+vid+"/roles", map[string]any{"streamer": true}); r.code != 200 || !strings.Contains(r.raw, "streamer") {
		t.Fatalf("grant streamer: %d %s", r.code, r.raw)
	}
}

// TestFloodFromOneAddressIsThrottled: one address hits the write limit and
// gets 429 with Retry-After; another address carries on.
func TestFloodFromOneAddressIsThrottled(t *testing.T) {
	n := startNode(t, "", WithLimits(account.Limits{WritePerIP: ratelimit.NewLimiter(5, time.Minute), BrowsePerIP: ratelimit.NewLimiter(5, time.Minute)}))
	flood, calm := n.browser("127.0.0.1"), n.browser("127.0.0.2")
	var last reply
	for i := 0; i < 6; i++ {
		last = flood.do("POST", "/api/auth/logout", nil)
	}
	if last.code != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("6th write from one address: %d", last.code)
	}
	if r := calm.do("POST", "/api/auth/logout", nil); r.code == http.StatusTooManyRequests {
		t.Fatal("another address was throttled")
	}
	// Anonymous crawling of channel lists: throttled, with a challenge
	// that lifts the throttle once solved.
	for i := 0; i < 5; i++ {
		flood.do("GET", "/api/channels", nil)
	}
	r := flood.do("GET", "/api/channels", nil)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("crawler listing: %d", r.code)
	}
	ch := r.body["challenge"].(map[string]any)
	diff := int(ch["difficulty"].(float64))
	if diff <= account.BaseDifficulty {
		t.Errorf("crawler difficulty %d not raised", diff)
	}
	nonce := account.Solve(ch["challenge"].(string), diff)
	pass := n.browser("127.0.0.1")
	req, _ := http.NewRequest("POST", n.http+"/api/challenge/pass", strings.NewReader(`{"challenge":"`+ch["challenge"].(string)+`","nonce":"`+nonce+`"}`))
	res, err := pass.client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("pass: %v %v", err, res.StatusCode)
	}
	var passCookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == account.PassCookie {
			passCookie = c
		}
	}
	res.Body.Close()
	req, _ = http.NewRequest("GET", n.http+"/api/channels", nil)
	req.AddCookie(passCookie)
	res, err = pass.client.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("listing with a pass: %v %v", err, res.StatusCode)
	}
	res.Body.Close()

	// Reading many different channels anonymously is crawling too; one
	// channel polled all day (a watch page) is not.
	crawler, watcher := n.browser("127.0.0.3"), n.browser("127.0.0.4")
	for i := 0; i < account.MaxChannelsPerMinute; i++ {
		if r := crawler.do("GET", fmt.Sprintf("/api/channels/ch-%d", i), nil); r.code != http.StatusNotFound {
			t.Fatalf("read %d: %d", i, r.code)
		}
		watcher.do("GET", "/api/channels/ch-0", nil)
	}
	if r := crawler.do("GET", "/api/channels/one-more", nil); r.code != http.StatusTooManyRequests || r.body["challenge"] == nil {
		t.Fatalf("crawler reading its 31st channel: %d %s", r.code, r.raw)
	}
	if r := watcher.do("GET", "/api/channels/ch-0", nil); r.code == http.StatusTooManyRequests {
		t.Fatal("a watch page polling one channel was taken for a crawler")
	}
}
