package app

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestChromiumPlayerControls: the watch page's own player controls over a
// live LL-HLS stream, through the page (e2e/player.mjs), in English and
// Chinese, on a desktop and a phone screen.
func TestChromiumPlayerControls(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	key := n.createChannel("player")
	publishFixture(t, n, key)
	waitFor(t, 20*time.Second, "live", func() bool { return n.channel("player").Live })
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ lang, auto, live, behind, whep string }{
		{"en", `"Auto (`, `badge="LIVE"`, `badge_paused="Go live"`, `QUALITY_WHEP button="Low delay" live="LIVE"`},
		{"zh-CN", `"自动（`, `badge="直播"`, `badge_paused="回到直播"`, `QUALITY_WHEP button="低延迟" live="直播"`},
	} {
		for _, size := range [][2]string{{"1280", "800"}, {"375", "812"}} {
			t.Run(c.lang+"-"+size[0], func(t *testing.T) {
				out := runBrowser(t, node, chromium, "player.mjs",
					[]string{base, c.lang, "player", size[0], size[1], os.Getenv("LIVEHOUSE_SCREENSHOTS")},
					"BUTTON pause_stops=true play_resumes=true",
					"KEYS space_pauses=true k_resumes=true k_pauses=true space_resumes=true",
					c.behind, " "+c.live+" behind_seekable_end=",
					"MUTE_KEY before=true after_m=false after_mm=true",
					"VOLUME set=0.3 muted=false stored=0.3",
					"RELOAD volume=0.3", "volume_after_gesture=0.3",
					"QUALITY items=["+c.auto, "closed=true",
					"HELP open=true rows=6 closed_by_esc=true",
					"THEATRE on=true remembered=true off_by_button=true",
					"FULLSCREEN stage=true danmaku_inside=true controls_inside=true",
					"AUTOHIDE hid=true back_on_move=true",
					`unnamed=[] outside=[]`,
				)
				if size[0] == "1280" && !strings.Contains(out, c.whep) {
					t.Errorf("browser output lacks %q", c.whep)
				}
				// The phone runs hide document.pictureInPictureEnabled (see player.mjs).
				switch {
				case size[0] == "1280" && !strings.Contains(out, "PIP supported=true"):
					t.Error("this Chromium should offer picture-in-picture at the desktop size")
				case strings.Contains(out, "PIP supported=true"):
					if !strings.Contains(out, "entered=true button_hidden=false") {
						t.Error("picture-in-picture is offered but did not start")
					}
				case !strings.Contains(out, "PIP supported=false button_hidden=true"):
					t.Error("picture-in-picture is not supported but its button shows")
				default:
					t.Log("this Chromium has no picture-in-picture: checked that its button is hidden")
				}
			})
		}
	}
}
