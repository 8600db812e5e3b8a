package channel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// TestLadderModeStoreAndAPI: a channel follows the platform's ladder until
// its owner (or an admin) picks on or off; default removes the choice;
// other users get 403, a bad mode 400 bad_ladder_mode, and nothing changes.
func TestLadderModeStoreAndAPI(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		c, _, err := svc.Create(ctx, Input{Slug: ptr("abr"), Title: ptr("ABR")}, 7)
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := svc.Create(ctx, Input{Slug: ptr("other"), Title: ptr("Other")}, 8)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := New(Deps{Service: svc, Live: noLive{}, Accounts: testAccounts{}, Ladder: LadderPlatform{Default: false, FFmpeg: true, Choice: true}})
		mux := http.NewServeMux()
		h.Routes(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		call := func(method, user, body string) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest(method, srv.URL+"/api/channels/abr/ladder", strings.NewReader(body))
			if user != "" {
				req.Header.Set("X-Test-User", user)
			}
			return do(t, req)
		}

		code, got := call("GET", "7", "")
		if code != 200 || got["mode"] != "default" || got["effective"] != false || got["platform"] != false || got["available"] != true {
			t.Fatalf("GET fresh: %d %v", code, got)
		}
		for _, tc := range []struct{ user, body string }{{"", `{"mode":"on"}`}, {"8", `{"mode":"on"}`}} {
			if code, got := call("PUT", tc.user, tc.body); code != 401 && code != 403 {
				t.Errorf("PUT by %q: %d %v", tc.user, code, got)
			}
		}
		if code, _ := call("GET", "8", ""); code != 403 {
			t.Errorf("GET by another user: %d", code)
		}
		for _, body := range []string{`{"mode":"auto"}`, `{"mode":""}`, `{}`, `{"mode":"ON"}`} {
			if code, got := call("PUT", "7", body); code != 400 || got["code"] != "bad_ladder_mode" {
				t.Errorf("PUT %s: %d %v", body, code, got)
			}
		}
		if m, _ := svc.LadderMode(ctx, c.ID); m != LadderDefault {
			t.Fatalf("refused PUTs changed the mode to %q", m)
		}

		code, got = call("PUT", "7", `{"mode":"on"}`)
		if code != 200 || got["mode"] != "on" || got["effective"] != true {
			t.Fatalf("PUT on: %d %v", code, got)
		}
		if on, err := svc.LadderFor(ctx, c.ID, false); err != nil || !on {
			t.Errorf("LadderFor after on, platform off: %v %v", on, err)
		}
		// The admin (user 1) may too; off overrides a platform that is on.
		if code, got := call("PUT", "1", `{"mode":"off"}`); code != 200 || got["mode"] != "off" {
			t.Fatalf("PUT off by admin: %d %v", code, got)
		}
		if on, err := svc.LadderFor(ctx, c.ID, true); err != nil || on {
			t.Errorf("LadderFor after off, platform on: %v %v", on, err)
		}
		if code, got := call("GET", "7", ""); code != 200 || got["mode"] != "off" || got["effective"] != false {
			t.Errorf("GET after off: %d %v", code, got)
		}
		if code, got := call("PUT", "7", `{"mode":"default"}`); code != 200 || got["mode"] != "default" {
			t.Fatalf("PUT default: %d %v", code, got)
		}
		for _, platform := range []bool{false, true} {
			if on, err := svc.LadderFor(ctx, c.ID, platform); err != nil || on != platform {
				t.Errorf("LadderFor default, platform %v: %v %v", platform, on, err)
			}
		}
		// One channel's choice is its own.
		if err := svc.SetLadderMode(ctx, c.ID, LadderOn); err != nil {
			t.Fatal(err)
		}
		if m, err := svc.LadderMode(ctx, other.ID); err != nil || m != LadderDefault {
			t.Errorf("other channel's mode: %q %v", m, err)
		}
	}, Migrations())
}

// TestLadderJSONUnavailable: without ffmpeg, or when the platform decides
// for every channel (--ladder-channels=false), the channel's choice does
// not count and the answer says why.
func TestLadderJSONUnavailable(t *testing.T) {
	for _, tc := range []struct {
		p         LadderPlatform
		mode      string
		effective bool
		available bool
		reason    string
	}{
		{LadderPlatform{Default: false, FFmpeg: true, Choice: true}, LadderOn, true, true, ""},
		{LadderPlatform{Default: true, FFmpeg: true, Choice: false}, LadderOff, true, false, "platform_only"},
		{LadderPlatform{Default: false, FFmpeg: true, Choice: false}, LadderOn, false, false, "platform_only"},
		{LadderPlatform{Default: false, FFmpeg: false, Choice: true}, LadderOn, true, false, "no_ffmpeg"},
	} {
		h := &Handlers{Deps: Deps{Ladder: tc.p}}
		got := h.ladderJSON(tc.mode)
		if got.Mode != tc.mode || got.Effective != tc.effective || got.Available != tc.available || got.Reason != tc.reason || got.Platform != tc.p.Default {
			t.Errorf("%+v %s: %+v", tc.p, tc.mode, got)
		}
	}
}
