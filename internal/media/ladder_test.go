package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLadderPlanSkipsRungsAboveTheSource(t *testing.T) {
	names := func(rs []*rungOut) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name+":"+strconv.Itoa(r.width)+"x"+strconv.Itoa(r.Height))
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		w, h int
		want string
	}{
		{1920, 1080, "720p:1280x720 480p:854x480 360p:640x360"},
		{1280, 720, "720p:1280x720 480p:854x480 360p:640x360"},
		{854, 480, "480p:854x480 360p:640x360"},
		{640, 360, "360p:640x360"},
		{426, 240, ""},
		{720, 1280, "720p:406x720 480p:270x480 360p:202x360"}, // portrait keeps its aspect, even widths
		{0, 0, ""},
	} {
		if got := names(planRungs(DefaultLadder, c.w, c.h)); got != c.want {
			t.Errorf("%dx%d: %q, want %q", c.w, c.h, got, c.want)
		}
	}
}

// The command line keeps keyframes where the source has them and no
// scene-cut ones, sets maxrate/bufsize, keeps timestamps at 90 kHz and
// writes rung i to fd 3+i.
func TestLadderArgs(t *testing.T) {
	l := &ladder{cfg: LadderConfig{Preset: "veryfast", Threads: 1}, hlsCfg: HLSConfig{SegmentDuration: time.Second},
		fps: 60, enc: "x264", rungs: planRungs(DefaultLadder, 1920, 1080)}
	args := strings.Join(l.args(l.rungs), " ")
	for _, want := range []string{
		"-copyts",
		"[0:v:0]split=3[s0][s1][s2];[s0]scale=1280:720,fps=30,format=yuv420p[o0]",
		"-map [o2] -an -fps_mode passthrough -enc_time_base 1:90000 -c:v libx264 -preset veryfast -tune zerolatency -profile:v baseline",
		"-b:v 600k -maxrate 600k -bufsize 1200k -g 30 -keyint_min 30 -force_key_frames source -threads 1",
		"-sc_threshold 0",
		"-f mpegts pipe:3", "-f mpegts pipe:4", "-f mpegts pipe:5",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("ffmpeg args lack %q:\n%s", want, args)
		}
	}
	l.enc = "nvenc"
	if args := strings.Join(l.args(l.rungs), " "); !strings.Contains(args, "-c:v h264_nvenc") || !strings.Contains(args, "-no-scenecut 1") {
		t.Errorf("nvenc args: %s", args)
	}
}

// A rung that falls behind is dropped (the biggest first), and reported.
func TestLadderWatchdogDropsTheLaggingRung(t *testing.T) {
	s := &Stream{log: slog.New(slog.DiscardHandler)}
	var dropped []string
	l := &ladder{s: s, cfg: LadderConfig{MaxLag: 2 * time.Second}, rungs: planRungs(DefaultLadder, 1280, 720),
		onDrop: func(r string) { dropped = append(dropped, r) }}
	now := time.Now()
	start := now.Add(-ladderStartGrace - time.Second)
	l.lastFed = now
	for _, r := range l.rungs {
		r.lastOut, r.lag = now, 100*time.Millisecond
	}
	if l.watchdog(l.rungs, start) {
		t.Fatal("dropped a rung that keeps up")
	}
	l.rungs[1].lag = 3 * time.Second // 480p encodes 3 s late
	if !l.watchdog(l.rungs, start) || !slices.Equal(dropped, []string{"480p"}) {
		t.Fatalf("dropped %v, want [480p]", dropped)
	}
	if got := len(l.active()); got != 2 {
		t.Errorf("%d rungs left for ffmpeg, want 2", got)
	}
	l.rungs[2].lastOut = now.Add(-5 * time.Second) // 360p stopped producing
	if !l.watchdog(l.active(), start) || !slices.Equal(dropped, []string{"480p", "360p"}) {
		t.Fatalf("dropped %v, want [480p 360p]", dropped)
	}
	// Within the start-up grace nothing is dropped.
	l.rungs[0].lag = time.Minute
	if l.watchdog(l.active(), now) {
		t.Error("dropped a rung during ffmpeg's start-up")
	}
	st := l.status()
	if !st[1].Dropped || !st[2].Dropped || st[0].Dropped {
		t.Errorf("status %+v", st)
	}
}

