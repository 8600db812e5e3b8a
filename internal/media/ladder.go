package media

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecparams"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// The ABR ladder: next to the publisher's stream (the "source" rendition,
// passed through untouched), one ffmpeg child per live stream encodes
// lower renditions ("rungs") for viewers whose bandwidth or decoder cannot
// take the source. ffmpeg reads the source's video as MPEG-TS on stdin and
// writes each rung as MPEG-TS to a pipe of its own; timestamps are kept
// (-copyts, as the audio transcoder does), so every rung lies on the
// source's timeline and shares the source's audio rendition. Each rung
// feeds its own LL-HLS muxer with the source muxer's part and segment
// durations; keyframes are forced where the source has them, so segment
// boundaries line up across renditions.
//
// It lives in package media, not a package of its own, because it is part
// of a stream's LL-HLS output: it reads the stream's timeline (wall-clock
// times for EXT-X-PROGRAM-DATE-TIME), shares the source muxer's player
// count and rewrites its multivariant playlist, and reuses the transcoder's
// pipe helpers.
//
// The source never waits for the ladder: ffmpeg is fed from a Subscription
// (a bounded queue that drops), a rung that falls more than MaxLag behind
// is dropped from the playlist and from ffmpeg, and an ffmpeg that dies is
// restarted with backoff while the source plays on.

// Rung is one encoded rendition of the ladder.
type Rung struct {
	// Name is its path under /hls/SLUG/ ("720p").
	Name string
	// Height in pixels; the width follows the source's aspect ratio.
	Height int
	// MaxFPS caps the frame rate (0: the source's).
	MaxFPS int
	// Kbps is the video bitrate (and maxrate; bufsize is twice it).
	Kbps int
	// Profile is the H.264 profile: "baseline" (which encoders mark
	// Constrained Baseline), "main" or "high".
	Profile string
}

// DefaultLadder is the platform's ladder: 720p30 ~2.5 Mbit/s, 480p30
// ~1.2 Mbit/s and 360p H.264 Baseline ~600 kbit/s for weak decoders.
var DefaultLadder = []Rung{
	{Name: "720p", Height: 720, MaxFPS: 30, Kbps: 2500, Profile: "high"},
	{Name: "480p", Height: 480, MaxFPS: 30, Kbps: 1200, Profile: "main"},
	{Name: "360p", Height: 360, MaxFPS: 30, Kbps: 600, Profile: "baseline"},
}

// LadderConfig turns on the ladder for every stream.
type LadderConfig struct {
	Enabled bool
	Rungs   []Rung // nil: DefaultLadder
	// Preset is the x264 preset (ultrafast … fast); Encoder is x264,
	// nvenc, vaapi or qsv.
	Preset, Encoder string
	// MaxLag is how far a rung may fall behind the source (default 4 s).
	MaxLag time.Duration
	// Threads per rung encoder (0: ffmpeg's choice).
	Threads int
}

// audioKbpsEstimate is added to a rung's video bitrate for BANDWIDTH: the
// rung plays with the source's audio.
const audioKbpsEstimate = 128

// ladderStartGrace is how long ffmpeg may take to produce its first frames
// before the watchdog counts it as lagging.
const ladderStartGrace = 8 * time.Second

// ladder is a stream's running ABR ladder. Its goroutines are owned by the
// stream and end with close.
type ladder struct {
	s      *Stream
	cfg    LadderConfig
	hlsCfg HLSConfig
	video  *Track // the source's video track
	vidx   int    // its index in the stream's tracks
	fps    float64
	enc    string // the ffmpeg encoder actually used
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	onDrop func(rung string) // counts a dropped rung (metrics)

	created time.Time // when the stream went live with the ladder

	mu      sync.Mutex
	rungs   []*rungOut // every planned rung, highest first
	restart chan struct{}
	// fed remembers when recent source frames went to ffmpeg (by PTS), to
	// measure each rung's encode lag.
	fed     []fedFrame
	lastFed time.Time
	running bool // an ffmpeg is up
}

