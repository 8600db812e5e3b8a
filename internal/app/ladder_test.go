package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/livehouse/livehouse/internal/config"
)

// publishTestsrc720 publishes 1280x720 30 fps testsrc2 with a sine over
// RTMP for at most d, keyframes every second (the segment duration).
func publishTestsrc720(t *testing.T, rtmpURL string, d time.Duration) *exec.Cmd {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(int(d.Seconds())),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1",
		"-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-b:v", "2500k", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", rtmpURL)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
	return cmd
}

// ladderNode is a node with the default ladder on, at x264 ultrafast and one
// thread per rendition to spare the shared test machine.
func ladderNode(t *testing.T) *testNode {
	return startNodeWith(t, func(c *config.Config) {
		c.Ladder, c.LadderPreset, c.LadderThreads = true, "ultrafast", 1
		c.LadderMaxLag = 10 * time.Second // a loaded CI machine is not a lagging encoder
	})
}

func multivariant(t *testing.T, n *testNode, slug string) (*playlist.Multivariant, bool) {
	code, body := httpGet(t, n.http+"/hls/"+slug+"/index.m3u8?via=page")
	if code != 200 {
		return nil, false
	}
	pl, err := playlist.Unmarshal([]byte(body))
	if err != nil {
		t.Fatalf("multivariant playlist: %v\n%s", err, body)
	}
	mv, ok := pl.(*playlist.Multivariant)
	if !ok {
		t.Fatalf("index.m3u8 is not a multivariant playlist:\n%s", body)
	}
	return mv, true
}

