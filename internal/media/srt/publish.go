package srt

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livehouse/livehouse/internal/media"
)

// Bounds on what a publisher may make the server hold before it goes live.
const (
	// maxDetectBytes caps the MPEG-TS read while looking for the program's
	// tracks (mediacommon keeps it to replay it afterwards).
	maxDetectBytes = 8 << 20
	// maxHeldBytes caps the frames held back until the first keyframe.
	maxHeldBytes = 16 << 20
)

// publisher is one accepted SRT connection, owned by the goroutine that
// runs it, from the handshake until its stream ends.
type publisher struct {
	srv   *Server
	conn  gosrt.Conn
	claim media.Publication // a claim here, or a relay to the node on air
	log   *slog.Logger

	in     *connReader
	tracks []*tsTrack  // the program's tracks we carry, in PMT order
	live   atomic.Bool // went live (here or relayed): the detection watchdog stands down
	held   []heldFrame // frames read before the stream could go live
	heldN  int

	// Timestamps: 90 kHz, unwrapped across the 33-bit rollover, relative
	// to the first frame written (origin).
	clock      mpegts.TimeDecoder
	origin     int64
	haveOrigin bool

	decodeErrors int
	firstDecode  error
	// After a gap in the data, video waits for a keyframe.
	waitKey bool
	gaps    int // gaps in the data (packets SRT could not recover)
	skipped int // video frames skipped after gaps
}

// tsTrack is one elementary stream of the publisher's program.
type tsTrack struct {
	ts    *mpegts.Track
	media *media.Track // nil until known (video needs its parameter sets)
	index int          // into the stream's tracks
	// Video parameter sets seen so far.
	vps, sps, pps []byte
}

func (t *tsTrack) isVideo() bool { return t.ts.Codec.IsVideo() }

type heldFrame struct {
	track   *tsTrack
	pts     int64 // 90 kHz, unwrapped
	dts     int64
	data    [][]byte
	arrived time.Time
}

// Why a publish ended, for Claim.Release and the log.
const (
	reasonDisconnected = "publisher disconnected"
	reasonKicked       = "stopped by the platform"
	reasonShutdown     = "server shutting down"
	reasonSilent       = "publisher went silent"
	reasonUnsupported  = "unsupported stream"
	reasonBadStream    = "bad MPEG-TS"
	reasonBadFrame     = "bad frame"
	reasonNoStart      = "could not start"
)

// errRefused marks a stream refused on purpose (not a network failure).
var errRefused = errors.New("publish refused")

func (p *publisher) run() {
	start := time.Now()
	p.in = newConnReader(p.conn, p.srv.timeouts.Read)
	defer p.in.stop()
	p.claim.OnKick(func() { p.conn.Close() })
	// Kicked between the claim and OnKick: the platform ended it already.
	if p.claim.Kicked() {
		p.claim.Release(reasonKicked)
		return
	}
	reason, err := p.serve()
	p.in.flushBytes(p.claim)
	p.claim.Release(reason)
	attrs := []any{"reason", reason, "after", time.Since(start).Round(time.Millisecond)}
	if p.decodeErrors > 0 {
		attrs = append(attrs, "decode_errors", p.decodeErrors, "first_decode_error", p.firstDecode)
	}
	if p.gaps > 0 {
		attrs = append(attrs, "data_gaps", p.gaps, "video_frames_skipped", p.skipped)
	}
	switch {
	case errors.Is(err, errRefused):
		p.log.Warn("SRT publish refused", append(attrs, "err", err)...)
	case err != nil:
		p.log.Warn("SRT publisher dropped", append(attrs, "err", err)...)
	default:
		p.log.Info("SRT publisher ended", attrs...)
	}
}

