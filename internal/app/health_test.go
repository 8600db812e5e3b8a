package app

import (
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

type healthResp struct {
	Live               bool     `json:"live"`
	Protocol           string   `json:"protocol"`
	VideoCodec         string   `json:"video_codec"`
	Profile            string   `json:"profile"`
	Chroma             string   `json:"chroma"`
	BitDepth           int      `json:"bit_depth"`
	Width              int      `json:"width"`
	FPS                float64  `json:"fps"`
	BitrateKbps        int      `json:"bitrate_kbps"`
	KeyframeIntervalMS int64    `json:"keyframe_interval_ms"`
	AudioCodec         string   `json:"audio_codec"`
	SampleRate         int      `json:"sample_rate"`
	Warnings           []string `json:"warnings"`
	History            []struct {
		T           int64   `json:"t"`
		BitrateKbps int     `json:"bitrate_kbps"`
		FPS         float64 `json:"fps"`
	} `json:"history"`
}

// publishEncoded publishes a live-encoded test pattern over RTMP with the
// video arguments given (GOP, pixel format), and audio unless noAudio.
func publishEncoded(t *testing.T, rtmpURL string, noAudio bool, video ...string) {
	t.Helper()
	ff := needTool(t, "ffmpeg")
	args := []string{"-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"}
	if !noAudio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac", "-b:a", "64k")
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency")
	args = append(append(args, video...), "-f", "flv", rtmpURL)
	cmd := exec.Command(ff, args...)
	cmd.Stderr = &testLogWriter{t: t, prefix: "ffmpeg: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGracefully(cmd) })
}

// TestStreamHealthWarnings: an 8 s GOP and a 4:4:4 stream each raise their
// warning in GET /api/channels/SLUG/health and /metrics; a stream without
// audio says so; a sound 1 s GOP 4:2:0 stream has none of them, and its
// history grows a point a second.
func TestStreamHealthWarnings(t *testing.T) {
	n := startNode(t, "")
	cases := []struct {
		slug    string
		noAudio bool
		video   []string
		want    []string
		wantNot []string
	}{
		{"healthy", false, []string{"-g", "30", "-pix_fmt", "yuv420p"}, nil,
			[]string{"keyframe_interval_long", "video_not_8bit_420", "no_audio", "no_video"}},
		{"longgop", false, []string{"-g", "240", "-keyint_min", "240", "-sc_threshold", "0", "-pix_fmt", "yuv420p"},
			[]string{"keyframe_interval_long"}, []string{"video_not_8bit_420"}},
		{"chroma444", true, []string{"-g", "30", "-pix_fmt", "yuv444p"},
			[]string{"video_not_8bit_420", "no_audio"}, []string{"keyframe_interval_long"}},
	}
	for _, c := range cases {
		key := n.createChannel(c.slug)
		publishEncoded(t, n.rtmp+"/"+key, c.noAudio, c.video...)
	}
	for _, c := range cases {
		t.Run(c.slug, func(t *testing.T) {
			var h healthResp
			waitFor(t, 30*time.Second, c.slug+" health settles", func() bool {
				if code := n.api("GET", "/api/channels/"+c.slug+"/health", testAdminToken, nil, &h); code != http.StatusOK {
					t.Fatalf("health: %d", code)
				}
				if !h.Live || len(h.History) < 3 {
					return false
				}
				for _, w := range c.want {
					if !slices.Contains(h.Warnings, w) {
						return false
					}
				}
				return true
			})
			for _, w := range c.wantNot {
				if slices.Contains(h.Warnings, w) {
					t.Errorf("warning %s raised: %+v", w, h)
				}
			}
			if h.Protocol != "rtmp" || h.VideoCodec != "h264" || h.Width != 320 || h.FPS < 25 || h.BitrateKbps <= 0 {
				t.Errorf("figures: %+v", h)
			}
			if c.slug == "healthy" && (h.KeyframeIntervalMS < 900 || h.KeyframeIntervalMS > 1100 || h.Chroma != "4:2:0" || h.BitDepth != 8 || h.AudioCodec != "aac") {
				t.Errorf("healthy stream: %+v", h)
			}
			if c.slug == "chroma444" && (h.Chroma != "4:4:4" || !strings.HasPrefix(h.Profile, "High 4:4:4") && !strings.HasPrefix(h.Profile, "profile 244")) {
				t.Errorf("4:4:4 stream: %+v", h)
			}
		})
	}
	// The studio's API is not for viewers.
	if code := n.api("GET", "/api/channels/healthy/health", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("anonymous health: %d, want 401", code)
	}
	_, metrics := httpGet(t, n.http+"/metrics")
	for _, want := range []string{`livehouse_stream_warning{channel="longgop",code="keyframe_interval_long"} 1`,
		`livehouse_stream_warning{channel="chroma444",code="video_not_8bit_420"} 1`,
		`livehouse_ingest_keyframe_interval_seconds{channel="healthy"} `, `livehouse_ingest_bitrate_bits_per_second{channel="healthy",protocol="rtmp"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
