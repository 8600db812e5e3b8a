package media

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/live"
)

// Backup ingest. A live channel's second publisher on this node (its backup
// stream key, or the same key from a second encoder) is a hot standby: its
// frames are read and the last GOP is kept, but nothing is muxed. When the
// input on air sends nothing for FailoverAfter (or disconnects), the standby
// goes on air from its buffered keyframe. The stream, its LL-HLS muxer and
// its live session carry on: the standby's timestamps are rebased to
// continue the stream's timeline (gohlslib v2 never writes
// EXT-X-DISCONTINUITY, so the timeline must stay continuous), and media
// sequence numbers go on. The old input, if it is still connected or comes
// back, is the new standby: there is no switching back while the new input
// sends.

// ErrIncompatibleBackup refuses a standby whose tracks the stream cannot
// continue with (another codec: an LL-HLS rendition cannot change codec
// without a new init section, which gohlslib does not support mid-stream).
var ErrIncompatibleBackup = errors.New("backup input does not match the stream")

// Input labels.
const (
	InputPrimary = "primary"
	InputBackup  = "backup"
)

const (
	// defaultFailoverAfter is how long the input on air may send nothing
	// before the standby takes over.
	defaultFailoverAfter = time.Second
	// failoverCheck is how often the hub looks for stalled inputs.
	failoverCheck = 100 * time.Millisecond
	// standbyMaxFrames bounds a standby's buffer: an encoder whose keyframe
	// interval is longer than this (about 15 s at 60 fps with audio) is
	// not ready until its next keyframe.
	standbyMaxFrames = 2048
	// audioOnlyHold is how many frames an audio-only standby keeps.
	audioOnlyHold = 50
)

// inputs are the publishers of one live channel on this node.
type inputs struct {
	mu        sync.Mutex
	stream    *Stream
	onAir     *Claim
	standby   *Claim
	ended     bool // the stream ended: no more standbys, no promotion
	failovers int
	lastAt    time.Time
	lastGap   time.Duration
}

// input is a Claim's state as one of its channel's publishers.
type input struct {
	label  string
	tracks []*Track
	route  []int          // publisher track → stream track, -1: not carried
	params []*videoParams // per publisher track; nil for audio
	video  bool           // the publisher has a video track
	// Standby: frames since the last keyframe, in publisher track indexes.
	gop []Frame
	// On air after a switch: frames are shifted by offset; until the
	// first keyframe (needKey) nothing is written.
	offset  time.Duration
	needKey bool
	// lastFrame is when the publisher's last frame arrived (unix ns).
	lastFrame atomic.Int64
	// takeoverFrom is when the previous input's last frame arrived, kept
	// until this one's first frame is on air (failover gap).
	takeoverFrom time.Time
}

// ClaimInput is Claim for ingests that support backup inputs (they write
// through Claim.WriteFrame): when the channel is already live on this node
// with one publisher, the new one becomes its hot standby (Claim.Standby).
func (h *Hub) ClaimInput(ctx context.Context, key string) (*Claim, error) {
	ch, err := h.channels.ChannelForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	label := InputPrimary
	if ch.BackupKey {
		label = InputBackup
	}
	h.mu.Lock()
	if h.closing || h.drain.Draining() {
		h.mu.Unlock()
		if h.drain.Draining() {
			return nil, ErrDraining
		}
		return nil, ErrShutdown
	}
	if cur, taken := h.claims[ch.ID]; taken {
		in := cur.inputs
		if in == nil || cur.stream == nil || cur.done {
			h.mu.Unlock()
			return nil, fmt.Errorf("%w: %s (on this node)", ErrAlreadyLive, ch.Slug)
		}
		if h.standby[ch.ID] != nil {
			h.mu.Unlock()
			return nil, fmt.Errorf("%w: %s (on this node, with a standby input already)", ErrAlreadyLive, ch.Slug)
		}
		if !ch.BackupKey && cur.input.label == InputPrimary {
			label = InputBackup // the same key from a second encoder
		}
		sb := &Claim{hub: h, Channel: cur.Channel, ingest: h.ingestBytes.WithLabelValues(ch.Slug),
			inputs: in, input: &input{label: label}}
		h.standby[ch.ID] = sb
		h.mu.Unlock()
		in.mu.Lock()
		if in.ended || in.standby != nil {
			in.mu.Unlock()
			h.forgetStandby(sb)
			return nil, fmt.Errorf("%w: %s (on this node)", ErrAlreadyLive, ch.Slug)
		}
		in.standby = sb
		in.mu.Unlock()
		h.log.Info("standby input connected", "channel", ch.Slug, "input", label)
		return sb, nil
	}
	h.mu.Unlock()
	c, err := h.Claim(ctx, key)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	c.inputs = &inputs{onAir: c}
	c.input = &input{label: label}
	h.mu.Unlock()
	return c, nil
}

