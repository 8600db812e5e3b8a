package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livehouse/livehouse/internal/live"
)

// Errors a publisher can get from the hub.
var (
	ErrUnknownKey      = errors.New("unknown stream key")
	ErrChannelDisabled = errors.New("channel is disabled by the platform")
	ErrAlreadyLive     = errors.New("channel is already live")
	ErrShutdown        = errors.New("server is shutting down")
	ErrDraining        = errors.New("node is draining (shutting down): publish to another origin")
)

// Publication is where an ingest writes one publisher's media: its Claim
// on this node, or a relay of it to the node that ingests the channel
// (rtmp.Relayed). GoLive may return a nil Stream (a relay has none here).
type Publication interface {
	GoLive(ctx context.Context, tracks []*Track, in Ingest) (*Stream, error)
	WriteFrame(f Frame) error
	// WantsRegularKeyframes: an ingest whose encoder sends keyframes only
	// when asked (WebRTC) should ask on a schedule now. A standby here
	// must keep its buffered GOP short to take over quickly; a relayed
	// encoder cannot be asked by the node on air. An encoder on air here
	// is asked when its viewers need one (Stream.OnKeyframeWanted).
	WantsRegularKeyframes() bool
	OnKick(fn func())
	Kicked() bool
	AddIngestBytes(n uint64)
	Release(reason string)
}

// LiveElsewhere is ErrAlreadyLive for a channel another node ingests: an
// RTMP ingest relays the encoder there as its standby (rtmp.Relay).
type LiveElsewhere struct {
	Slug string
	Node int64
}

func (e *LiveElsewhere) Error() string {
	return fmt.Sprintf("%v: %s is ingested by node %d", ErrAlreadyLive, e.Slug, e.Node)
}

func (e *LiveElsewhere) Unwrap() error { return ErrAlreadyLive }

