package app

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/config"
)

// publishTestsrc360 publishes 640x360 30 fps testsrc2 with a sine over
// RTMP for at most d (x264 ultrafast, one thread: cheap on a shared machine).
func publishTestsrc360(t *testing.T, rtmpURL string, d time.Duration) {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(int(d.Seconds())),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1",
		"-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "800k", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", rtmpURL)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
}

// TestLadderPerChannelMode: a channel's own ladder mode (the studio's
// "Quality ladder", PUT /api/channels/SLUG/ladder) beats the platform's
// --ladder at go-live: on where the platform is off gives the 360p rung,
// off where the platform is on gives the source alone.
func TestLadderPerChannelMode(t *testing.T) {
	needTool(t, "ffmpeg")
	node := func(t *testing.T, platform bool, more ...func(*config.Config)) *testNode {
		return startNodeWith(t, func(c *config.Config) {
			c.Ladder, c.LadderPreset, c.LadderThreads = platform, "ultrafast", 1
			c.LadderMaxLag = 10 * time.Second // a loaded CI machine is not a lagging encoder
			for _, f := range more {
				f(c)
			}
		})
	}
	// sourceOnly waits for a few source segments, long after a ladder
	// would have shown, and checks there is none.
	sourceOnly := func(t *testing.T, n *testNode, slug string) {
		t.Helper()
		waitFor(t, 60*time.Second, "source segments", func() bool {
			_, body := httpGet(t, n.http+"/hls/"+slug+"/video1_stream.m3u8?via=page")
			return strings.Count(body, "#EXTINF:") >= 5
		})
		m, ok := multivariant(t, n, slug)
		if !ok || len(m.Variants) != 1 {
			t.Fatalf("multivariant playlist: %+v", m)
		}
		if code, body := httpGet(t, n.http+"/hls/"+slug+"/360p/video1_stream.m3u8"); code != 404 || !strings.Contains(body, `"not_found"`) {
			t.Errorf("a rung of a channel without the ladder: %d %s", code, body)
		}
		if strings.Contains(n.logs.String(), "ABR ladder off for this stream") {
			t.Error("the hub tried the ladder")
		}
	}
	setMode := func(t *testing.T, n *testNode, slug, mode string) {
		t.Helper()
		var got struct {
			Mode      string `json:"mode"`
			Effective bool   `json:"effective"`
			Available bool   `json:"available"`
		}
		if code := n.api("PUT", "/api/channels/"+slug+"/ladder", testAdminToken, map[string]string{"mode": mode}, &got); code != 200 ||
			got.Mode != mode || got.Effective != (mode == "on") || !got.Available {
			t.Fatalf("PUT ladder %s: %d %+v", mode, code, got)
		}
	}

	// The platform offers its own rungs (--ladder-rungs) and the channel
	// keeps one of them: the other never appears.
	t.Run("platform off, channel on", func(t *testing.T) {
		n := node(t, false, func(c *config.Config) { c.LadderRungs = "360p30:600k:baseline,240p30:300k" })
		key := n.createChannel("abron")
		setMode(t, n, "abron", "on")
		var got struct {
			Rungs []string `json:"rungs"`
		}
		if code := n.api("PUT", "/api/channels/abron/ladder", testAdminToken, map[string][]string{"rungs": {"360p"}}, &got); code != 200 ||
			strings.Join(got.Rungs, ",") != "360p" {
			t.Fatalf("PUT rungs: %d %+v", code, got)
		}
		publishTestsrc360(t, n.rtmp+"/"+key, 40*time.Second)
		waitFor(t, 60*time.Second, "source + 360p in the multivariant playlist", func() bool {
			m, ok := multivariant(t, n, "abron")
			if !ok || len(m.Variants) != 2 {
				return false
			}
			return strings.HasPrefix(m.Variants[1].URI, "360p/") && m.Variants[1].Resolution == "640x360"
		})
		if code, _ := httpGet(t, n.http+"/hls/abron/240p/video1_stream.m3u8"); code != 404 {
			t.Errorf("the rung the channel left out: %d", code)
		}
		waitFor(t, 30*time.Second, "segments in the 360p playlist", func() bool {
			_, body := httpGet(t, n.http+"/hls/abron/360p/video1_stream.m3u8?via=page")
			return strings.Count(body, "#EXTINF:")-strings.Count(body, "#EXT-X-GAP") >= 2
		})
	})

	t.Run("platform on, channel off", func(t *testing.T) {
		n := node(t, true)
		key := n.createChannel("abroff")
		setMode(t, n, "abroff", "off")
		publishTestsrc360(t, n.rtmp+"/"+key, 40*time.Second)
		sourceOnly(t, n, "abroff")
	})

	// --ladder-channels=false: the platform decides; a channel's "on" is
	// kept but ignored, and the API says why.
	t.Run("platform decides, channel on", func(t *testing.T) {
		n := node(t, false, func(c *config.Config) { c.LadderChannels = false })
		key := n.createChannel("abrlocked")
		var got struct {
			Mode      string `json:"mode"`
			Effective bool   `json:"effective"`
			Available bool   `json:"available"`
			Reason    string `json:"reason"`
		}
		if code := n.api("PUT", "/api/channels/abrlocked/ladder", testAdminToken, map[string]string{"mode": "on"}, &got); code != 200 ||
			got.Mode != "on" || got.Effective || got.Available || got.Reason != "platform_only" {
			t.Fatalf("PUT ladder on: %d %+v", code, got)
		}
		publishTestsrc360(t, n.rtmp+"/"+key, 40*time.Second)
		sourceOnly(t, n, "abrlocked")
	})
}

