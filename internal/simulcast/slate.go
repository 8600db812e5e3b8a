package simulcast

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livehouse/livehouse/internal/media"
)

// The fallback image ("slate"): while the source is briefly away (its
// publisher reconnecting, or silent for more than slateAfter), each
// destination keeps receiving a still picture with silence, so the
// platform's stream does not end. The slate is encoded once per picture
// size, frame rate and audio layout by ffmpeg (two seconds, closed GOPs,
// parameter sets in every keyframe) and then looped from memory: sending
// it costs no encoding.

const (
	slateClip  = 2 * time.Second
	slateAfter = 1500 * time.Millisecond
	// slateColor is the picture: the studio's panel colour.
	slateColor = "0x16161c"
)

type slateFrame struct {
	video    bool
	pts, dts time.Duration // from the clip's start
	data     [][]byte
	key      bool
}

type slate struct {
	frames []slateFrame // in DTS order
	length time.Duration
}

type slateKey struct {
	w, h, fps    int
	rate, chans  int
	withAudio    bool
	aacObjectTyp int
}

// slates caches encoded slates.
type slates struct {
	mu    sync.Mutex
	cache map[slateKey]*slate
	fails map[slateKey]error
}

// get returns the slate for a video track (and audio track, or nil).
func (s *slates) get(ctx context.Context, v, a *media.Track) (*slate, error) {
	if v == nil || v.Codec != media.H264 || v.Width <= 0 || v.Height <= 0 {
		return nil, errors.New("a slate is made for H.264 video only")
	}
	fps := int(v.FPS + 0.5)
	if fps <= 0 || fps > 60 {
		fps = 30
	}
	k := slateKey{w: v.Width, h: v.Height, fps: fps}
	if a != nil && a.Codec == media.AAC && a.AACConfig != nil {
		k.withAudio, k.rate, k.chans = true, a.AACConfig.SampleRate, a.AACConfig.ChannelCount
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[k]; ok {
		return c, nil
	}
	if err, ok := s.fails[k]; ok {
		return nil, err
	}
	c, err := encodeSlate(ctx, k)
	if s.cache == nil {
		s.cache, s.fails = map[slateKey]*slate{}, map[slateKey]error{}
	}
	if err != nil {
		s.fails[k] = err
		return nil, err
	}
	s.cache[k] = c
	return c, nil
}

func encodeSlate(ctx context.Context, k slateKey) (*slate, error) {
	bin := ffmpegPath()
	if bin == "" {
		return nil, errors.New("no ffmpeg to encode the slate")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d := strconv.FormatFloat(slateClip.Seconds(), 'f', 3, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=%s:s=%dx%d:r=%d:d=%s", slateColor, k.w, k.h, k.fps, d)}
	if k.withAudio {
		layout := "stereo"
		if k.chans == 1 {
			layout = "mono"
		}
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("anullsrc=r=%d:cl=%s:d=%s", k.rate, layout, d), "-map", "1:a",
			"-c:a", "aac", "-b:a", "64k")
	}
	args = append(args, "-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-pix_fmt", "yuv420p",
		"-g", strconv.Itoa(k.fps), "-bf", "0", "-threads", "1", "-x264-params", "repeat-headers=1",
		"-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", "pipe:1")
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("encode slate: %v: %s", err, bytes.TrimSpace(errOut.Bytes()))
	}
	return parseSlate(&out)
}

// parseSlate reads the encoded clip into frames.
func parseSlate(r io.Reader) (*slate, error) {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		return nil, fmt.Errorf("read slate: %w", err)
	}
	const tick = int64(time.Second) / 90000
	var frames []slateFrame
	first := int64(-1)
	rel := func(ts int64) time.Duration {
		if first < 0 {
			first = ts
		}
		return time.Duration((ts - first) * tick)
	}
	for _, tr := range rd.Tracks() {
		switch c := tr.Codec.(type) {
		case *tscodecs.H264:
			rd.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				d := rel(dts)
				frames = append(frames, slateFrame{video: true, dts: d, pts: d + time.Duration((pts-dts)*tick), data: au, key: isIDR(au)})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			per := time.Duration(mpeg4audio.SamplesPerAccessUnit) * time.Second / time.Duration(c.Config.SampleRate)
			rd.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				p := rel(pts)
				for i, au := range aus {
					t := p + time.Duration(i)*per
					frames = append(frames, slateFrame{pts: t, dts: t, data: [][]byte{au}})
				}
				return nil
			})
		}
	}
	for {
		if err := rd.Read(); err != nil {
			break
		}
	}
	// The first reference may be audio; timestamps are relative to it.
	slices.SortStableFunc(frames, func(a, b slateFrame) int { return int(a.dts - b.dts) })
	if len(frames) == 0 || !frames[0].video && !slices.ContainsFunc(frames, func(f slateFrame) bool { return f.video }) {
		return nil, errors.New("the slate has no video")
	}
	// Start at the first keyframe.
	i := slices.IndexFunc(frames, func(f slateFrame) bool { return f.video && f.key })
	if i < 0 {
		return nil, errors.New("the slate has no keyframe")
	}
	frames = frames[i:]
	start := frames[0].dts
	for j := range frames {
		frames[j].dts -= start
		frames[j].pts -= start
	}
	frames = slices.DeleteFunc(frames, func(f slateFrame) bool { return f.dts < 0 })
	return &slate{frames: frames, length: slateClip}, nil
}

func isIDR(au [][]byte) bool {
	for _, n := range au {
		if len(n) > 0 && n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}
