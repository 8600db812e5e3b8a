package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// Audio crosses between the two worlds viewers live in: LL-HLS players
// (Safari above all) want AAC, WebRTC plays only Opus. A stream whose
// publisher sends the other codec gets its audio transcoded by an ffmpeg
// child process, audio only (video is never touched here). Packets go in
// and out as MPEG-TS over pipes, so every output packet carries the
// timestamp of the input it came from and a gap in the input stays a gap.
//
// Why ffmpeg and not a Go encoder: there is no well-kept pure-Go Opus or
// AAC encoder; ffmpeg is already what Livehouse uses for optional media
// work (DESIGN.md) and absent ffmpeg degrades clearly (see audioPlan).

// transcodeQueue bounds the packets waiting for ffmpeg (about 5 s of
// audio): a stalled ffmpeg drops audio, it never stalls the publisher.
const transcodeQueue = 256

// tsBase keeps the timestamps written to ffmpeg positive (publishers may
// start slightly below zero) and away from 33-bit wraparound at the start.
const tsBase = 10 * 90000

var (
	ffmpegOnce sync.Once
	ffmpegBin  string
)

// FFmpegAvailable reports whether ffmpeg is installed (the ABR ladder
// needs it; the studio says so when it is not).
func FFmpegAvailable() bool { return ffmpegPath() != "" }

// ffmpegPath is the ffmpeg binary, "" when it is not installed.
func ffmpegPath() string {
	ffmpegOnce.Do(func() {
		if p, err := exec.LookPath("ffmpeg"); err == nil {
			ffmpegBin = p
		}
	})
	return ffmpegBin
}

// audioTranscoder turns one audio track into another codec with ffmpeg.
// Its goroutines are owned by the stream and end with close.
type audioTranscoder struct {
	from, to *Track
	log      *slog.Logger
	// emit receives each output packet with its timestamp on the source's
	// timeline. Called from the transcoder's reader goroutine.
	emit func(pts time.Duration, pkt []byte)

	queue   chan Frame
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	dropped uint64 // input packets dropped because ffmpeg fell behind (writer goroutine only)
	// lastIn is the newest input timestamp (90 kHz, with tsBase), to place
	// ffmpeg's 33-bit output timestamps on the stream's unbounded timeline.
	lastIn atomic.Int64
}

// newOpusTrackFor is the Opus track a transcoder makes of an AAC track.
func opusTrackFor(aac *Track) *Track {
	return &Track{Codec: Opus, SampleRate: 48000, ChannelCount: min(max(aac.ChannelCount, 1), 2)}
}

// aacTrackFor is the AAC track a transcoder makes of an Opus track:
// AAC-LC at 48 kHz, the Opus decoder's native rate, so no resampling.
func aacTrackFor(opus *Track) *Track {
	ch := min(max(opus.ChannelCount, 1), 2)
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: ch}
	return &Track{Codec: AAC, AACConfig: cfg, SampleRate: 48000, ChannelCount: ch}
}

