package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// wsViewer is a WebSocket client speaking docs/protocol.md.
type wsViewer struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan websocket.CloseError
	// readErr is why reading stopped (set before frames is closed).
	readErr error
}

func (n *testNode) dialWS(b *browser) *wsViewer {
	n.t.Helper()
	h := http.Header{}
	if b != nil && b.session != "" {
		h.Set("Cookie", account.SessionCookie+"="+b.session)
	}
	if b != nil && b.bearer != "" {
		h.Set("Authorization", "Bearer "+b.bearer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(n.http, "http", "ws", 1)+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		n.t.Fatalf("dial /ws: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	v := &wsViewer{t: n.t, conn: conn, frames: make(chan map[string]any, 1024), closed: make(chan websocket.CloseError, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				v.readErr = err
				var ce websocket.CloseError
				if asClose(err, &ce) {
					v.closed <- ce
				}
				close(v.frames)
				return
			}
			var f map[string]any
			_ = json.Unmarshal(data, &f)
			v.frames <- f
		}
	}()
	n.t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	v.expect("welcome")
	return v
}

func asClose(err error, ce *websocket.CloseError) bool {
	c := websocket.CloseStatus(err)
	if c == -1 {
		return false
	}
	*ce = websocket.CloseError{Code: c}
	return true
}

func (v *wsViewer) write(f map[string]any) {
	v.t.Helper()
	data, _ := json.Marshal(f)
	if err := v.conn.Write(context.Background(), websocket.MessageText, data); err != nil {
		v.t.Fatalf("write frame: %v", err)
	}
}

// expect returns the next frame of type typ, skipping batches that carry
// only online counts.
func (v *wsViewer) expect(typ string) map[string]any {
	v.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-v.frames:
			if !ok {
				v.t.Fatalf("connection closed while waiting for %s", typ)
			}
			if f["type"] == typ {
				return f
			}
		case <-timeout:
			v.t.Fatalf("no %s frame within 5 s", typ)
		}
	}
}

// danmaku collects texts of danmaku events until n arrived.
func (v *wsViewer) danmaku(n int) []map[string]any {
	v.t.Helper()
	var out []map[string]any
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case f, ok := <-v.frames:
			if !ok {
				v.t.Fatalf("closed after %d of %d danmaku", len(out), n)
			}
			if f["type"] == "batch" {
				for _, e := range f["events"].([]any) {
					if ev := e.(map[string]any); ev["type"] == "danmaku" {
						out = append(out, ev)
					}
				}
			}
		case <-timeout:
			v.t.Fatalf("got %d of %d danmaku within 5 s", len(out), n)
		}
	}
	return out
}

func newUser(t *testing.T, n *testNode, name string, streamer bool) *browser {
	t.Helper()
	if _, err := n.app.Accounts.Users.Create(context.Background(), account.NewUser{Username: name, Password: name + "-password", CanStream: streamer}); err != nil {
		t.Fatal(err)
	}
	b := n.browser("127.0.0.1")
	if r := b.login(name, name+"-password"); r.code != 200 {
		t.Fatalf("login %s: %d", name, r.code)
	}
	return b
}

