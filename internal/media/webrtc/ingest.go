package webrtc

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"

	"github.com/livehouse/livehouse/internal/media"
)

// PLI pacing: until the first keyframe a publisher is asked for one every
// pliStart (so going live does not wait for the encoder's own GOP), later
// only after a loss, at most every pliAfterLoss.
const (
	pliStart     = 2 * time.Second
	pliAfterLoss = time.Second
	// pliForViewer spaces the keyframes asked for new subscribers (WHEP
	// viewers joining): a crowd arriving at once costs one.
	pliForViewer = 500 * time.Millisecond
	// reorderWindow and reorderWait bound how long video waits for a
	// retransmission before a gap is given up.
	reorderWindow = 256
	reorderWait   = 150 * time.Millisecond
)

// publisher turns a WHIP peer's RTP into frames of the channel's stream.
// Video is held back until a keyframe with its SPS and PPS arrives, then
// the stream goes live with the negotiated tracks.
type publisher struct {
	ss    *session
	claim media.Publication // a claim here (on air or standby) or a relay
	// writeMu: audio and video are read on their own goroutines, and a
	// Publication takes one writer at a time (a relay is not safe for more).
	writeMu sync.Mutex
	log     *slog.Logger
	// expectVideo and expectAudio are the negotiated tracks.
	expectVideo, expectAudio bool

	mu      sync.Mutex
	live    bool          // GoLive done: frames are written
	stream  *media.Stream // the channel's stream here; nil when relayed
	failed  bool
	zero    time.Time // arrival of the first RTP packet of any track: the timeline's zero
	video   *trackClock
	audio   *trackClock
	videoAt int // track index in the stream
	audioAt int
}

// trackClock maps a track's RTP timestamps onto the stream's timeline.
type trackClock struct {
	rate   int64
	first  int64         // unwrapped RTP timestamp of the track's first packet
	offset time.Duration // the first packet's place on the timeline
	unwrap unwrapper
	// sr is the latest sender report's mapping of RTP time to the sender's
	// wall clock, for aligning audio with video.
	srRTP    uint32
	srNTP    uint64
	haveSR   bool
	aligned  bool // offset comes from sender reports
	lastSeen time.Time
}

// at is the timeline position of an RTP timestamp.
func (c *trackClock) at(ts uint32) time.Duration {
	d := c.unwrap.unwrap(ts) - c.first
	return c.offset + time.Duration(d)*time.Second/time.Duration(c.rate)
}

// ntpAt is the sender's wall-clock time of RTP timestamp ts, from the
// latest sender report.
func (c *trackClock) ntpAt(ts int64) time.Time {
	base := ntpTime(c.srNTP)
	d := ts - int64(c.srRTP)
	// The report's RTP time is near ts: pick the nearer wrap.
	d = int64(int32(d))
	return base.Add(time.Duration(d) * time.Second / time.Duration(c.rate))
}

func ntpTime(ntp uint64) time.Time {
	secs := int64(ntp >> 32)
	frac := int64(ntp & 0xffffffff)
	return time.Unix(secs-2208988800, frac*1e9>>32)
}

// onTrack is pion's callback for each negotiated track's first packet.
func (p *publisher) onTrack(tr *pion.TrackRemote, recv *pion.RTPReceiver) {
	mime := strings.ToLower(tr.Codec().MimeType)
	switch {
	case mime == strings.ToLower(pion.MimeTypeH264) && tr.Kind() == pion.RTPCodecTypeVideo:
		p.ss.srv.goTracked(func() { p.readVideo(tr) })
	case mime == strings.ToLower(pion.MimeTypeOpus) && tr.Kind() == pion.RTPCodecTypeAudio:
		p.ss.srv.goTracked(func() { p.readAudio(tr) })
	default:
		p.log.Warn("WHIP track ignored: codec not taken", "codec", mime)
		return
	}
	p.ss.srv.goTracked(func() { p.readRTCP(tr, recv) })
}

// clockFor starts a track's clock at its first packet.
func (p *publisher) clockFor(c **trackClock, rate int64, ts uint32, now time.Time) *trackClock {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *c != nil {
		return *c
	}
	if p.zero.IsZero() {
		p.zero = now
	}
	tc := &trackClock{rate: rate, offset: now.Sub(p.zero)}
	tc.first = tc.unwrap.unwrap(ts)
	*c = tc
	return tc
}

