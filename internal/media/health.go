package media

import (
	"math"
	"slices"
	"time"

	"github.com/livehouse/livehouse/internal/live"
)

// Thresholds of the stream-health warnings. A streamer sees them in the
// studio; each names a setting they can change.
const (
	// LL-HLS cuts segments at keyframes: a longer interval makes every
	// segment (and the delay of a player joining) that long.
	maxKeyframeInterval = 2*time.Second + 100*time.Millisecond
	// A frame this far behind its place on the timeline arrived late: the
	// publisher's upload is congested.
	lateFrame = 500 * time.Millisecond
	// A late frame keeps frames_late up for this long.
	lateWarning = 10 * time.Second
	// Audio silent on the timeline this long while video flows is no_audio.
	audioGap = 3 * time.Second
	// bitrate_unsteady: the coefficient of variation of the last 30 s of
	// per-second bitrates over this (a network that cannot carry the
	// stream's rate, or an encoder without rate control).
	unsteadyCoV   = 0.5
	healthHistory = 300 // one point a second: the studio's 5-minute charts
)

// healthTracker measures a stream's ingest as it is written. Guarded by
// Stream.mu.
type healthTracker struct {
	haveKey     bool
	lastKeyDTS  time.Duration
	keyInterval time.Duration // between the last two keyframes

	haveVideo    bool
	lastVideoDTS time.Duration
	lastAudioDTS time.Duration
	haveAudio    bool

	dropped, late uint64
	lastLateAt    time.Time
	// caughtUp: frames the ingest held back (RTMP's track detection) all
	// arrive late; lateness counts from the first frame that arrived on time.
	caughtUp bool

	window  rateSample // start of the current one-second history window
	history []live.HealthPoint
	next    int // ring position when history is full
}

// observe records a frame; video says whether it is a video frame, fps is
// the stream's measured frame rate (0 before it is known).
func (h *healthTracker) observe(f Frame, video bool, arrived time.Time, fps float64) {
	lateness := arrived.Sub(f.NTP)
	if !h.caughtUp {
		h.caughtUp = lateness < lateFrame/2
	} else if lateness > lateFrame {
		h.late++
		h.lastLateAt = arrived
	}
	if !video {
		h.haveAudio, h.lastAudioDTS = true, f.DTS
		return
	}
	if h.haveVideo && fps > 0 {
		nominal := time.Duration(float64(time.Second) / fps)
		if gap := f.DTS - h.lastVideoDTS; gap > nominal*5/2 {
			h.dropped += uint64(math.Round(float64(gap)/float64(nominal))) - 1
		}
	}
	h.haveVideo, h.lastVideoDTS = true, f.DTS
	if f.Key {
		if h.haveKey {
			h.keyInterval = f.DTS - h.lastKeyDTS
		}
		h.haveKey, h.lastKeyDTS = true, f.DTS
	}
}

// sample closes the one-second history window when the timeline has moved
// past it.
func (h *healthTracker) sample(dts time.Duration, bytes, frames uint64, at time.Time) {
	d := dts - h.window.dts
	if d < time.Second {
		return
	}
	p := live.HealthPoint{
		T:                  at.UnixMilli(),
		BitrateKbps:        int(float64(bytes-h.window.bytes) * 8 / d.Seconds() / 1000),
		FPS:                math.Round(float64(frames-h.window.frames)/d.Seconds()*10) / 10,
		KeyframeIntervalMS: h.keyframeInterval(dts).Milliseconds(),
	}
	if len(h.history) < healthHistory {
		h.history = append(h.history, p)
	} else {
		h.history[h.next] = p
		h.next = (h.next + 1) % healthHistory
	}
	h.window = rateSample{dts: dts, bytes: bytes, frames: frames}
}

// keyframeInterval is the last interval, or the time since the last
// keyframe when that is longer (an 8 s GOP shows before its second keyframe).
func (h *healthTracker) keyframeInterval(dts time.Duration) time.Duration {
	if !h.haveKey {
		return 0
	}
	return max(h.keyInterval, dts-h.lastKeyDTS)
}

