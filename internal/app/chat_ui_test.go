package app

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestChromiumChat: the chat panel's features between two viewers and a
// moderator, at 1280×800 and 375×812, in English and Chinese (e2e/chat.mjs).
func TestChromiumChat(t *testing.T) {
	node, chromium := needPlaywright(t)
	for _, c := range []struct {
		lang string
		want []string
	}{
		{"en", []string{
			"CARD_VIEWER Level 0 | Member: Captain | Fan medal: CHAT Lv2 mod=false",
			"CARD_MOD mute=true ban=true status=ben is muted.",
			"MUTED You are muted in this channel.",
			"LOCAL_REFUSAL Messages here are at most 60 characters.",
			"SERVER_REFUSAL Your message is longer than this channel allows.",
			"REPLY bar=Replying to amy: @ben look",
		}},
		{"zh-CN", []string{
			"CARD_VIEWER 等级 0 | 会员：舰长 | 粉丝牌：CHAT Lv2 mod=false",
			"CARD_MOD mute=true ban=true status=ben 已被禁言。",
			"MUTED 你在本频道已被禁言。",
			"LOCAL_REFUSAL 本直播间的消息最多 60 个字。",
			"SERVER_REFUSAL 消息太长，超出了本直播间的字数上限。",
			"REPLY bar=回复 amy：@ben look",
		}},
	} {
		t.Run(c.lang, func(t *testing.T) {
			n := startNode(t, "")
			owner := newUser(t, n, "chatowner", true)
			if r := owner.do("POST", "/api/channels", map[string]any{"slug": "chatui", "title": "Chat UI"}); r.code != 201 {
				t.Fatalf("create channel: %d %s", r.code, r.raw)
			}
			newUser(t, n, "amy", false)
			ben := newUser(t, n, "ben", false)
			newUser(t, n, "mo", false)
			if r := owner.do("POST", "/api/channels/chatui/moderators", map[string]any{"username": "mo"}); r.code/100 != 2 {
				t.Fatalf("appoint: %d %s", r.code, r.raw)
			}
			if r := owner.do("PUT", "/api/channels/chatui/rules", map[string]any{"max_length": 60}); r.code != 200 {
				t.Fatalf("rules: %d %s", r.code, r.raw)
			}
			if _, err := n.app.Money.Grant(context.Background(), userID(t, n, "ben"), 1000, "test top-up", 0); err != nil {
				t.Fatal(err)
			}
			if r := ben.do("POST", "/api/channels/chatui/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "m1", "price": 198}); r.code/100 != 2 {
				t.Fatalf("membership: %d %s", r.code, r.raw)
			}
			base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
			want := []string{"DONE"}
			for _, size := range []string{"1280x800", "375x812"} {
				want = append(want,
					size+" COUNTER 0/60 maxlength=60",
					size+" TIMESTAMPS before=false after=true format=true remembered=true shown=true",
					size+" EMOJI open=true n=40 escape=true focus=chat-emoji value=hot🔥 take",
					size+" MENTION ben=true amy=false mo=false at=@ben",
					size+` COMPLETE chip=@amy ⇥ value="hey @amy " hidden=true`,
					size+" VIEWERS amy,ben,mo amy_button=false",
					size+" COUNTER_STATES near=chat-counter near over=chat-counter over 70/60",
				)
			}
			out := runBrowser(t, node, chromium, "chat.mjs", []string{base, "chatui", c.lang, os.Getenv("LIVEHOUSE_SCREENSHOTS")}, append(want, c.want...)...)
			// Everyone sees ben's reply quote amy's message.
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, " REPLY ") && strings.Count(line, "amy") < 4 {
					t.Errorf("a reply's quote lacks its author: %s", line)
				}
			}
		})
	}
}