// The contract of issue 14 item 1: with the default ladder on, a 720p
// publish gets source + 720p + 480p + 360p in the multivariant playlist,
// each with its RESOLUTION, the lowest 640x360 H.264 Constrained Baseline;
// every rung's segments start where the source's do.
func TestLadderDefaultRenditions(t *testing.T) {
	ffprobe := needTool(t, "ffprobe")
	n := ladderNode(t)
	key := streamerChannel(t, n, "abrstreamer", "abr")
	publishTestsrc720(t, n.rtmp+"/"+key, 60*time.Second)

	var mv *playlist.Multivariant
	first := 0 // renditions in the first multivariant playlist served
	waitFor(t, 60*time.Second, "4 renditions in the multivariant playlist", func() bool {
		m, ok := multivariant(t, n, "abr")
		if ok && first == 0 {
			first = len(m.Variants)
		}
		mv = m
		return ok && len(m.Variants) == 4
	})
	// In the stream's first seconds the playlist waits for the rungs, so
	// the first viewers get them; a machine too loaded to start ffmpeg in
	// time serves the source alone at first.
	t.Logf("the first multivariant playlist listed %d renditions", first)
	// Let every rung keep a few segments before comparing boundaries.
	waitFor(t, 30*time.Second, "4 segments in the 360p playlist", func() bool {
		_, body := httpGet(t, n.http+"/hls/abr/360p/video1_stream.m3u8?via=page")
		return strings.Count(body, "#EXTINF:")-strings.Count(body, "#EXT-X-GAP") >= 4
	})
	var res []string
	for _, v := range mv.Variants {
		res = append(res, v.Resolution)
		if v.Bandwidth <= 0 || len(v.Codecs) != 2 || v.FrameRate == nil || *v.FrameRate < 29 || *v.FrameRate > 31 {
			t.Errorf("variant %s: BANDWIDTH %d CODECS %v FRAME-RATE %v", v.URI, v.Bandwidth, v.Codecs, v.FrameRate)
		}
		if v.Audio == "" {
			t.Errorf("variant %s plays no audio group", v.URI)
		}
	}
	if want := "1280x720 1280x720 854x480 640x360"; strings.Join(res, " ") != want {
		t.Fatalf("resolutions %v, want %s", res, want)
	}
	lowest := mv.Variants[3]
	if !strings.HasPrefix(lowest.Codecs[0], "avc1.42") {
		t.Errorf("360p codec %s, want H.264 Baseline (avc1.42…)", lowest.Codecs[0])
	}
	if !strings.HasPrefix(lowest.URI, "360p/") || !strings.Contains(lowest.URI, "via=page") {
		t.Errorf("360p URI %q", lowest.URI)
	}

	want := map[string]struct {
		w, h    int
		profile string
	}{
		"video1_stream.m3u8": {1280, 720, ""},
		// x264 ultrafast (the test's preset) uses no CABAC nor 8x8
		// transforms, so every rung is Constrained Baseline in fact; only
		// the 360p rung must be, whatever the preset.
		"720p/video1_stream.m3u8": {1280, 720, ""},
		"480p/video1_stream.m3u8": {854, 480, ""},
		"360p/video1_stream.m3u8": {640, 360, "Constrained Baseline"},
	}
	starts := map[string][]time.Time{}
	for _, v := range mv.Variants {
		path, _, _ := strings.Cut(v.URI, "?")
		w := want[path]
		out, err := exec.Command(ffprobe, "-v", "error", "-user_agent", "livehouse-test", "-select_streams", "v:0",
			"-show_entries", "stream=width,height,profile", "-of", "json", n.http+"/hls/abr/"+path+"?via=page").Output()
		if err != nil {
			t.Fatalf("ffprobe %s: %v", path, err)
		}
		var probe struct {
			Streams []struct {
				Width, Height int
				Profile       string
			}
		}
		if err := json.Unmarshal(out, &probe); err != nil || len(probe.Streams) != 1 {
			t.Fatalf("ffprobe %s: %v %s", path, err, out)
		}
		s := probe.Streams[0]
		if s.Width != w.w || s.Height != w.h || (w.profile != "" && s.Profile != w.profile) {
			t.Errorf("%s: ffprobe reads %dx%d %s, want %dx%d %s", path, s.Width, s.Height, s.Profile, w.w, w.h, w.profile)
		}
	}
	// The playlists are read together, after the probes: a rung runs a
	// little behind the source (its encode lag, seconds under -race on a
	// loaded machine), so only the segments both windows hold compare.
	for _, v := range mv.Variants {
		path, _, _ := strings.Cut(v.URI, "?")
		starts[path] = segmentStarts(t, n, path)
	}
	// Aligned segments: every segment of a rung starts where a source
	// segment does (EXT-X-PROGRAM-DATE-TIME, which hls.js aligns
	// renditions by), and the rungs' segments are ~1 s as the source's.
	src := starts["video1_stream.m3u8"]
	for path, ss := range starts {
		matched := 0
		for _, at := range ss {
			if near(src, at, 50*time.Millisecond) {
				matched++
			} else if at.After(src[0]) && at.Before(src[len(src)-1]) {
				t.Errorf("%s: segment at %s starts at no source segment boundary (source: %v)", path, at.Format("15:04:05.000"), fmtTimes(src))
			}
		}
		if matched < 2 {
			t.Errorf("%s: only %d segment starts match the source's (%v vs %v)", path, matched, fmtTimes(ss), fmtTimes(src))
		}
	}
}

