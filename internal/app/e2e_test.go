package app

import (
	"bufio"
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
)

// startFFmpeg publishes a live-encoded test pattern with tone, as a
// streamer's ffmpeg would, until stopped.
func startFFmpeg(t *testing.T, rtmpURL string, size string) *exec.Cmd {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", rtmpURL)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
	return cmd
}

// stopGracefully asks a child to quit (ffmpeg closes the stream cleanly on SIGINT).
func stopGracefully(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

type testLogWriter struct {
	t      *testing.T
	prefix string
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestFFmpegPublishFFprobeReads(t *testing.T) {
	probe := needTool(t, "ffprobe")
	n := startNode(t, "")
	key := n.createChannel("ffmpeg")
	startFFmpeg(t, n.rtmp+"/"+key, "640x360")
	waitFor(t, 20*time.Second, "ffmpeg stream live", func() bool { return n.channel("ffmpeg").Live })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, probe, "-v", "error", "-show_entries", "stream=codec_name,width,height,sample_rate",
		"-of", "compact", n.http+"/hls/ffmpeg/index.m3u8").CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "codec_name=h264|width=640|height=360") || !strings.Contains(got, "codec_name=aac") || !strings.Contains(got, "sample_rate=48000") {
		t.Fatalf("ffprobe saw:\n%s", got)
	}
	// Rates are measured over 2 s of the stream, which now goes live
	// within a fraction of a second.
	var live channelResp
	waitFor(t, 10*time.Second, "bitrate and frame rate measured", func() bool {
		live = n.channel("ffmpeg")
		return live.BitrateKbps > 0
	})
	if live.FPS < 25 || live.FPS > 35 {
		t.Errorf("live stats %+v", live)
	}
}

func TestChromiumWatchPagePlays(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	key := n.createChannel("browser")

	shots := os.Getenv("LIVEHOUSE_SCREENSHOTS")
	cmd := exec.Command(node, "../../e2e/watch.mjs", n.http+"/c/browser", shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.Stderr = &testLogWriter{t: t, prefix: "node: "}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("browser script ended before %s", want)
				}
				t.Log("browser: " + l)
				if strings.HasPrefix(l, "FAIL") {
					t.Fatalf("browser: %s", l)
				}
				if strings.HasPrefix(l, want) {
					return l
				}
			case <-time.After(90 * time.Second):
				t.Fatalf("no %s from the browser", want)
			}
		}
	}

	next("OFFLINE")
	ff := startFFmpeg(t, n.rtmp+"/"+key, "640x360")
	playing := strings.Fields(next("PLAYING"))
	t1, _ := strconv.ParseFloat(playing[1], 64)
	t2, _ := strconv.ParseFloat(playing[2], 64)
	if t2-t1 < 1.0 || playing[3] != "640x360" {
		t.Fatalf("video did not advance: %v", playing)
	}
	if v := n.channel("browser").Viewers; v < 1 {
		t.Errorf("viewers = %d while Chromium watches", v)
	}
	stopGracefully(ff)
	next("ENDED")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v", err)
	}
}

