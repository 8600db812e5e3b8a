package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors a publisher can get from the hub.
var (
	ErrUnknownKey  = errors.New("unknown stream key")
	ErrAlreadyLive = errors.New("channel is already live")
	ErrShutdown    = errors.New("server is shutting down")
)

// Channels is what the hub needs from the channel domain: resolving stream
// keys and recording live sessions. The channel package implements it.
type Channels interface {
	// ChannelForKey returns the channel a stream key belongs to, or ErrUnknownKey.
	ChannelForKey(ctx context.Context, key string) (ChannelRef, error)
	// SessionStarted records a new live session and returns its id.
	SessionStarted(ctx context.Context, ch ChannelRef, st Status) (int64, error)
	// SessionEnded closes the session record.
	SessionEnded(ctx context.Context, sessionID int64, st Status, reason string) error
}

// Event tells the rest of Livehouse that a channel went live or offline.
type Event struct {
	Type    string // "live.started" or "live.ended"
	Channel ChannelRef
	At      time.Time
}

// Hub is the registry of live channels. Ingest claims a channel, starts its
// stream, and releases it; viewers find streams here by slug.
type Hub struct {
	channels Channels
	hlsCfg   HLSConfig
	log      *slog.Logger
	onEvent  func(Event)

	hlsRequests *prometheus.CounterVec
	ingestBytes *prometheus.CounterVec
	hlsWaiting  atomic.Int64 // blocking LL-HLS requests in progress

	pageViewers atomic.Pointer[func(slug string) int]

	mu      sync.Mutex
	claims  map[int64]*Claim // by channel id: reserved or live
	bySlug  map[string]*Stream
	closing bool
}

// HubOptions configures a Hub.
type HubOptions struct {
	Channels Channels
	HLS      HLSConfig
	Log      *slog.Logger
	// Metrics registry; the hub registers its collectors there.
	Metrics prometheus.Registerer
	// OnEvent, if set, is called (synchronously) for live.started and live.ended.
	OnEvent func(Event)
}

// NewHub creates a hub and registers its metrics.
func NewHub(o HubOptions) (*Hub, error) {
	h := &Hub{
		channels: o.Channels,
		hlsCfg:   o.HLS,
		log:      o.Log,
		onEvent:  o.OnEvent,
		claims:   map[int64]*Claim{},
		bySlug:   map[string]*Stream{},
		hlsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livehouse_hls_requests_total",
			Help: "LL-HLS requests by kind (playlist, part, segment, init) and result.",
		}, []string{"kind", "code"}),
		ingestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livehouse_ingest_bytes_total",
			Help: "Bytes received from publishers, by channel.",
		}, []string{"channel"}),
	}
	if h.onEvent == nil {
		h.onEvent = func(Event) {}
	}
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{h.hlsRequests, h.ingestBytes, hubCollector{h}} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register media metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Claim is a publisher's hold on a channel, from an accepted key until
// Release. At most one claim per channel exists at a time.
type Claim struct {
	hub     *Hub
	Channel ChannelRef
	stream  *Stream
	done    bool
	kick    func() // set by the ingest: drops the publisher's connection
	kicked  bool
}

// OnKick registers how the ingest drops this publisher (Hub.Kick).
func (c *Claim) OnKick(fn func()) {
	c.hub.mu.Lock()
	c.kick = fn
	c.hub.mu.Unlock()
}

// Kicked reports whether the platform ended this publish.
func (c *Claim) Kicked() bool {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	return c.kicked
}

// Kick ends a channel's publish (its channel was disabled, say): the
// ingest drops the connection and the stream ends as usual. It reports
// whether a publisher was there.
func (h *Hub) Kick(slug string) bool {
	h.mu.Lock()
	var kick func()
	for _, c := range h.claims {
		if c.Channel.Slug == slug && !c.done {
			c.kicked = true
			kick = c.kick
		}
	}
	h.mu.Unlock()
	if kick == nil {
		return false
	}
	kick()
	return true
}