// points returns the history, oldest first.
func (h *healthTracker) points() []live.HealthPoint {
	out := make([]live.HealthPoint, 0, len(h.history))
	out = append(out, h.history[h.next:]...)
	return append(out, h.history[:h.next]...)
}

// unsteady reports whether the last 30 s of bitrate vary too much.
func (h *healthTracker) unsteady() bool {
	pts := h.points()
	if len(pts) > 30 {
		pts = pts[len(pts)-30:]
	}
	if len(pts) < 10 {
		return false
	}
	var sum, sq float64
	for _, p := range pts {
		sum += float64(p.BitrateKbps)
	}
	mean := sum / float64(len(pts))
	if mean <= 0 {
		return false
	}
	for _, p := range pts {
		d := float64(p.BitrateKbps) - mean
		sq += d * d
	}
	return math.Sqrt(sq/float64(len(pts)))/mean > unsteadyCoV
}

// Health reports the stream's ingest as the studio shows it.
func (s *Stream) Health() live.Health {
	out := live.Health{Protocol: s.Ingest.Protocol, Warnings: []string{}}
	var video, audio *Track
	for _, t := range s.Tracks {
		if t.Codec.IsVideo() && video == nil {
			video = t
		} else if !t.Codec.IsVideo() && audio == nil {
			audio = t
		}
	}
	if video != nil {
		out.VideoCodec, out.Profile, out.Level = string(video.Codec), video.Profile, video.Level
		out.Chroma, out.BitDepth, out.Width, out.Height = video.Chroma, video.BitDepth, video.Width, video.Height
	}
	if audio != nil {
		out.AudioCodec, out.SampleRate, out.Channels = string(audio.Codec), audio.SampleRate, audio.ChannelCount
	}
	s.mu.Lock()
	h := &s.health
	out.FPS = math.Round(s.frameRate*10) / 10
	out.BitrateKbps = int(s.bitrate / 1000)
	if s.frameRate == 0 && len(h.history) > 0 {
		// The first 2 s window is not over yet: the last second will do.
		last := h.points()[len(h.history)-1]
		out.FPS, out.BitrateKbps = last.FPS, last.BitrateKbps
	}
	out.KeyframeIntervalMS = h.keyframeInterval(h.lastVideoDTS).Milliseconds()
	out.DroppedFrames, out.LateFrames = h.dropped, h.late
	unsteady := h.unsteady()
	recentLate := !h.lastLateAt.IsZero() && time.Since(h.lastLateAt) < lateWarning
	audioSilent := audio != nil && h.haveVideo && (!h.haveAudio || h.lastVideoDTS-h.lastAudioDTS > audioGap)
	s.mu.Unlock()

	warn := func(code string, when bool) {
		if when {
			out.Warnings = append(out.Warnings, code)
		}
	}
	warn("keyframe_interval_long", time.Duration(out.KeyframeIntervalMS)*time.Millisecond > maxKeyframeInterval)
	warn("video_not_8bit_420", video != nil && video.Chroma != "" && (video.Chroma != "4:2:0" || video.BitDepth != 8))
	warn("bitrate_unsteady", unsteady)
	warn("no_audio", audio == nil || audioSilent)
	warn("no_video", video == nil)
	warn("frames_late", recentLate)
	// The ABR ladder (ladder.go): configured but not running, or a
	// rendition dropped for falling behind.
	warn("ladder_passthrough_only", s.ladderOff != "")
	warn("ladder_rung_dropped", s.ladder != nil && slices.ContainsFunc(s.ladder.status(), func(r LadderRungStatus) bool { return r.Dropped }))
	if s.inputs != nil {
		out.Inputs = s.inputs.status()
	}
	return out
}

// HealthHistory is the last five minutes of the stream's ingest, a point
// a second, oldest first.
func (s *Stream) HealthHistory() []live.HealthPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health.points()
}

// HealthHistory returns the ingest history of a channel live on this node
// (nil elsewhere: other nodes know only the latest figures).
func (h *Hub) HealthHistory(slug string) []live.HealthPoint {
	if s, ok := h.Stream(slug); ok {
		return s.HealthHistory()
	}
	return nil
}
