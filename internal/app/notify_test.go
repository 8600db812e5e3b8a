package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/notify/pushtest"
)

// bellSocket opens the per-user notifications WebSocket as b and returns
// its frames.
func bellSocket(t *testing.T, n *testNode, b *browser) <-chan map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Cookie", account.SessionCookie+"="+b.session)
	conn, _, err := websocket.Dial(ctx, strings.Replace(n.http, "http", "ws", 1)+"/api/me/notifications/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial the bell socket: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	frames := make(chan map[string]any, 64)
	go func() {
		defer close(frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var f map[string]any
			if json.Unmarshal(data, &f) == nil {
				frames <- f
			}
		}
	}()
	return frames
}

func nextFrame(t *testing.T, frames <-chan map[string]any, within time.Duration) map[string]any {
	t.Helper()
	select {
	case f, ok := <-frames:
		if !ok {
			t.Fatal("the bell socket closed")
		}
		return f
	case <-time.After(within):
		t.Fatalf("no bell frame within %v", within)
	}
	return nil
}

// followerWithPush makes NAME follow slugs and turns Web Push on for a
// (Go-made) browser whose push service is ep.
func followerWithPush(t *testing.T, n *testNode, name string, ep *pushtest.Endpoint, slugs ...string) (*browser, pushtest.BrowserKeys) {
	t.Helper()
	fan := newUser(t, n, name, false)
	for _, s := range slugs {
		if r := fan.do("POST", "/api/channels/"+s+"/follow", nil); r.code != 200 {
			t.Fatalf("follow %s: %d %s", s, r.code, r.raw)
		}
	}
	keys := pushtest.NewBrowserKeys(t)
	r := fan.do("POST", "/api/me/push-subscriptions", map[string]any{"endpoint": ep.Srv.URL + "/push/" + name,
		"expirationTime": nil, "keys": map[string]string{"p256dh": keys.P256dh(), "auth": keys.AuthKey()}})
	if r.code != http.StatusCreated {
		t.Fatalf("subscribe to push: %d %s", r.code, r.raw)
	}
	return fan, keys
}

