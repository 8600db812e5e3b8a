package app

import (
	"context"
	"errors"
	"io"
	"os"
	"sort"
	"testing"
	"time"

	hlscodecs "github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

type tsFrame struct {
	video bool
	pts   time.Duration
	dts   time.Duration
	data  [][]byte
}

// readTS loads the H.265 + Opus fixture (made once with ffmpeg's libx265
// and libopus) with mediacommon's MPEG-TS reader.
func readTS(t *testing.T, path string) (vps, sps, pps []byte, frames []tsFrame) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &mpegts.Reader{R: f}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	ticks := func(v int64) time.Duration { return time.Duration(v) * time.Second / 90000 }
	for _, tr := range r.Tracks() {
		switch tr.Codec.(type) {
		case *mpegts.CodecH265:
			r.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				for _, n := range au {
					switch h265.NALUType((n[0] >> 1) & 0x3f) {
					case h265.NALUType_VPS_NUT:
						vps = n
					case h265.NALUType_SPS_NUT:
						sps = n
					case h265.NALUType_PPS_NUT:
						pps = n
					}
				}
				frames = append(frames, tsFrame{video: true, pts: ticks(pts), dts: ticks(dts), data: au})
				return nil
			})
		case *mpegts.CodecOpus:
			r.OnDataOpus(tr, func(pts int64, packets [][]byte) error {
				for i, p := range packets {
					at := ticks(pts) + time.Duration(i)*20*time.Millisecond
					frames = append(frames, tsFrame{pts: at, dts: at, data: [][]byte{p}})
				}
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
	}
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].dts < frames[j].dts })
	// Timestamps start at the TS's offset; RTMP wants them from about zero.
	first := frames[0].dts
	for i := range frames {
		frames[i].pts -= first
		frames[i].dts -= first
	}
	return vps, sps, pps, frames
}

// TestEnhancedRTMPH265Opus publishes H.265 and Opus the way enhanced RTMP
// carries them (FourCC hvc1 and Opus) and reads both back over LL-HLS.
func TestEnhancedRTMPH265Opus(t *testing.T) {
	vps, sps, pps, frames := readTS(t, "../../testdata/fixture-h265-opus.ts")
	if vps == nil || sps == nil || pps == nil {
		t.Fatal("fixture lacks H.265 parameter sets")
	}
	n := startNode(t, "")
	key := n.createChannel("hevc")
	video := &gortmplib.Track{Codec: &rtmpcodecs.H265{VPS: vps, SPS: sps, PPS: pps}}
	audio := &gortmplib.Track{Codec: &rtmpcodecs.Opus{IDHeader: &opus.IDHeader{Version: 1, ChannelCount: 2, PreSkip: 312, InputSampleRate: 48000}}}
	c, w, err := dialPublisher(t, n, key, video, audio)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	published := make(chan error, 1)
	go func() {
		start := time.Now()
		loop := frames[len(frames)-1].dts + 40*time.Millisecond
		for i := 0; ctx.Err() == nil; i++ {
			off := time.Duration(i) * loop
			for _, f := range frames {
				select {
				case <-ctx.Done():
					published <- nil
					return
				case <-time.After(time.Until(start.Add(f.dts + off))):
				}
				var err error
				if f.video {
					err = w.WriteH265(video, f.pts+off, f.dts+off, f.data)
				} else {
					err = w.WriteOpus(audio, f.pts+off, f.data[0])
				}
				if err != nil {
					published <- err
					return
				}
			}
		}
		published <- nil
	}()
	waitFor(t, 15*time.Second, "H.265 stream live", func() bool { return n.channel("hevc").Live })
	live := n.channel("hevc")
	if len(live.Tracks) != 2 || live.Tracks[0].Codec != "h265" || live.Tracks[0].Width != 640 || live.Tracks[0].Height != 360 || live.Tracks[1].Codec != "opus" {
		t.Fatalf("tracks = %+v", live.Tracks)
	}

	reader := readHLS(t, n.http+"/hls/hevc/index.m3u8")
	// LL-HLS carries the Opus as AAC (Safari and iOS decode AAC), made by
	// the ffmpeg transcoder.
	needTool(t, "ffmpeg")
	// A strict client (gohlslib, as MediaMTX pulling from us) gives up on
	// a stream whose first audio segment is empty: the transcoder's first
	// packet comes after the first video, which the output holds back.
	waitFor(t, 20*time.Second, "2 s of H.265 and audio over LL-HLS", func() bool {
		select {
		case err := <-reader.client.Wait():
			t.Fatalf("the LL-HLS client gave up: %v", err)
		default:
		}
		return reader.has(60, 50)
	})
	_, gotH265 := codecOf[*hlscodecs.H265](reader)
	_, gotAAC := codecOf[*hlscodecs.MPEG4Audio](reader)
	if !gotH265 || !gotAAC {
		t.Errorf("tracks read back: h265=%v aac=%v", gotH265, gotAAC)
	}
	reader.checkTimestamps()
	stop()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitFor(t, 10*time.Second, "offline", func() bool { return !n.channel("hevc").Live })
}
