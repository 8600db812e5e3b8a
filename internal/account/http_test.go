package account_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// client keeps the cookies and token a browser or a bot would.
type client struct {
	t                    *testing.T
	h                    http.Handler
	session, csrf, token string
}

func (c *client) do(method, path, body string) (int, http.Header, string) {
	c.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if c.session != "" {
		r.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: c.session})
	}
	if c.csrf != "" {
		r.Header.Set(account.CSRFHeader, c.csrf)
	}
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		switch ck.Name {
		case account.SessionCookie:
			c.session = ck.Value
		case account.CSRFCookie:
			c.csrf = ck.Value
		}
	}
	return w.Code, w.Header(), strings.TrimSpace(w.Body.String())
}

// TestAccountOverHTTP walks sign-up (with its proof of work), the caller's
// account, log-in failures, CSRF, personal tokens and the admin's settings
// through account's own routes, and pins the refusals' bytes.
func TestAccountOverHTTP(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		acc, err := account.New(ctx, account.Deps{DB: db, Roles: moderation.NewStore(db), Channels: channel.NewService(db),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		acc.Routes(mux)
		h := acc.Authenticate(mux)
		alice := &client{t: t, h: h}

		code, _, body := alice.do("GET", "/api/challenge?purpose=signup", "")
		var ch account.IssuedChallenge
		if err := json.Unmarshal([]byte(body), &ch); code != 200 || err != nil {
			t.Fatalf("challenge: %d %s", code, body)
		}
		signup := `{"username":"alice","password":"alice-password","challenge":"` + ch.Challenge + `","nonce":"` + account.Solve(ch.Challenge, ch.Difficulty) + `"}`
		if code, _, body := alice.do("POST", "/api/auth/signup", signup); code != 201 || !strings.Contains(body, `"roles":["viewer","streamer","admin"]`) {
			t.Fatalf("first sign-up (runs the install): %d %s", code, body)
		}
		if code, _, body := alice.do("POST", "/api/auth/signup", signup); code != 400 || body != `{"code":"bad_request","error":"this challenge was already used"}` {
			t.Fatalf("a spent challenge: %d %s", code, body)
		}

		for _, c := range []struct {
			who          *client
			method, path string
			body         string
			status       int
			want         string
		}{
			{alice, "GET", "/api/me", "", 200, `"username":"alice"`},
			{&client{t: t, h: h}, "POST", "/api/auth/login", `{"username":"alice","password":"wrong-password"}`, 401,
				`{"code":"bad_login","error":"wrong username or password"}`},
			{&client{t: t, h: h, session: alice.session}, "POST", "/api/tokens", `{"name":"bot","scopes":["chat:write"]}`, 403,
				`{"code":"forbidden","error":"missing or wrong X-CSRF-Token header"}`},
			{alice, "POST", "/api/tokens", `{"name":"bot","scopes":["nope"]}`, 400,
				`{"code":"bad_request","error":"unknown scope \"nope\"; scopes are account:read, chat:write, wallet:spend, channel:manage, channel:payout, moderate"}`},
			{alice, "POST", "/api/tokens", `{"name":"bot","scopes":["chat:write"]}`, 201, `"scopes":["chat:write"]`},
			{&client{t: t, h: h}, "GET", "/api/me", "", 401, `{"code":"unauthorized","error":"log in first"}`},
			{&client{t: t, h: h, token: "lh_pat_forged"}, "GET", "/api/me", "", 401,
				`{"code":"unauthorized","error":"the bearer token is not valid (revoked, or never issued)"}`},
			{alice, "PUT", "/api/admin/settings", `{"open_streaming":true,"rate_limits":{"writes_per_ip_per_minute":-1}}`, 400,
				`{"code":"bad_request","error":"each rate limit must be 0 (the default) to 100000"}`},
			{alice, "PUT", "/api/admin/settings", `{"open_streaming":true}`, 200, `"open_streaming":true`},
			{alice, "DELETE", "/api/tokens/x", "", 400, `{"code":"bad_request","error":"token id must be a number"}`},
			{alice, "POST", "/api/me/password", `{"current_password":"alice-password","new_password":"short"}`, 400,
				`{"code":"password_too_short","error":"password must be at least 10 characters"}`},
		} {
			code, _, body := c.who.do(c.method, c.path, c.body)
			if code != c.status || (strings.HasPrefix(c.want, "{") && body != c.want) || !strings.Contains(body, c.want) {
				t.Errorf("%s %s %s: %d %s; want %d %s", c.method, c.path, c.body, code, body, c.status, c.want)
			}
		}

		// The token speaks for alice within its scope only.
		code, _, body = alice.do("POST", "/api/tokens", `{"name":"reader","scopes":["chat:write"]}`)
		var tok struct{ Token string }
		if err := json.Unmarshal([]byte(body), &tok); code != 201 || err != nil {
			t.Fatalf("token: %d %s", code, body)
		}
		bot := &client{t: t, h: h, token: tok.Token}
		if code, _, body := bot.do("GET", "/api/me", ""); code != 403 || body != `{"code":"forbidden","error":"this token lacks the account:read scope"}` {
			t.Fatalf("a chat token reading the account: %d %s", code, body)
		}
		if code, _, body := bot.do("GET", "/api/admin/users", ""); code != 403 || body != `{"code":"forbidden","error":"personal API tokens cannot do this; use a logged-in session"}` {
			t.Fatalf("a token doing admin work: %d %s", code, body)
		}
	}, account.Migrations(), moderation.Migrations(), channel.Migrations())
}