// Standby reports whether the claim is a hot standby (not on air) now.
func (c *Claim) Standby() bool {
	if c.inputs == nil {
		return false
	}
	c.inputs.mu.Lock()
	defer c.inputs.mu.Unlock()
	return c.inputs.standby == c
}

// WantsRegularKeyframes: while it stands by (media.Publication).
func (c *Claim) WantsRegularKeyframes() bool { return c.Standby() }

func (h *Hub) forgetStandby(c *Claim) {
	h.mu.Lock()
	if h.standby[c.Channel.ID] == c {
		delete(h.standby, c.Channel.ID)
	}
	h.mu.Unlock()
}

// joinAsStandby checks a standby publisher's tracks against the stream and
// maps them (GoLive of a standby).
func (c *Claim) joinAsStandby(tracks []*Track) (*Stream, error) {
	in := c.inputs
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ended || in.stream == nil {
		return nil, fmt.Errorf("%w: %s ended", ErrStreamEnded, c.Channel.Slug)
	}
	if err := c.input.setTracks(tracks, in.stream.Tracks); err != nil {
		return nil, err
	}
	c.hub.log.Info("standby input ready to take over", "channel", c.Channel.Slug,
		"input", c.input.label, "tracks", describeTracks(tracks))
	return in.stream, nil
}

// setTracks maps a publisher's tracks onto the stream's by kind.
func (p *input) setTracks(tracks, stream []*Track) error {
	p.tracks = tracks
	p.route = make([]int, len(tracks))
	p.params = make([]*videoParams, len(tracks))
	for i, t := range tracks {
		p.route[i] = -1
		if t.Codec.IsVideo() {
			p.video = true
			p.params[i] = newVideoParams(t)
		}
		for j, st := range stream {
			if st.Codec.IsVideo() != t.Codec.IsVideo() {
				continue
			}
			if st.Codec != t.Codec {
				return fmt.Errorf("%w: it sends %s but the stream is %s, and a live playlist cannot change codec (send the backup with the primary's codecs)",
					ErrIncompatibleBackup, t.Codec, st.Codec)
			}
			if !t.Codec.IsVideo() && (st.SampleRate != t.SampleRate || st.ChannelCount != t.ChannelCount) {
				return fmt.Errorf("%w: its audio is %d Hz × %d channels, the stream's %d Hz × %d",
					ErrIncompatibleBackup, t.SampleRate, t.ChannelCount, st.SampleRate, st.ChannelCount)
			}
			p.route[i] = j
			break
		}
	}
	for _, st := range stream {
		if st.Codec.IsVideo() && !p.video {
			return fmt.Errorf("%w: it has no video and the stream has", ErrIncompatibleBackup)
		}
	}
	return nil
}