// serve reads the publisher's MPEG-TS until it ends, and says why.
func (p *publisher) serve() (string, error) {
	// Until the stream is live, a watchdog ends a publisher that never
	// sends a playable start.
	var detectExpired atomic.Bool
	detect := time.AfterFunc(p.srv.timeouts.Detect, func() {
		if !p.live.Load() {
			detectExpired.Store(true)
			p.conn.Close()
		}
	})
	defer detect.Stop()
	p.in.limit(maxDetectBytes)

	r := &mpegts.Reader{R: p.in}
	if err := r.Initialize(); err != nil {
		if detectExpired.Load() {
			return reasonUnsupported, fmt.Errorf("%w: no MPEG-TS program with tracks within %v", errRefused, p.srv.timeouts.Detect)
		}
		if errors.Is(err, errDetectTooLarge) {
			return reasonUnsupported, fmt.Errorf("%w: no MPEG-TS program found in the first %d MB", errRefused, maxDetectBytes>>20)
		}
		return p.ended(reasonBadStream, fmt.Errorf("read MPEG-TS program: %w", err))
	}
	p.in.limit(0)
	if err := p.plan(r); err != nil {
		return reasonUnsupported, fmt.Errorf("%w: %v", errRefused, err)
	}
	r.OnDecodeError(func(err error) {
		if p.decodeErrors == 0 {
			p.firstDecode = err
		}
		p.decodeErrors++
	})

	for {
		err := r.Read()
		if err == nil {
			p.in.countBytes(p.claim)
			continue
		}
		if !p.live.Load() && detectExpired.Load() {
			return reasonUnsupported, fmt.Errorf("%w: %s", errRefused, p.notStartedWhy(fmt.Sprintf("within %v", p.srv.timeouts.Detect)))
		}
		var fe *frameError
		if errors.As(err, &fe) {
			if errors.Is(fe.err, errRefused) {
				return reasonUnsupported, fe.err
			}
			if fe.golive {
				return p.ended(reasonNoStart, fe.err)
			}
			return p.ended(reasonBadFrame, fe.err)
		}
		return p.ended(reasonBadStream, err)
	}
}

// ended tells why the connection ended when reading failed: a platform
// kick, shutdown, silence or the publisher leaving come first, since each
// of them surfaces as a read error.
func (p *publisher) ended(failure string, err error) (string, error) {
	switch {
	case p.srv.ctx.Err() != nil:
		return reasonShutdown, nil
	case p.claim.Kicked():
		return reasonKicked, nil
	case p.in.silent():
		return reasonSilent, fmt.Errorf("no data for %v", p.srv.timeouts.Read)
	case isClosed(err):
		return reasonDisconnected, nil
	}
	return failure, err
}

// isClosed tells a connection's end (the publisher left, or SRT gave up on
// it) from a failure: gosrt reports both as io.EOF.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "EOF")
}

// notStartedWhy explains a stream that did not go live within bound.
func (p *publisher) notStartedWhy(bound string) string {
	for _, t := range p.tracks {
		if t.isVideo() && t.media == nil {
			return fmt.Sprintf("no %s keyframe with its parameter sets %s", codecName(t.ts.Codec), bound)
		}
	}
	return "no media " + bound
}

// plan checks the program's tracks, keeping one video and one audio track
// (what LL-HLS carries today) and refusing codecs viewers cannot get.
// Data tracks (KLV, subtitles, unknown private data) are ignored.
func (p *publisher) plan(r *mpegts.Reader) error {
	var haveVideo, haveAudio bool
	for _, t := range r.Tracks() {
		tt := &tsTrack{ts: t}
		var err error
		switch c := t.Codec.(type) {
		case *tscodecs.H264, *tscodecs.H265:
			// Built from the parameter sets in the stream (see video).
		case *tscodecs.MPEG4Audio:
			cfg := c.Config
			tt.media, err = media.NewAACTrack(&cfg)
		case *tscodecs.Opus:
			ch := c.ChannelCount //nolint:staticcheck // the count the descriptor gave
			if c.Desc != nil {
				ch = c.Desc.ChannelCount()
			}
			tt.media, err = media.NewOpusTrack(ch)
		case *tscodecs.KLV, *tscodecs.DVBSubtitle, *tscodecs.Unsupported:
			continue
		default:
			return fmt.Errorf("codec %s is not supported (send H.264 or H.265 video with AAC or Opus audio)", codecName(t.Codec))
		}
		if err != nil {
			return err
		}
		if (tt.isVideo() && haveVideo) || (!tt.isVideo() && haveAudio) {
			return errors.New("more than one video or audio track is not supported yet")
		}
		haveVideo = haveVideo || tt.isVideo()
		haveAudio = haveAudio || !tt.isVideo()
		tt.index = len(p.tracks)
		p.tracks = append(p.tracks, tt)
		p.register(r, tt)
	}
	if len(p.tracks) == 0 {
		return errors.New("stream has no H.264, H.265, AAC or Opus track")
	}
	return nil
}

