package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChromiumWatchLayout: the watch page's layout (issue 13 item 2) through
// e2e/layout.mjs, in English and Chinese, at 1280×800 and 375×812, on a live
// channel with 32 chat messages: a 16:9 stage, a scrolling chat beside it
// with its input in view and the title and Follow in the first screen on a
// desktop; on a phone the player on top, at least 10 messages in view with
// the drawer closed, the gifts in a bottom drawer; a chat refusal and gift
// errors in a row leave one toast on screen. At 1024×768, 768×1024 and
// 812×375 the stage stays 16:9 and the input on screen, with no page scroll.
func TestChromiumWatchLayout(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	host := newUser(t, n, "host", true)
	created := host.do("POST", "/api/channels", map[string]any{"slug": "layout", "title": "Late-night songs and requests · 深夜歌会，点歌随意"})
	if created.code != http.StatusCreated {
		t.Fatalf("create channel: %d %s", created.code, created.raw)
	}
	publishFixture(t, n, created.str("stream_key"))
	waitFor(t, 20*time.Second, "live", func() bool { return n.channel("layout").Live })

	newUser(t, n, "watcher", false)
	u, err := n.app.Accounts.Users.ByName(context.Background(), "watcher")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.app.Money.Grant(context.Background(), u.ID, 5000, "test top-up", 0); err != nil {
		t.Fatal(err)
	}
	// 32 messages from four chatters (each stays under the burst limit);
	// every fifth is long enough to wrap on a phone.
	sent := 0
	for c := 0; c < 4; c++ {
		ws := n.dialWS(newUser(t, n, fmt.Sprintf("chatter%d", c), false))
		ws.write(map[string]any{"type": "join", "room": "layout"})
		ws.expect("joined")
		for i := 0; i < 8; i++ {
			text := fmt.Sprintf("message %d 你好", sent)
			if sent%5 == 4 {
				text = fmt.Sprintf("message %d: a longer line that wraps onto a second row on a phone, 这一行比较长", sent)
			}
			ws.write(map[string]any{"type": "send", "text": text, "nonce": fmt.Sprint(i)})
			if f := ws.expect("sent"); f["nonce"] != fmt.Sprint(i) {
				t.Fatalf("sent: %v", f)
			}
			sent++
		}
	}

	// A low length limit, so that the page has a chat refusal to show.
	if r := host.do("PUT", "/api/channels/layout/rules", map[string]any{"max_length": 20}); r.code != http.StatusOK {
		t.Fatalf("rules: %d %s", r.code, r.raw)
	}

	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ lang, toast, refusal string }{
		{"en", `text="Castle ×9999 costs`, `"`},
		{"zh-CN", `text="城堡 ×9999 需要`, `"`},
	} {
		t.Run(c.lang, func(t *testing.T) {
			out := runBrowser(t, node, chromium, "layout.mjs", []string{base, "layout", "watcher", c.lang, os.Getenv("LIVEHOUSE_SCREENSHOTS")},
				"1280x800 DESKTOP", "ratio_ok=true list_scrolls=true list_at_end=true input_visible=true page_scroll=0",
				"title_above_fold=true badge_above_fold=true follow_above_fold=true",
				"chat_beside=true gifts_inline=true drawer_button=false",
				"1280x800 THEATRE", "ratio_ok=true bigger=true input_visible=true kept_reading=true page_scroll=0",
				"375x812 PHONE", "on_top=true", "gifts_hidden_closed=true expanded=false",
				"375x812 DRAWER_OPEN gifts_visible=true heart_visible=true tiers=", "on_screen=true focus_inside=true expanded=true",
				"375x812 DRAWER_ESC closed=true focus=drawer-gifts expanded=false",
				"375x812 DRAWER_SETTINGS opened=true focus=SUMMARY closed_by_backdrop=true",
				`1280x800 TOASTS shown=["toast"] count=1 kind=error `+c.toast,
				`375x812 TOASTS shown=["toast"] count=1 kind=error `+c.toast,
				"gift_status_matches=true", "CHAT_REFUSAL "+c.refusal,
				"1024x768 OTHER ratio_ok=true input_visible=true scroll_width_ok=true page_scroll=0 drawer_button=false",
				"768x1024 OTHER ratio_ok=true input_visible=true scroll_width_ok=true page_scroll=0 drawer_button=false",
				"812x375 OTHER ratio_ok=true input_visible=true scroll_width_ok=true page_scroll=0 drawer_button=true",
			)
			for _, line := range strings.Split(out, "\n") {
				if !strings.HasPrefix(line, "375x812 PHONE") {
					continue
				}
				var lines int
				if i := strings.Index(line, "lines_visible="); i >= 0 {
					fmt.Sscanf(line[i+len("lines_visible="):], "%d", &lines)
				}
				t.Logf("phone: %d chat messages wholly visible with the drawer closed", lines)
				if lines < 10 {
					t.Errorf("the phone layout shows %d chat messages, want at least 10", lines)
				}
				if !strings.Contains(line, "ratio_ok=true") || !strings.Contains(line, "input_visible=true") || !strings.Contains(line, "page_scroll=0") {
					t.Errorf("phone layout: %s", line)
				}
			}
		})
	}
}