// Without ffmpeg a stream with the ladder configured is passthrough only,
// and says so: in its health (the studio) and in the log.
func TestLadderWithoutFFmpegIsPassthrough(t *testing.T) {
	ffmpegPath() // settle the lookup, then hide ffmpeg
	saved := ffmpegBin
	ffmpegBin = ""
	t.Cleanup(func() { ffmpegBin = saved })
	var logs strings.Builder
	h := &Hub{ladderCfg: LadderConfig{Enabled: true}}
	s := &Stream{Channel: ChannelRef{Slug: "x"}, log: slog.New(slog.NewTextHandler(&logs, nil)),
		Tracks: []*Track{{Codec: H264, Width: 1280, Height: 720, FPS: 30}}}
	h.startLadder(context.Background(), s)
	if s.ladder != nil || s.ladderOff == "" {
		t.Fatalf("ladder %v, off %q", s.ladder, s.ladderOff)
	}
	if w := s.Health().Warnings; !slices.Contains(w, "ladder_passthrough_only") {
		t.Errorf("warnings %v lack ladder_passthrough_only", w)
	}
	if !strings.Contains(logs.String(), "passthrough only") || !strings.Contains(logs.String(), "ffmpeg is not installed") {
		t.Errorf("log: %s", logs.String())
	}
}

// TestLadderForDecidesPerStream: the hub asks LadderFor at go-live; the
// channel's answer overrides the platform's default either way, and when
// it fails the platform's default holds and the log says so. (ffmpeg is
// hidden: a stream that tried to start the ladder reports why it could
// not, one that did not try reports nothing.)
func TestLadderForDecidesPerStream(t *testing.T) {
	ffmpegPath()
	saved := ffmpegBin
	ffmpegBin = ""
	t.Cleanup(func() { ffmpegBin = saved })
	for _, tc := range []struct {
		name      string
		platform  bool
		on        bool
		err       error
		wantTried bool
	}{
		{"platform off, channel on", false, true, nil, true},
		{"platform on, channel off", true, false, nil, false},
		{"platform on, store fails", true, false, errors.New("db down"), true},
		{"platform off, store fails", false, true, errors.New("db down"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			var asked int64
			h := &Hub{ladderCfg: LadderConfig{Enabled: tc.platform}, ladderFor: func(ctx context.Context, id int64) (LadderChoice, error) {
				asked = id
				return LadderChoice{On: tc.on}, tc.err
			}}
			s := &Stream{Channel: ChannelRef{ID: 42, Slug: "x"}, log: slog.New(slog.NewTextHandler(&logs, nil)),
				Tracks: []*Track{{Codec: H264, Width: 1280, Height: 720, FPS: 30}}}
			h.startLadder(context.Background(), s)
			if asked != 42 {
				t.Errorf("LadderFor asked for channel %d", asked)
			}
			if tried := s.ladderOff != ""; tried != tc.wantTried {
				t.Errorf("tried the ladder: %v, want %v (off %q)", tried, tc.wantTried, s.ladderOff)
			}
			if tc.err != nil && !strings.Contains(logs.String(), "following the platform default") {
				t.Errorf("log: %s", logs.String())
			}
		})
	}
}

// TestParseRungs: the --ladder-rungs spec, its defaults and its refusals.
func TestParseRungs(t *testing.T) {
	got, err := ParseRungs(" 1080p60:6000k:high, 720p:2500k ,360p30:600k ")
	if err != nil {
		t.Fatal(err)
	}
	want := []Rung{{Name: "1080p", Height: 1080, MaxFPS: 60, Kbps: 6000, Profile: "high"},
		{Name: "720p", Height: 720, Kbps: 2500, Profile: "main"},
		{Name: "360p", Height: 360, MaxFPS: 30, Kbps: 600, Profile: "baseline"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ParseRungs(""); err != nil || fmt.Sprint(got) != fmt.Sprint(DefaultLadder) {
		t.Errorf("empty spec: %v %v", got, err)
	}
	for _, bad := range []string{"720", "720p", "720p30:2500000", "720p30:2500k:extreme", "721p:1000k", "100p:300k",
		"720p30:50k", "720p200:2500k", "360p:600k,720p:2500k", "720p:2500k,720p30:2000k", "x:y:z:w",
		"1080p:1k,900p:1000k,720p:1000k,540p:1000k,480p:1000k,360p:1000k,240p:1000k"} {
		if _, err := ParseRungs(bad); err == nil {
			t.Errorf("ParseRungs(%q) accepted", bad)
		}
	}
}

// TestPickRungs: a channel's pick keeps the platform's order; a pick of
// nothing the platform still offers falls back to every rung.
func TestPickRungs(t *testing.T) {
	names := func(rs []Rung) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		pick []string
		want string
	}{
		{nil, "720p,480p,360p"},
		{[]string{"360p", "720p"}, "720p,360p"},
		{[]string{"1080p"}, "720p,480p,360p"},
	} {
		if got := names(pickRungs(DefaultLadder, tc.pick)); got != tc.want {
			t.Errorf("pick %v: %s, want %s", tc.pick, got, tc.want)
		}
	}
}