func TestDanmakuRoom(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "host", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "room1", "title": "Room one"}); r.code != 201 {
		t.Fatalf("create channel: %d", r.code)
	}
	alice := newUser(t, n, "alice", false)

	// An anonymous viewer joins and reads.
	anon := n.dialWS(nil)
	anon.write(map[string]any{"type": "join", "room": "room1"})
	if j := anon.expect("joined"); j["room"] != "room1" {
		t.Fatalf("joined: %v", j)
	}
	anon.write(map[string]any{"type": "send", "text": "hi", "nonce": "a1"})
	if e := anon.expect("error"); e["code"] != "login_required" || e["nonce"] != "a1" {
		t.Fatalf("anonymous send: %v", e)
	}

	// Alice sends over WebSocket; both see it, in order, with her name and level.
	ws := n.dialWS(alice)
	ws.write(map[string]any{"type": "join", "room": "room1"})
	ws.expect("joined")
	for i := 0; i < 20; i++ {
		ws.write(map[string]any{"type": "send", "text": fmt.Sprintf("msg %d", i), "color": "#ff0000", "nonce": fmt.Sprint(i)})
		if i == 9 {
			time.Sleep(1100 * time.Millisecond) // stay under the 10-per-10 s burst... almost
		}
	}
	got := anon.danmaku(10)
	for i, m := range got {
		if m["text"] != fmt.Sprintf("msg %d", i) || m["user"] != "alice" || m["color"] != "#ff0000" {
			t.Fatalf("danmaku %d = %v", i, m)
		}
	}
	// The 11th within 10 s is refused as too fast, with its nonce.
	var tooFast bool
	for i := 0; i < 30 && !tooFast; i++ {
		select {
		case f := <-ws.frames:
			if f["type"] == "error" && f["code"] == "too_fast" {
				tooFast = true
			}
		case <-time.After(3 * time.Second):
			i = 30
		}
	}
	if !tooFast {
		t.Fatal("burst limit never refused a message")
	}

	// HTTP: a bot token with chat:write posts; history lists; hostile text stays text.
	botOwner := newUser(t, n, "botmaker", false)
	tok := botOwner.do("POST", "/api/tokens", map[string]any{"name": "bot", "scopes": []string{"chat:write"}})
	bot := n.browser("127.0.0.2")
	bot.bearer = tok.str("token")
	post := bot.do("POST", "/api/rooms/room1/danmaku", map[string]string{"text": `<img src=x onerror=alert(1)>`})
	if post.code != 201 || post.str("id") == "" {
		t.Fatalf("bot post: %d %s", post.code, post.raw)
	}
	for {
		m := anon.danmaku(1)[0]
		if m["id"] == post.str("id") {
			if m["text"] != `<img src=x onerror=alert(1)>` {
				t.Fatalf("hostile text changed: %v", m)
			}
			break
		}
	}
	hist := n.browser("127.0.0.1").do("GET", "/api/rooms/room1/danmaku?limit=5", nil)
	msgs := hist.body["messages"].([]any)
	if hist.code != 200 || len(msgs) != 5 || msgs[4].(map[string]any)["id"] != post.str("id") || msgs[0].(map[string]any)["user"] == nil {
		t.Fatalf("history: %d %s", hist.code, hist.raw)
	}

	// Refusals carry codes: bad style, control characters, repeats, rules.
	for _, c := range []struct {
		body map[string]string
		code string
	}{
		{map[string]string{"text": "x", "color": "red"}, "bad_color"},
		{map[string]string{"text": "x", "mode": "sideways"}, "bad_mode"},
		{map[string]string{"text": "bell\a"}, "control_chars"},
		{map[string]string{"text": "   "}, "empty"},
		{map[string]string{"text": strings.Repeat("长", 201)}, "too_long"},
		{map[string]string{"text": `<img src=x onerror=alert(1)>`}, "repeated"},
	} {
		r := bot.do("POST", "/api/rooms/room1/danmaku", c.body)
		if r.code < 400 || r.code >= 500 || r.str("code") != c.code {
			t.Errorf("%v: %d %s, want code %s", c.body, r.code, r.raw, c.code)
		}
	}
	owner.do("PUT", "/api/channels/room1/rules", map[string]any{"links_min_level": 1, "max_length": 200})
	if r := bot.do("POST", "/api/rooms/room1/danmaku", map[string]string{"text": "buy at www.spam.com"}); r.code != 403 || r.str("code") != "links" {
		t.Fatalf("link from level 0: %d %s", r.code, r.raw)
	}
	if r := n.browser("127.0.0.1").do("POST", "/api/rooms/room1/danmaku", map[string]string{"text": "x"}); r.code != 401 {
		t.Fatalf("anonymous HTTP post: %d", r.code)
	}

	// Resume: a viewer that drops and comes back with its last id gets
	// exactly what it missed, once.
	lastSeen := post.str("id")
	anon.conn.Close(websocket.StatusNormalClosure, "")
	var missed []string
	for i := 0; i < 3; i++ {
		r := bot.do("POST", "/api/rooms/room1/danmaku", map[string]string{"text": fmt.Sprintf("while away %d", i)})
		missed = append(missed, r.str("id"))
	}
	back := n.dialWS(nil)
	back.write(map[string]any{"type": "join", "room": "room1", "after": lastSeen})
	joined := back.expect("joined")
	replay := joined["replay"].([]any)
	if len(replay) != 3 {
		t.Fatalf("replay has %d messages, want 3: %v", len(replay), joined)
	}
	for i, e := range replay {
		if e.(map[string]any)["id"] != missed[i] {
			t.Fatalf("replay[%d] = %v, want id %s", i, e, missed[i])
		}
	}

	// A moderator deletes a message: it disappears for every viewer.
	del := owner.do("DELETE", "/api/rooms/room1/danmaku/"+missed[1], nil)
	if del.code != 200 {
		t.Fatalf("delete: %d %s", del.code, del.raw)
	}
	var sawDelete bool
	timeout := time.After(5 * time.Second)
	for !sawDelete {
		select {
		case f := <-back.frames:
			if f["type"] == "batch" {
				for _, e := range f["events"].([]any) {
					if ev := e.(map[string]any); ev["type"] == "delete" && ev["deleted_id"] == missed[1] {
						sawDelete = true
					}
				}
			}
		case <-timeout:
			t.Fatal("deletion never reached the viewer")
		}
	}
	if r := bot.do("DELETE", "/api/rooms/room1/danmaku/"+missed[0], nil); r.code != 403 {
		t.Fatalf("a viewer's token deleted a message: %d", r.code)
	}
	h := n.browser("127.0.0.1").do("GET", "/api/rooms/room1/danmaku?limit=200", nil)
	if strings.Contains(h.raw, "while away 1") || !strings.Contains(h.raw, "while away 2") {
		t.Fatalf("history after delete: %s", h.raw)
	}
	if log := owner.do("GET", "/api/channels/room1/modlog", nil); !strings.Contains(log.raw, "danmaku.delete") {
		t.Fatalf("deletion not in the audit log: %s", log.raw)
	}

	// Bad frames close the connection with the documented code.
	bad := n.dialWS(nil)
	bad.write(map[string]any{"type": "join", "room": "room1", "evil": true})
	expectCloseCode(t, bad, 4400)
	missing := n.dialWS(nil)
	missing.write(map[string]any{"type": "join", "room": "no-such-room"})
	expectCloseCode(t, missing, 4404)
}

