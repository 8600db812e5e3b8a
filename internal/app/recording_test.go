package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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
	"github.com/livehouse/livehouse/internal/recording"
)

// publishFor publishes a live-encoded 640x360 test pattern with tone for
// dur (ffmpeg stops by itself), cheaply: one encoder thread.
func publishFor(t *testing.T, rtmpURL string, dur time.Duration, extra ...string) *exec.Cmd {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.FormatFloat(dur.Seconds(), 'f', 1, 64),
		"-c:v", "libx264", "-threads", "1", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k"}
	args = append(args, extra...)
	args = append(args, "-f", "flv", rtmpURL)
	cmd := exec.Command(ff, args...)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
	return cmd
}

type replayJSON struct {
	ID         int64  `json:"id"`
	Channel    string `json:"channel"`
	StartedAt  int64  `json:"started_at"`
	DurationMS int64  `json:"duration_ms"`
	Bytes      int64  `json:"bytes"`
	State      string `json:"state"`
	Hidden     bool   `json:"hidden"`
	Title      string `json:"title"`
}

func replaysOf(t *testing.T, base, slug string) []replayJSON {
	t.Helper()
	res, err := http.Get(base + "/api/channels/" + slug + "/replays")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Replays []replayJSON `json:"replays"`
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET replays: %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Replays
}

// probeDuration reads a playlist end to end with ffmpeg (every packet) and
// returns the media duration ffprobe reports.
func probeDuration(t *testing.T, url string) float64 {
	t.Helper()
	probe := needTool(t, "ffprobe")
	out, err := exec.Command(probe, "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	// Read every packet (no decoding: cheap) to the end: no error, no gap.
	ff := needTool(t, "ffmpeg")
	if out, err := exec.Command(ff, "-v", "error", "-i", url, "-c", "copy", "-f", "null", "-").CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("ffmpeg reading %s: %v\n%s", url, err, out)
	}
	return d
}

