package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/room"
)

// rawWS dials /ws from a chosen local address and returns the connection,
// or the close code when the server ends it before its welcome.
func rawWS(t *testing.T, n *testNode, fromIP string) (*websocket.Conn, websocket.StatusCode) {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fromIP)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(n.http, "http", "ws", 1)+"/ws", &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial /ws from %s: %v", fromIP, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	_, data, err := c.Read(ctx)
	if err != nil {
		return nil, websocket.CloseStatus(err)
	}
	var f map[string]any
	if json.Unmarshal(data, &f) != nil || f["type"] != "welcome" {
		t.Fatalf("first frame %s", data)
	}
	return c, -1
}

// TestHardening18RoomConnectionsCappedPerAddress: one address holds at most
// 20 open room connections (the 21st is closed with 4429) while another
// address still gets in; an admin raises the cap at run time.
func TestHardening18RoomConnectionsCappedPerAddress(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("capped")
	var open []*websocket.Conn
	for i := 0; i < policy.DefaultRoomConnectionsPerIP; i++ {
		c, code := rawWS(t, n, "127.0.0.1")
		if c == nil {
			t.Fatalf("connection %d refused with %d", i+1, code)
		}
		open = append(open, c)
	}
	if c, code := rawWS(t, n, "127.0.0.1"); c != nil || code != room.CloseTooMany {
		t.Fatalf("connection 21 from one address: closed with %d, want %d", code, room.CloseTooMany)
	}
	if c, _ := rawWS(t, n, "127.0.0.2"); c == nil {
		t.Fatal("another address was refused")
	}
	// A closed connection frees its place.
	open[0].Close(websocket.StatusNormalClosure, "")
	waitFor(t, 5*time.Second, "a freed place", func() bool {
		c, _ := rawWS(t, n, "127.0.0.1")
		if c != nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
		return c != nil
	})

	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	r := admin.do("PUT", "/api/admin/settings", map[string]any{"rate_limits": map[string]int{"room_connections_per_ip": 25}})
	if r.code != 200 || jsonNum(r.body["rate_limits_in_force"].(map[string]any)["room_connections_per_ip"]) != "25" {
		t.Fatalf("raise the cap: %d %s", r.code, r.raw)
	}
	for i := 19; i < 25; i++ { // 19 are still open
		if c, code := rawWS(t, n, "127.0.0.1"); c == nil {
			t.Fatalf("after raising the cap to 25, connection %d refused with %d", i+1, code)
		}
	}
	if c, code := rawWS(t, n, "127.0.0.1"); c != nil || code != room.CloseTooMany {
		t.Fatalf("connection 26: %d, want %d", code, room.CloseTooMany)
	}
}

// TestHardening18OnlineCountsAnAccountOnce: an account in three tabs is one
// viewer; each anonymous connection is one.
func TestHardening18OnlineCountsAnAccountOnce(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("counted")
	fan := newUser(t, n, "tabby", false)
	join := func(b *browser) map[string]any {
		v := n.dialWS(b)
		v.write(map[string]any{"type": "join", "room": "counted"})
		return v.expect("joined")
	}
	for i := 0; i < 3; i++ {
		join(fan)
	}
	join(nil)
	if f := join(nil); jsonNum(f["online"]) != "3" {
		t.Fatalf("online with one account in 3 tabs and 2 guests = %v, want 3", f["online"])
	}
}

// TestHardening19LikesOverWebSocketAreLimited: a connection reports likes
// at most once a second (a burst of two) and 50 taps a report; the excess
// is dropped and counted in /metrics; a guest's tap is refused.
func TestHardening19LikesOverWebSocketAreLimited(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("tappy")
	liker := n.dialWS(newUser(t, n, "tapper", false))
	liker.write(map[string]any{"type": "join", "room": "tappy"})
	liker.expect("joined")
	for i := 0; i < 10; i++ { // a flood: 10 reports of 500 taps at once
		liker.write(map[string]any{"type": "like", "count": 500})
	}
	// Two reports pass (burst), each cut to 50 taps.
	var total float64
	deadline := time.After(5 * time.Second)
	for total == 0 {
		select {
		case f := <-liker.frames:
			if f["type"] == "batch" {
				for _, e := range f["events"].([]any) {
					if ev := e.(map[string]any); ev["type"] == "likes" {
						total = ev["total"].(float64)
					}
				}
			}
		case <-deadline:
			t.Fatal("no likes event")
		}
	}
	if total != 100 {
		t.Fatalf("likes counted from a flood = %v, want 100 (two reports of 50)", total)
	}
	if got := n.app.Rooms.LikesDropped(); got != 10*500-100 {
		t.Fatalf("dropped taps = %d, want %d", got, 10*500-100)
	}
	_, metrics := httpGet(t, n.http+"/metrics")
	if !strings.Contains(metrics, "livehouse_room_likes_dropped_total 4900") {
		t.Fatal("/metrics lacks livehouse_room_likes_dropped_total 4900")
	}
	guest := n.dialWS(nil)
	guest.write(map[string]any{"type": "join", "room": "tappy"})
	guest.expect("joined")
	guest.write(map[string]any{"type": "like", "count": 1, "nonce": "g"})
	if f := guest.expect("error"); f["code"] != "login_required" {
		t.Fatalf("a guest's like: %v", f)
	}
}