// TestLikesSharesAndJoinNotices: taps are summed per room per second,
// shares counted, and joins announced as "A, B and N others".
func TestLikesSharesAndJoinNotices(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("fans")
	watcher := n.dialWS(nil)
	watcher.write(map[string]any{"type": "join", "room": "fans"})
	watcher.expect("joined")

	var likers []*wsViewer
	for _, name := range []string{"fan1", "fan2"} {
		ws := n.dialWS(newUser(t, n, name, false))
		ws.write(map[string]any{"type": "join", "room": "fans"})
		ws.expect("joined")
		likers = append(likers, ws)
	}
	likers[0].write(map[string]any{"type": "like", "count": 3})
	likers[1].write(map[string]any{"type": "like", "count": 4})
	sharer := n.browser("127.0.0.1")
	sharer.login("fan1", "fan1-password")
	if r := sharer.do("POST", "/api/rooms/fans/shares", nil); r.code != 202 {
		t.Fatalf("share: %d %s", r.code, r.raw)
	}
	anon := n.browser("127.0.0.1")
	if r := anon.do("POST", "/api/rooms/fans/likes", map[string]int{"count": 1}); r.code != 401 {
		t.Fatalf("anonymous like: %d", r.code)
	}
	if r := sharer.do("POST", "/api/rooms/fans/likes", map[string]int{"count": 500}); r.code != 400 {
		t.Fatalf("500 taps in one report: %d", r.code)
	}

	var likes, likeTotal, shareTotal float64
	names := map[string]bool{}
	deadline := time.After(6 * time.Second)
	for likeTotal < 7 || shareTotal < 1 || len(names) < 2 {
		select {
		case f, ok := <-watcher.frames:
			if !ok {
				t.Fatal("watcher closed")
			}
			if f["type"] != "batch" {
				continue
			}
			for _, e := range f["events"].([]any) {
				ev := e.(map[string]any)
				switch ev["type"] {
				case "likes":
					likes += ev["count"].(float64)
					likeTotal = ev["total"].(float64)
				case "shares":
					shareTotal = ev["total"].(float64)
				case "joins":
					for _, nm := range ev["names"].([]any) {
						names[nm.(string)] = true
					}
				}
			}
		case <-deadline:
			t.Fatalf("likes %v (total %v), shares %v, joins %v", likes, likeTotal, shareTotal, names)
		}
	}
	if likes != 7 || !names["fan1"] || !names["fan2"] {
		t.Fatalf("likes %v, names %v", likes, names)
	}
	if r := anon.do("GET", "/api/rooms/fans", nil); r.body["likes"] != float64(7) || r.body["shares"] != float64(1) {
		t.Fatalf("room totals: %s", r.raw)
	}
}

// TestRoomHearsLiveStartAndEnd: viewers in a room learn at once when the
// stream starts and ends.
func TestRoomHearsLiveStartAndEnd(t *testing.T) {
	n := startNode(t, "")
	key := n.createChannel("onair")
	v := n.dialWS(nil)
	v.write(map[string]any{"type": "join", "room": "onair"})
	v.expect("joined")
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	waitLive := func(state string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case f := <-v.frames:
				if f["type"] == "batch" {
					for _, e := range f["events"].([]any) {
						if ev := e.(map[string]any); ev["type"] == "live" && ev["state"] == state {
							return
						}
					}
				}
			case <-deadline:
				t.Fatalf("no live %s event", state)
			}
		}
	}
	waitLive("started")
	stop()
	<-done
	waitLive("ended")
}

// expectCloseCode waits for the server to close v with code.
func expectCloseCode(t *testing.T, v *wsViewer, code websocket.StatusCode) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ce := <-v.closed:
			if ce.Code != code {
				t.Fatalf("closed with %d, want %d", ce.Code, code)
			}
			return
		case _, ok := <-v.frames:
			if !ok {
				select {
				case ce := <-v.closed:
					if ce.Code != code {
						t.Fatalf("closed with %d, want %d", ce.Code, code)
					}
					return
				default:
					t.Fatalf("connection ended without a close frame: %v", v.readErr)
				}
			}
		case <-deadline:
			t.Fatalf("the server did not close the connection with %d", code)
		}
	}
}
