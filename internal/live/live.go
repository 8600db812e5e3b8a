// Package live knows which channel is live on which node: the live
// directory (a local implementation for one node, a cluster one that hears
// every node over the bus) and the registry of node ids. The media hub
// tells the directory about the streams this node ingests; the directory,
// stats, watch heartbeats, danmaku offsets and the rename guard read it.
package live

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Node is a Livehouse process: its id (Registry) and the URL other nodes
// reach its HTTP side on (for pulling its LL-HLS, later).
type Node struct {
	ID  int    `json:"id"`
	URL string `json:"url,omitempty"`
}

// Track describes one track of a live stream (as media.TrackStatus).
type Track struct {
	Codec      string  `json:"codec"`
	Width      int     `json:"width,omitempty"`
	Height     int     `json:"height,omitempty"`
	FPS        float64 `json:"fps,omitempty"`
	SampleRate int     `json:"sample_rate,omitempty"`
	Channels   int     `json:"channels,omitempty"`
}

// State is a live channel as the directory knows it.
type State struct {
	ChannelID   int64     `json:"channel_id"`
	Slug        string    `json:"slug"`
	SessionID   int64     `json:"session_id"`
	StartedAt   time.Time `json:"started_at"`
	Tracks      []Track   `json:"tracks"`
	BitrateKbps int       `json:"bitrate_kbps"`
	FPS         float64   `json:"fps"`
	// Viewers are the ingesting node's external HLS players plus the
	// channel's room connections on every node.
	Viewers         int    `json:"viewers"`
	ExternalPlayers int    `json:"external_players"`
	IngestBytes     uint64 `json:"ingest_bytes"`
	// Health is what the streamer's studio shows about the ingest.
	Health *Health `json:"health,omitempty"`
	// Node ingests the stream and serves its LL-HLS.
	Node Node `json:"node"`
	// Local: Node is this node.
	Local bool `json:"-"`
}

// Health describes how well a live stream arrives and whether every player
// can decode it (GET /api/channels/SLUG/health, the studio, /metrics).
type Health struct {
	Protocol           string  `json:"protocol"`
	VideoCodec         string  `json:"video_codec"`
	Profile            string  `json:"profile,omitempty"`
	Level              string  `json:"level,omitempty"`
	Chroma             string  `json:"chroma,omitempty"`
	BitDepth           int     `json:"bit_depth,omitempty"`
	Width              int     `json:"width,omitempty"`
	Height             int     `json:"height,omitempty"`
	FPS                float64 `json:"fps"`
	BitrateKbps        int     `json:"bitrate_kbps"`
	KeyframeIntervalMS int64   `json:"keyframe_interval_ms"`
	AudioCodec         string  `json:"audio_codec"`
	SampleRate         int     `json:"sample_rate,omitempty"`
	Channels           int     `json:"channels,omitempty"`
	// DroppedFrames are video frames missing from the publisher's
	// timeline (gaps in its timestamps: the encoder or network dropped
	// them); LateFrames arrived over half a second behind their time.
	DroppedFrames uint64 `json:"dropped_frames"`
	LateFrames    uint64 `json:"late_frames"`
	// Warnings are codes the studio explains: keyframe_interval_long,
	// video_not_8bit_420, bitrate_unsteady, no_audio, no_video, frames_late.
	Warnings []string `json:"warnings"`
	// Inputs, when the channel has had a second publisher (backup
	// ingest), says which input is on air and how the standby is.
	Inputs *Inputs `json:"inputs,omitempty"`
}

// HealthPoint is one second of a stream's ingest.
type HealthPoint struct {
	T                  int64   `json:"t"` // Unix milliseconds
	BitrateKbps        int     `json:"bitrate_kbps"`
	FPS                float64 `json:"fps"`
	KeyframeIntervalMS int64   `json:"keyframe_interval_ms"`
}

// Directory answers which channels are live, on every node.
type Directory interface {
	// Lookup returns the live state of the channel with this slug.
	Lookup(slug string) (State, bool)
	// List returns every live channel.
	List() []State
	// Self is this node.
	Self() Node
	// Advertise sets the URL of this node's HTTP side once it listens.
	Advertise(url string)
	// Publish tells the directory this node ingests a channel; state is
	// read whenever the directory needs a fresh snapshot. Withdraw ends it.
	Publish(channelID int64, slug string, state func() State)
	Withdraw(channelID int64)
	// Close stops whatever the directory runs, bounded by ctx.
	Close(ctx context.Context) error
}

// Local is the directory of a single node: the streams it ingests.
type Local struct {
	id  int
	url atomic.Pointer[string]

	mu      sync.RWMutex
	streams map[int64]localStream // by channel id
	bySlug  map[string]int64

	changed func() // the cluster's "publish now"; nil for a plain Local
}

type localStream struct {
	slug  string
	state func() State
}

// NewLocal returns the directory of node id alone (the embedded default).
func NewLocal(id int) *Local {
	return &Local{id: id, streams: map[int64]localStream{}, bySlug: map[string]int64{}}
}

// Self is this node.
func (l *Local) Self() Node {
	n := Node{ID: l.id}
	if u := l.url.Load(); u != nil {
		n.URL = *u
	}
	return n
}

// Advertise sets the URL other nodes reach this one on.
func (l *Local) Advertise(url string) {
	l.url.Store(&url)
	if l.changed != nil {
		l.changed()
	}
}

// Publish records a stream this node ingests.
func (l *Local) Publish(channelID int64, slug string, state func() State) {
	l.mu.Lock()
	if old, ok := l.streams[channelID]; ok {
		delete(l.bySlug, old.slug)
	}
	l.streams[channelID] = localStream{slug: slug, state: state}
	l.bySlug[slug] = channelID
	l.mu.Unlock()
	if l.changed != nil {
		l.changed()
	}
}

// Withdraw forgets a stream that ended.
func (l *Local) Withdraw(channelID int64) {
	l.mu.Lock()
	s, ok := l.streams[channelID]
	if ok {
		delete(l.streams, channelID)
		if l.bySlug[s.slug] == channelID {
			delete(l.bySlug, s.slug)
		}
	}
	l.mu.Unlock()
	if ok && l.changed != nil {
		l.changed()
	}
}

// Lookup returns the state of a stream this node ingests.
func (l *Local) Lookup(slug string) (State, bool) {
	l.mu.RLock()
	s, ok := l.streams[l.bySlug[slug]]
	l.mu.RUnlock()
	if !ok {
		return State{}, false
	}
	return l.fill(s.state()), true
}

// List returns the streams this node ingests, by slug.
func (l *Local) List() []State {
	l.mu.RLock()
	fns := make([]func() State, 0, len(l.streams))
	for _, s := range l.streams {
		fns = append(fns, s.state)
	}
	l.mu.RUnlock()
	out := make([]State, 0, len(fns))
	for _, f := range fns {
		out = append(out, l.fill(f()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}

func (l *Local) fill(st State) State {
	st.Node, st.Local = l.Self(), true
	return st
}

// Close has nothing to stop.
func (l *Local) Close(context.Context) error { return nil }