func codecName(c tscodecs.Codec) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", c), "*codecs.")
}

// frameError carries a failure out of the reader's callbacks.
type frameError struct {
	err    error
	golive bool // going live failed
}

func (e *frameError) Error() string { return e.err.Error() }

func (p *publisher) register(r *mpegts.Reader, t *tsTrack) {
	switch c := t.ts.Codec.(type) {
	case *tscodecs.H264, *tscodecs.H265:
		cb := func(pts, dts int64, au [][]byte) error {
			return p.frame(t, pts, dts, au)
		}
		if _, ok := c.(*tscodecs.H264); ok {
			r.OnDataH264(t.ts, cb)
		} else {
			r.OnDataH265(t.ts, cb)
		}
	case *tscodecs.MPEG4Audio:
		// A PES may carry several AAC frames of 1024 samples each.
		rate := int64(c.SampleRate)
		r.OnDataMPEG4Audio(t.ts, func(pts int64, aus [][]byte) error {
			for i, au := range aus {
				at := pts + int64(i)*mpeg4audio.SamplesPerAccessUnit*90000/rate
				if err := p.frame(t, at, at, [][]byte{au}); err != nil {
					return err
				}
			}
			return nil
		})
	case *tscodecs.Opus:
		r.OnDataOpus(t.ts, func(pts int64, packets [][]byte) error {
			at := pts
			for _, pkt := range packets {
				if err := p.frame(t, at, at, [][]byte{pkt}); err != nil {
					return err
				}
				at += opus.PacketDuration2(pkt) * 90000 / 48000
			}
			return nil
		})
	}
}

// frame takes one access unit (video) or packet (audio) with its 33-bit
// timestamps: held back until the stream can go live, written after.
func (p *publisher) frame(t *tsTrack, pts, dts int64, data [][]byte) error {
	// One decoder for all tracks: they share the program clock. PTS is
	// the decoded DTS plus the (wrap-aware) difference of the raw pair.
	// Decode counts from the first timestamp it sees, so the difference is
	// taken first: taken after, it added the encoder's start time to every
	// PTS (1.4 s with ffmpeg), and a backup encoder's clock made its
	// frames absurd.
	cto := wrapDiff(pts, dts)
	dts = p.clock.Decode(dts)
	pts = dts + cto
	if p.in.lost {
		// Data went missing: the frames around the gap are damaged or
		// gone, and a video decoder (and the muxer's DTS reasoning) would
		// trip over what follows. Video resumes at the next keyframe.
		p.in.lost = false
		p.gaps++
		p.waitKey = true
		p.held, p.heldN = nil, 0
	}
	if t.isVideo() && p.waitKey {
		if !isRandomAccess(t, data) {
			p.skipped++
			return nil
		}
		p.waitKey = false
	}
	if p.live.Load() {
		return p.write(t, pts, dts, data)
	}
	now := time.Now()
	if t.isVideo() && t.media == nil {
		if err := p.videoParams(t, data); err != nil {
			return &frameError{err: fmt.Errorf("%w: %v", errRefused, err)}
		}
	}
	p.held = append(p.held, heldFrame{track: t, pts: pts, dts: dts, data: data, arrived: now})
	for _, d := range data {
		p.heldN += len(d)
	}
	if p.heldN > maxHeldBytes {
		return &frameError{err: fmt.Errorf("%w: %s", errRefused, p.notStartedWhy(fmt.Sprintf("in the first %d MB", maxHeldBytes>>20)))}
	}
	for _, tt := range p.tracks {
		if tt.media == nil {
			return nil
		}
	}
	return p.goLive()
}

// wrapDiff is a - b on the 33-bit MPEG-TS clock, in (-2^32, 2^32].
func wrapDiff(a, b int64) int64 {
	const mask = 1<<33 - 1
	d := (a - b) & mask
	if d > mask/2 {
		d -= mask + 1
	}
	return d
}