// readRTCP reads the receiver's RTCP (the interceptors need it read) and
// keeps the sender reports for audio/video alignment.
func (p *publisher) readRTCP(tr *pion.TrackRemote, recv *pion.RTPReceiver) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			sr, ok := pkt.(*rtcp.SenderReport)
			if !ok || sr.SSRC != uint32(tr.SSRC()) {
				continue
			}
			p.mu.Lock()
			c := p.video
			if tr.Kind() == pion.RTPCodecTypeAudio {
				c = p.audio
			}
			if c != nil {
				c.srRTP, c.srNTP, c.haveSR = sr.RTPTime, sr.NTPTime, true
			}
			p.mu.Unlock()
			p.alignAudio()
		}
	}
}

// alignAudio places audio on video's timeline by the sender reports of
// both, as long as no audio frame has been written yet (moving a track
// that is already playing would make its timestamps jump). Without
// reports the tracks stay aligned by their first packets' arrival.
func (p *publisher) alignAudio() {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, a := p.video, p.audio
	if v == nil || a == nil || !v.haveSR || !a.haveSR || a.aligned || !a.lastSeen.IsZero() {
		return
	}
	// Where video's timeline puts the sender's wall-clock instant of the
	// audio's first sample.
	audioFirst := a.ntpAt(a.first)
	videoFirst := v.ntpAt(v.first)
	a.offset = v.offset + audioFirst.Sub(videoFirst)
	a.aligned = true
}

// askKeyframesForViewers lets the stream ask this publisher for a keyframe
// when a viewer subscribes, at most every pliForViewer.
func (p *publisher) askKeyframesForViewers(tr *pion.TrackRemote) {
	p.mu.Lock()
	s := p.stream
	p.mu.Unlock()
	if s == nil {
		return
	}
	var last atomic.Int64
	s.OnKeyframeWanted(func() {
		now, prev := time.Now().UnixNano(), last.Load()
		if now-prev < int64(pliForViewer) || !last.CompareAndSwap(prev, now) {
			return
		}
		p.requestKeyframe(tr)
	})
}

// requestKeyframe asks the publisher for a keyframe (PLI).
func (p *publisher) requestKeyframe(tr *pion.TrackRemote) {
	if err := p.ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}}); err != nil {
		p.log.Debug("send PLI", "err", err)
	}
}

func (p *publisher) readVideo(tr *pion.TrackRemote) {
	reorder := newReorderer(reorderWindow, reorderWait)
	var depack h264Depacketizer
	var dts *h264.DTSExtractor
	var sps, pps []byte
	var lastPLI time.Time
	// Until the stream is live, keep asking for a keyframe.
	stopPLI := make(chan struct{})
	defer func() {
		select {
		case <-stopPLI:
		default:
			close(stopPLI)
		}
	}()
	p.ss.srv.goTracked(func() {
		t := time.NewTicker(pliStart)
		defer t.Stop()
		for {
			p.requestKeyframe(tr)
			select {
			case <-stopPLI:
				return
			case <-p.ss.done:
				return
			case <-t.C:
			}
		}
	})
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		clock := p.clockFor(&p.video, 90000, pkt.Timestamp, now)
		p.claim.AddIngestBytes(uint64(len(pkt.Payload)))
		ordered, lost := reorder.push(pkt, now)
		if lost > 0 {
			depack.lost()
		}
		broken := lost > 0
		for _, q := range ordered {
			aus, err := depack.push(q)
			if err != nil {
				broken = true
			}
			for _, a := range aus {
				for _, n := range a.nalus {
					switch h264.NALUType(n[0] & 0x1f) {
					case h264.NALUTypeSPS:
						sps = n
					case h264.NALUTypePPS:
						pps = n
					}
				}
				key := h264.IsRandomAccess(a.nalus)
				if dts == nil {
					if !key || sps == nil || pps == nil {
						continue
					}
					if !p.goLive(sps, pps, a.ts, clock) {
						return
					}
					select {
					case <-stopPLI:
					default:
						close(stopPLI)
					}
					p.keyframesOnceOnAir(tr)
					dts = h264.NewDTSExtractor()
				}
				pts := clock.at(a.ts)
				d, err := dts.Extract(a.nalus, durationTo90k(pts))
				if err != nil {
					// Not decodable in order (a lost reference, a broken
					// SPS): start again at the next keyframe.
					p.log.Debug("WHIP video: cannot order frames; waiting for a keyframe", "err", err)
					dts = nil
					broken = true
					continue
				}
				if !p.write(media.Frame{Track: p.videoAt, PTS: pts, DTS: from90k(d), Data: a.nalus}) {
					return
				}
			}
		}
		// After a loss the picture is damaged until the next keyframe:
		// ask for one (before going live the ticker above asks).
		if broken && now.Sub(lastPLI) >= pliAfterLoss && p.isLive() {
			lastPLI = now
			p.requestKeyframe(tr)
		}
	}
}