// WriteFrame takes a frame from the claim's publisher: on air it goes to the
// stream, in standby it is buffered. An error means the publisher must be
// dropped.
func (c *Claim) WriteFrame(f Frame) error {
	in := c.inputs
	if in == nil {
		c.hub.mu.Lock()
		s := c.stream
		c.hub.mu.Unlock()
		if s == nil {
			return errors.New("write before the stream started")
		}
		return s.WriteFrame(f)
	}
	p := c.input
	if f.Track < 0 || f.Track >= len(p.tracks) {
		return fmt.Errorf("frame for unknown track %d", f.Track)
	}
	now := time.Now()
	p.lastFrame.Store(now.UnixNano())
	if vp := p.params[f.Track]; vp != nil {
		// The publisher's own parameter sets go in front of its keyframes,
		// so the stream picks them up (another encoder's SPS) on a switch.
		if f.Data, f.Key = vp.process(f.Data); f.Data == nil {
			return nil
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.onAir == c:
		return in.writeOnAir(c, f)
	case in.standby == c:
		p.hold(f)
	}
	return nil
}

// hold keeps a standby's frames from its last keyframe on.
func (p *input) hold(f Frame) {
	video := p.tracks[f.Track].Codec.IsVideo()
	switch {
	case !p.video:
		if len(p.gop) >= audioOnlyHold {
			p.gop = p.gop[1:]
		}
		p.gop = append(p.gop, f)
	case video && f.Key:
		p.gop = append(make([]Frame, 0, 256), f)
	case len(p.gop) == 0:
		// Nothing before the first keyframe can be played.
	case len(p.gop) >= standbyMaxFrames:
		p.gop = nil
	default:
		p.gop = append(p.gop, f)
	}
}

// ready: the standby can go on air now. Called with in.mu held.
func (p *input) ready(now time.Time, stale time.Duration) bool {
	return p.tracks != nil && len(p.gop) > 0 && now.Sub(time.Unix(0, p.lastFrame.Load())) < stale
}

// writeOnAir writes a frame of the input on air to the stream, rebased
// after a switch. Called with in.mu held.
func (in *inputs) writeOnAir(c *Claim, f Frame) error {
	p := c.input
	to := p.route[f.Track]
	if to < 0 {
		return nil
	}
	video := p.tracks[f.Track].Codec.IsVideo()
	if p.needKey {
		if (p.video && !video) || (video && !f.Key) {
			return nil
		}
		p.offset = in.stream.continueAt() - f.DTS
		p.needKey = false
		if !p.takeoverFrom.IsZero() {
			in.lastGap = time.Since(p.takeoverFrom)
			p.takeoverFrom = time.Time{}
		}
	}
	f.Track = to
	f.DTS += p.offset
	f.PTS += p.offset
	if !video && !in.stream.after(to, f.DTS) {
		return nil // audio the old input already covered
	}
	return in.stream.WriteFrame(f)
}

// promote puts the standby on air; the input on air becomes the standby
// (stalled) or, if leaving, goes. Called with in.mu held.
func (in *inputs) promote(next *Claim, leaving bool, why string) {
	h := next.hub
	old := in.onAir
	oldLast := time.Unix(0, old.input.lastFrame.Load())
	in.onAir = next
	in.standby = nil
	if !leaving {
		in.standby = old
		old.input.gop = nil
	}
	p := next.input
	p.needKey, p.takeoverFrom = true, oldLast
	in.failovers++
	in.lastAt = time.Now()
	h.failovers.Inc()

	h.mu.Lock()
	next.session, next.stream = old.session, old.stream
	old.session, old.stream = 0, nil
	h.claims[next.Channel.ID] = next
	if leaving {
		delete(h.standby, next.Channel.ID)
	} else {
		h.standby[next.Channel.ID] = old
	}
	h.mu.Unlock()

	frames := p.gop
	p.gop = nil
	for _, f := range frames {
		if err := in.writeOnAir(next, f); err != nil {
			h.log.Warn("standby's buffered frame refused at takeover", "channel", next.Channel.Slug, "err", err)
			break
		}
	}
	h.log.Warn("backup ingest: switched input", "channel", next.Channel.Slug, "reason", why,
		"on_air", p.label, "was", old.input.label, "buffered_frames", len(frames),
		"since_last_frame", time.Since(oldLast).Round(time.Millisecond))
}

// watchInputs switches to a ready standby when the input on air stalls,
// every failoverCheck until Close.
func (h *Hub) watchInputs() {
	defer close(h.watchDone)
	t := time.NewTicker(failoverCheck)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.Lock()
		standbys := make([]*Claim, 0, len(h.standby))
		for _, c := range h.standby {
			standbys = append(standbys, c)
		}
		h.mu.Unlock()
		now := time.Now()
		for _, sb := range standbys {
			in := sb.inputs
			in.mu.Lock()
			on := in.onAir
			if on != nil && on.input.lastFrame.CompareAndSwap(0, now.UnixNano()) {
				// On air but nothing written yet (a standby arrived in the
				// moment after GoLive): its silence counts from now, not
				// from 1970.
				in.mu.Unlock()
				continue
			}
			if in.standby == sb && !in.ended && on != nil && in.stream != nil &&
				now.Sub(time.Unix(0, on.input.lastFrame.Load())) >= h.failoverAfter &&
				sb.input.ready(now, h.failoverAfter) {
				in.promote(sb, false, fmt.Sprintf("input on air sent nothing for %v", h.failoverAfter))
			}
			in.mu.Unlock()
		}
	}
}