// videoParams collects the parameter sets of a video track and builds its
// media track at the first random-access unit that has them all.
func (p *publisher) videoParams(t *tsTrack, au [][]byte) error {
	var random bool
	_, h265Track := t.ts.Codec.(*tscodecs.H265)
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if h265Track {
			switch typ := h265.NALUType((n[0] >> 1) & 0x3f); {
			case typ == h265.NALUType_VPS_NUT:
				t.vps = n
			case typ == h265.NALUType_SPS_NUT:
				t.sps = n
			case typ == h265.NALUType_PPS_NUT:
				t.pps = n
			case typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT:
				random = true
			}
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			t.sps = n
		case h264.NALUTypePPS:
			t.pps = n
		case h264.NALUTypeIDR:
			random = true
		}
	}
	if !random || t.sps == nil || t.pps == nil || (h265Track && t.vps == nil) {
		return nil
	}
	var err error
	if h265Track {
		t.media, err = media.NewH265Track(t.vps, t.sps, t.pps)
	} else {
		t.media, err = media.NewH264Track(t.sps, t.pps)
	}
	return err
}

// goLive starts the channel's stream and writes the held frames from the
// video keyframe on (frames before it cannot be decoded; audio before it
// would start the stream without a picture).
func (p *publisher) goLive() error {
	start := 0
	for i, f := range p.held {
		if f.track.isVideo() && isRandomAccess(f.track, f.data) {
			start = i
			break
		}
	}
	var keyDTS int64
	hasVideo := false
	if len(p.held) > 0 && p.held[start].track.isVideo() {
		keyDTS, hasVideo = p.held[start].dts, true
	}
	tracks := make([]*media.Track, len(p.tracks))
	for i, t := range p.tracks {
		tracks[i] = t.media
	}
	// SRT hands each packet over its receive latency (TSBPD delay) after
	// the publisher sent it: frame times go back by it, to when each frame
	// was sent, as near to its capture as the server can tell.
	var st gosrt.Statistics
	p.conn.Stats(&st)
	delay := time.Duration(st.Instantaneous.MsRecvTsbPdDelay) * time.Millisecond
	_, err := p.claim.GoLive(p.srv.ctx, tracks, media.Ingest{Protocol: "srt",
		FirstArrival: p.held[start].arrived.Add(-delay), TransportDelay: delay})
	if errors.Is(err, media.ErrIncompatibleBackup) {
		return &frameError{err: fmt.Errorf("%w: %v", errRefused, err)}
	}
	if err != nil {
		return &frameError{err: err, golive: true}
	}
	p.live.Store(true)
	held := p.held[start:]
	p.held, p.heldN = nil, 0
	for _, f := range held {
		if hasVideo && !f.track.isVideo() && f.dts < keyDTS {
			continue
		}
		if err := p.write(f.track, f.pts, f.dts, f.data); err != nil {
			return err
		}
	}
	return nil
}

// isRandomAccess reports whether a video access unit is one a decoder
// can start at (H.264 IDR; H.265 IRAP).
func isRandomAccess(t *tsTrack, au [][]byte) bool {
	_, h265Track := t.ts.Codec.(*tscodecs.H265)
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if h265Track {
			if typ := h265.NALUType((n[0] >> 1) & 0x3f); typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT {
				return true
			}
		} else if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

func (p *publisher) write(t *tsTrack, pts, dts int64, data [][]byte) error {
	if !p.haveOrigin {
		p.origin, p.haveOrigin = dts, true
	}
	// Through the claim: a standby's frames are held, and after a
	// switch the input on air is rebased onto the stream's timeline.
	err := p.claim.WriteFrame(media.Frame{Track: t.index, PTS: ticksToDuration(pts - p.origin), DTS: ticksToDuration(dts - p.origin), Data: data})
	if err != nil {
		return &frameError{err: err}
	}
	return nil
}

// ticksToDuration converts 90 kHz ticks without overflowing on long streams.
func ticksToDuration(t int64) time.Duration {
	return time.Duration(t/90000)*time.Second + time.Duration(t%90000)*time.Second/90000
}
