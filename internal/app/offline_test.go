package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/media/flv"
	"github.com/livehouse/livehouse/internal/media/rtmp"
)

// TestChromiumOfflineCardsScheduleEmotes: issue 13 item 7 and the channel
// emotes of item 3 through the pages (e2e/offline.mjs), on PostgreSQL, in
// English and Chinese at 1280x800 and 375x812: the owner sets a cover, a
// schedule entry and an emote in the studio; a guest sees the cover,
// "hasn't gone live yet" and the next stream; live, ":lhpog:" in chat is
// the image (chat and overlay) with the words kept as alt/title; the
// stream ends into the ended card with "last live"; the end read back from
// the database three hours later says "3 hours ago".
func TestChromiumOfflineCardsScheduleEmotes(t *testing.T) {
	node, chromium := needPlaywright(t)
	files := t.TempDir()
	writeTestPNG(t, filepath.Join(files, "cover.png"), 640, 360, true)
	writeTestPNG(t, filepath.Join(files, "emote.png"), 56, 56, false)
	if err := os.WriteFile(filepath.Join(files, "evil.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>`), 0o644); err != nil {
		t.Fatal(err)
	}
	type expect struct{ lang, ended, last, aged, never, next, past, refused string }
	for _, c := range []expect{
		{"en", "ENDED title=The stream has ended | last=Last live ", "", "| last=Last live 3 hours ago |", "| last=Hasn't gone live yet | next=Next: ",
			"8:30 PM — Speedrun night 速通之夜", "SCHEDULE_PAST Pick a date and time in the future.", "EMOTE_REFUSED An emote must be a PNG, GIF or WebP image. rows=1"},
		{"zh-CN", "ENDED title=直播已结束 | last=上次直播：", "", "| last=上次直播：3小时前 |", "| last=还没有开过播 | next=下一场：",
			"20:30 — Speedrun night 速通之夜", "SCHEDULE_PAST 请选择将来的日期和时间。", "EMOTE_REFUSED 表情必须是 PNG、GIF 或 WebP 图片。 rows=1"},
	} {
		for _, size := range [][2]int{{1280, 800}, {375, 812}} {
			dims := fmt.Sprintf("%dx%d", size[0], size[1])
			t.Run(c.lang+"-"+dims, func(t *testing.T) {
				n := startPostgresNode(t)
				slug := "later"
				key := streamerChannel(t, n, "caster", slug)
				var stop func()
				act := func(what string) {
					switch what {
					case "live":
						stop = publishUntilStopped(t, n, key)
					case "end":
						stop()
					case "age":
						if _, err := n.app.DB.ExecContext(context.Background(), `UPDATE live_sessions SET ended_at = ended_at - $1
							WHERE channel_id = (SELECT id FROM channels WHERE slug = $2)`, (3*time.Hour + 5*time.Minute).Milliseconds(), slug); err != nil {
							t.Errorf("age the session: %v", err)
						}
					}
				}
				out := runBrowserDriven(t, node, chromium, "offline.mjs",
					[]string{strings.Replace(n.http, "127.0.0.1", "localhost", 1), slug, "caster", c.lang, fmt.Sprint(size[0]), fmt.Sprint(size[1]), files, os.Getenv("LIVEHOUSE_SCREENSHOTS")}, act)
				for _, w := range []string{
					dims + " STUDIO_SCHEDULE ", "Speedrun night 速通之夜", c.past, " STUDIO_EMOTE :lhpog:", c.refused,
					dims + " OFFLINE ", c.never, c.next, "cover=true | fits=true",
					dims + " UPCOMING ", dims + " HOME_NEXT ",
					dims + " CHAT_EMOTE words=gg :lhpog: well played :nope: <b>x</b> alt=:lhpog: title=:lhpog: imgs=1 bold=0 src=true height_ok=true",
					dims + " OVERLAY_EMOTE true",
					dims + ` TOKENS ":not"+[lhpog] | ":"+[lhpog]+":" | [lhpog]+[lhpog] | "lhpog:" | ":lh pog:" | "<img src=x onerror=alert(1)>"+[lhpog]`,
					dims + " " + c.ended, "FINISHED",
					dims + " AGED ", c.aged,
				} {
					if !strings.Contains(out, w) {
						t.Errorf("browser output lacks %q", w)
					}
				}
				if strings.Count(out, "fits=true") != 3 {
					t.Errorf("a card's text does not fit the player at %s", dims)
				}
			})
		}
	}
}

// writeTestPNG writes a w×h PNG: a colourful gradient for a cover, a face-like
// disc for an emote.
func writeTestPNG(t *testing.T, path string, w, h int, cover bool) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if cover {
				img.Set(x, y, color.NRGBA{uint8(40 + 200*x/w), uint8(60 + 120*y/h), 180, 255})
				continue
			}
			dx, dy := x-w/2, y-h/2
			if dx*dx+dy*dy < (w/2-2)*(w/2-2) {
				img.Set(x, y, color.NRGBA{255, 200, 40, 255})
				if (dy == -h/8 && (dx == -w/6 || dx == w/6)) || (dy > h/8 && dy < h/5 && dx > -w/4 && dx < w/4) {
					img.Set(x, y, color.NRGBA{40, 30, 20, 255})
				}
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// publishUntilStopped publishes the fixture over RTMP until the returned
// stop is called (or the test ends).
func publishUntilStopped(t *testing.T, n *testNode, key string) (stop func()) {
	t.Helper()
	rec, err := flv.ReadFile(fixturePath())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rtmp.PublishRecording(ctx, n.rtmp+"/"+key, rec, rtmp.PublishOptions{Realtime: true, Loop: true})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("publish: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// runBrowserDriven runs an e2e script that asks the test to act: on a line
// "NEED <what>" it calls act(what) and answers "DONE <what>" on the
// script's stdin. It returns everything the script printed.
func runBrowserDriven(t *testing.T, node, chromium, script string, args []string, act func(what string)) string {
	t.Helper()
	cmd := exec.Command(node, append([]string{"../../e2e/" + script}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if what, ok := strings.CutPrefix(line, "NEED "); ok {
			act(what)
			if _, err := io.WriteString(stdin, "DONE "+what+"\n"); err != nil {
				t.Errorf("answer %s: %v", what, err)
			}
		}
	}
	stdin.Close()
	err = cmd.Wait()
	t.Logf("browser:\n%s", out.String())
	if err != nil {
		t.Fatalf("browser script %s: %v", script, err)
	}
	if strings.Contains(out.String(), "PAGE_ERROR") || strings.Contains(out.String(), "SCRIPT_ERROR") {
		t.Error("a page or the script threw an error")
	}
	return out.String()
}

// TestStudioScheduleEmotesPageIsTheOwners: the studio's "Schedule & emotes"
// page and its writes are the owner's; another account gets the 403 page
// and 403 answers, a guest the log-in page.
func TestStudioScheduleEmotesPageIsTheOwners(t *testing.T) {
	n := startNode(t, "")
	streamerChannel(t, n, "owner1", "mine")
	other := newUser(t, n, "stranger", true)
	owner := n.browser("127.0.0.1")
	if r := owner.login("owner1", "owner1-password"); r.code != 200 {
		t.Fatalf("login: %d", r.code)
	}
	page := func(b *browser) (int, string) {
		req, _ := http.NewRequest("GET", n.http+"/studio/mine/channel", nil)
		if b.session != "" {
			req.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: b.session})
		}
		res, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := page(owner); code != 200 || !strings.Contains(body, `id="schedule-form"`) || !strings.Contains(body, `id="emote-form"`) {
		t.Fatalf("owner: %d", code)
	}
	if code, body := page(other); code != 403 || !strings.Contains(body, `data-status="403"`) {
		t.Fatalf("stranger: %d", code)
	}
	if code, body := page(n.browser("127.0.0.1")); code != 200 || !strings.Contains(body, `id="login-form"`) {
		t.Fatalf("guest: %d %.200s", code, body)
	}
	// A moderator opens the studio, whose tabs offer only what they may open.
	mod := newUser(t, n, "helper1", false)
	if r := owner.do("POST", "/api/channels/mine/moderators", map[string]string{"username": "helper1"}); r.code != 201 {
		t.Fatalf("appoint moderator: %d %s", r.code, r.raw)
	}
	studio := func(b *browser) string {
		req, _ := http.NewRequest("GET", n.http+"/studio/mine", nil)
		req.AddCookie(&http.Cookie{Name: account.SessionCookie, Value: b.session})
		res, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("studio: %d", res.StatusCode)
		}
		return string(body)
	}
	if body := studio(mod); strings.Contains(body, `href="/studio/mine/channel"`) || strings.Contains(body, `href="/studio/mine/money"`) {
		t.Fatal("a moderator's studio offers the owner's tabs")
	}
	if body := studio(owner); !strings.Contains(body, `href="/studio/mine/channel"`) || !strings.Contains(body, `href="/studio/mine/money"`) {
		t.Fatal("the owner's studio lacks the channel or money tab")
	}
	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	if r := other.do("POST", "/api/channels/mine/schedule", map[string]any{"starts_at": future, "title": "hijack"}); r.code != 403 {
		t.Fatalf("stranger schedules: %d %s", r.code, r.raw)
	}
	if r := owner.do("POST", "/api/channels/mine/schedule", map[string]any{"starts_at": future, "title": "mine"}); r.code != 201 {
		t.Fatalf("owner schedules: %d %s", r.code, r.raw)
	}
	if r := other.do("DELETE", "/api/channels/mine/emotes/x_x", nil); r.code != 403 {
		t.Fatalf("stranger deletes an emote: %d %s", r.code, r.raw)
	}
}