// TestBinaryLifecycle runs the real binary as a user would: first start
// prints what a streamer needs, SIGTERM ends a live stream and exits fast.
func TestBinaryLifecycle(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "livehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/livehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	for _, s := range []string{"--http", "LIVEHOUSE_DB", "--admin-token", "--hls-part-duration"} {
		if !strings.Contains(string(help), s) {
			t.Errorf("--help lacks %s", s)
		}
	}
	if out, err := exec.Command(bin, "serve", "--http", "nonsense").CombinedOutput(); err == nil || !strings.Contains(string(out), "not a listen address") {
		t.Errorf("bad flag: %v %s", err, out)
	}

	httpPort, rtmpPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "--http", "127.0.0.1:"+httpPort, "--rtmp", "127.0.0.1:"+rtmpPort, "--srt", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "", "--data", filepath.Join(dir, "data"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = &testLogWriter{t: t, prefix: "livehouse: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	sc := bufio.NewScanner(stdout)
	var key, watch string
	for sc.Scan() && (key == "" || watch == "") {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[0] == "Stream" {
			key = f[2]
		}
		if len(f) >= 2 && f[0] == "Watch:" {
			watch = f[1]
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if key == "" || watch != "http://localhost:"+httpPort+"/c/demo" {
		t.Fatalf("first start printed key %q watch %q", key, watch)
	}
	n := &testNode{t: t, http: "http://127.0.0.1:" + httpPort}
	ff := startFFmpeg(t, fmt.Sprintf("rtmp://127.0.0.1:%s/live/%s", rtmpPort, key), "320x180")
	waitFor(t, 20*time.Second, "demo live", func() bool { return n.channel("demo").Live })

	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit within 10 s of SIGTERM")
	}
	t.Logf("exited %v after SIGTERM with a live stream", time.Since(start).Round(time.Millisecond))
	stopGracefully(ff)

	out, err := exec.Command(bin, "migrate", "--data", filepath.Join(dir, "data")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "migrations applied") {
		t.Fatalf("migrate: %v %s", err, out)
	}

	// Accounts from the command line, then a log-in with them.
	data := filepath.Join(dir, "data")
	out, err = exec.Command(bin, "user", "create", "opsadmin", "--password", "ops-admin-password", "--admin", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "created user opsadmin") || !strings.Contains(string(out), "admin") {
		t.Fatalf("user create: %v %s", err, out)
	}
	if out, err := exec.Command(bin, "user", "create", "OPSADMIN", "--password", "another-password", "--data", data).CombinedOutput(); err == nil {
		t.Fatalf("look-alike user created: %s", out)
	}
	out, err = exec.Command(bin, "user", "reset-password", "opsadmin", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "new password for opsadmin: ") {
		t.Fatalf("reset-password: %v %s", err, out)
	}
	newPassword := strings.Fields(strings.SplitN(string(out), "opsadmin: ", 2)[1])[0]
	cmd = exec.Command(bin, "--http", "127.0.0.1:"+httpPort, "--rtmp", "127.0.0.1:"+rtmpPort, "--srt", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "", "--data", data)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	waitFor(t, 10*time.Second, "restart", func() bool {
		res, err := http.Get(n.http + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
	b := n.browser("127.0.0.1")
	if r := b.login("opsadmin", newPassword); r.code != 200 || !strings.Contains(r.raw, `"admin"`) {
		t.Fatalf("log-in with the CLI-made account: %d %s", r.code, r.raw)
	}
	if r := b.do("GET", "/api/admin/users", nil); r.code != 200 {
		t.Fatalf("admin page API: %d", r.code)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	// Below the kernel's ephemeral range (32768+), so an outgoing connection
	// of another test cannot take the port between this check and the
	// child process binding it.
	for range 100 {
		p := strconv.Itoa(20000 + mathrand.IntN(10000))
		if l, err := net.Listen("tcp", "127.0.0.1:"+p); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port in 20000-29999")
	return ""
}

// TestChromiumSignupLoginTokenLogout: a new user signs up through the page
// (the browser solves the challenge), makes a token, logs out and back in.
func TestChromiumSignupLoginTokenLogout(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	// localhost, not 127.0.0.1: the session cookie is Secure, which
	// browsers honour over plain HTTP only for localhost.
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	runBrowser(t, node, chromium, "accounts.mjs", []string{base, "小明_viewer", "a-long-enough-password"},
		"SIGNED_UP", "ACCOUNT 小明_viewer — level 0", "TOKEN lh_pat_", "LOGGED_OUT me=401", "LOGGED_IN 小明_viewer")
	u, err := n.app.Accounts.Users.ByName(context.Background(), "小明_viewer")
	if err != nil {
		t.Fatalf("account not stored: %v", err)
	}
	toks, _ := n.app.Accounts.Tokens.List(context.Background(), u.ID)
	if len(toks) != 1 || toks[0].Name != "obs plugin" || toks[0].Scopes[0] != "chat:write" {
		t.Fatalf("tokens = %+v", toks)
	}
}

// TestChromiumDanmakuBetweenTwoViewers: over a live stream, a logged-in
// viewer's danmaku reaches another browser's overlay and panel within a
// second, and an HTML payload stays text.
func TestChromiumDanmakuBetweenTwoViewers(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	key := n.createChannel("party")
	newUser(t, n, "chatter", false)
	chatter, err := n.app.Accounts.Users.ByName(context.Background(), "chatter")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.app.Money.Grant(context.Background(), chatter.ID, 5000, "test top-up", 0); err != nil {
		t.Fatal(err)
	}
	startFFmpeg(t, n.rtmp+"/"+key, "640x360")
	waitFor(t, 20*time.Second, "live", func() bool { return n.channel("party").Live })

	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	out := runBrowser(t, node, chromium, "danmaku.mjs", []string{base, "party", "chatter", "chatter-password", os.Getenv("LIVEHOUSE_SCREENSHOTS")},
		"BOTH_LIVE", "SAFE pwned=no imgs=0", "OWN_HIGHLIGHTED 2", "GIFTED balance 5000 -> 2000 combo ×3")
	seen := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "SEEN overlay_ms=") {
			seen++
			var ms int
			fmt.Sscanf(strings.TrimPrefix(line, "SEEN overlay_ms="), "%d", &ms)
			// The target (well under a second; 99–192 ms measured on a quiet
			// machine) is a benchmark figure; under a loaded CI machine this
			// only insists the message flies while the viewer still watches.
			t.Logf("danmaku reached the other viewer's overlay in %d ms", ms)
			if ms > 5000 {
				t.Errorf("danmaku took %d ms to reach the other viewer's overlay", ms)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("%d of 2 danmaku seen", seen)
	}
}

// runBrowser runs an e2e script with Debian's Chromium to its end, logs its
// output, and checks that it has every wanted piece and no page error.
func runBrowser(t *testing.T, node, chromium, script string, args []string, want ...string) string {
	t.Helper()
	cmd := exec.Command(node, append([]string{"../../e2e/" + script}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("browser:\n%s", out)
	if err != nil {
		t.Fatalf("browser script %s: %v", script, err)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("browser output lacks %q", w)
		}
	}
	if strings.Contains(string(out), "PAGE_ERROR") {
		t.Error("a page threw an error")
	}
	return string(out)
}

// needPlaywright finds node, Debian's chromium and playwright-core; in CI a
// missing one fails the test.
func needPlaywright(t *testing.T) (node, chromium string) {
	t.Helper()
	node, chromium = needTool(t, "node"), needTool(t, "chromium")
	if _, err := os.Stat("../../node_modules/playwright-core"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node_modules/playwright-core missing: make test runs npm ci")
		}
		t.Skip("playwright-core not installed; run make test")
	}
	return node, chromium
}

// TestChromiumMoneyJourney: top-up, trial gift, gift, membership, badges,
// earnings and payout, all through the pages (e2e/money.mjs).
func TestChromiumMoneyJourney(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := startNode(t, "")
	ctx := context.Background()
	for _, u := range []account.NewUser{
		{Username: "patron", Password: "patron-password"},
		{Username: "singer", Password: "singer-password", CanStream: true},
		{Username: "boss", Password: "boss-password", IsAdmin: true},
	} {
		if _, err := n.app.Accounts.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	singer := n.browser("127.0.0.1")
	if r := singer.login("singer", "singer-password"); r.code != 200 {
		t.Fatalf("login: %d", r.code)
	}
	created := singer.do("POST", "/api/channels", map[string]any{"slug": "songs", "title": "Songs"})
	if created.code != 201 {
		t.Fatalf("create channel: %d %s", created.code, created.raw)
	}
	startFFmpeg(t, n.rtmp+"/"+created.str("stream_key"), "640x360")
	waitFor(t, 20*time.Second, "live", func() bool { return n.channel("songs").Live })

	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	// 3000 topped up; the trial gift is free; rocket 1000; Captain 198.
	// The channel earns 70 % (platform rounds its cut down): 14 + 700 + 139.
	runBrowser(t, node, chromium, "money.mjs", []string{base, "songs", "patron", "singer", "boss", os.Getenv("LIVEHOUSE_SCREENSHOTS")},
		"TOPPED_UP balance=3000",
		"GIFTED trial_balance=3000 balance=2000",
		"balance=1802", "Captain, renews on",
		"BADGES member=Captain medal=SONG 4",
		"EARNINGS available=853 after=353 paid=500",
		"LEDGER Ledger is consistent")
}

// TestChromiumPlatformInBothLanguages runs e2e/platform.mjs once in English
// and once in Chinese: sign-up, streaming grant, studio, going live with
// ffmpeg, home page, watching, live numbers, a moderator's mute, an
// admin's ban, and the narrow (375 px) layout. Screenshots go to
// test-artifacts/ (ignored by git).
func TestChromiumPlatformInBothLanguages(t *testing.T) {
	node, chromium := needPlaywright(t)
	needTool(t, "ffmpeg")
	n := startNode(t, "")
	ctx := context.Background()
	users := []account.NewUser{{Username: "boss", Password: "boss-password", IsAdmin: true}, {Username: "keeper", Password: "keeper-password"}}
	for _, lang := range []string{"en", "zh"} {
		users = append(users, account.NewUser{Username: "fan_" + lang, Password: "fan_" + lang + "-password"})
	}
	for _, u := range users {
		if _, err := n.app.Accounts.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	shots, err := filepath.Abs("../../test-artifacts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct {
		lang, chatter, heading, muted, banned, settings string
	}{
		{"en", "fan_en", "Create an account", "You are muted in this channel.", "banned", "SETTINGS writes_per_account=now 60 share=empty: 30 %"},
		{"zh-CN", "fan_zh", "创建账号", "你在本频道已被禁言。", "已封禁", "SETTINGS writes_per_account=当前 60 share=留空：30%"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			runBrowser(t, node, chromium, "platform.mjs", []string{base, c.lang, "boss", "keeper", c.chatter, shots},
				"LANG html="+c.lang+" signup_heading="+c.heading,
				"PREVIEW playing", "WATCHING from_home", "STATS danmaku_per_min=1",
				"REPORT filed_from_watch_page handled_in_studio", "SANCTION listed_in_studio",
				"MUTED chatter_sees=\""+c.muted, "BANNED status="+c.banned, c.settings,
				"NARROW home scroll_width=375", "NARROW watch scroll_width=375 player-above-chat", "NARROW studio scroll_width=375",
				"A11Y home unnamed=[] first_tab=skip", "A11Y watch unnamed=[] first_tab=skip", "A11Y studio unnamed=[] first_tab=skip")
		})
	}
}