// TestChromiumStudioLadderSetting: the owner picks the channel's quality
// ladder in the studio (Schedule & emotes) in en and zh-CN at both page
// sizes; the page says what Default means here, saves On (kept after a
// reload) then Off, and the API reads the saved mode. With
// --ladder-channels=false the select is greyed out and the page says the
// platform decides (e2e/ladder_setting.mjs).
func TestChromiumStudioLadderSetting(t *testing.T) {
	node, chromium := needPlaywright(t)
	type expect struct{ lang, def, saved, off, locked, rungs string }
	for _, c := range []expect{
		{"en", "Default (platform: off) / On / Off", "Saved. Your next stream will have the quality ladder.",
			"Saved. Your next stream will play as you send it", "The platform decides the quality ladder for every channel; it is off for yours.",
			"Saved. Your next stream will have: 480p and 360p."},
		{"zh-CN", "默认（平台：关闭） / 开启 / 关闭", "已保存。下一场直播将提供多画质阶梯。", "已保存。下一场直播将只有你推送的原画",
			"多画质阶梯由平台统一决定，你的频道目前处于关闭状态。", "已保存。下次直播将提供：480p和360p。"},
	} {
		for _, size := range [][2]int{{1280, 800}, {375, 812}} {
			dims := fmt.Sprintf("%dx%d", size[0], size[1])
			t.Run(c.lang+"-"+dims, func(t *testing.T) {
				n := startNode(t, "")
				streamerChannel(t, n, "caster", "abrui")
				runBrowser(t, node, chromium, "ladder_setting.mjs",
					[]string{strings.Replace(n.http, "127.0.0.1", "localhost", 1), "abrui", "caster", c.lang, fmt.Sprint(size[0]), fmt.Sprint(size[1]), "open", os.Getenv("LIVEHOUSE_SCREENSHOTS")},
					dims+" LOADED value=default disabled=false fits=true | "+c.def+" | notice=\n",
					dims+" SAVED_ON value=on error=false | "+c.saved,
					dims+" RELOADED value=on",
					dims+" SAVED_OFF value=off error=false fits=true | "+c.off,
					dims+" RUNGS 720p:true,480p:true,360p:true",
					dims+" SAVED_RUNGS 720p:false,480p:true,360p:true error=false | "+c.rungs,
					dims+" LAST_RUNG 720p:false,480p:false,360p:true:locked",
					"FINISHED")
				var got struct {
					Mode  string
					Rungs []string
				}
				if code := n.api("GET", "/api/channels/abrui/ladder", testAdminToken, nil, &got); code != 200 || got.Mode != "off" ||
					strings.Join(got.Rungs, ",") != "360p" {
					t.Errorf("saved mode and rungs: %d %+v", code, got)
				}
			})
		}
		t.Run(c.lang+"-locked", func(t *testing.T) {
			n := startNodeWith(t, func(cfg *config.Config) { cfg.LadderChannels = false })
			streamerChannel(t, n, "caster", "abrui")
			runBrowser(t, node, chromium, "ladder_setting.mjs",
				[]string{strings.Replace(n.http, "127.0.0.1", "localhost", 1), "abrui", "caster", c.lang, "375", "812", "locked", os.Getenv("LIVEHOUSE_SCREENSHOTS")},
				"375x812 LOADED value=default disabled=true fits=true | "+c.def+" | notice="+c.locked, "FINISHED")
		})
	}
}
