package insight

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/policy"
)

// The sources in memory: these tests pin what the stats answer says and
// to whom; the real sources are exercised end to end in internal/app
// (TestHardening08ModeratorsSeeNoMoney, the studio in the Chromium tests).

type caller struct {
	ch policy.Channel
	p  policy.Principal
}

func (c caller) InChannel(a policy.Action, h func(http.ResponseWriter, *http.Request, policy.Channel, policy.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h(w, r, c.ch, c.p) }
}

type liveDir map[string]live.State

func (d liveDir) Lookup(slug string) (live.State, bool)   { s, ok := d[slug]; return s, ok }
func (d liveDir) HealthHistory(string) []live.HealthPoint { return nil }

type rooms struct{ err error }

func (r rooms) Counters(context.Context, string) (int64, int64, error) { return 7, 2, r.err }
func (rooms) DanmakuSince(_ context.Context, _ string, since time.Time) (int, error) {
	if time.Since(since) <= time.Minute+time.Second {
		return 3, nil
	}
	return 40, nil
}

type money struct{}

func (money) GiftsSince(context.Context, int64, time.Time) (int64, int64, error) { return 5, 1200, nil }
func (money) Earnings(context.Context, int64) (int64, error)                     { return 840, nil }

func stats(t *testing.T, src Sources) (int, map[string]any) {
	t.Helper()
	mux := http.NewServeMux()
	h, _ := New(src)
	h.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/channels/tea/stats", nil))
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestStatsShowMoneyOnlyToWhoMayManage(t *testing.T) {
	ch := policy.Channel{ID: 9, OwnerID: 1, Slug: "tea"}
	started := time.Now().Add(-90 * time.Second)
	dir := liveDir{"tea": {ChannelID: 9, Slug: "tea", StartedAt: started, BitrateKbps: 2900, FPS: 30, Viewers: 12}}
	owner := policy.Principal{User: &policy.User{ID: 1}, Via: "session"}
	mod := policy.Principal{User: &policy.User{ID: 2}, Via: "session"}
	for _, c := range []struct {
		who   string
		p     policy.Principal
		money bool
	}{{"owner", owner, true}, {"moderator", mod, false}, {"admin token", policy.Principal{Via: "admin-token"}, true}} {
		code, out := stats(t, Sources{Accounts: caller{ch, c.p}, Live: dir, Rooms: rooms{}, Online: func(string) int { return 4 }, Money: money{}})
		if code != 200 || out["live"] != true || out["viewers"] != float64(12) || out["online"] != float64(4) ||
			out["danmaku_last_minute"] != float64(3) || out["danmaku_today"] != float64(40) || out["likes"] != float64(7) ||
			out["gifts_today"] != float64(5) || out["bitrate_kbps"] != float64(2900) || out["uptime_seconds"].(float64) < 89 {
			t.Fatalf("%s: %d %v", c.who, code, out)
		}
		_, earnings := out["earnings"]
		_, coins := out["gift_coins_today"]
		if earnings != c.money || coins != c.money {
			t.Errorf("%s sees earnings %v, gift coins %v; want %v", c.who, earnings, coins, c.money)
		}
		if c.money && (out["earnings"] != float64(840) || out["gift_coins_today"] != float64(1200)) {
			t.Errorf("%s: money figures %v", c.who, out)
		}
	}
}

func TestStatsOfflineAndFailures(t *testing.T) {
	ch := policy.Channel{ID: 9, OwnerID: 1, Slug: "tea"}
	owner := policy.Principal{User: &policy.User{ID: 1}, Via: "session"}
	code, out := stats(t, Sources{Accounts: caller{ch, owner}, Live: liveDir{}, Rooms: rooms{}, Money: money{}})
	if code != 200 || out["live"] != false || out["viewers"] != float64(0) || out["uptime_seconds"] != float64(0) {
		t.Fatalf("offline: %d %v", code, out)
	}
	code, out = stats(t, Sources{Accounts: caller{ch, owner}, Live: liveDir{}, Rooms: rooms{err: errors.New("database gone")}, Money: money{}})
	if code != 500 || out["code"] != "internal" || out["error"] != "internal error" {
		t.Fatalf("a failing source: %d %v", code, out)
	}
}