// Claim resolves key and reserves its channel for one publisher.
func (h *Hub) Claim(ctx context.Context, key string) (*Claim, error) {
	ch, err := h.channels.ChannelForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, ErrShutdown
	}
	if _, taken := h.claims[ch.ID]; taken {
		return nil, fmt.Errorf("%w: %s", ErrAlreadyLive, ch.Slug)
	}
	c := &Claim{hub: h, Channel: ch}
	h.claims[ch.ID] = c
	return c, nil
}

// GoLive starts the channel's stream with the publisher's tracks.
func (c *Claim) GoLive(ctx context.Context, tracks []*Track) (*Stream, error) {
	h := c.hub
	log := h.log.With("channel", c.Channel.Slug)
	hls, err := newHLSOutput(tracks, h.hlsCfg, log)
	if err != nil {
		return nil, err
	}
	slug := c.Channel.Slug
	s := &Stream{Channel: c.Channel, Tracks: tracks, StartedAt: time.Now(), log: log, hls: hls,
		params: make([]*videoParams, len(tracks)), pageViewers: func() int { return h.pageViewersOf(slug) }}
	for i, t := range tracks {
		if t.Codec.IsVideo() {
			s.params[i] = newVideoParams(t)
		}
	}
	id, err := h.channels.SessionStarted(ctx, c.Channel, s.Status())
	if err != nil {
		hls.close()
		return nil, fmt.Errorf("record live session: %w", err)
	}
	s.SessionID = id
	h.mu.Lock()
	if c.done || h.closing {
		h.mu.Unlock()
		hls.close()
		return nil, ErrShutdown
	}
	c.stream = s
	h.bySlug[c.Channel.Slug] = s
	h.mu.Unlock()
	log.Info("stream started", "session", id, "tracks", describeTracks(tracks))
	h.onEvent(Event{Type: "live.started", Channel: c.Channel, At: s.StartedAt})
	return s, nil
}

// AddIngestBytes counts bytes received for the claim's channel.
func (c *Claim) AddIngestBytes(n uint64) {
	c.hub.ingestBytes.WithLabelValues(c.Channel.Slug).Add(float64(n))
}

// Release ends the stream (if it started) and frees the channel. It is safe
// to call more than once. The session is recorded as ended before the
// channel reads as offline, so whoever sees "offline" also sees the record.
func (c *Claim) Release(reason string) {
	h := c.hub
	h.mu.Lock()
	if c.done {
		h.mu.Unlock()
		return
	}
	c.done = true
	s := c.stream
	h.mu.Unlock()

	if s != nil {
		st := s.Status()
		s.end()
		// Recording the end must not depend on the publisher's context,
		// which is usually what just got cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.channels.SessionEnded(ctx, s.SessionID, st, reason); err != nil {
			s.log.Error("record end of live session", "session", s.SessionID, "err", err)
		}
		cancel()
	}

	h.mu.Lock()
	if s != nil && h.bySlug[c.Channel.Slug] == s {
		delete(h.bySlug, c.Channel.Slug)
	}
	if h.claims[c.Channel.ID] == c {
		delete(h.claims, c.Channel.ID)
	}
	h.mu.Unlock()

	if s != nil {
		s.log.Info("stream ended", "session", s.SessionID, "reason", reason,
			"duration", time.Since(s.StartedAt).Round(time.Millisecond))
		h.onEvent(Event{Type: "live.ended", Channel: c.Channel, At: time.Now()})
	}
}

// SetPageViewers tells the hub how many viewers a channel has on
// Livehouse's own pages (watch page, studio), which the HLS count leaves
// out; Status.Viewers and livehouse_viewers add them to the external players.
func (h *Hub) SetPageViewers(count func(slug string) int) { h.pageViewers.Store(&count) }

func (h *Hub) pageViewersOf(slug string) int {
	if f := h.pageViewers.Load(); f != nil && *f != nil {
		return (*f)(slug)
	}
	return 0
}