func durationTo90k(d time.Duration) int64 { return int64(d) * 90000 / int64(time.Second) }
func from90k(v int64) time.Duration       { return time.Duration(v) * time.Second / 90000 }

func (p *publisher) isLive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// keyframesOnceOnAir decides who asks this publisher for keyframes once it
// is live. On air here: its viewers, when they need one. A standby, or a
// relayed publisher, is asked every pliStart (a WebRTC encoder sends
// keyframes only when asked): a standby takes over from its last keyframe,
// and a long-stale one would have nothing to take over with; once a
// standby is on air, its viewers ask.
func (p *publisher) keyframesOnceOnAir(tr *pion.TrackRemote) {
	if !p.claim.WantsRegularKeyframes() {
		p.askKeyframesForViewers(tr)
		return
	}
	p.ss.srv.goTracked(func() {
		t := time.NewTicker(pliStart)
		defer t.Stop()
		for {
			select {
			case <-p.ss.done:
				return
			case <-t.C:
			}
			if !p.claim.WantsRegularKeyframes() {
				p.log.Info("WHIP publisher is on air now")
				p.askKeyframesForViewers(tr)
				return
			}
			p.requestKeyframe(tr)
		}
	})
}

func (p *publisher) readAudio(tr *pion.TrackRemote) {
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		clock := p.clockFor(&p.audio, 48000, pkt.Timestamp, now)
		p.claim.AddIngestBytes(uint64(len(pkt.Payload)))
		if len(pkt.Payload) == 0 {
			continue // padding / DTX keep-alive
		}
		if !p.expectVideo && !p.isLive() {
			if !p.goLive(nil, nil, 0, nil) {
				return
			}
		}
		if !p.isLive() {
			continue // video has not started yet
		}
		p.mu.Lock()
		clock.lastSeen = now
		pts := clock.at(pkt.Timestamp)
		p.mu.Unlock()
		if pts < 0 {
			continue // before the timeline's zero (aligned by sender reports)
		}
		if !p.write(media.Frame{Track: p.audioAt, PTS: pts, DTS: pts, Data: [][]byte{pkt.Payload}}) {
			return
		}
	}
}

// goLive starts the stream with the negotiated tracks once video's first
// keyframe (with its parameter sets) is in; audio-only streams start at
// their first packet. It reports false when the publish must end.
func (p *publisher) goLive(sps, pps []byte, ts uint32, clock *trackClock) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live || p.failed {
		return !p.failed
	}
	var tracks []*media.Track
	if p.expectVideo {
		t, err := media.NewH264Track(sps, pps)
		if err != nil {
			p.fail("bad stream header", err)
			return false
		}
		p.videoAt = len(tracks)
		tracks = append(tracks, t)
	}
	if p.expectAudio {
		t, _ := media.NewOpusTrack(2) // WebRTC's Opus is always declared stereo
		p.audioAt = len(tracks)
		tracks = append(tracks, t)
	}
	// The stream's first frame (the keyframe) arrived about when its
	// timestamp says, on the arrival-anchored timeline; the P-frames held
	// back before it are not part of the stream.
	first := time.Now()
	if clock != nil {
		if t := p.zero.Add(clock.at(ts)); t.Before(first) {
			first = t
		}
	}
	stream, err := p.claim.GoLive(p.ss.srv.ctx, tracks, media.Ingest{Protocol: "whip", FirstArrival: first})
	if err != nil {
		p.fail("could not start", err)
		return false
	}
	p.live, p.stream = true, stream
	p.log.Info("WHIP publisher is live", "after", time.Since(p.zero).Round(time.Millisecond),
		"standby_or_relayed", p.claim.WantsRegularKeyframes())
	return true
}

// write hands a frame to the stream; false means the publish must end.
func (p *publisher) write(f media.Frame) bool {
	p.writeMu.Lock()
	err := p.claim.WriteFrame(f)
	p.writeMu.Unlock()
	if err != nil {
		p.mu.Lock()
		p.fail("bad frame", err)
		p.mu.Unlock()
		return false
	}
	return true
}

// fail ends the publish; called with p.mu held.
func (p *publisher) fail(reason string, err error) {
	if p.failed {
		return
	}
	p.failed = true
	if !p.ss.ended() {
		p.log.Warn("WHIP publish dropped", "reason", reason, "err", err)
	}
	go p.ss.end(reason)
}

// release frees the claim when the session ends.
func (p *publisher) release(reason string) {
	if p.claim.Kicked() {
		reason = "stopped by the platform"
	} else if p.ss.srv.ctx.Err() != nil {
		reason = "server shutting down"
	} else if strings.HasPrefix(reason, "peer ") || reason == "publisher disconnected" {
		reason = "publisher disconnected"
	}
	p.claim.Release(reason)
}
