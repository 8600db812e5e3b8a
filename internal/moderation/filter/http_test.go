package filter_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/moderation/filter"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

var sets = []store.MigrationSet{account.Migrations(), moderation.Migrations(), channel.Migrations(), filter.Migrations()}

// site is account and the filter wired as the app wires them, on a real
// database, behind account's Authenticate.
type site struct {
	t       *testing.T
	db      *store.DB
	acc     *account.Service
	mods    *moderation.Store
	eng     *filter.Engine
	handler http.Handler
}

func newSite(t *testing.T, db *store.DB) *site {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	channels, mods := channel.NewService(db), moderation.NewStore(db)
	acc, err := account.New(ctx, account.Deps{DB: db, Roles: mods, Channels: channels, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := filter.New(filter.Deps{DB: db, Accounts: acc, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	mux := http.NewServeMux()
	acc.Routes(mux)
	eng.Routes(mux)
	return &site{t: t, db: db, acc: acc, mods: mods, eng: eng, handler: acc.Authenticate(mux)}
}

func (s *site) user(name, slug string, admin bool) ([2]string, int64) {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.acc.Users.Create(ctx, account.NewUser{Username: name, Password: name + "-password", CanStream: slug != "", IsAdmin: admin})
	if err != nil {
		s.t.Fatal(err)
	}
	if slug != "" {
		title := "Room of " + name
		if _, _, err := channel.NewService(s.db).Create(ctx, channel.Input{Slug: &slug, Title: &title}, u.ID); err != nil {
			s.t.Fatal(err)
		}
	}
	token, sess, err := s.acc.Sessions.NewSession(ctx, u.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	return [2]string{token, sess.CSRF}, u.ID
}

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

// eventually waits for the engine's reload (it runs on its own goroutine).
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTermRoutes: admins keep the platform list and floor, owners their
// channel's list, moderators read it, viewers get nothing; every change
// reaches Check without a restart; bad input is a 4xx with a code.
func TestTermRoutes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		s := newSite(t, db)
		admin, _ := s.user("admin1", "", true)
		owner, _ := s.user("owner1", "club", false)
		mod, modID := s.user("mod1", "", false)
		viewer, _ := s.user("viewer1", "", false)
		chID, _, err := channel.NewService(db).ChannelOwner(context.Background(), "club")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.mods.Appoint(context.Background(), chID, modID, 1); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			who          [2]string
			method, path string
			body         string
			status       int
			want         string
		}{
			{viewer, "GET", "/api/admin/moderation/terms", "", 403, `…"code":"forbidden"`},
			{[2]string{}, "POST", "/api/admin/moderation/terms", `{"term":"x"}`, 401, `…"code":"unauthorized"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":"傻逼","action":"block","category":"abuse","pinyin":true,"initials":true}`, 201, `…"term":"傻逼"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":"傻逼"}`, 409, `…"code":"term_exists"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":"bass","action":"allow"}`, 201, `…"action":"allow"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":"x","action":"nuke"}`, 400, `…"code":"bad_term_action"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":"x","category":"weird"}`, 400, `…"code":"bad_term_category"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":"   "}`, 400, `…"code":"bad_term"`},
			{admin, "POST", "/api/admin/moderation/terms", `{"term":`, 400, ``},
			{admin, "DELETE", "/api/admin/moderation/terms/abc", "", 400, `…"code":"bad_term_id"`},
			{admin, "DELETE", "/api/admin/moderation/terms/99999", "", 404, `…"code":"term_not_found"`},
			{admin, "GET", "/api/admin/moderation/terms", "", 200, `…"term":"bass"`},
			{admin, "PUT", "/api/admin/moderation/settings", `{"floor":7}`, 400, `…"code":"bad_floor"`},
			{owner, "PUT", "/api/admin/moderation/settings", `{"floor":2}`, 403, `…"code":"forbidden"`},
			{admin, "PUT", "/api/admin/moderation/settings", `{"floor":2}`, 200, `{"floor":2}`},
			{admin, "GET", "/api/admin/moderation/settings", "", 200, `{"floor":2}`},
			{owner, "POST", "/api/channels/club/moderation/terms", `{"term":"菠菜","action":"replace","category":"spam"}`, 201, `…"term":"菠菜"`},
			{mod, "POST", "/api/channels/club/moderation/terms", `{"term":"y"}`, 403, `…"code":"forbidden"`},
			{mod, "GET", "/api/channels/club/moderation/terms", "", 200, `…"term":"菠菜"`},
			{viewer, "GET", "/api/channels/club/moderation/terms", "", 403, `…"code":"forbidden"`},
			{admin, "GET", "/api/channels/club/moderation/terms", "", 200, `…"term":"菠菜"`},
			{owner, "GET", "/api/channels/nowhere/moderation/terms", "", 404, ``},
			{owner, "DELETE", "/api/channels/club/moderation/terms/1", "", 404, `…"code":"term_not_found"`}, // id 1 is the platform's
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
		ctx := context.Background()
		eventually(t, "the new lists and floor", func() bool {
			r := s.eng.Check(ctx, filter.Input{ChannelID: chID, Text: "你个sb", Level: 0, Kind: "chat"})
			masked := s.eng.Check(ctx, filter.Input{ChannelID: chID, Text: "买菠菜吗", Level: 2, Kind: "chat"}).Text != "买菠菜吗"
			return r.Action == filter.Block && s.eng.Floor() == 2 && masked
		})
		r := s.eng.Check(ctx, filter.Input{ChannelID: chID, Text: "买菠菜吗", Level: 2, Kind: "chat"})
		if r.Text != "买＊＊吗" || r.Action != filter.Allow {
			t.Errorf("replace term: %+v", r)
		}
		if r := s.eng.Check(ctx, filter.Input{ChannelID: 0, Text: "买菠菜吗", Level: 2}); r.Text != "买菠菜吗" {
			t.Errorf("a channel's term acted elsewhere: %+v", r)
		}
		// delete the channel term: the mask goes away
		_, body := s.do(owner, "GET", "/api/channels/club/moderation/terms", "")
		id := body[strings.Index(body, `"id":`)+5 : strings.Index(body, `,"term"`)]
		if status, b := s.do(owner, "DELETE", "/api/channels/club/moderation/terms/"+id, ""); status != 200 {
			t.Fatalf("delete: %d %s", status, b)
		}
		eventually(t, "the deleted term to stop acting", func() bool {
			return s.eng.Check(ctx, filter.Input{ChannelID: chID, Text: "买菠菜吗", Level: 2}).Text == "买菠菜吗"
		})
	}, sets...)
}
