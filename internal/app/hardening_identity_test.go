package app

import (
	"os/exec"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/room"
)

// TestHardening05IdentityReachesOpenSocketsOnEveryNode: two livehouse
// processes on one NATS and one PostgreSQL. Every change to who an account
// is, made through node A's API, reaches that account's room WebSockets
// already open on node B: a log-out, a revoked token, a password change and
// a deleted account close them (4401); a ban or a lost role applies to
// their next frame and is announced with an "account" frame.
func TestHardening05IdentityReachesOpenSocketsOnEveryNode(t *testing.T) {
	c := startCluster(t)
	a, b := c.a, c.b
	admin := a.browser("127.0.0.1")
	admin.bearer = testAdminToken
	if r := admin.do("POST", "/api/channels", map[string]any{"slug": "room5", "title": "Identity room"}); r.code != 201 {
		t.Fatalf("create channel: %d %s", r.code, r.raw)
	}
	for _, name := range []string{"alice", "writer"} {
		if out, err := exec.Command(c.bin, "user", "create", name, "--password", name+"-password-1", "--db", c.dbURL).CombinedOutput(); err != nil {
			t.Fatalf("user create %s: %v %s", name, err, out)
		}
	}
	login := func(name, password string) *browser {
		t.Helper()
		br := a.browser("127.0.0.1")
		if r := br.login(name, password); r.code != 200 {
			t.Fatalf("log in %s on A: %d %s", name, r.code, r.raw)
		}
		return br
	}
	// joinOnB opens a room connection on node B as br (session or token).
	joinOnB := func(br *browser) *wsViewer {
		t.Helper()
		v := b.dialWS(br)
		v.write(map[string]any{"type": "join", "room": "room5"})
		v.expect("joined")
		return v
	}
	alive := func(v *wsViewer, what string) {
		t.Helper()
		v.write(map[string]any{"type": "ping"})
		v.expect("pong")
	}
	took := func(what string, since time.Time) {
		t.Logf("%s reached node B's open socket in %v", what, time.Since(since).Round(time.Millisecond))
	}
	// accountFrame waits for the gateway's "account" frame.
	accountFrame := func(v *wsViewer, what string, since time.Time) map[string]any {
		t.Helper()
		f := v.expect("account")
		took(what, since)
		return f
	}
	writer := login("writer", "writer-password-1")
	post := func(text string) string {
		t.Helper()
		r := writer.do("POST", "/api/rooms/room5/danmaku", map[string]string{"text": text})
		if r.code != 201 {
			t.Fatalf("writer posts: %d %s", r.code, r.raw)
		}
		return r.str("id")
	}

	t.Run("log-out closes that session's sockets, not the others", func(t *testing.T) {
		leaving, staying := login("alice", "alice-password-1"), login("alice", "alice-password-1")
		vLeaving, vStaying := joinOnB(leaving), joinOnB(staying)
		start := time.Now()
		if r := leaving.do("POST", "/api/auth/logout", nil); r.code != 200 {
			t.Fatalf("log out on A: %d %s", r.code, r.raw)
		}
		expectCloseCode(t, vLeaving, room.CloseLoginEnded)
		took("log-out", start)
		alive(vStaying, "the other session")
	})

	t.Run("a revoked token closes its sockets", func(t *testing.T) {
		s := login("alice", "alice-password-1")
		r := s.do("POST", "/api/tokens", map[string]any{"name": "bot", "scopes": []string{"chat:write"}})
		if r.code != 201 {
			t.Fatalf("create token: %d %s", r.code, r.raw)
		}
		bot := b.browser("127.0.0.1")
		bot.bearer = r.str("token")
		v := joinOnB(bot)
		start := time.Now()
		if r := s.do("DELETE", "/api/tokens/"+jsonNum(r.body["id"]), nil); r.code != 200 {
			t.Fatalf("revoke on A: %d %s", r.code, r.raw)
		}
		expectCloseCode(t, v, room.CloseLoginEnded)
		took("token revocation", start)
	})

	t.Run("a password change closes other sessions and every token", func(t *testing.T) {
		other, changer := login("alice", "alice-password-1"), login("alice", "alice-password-1")
		r := changer.do("POST", "/api/tokens", map[string]any{"name": "obs", "scopes": []string{"chat:write"}})
		if r.code != 201 {
			t.Fatalf("create token: %d %s", r.code, r.raw)
		}
		bot := b.browser("127.0.0.1")
		bot.bearer = r.str("token")
		vOther, vChanger, vBot := joinOnB(other), joinOnB(changer), joinOnB(bot)
		start := time.Now()
		if r := changer.do("POST", "/api/me/password", map[string]string{"current_password": "alice-password-1", "new_password": "alice-password-2"}); r.code != 200 {
			t.Fatalf("change password on A: %d %s", r.code, r.raw)
		}
		expectCloseCode(t, vOther, room.CloseLoginEnded)
		expectCloseCode(t, vBot, room.CloseLoginEnded)
		took("password change", start)
		alive(vChanger, "the session that changed the password")
		if r := bot.do("GET", "/api/me", nil); r.code != 401 {
			t.Fatalf("the old token after a password change: %d, want 401", r.code)
		}
	})

	alice := login("alice", "alice-password-2")
	vAlice := joinOnB(alice)
	var aliceID string
	if r := alice.do("GET", "/api/me", nil); r.code == 200 {
		aliceID = jsonNum(r.body["id"])
	}

	t.Run("a lost role applies to the next frame", func(t *testing.T) {
		start := time.Now()
		if r := admin.do("POST", "/api/admin/users/"+aliceID+"/roles", map[string]any{"admin": true}); r.code != 200 {
			t.Fatalf("grant admin: %d %s", r.code, r.raw)
		}
		if f := accountFrame(vAlice, "granted admin role", start); !containsAny(f["roles"], "admin") {
			t.Fatalf("account frame after the grant: %v", f)
		}
		id := post("an admin may delete this")
		vAlice.write(map[string]any{"type": "delete", "id": id, "nonce": "d1"})
		vAlice.expect("deleted")

		start = time.Now()
		if r := admin.do("POST", "/api/admin/users/"+aliceID+"/roles", map[string]any{"admin": false}); r.code != 200 {
			t.Fatalf("revoke admin: %d %s", r.code, r.raw)
		}
		if f := accountFrame(vAlice, "revoked admin role", start); containsAny(f["roles"], "admin") {
			t.Fatalf("account frame after the revocation: %v", f)
		}
		id = post("a former admin may not delete this")
		vAlice.write(map[string]any{"type": "delete", "id": id, "nonce": "d2"})
		if f := vAlice.expect("error"); f["code"] != "forbidden" {
			t.Fatalf("delete after losing admin: %v", f)
		}
	})

	t.Run("a platform ban applies to the next frame", func(t *testing.T) {
		vAlice.write(map[string]any{"type": "send", "text": "before the ban", "nonce": "s1"})
		vAlice.expect("sent")
		start := time.Now()
		if r := admin.do("POST", "/api/admin/users/"+aliceID+"/ban", map[string]any{"reason": "spam"}); r.code != 201 {
			t.Fatalf("ban on A: %d %s", r.code, r.raw)
		}
		if f := accountFrame(vAlice, "platform ban", start); f["platform_banned"] != true {
			t.Fatalf("account frame after the ban: %v", f)
		}
		vAlice.write(map[string]any{"type": "send", "text": "after the ban", "nonce": "s2"})
		if f := vAlice.expect("error"); f["reason"] != "platform_banned" {
			t.Fatalf("send after the ban: %v", f)
		}
		start = time.Now()
		if r := admin.do("DELETE", "/api/admin/users/"+aliceID+"/ban", nil); r.code != 200 {
			t.Fatalf("unban on A: %d %s", r.code, r.raw)
		}
		if f := accountFrame(vAlice, "lifted ban", start); f["platform_banned"] == true {
			t.Fatalf("account frame after the unban: %v", f)
		}
		vAlice.write(map[string]any{"type": "send", "text": "after the unban", "nonce": "s3"})
		vAlice.expect("sent")
	})

	t.Run("a deleted account's sockets close and its freed name posts nothing", func(t *testing.T) {
		start := time.Now()
		if r := alice.do("DELETE", "/api/me", map[string]string{"password": "alice-password-2"}); r.code != 200 {
			t.Fatalf("delete account on A: %d %s", r.code, r.raw)
		}
		expectCloseCode(t, vAlice, room.CloseLoginEnded)
		took("account deletion", start)
		// Someone else takes the freed name; the old account's messages
		// keep their author id, the new account has none.
		if out, err := exec.Command(c.bin, "user", "create", "alice", "--password", "new-alice-password", "--db", c.dbURL).CombinedOutput(); err != nil {
			t.Fatalf("take the freed name: %v %s", err, out)
		}
		hist := b.browser("127.0.0.1").do("GET", "/api/rooms/room5/danmaku?limit=200", nil)
		for _, m := range hist.body["messages"].([]any) {
			if msg := m.(map[string]any); msg["user"] == "alice" && jsonNum(msg["user_id"]) != aliceID {
				t.Fatalf("a message under the freed name by another account: %v", msg)
			}
		}
	})
}

func containsAny(list any, want string) bool {
	items, _ := list.([]any)
	for _, it := range items {
		if it == want {
			return true
		}
	}
	return false
}