// TestHardening12DisabledChannelTakesNoChat: once an admin disables a
// channel, danmaku (WebSocket and HTTP), likes and shares answer 403
// channel_disabled, and its watch page says it is unavailable (in the
// viewer's language) instead of showing a player.
func TestHardening12DisabledChannelTakesNoChat(t *testing.T) {
	eachEngine(t, func(t *testing.T, n *testNode) {
		n.createChannel("closing")
		chatter := newUser(t, n, "chatter", false)
		v := n.dialWS(chatter)
		v.write(map[string]any{"type": "join", "room": "closing"})
		v.expect("joined")
		v.write(map[string]any{"type": "send", "text": "still open", "nonce": "1"})
		v.expect("sent")

		admin := n.browser("127.0.0.1")
		admin.bearer = testAdminToken
		if r := admin.do("POST", "/api/admin/channels/closing", map[string]any{"disabled": true}); r.code != 200 {
			t.Fatalf("disable: %d %s", r.code, r.raw)
		}
		v.write(map[string]any{"type": "send", "text": "are you there", "nonce": "2"})
		if f := v.expect("error"); f["code"] != "channel_disabled" {
			t.Fatalf("WebSocket danmaku in a disabled channel: %v", f)
		}
		v.write(map[string]any{"type": "like", "count": 3, "nonce": "3"})
		if f := v.expect("error"); f["code"] != "channel_disabled" {
			t.Fatalf("WebSocket like in a disabled channel: %v", f)
		}
		for _, req := range []struct {
			path string
			body any
		}{
			{"/api/rooms/closing/danmaku", map[string]string{"text": "over HTTP"}},
			{"/api/rooms/closing/likes", map[string]int{"count": 1}},
			{"/api/rooms/closing/shares", nil},
		} {
			if r := chatter.do("POST", req.path, req.body); r.code != 403 || r.str("code") != "channel_disabled" {
				t.Fatalf("POST %s in a disabled channel: %d %s", req.path, r.code, r.raw)
			}
		}
		page := func(lang string) string {
			req, _ := http.NewRequest("GET", n.http+"/c/closing", nil)
			req.Header.Set("Accept-Language", lang)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, res.Body)
			return b.String()
		}
		if en := page("en"); !strings.Contains(en, "This channel is unavailable") || strings.Contains(en, `id="video"`) {
			t.Fatalf("English watch page of a disabled channel:\n%s", en)
		}
		if zh := page("zh-CN"); !strings.Contains(zh, "该频道暂不可用") {
			t.Fatal("Chinese watch page of a disabled channel lacks 该频道暂不可用")
		}
		// Switched back on, it takes chat again.
		if r := admin.do("POST", "/api/admin/channels/closing", map[string]any{"disabled": false}); r.code != 200 {
			t.Fatalf("enable: %d %s", r.code, r.raw)
		}
		if r := chatter.do("POST", "/api/rooms/closing/danmaku", map[string]string{"text": "back again"}); r.code != 201 {
			t.Fatalf("danmaku after re-enabling: %d %s", r.code, r.raw)
		}
	})
}

// TestHardening08ModeratorsSeeNoMoney: a channel's stats show earnings and
// gift coins to its owner and admins, never to its moderators.
func TestHardening08ModeratorsSeeNoMoney(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "owner8", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "earner", "title": "Earner"}); r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	mod := newUser(t, n, "mod8", false)
	if r := owner.do("POST", "/api/channels/earner/moderators", map[string]string{"username": "mod8"}); r.code != 201 {
		t.Fatalf("appoint: %d %s", r.code, r.raw)
	}
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	for who, b := range map[string]*browser{"owner": owner, "admin": admin, "moderator": mod} {
		r := b.do("GET", "/api/channels/earner/stats", nil)
		if r.code != 200 {
			t.Fatalf("%s stats: %d %s", who, r.code, r.raw)
		}
		_, earnings := r.body["earnings"]
		_, coins := r.body["gift_coins_today"]
		if want := who != "moderator"; earnings != want || coins != want {
			t.Errorf("%s sees earnings %v, gift coins %v; want %v", who, earnings, coins, want)
		}
		if _, ok := r.body["danmaku_today"]; !ok {
			t.Errorf("%s lacks the chat numbers", who)
		}
	}
}
