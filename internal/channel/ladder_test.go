package channel

import (
	"context"
	"fmt"
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
		h, _ := New(Deps{Service: svc, Live: noLive{}, Accounts: testAccounts{}, Ladder: LadderPlatform{Default: false, FFmpeg: true, Choice: true, Rungs: testRungs}})
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
		if on, _, err := svc.LadderFor(ctx, c.ID, false); err != nil || !on {
			t.Errorf("LadderFor after on, platform off: %v %v", on, err)
		}
		// The admin (user 1) may too; off overrides a platform that is on.
		if code, got := call("PUT", "1", `{"mode":"off"}`); code != 200 || got["mode"] != "off" {
			t.Fatalf("PUT off by admin: %d %v", code, got)
		}
		if on, _, err := svc.LadderFor(ctx, c.ID, true); err != nil || on {
			t.Errorf("LadderFor after off, platform on: %v %v", on, err)
		}
		if code, got := call("GET", "7", ""); code != 200 || got["mode"] != "off" || got["effective"] != false {
			t.Errorf("GET after off: %d %v", code, got)
		}
		if code, got := call("PUT", "7", `{"mode":"default"}`); code != 200 || got["mode"] != "default" {
			t.Fatalf("PUT default: %d %v", code, got)
		}
		for _, platform := range []bool{false, true} {
			if on, _, err := svc.LadderFor(ctx, c.ID, platform); err != nil || on != platform {
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

		// Rungs: every offered one until the owner picks some; a pick
		// keeps the mode, names outside the platform's list or an empty
		// pick are refused and change nothing; picking all of them
		// follows the platform's list again.
		if code, got := call("GET", "7", ""); code != 200 || fmt.Sprint(got["rungs"]) != "[720p 480p 360p]" || len(got["offered"].([]any)) != 3 {
			t.Fatalf("GET rungs: %d %v", code, got)
		}
		for _, body := range []string{`{"rungs":[]}`, `{"rungs":["1080p"]}`, `{"rungs":["360p","240p"]}`} {
			if code, got := call("PUT", "7", body); code != 400 || got["code"] != "bad_ladder_rungs" {
				t.Errorf("PUT %s: %d %v", body, code, got)
			}
		}
		code, got = call("PUT", "7", `{"rungs":["360p","480p","360p"]}`)
		if code != 200 || fmt.Sprint(got["rungs"]) != "[480p 360p]" || got["mode"] != "on" {
			t.Fatalf("PUT rungs: %d %v", code, got)
		}
		if on, picked, err := svc.LadderFor(ctx, c.ID, false); err != nil || !on || strings.Join(picked, ",") != "360p,480p" {
			t.Errorf("LadderFor after a pick: %v %v %v", on, picked, err)
		}
		if code, got := call("PUT", "7", `{"mode":"default"}`); code != 200 || fmt.Sprint(got["rungs"]) != "[480p 360p]" {
			t.Errorf("mode change lost the pick: %d %v", code, got)
		}
		if code, got := call("PUT", "7", `{"rungs":["720p","480p","360p"]}`); code != 200 || fmt.Sprint(got["rungs"]) != "[720p 480p 360p]" {
			t.Errorf("PUT all rungs: %d %v", code, got)
		}
		if _, picked, _ := svc.LadderSetting(ctx, c.ID); picked != nil {
			t.Errorf("all rungs stored as a pick: %v", picked)
		}
		// A channel that never chose a mode may still pick rungs.
		if err := svc.SetLadderRungs(ctx, other.ID, []string{"360p"}, testRungs); err != nil {
			t.Fatal(err)
		}
		if m, picked, err := svc.LadderSetting(ctx, other.ID); err != nil || m != LadderDefault || len(picked) != 1 {
			t.Errorf("other channel after a pick: %q %v %v", m, picked, err)
		}
	}, Migrations())
}

var testRungs = []LadderRung{{Name: "720p", Height: 720, Kbps: 2500, Profile: "high"},
	{Name: "480p", Height: 480, Kbps: 1200, Profile: "main"}, {Name: "360p", Height: 360, Kbps: 600, Profile: "baseline"}}

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
		got := h.ladderJSON(tc.mode, nil)
		if got.Mode != tc.mode || got.Effective != tc.effective || got.Available != tc.available || got.Reason != tc.reason || got.Platform != tc.p.Default {
			t.Errorf("%+v %s: %+v", tc.p, tc.mode, got)
		}
	}
}