// ExternalPlayers is how many HLS players other than Livehouse's pages
// watch a channel on this node (0 when it is not live here).
func (h *Hub) ExternalPlayers(slug string) int {
	if s, ok := h.Stream(slug); ok {
		return s.ExternalPlayers()
	}
	return 0
}

// Stream returns the live stream of a channel, if any.
func (h *Hub) Stream(slug string) (*Stream, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.bySlug[slug]
	return s, ok
}

// Shutdown refuses new publishers. Ingest servers end their streams by
// releasing their claims as their connections close.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
}

// ServeHLS answers GET /hls/{slug}/{file}.
func (h *Hub) ServeHLS(w http.ResponseWriter, r *http.Request) {
	slug, file := r.PathValue("slug"), r.PathValue("file")
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		h.hlsRequests.WithLabelValues(hlsKind(file), fmt.Sprint(rec.code)).Inc()
		if rec.code >= 400 {
			h.log.Debug("LL-HLS request failed", "channel", slug, "file", file, "query", r.URL.RawQuery, "code", rec.code)
		}
	}()
	s, ok := h.Stream(slug)
	if !ok {
		hlsError(rec, http.StatusNotFound, "not_live", "channel is not live")
		return
	}
	// Requests the muxer may hold open: a blocking playlist reload or a
	// part not made yet.
	if _, part := parsePartName(file); part || r.URL.Query().Has("_HLS_msn") {
		h.hlsWaiting.Add(1)
		defer h.hlsWaiting.Add(-1)
	}
	// Players on other origins (an embed, a test page) may read the stream.
	rec.Header().Set("Access-Control-Allow-Origin", "*")
	s.hls.serve(rec, r)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func describeTracks(tracks []*Track) string {
	out := ""
	for i, t := range tracks {
		if i > 0 {
			out += ", "
		}
		if t.Codec.IsVideo() {
			out += fmt.Sprintf("%s %dx%d", t.Codec, t.Width, t.Height)
		} else {
			out += fmt.Sprintf("%s %d Hz %d ch", t.Codec, t.SampleRate, t.ChannelCount)
		}
	}
	return out
}

// hubCollector reports live streams and viewers at scrape time, so a
// channel that went offline leaves no stale series behind.
type hubCollector struct{ h *Hub }

var (
	liveStreamsDesc = prometheus.NewDesc("livehouse_live_streams", "Channels live right now.", nil, nil)
	viewersDesc     = prometheus.NewDesc("livehouse_viewers",
		"Viewers of a live channel: external HLS players (livehouse_hls_players) plus viewers on Livehouse's own pages (their room connections).",
		[]string{"channel"}, nil)
	playersDesc = prometheus.NewDesc("livehouse_hls_players",
		"External HLS players of a live channel (VLC, ffplay, apps; not Livehouse's pages): playback sessions seen in the last 15 s, capped per client address.",
		[]string{"channel"}, nil)
	hlsWaitingDesc = prometheus.NewDesc("livehouse_hls_waiting_requests",
		"LL-HLS requests in progress that may be held open: blocking playlist reloads (_HLS_msn) and parts not made yet.", nil, nil)
)

func (c hubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- liveStreamsDesc
	ch <- viewersDesc
	ch <- playersDesc
	ch <- hlsWaitingDesc
}

func (c hubCollector) Collect(ch chan<- prometheus.Metric) {
	c.h.mu.Lock()
	streams := make([]*Stream, 0, len(c.h.bySlug))
	for _, s := range c.h.bySlug {
		streams = append(streams, s)
	}
	c.h.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(liveStreamsDesc, prometheus.GaugeValue, float64(len(streams)))
	ch <- prometheus.MustNewConstMetric(hlsWaitingDesc, prometheus.GaugeValue, float64(c.h.hlsWaiting.Load()))
	for _, s := range streams {
		st := s.Status()
		ch <- prometheus.MustNewConstMetric(viewersDesc, prometheus.GaugeValue, float64(st.Viewers), s.Channel.Slug)
		ch <- prometheus.MustNewConstMetric(playersDesc, prometheus.GaugeValue, float64(st.ExternalPlayers), s.Channel.Slug)
	}
}
