package media

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/live"
)

// ChannelRef names the channel a stream belongs to.
type ChannelRef struct {
	ID   int64
	Slug string
	// BackupKey: the publisher used the channel's backup stream key.
	BackupKey bool
}

// Frame is one access unit (video) or packet (audio) of a track.
// Timestamps are on the publisher's clock, relative to its start.
type Frame struct {
	Track int // index into Stream.Tracks
	PTS   time.Duration
	DTS   time.Duration
	// Data is the NAL units of one access unit (video) or a single packet (audio).
	Data [][]byte
	// Key marks a video access unit a decoder can start at (IDR, IRAP). The
	// stream sets it; publishers need not.
	Key bool
	// NTP is the wall-clock time the frame was captured, as well as
	// Livehouse can tell: when it arrived at the ingest. The stream sets it.
	NTP time.Time
}

// Ingest describes how a stream reached Livehouse.
type Ingest struct {
	// Protocol is "rtmp", "srt" or "whip".
	Protocol string
	// FirstArrival is when the publisher's first frame arrived, if the
	// ingest held frames back to detect tracks (RTMP reads ~1-2 s before it
	// knows them); zero means the frames are written as they arrive.
	FirstArrival time.Time
	// TransportDelay is how long the ingest protocol holds every frame on
	// purpose before handing it over (SRT's receive latency, 120 ms by
	// default): frame times are moved back by it, to when it was sent.
	TransportDelay time.Duration
}

func (f Frame) size() int {
	n := 0
	for _, b := range f.Data {
		n += len(b)
	}
	return n
}

// Timestamp bounds: a publisher that breaks them is sending garbage (or its
// clock jumped), and the muxer would produce an unplayable playlist.
const (
	maxBackwardJump = time.Second
	maxForwardJump  = 10 * time.Second
	maxPTSDTSGap    = 10 * time.Second
)

// ErrBadTimestamp is returned for a frame whose timestamps cannot be right.
var ErrBadTimestamp = errors.New("absurd timestamp")

// Stream is one live session of a channel: the publisher writes frames, the
// LL-HLS output (and later recorders and relays) consume them.
type Stream struct {
	Channel   ChannelRef
	Tracks    []*Track
	Ingest    Ingest
	SessionID int64

	log *slog.Logger
	hls *hlsOutput
	// keyframeWanted asks the publisher for a keyframe (OnKeyframeWanted).
	keyframeWanted atomic.Pointer[func()]
	// inputs are the channel's publishers when its ingest supports backup
	// inputs (failover.go); nil otherwise. Set before the stream is published.
	inputs *inputs
	// pageViewers counts the channel's viewers on Livehouse's own pages
	// (HubOptions.PageViewers); nil counts none.
	pageViewers func() int
	// playersElsewhere counts its outside players on other nodes (edges
	// pulling it through); nil counts none.
	playersElsewhere func() int
	params           []*videoParams // per track; nil for audio. Guarded by outMu.

	// Audio transcoders (transcode.go), guarded by outMu. toAAC makes the
	// LL-HLS audio of an Opus publisher (hlsAudio); toOpus makes WebRTC
	// viewers' audio (opusTrack) of an AAC publisher, started by the first
	// such viewer.
	toAAC, toOpus *audioTranscoder
	hlsAudio      *Track
	opusTrack     *Track

	// ladder is the stream's ABR ladder (ladder.go), nil when off or when
	// it could not start: ladderOff then says why (the studio shows it).
	// Set before the stream is published, then read-only.
	ladder    *ladder
	ladderOff string

	// outMu serialises writes to the outputs with their closing, so no
	// output sees a frame after it was closed. Taken before mu, never after.
	outMu sync.Mutex

	mu sync.Mutex // guards the fields below; held per frame, briefly
	// anchor is the wall-clock time of the media timeline's zero (the first
	// frame's DTS): frame f was captured at anchor + (f.DTS - firstDTS).
	anchor time.Time
	// startedAt is the first anchor: when the stream started, as reported
	// (it stays put while the anchor settles by milliseconds).
	startedAt time.Time
	subs      []*Subscription // replaced, never changed in place
	health    healthTracker
	lastDTS   []time.Duration
	seen      []bool
	firstDTS  time.Duration
	anyFrame  bool
	bytes     uint64
	frames    uint64    // video frames
	liveAt    time.Time // when GoLive ran
	sample    rateSample
	bitrate   float64 // bits per second over the last window
	frameRate float64
	ended     bool
}

