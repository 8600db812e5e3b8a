package app

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/account"
)

// TestChromiumModerationQueue: the review queue and the shield through the
// pages (e2e/moderation.mjs), at 1280×800 and 375×812, in English and
// Chinese, with the real content filter.
func TestChromiumModerationQueue(t *testing.T) {
	node, chromium := needPlaywright(t)
	for _, c := range []struct{ lang, pending, label, kind string }{ // (c is per-iteration since Go 1.22)
		{"en", "Your message is pending review by a moderator.", "5 (hides score 50+)", "channel title"},
		{"zh-CN", "你的消息正在等待管理员审核。", "5（屏蔽评分 50 以上）", "频道标题"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			t.Parallel() // two nodes, two browsers: the languages run side by side to keep the wall time down
			n := startNode(t, "")
			owner := newUser(t, n, "modowner", true)
			if r := owner.do("POST", "/api/channels", map[string]any{"slug": "modui", "title": "Moderation UI"}); r.code != 201 {
				t.Fatalf("create channel: %d %s", r.code, r.raw)
			}
			newUser(t, n, "sam", false)
			newUser(t, n, "vic", false)
			if r := owner.do("PUT", "/api/channels/modui/moderation/filter", map[string]any{"enabled": true, "level": 3}); r.code != 200 {
				t.Fatalf("filter: %d %s", r.code, r.raw)
			}
			addTerm(t, n, owner, "modui", "holdme", "hold", "abuse")
			addTerm(t, n, owner, "modui", "blockme", "block", "hate")
			if _, err := n.app.Accounts.Users.Create(context.Background(), account.NewUser{Username: "modadmin", Password: "modadmin-password", IsAdmin: true}); err != nil {
				t.Fatal(err)
			}
			addTerm(t, n, nil, "", "heldtitle", "hold", "custom")
			if r := owner.do("PATCH", "/api/channels/modui", map[string]any{"title": "heldtitle"}); r.code != 200 {
				t.Fatalf("held title: %d %s", r.code, r.raw)
			}
			base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
			want := []string{"DONE"}
			for _, size := range []string{"1280x800", "375x812"} {
				want = append(want, size+" ADMIN title_held="+c.kind+" floor=1",
					size+" HELD notice="+c.pending+" queued=true reason_term=true viewer_sees=0",
					size+" APPROVED vic chat=true overlay=true",
					size+" APPROVED sam chat=true overlay=true",
					size+" APPROVED mod chat=true overlay=true",
					size+" SENDER_TOLD approved",
					size+" QUEUE_AFTER_APPROVE 0",
					size+" DENIED told=true viewer_sees=0",
					size+" BLOCKED category=true term_hidden=true",
					size+" APPEAL queued=true says=true",
					size+" APPEAL upheld",
					size+" SHIELD label="+c.label+" score=60 viewer_hidden=true viewer_overlay=0 moderator_sees=true",
					size+" SHIELD_REMEMBERED 5",
				)
			}
			runBrowser(t, node, chromium, "moderation.mjs", []string{base, "modui", c.lang, os.Getenv("LIVEHOUSE_SCREENSHOTS")}, want...)
		})
	}
}