type fedFrame struct {
	pts time.Duration
	at  time.Time
}

// rungOut is one rung's output: its muxer (made at its first keyframe) and
// its state.
type rungOut struct {
	Rung
	width   int
	out     *hlsOutput
	track   *Track
	dropped bool          // fell behind: gone from the playlist and from ffmpeg
	ready   bool          // has produced segments since ffmpeg (re)started
	started time.Time     // first output since ffmpeg (re)started
	lastOut time.Time     // when the last frame came out
	lag     time.Duration // encode lag of the last frame: out minus in
	maxLag  time.Duration
}

// LadderRungStatus reports a rung for the studio and metrics.
type LadderRungStatus struct {
	Name    string  `json:"name"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	Live    bool    `json:"live"`
	Dropped bool    `json:"dropped"`
	LagMS   float64 `json:"lag_ms"`
}

// ladderRungs is the platform's ladder: cfg.Rungs, or DefaultLadder.
func ladderRungs(cfg LadderConfig) []Rung {
	if len(cfg.Rungs) == 0 {
		return DefaultLadder
	}
	return cfg.Rungs
}

// planRungs returns the rungs a source of height h gets: none above it.
func planRungs(rungs []Rung, srcW, srcH int) []*rungOut {
	var out []*rungOut
	for _, r := range rungs {
		if r.Height > srcH || srcH <= 0 || srcW <= 0 {
			continue
		}
		w := int(math.Round(float64(srcW)*float64(r.Height)/float64(srcH)/2)) * 2
		out = append(out, &rungOut{Rung: r, width: w})
	}
	return out
}

// startLadder starts a new stream's ABR ladder when its channel has one
// (the platform's default or the channel's own mode, HubOptions.LadderFor);
// when it cannot run, the stream is passthrough only and says why in the
// log and in its health (the studio).
func (h *Hub) startLadder(ctx context.Context, s *Stream) {
	cfg := h.ladderCfg
	if h.ladderFor != nil {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second) // a slow store delays go-live no longer
		choice, err := h.ladderFor(ctx, s.Channel.ID)
		cancel()
		if err != nil {
			s.log.Warn("ABR ladder: read the channel's mode; following the platform default", "err", err, "ladder", cfg.Enabled)
		} else {
			cfg.Enabled = choice.On
			cfg.Rungs = pickRungs(ladderRungs(cfg), choice.Rungs)
		}
	}
	if !cfg.Enabled {
		return
	}
	l, err := s.newLadder(cfg, h.hlsCfg)
	if err != nil {
		s.ladderOff = err.Error()
		s.log.Warn("ABR ladder off for this stream: passthrough only", "reason", err)
		return
	}
	slug := s.Channel.Slug
	l.onDrop = func(rung string) { h.ladderDrops.WithLabelValues(slug, rung).Inc() }
	s.ladder = l
	go l.run(ffmpegPath())
}

// newLadder plans a stream's ladder, or says why it cannot have one.
func (s *Stream) newLadder(cfg LadderConfig, hlsCfg HLSConfig) (*ladder, error) {
	bin := ffmpegPath()
	if bin == "" {
		return nil, errors.New("ffmpeg is not installed")
	}
	vidx := -1
	for i, t := range s.Tracks {
		if t.Codec == H264 || t.Codec == H265 {
			vidx = i
			break
		}
	}
	if vidx < 0 {
		return nil, errors.New("the stream has no H.264 or H.265 video")
	}
	v := s.Tracks[vidx]
	planned := planRungs(ladderRungs(cfg), v.Width, v.Height)
	if len(planned) == 0 {
		return nil, fmt.Errorf("no rung fits under the source's %dx%d", v.Width, v.Height)
	}
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 4 * time.Second
	}
	fps := v.FPS
	if fps <= 0 {
		fps = 30
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &ladder{s: s, cfg: cfg, hlsCfg: hlsCfg, video: v, vidx: vidx, fps: fps, rungs: planned,
		enc: pickEncoder(bin, cfg.Encoder), created: time.Now(), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		restart: make(chan struct{}, 1)}
	if l.enc != cfg.Encoder && cfg.Encoder != "" {
		s.log.Warn("ABR ladder: the selected hardware encoder is not in this ffmpeg; using x264", "encoder", cfg.Encoder)
	}
	names := make([]string, len(planned))
	for i, r := range planned {
		names[i] = fmt.Sprintf("%s %dx%d", r.Name, r.width, r.Height)
	}
	s.log.Info("ABR ladder on", "rungs", strings.Join(names, ", "), "encoder", l.enc, "preset", cfg.Preset)
	return l, nil
}

var (
	encodersOnce sync.Once
	encodersOut  string
)

// pickEncoder returns the encoder to use: the selected hardware one when
// this ffmpeg has it, x264 otherwise.
func pickEncoder(bin, want string) string {
	name := map[string]string{"nvenc": "h264_nvenc", "vaapi": "h264_vaapi", "qsv": "h264_qsv"}[want]
	if name == "" {
		return "x264"
	}
	encodersOnce.Do(func() {
		out, _ := exec.Command(bin, "-hide_banner", "-encoders").Output()
		encodersOut = string(out)
	})
	if strings.Contains(encodersOut, " "+name+" ") {
		return want
	}
	return "x264"
}

// close stops ffmpeg and the rung muxers.
func (l *ladder) close() {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rungs {
		if r.out != nil {
			r.out.close()
		}
	}
}

// active returns the rungs ffmpeg should encode.
func (l *ladder) active() []*rungOut {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*rungOut
	for _, r := range l.rungs {
		if !r.dropped {
			out = append(out, r)
		}
	}
	return out
}

// run keeps ffmpeg running until close: one that dies is restarted with
// backoff (1 s doubling to 30 s), a lag drop restarts it at once.
func (l *ladder) run(bin string) {
	defer close(l.done)
	backoff := time.Second
	for {
		rungs := l.active()
		if len(rungs) == 0 {
			l.s.log.Warn("ABR ladder: every rendition fell behind; passthrough only")
			return
		}
		start := time.Now()
		err := l.runOnce(bin, rungs)
		if l.ctx.Err() != nil || errors.Is(err, ErrStreamEnded) {
			return // the stream ended: nothing to restart for
		}
		if errors.Is(err, errRungDropped) {
			backoff = time.Second
			continue
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		l.s.log.Error("ABR ladder: ffmpeg stopped; the source plays on, retrying", "err", err, "in", backoff)
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

var errRungDropped = errors.New("a rendition was dropped")

// args is ffmpeg's command line for rungs, rung i written to fd 3+i.
func (l *ladder) args(rungs []*rungOut) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-fflags", "+nobuffer", "-probesize", "32768", "-analyzeduration", "0",
		"-f", "mpegts", "-i", "pipe:0", "-copyts"}
	var graph strings.Builder
	graph.WriteString("[0:v:0]split=" + strconv.Itoa(len(rungs)))
	for i := range rungs {
		graph.WriteString("[s" + strconv.Itoa(i) + "]")
	}
	for i, r := range rungs {
		fmt.Fprintf(&graph, ";[s%d]scale=%d:%d", i, r.width, r.Height)
		if r.MaxFPS > 0 && l.fps > float64(r.MaxFPS)+0.5 {
			fmt.Fprintf(&graph, ",fps=%d", r.MaxFPS)
		}
		switch l.enc {
		case "vaapi":
			graph.WriteString(",format=nv12,hwupload")
		case "qsv", "nvenc":
			graph.WriteString(",format=nv12")
		default:
			graph.WriteString(",format=yuv420p")
		}
		fmt.Fprintf(&graph, "[o%d]", i)
	}
	if l.enc == "vaapi" {
		args = append([]string{"-vaapi_device", "/dev/dri/renderD128"}, args...)
	}
	args = append(args, "-filter_complex", graph.String())
	seg := l.hlsCfg.SegmentDuration.Seconds()
	if seg <= 0 {
		seg = 1
	}
	for i, r := range rungs {
		fps := l.fps
		if r.MaxFPS > 0 && fps > float64(r.MaxFPS) {
			fps = float64(r.MaxFPS)
		}
		gop := strconv.Itoa(max(1, int(math.Round(fps*seg))))
		kb := strconv.Itoa(r.Kbps) + "k"
		args = append(args, "-map", "[o"+strconv.Itoa(i)+"]", "-an", "-fps_mode", "passthrough", "-enc_time_base", "1:90000")
		switch l.enc {
		case "nvenc":
			args = append(args, "-c:v", "h264_nvenc", "-preset", "p2", "-tune", "ll", "-rc", "cbr",
				"-profile:v", r.Profile, "-bf", "0", "-forced-idr", "1", "-no-scenecut", "1")
		case "vaapi":
			args = append(args, "-c:v", "h264_vaapi", "-rc_mode", "CBR", "-profile:v", vaapiProfile(r.Profile), "-bf", "0")
		case "qsv":
			args = append(args, "-c:v", "h264_qsv", "-preset", "veryfast", "-profile:v", r.Profile, "-bf", "0",
				"-forced_idr", "1")
		default:
			args = append(args, "-c:v", "libx264", "-preset", l.cfg.Preset, "-tune", "zerolatency",
				"-profile:v", r.Profile, "-x264-params", "scenecut=0:open_gop=0", "-sc_threshold", "0")
		}
		args = append(args, "-b:v", kb, "-maxrate", kb, "-bufsize", strconv.Itoa(2*r.Kbps)+"k",
			"-g", gop, "-keyint_min", gop, "-force_key_frames", "source")
		if l.cfg.Threads > 0 {
			args = append(args, "-threads", strconv.Itoa(l.cfg.Threads))
		}
		args = append(args, "-flush_packets", "1", "-muxdelay", "0", "-muxpreload", "0",
			"-f", "mpegts", "pipe:"+strconv.Itoa(3+i))
	}
	return args
}

func vaapiProfile(p string) string {
	if p == "baseline" {
		return "constrained_baseline"
	}
	return p
}

func (l *ladder) runOnce(bin string, rungs []*rungOut) error {
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, l.args(rungs)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var readers []*os.File
	defer func() {
		for _, f := range readers {
			f.Close()
		}
	}()
	for range rungs {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("pipe: %w", err)
		}
		readers = append(readers, r)
		cmd.ExtraFiles = append(cmd.ExtraFiles, w)
	}
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	err = cmd.Start()
	for _, w := range cmd.ExtraFiles {
		w.Close() // the child holds its ends
	}
	if err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	sub, err := l.s.Subscribe(SubscribeOptions{Queue: 512})
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	defer sub.Close()

	startedAt := time.Now()
	l.mu.Lock()
	l.running = true
	l.fed = l.fed[:0]
	for _, r := range rungs {
		r.ready, r.started, r.lastOut, r.lag = false, time.Time{}, time.Time{}, 0
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running = false
		for _, r := range rungs {
			r.ready = false
		}
		l.mu.Unlock()
	}()

	var wg sync.WaitGroup
	readErr := make(chan error, len(rungs))
	for i, r := range rungs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readErr <- l.readRung(r, readers[i])
		}()
	}
	feedErr := make(chan error, 1)
	go func() { feedErr <- l.feed(ctx, stdin, sub) }()

	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var result error
loop:
	for {
		select {
		case <-l.ctx.Done():
			break loop
		case err := <-feedErr:
			result = fmt.Errorf("feeding ffmpeg: %w", err)
			feedErr = nil
			break loop
		case err := <-readErr:
			result = fmt.Errorf("rendition output ended: %v", err)
			break loop
		case <-tick.C:
			if l.watchdog(rungs, startedAt) {
				result = errRungDropped
				break loop
			}
		}
	}
	cancel()
	stdin.Close()
	for _, f := range readers {
		f.Close()
	}
	werr := cmd.Wait()
	wg.Wait()
	if feedErr != nil {
		<-feedErr
	}
	if l.ctx.Err() != nil || errors.Is(result, errRungDropped) || errors.Is(result, ErrStreamEnded) {
		return result
	}
	return fmt.Errorf("%w (ffmpeg: %v, said: %q)", result, werr, stderr.String())
}

// feed writes the source's video to ffmpeg as MPEG-TS. A subscription that
// ended (the stream did) ends it.
func (l *ladder) feed(ctx context.Context, stdin io.Writer, sub *Subscription) error {
	bw := bufio.NewWriterSize(stdin, 64*1024)
	in := &mpegts.Track{}
	if l.video.Codec == H265 {
		in.Codec = &tscodecs.H265{}
	} else {
		in.Codec = &tscodecs.H264{}
	}
	w := &mpegts.Writer{W: bw, Tracks: []*mpegts.Track{in}}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("MPEG-TS writer: %w", err)
	}
	vtrack := -1
	for i, t := range sub.Tracks {
		if t == l.video {
			vtrack = i
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case f, ok := <-sub.Frames():
			if !ok {
				return ErrStreamEnded
			}
			if f.Track != vtrack {
				continue
			}
			pts := durationToTicks(f.PTS, 90000) + tsBase
			dts := durationToTicks(f.DTS, 90000) + tsBase
			l.noteFed(f.PTS)
			var err error
			if l.video.Codec == H265 {
				err = w.WriteH265(in, pts, dts, f.Data)
			} else {
				err = w.WriteH264(in, pts, dts, f.Data)
			}
			if err == nil {
				err = bw.Flush()
			}
			if err != nil {
				return fmt.Errorf("write to ffmpeg: %w", err)
			}
		}
	}
}

const fedKeep = 600 // about 10 s of 60 fps

func (l *ladder) noteFed(pts time.Duration) {
	now := time.Now()
	l.mu.Lock()
	if len(l.fed) >= fedKeep {
		l.fed = append(l.fed[:0], l.fed[fedKeep/2:]...)
	}
	l.fed = append(l.fed, fedFrame{pts: pts, at: now})
	l.lastFed = now
	l.mu.Unlock()
}

// fedAt is when the source frame at pts went to ffmpeg (false when it is
// no longer remembered). Called with l.mu held.
func (l *ladder) fedAt(pts time.Duration) (time.Time, bool) {
	i, found := slices.BinarySearchFunc(l.fed, pts, func(f fedFrame, p time.Duration) int {
		return cmp.Compare(f.pts, p)
	})
	if found {
		return l.fed[i].at, true
	}
	return time.Time{}, false
}

// readRung reads one rung's MPEG-TS and writes its frames to its muxer.
func (l *ladder) readRung(r *rungOut, src io.Reader) error {
	rd := &mpegts.Reader{R: src}
	if err := rd.Initialize(); err != nil {
		return fmt.Errorf("%s: read ffmpeg output: %w", r.Name, err)
	}
	var dec mpegts.TimeDecoder
	dec.Initialize()
	first := int64(-1)
	for _, tr := range rd.Tracks() {
		if _, ok := tr.Codec.(*tscodecs.H264); !ok {
			continue
		}
		rd.OnDataH264(tr, func(pts, _ int64, au [][]byte) error {
			if first < 0 {
				l.mu.Lock()
				var near int64
				if n := len(l.fed); n > 0 {
					near = durationToTicks(l.fed[n-1].pts, 90000) + tsBase
				}
				l.mu.Unlock()
				first = unwrapNear(pts, near)
			}
			at := time.Duration(first+dec.Decode(pts)-tsBase) * time.Second / 90000
			return l.writeRung(r, at, au)
		})
	}
	rd.OnDecodeError(func(err error) { l.s.log.Debug("ABR ladder output", "rung", r.Name, "err", err) })
	for {
		if err := rd.Read(); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
	}
}

// writeRung muxes one encoded frame of a rung.
func (l *ladder) writeRung(r *rungOut, pts time.Duration, au [][]byte) error {
	now := time.Now()
	l.mu.Lock()
	if r.out == nil {
		sps, pps := findParams(au)
		if sps == nil || pps == nil {
			l.mu.Unlock()
			return nil // wait for a keyframe with its parameter sets
		}
		t := &Track{Codec: H264, SPS: sps, PPS: pps, Width: r.width, Height: r.Height}
		out, err := newHLSOutput([]*Track{t}, l.hlsCfg, l.s.log.With("rung", r.Name))
		if err != nil {
			l.mu.Unlock()
			return err
		}
		out.players = l.s.hls.players // a rung's players are the stream's
		r.out, r.track = out, t
	}
	if r.started.IsZero() {
		r.started = now
	}
	r.lastOut = now
	if at, ok := l.fedAt(pts); ok {
		r.lag = now.Sub(at)
		r.maxLag = max(r.maxLag, r.lag)
	}
	// A rung is offered to players once its muxer has a few segments (it
	// answers a media playlist from the second).
	if !r.ready && now.Sub(r.started) > 3*l.hlsCfg.SegmentDuration {
		r.ready = true
		l.s.log.Info("ABR ladder: rendition live", "rung", r.Name, "encode_lag", r.lag.Round(time.Millisecond))
	}
	out, t := r.out, r.track
	l.mu.Unlock()

	l.s.mu.Lock()
	if l.s.ended {
		l.s.mu.Unlock()
		return nil
	}
	ntp := l.s.timelineTime(pts)
	l.s.mu.Unlock()
	if err := out.write(t, Frame{PTS: pts, DTS: pts, Data: au}, ntp); err != nil {
		l.s.log.Debug("ABR ladder muxer", "rung", r.Name, "err", err)
	}
	return nil
}

func findParams(au [][]byte) (sps, pps []byte) {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = bytes.Clone(n)
		case h264.NALUTypePPS:
			pps = bytes.Clone(n)
		}
	}
	return sps, pps
}

// watchdog drops the biggest rung that fell more than MaxLag behind the
// source (measured from the frame's entry into ffmpeg, or from the newest
// input when a rung has stopped producing); true means ffmpeg must restart
// without it.
func (l *ladder) watchdog(rungs []*rungOut, startedAt time.Time) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(startedAt) < ladderStartGrace || l.lastFed.IsZero() {
		return false
	}
	for _, r := range rungs { // highest first: dropping it frees the most
		lag := r.lag
		if r.lastOut.IsZero() {
			lag = now.Sub(startedAt) - ladderStartGrace // nothing yet: count from the end of the grace
		} else if stalled := l.lastFed.Sub(r.lastOut); stalled > lag {
			lag = stalled
		}
		if lag > l.cfg.MaxLag {
			r.dropped, r.ready = true, false
			if l.onDrop != nil {
				l.onDrop(r.Name)
			}
			l.s.log.Warn("ABR ladder: rendition fell behind real time; dropped", "rung", r.Name,
				"lag", lag.Round(time.Millisecond), "max_lag", l.cfg.MaxLag)
			return true
		}
	}
	return false
}

// status reports the rungs.
func (l *ladder) status() []LadderRungStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LadderRungStatus, 0, len(l.rungs))
	for _, r := range l.rungs {
		out = append(out, LadderRungStatus{Name: r.Name, Width: r.width, Height: r.Height, Live: r.ready && !r.dropped,
			Dropped: r.dropped, LagMS: float64(r.lag.Microseconds()) / 1000})
	}
	return out
}

// serveRung answers a request under /hls/SLUG/RUNG/.
func (l *ladder) serveRung(name string, w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	var out *hlsOutput
	for _, rg := range l.rungs {
		if rg.Name == name && !rg.dropped {
			out = rg.out
		}
	}
	l.mu.Unlock()
	if out == nil {
		notFound(w, "no such rendition")
		return
	}
	out.serve(w, r)
}

// serveMultivariant answers /hls/SLUG/index.m3u8: the source muxer's
// multivariant playlist (source video, its audio rendition) with a variant
// per live rung added, each playing the source's audio.
//
// Players read the multivariant playlist once. In the stream's first
// seconds, while ffmpeg starts, it is held back until the rungs are ready
// (at most ladderStartGrace from the start), so the first viewers get them
// too; later it never waits for the ladder.
func (l *ladder) serveMultivariant(src *hlsOutput, w http.ResponseWriter, r *http.Request) {
	for deadline := l.created.Add(ladderStartGrace); l.starting() && time.Now().Before(deadline); {
		select {
		case <-r.Context().Done():
			return
		case <-l.ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	rec := httptest.NewRecorder()
	src.serve(rec, r)
	res := rec.Result()
	body := rec.Body.Bytes()
	if res.StatusCode != http.StatusOK {
		copyResponse(w, res, body)
		return
	}
	pl, err := playlist.Unmarshal(body)
	mv, ok := pl.(*playlist.Multivariant)
	if err != nil || !ok || len(mv.Variants) == 0 {
		copyResponse(w, res, body)
		return
	}
	source := mv.Variants[0]
	query := ""
	if i := strings.IndexByte(source.URI, '?'); i >= 0 {
		query = source.URI[i:]
	}
	var audioCodecs []string
	for _, c := range source.Codecs {
		if !strings.HasPrefix(c, "avc") && !strings.HasPrefix(c, "hvc") && !strings.HasPrefix(c, "hev") {
			audioCodecs = append(audioCodecs, c)
		}
	}
	l.mu.Lock()
	for _, rg := range l.rungs {
		if !rg.ready || rg.dropped || rg.track == nil {
			continue
		}
		v := &playlist.MultivariantVariant{
			Bandwidth:  (rg.Kbps + audioKbpsEstimate) * 1000,
			Codecs:     append([]string{codecparams.Marshal(&codecs.H264{SPS: rg.track.SPS, PPS: rg.track.PPS})}, audioCodecs...),
			URI:        rg.Name + "/video1_stream.m3u8" + query,
			Resolution: strconv.Itoa(rg.width) + "x" + strconv.Itoa(rg.Height),
			Audio:      source.Audio,
		}
		fps := l.fps
		if rg.MaxFPS > 0 && fps > float64(rg.MaxFPS) {
			fps = float64(rg.MaxFPS)
		}
		fps = math.Round(fps*1000) / 1000
		v.FrameRate = &fps
		mv.Variants = append(mv.Variants, v)
	}
	l.mu.Unlock()
	out, err := mv.Marshal()
	if err != nil {
		copyResponse(w, res, body)
		return
	}
	for k, vs := range res.Header {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	// Rungs come and go: a cached copy must not outlive a second (the
	// muxer's own says 30 s).
	cc := "public, max-age=1"
	if strings.Contains(res.Header.Get("Cache-Control"), "private") {
		cc = "private, max-age=1"
	}
	w.Header().Set("Cache-Control", cc)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// starting reports whether the ladder's first ffmpeg has yet to make
// every rung ready.
func (l *ladder) starting() bool {
	if l.ctx.Err() != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rungs {
		if !r.dropped && !r.ready {
			return true
		}
	}
	return false
}

func copyResponse(w http.ResponseWriter, res *http.Response, body []byte) {
	for k, vs := range res.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
}