// rateSample marks a point on the media timeline. Rates are measured in
// media time, not arrival time: ingest delivers its first ~2 s (the track
// analysis) in one burst, and a congested publisher sends late, but the
// stream's bitrate and frame rate are what the encoder produced.
type rateSample struct {
	dts    time.Duration
	bytes  uint64
	frames uint64
}

const rateWindow = 2 * time.Second

// WriteFrame checks a frame's timestamps and hands it to every output.
// An error means the publisher must be dropped.
func (s *Stream) WriteFrame(f Frame) error {
	if f.Track < 0 || f.Track >= len(s.Tracks) {
		return fmt.Errorf("frame for unknown track %d", f.Track)
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	size := f.size()
	video := s.Tracks[f.Track].Codec.IsVideo()
	if p := s.params[f.Track]; p != nil {
		// Parameter sets are absorbed here (nil: nothing to pass on) and
		// keyframes marked, before the frame is measured.
		if f.Data, f.Key = p.process(f.Data); f.Data == nil {
			return nil
		}
	}
	arrived := time.Now()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return errors.New("stream has ended")
	}
	if err := s.checkTimestamps(f); err != nil {
		s.mu.Unlock()
		return err
	}
	if !s.anyFrame {
		s.anyFrame = true
		s.firstDTS = f.DTS
		s.sample = rateSample{dts: f.DTS}
		s.health.window = s.sample
	}
	s.bytes += uint64(size)
	if video {
		s.frames++
	}
	if d := f.DTS - s.sample.dts; d >= rateWindow {
		s.bitrate = float64(s.bytes-s.sample.bytes) * 8 / d.Seconds()
		s.frameRate = float64(s.frames-s.sample.frames) / d.Seconds()
		s.sample = rateSample{dts: f.DTS, bytes: s.bytes, frames: s.frames}
	}
	f.NTP = s.frameTime(f.DTS, arrived.Add(-s.Ingest.TransportDelay))
	s.health.observe(f, video, arrived, s.frameRate)
	s.health.sample(f.DTS, s.bytes, s.frames, f.NTP)
	s.mu.Unlock()

	s.fanOut(f)
	if x := s.toAAC; x != nil && x.from == s.Tracks[f.Track] {
		x.write(f)
	}
	if x := s.toOpus; x != nil && x.from == s.Tracks[f.Track] {
		x.write(f)
	}
	return s.hls.write(s.Tracks[f.Track], f, f.NTP)
}

// timelineTime is the wall-clock time of a point on the media timeline
// (for frames made here, like transcoded audio, whose arrival says
// nothing). Called with s.mu held.
func (s *Stream) timelineTime(dts time.Duration) time.Time {
	if s.anchor.IsZero() {
		return s.startedAtLocked()
	}
	return s.anchor.Add(dts - s.firstDTS)
}

// frameTime is the wall-clock time of a frame on the media timeline, for
// EXT-X-PROGRAM-DATE-TIME and danmaku offsets: steady when frames arrive in
// bursts (a congested publisher, RTMP's track detection), and never later
// than the frame's arrival — a frame that arrives before its place on the
// timeline moves the timeline back. Called with s.mu held.
func (s *Stream) frameTime(dts time.Duration, arrived time.Time) time.Time {
	if s.anchor.IsZero() {
		s.anchor = arrived
		if first := s.Ingest.FirstArrival; !first.IsZero() && first.Before(arrived) {
			s.anchor = first
		}
		s.startedAt = s.anchor
	}
	t := s.anchor.Add(dts - s.firstDTS)
	if arrived.Before(t) {
		s.anchor = s.anchor.Add(arrived.Sub(t))
		t = arrived
	}
	return t
}

// StartedAt is the wall-clock time of the stream's first frame (when it
// went live, if no frame has arrived yet). It does not change afterwards.
func (s *Stream) StartedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startedAtLocked()
}

func (s *Stream) startedAtLocked() time.Time {
	if !s.startedAt.IsZero() {
		return s.startedAt
	}
	if !s.Ingest.FirstArrival.IsZero() {
		return s.Ingest.FirstArrival
	}
	return s.liveAt
}

func (s *Stream) checkTimestamps(f Frame) error {
	if d := f.PTS - f.DTS; d < -maxBackwardJump || d > maxPTSDTSGap {
		return fmt.Errorf("%w: PTS %v and DTS %v are %v apart", ErrBadTimestamp, f.PTS, f.DTS, d)
	}
	if s.lastDTS == nil {
		s.lastDTS = make([]time.Duration, len(s.Tracks))
		s.seen = make([]bool, len(s.Tracks))
	}
	if s.seen[f.Track] {
		last := s.lastDTS[f.Track]
		if f.DTS < last-maxBackwardJump || f.DTS > last+maxForwardJump {
			return fmt.Errorf("%w: track %d jumped from %v to %v", ErrBadTimestamp, f.Track, last, f.DTS)
		}
	}
	s.seen[f.Track] = true
	s.lastDTS[f.Track] = f.DTS
	return nil
}