// streamKeyPattern is what a stream key can look like: anything else is
// refused by every ingest before the store is asked.
var streamKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,128}$`)

// ValidStreamKey reports whether key has the shape of a stream key.
func ValidStreamKey(key string) bool { return streamKeyPattern.MatchString(key) }

// Channels is what the hub needs from the channel domain: resolving stream
// keys and recording live sessions, which are also the claims that keep two
// nodes from ingesting one channel. The channel package implements it.
type Channels interface {
	// ChannelForKey returns the channel a stream key belongs to, or
	// ErrUnknownKey, or ErrChannelDisabled (wrapped) for a channel the
	// platform switched off.
	ChannelForKey(ctx context.Context, key string) (ChannelRef, error)
	// ClaimChannel opens a live session of ch held by node until ttl from
	// now unless renewed: a conditional write, so a channel has at most one
	// open session on all nodes. Another open session is ErrAlreadyLive.
	ClaimChannel(ctx context.Context, ch ChannelRef, node int, ttl time.Duration) (int64, error)
	// SessionStarted records the start and tracks of a claimed session.
	SessionStarted(ctx context.Context, sessionID int64, st Status) error
	// SessionEnded closes the session record.
	SessionEnded(ctx context.Context, sessionID int64, st Status, reason string) error
	// DropClaim removes a claim that never went live.
	DropClaim(ctx context.Context, sessionID int64) error
	// RenewClaims extends node's open claims to ttl from now and returns
	// the ids of those still open (another node may have ended a claim
	// that lapsed).
	RenewClaims(ctx context.Context, node int, ttl time.Duration) ([]int64, error)
	// CloseLapsedClaims ends the sessions whose claims were not renewed in
	// time (their node died), on any node.
	CloseLapsedClaims(ctx context.Context) (int64, error)
}

// Event tells the rest of Livehouse that a channel went live or offline.
type Event struct {
	Type    string // "live.started" or "live.ended"
	Channel ChannelRef
	At      time.Time
}

// Hub is the registry of the channels live on this node. Ingest claims a
// channel, starts its stream, and releases it; viewers find streams here by
// slug. The hub keeps its claims in the store alive and tells the live
// directory about its streams; Lookup answers from that directory, for
// every node.
type Hub struct {
	channels Channels
	dir      live.Directory
	node     int
	claimTTL time.Duration
	renew    time.Duration
	hlsCfg   HLSConfig
	log      *slog.Logger
	onEvent  func(Event)
	// pageViewers counts a channel's viewers on Livehouse's pages.
	pageViewers func(channelID int64) int
	// playersElsewhere counts a channel's outside players on the nodes
	// that pull it through (SetPlayersElsewhere).
	playersElsewhere atomic.Pointer[func(slug string) int]
	// ladderCfg is the ABR ladder every stream gets (ladder.go).
	ladderCfg LadderConfig
	// ladderFor decides per channel at go-live (HubOptions.LadderFor).
	ladderFor func(ctx context.Context, channelID int64) (LadderChoice, error)

	stop      chan struct{}
	done      chan struct{}
	watchDone chan struct{} // watchInputs ended
	closeOnce sync.Once

	hlsRequests *prometheus.CounterVec
	ladderDrops *prometheus.CounterVec // ABR ladder rungs dropped (ladder.go)
	ingestBytes *prometheus.CounterVec
	egressBytes prometheus.Counter // LL-HLS body bytes sent to players
	hlsWaiting  atomic.Int64       // blocking LL-HLS requests in progress

	// Backup ingest (failover.go).
	drain         *live.Drain
	failoverAfter time.Duration
	failovers     prometheus.Counter

	mu      sync.Mutex
	claims  map[int64]*Claim // by channel id: reserved or live (the input on air)
	standby map[int64]*Claim // by channel id: the hot standby input
	bySlug  map[string]*Stream
	closing bool
}

// HubOptions configures a Hub.
type HubOptions struct {
	Channels Channels
	// Directory is the live directory this node's streams are published
	// in; its Self is this node.
	Directory live.Directory
	// ClaimTTL is how long a claim holds without renewal (default 4 s):
	// a node that dies frees its channels this long after its last
	// renewal. It stays below the cluster directory's expiry (5 s), so a
	// channel that reads offline can be claimed at once. ClaimRenew is
	// how often claims are renewed and lapsed claims of other nodes
	// closed (default 1 s).
	ClaimTTL, ClaimRenew time.Duration
	HLS                  HLSConfig
	Log                  *slog.Logger
	// Metrics registry; the hub registers its collectors there.
	Metrics prometheus.Registerer
	// OnEvent, if set, is called (synchronously) for live.started and live.ended.
	OnEvent func(Event)
	// PageViewers counts a channel's viewers on Livehouse's own pages
	// (watch page, studio: the room's connections), which the HLS count
	// leaves out; Status.Viewers and livehouse_viewers add them to the
	// external players. nil counts none.
	PageViewers func(channelID int64) int
	// Ladder is the ABR ladder every stream gets (ladder.go); off unless
	// Enabled.
	Ladder LadderConfig
	// LadderFor, if set, says whether a channel's stream gets the ladder
	// (its owner's choice, or the platform's Ladder.Enabled) and which of
	// Ladder.Rungs; the hub asks once per stream at go-live. On error the
	// hub logs it and follows Ladder.Enabled with every rung.
	LadderFor func(ctx context.Context, channelID int64) (LadderChoice, error)
	// FailoverAfter is how long a live channel's input on air may send
	// nothing before its hot standby takes over (default 1 s).
	FailoverAfter time.Duration
	// Drain, once started, makes the hub refuse new publishers (nil: never).
	Drain *live.Drain
}

// NewHub creates a hub, registers its metrics and starts keeping its
// claims; Close stops that.
func NewHub(o HubOptions) (*Hub, error) {
	if o.Directory == nil {
		return nil, errors.New("media hub: no live directory")
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 4 * time.Second
	}
	if o.ClaimRenew <= 0 {
		o.ClaimRenew = time.Second
	}
	if o.FailoverAfter <= 0 {
		o.FailoverAfter = defaultFailoverAfter
	}
	if o.Drain == nil {
		o.Drain = &live.Drain{}
	}
	h := &Hub{
		channels:      o.Channels,
		dir:           o.Directory,
		node:          o.Directory.Self().ID,
		claimTTL:      o.ClaimTTL,
		renew:         o.ClaimRenew,
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
		watchDone:     make(chan struct{}),
		drain:         o.Drain,
		standby:       map[int64]*Claim{},
		failoverAfter: o.FailoverAfter,
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livehouse_ingest_failovers_total",
			Help: "Backup ingest: switches of a live channel to its hot standby input on this node.",
		}),
		hlsCfg:      o.HLS,
		log:         o.Log,
		onEvent:     o.OnEvent,
		claims:      map[int64]*Claim{},
		pageViewers: o.PageViewers,
		bySlug:      map[string]*Stream{},
		hlsRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livehouse_hls_requests_total",
			Help: "LL-HLS requests by kind (playlist, part, segment, init) and result.",
		}, []string{"kind", "code"}),
		egressBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livehouse_hls_egress_bytes_total",
			Help: "LL-HLS bytes (playlists, parts, segments) this node sent to players.",
		}),
		ingestBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livehouse_ingest_bytes_total",
			Help: "Bytes received from publishers, by channel.",
		}, []string{"channel"}),
	}
	if h.onEvent == nil {
		h.onEvent = func(Event) {}
	}
	h.ladderCfg = o.Ladder
	h.ladderFor = o.LadderFor
	h.ladderDrops = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "livehouse_ladder_rungs_dropped_total",
		Help: "ABR ladder renditions dropped because they fell behind real time, by channel and rendition.",
	}, []string{"channel", "rung"})
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{h.hlsRequests, h.ingestBytes, h.ladderDrops, h.failovers, h.egressBytes, hubCollector{h}} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register media metrics: %w", err)
			}
		}
	}
	go h.keepClaims()
	go h.watchInputs()
	return h, nil
}

// Claim is a publisher's hold on a channel, from an accepted key until
// Release. At most one claim per channel exists at a time.
type Claim struct {
	hub     *Hub
	Channel ChannelRef
	session int64 // the open live session that holds the channel in the store
	ingest  prometheus.Counter
	stream  *Stream
	done    bool
	kick    func() // set by the ingest: drops the publisher's connection
	kicked  bool
	// Backup ingest (ClaimInput): the channel's publishers and this one's
	// part among them; nil for ingests that claim with Claim.
	inputs *inputs
	input  *input
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
	var kicks []func()
	for _, m := range []map[int64]*Claim{h.claims, h.standby} {
		for _, c := range m {
			if c.Channel.Slug == slug && !c.done && c.kick != nil {
				c.kicked = true
				kicks = append(kicks, c.kick)
			}
		}
	}
	h.mu.Unlock()
	for _, kick := range kicks {
		kick()
	}
	return len(kicks) > 0
}

// Claim resolves key and reserves its channel for one publisher: on this
// node first, then in the store (an open live session), so a second
// publisher of the channel is refused on every node.
func (h *Hub) Claim(ctx context.Context, key string) (*Claim, error) {
	ch, err := h.channels.ChannelForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return nil, ErrShutdown
	}
	if h.drain.Draining() {
		h.mu.Unlock()
		return nil, ErrDraining
	}
	if _, taken := h.claims[ch.ID]; taken {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %s (on this node)", ErrAlreadyLive, ch.Slug)
	}
	c := &Claim{hub: h, Channel: ch, ingest: h.ingestBytes.WithLabelValues(ch.Slug)}
	h.claims[ch.ID] = c
	h.mu.Unlock()

	id, err := h.channels.ClaimChannel(ctx, ch, h.node, h.claimTTL)
	if err == nil {
		h.mu.Lock()
		closing := h.closing
		if !closing {
			c.session = id
		}
		h.mu.Unlock()
		if !closing {
			return c, nil
		}
		// The hub began shutting down meanwhile: give the claim back.
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if derr := h.channels.DropClaim(dctx, id); derr != nil {
			h.log.Error("drop live claim", "channel", ch.Slug, "session", id, "err", derr)
		}
		cancel()
		err = ErrShutdown
	}
	h.mu.Lock()
	if h.claims[ch.ID] == c {
		delete(h.claims, ch.ID)
	}
	h.mu.Unlock()
	return nil, err
}

// GoLive starts the channel's stream with the publisher's tracks.
func (c *Claim) GoLive(ctx context.Context, tracks []*Track, in Ingest) (*Stream, error) {
	h := c.hub
	if c.inputs != nil && c.Standby() {
		return c.joinAsStandby(tracks)
	}
	log := h.log.With("channel", c.Channel.Slug)
	slug := c.Channel.Slug
	s := &Stream{Channel: c.Channel, Tracks: tracks, Ingest: in, liveAt: time.Now(), log: log,
		params: make([]*videoParams, len(tracks)), pageViewers: func() int { return h.pageViewersOf(c.Channel.ID) },
		playersElsewhere: func() int { return h.playersElsewhereOf(slug) }}
	hls, err := newHLSOutput(s.planHLSAudio(), h.hlsCfg, log)
	if err != nil {
		s.stopTranscoders()
		return nil, err
	}
	if s.hlsAudio != nil {
		hls.startWithLate(s.hlsAudio)
	}
	s.hls = hls
	for i, t := range tracks {
		if t.Codec.IsVideo() {
			s.params[i] = newVideoParams(t)
		}
	}
	if in := c.inputs; in != nil {
		if err := c.input.setTracks(tracks, tracks); err != nil {
			s.end()
			return nil, err
		}
		in.mu.Lock()
		in.stream = s
		in.mu.Unlock()
		s.inputs = in
	}
	h.startLadder(ctx, s)
	id := c.session
	s.SessionID = id
	if err := h.channels.SessionStarted(ctx, id, s.Status()); err != nil {
		s.end()
		return nil, fmt.Errorf("record live session: %w", err)
	}
	h.mu.Lock()
	if c.done || h.closing {
		h.mu.Unlock()
		s.end()
		return nil, ErrShutdown
	}
	c.stream = s
	h.bySlug[c.Channel.Slug] = s
	h.mu.Unlock()
	h.dir.Publish(c.Channel.ID, slug, s.liveState)
	log.Info("stream started", "session", id, "node", h.node, "protocol", in.Protocol, "tracks", describeTracks(tracks))
	h.onEvent(Event{Type: "live.started", Channel: c.Channel, At: s.StartedAt()})
	return s, nil
}

// AddIngestBytes counts bytes received for the claim's channel; cheap
// enough to call per packet.
func (c *Claim) AddIngestBytes(n uint64) { c.ingest.Add(float64(n)) }

// Release ends the stream (if it started) and frees the channel. It is safe
// to call more than once. The session is recorded as ended before the
// channel reads as offline, so whoever sees "offline" also sees the record.
func (c *Claim) Release(reason string) {
	h := c.hub
	if c.inputs != nil {
		h.mu.Lock()
		done := c.done
		h.mu.Unlock()
		if done {
			return
		}
		goesOn, drop := c.leave(reason)
		if drop != nil {
			h.log.Warn("dropping the standby input: the stream ended", "channel", c.Channel.Slug, "reason", reason)
			drop.kickNow()
		}
		if goesOn {
			h.mu.Lock()
			c.done = true
			h.mu.Unlock()
			return
		}
	}
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
		h.dir.Withdraw(c.Channel.ID)
	} else if c.session != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.channels.DropClaim(ctx, c.session); err != nil {
			h.log.Error("drop live claim", "channel", c.Channel.Slug, "session", c.session, "err", err)
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
	if h.standby[c.Channel.ID] == c {
		delete(h.standby, c.Channel.ID)
	}
	h.mu.Unlock()

	if s != nil {
		s.log.Info("stream ended", "session", s.SessionID, "reason", reason,
			"duration", time.Since(s.StartedAt()).Round(time.Millisecond))
		h.onEvent(Event{Type: "live.ended", Channel: c.Channel, At: time.Now()})
	}
}

func (h *Hub) pageViewersOf(channelID int64) int {
	if f := h.pageViewers; f != nil {
		return f(channelID)
	}
	return 0
}

// SetPlayersElsewhere gives the hub the count of a channel's outside
// players served by other nodes (edges pulling the stream through, from
// their load reports), which Status adds to this node's own. It is set
// after the edge service exists, which needs the hub first.
func (h *Hub) SetPlayersElsewhere(f func(slug string) int) { h.playersElsewhere.Store(&f) }

func (h *Hub) playersElsewhereOf(slug string) int {
	if f := h.playersElsewhere.Load(); f != nil {
		return (*f)(slug)
	}
	return 0
}

// ForgetPlayer stops counting a playback session of a channel live here
// (the node sent that player elsewhere, where it is counted now).
func (h *Hub) ForgetPlayer(slug, session string) {
	if s, ok := h.Stream(slug); ok {
		s.hls.players.Forget(session)
	}
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

// Lookup returns a channel's live state from the live directory: on
// whichever node ingests it.
func (h *Hub) Lookup(slug string) (live.State, bool) { return h.dir.Lookup(slug) }

// Shutdown refuses new publishers. Ingest servers end their streams by
// releasing their claims as their connections close.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
}

// Close stops keeping claims (after the ingest servers released theirs),
// bounded by ctx. Safe to call more than once.
func (h *Hub) Close(ctx context.Context) error {
	var err error
	h.closeOnce.Do(func() {
		close(h.stop)
		<-h.watchDone
		select {
		case <-h.done:
		case <-ctx.Done():
			err = fmt.Errorf("stop keeping live claims: %w", ctx.Err())
		}
	})
	return err
}