// segmentStarts reads the EXT-X-PROGRAM-DATE-TIME of every segment of a
// media playlist.
func segmentStarts(t *testing.T, n *testNode, path string) []time.Time {
	t.Helper()
	code, body := httpGet(t, n.http+"/hls/abr/"+path+"?via=page")
	if code != 200 {
		t.Fatalf("%s: %d %s", path, code, body)
	}
	// gohlslib dates only the segments that have parts; the others are
	// placed back from the first date by their durations, as players do.
	type seg struct {
		dur time.Duration
		at  time.Time // zero when the playlist gives none
		gap bool
	}
	var segs []seg
	var next seg
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			v := strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:")
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				t.Fatalf("%s: PDT %q: %v", path, v, err)
			}
			next.at = at
		case line == "#EXT-X-GAP":
			next.gap = true
		case strings.HasPrefix(line, "#EXTINF:"):
			v := strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ",")
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: EXTINF %q: %v", path, v, err)
			}
			next.dur = time.Duration(secs * float64(time.Second))
		case line != "" && !strings.HasPrefix(line, "#"):
			segs = append(segs, next)
			next = seg{}
		}
	}
	first := -1
	for i, s := range segs {
		if !s.at.IsZero() {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("%s: no EXT-X-PROGRAM-DATE-TIME:\n%s", path, body)
	}
	for i := first - 1; i >= 0; i-- {
		segs[i].at = segs[i+1].at.Add(-segs[i].dur)
	}
	for i := first + 1; i < len(segs); i++ {
		if segs[i].at.IsZero() {
			segs[i].at = segs[i-1].at.Add(segs[i-1].dur)
		}
	}
	var out []time.Time
	for _, s := range segs {
		if !s.gap {
			out = append(out, s.at)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func near(ts []time.Time, at time.Time, tol time.Duration) bool {
	for _, x := range ts {
		if math.Abs(float64(x.Sub(at))) <= float64(tol) {
			return true
		}
	}
	return false
}

func fmtTimes(ts []time.Time) string {
	s := make([]string, len(ts))
	for i, x := range ts {
		s[i] = x.Format("05.000")
	}
	return strings.Join(s, " ")
}

// TestLadderBenchmark measures, for the note, the CPU the default ladder's
// ffmpeg child uses on a 720p30 source with x264 veryfast and ultrafast,
// and the encode lag each rung adds (source frame into ffmpeg → rung frame
// out). Set LIVEHOUSE_LADDER_BENCH=1 to run it; it takes about a minute.
func TestLadderBenchmark(t *testing.T) {
	if os.Getenv("LIVEHOUSE_LADDER_BENCH") == "" {
		t.Skip("set LIVEHOUSE_LADDER_BENCH=1 to measure the ladder")
	}
	for _, preset := range []string{"ultrafast", "veryfast"} {
		t.Run(preset, func(t *testing.T) {
			n := startNodeWith(t, func(c *config.Config) { c.Ladder, c.LadderPreset = true, preset })
			slug := "bench" + preset[:4]
			key := streamerChannel(t, n, "s"+slug, slug)
			publishTestsrc720(t, n.rtmp+"/"+key, 70*time.Second)
			waitFor(t, 60*time.Second, "4 renditions", func() bool {
				m, ok := multivariant(t, n, slug)
				return ok && len(m.Variants) == 4
			})
			pid := ladderChild(t)
			hz := 100.0 // USER_HZ
			cpu0, t0 := procCPU(t, pid), time.Now()
			lags := map[string][]float64{}
			for time.Since(t0) < 20*time.Second {
				time.Sleep(time.Second)
				for _, r := range []string{"720p", "480p", "360p"} {
					lags[r] = append(lags[r], metric(t, n, `livehouse_ladder_encode_lag_seconds{channel="`+slug+`",rung="`+r+`"}`))
				}
			}
			cpu := (procCPU(t, pid) - cpu0) / hz / time.Since(t0).Seconds()
			t.Logf("%s: ladder ffmpeg uses %.0f %% of one core (%.2f cores) for 720p+480p+360p of a 720p30 source", preset, cpu*100, cpu)
			for _, r := range []string{"720p", "480p", "360p"} {
				v := lags[r]
				sort.Float64s(v)
				t.Logf("%s %s: encode lag median %.0f ms, max %.0f ms", preset, r, v[len(v)/2]*1000, v[len(v)-1]*1000)
			}
			if dropped := metric(t, n, `livehouse_ladder_rungs_dropped_total{channel="`+slug+`",rung="720p"}`); dropped > 0 {
				t.Logf("%s: the 720p rung was dropped (machine too busy)", preset)
			}
		})
	}
}

// ladderChild finds the ladder's ffmpeg among this process's children.
func ladderChild(t *testing.T) int {
	t.Helper()
	me := os.Getpid()
	var found int
	waitFor(t, 10*time.Second, "the ladder's ffmpeg", func() bool {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
			if err != nil {
				continue
			}
			fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
			if ppid, _ := strconv.Atoi(fields[1]); ppid != me {
				continue
			}
			cmd, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
			if strings.Contains(string(cmd), "filter_complex") {
				found = pid
				return true
			}
		}
		return false
	})
	return found
}

// procCPU is a process's user+system time in clock ticks.
func procCPU(t *testing.T, pid int) float64 {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return ut + st
}

// TestChromiumLadderSwitchesDown: on the watch page hls.js gets the four
// renditions, the quality menu lists them (the publisher's own as Source)
// and pins 360p, and on Auto a network throttled to 1.2 Mbit/s (CDP) makes
// it switch down to 360p and play on there (stalls are logged, with a
// baseline of the machine's own: see the comment below)
// (e2e/abr.mjs).
func TestChromiumLadderSwitchesDown(t *testing.T) {
	node, chromium := needPlaywright(t)
	n := ladderNode(t)
	key := streamerChannel(t, n, "abrviewer", "abrplay")
	publishTestsrc720(t, n.rtmp+"/"+key, 600*time.Second)
	waitFor(t, 60*time.Second, "4 renditions", func() bool {
		m, ok := multivariant(t, n, "abrplay")
		return ok && len(m.Variants) == 4
	})
	base := strings.Replace(n.http, "127.0.0.1", "localhost", 1)
	for _, c := range []struct{ lang, w, h, source string }{
		{"en", "1280", "800", `"Source (720p)"`},
		{"zh-CN", "375", "812", `"原画（720p）"`},
	} {
		t.Run(c.lang+"-"+c.w, func(t *testing.T) {
			out := runBrowser(t, node, chromium, "abr.mjs",
				[]string{base, c.lang, "abrplay", c.w, c.h, os.Getenv("LIVEHOUSE_SCREENSHOTS")},
				"LEVELS n=4", c.source, `"360p"`, `"480p"`, "PIN height=360 auto=false playing=true",
				"THROTTLED switched_down=true height=360")
			m := regexp.MustCompile(`THROTTLED .* played_10s=([0-9.]+) stalls_after=(\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatal("no THROTTLED line")
			}
			// On a quiet machine it plays all 10 s without a stall; on the
			// shared 2-core test machine hls.js reports a stall now and
			// then even unthrottled (BASELINE), so stalls are logged and
			// the picture must keep moving.
			if played, _ := strconv.ParseFloat(m[1], 64); played < 7 {
				t.Errorf("throttled playback: %s s played in 10 s (%s stalls)", m[1], m[2])
			}
		})
	}
}

// TestLadderSurvivesFFmpegCrash: the ladder's ffmpeg killed, the source
// plays on (its playlist keeps growing), the rungs leave the multivariant
// playlist, and a new ffmpeg brings all four renditions back.
func TestLadderSurvivesFFmpegCrash(t *testing.T) {
	n := ladderNode(t)
	key := streamerChannel(t, n, "abrcrash", "abrcrash")
	publishTestsrc720(t, n.rtmp+"/"+key, 120*time.Second)
	renditions := func() int {
		m, ok := multivariant(t, n, "abrcrash")
		if !ok {
			return 0
		}
		return len(m.Variants)
	}
	waitFor(t, 60*time.Second, "4 renditions", func() bool { return renditions() == 4 })
	pid := ladderChild(t)
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the rungs leave the playlist", func() bool { return renditions() == 1 })
	// The source goes on: new parts keep appearing.
	lastPart := func() string {
		_, body := httpGet(t, n.http+"/hls/abrcrash/video1_stream.m3u8?via=page")
		return body[strings.LastIndex(body, "_part"):]
	}
	p0 := lastPart()
	waitFor(t, 5*time.Second, "source parts after the crash", func() bool { return lastPart() != p0 })
	waitFor(t, 60*time.Second, "4 renditions again", func() bool { return renditions() == 4 })
	if !strings.Contains(n.logs.String(), "ffmpeg stopped; the source plays on, retrying") {
		t.Error("the crash is not in the log")
	}
	if again := ladderChild(t); again == pid {
		t.Error("the same ffmpeg?")
	}
}

// TestLadderH265SourceGetsOnlyRungsBelowIt: a 640x360 H.265 publish (the
// enhanced-RTMP fixture) gets the 360p rung alone: ffmpeg decodes H.265,
// the rung is H.264 Constrained Baseline, 720p and 480p are skipped.
func TestLadderH265SourceGetsOnlyRungsBelowIt(t *testing.T) {
	ffprobe := needTool(t, "ffprobe")
	vps, sps, pps, frames := readTS(t, "../../testdata/fixture-h265-opus.ts")
	n := ladderNode(t)
	key := n.createChannel("hevcabr")
	video := &gortmplib.Track{Codec: &rtmpcodecs.H265{VPS: vps, SPS: sps, PPS: pps}}
	c, w, err := dialPublisher(t, n, key, video)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, stop := context.WithCancel(context.Background())
	published := make(chan error, 1)
	t.Cleanup(func() {
		stop()
		if err := <-published; err != nil {
			t.Errorf("publish: %v", err)
		}
	})
	go func() {
		start := time.Now()
		loop := frames[len(frames)-1].dts + 40*time.Millisecond
		for i := 0; ; i++ {
			off := time.Duration(i) * loop
			for _, f := range frames {
				if !f.video {
					continue
				}
				select {
				case <-ctx.Done():
					published <- nil
					return
				case <-time.After(time.Until(start.Add(f.dts + off))):
				}
				if err := w.WriteH265(video, f.pts+off, f.dts+off, f.data); err != nil {
					published <- err
					return
				}
			}
		}
	}()
	var mv *playlist.Multivariant
	waitFor(t, 60*time.Second, "the 360p rung", func() bool {
		m, ok := multivariant(t, n, "hevcabr")
		mv = m
		return ok && len(m.Variants) == 2
	})
	if src, r := mv.Variants[0], mv.Variants[1]; src.Resolution != "640x360" || !strings.HasPrefix(src.Codecs[0], "hvc1") ||
		r.Resolution != "640x360" || !strings.HasPrefix(r.Codecs[0], "avc1.42") || !strings.HasPrefix(r.URI, "360p/") {
		t.Fatalf("variants: %+v %+v", *src, *r)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,profile,width,height",
		"-of", "csv=p=0", n.http+"/hls/hevcabr/360p/video1_stream.m3u8?via=page").Output()
	if got := strings.Fields(strings.ReplaceAll(string(out), " ", "_")); err != nil || len(got) == 0 || got[len(got)-1] != "h264,Constrained_Baseline,640,360" {
		t.Errorf("ffprobe 360p: %q %v", got, err)
	}
	time.Sleep(time.Second) // a second more: no other rung appears
	if m, _ := multivariant(t, n, "hevcabr"); m == nil || len(m.Variants) != 2 {
		t.Errorf("variants changed: %+v", m)
	}
}

// TestLadderPassthroughOnlyIsReported: a stream the ladder cannot encode
// (here audio only; a node without ffmpeg is the other case, see
// media.TestLadderWithoutFFmpegIsPassthrough) plays as it is, and the
// studio's health API and the log say the ladder is off for it.
func TestLadderPassthroughOnlyIsReported(t *testing.T) {
	ff := needTool(t, "ffmpeg")
	n := ladderNode(t)
	key := n.createChannel("abraudio")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "60",
		"-c:a", "aac", "-b:a", "96k", "-f", "flv", n.rtmp+"/"+key)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
	var h healthResp
	waitFor(t, 30*time.Second, "the passthrough warning", func() bool {
		n.api("GET", "/api/channels/abraudio/health", testAdminToken, nil, &h)
		return h.Live && slices.Contains(h.Warnings, "ladder_passthrough_only")
	})
	if !strings.Contains(n.logs.String(), "ABR ladder off for this stream: passthrough only") {
		t.Error("the log does not say the ladder is off")
	}
	waitFor(t, 30*time.Second, "the audio playlist", func() bool {
		m, ok := multivariant(t, n, "abraudio")
		return ok && len(m.Variants) == 1
	})
	if code, body := httpGet(t, n.http+"/hls/abraudio/360p/video1_stream.m3u8"); code != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("a rung of a stream without one: %d %s", code, body)
	}
	if code, body := httpGet(t, n.http+"/hls/nosuch/360p/video1_stream.m3u8"); code != 404 || !strings.Contains(body, `"not_live"`) {
		t.Errorf("a rung of a channel not live: %d %s", code, body)
	}
}