// Status is a snapshot of a live stream for APIs and dashboards.
type Status struct {
	StartedAt   time.Time     `json:"started_at"`
	Uptime      time.Duration `json:"-"`
	Tracks      []TrackStatus `json:"tracks"`
	BitrateKbps int           `json:"bitrate_kbps"`
	FPS         float64       `json:"fps"`
	// Viewers is ExternalPlayers plus the viewers on Livehouse's own pages
	// (HubOptions.PageViewers).
	Viewers int `json:"viewers"`
	// ExternalPlayers are HLS players other than Livehouse's pages (VLC,
	// ffplay, apps): playback sessions seen in the last 15 s, at most
	// HLSConfig.PlayersPerAddress per client address, on this node and on
	// the edges that pull the stream through (Hub.SetPlayersElsewhere).
	ExternalPlayers int    `json:"external_players"`
	IngestBytes     uint64 `json:"ingest_bytes"`
}

// TrackStatus describes one track to API clients.
type TrackStatus struct {
	Codec      Codec   `json:"codec"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	FPS        float64 `json:"fps,omitempty"`
	SampleRate int     `json:"sample_rate,omitempty"`
	Channels   int     `json:"channels,omitempty"`
}

// Status reports the stream's tracks and measured rates.
func (s *Stream) Status() Status {
	st := Status{}
	for _, t := range s.Tracks {
		st.Tracks = append(st.Tracks, TrackStatus{
			Codec: t.Codec, Width: t.Width, Height: t.Height, FPS: t.FPS,
			SampleRate: t.SampleRate, Channels: t.ChannelCount,
		})
	}
	s.mu.Lock()
	st.StartedAt = s.startedAtLocked()
	st.Uptime = time.Since(st.StartedAt)
	st.BitrateKbps = int(s.bitrate / 1000)
	st.FPS = float64(int(s.frameRate*10+0.5)) / 10
	st.IngestBytes = s.bytes
	s.mu.Unlock()
	st.ExternalPlayers = s.ExternalPlayers()
	if s.playersElsewhere != nil {
		st.ExternalPlayers += s.playersElsewhere()
	}
	st.Viewers = st.ExternalPlayers
	if s.pageViewers != nil {
		st.Viewers += s.pageViewers()
	}
	return st
}

// ExternalPlayers is how many HLS players other than Livehouse's own pages
// watch the stream on this node (Status.ExternalPlayers adds other nodes').
func (s *Stream) ExternalPlayers() int { return s.hls.players.Count(time.Now()) }

// end stops the outputs; further frames are refused.
func (s *Stream) end() {
	s.outMu.Lock()
	s.mu.Lock()
	already := s.ended
	s.ended = true
	s.mu.Unlock()
	if !already {
		s.hls.close()
		s.closeSubscriptions()
	}
	transcoders := []*audioTranscoder{s.toAAC, s.toOpus}
	s.toAAC, s.toOpus = nil, nil
	s.outMu.Unlock()
	// Outside outMu: the ladder's feeder closes its subscription, which takes it.
	if s.ladder != nil {
		s.ladder.close()
	}
	// Outside outMu: a transcoder's reader may be waiting for it to emit.
	for _, x := range transcoders {
		if x != nil {
			x.close()
		}
	}
}

// liveState is the stream as the live directory shows it.
func (s *Stream) liveState() live.State {
	st := s.Status()
	out := live.State{
		ChannelID: s.Channel.ID, Slug: s.Channel.Slug, SessionID: s.SessionID, StartedAt: st.StartedAt,
		Tracks: make([]live.Track, 0, len(st.Tracks)), BitrateKbps: st.BitrateKbps, FPS: st.FPS,
		Viewers: st.Viewers, ExternalPlayers: st.ExternalPlayers, IngestBytes: st.IngestBytes,
	}
	health := s.Health()
	out.Health = &health
	for _, t := range st.Tracks {
		out.Tracks = append(out.Tracks, live.Track{Codec: string(t.Codec), Width: t.Width, Height: t.Height, FPS: t.FPS,
			SampleRate: t.SampleRate, Channels: t.Channels})
	}
	return out
}