// TestRecordingReplay: a 20 s publish is recorded; its replay is listed
// with its duration and size, its VOD playlist reads end to end with the
// right duration, a danmaku sent ~10 s into the stream comes back at that
// point of the replay, and the owner can rename, hide and delete it. With
// Chromium at hand, the replay page plays, seeks, and shows that danmaku
// within 0.5 s of its point (e2e/replay.mjs).
func TestRecordingReplay(t *testing.T) {
	n := startNode(t, "")
	ctx := context.Background()
	for _, u := range []account.NewUser{{Username: "streamer", Password: "streamer-password", CanStream: true}, {Username: "fan", Password: "fan-password"}} {
		if _, err := n.app.Accounts.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	owner := n.browser("127.0.0.1")
	if r := owner.login("streamer", "streamer-password"); r.code != 200 {
		t.Fatalf("login: %d", r.code)
	}
	created := owner.do("POST", "/api/channels", map[string]any{"slug": "recorded", "title": "Recorded"})
	if created.code != 201 {
		t.Fatalf("create channel: %d %s", created.code, created.raw)
	}
	fan := n.browser("127.0.0.2")
	if r := fan.login("fan", "fan-password"); r.code != 200 {
		t.Fatalf("login: %d", r.code)
	}
	if r := fan.do("PUT", "/api/channels/recorded/recording", map[string]any{"enabled": false}); r.code != 403 {
		t.Fatalf("a viewer switched recording: %d %s", r.code, r.raw)
	}

	pub := publishFor(t, n.rtmp+"/"+created.str("stream_key"), 20*time.Second)
	waitFor(t, 30*time.Second, "live", func() bool { return n.channel("recorded").Live })
	// While live the replay is listed as recording.
	waitFor(t, 10*time.Second, "a replay being recorded", func() bool {
		l := replaysOf(t, n.http, "recorded")
		return len(l) == 1 && l[0].State == recording.StateRecording
	})
	// ~10 s into the live stream the fan says something.
	var sent struct {
		ID       string `json:"id"`
		OffsetMS int64  `json:"offset_ms"`
	}
	waitFor(t, 30*time.Second, "10 s into the stream", func() bool {
		var c channelResp
		n.api("GET", "/api/channels/recorded", "", nil, &c)
		return c.Uptime >= 10
	})
	r := fan.do("POST", "/api/rooms/recorded/danmaku", map[string]any{"text": "ten seconds in"})
	if r.code != 201 {
		t.Fatalf("danmaku: %d %s", r.code, r.raw)
	}
	_ = json.Unmarshal([]byte(r.raw), &sent)
	if sent.OffsetMS < 8000 || sent.OffsetMS > 14000 {
		t.Fatalf("danmaku offset %d ms, want ~10 s", sent.OffsetMS)
	}
	// The owner marks the moment live from the studio; a viewer may not.
	if r := fan.do("POST", "/api/channels/recorded/chapters", map[string]any{"title": "nope"}); r.code != 403 {
		t.Fatalf("a viewer marked a chapter: %d %s", r.code, r.raw)
	}
	mark := owner.do("POST", "/api/channels/recorded/chapters", map[string]any{"title": "Goal!"})
	if mark.code != 201 {
		t.Fatalf("mark this moment: %d %s", mark.code, mark.raw)
	}
	_ = pub.Wait()
	waitFor(t, 30*time.Second, "the replay finalised", func() bool {
		l := replaysOf(t, n.http, "recorded")
		return len(l) == 1 && l[0].State == recording.StateReady
	})
	rep := replaysOf(t, n.http, "recorded")[0]
	t.Logf("replay %d: %d ms, %d bytes", rep.ID, rep.DurationMS, rep.Bytes)
	if math.Abs(float64(rep.DurationMS)-20000) > 1500 || rep.Bytes < 100_000 {
		t.Fatalf("replay %+v, want ~20 s and its bytes", rep)
	}
	// Write amplification: what is on disk over what was ingested.
	ingested := ingestBytes(t, n, "recorded")
	if ingested > 0 {
		t.Logf("MEASURE write amplification: %d bytes on disk / %d bytes ingested = %.3f", rep.Bytes, ingested, float64(rep.Bytes)/float64(ingested))
	}

	for _, line := range strings.Split(n.logs.String(), "\n") {
		if strings.Contains(line, "recording finished") {
			t.Logf("MEASURE recorder: %s", line)
		}
	}
	vod := fmt.Sprintf("%s/vod/%d/index.m3u8", n.http, rep.ID)
	code, pl := httpGet(t, vod)
	if code != 200 || !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.Contains(pl, "#EXT-X-ENDLIST") || !strings.Contains(pl, `#EXT-X-MAP:URI="init.mp4"`) {
		t.Fatalf("VOD playlist %d:\n%s", code, pl)
	}
	if d := probeDuration(t, vod); math.Abs(d-20) > 1.5 {
		t.Fatalf("ffprobe duration %.3f s, want ~20", d)
	}
	if code, _ := httpGet(t, fmt.Sprintf("%s/vod/%d/..%%2Fx.m4s", n.http, rep.ID)); code != 404 {
		t.Errorf("a path outside the recording: %d", code)
	}

	// The danmaku comes back at its point of the replay.
	var dm struct {
		Messages []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
			T    int64  `json:"t"`
		} `json:"messages"`
	}
	n.api("GET", fmt.Sprintf("/api/replays/%d/danmaku", rep.ID), "", nil, &dm)
	if len(dm.Messages) != 1 || dm.Messages[0].ID != sent.ID || math.Abs(float64(dm.Messages[0].T-sent.OffsetMS)) > 500 {
		t.Fatalf("replay danmaku %+v, want %q at ~%d ms", dm.Messages, sent.ID, sent.OffsetMS)
	}

	// The live mark is a chapter near the danmaku; the owner adds one afterwards.
	var info struct {
		Chapters []struct {
			AtMS  int64  `json:"at_ms"`
			Title string `json:"title"`
		} `json:"chapters"`
		Thumbnails *recording.Thumbnails `json:"thumbnails"`
	}
	n.api("GET", fmt.Sprintf("/api/replays/%d", rep.ID), "", nil, &info)
	if len(info.Chapters) != 1 || info.Chapters[0].Title != "Goal!" || math.Abs(float64(info.Chapters[0].AtMS-sent.OffsetMS)) > 2000 {
		t.Fatalf("chapters %+v, want Goal! near %d ms", info.Chapters, sent.OffsetMS)
	}
	id := strconv.FormatInt(rep.ID, 10)
	if r := owner.do("POST", "/api/replays/"+id+"/chapters", map[string]any{"at_ms": 3000, "title": "Warm-up"}); r.code != 201 {
		t.Fatalf("add chapter: %d %s", r.code, r.raw)
	}
	if r := owner.do("POST", "/api/replays/"+id+"/chapters", map[string]any{"at_ms": 999999, "title": "Later"}); r.code != 400 || r.str("code") != "replay_chapter_invalid" {
		t.Fatalf("a chapter past the end: %d %s", r.code, r.raw)
	}
	// Thumbnails: a sprite sheet made by ffmpeg after the stream.
	waitFor(t, 60*time.Second, "the thumbnails", func() bool {
		n.api("GET", fmt.Sprintf("/api/replays/%d", rep.ID), "", nil, &info)
		return info.Thumbnails != nil
	})
	for _, line := range strings.Split(n.logs.String(), "\n") {
		if strings.Contains(line, "replay thumbnails made") {
			t.Logf("MEASURE thumbnails: %s", line)
		}
	}
	if th := info.Thumbnails; th.Count != 11 || th.IntervalMS != 2000 || th.Cols != 10 {
		t.Fatalf("thumbnails %+v, want 11 tiles 2 s apart", th)
	}
	if res, err := http.Get(n.http + info.Thumbnails.URL); err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("sprite: %v %v", err, res)
	} else {
		res.Body.Close()
	}

	// The browser: plays, seeks, and shows the danmaku at its point.
	if _, err := os.Stat("../../node_modules/playwright-core"); err == nil {
		node, chromium := needPlaywright(t)
		shots := os.Getenv("LIVEHOUSE_SCREENSHOTS")
		for _, lang := range []string{"en", "zh-CN"} {
			runBrowser(t, node, chromium, "replay.mjs", []string{n.http, strconv.FormatInt(rep.ID, 10), sent.ID,
				strconv.FormatInt(dm.Messages[0].T, 10), "recorded", "streamer", lang, shots},
				"1280x800 PLAYED_TO_END", "375x812 PLAYED_TO_END", "1280x800 DANMAKU_OK", "375x812 DANMAKU_OK", "STUDIO_OK", "WATCH_LIST_OK",
				"1280x800 THUMB_OK", "1280x800 CHAPTERS_OK", "375x812 CHAPTERS_OK", "1280x800 CONTROLS_OK", "375x812 CONTROLS_OK", "375x812 OWNER_TOOLS_OK",
				map[string]string{"en": "MARK_OFFLINE Your stream is not being recorded right now.", "zh-CN": "MARK_OFFLINE 你的直播当前没有在录制。"}[lang])
		}
	} else {
		t.Log("playwright-core not installed: the browser part is skipped")
	}

	// A clip of 8-14 s: whole segments, linked not copied; the danmaku
	// keeps its place (moved by the clip's start), the chapter comes along.
	clip := owner.do("POST", "/api/replays/"+id+"/clip", map[string]any{"from_ms": 8000, "to_ms": 14000, "title": "The goal"})
	if clip.code != 201 {
		t.Fatalf("clip: %d %s", clip.code, clip.raw)
	}
	var c struct {
		Replay replayJSON `json:"replay"`
	}
	_ = json.Unmarshal([]byte(clip.raw), &c)
	if c.Replay.DurationMS < 5500 || c.Replay.DurationMS > 7500 || c.Replay.Title != "The goal" {
		t.Fatalf("clip %+v, want ~6 s", c.Replay)
	}
	if d := probeDuration(t, fmt.Sprintf("%s/vod/%d/index.m3u8", n.http, c.Replay.ID)); math.Abs(d*1000-float64(c.Replay.DurationMS)) > 500 {
		t.Fatalf("clip reads %.3f s, says %d ms", d, c.Replay.DurationMS)
	}
	n.api("GET", fmt.Sprintf("/api/replays/%d/danmaku", c.Replay.ID), "", nil, &dm)
	shift := c.Replay.StartedAt - rep.StartedAt
	if len(dm.Messages) != 1 {
		t.Fatalf("clip danmaku %+v, want the one", dm.Messages)
	}
	if math.Abs(float64(dm.Messages[0].T+shift-sent.OffsetMS)) > 500 {
		t.Fatalf("clip danmaku at %d ms + clip start %d ms, want ~%d", dm.Messages[0].T, shift, sent.OffsetMS)
	}
	if _, err := os.Stat("../../node_modules/playwright-core"); err == nil {
		node, chromium := needPlaywright(t)
		runBrowser(t, node, chromium, "replay.mjs", []string{n.http, strconv.FormatInt(c.Replay.ID, 10), sent.ID,
			strconv.FormatInt(dm.Messages[0].T, 10), "recorded", "streamer", "en", os.Getenv("LIVEHOUSE_SCREENSHOTS"), "quick"},
			"1280x800 PLAYED_TO_END", "1280x800 DANMAKU_OK")
	}

	// Members only: the clip plays for the channel's members and its owner.
	clipID := strconv.FormatInt(c.Replay.ID, 10)
	if r := owner.do("PATCH", "/api/replays/"+clipID, map[string]any{"members_only": true}); r.code != 200 || !strings.Contains(r.raw, `"members_only":true`) {
		t.Fatalf("members only: %d %s", r.code, r.raw)
	}
	if code, _ := httpGet(t, n.http+"/vod/"+clipID+"/index.m3u8"); code != 403 {
		t.Fatalf("members-only playlist for a passer-by: %d", code)
	}
	if r := fan.do("GET", "/api/replays/"+clipID+"/danmaku", nil); r.code != 403 || r.str("code") != "replay_members_only" {
		t.Fatalf("members-only danmaku for a non-member: %d %s", r.code, r.raw)
	}
	if r := fan.do("GET", "/api/replays/"+clipID, nil); r.code != 200 || r.body["playable"] != false {
		t.Fatalf("members-only replay's page data for a non-member: %d %s", r.code, r.raw)
	}
	if r := owner.do("GET", "/vod/"+clipID+"/index.m3u8", nil); r.code != 200 {
		t.Fatalf("members-only playlist for the owner: %d", r.code)
	}
	admin := n.browser("127.0.0.3")
	admin.bearer = testAdminToken
	if r := admin.do("POST", "/api/admin/wallets/grant", map[string]any{"username": "fan", "coins": 3000, "reason": "test"}); r.code != 200 {
		t.Fatalf("grant: %d %s", r.code, r.raw)
	}
	if r := fan.do("POST", "/api/channels/recorded/membership", map[string]any{"tier": 1, "months": 1, "idempotency_key": "rec-1"}); r.code != 201 {
		t.Fatalf("join: %d %s", r.code, r.raw)
	}
	if r := fan.do("GET", "/vod/"+clipID+"/index.m3u8", nil); r.code != 200 || !strings.Contains(r.raw, "#EXT-X-ENDLIST") {
		t.Fatalf("members-only playlist for a member: %d %s", r.code, r.raw)
	}

	// The owner renames and hides it (gone for others), then deletes it.
	if r := fan.do("PATCH", "/api/replays/"+id, map[string]any{"title": "mine now"}); r.code != 403 {
		t.Fatalf("a viewer renamed a replay: %d", r.code)
	}
	if r := owner.do("PATCH", "/api/replays/"+id, map[string]any{"title": strings.Repeat("x", 101)}); r.code != 400 || r.str("code") != "replay_title_invalid" {
		t.Fatalf("long title: %d %s", r.code, r.raw)
	}
	if r := owner.do("PATCH", "/api/replays/"+id, map[string]any{"title": " Best of ", "hidden": true}); r.code != 200 || !strings.Contains(r.raw, `"title":"Best of"`) {
		t.Fatalf("rename and hide: %d %s", r.code, r.raw)
	}
	if l := replaysOf(t, n.http, "recorded"); len(l) != 1 || l[0].ID != c.Replay.ID {
		t.Fatalf("others see %+v, want only the clip (the replay is hidden)", l)
	}
	if r := fan.do("GET", "/api/replays/"+id, nil); r.code != 404 || r.str("code") != "replay_not_found" {
		t.Fatalf("a hidden replay for a viewer: %d %s", r.code, r.raw)
	}
	if code, _ := httpGet(t, vod); code != 404 {
		t.Fatalf("a hidden replay's playlist: %d", code)
	}
	if r := owner.do("GET", "/api/channels/recorded/replays", nil); r.code != 200 || !strings.Contains(r.raw, `"hidden":true`) {
		t.Fatalf("the owner's list: %d %s", r.code, r.raw)
	}
	dir := filepath.Join(n.app.Config.DataDir, "recordings")
	if r := owner.do("DELETE", "/api/replays/"+id, nil); r.code != 204 {
		t.Fatalf("delete: %d %s", r.code, r.raw)
	}
	if r := owner.do("GET", "/api/replays/"+id, nil); r.code != 404 {
		t.Fatalf("a deleted replay: %d", r.code)
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, "*", id)); len(entries) != 0 {
		t.Fatalf("a deleted replay's files remain: %v", entries)
	}

	// Recording off: the next session makes no replay.
	if r := owner.do("PUT", "/api/channels/recorded/recording", map[string]any{"enabled": false}); r.code != 200 {
		t.Fatalf("recording off: %d %s", r.code, r.raw)
	}
	pub = publishFor(t, n.rtmp+"/"+created.str("stream_key"), 3*time.Second)
	waitFor(t, 30*time.Second, "live", func() bool { return n.channel("recorded").Live })
	_ = pub.Wait()
	waitFor(t, 30*time.Second, "offline", func() bool { return !n.channel("recorded").Live })
	if l := owner.do("GET", "/api/channels/recorded/replays", nil); strings.Count(l.raw, `"id"`) != 1 {
		t.Fatalf("recorded with recording off: %s", l.raw)
	}
}