// checkLivePush waits for the went-live push of slug at ep and checks it
// decrypts to the expected message and carries a valid VAPID signature.
func checkLivePush(t *testing.T, n *testNode, ep *pushtest.Endpoint, keys pushtest.BrowserKeys, slug, title string) {
	t.Helper()
	var p pushtest.Pushed
	select {
	case p = <-ep.Got:
	case <-time.After(30 * time.Second):
		t.Fatalf("no Web Push for %s reached the local push endpoint", slug)
	}
	if ce := p.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		t.Fatalf("Content-Encoding %q", ce)
	}
	var key struct {
		PublicKey string `json:"public_key"`
	}
	if code := n.api("GET", "/api/push/vapid-public-key", "", nil, &key); code != 200 || key.PublicKey == "" {
		t.Fatalf("vapid-public-key: %d %+v", code, key)
	}
	pushtest.CheckVAPID(t, p.Header.Get("Authorization"), key.PublicKey, ep.Srv.URL, "mailto:admin@localhost")
	plain, err := keys.Decrypt(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"kind":"live","channel":%q,"title":%q,"url":"/c/%s"}`, slug, title, slug)
	if string(plain) != want {
		t.Fatalf("push payload %s, want %s", plain, want)
	}
}

// TestNotifyWentLiveInAppAndPush: a follower gets the "went live"
// notification in-app (REST and the bell socket, without asking) and as a
// Web Push to a local push endpoint, after a real RTMP publish; a second
// follower's push service answering 410 loses its subscription.
func TestNotifyWentLiveInAppAndPush(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) { c.PushAllowHTTP = true })
	key := streamerChannel(t, n, "drummer", "drums")
	ep := pushtest.NewEndpoint(t)
	fan, keys := followerWithPush(t, n, "fan_one", ep, "drums")
	gone := pushtest.NewEndpoint(t)
	gone.Status.Store(http.StatusGone)
	fan2, _ := followerWithPush(t, n, "fan_two", gone, "drums")

	if r := fan.do("GET", "/api/me/notifications", nil); r.code != 200 || r.body["unread"] != float64(0) {
		t.Fatalf("before: %d %s", r.code, r.raw)
	}
	frames := bellSocket(t, n, fan)
	if f := nextFrame(t, frames, 10*time.Second); f["type"] != "hello" || f["unread"] != float64(0) {
		t.Fatalf("first frame %v", f)
	}
	start := time.Now()
	publishFixture(t, n, key)
	f := nextFrame(t, frames, 30*time.Second)
	note, _ := f["notification"].(map[string]any)
	if f["type"] != "notification" || note["kind"] != "live" || note["channel"] != "drums" {
		t.Fatalf("bell frame %v", f)
	}
	t.Logf("went live → bell frame in %v", time.Since(start))
	checkLivePush(t, n, ep, keys, "drums", "Stage drums")
	t.Logf("went live → push decrypted in %v", time.Since(start))

	r := fan.do("GET", "/api/me/notifications", nil)
	list, _ := r.body["notifications"].([]any)
	if r.code != 200 || r.body["unread"] != float64(1) || len(list) != 1 {
		t.Fatalf("after going live: %d %s", r.code, r.raw)
	}
	if first := list[0].(map[string]any); first["id"] != note["id"] || first["payload"].(map[string]any)["title"] != "Stage drums" {
		t.Fatalf("listed %v, pushed over the socket %v", first, note)
	}
	var following struct {
		Channels []struct {
			Slug string
			Live bool
		}
	}
	if r := fan.do("GET", "/api/me/following", nil); r.code != 200 || json.Unmarshal([]byte(r.raw), &following) != nil ||
		len(following.Channels) != 1 || !following.Channels[0].Live {
		t.Fatalf("following: %d %s", r.code, r.raw)
	}
	// The push service said 410 for fan_two's browser: it is forgotten.
	select {
	case <-gone.Got:
	case <-time.After(30 * time.Second):
		t.Fatal("no push to the second endpoint")
	}
	waitFor(t, 20*time.Second, "the 410 subscription to go", func() bool {
		var left int
		err := n.app.DB.QueryRow(`SELECT COUNT(*) FROM push_subscriptions p JOIN users u ON u.id = p.user_id WHERE u.username = 'fan_two'`).Scan(&left)
		return err == nil && left == 0
	})
	if r := fan2.do("POST", "/api/me/notifications/read", map[string]any{}); r.code != 200 || r.body["marked"] != float64(1) || r.body["unread"] != float64(0) {
		t.Fatalf("mark all read: %d %s", r.code, r.raw)
	}
	select {
	case extra := <-ep.Got:
		t.Fatalf("a second push for one live session: %v", extra.Header)
	default:
	}
}

// TestNotifyRefusals: without --push-allow-http an http endpoint is refused
// with its code; bad keys and the per-user bound too; anonymous callers
// have no bell.
func TestNotifyRefusals(t *testing.T) {
	n := startNode(t, "")
	fan := newUser(t, n, "fan_one", false)
	keys := pushtest.NewBrowserKeys(t)
	sub := func(endpoint, p256dh string) reply {
		return fan.do("POST", "/api/me/push-subscriptions", map[string]any{"endpoint": endpoint,
			"keys": map[string]string{"p256dh": p256dh, "auth": keys.AuthKey()}})
	}
	if r := sub("http://127.0.0.1:9/push", keys.P256dh()); r.code != 400 || r.str("code") != "push_endpoint_insecure" {
		t.Fatalf("http endpoint: %d %s", r.code, r.raw)
	}
	if r := sub("https://push.example.net/x", "BAAA"); r.code != 400 || r.str("code") != "push_subscription_invalid" {
		t.Fatalf("bad key: %d %s", r.code, r.raw)
	}
	for i := range 10 {
		if r := sub(fmt.Sprintf("https://push.example.net/x%d", i), keys.P256dh()); r.code != 201 {
			t.Fatalf("subscription %d: %d %s", i, r.code, r.raw)
		}
	}
	if r := sub("https://push.example.net/x3", keys.P256dh()); r.code != 201 {
		t.Fatalf("the same endpoint again: %d %s", r.code, r.raw)
	}
	if r := sub("https://push.example.net/x10", keys.P256dh()); r.code != 409 || r.str("code") != "push_subscriptions_limit" {
		t.Fatalf("eleventh: %d %s", r.code, r.raw)
	}
	if r := fan.do("DELETE", "/api/me/push-subscriptions", map[string]any{"endpoint": "https://push.example.net/x0"}); r.code != 200 {
		t.Fatalf("unsubscribe: %d %s", r.code, r.raw)
	}
	anon := n.browser("127.0.0.1")
	for _, path := range []string{"/api/me/notifications", "/api/me/following"} {
		if r := anon.do("GET", path, nil); r.code != http.StatusUnauthorized {
			t.Fatalf("anonymous %s: %d %s", path, r.code, r.raw)
		}
	}
	if r := anon.do("GET", "/api/push/vapid-public-key", nil); r.code != 200 || len(r.str("public_key")) != 87 {
		t.Fatalf("vapid key: %d %s", r.code, r.raw)
	}
	res, err := http.Get(n.http + "/sw.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(string(body), "showNotification") {
		t.Fatalf("/sw.js: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestChromiumNotifyBellAndFollowing runs e2e/notify.mjs in English and
// Chinese: the bell turns 1 without a reload when a followed channel goes
// live (a real RTMP publish), lists it in the page's language, and the
// Following list shows it live and first, at 1280×800 and 375×812.
func TestChromiumNotifyBellAndFollowing(t *testing.T) {
	node, chromium := needPlaywright(t)
	for _, c := range []struct{ lang, live string }{{"en", "is live"}, {"zh-CN", "开播了"}} {
		t.Run(c.lang, func(t *testing.T) {
			n := startNodeWith(t, func(cfg *config.Config) { cfg.PushAllowHTTP = true })
			keys := map[string]string{"wide": streamerChannel(t, n, "band_wide", "wide"), "narrow": streamerChannel(t, n, "band_narrow", "narrow")}
			n.createChannel("quiet")
			ep := pushtest.NewEndpoint(t)
			_, browserKeys := followerWithPush(t, n, "fan_one", ep, "wide", "narrow", "quiet")

			base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
			cmd := exec.Command(node, "../../e2e/notify.mjs", base, "fan_one", c.lang, "wide", "narrow", os.Getenv("LIVEHOUSE_SCREENSHOTS"))
			cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			var mu sync.Mutex
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				mu.Lock()
				out.WriteString(line + "\n")
				mu.Unlock()
				if slug, ok := strings.CutPrefix(line, "READY "); ok {
					// The browser times from here: publish start → badge.
					fmt.Fprintf(stdin, "LIVE %s\n", slug)
					publishFixture(t, n, keys[slug])
					checkLivePush(t, n, ep, browserKeys, slug, "Stage "+slug)
				}
			}
			err := cmd.Wait()
			t.Logf("browser:\n%s%s", out.String(), stderr.String())
			if err != nil {
				t.Fatalf("e2e/notify.mjs: %v", err)
			}
			got := out.String()
			for _, want := range []string{
				"1280x800 BEFORE badge_hidden=true live_before=false", "375x812 BEFORE badge_hidden=true live_before=false",
				"1280x800 BADGE 1", "375x812 BADGE 1", "reloaded=false",
				"1280x800 FOLLOWING live_first=true order=Lo", "375x812 FOLLOWING live_first=true order=LLo",
				"1280x800 ITEM Stage wide " + c.live, "375x812 ITEM Stage narrow " + c.live, "| /c/wide | unread=1", "| /c/narrow | unread=1",
				"PANEL inside=true", "1280x800 MARKED badge_hidden=true", "375x812 MARKED badge_hidden=true",
				"1280x800 WATCH aside_at_left=true clear=true rail=true", "DONE",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("browser output lacks %q", want)
				}
			}
			if strings.Contains(got, "PAGE_ERROR") || strings.Contains(got, "reloaded=true") {
				t.Error("a page threw an error or reloaded")
			}
		})
	}
}

// TestNotifyWithdrawalDecided: an admin's decision on a withdrawal reaches
// the requester's bell (money's outbox → the durable bus → notify), once.
func TestNotifyWithdrawalDecided(t *testing.T) {
	n := startNode(t, "")
	streamerChannel(t, n, "singer", "songs")
	owner := n.browser("127.0.0.1")
	if r := owner.login("singer", "singer-password"); r.code != 200 {
		t.Fatalf("login: %d", r.code)
	}
	fan := newUser(t, n, "patron", false)
	admin := n.browser("127.0.0.1")
	admin.bearer = testAdminToken
	if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": "patron", "coins": 5000, "reason": "test"}); r.code != 200 {
		t.Fatalf("grant: %d %s", r.code, r.raw)
	}
	if r := fan.do("POST", "/api/gifts", map[string]any{"room": "songs", "gift": "rocket", "count": 1, "idempotency_key": "rocket-1"}); r.code != 201 {
		t.Fatalf("gift: %d %s", r.code, r.raw)
	}
	frames := bellSocket(t, n, owner)
	if f := nextFrame(t, frames, 10*time.Second); f["type"] != "hello" {
		t.Fatalf("first frame %v", f)
	}
	for i, decide := range []string{"approve", "reject"} {
		wd := owner.do("POST", "/api/channels/songs/withdrawals", map[string]any{"amount": 100})
		if wd.code != 201 {
			t.Fatalf("withdraw: %d %s", wd.code, wd.raw)
		}
		if r := admin.do("POST", "/api/admin/withdrawals/"+jsonNum(wd.body["id"])+"/"+decide, map[string]any{"note": "checked " + decide}); r.code != 200 {
			t.Fatalf("%s: %d %s", decide, r.code, r.raw)
		}
		f := nextFrame(t, frames, 30*time.Second)
		note, _ := f["notification"].(map[string]any)
		payload, _ := note["payload"].(map[string]any)
		want := map[string]string{"approve": "approved", "reject": "rejected"}[decide]
		if note["kind"] != "withdrawal_decided" || note["channel"] != "songs" || payload["status"] != want || payload["amount"] != float64(100) {
			t.Fatalf("bell frame %v", f)
		}
		r := owner.do("GET", "/api/me/notifications", nil)
		if list, _ := r.body["notifications"].([]any); len(list) != i+1 {
			t.Fatalf("after %s: %s", decide, r.raw)
		}
	}
}

// TestNotifyTwoNodes: two processes on one PostgreSQL and one NATS share
// one VAPID key; a stream published on node A rings the follower's bell
// on node B exactly once, and makes exactly one notification.
func TestNotifyTwoNodes(t *testing.T) {
	c := startCluster(t)
	a, b := c.a, c.b
	admin := a.browser("127.0.0.1")
	admin.bearer = testAdminToken
	created := admin.do("POST", "/api/channels", map[string]any{"slug": "shared", "title": "Shared stage"})
	if created.code != 201 {
		t.Fatalf("create channel on A: %d %s", created.code, created.raw)
	}
	if out, err := exec.Command(c.bin, "user", "create", "fan_b", "--password", "fan_b-password", "--db", c.dbURL).CombinedOutput(); err != nil {
		t.Fatalf("user create: %v %s", err, out)
	}
	fan := b.browser("127.0.0.1")
	if r := fan.login("fan_b", "fan_b-password"); r.code != 200 {
		t.Fatalf("login on B: %d", r.code)
	}
	if r := fan.do("POST", "/api/channels/shared/follow", nil); r.code != 200 {
		t.Fatalf("follow: %d %s", r.code, r.raw)
	}
	keyA := a.browser("127.0.0.1").do("GET", "/api/push/vapid-public-key", nil).str("public_key")
	keyB := fan.do("GET", "/api/push/vapid-public-key", nil).str("public_key")
	if keyA == "" || keyA != keyB {
		t.Fatalf("VAPID keys differ between nodes: %q %q", keyA, keyB)
	}
	frames := bellSocket(t, b, fan)
	if f := nextFrame(t, frames, 10*time.Second); f["type"] != "hello" {
		t.Fatalf("first frame %v", f)
	}
	publishFixture(t, a, created.str("stream_key"))
	f := nextFrame(t, frames, 30*time.Second)
	if note, _ := f["notification"].(map[string]any); f["type"] != "notification" || note["kind"] != "live" || note["channel"] != "shared" {
		t.Fatalf("bell frame on B %v", f)
	}
	select {
	case extra, ok := <-frames:
		if ok {
			t.Fatalf("a second frame for one live session: %v", extra)
		}
	case <-time.After(2 * time.Second):
	}
	if r := fan.do("GET", "/api/me/notifications", nil); r.body["unread"] != float64(1) {
		t.Fatalf("notifications: %s", r.raw)
	}
}
