package app

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/moderation"
)

// TestChatContextFollowsChanges: what a danmaku check reads is kept in each
// node's memory, yet every change applies to the very next message sent on
// the node where it was made: rules, a mute and its lifting, a follow for
// followers-only mode, a moderator appointment.
func TestChatContextFollowsChanges(t *testing.T) {
	n := startNode(t, "")
	owner := newUser(t, n, "owner9", true)
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "ctx", "title": "Context"}); r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	chatter := newUser(t, n, "chatter9", false)
	v := n.dialWS(chatter)
	v.write(map[string]any{"type": "join", "room": "ctx"})
	v.expect("joined")
	i := 0
	send := func() map[string]any {
		i++
		v.write(map[string]any{"type": "send", "text": fmt.Sprintf("line %d", i), "nonce": fmt.Sprint(i)})
		for {
			f := <-v.frames
			if f["type"] == "sent" || f["type"] == "error" {
				return f
			}
		}
	}
	must := func(what string, f map[string]any, code string) {
		t.Helper()
		got := ""
		if f["type"] == "error" {
			got = f["code"].(string)
		}
		if got != code {
			t.Fatalf("%s: %v, want code %q", what, f, code)
		}
	}
	must("before any change", send(), "")
	put := func(path string, body any) {
		t.Helper()
		if r := owner.do("PUT", path, body); r.code != 200 {
			t.Fatalf("PUT %s: %d %s", path, r.code, r.raw)
		}
	}
	put("/api/channels/ctx/rules", map[string]any{"max_length": 200, "followers_only": true})
	must("followers-only right after the rule", send(), "followers_only")
	if r := chatter.do("POST", "/api/channels/ctx/follow", nil); r.code != 200 {
		t.Fatalf("follow: %d", r.code)
	}
	must("right after following", send(), "")
	if r := owner.do("POST", "/api/channels/ctx/mutes", map[string]any{"username": "chatter9", "minutes": 10, "reason": "spam"}); r.code != 201 {
		t.Fatalf("mute: %d %s", r.code, r.raw)
	}
	must("right after the mute", send(), "forbidden")
	if r := owner.do("DELETE", "/api/channels/ctx/mutes/chatter9", nil); r.code != 200 {
		t.Fatalf("lift: %d %s", r.code, r.raw)
	}
	must("right after lifting the mute", send(), "")
	put("/api/channels/ctx/rules", map[string]any{"max_length": 200, "min_level": 30})
	must("level 30 needed", send(), "level")
	if r := owner.do("POST", "/api/channels/ctx/moderators", map[string]string{"username": "chatter9"}); r.code != 201 {
		t.Fatalf("appoint: %d %s", r.code, r.raw)
	}
	must("a moderator is not bound by the rules", send(), "")
}

// TestChatContextAcrossNodes: a mute made on node A reaches the chat
// context of node B, where the muted viewer is connected, within a second.
func TestChatContextAcrossNodes(t *testing.T) {
	c := startCluster(t)
	a, b := c.a, c.b
	for _, name := range []string{"owner10", "chatter10"} {
		if out, err := exec.Command(c.bin, "user", "create", name, "--password", name+"-password", "--streamer", "--db", c.dbURL).CombinedOutput(); err != nil {
			t.Fatalf("user create: %v %s", err, out)
		}
	}
	owner := a.browser("127.0.0.1")
	owner.login("owner10", "owner10-password")
	if r := owner.do("POST", "/api/channels", map[string]any{"slug": "across", "title": "Across"}); r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.raw)
	}
	chatter := b.browser("127.0.0.1")
	chatter.login("chatter10", "chatter10-password")
	v := b.dialWS(chatter)
	v.write(map[string]any{"type": "join", "room": "across"})
	v.expect("joined")
	v.write(map[string]any{"type": "send", "text": "hello", "nonce": "0"})
	v.expect("sent")

	start := time.Now()
	if r := owner.do("POST", "/api/channels/across/mutes", map[string]any{"username": "chatter10", "minutes": 10, "reason": "spam"}); r.code != 201 {
		t.Fatalf("mute on A: %d %s", r.code, r.raw)
	}
	// Probe with messages until B refuses one: each probe is a real send.
	for i := 1; ; i++ {
		v.write(map[string]any{"type": "send", "text": fmt.Sprintf("still here %d", i), "nonce": fmt.Sprint(i)})
		var f map[string]any
		for f = range v.frames {
			if f["type"] == "sent" || f["type"] == "error" {
				break
			}
		}
		if f["type"] == "error" {
			if f["reason"] != "muted" {
				t.Fatalf("refused for another reason: %v", f)
			}
			t.Logf("a mute made on A refused the viewer's message on B %v after it was made (probe %d)", time.Since(start).Round(time.Millisecond), i)
			return
		}
		if time.Since(start) > 3*time.Second {
			t.Fatal("B still takes the muted viewer's messages 3 s after the mute")
		}
		time.Sleep(300 * time.Millisecond) // probes are messages: few, to stay under the burst limit
	}
}

// wordFilter blocks texts containing a word, as a content filter would.
type wordFilter string

func (w wordFilter) Screen(_ context.Context, in moderation.Input) moderation.Verdict {
	if strings.Contains(in.Text, string(w)) {
		return moderation.Verdict{Action: moderation.Block, Score: 90, Category: "custom"}
	}
	return moderation.Verdict{Action: moderation.Allow}
}

// TestContentFilterSeam: the one content filter given to the app screens
// danmaku over the WebSocket, over HTTP and in check-message alike.
func TestContentFilterSeam(t *testing.T) {
	n := startNode(t, "", WithContentFilter(wordFilter("spoiler")))
	n.createChannel("seam")
	talker := newUser(t, n, "talker11", false)
	v := n.dialWS(talker)
	v.write(map[string]any{"type": "join", "room": "seam"})
	v.expect("joined")
	v.write(map[string]any{"type": "send", "text": "the ending is a spoiler", "nonce": "1"})
	if f := v.expect("error"); f["code"] != "message_blocked" || f["category"] != "custom" {
		t.Fatalf("WebSocket: %v", f)
	}
	v.write(map[string]any{"type": "send", "text": "nice stream", "nonce": "2"})
	v.expect("sent")
	if r := talker.do("POST", "/api/rooms/seam/danmaku", map[string]string{"text": "spoiler alert"}); r.code != 403 || r.str("code") != "message_blocked" {
		t.Fatalf("HTTP: %d %s", r.code, r.raw)
	}
	if r := talker.do("POST", "/api/channels/seam/check-message", map[string]string{"text": "spoiler"}); r.code != 403 || r.str("code") != "message_blocked" {
		t.Fatalf("check-message: %d %s", r.code, r.raw)
	}
}