// leave is Release's part for a claim with inputs. It reports whether the
// stream goes on (a standby left, or took over from this claim); otherwise
// the channel ends and a standby still connected is returned to be dropped.
func (c *Claim) leave(reason string) (goesOn bool, drop *Claim) {
	in := c.inputs
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case in.standby == c:
		in.standby = nil
		c.hub.forgetStandby(c)
		c.hub.log.Info("standby input left", "channel", c.Channel.Slug, "input", c.input.label, "reason", reason)
		return true, nil
	case in.onAir == c && !in.ended && in.standby != nil && in.standby.input.tracks != nil && !c.kickedNow():
		in.promote(in.standby, true, reason)
		return true, nil
	case in.onAir != c:
		return false, nil // a claim that never joined
	}
	in.ended = true
	drop, in.standby = in.standby, nil
	if drop != nil {
		c.hub.forgetStandby(drop)
	}
	return false, drop
}

func (c *Claim) kickedNow() bool {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	return c.kicked
}

// inputsStatus is the studio's view of the inputs (nil for a stream that
// never had backup ingest).
func (in *inputs) status() *live.Inputs {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.onAir == nil || in.onAir.input == nil {
		return nil
	}
	out := &live.Inputs{OnAir: in.onAir.input.label, Standby: "none", Failovers: in.failovers}
	if sb := in.standby; sb != nil {
		out.StandbyInput = sb.input.label
		now := time.Now()
		switch {
		case sb.input.tracks == nil:
			out.Standby = "waiting"
		case sb.input.ready(now, defaultFailoverAfter):
			out.Standby = "ready"
		default:
			out.Standby = "stalled"
		}
	}
	if !in.lastAt.IsZero() {
		at := in.lastAt
		out.LastFailover = &at
		out.LastFailoverMS = in.lastGap.Milliseconds()
	}
	return out
}

// inputCounts counts this node's inputs on air (with backup ingest) and in
// standby, for /metrics.
func (h *Hub) inputCounts() (onAir, standby int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.claims {
		if c.stream != nil && !c.done {
			onAir++
		}
	}
	return onAir, len(h.standby)
}

// continueAt is where a new input's first frame goes on the stream's
// timeline: one frame after the latest frame of any track.
func (s *Stream) continueAt() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Duration
	any := false
	for i, seen := range s.seen {
		if seen && (!any || s.lastDTS[i] > last) {
			last, any = s.lastDTS[i], true
		}
	}
	step := 33 * time.Millisecond
	if s.frameRate > 1 {
		step = time.Duration(float64(time.Second) / s.frameRate)
	}
	return last + step
}

// after reports whether dts is later than the last frame of track.
func (s *Stream) after(track int, dts time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen == nil || !s.seen[track] || dts > s.lastDTS[track]
}

// kickNow drops the claim's publisher.
func (c *Claim) kickNow() {
	c.hub.mu.Lock()
	c.kicked = true
	kick := c.kick
	c.hub.mu.Unlock()
	if kick != nil {
		kick()
	}
}