// startTranscoder runs ffmpeg turning from into to; nil, error when ffmpeg
// is missing or the conversion is not one Livehouse makes.
func startTranscoder(from, to *Track, log *slog.Logger, emit func(time.Duration, []byte)) (*audioTranscoder, error) {
	bin := ffmpegPath()
	if bin == "" {
		return nil, errors.New("ffmpeg is not installed")
	}
	if !((from.Codec == AAC && to.Codec == Opus) || (from.Codec == Opus && to.Codec == AAC)) {
		return nil, fmt.Errorf("no audio transcode from %s to %s", from.Codec, to.Codec)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &audioTranscoder{from: from, to: to, log: log, emit: emit, queue: make(chan Frame, transcodeQueue),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go t.run(bin)
	return t, nil
}

// write queues a source packet; it never blocks.
func (t *audioTranscoder) write(f Frame) {
	select {
	case t.queue <- f:
	default:
		t.dropped++
		if t.dropped == 1 || t.dropped%500 == 0 {
			t.log.Warn("audio transcoder falling behind; dropping audio", "from", t.from.Codec, "to", t.to.Codec, "dropped", t.dropped)
		}
	}
}

// close stops ffmpeg and waits for the transcoder's goroutines.
func (t *audioTranscoder) close() {
	t.cancel()
	<-t.done
}

// run keeps an ffmpeg running until close: one that dies is restarted
// after a pause, so a crash costs a moment of audio, not the stream's.
func (t *audioTranscoder) run(bin string) {
	defer close(t.done)
	for {
		start := time.Now()
		err := t.runOnce(bin)
		if t.ctx.Err() != nil {
			return
		}
		t.log.Error("audio transcoder stopped; restarting", "from", t.from.Codec, "to", t.to.Codec, "err", err,
			"after", time.Since(start).Round(time.Millisecond))
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (t *audioTranscoder) args() []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-probesize", "32", "-analyzeduration", "0",
		"-f", "mpegts", "-i", "pipe:0", "-map", "0:a:0", "-copyts"}
	ch := strconv.Itoa(t.to.ChannelCount)
	if t.to.Codec == Opus {
		args = append(args, "-c:a", "libopus", "-b:a", "96k", "-application", "lowdelay", "-frame_duration", "20",
			"-ar", "48000", "-ac", ch)
	} else {
		args = append(args, "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", ch)
	}
	return append(args, "-flush_packets", "1", "-muxdelay", "0", "-muxpreload", "0", "-pes_payload_size", "0",
		"-f", "mpegts", "pipe:1")
}

func (t *audioTranscoder) runOnce(bin string) error {
	cmd := exec.CommandContext(t.ctx, bin, t.args()...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start ffmpeg: %w", err)
	}
	readErr := make(chan error, 1)
	go func() { readErr <- t.readOutput(stdout) }()
	writeErr := t.feed(stdin, readErr)
	stdin.Close()
	rerr := <-readErr
	werr := cmd.Wait()
	if t.ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("%w (ffmpeg: %v, read: %v, said: %q)", writeErr, werr, rerr, stderr.String())
}

// feed writes queued packets to ffmpeg as MPEG-TS until the transcoder
// closes or ffmpeg's output ends.
func (t *audioTranscoder) feed(stdin io.Writer, readErr <-chan error) error {
	bw := bufio.NewWriterSize(stdin, 4096)
	in := &mpegts.Track{}
	if t.from.Codec == AAC {
		in.Codec = &tscodecs.MPEG4Audio{Config: *t.from.AACConfig}
	} else {
		in.Codec = &tscodecs.Opus{ChannelCount: t.from.ChannelCount} //nolint:staticcheck // the writer fills the descriptor from it
	}
	w := &mpegts.Writer{W: bw, Tracks: []*mpegts.Track{in}}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("MPEG-TS writer: %w", err)
	}
	for {
		select {
		case <-t.ctx.Done():
			return nil
		case err := <-readErr:
			return fmt.Errorf("ffmpeg output ended: %v", err)
		case f := <-t.queue:
			pts := durationToTicks(f.PTS, 90000) + tsBase
			t.lastIn.Store(pts)
			var err error
			if t.from.Codec == AAC {
				err = w.WriteMPEG4Audio(in, pts, f.Data)
			} else {
				err = w.WriteOpus(in, pts, f.Data)
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

// readOutput reads ffmpeg's MPEG-TS and emits its packets.
func (t *audioTranscoder) readOutput(r io.Reader) error {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		return fmt.Errorf("read ffmpeg output: %w", err)
	}
	// The decoder unwraps timestamps relative to the first one it sees;
	// the first is placed next to the newest input.
	var dec mpegts.TimeDecoder
	dec.Initialize()
	first := int64(-1)
	frameDur := time.Second / 50 // Opus: 20 ms frames (-frame_duration 20)
	if t.to.Codec == AAC {
		frameDur = time.Duration(mpeg4audio.SamplesPerAccessUnit) * time.Second / 48000
	}
	emit := func(pts int64, pkts [][]byte) error {
		if first < 0 {
			first = unwrapNear(pts, t.lastIn.Load())
		}
		base := time.Duration(first+dec.Decode(pts)-tsBase) * time.Second / 90000
		for i, p := range pkts {
			t.emit(base+time.Duration(i)*frameDur, p)
		}
		return nil
	}
	for _, tr := range rd.Tracks() {
		switch tr.Codec.(type) {
		case *tscodecs.Opus:
			rd.OnDataOpus(tr, emit)
		case *tscodecs.MPEG4Audio:
			rd.OnDataMPEG4Audio(tr, emit)
		}
	}
	rd.OnDecodeError(func(err error) { t.log.Debug("audio transcoder output", "err", err) })
	for {
		if err := rd.Read(); err != nil {
			return err
		}
	}
}

// unwrapNear returns the 33-bit MPEG-TS timestamp ts as the unbounded
// timestamp closest to near.
func unwrapNear(ts, near int64) int64 {
	const period = 1 << 33
	ts += (near / period) * period
	if ts-near > period/2 {
		ts -= period
	} else if near-ts > period/2 {
		ts += period
	}
	return ts
}

// tailBuffer keeps the last bytes written to it (ffmpeg's complaints).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if len(b.b) > b.max {
		b.b = b.b[len(b.b)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}

// planHLSAudio returns the tracks the LL-HLS output carries: the
// publisher's, except that Opus audio becomes AAC (Safari and iOS play
// AAC in LL-HLS) through a transcoder started here. Without ffmpeg the
// Opus is muxed as it is: Chromium and Firefox still play it.
func (s *Stream) planHLSAudio() []*Track {
	out := make([]*Track, 0, len(s.Tracks))
	for _, t := range s.Tracks {
		if t.Codec != Opus {
			out = append(out, t)
			continue
		}
		aac := aacTrackFor(t)
		x, err := startTranscoder(t, aac, s.log, s.emitHLSAudio)
		if err != nil {
			s.log.Warn("LL-HLS carries the publisher's Opus audio as it is: Safari and iOS will play it silent", "reason", err)
			out = append(out, t)
			continue
		}
		s.toAAC, s.hlsAudio = x, aac
		out = append(out, aac)
	}
	return out
}

// emitHLSAudio writes a transcoded AAC packet to the LL-HLS output.
func (s *Stream) emitHLSAudio(pts time.Duration, pkt []byte) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.mu.Lock()
	if s.ended || s.hls == nil {
		s.mu.Unlock()
		return
	}
	ntp := s.timelineTime(pts)
	s.mu.Unlock()
	if err := s.hls.write(s.hlsAudio, Frame{PTS: pts, DTS: pts, Data: [][]byte{pkt}}, ntp); err != nil {
		s.log.Debug("LL-HLS transcoded audio", "err", err)
	}
}

// audioIn returns the stream's audio as codec for a subscriber whose
// player cannot decode the source's (WebRTC plays Opus, not AAC), starting
// the transcoder on first use; nil when it cannot be had.
func (s *Stream) audioIn(codec Codec) *Track {
	if codec != Opus {
		return nil
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return nil
	}
	if s.toOpus != nil {
		return s.opusTrack
	}
	for _, t := range s.Tracks {
		if t.Codec != AAC {
			continue
		}
		opus := opusTrackFor(t)
		x, err := startTranscoder(t, opus, s.log, s.emitOpus)
		if err != nil {
			s.log.Warn("WebRTC viewers get no sound: the publisher's AAC cannot be transcoded to Opus", "reason", err)
			return nil
		}
		s.toOpus, s.opusTrack = x, opus
		return opus
	}
	return nil
}

// emitOpus hands a transcoded Opus packet to the subscribers that asked
// for it.
func (s *Stream) emitOpus(pts time.Duration, pkt []byte) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	f := Frame{PTS: pts, DTS: pts, Data: [][]byte{pkt}, NTP: s.timelineTime(pts)}
	subs := s.subs // copy on write: safe to read unlocked
	s.mu.Unlock()
	for _, sub := range subs {
		if sub.audioFrom < 0 {
			continue
		}
		g := f
		g.Track = sub.audioFrom
		sub.offer(g, false)
	}
}

// stopTranscoders stops transcoders of a stream that never started.
func (s *Stream) stopTranscoders() {
	for _, x := range []*audioTranscoder{s.toAAC, s.toOpus} {
		if x != nil {
			x.close()
		}
	}
}