// ingestBytes reads livehouse_ingest_bytes_total for a channel.
func ingestBytes(t *testing.T, n *testNode, slug string) int64 {
	t.Helper()
	req, _ := http.NewRequest("GET", n.http+"/metrics", nil)
	if tok := n.app.Config.MetricsToken; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		k, err := res.Body.Read(buf)
		b.WriteString(string(buf[:k]))
		if err != nil {
			break
		}
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, `livehouse_ingest_bytes_total{channel="`+slug+`"}`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return int64(v)
		}
	}
	return 0
}

// TestRecordingSurvivesSIGKILL: the server is killed with SIGKILL in the
// middle of a publish; after a restart the recording is finalised from
// what reached the disk, plays end to end, and lost at most about a
// second of what the publisher had sent.
func TestRecordingSurvivesSIGKILL(t *testing.T) {
	ff := needTool(t, "ffmpeg")
	dir := t.TempDir()
	bin := filepath.Join(dir, "livehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/livehouse").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	hp, rp := freePort(t), freePort(t)
	base := "http://127.0.0.1:" + hp
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--http", "127.0.0.1:"+hp, "--rtmp", "127.0.0.1:"+rp, "--srt", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0", "--webrtc-tcp", "",
			"--admin-token", testAdminToken, "--demo-channel=false", "--data", data)
		cmd.Stderr = &testLogWriter{t: t, prefix: "server: "}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "server up", func() bool {
			res, err := http.Get(base + "/healthz")
			if err == nil {
				res.Body.Close()
			}
			return err == nil && res.StatusCode == 200
		})
		return cmd
	}
	srv := start()
	t.Cleanup(func() {
		if srv.ProcessState == nil {
			_ = srv.Process.Signal(syscall.SIGTERM)
			_ = srv.Wait()
		}
	})
	n := &testNode{t: t, http: base}
	key := n.createChannel("crash")
	// ffmpeg reports how much media it has sent (out_time) every 100 ms.
	progress := &syncBuffer{}
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re", "-stats_period", "0.1", "-progress", "pipe:1",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-c:v", "libx264", "-threads", "1", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", "rtmp://127.0.0.1:"+rp+"/live/"+key)
	cmd.Stdout = progress
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
	sentUS := func() int64 {
		s := progress.String()
		i := strings.LastIndex(s, "out_time_us=")
		if i < 0 {
			return 0
		}
		v, _ := strconv.ParseInt(strings.Fields(s[i+len("out_time_us="):])[0], 10, 64)
		return v
	}
	// 8.5 s: between two keyframes (one a second), so the fragment being
	// built when the kill lands is about half full.
	waitFor(t, 60*time.Second, "8.5 s sent", func() bool { return sentUS() >= 8_500_000 })
	_ = srv.Process.Signal(syscall.SIGKILL)
	_ = srv.Wait()
	sent := time.Duration(sentUS()) * time.Microsecond
	stopGracefully(cmd)

	srv = start()
	l := replaysOf(t, base, "crash")
	if len(l) != 1 || l[0].State != recording.StateReady {
		t.Fatalf("after the restart: %+v, want one finalised replay", l)
	}
	got := time.Duration(l[0].DurationMS) * time.Millisecond
	t.Logf("MEASURE SIGKILL: sent %v, recovered %v, lost %v", sent, got, sent-got)
	if got > sent+200*time.Millisecond || sent-got > 1500*time.Millisecond {
		t.Fatalf("recovered %v of the %v sent, want at most ~1 s lost", got, sent)
	}
	vod := fmt.Sprintf("%s/vod/%d/index.m3u8", base, l[0].ID)
	if d := probeDuration(t, vod); math.Abs(d-got.Seconds()) > 0.5 {
		t.Fatalf("ffprobe reads %.3f s, the replay says %v", d, got)
	}
}
