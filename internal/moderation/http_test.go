package moderation_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/social"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// site is account, moderation and social wired as the app wires them, on a
// real database, behind account's Authenticate.
type site struct {
	t       *testing.T
	acc     *account.Service
	handler http.Handler
}

func newSite(t *testing.T, db *store.DB) *site {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	channels, mods, follows := channel.NewService(db), moderation.NewStore(db), social.NewStore(db)
	acc, err := account.New(ctx, account.Deps{DB: db, Roles: mods, Channels: channels, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	m, err := moderation.New(moderation.Deps{Store: mods, Accounts: acc, Users: acc.Users, Channels: channels, Follows: follows, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	soc, err := social.New(social.Deps{Store: follows, Accounts: acc})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	acc.Routes(mux)
	m.Routes(mux)
	soc.Routes(mux)
	return &site{t: t, acc: acc, handler: acc.Authenticate(mux)}
}

// user makes an account (a streamer owns channel slug when slug is set)
// and logs it in; it returns the session and CSRF token.
func (s *site) user(db *store.DB, name, slug string) [2]string {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.acc.Users.Create(ctx, account.NewUser{Username: name, Password: name + "-password", CanStream: slug != ""})
	if err != nil {
		s.t.Fatal(err)
	}
	if slug != "" {
		title := "Room of " + name
		if _, _, err := channel.NewService(db).Create(ctx, channel.Input{Slug: &slug, Title: &title}, u.ID); err != nil {
			s.t.Fatal(err)
		}
	}
	token, sess, err := s.acc.Sessions.NewSession(ctx, u.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return [2]string{token, sess.CSRF}
}

// do sends a request as login (zero: anonymous) and returns status and body.
func (s *site) do(login [2]string, method, path, body string) (int, string) {
	s.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if login[0] != "" {
		r.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: login[0]})
		r.Header.Set(account.CSRFHeader, login[1])
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String())
}

// TestChannelScopedHandlers: the channel-scope middleware resolves the
// slug and the caller once for every moderation and social handler, and
// refusals read exactly as clients know them.
func TestChannelScopedHandlers(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		s := newSite(t, db)
		owner, viewer := s.user(db, "owner", "club"), s.user(db, "viewer", "")
		steps := []struct {
			who          [2]string
			method, path string
			body         string
			status       int
			want         string // the whole body, or a part of it when it starts with "…"
		}{
			{owner, "GET", "/api/channels/nowhere/rules", "", 404, `{"code":"not_found","error":"channel not found"}`},
			{[2]string{}, "PUT", "/api/channels/club/rules", `{"max_length":50}`, 401, `{"code":"unauthorized","error":"log in first"}`},
			{viewer, "PUT", "/api/channels/club/rules", `{"max_length":50}`, 403, `{"code":"forbidden","error":"only the channel's moderators may do this"}`},
			{owner, "PUT", "/api/channels/club/rules", `{"max_length":50,"slow_mode_seconds":-1}`, 400, `{"code":"bad_request","error":"slow_mode_seconds must be 0 to 3600"}`},
			{owner, "PUT", "/api/channels/club/rules", `{"max_length":50}`, 200, `…"max_length":50`},
			{[2]string{}, "GET", "/api/channels/club/rules", "", 200, `…"max_length":50`},
			{viewer, "POST", "/api/channels/club/check-message", `{"text":"hi"}`, 200, `{"allowed":true}`},
			{owner, "POST", "/api/channels/club/mutes", `{"username":"viewer","minutes":10,"reason":"spam"}`, 201, `…"kind":"mute"`},
			{viewer, "POST", "/api/channels/club/check-message", `{"text":"hi"}`, 403,
				`{"code":"forbidden","error":"you are muted in this channel","reason":"muted"}`},
			{viewer, "POST", "/api/channels/club/mutes", `{"username":"owner","minutes":10,"reason":"x"}`, 403,
				`{"code":"forbidden","error":"only the channel's moderators may do this"}`},
			{owner, "DELETE", "/api/channels/club/mutes/nobody", "", 404, `{"code":"not_found","error":"no such user"}`},
			{owner, "DELETE", "/api/channels/club/bans/viewer", "", 404, `{"code":"not_found","error":"no such mute or ban in force"}`},
			{owner, "GET", "/api/channels/club/modlog", "", 200, `…"action":"mute"`},
			{viewer, "POST", "/api/channels/club/follow", "", 200, `{"following":true}`},
			{[2]string{}, "GET", "/api/channels/club/follow", "", 200, `{"followers":1,"following":false}`},
			{owner, "POST", "/api/channels/club/rules", "", 405, ""},
		}
		for _, st := range steps {
			status, body := s.do(st.who, st.method, st.path, st.body)
			ok := status == st.status
			if part, found := strings.CutPrefix(st.want, "…"); found {
				ok = ok && strings.Contains(body, part)
			} else if st.want != "" {
				ok = ok && body == st.want
			}
			if !ok {
				t.Errorf("%s %s %s: %d %s; want %d %s", st.method, st.path, st.body, status, body, st.status, st.want)
			}
		}
	}, account.Migrations(), moderation.Migrations(), social.Migrations(), channel.Migrations())
}
