// Package app wires Livehouse together: it opens the store, builds every
// domain, starts the RTMP and HTTP servers and tears them down in order.
package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/clientaddr"
	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/edge"
	"github.com/livehouse/livehouse/internal/insight"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/rtmp"
	"github.com/livehouse/livehouse/internal/media/srt"
	"github.com/livehouse/livehouse/internal/media/webrtc"
	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/moderation/filter"
	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/notify"
	"github.com/livehouse/livehouse/internal/recording"
	"github.com/livehouse/livehouse/internal/room"
	"github.com/livehouse/livehouse/internal/simulcast"
	"github.com/livehouse/livehouse/internal/social"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/tlsfile"
	"github.com/livehouse/livehouse/internal/web"
)

// Migrations lists every domain's tables, in the order they are applied
// (moderation's and social's refer to account's users).
func Migrations() []store.MigrationSet {
	return []store.MigrationSet{account.Migrations(), moderation.Migrations(), social.Migrations(), channel.Migrations(),
		room.Migrations(), money.Migrations(), live.Migrations(), notify.Migrations(), recording.Migrations(), simulcast.Migrations(),
		filter.Migrations()}
}

// App is a running Livehouse node.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	DB       *store.DB
	Channels *channel.Service
	Node     *live.Registry // this process's node id
	Live     live.Directory // which channel is live on which node
	Hub      *media.Hub
	Accounts *account.Service
	Bus      *bus.Bus
	Rooms    *room.Service
	Money    *money.Service
	Notify   *notify.Service
	// Recorder records this node's live sessions (replays).
	Recorder *recording.Service
	// Simulcast re-sends this node's live streams to other platforms.
	Simulcast *simulcast.Service
	// Edge serves LL-HLS of streams other nodes ingest, reports this
	// node's load and schedules viewers onto edges (GET /api/play).
	Edge *edge.Service

	// ContentFilter judges danmaku, names and titles (term lists,
	// heuristics, classifier).
	ContentFilter *filter.Engine

	moderation *moderation.Service
	social     *social.Service
	channelAPI *channel.Handlers
	insight    *insight.Handlers
	// domains are closed in the reverse order they were built in.
	domains []interface{ Close(context.Context) error }
	Frames  *media.FrameGrabber // nil without ffmpeg
	Gateway *room.Gateway
	RTMP    *rtmp.Server
	RTMPS   *rtmp.Server   // nil unless --rtmps
	SRT     *srt.Server    // nil when --srt is empty
	WebRTC  *webrtc.Server // WHIP ingest and WHEP playback
	Web     *web.Server

	// AdminToken is set only when this start generated it.
	AdminToken string
	// DemoKey is set only when this start created the demo channel.
	DemoKey string

	// drain is set on SIGTERM (Drain); gate refuses WebSocket joins meanwhile.
	drain *live.Drain
	gate  *drainGate

	shutdownOnce sync.Once
	shutdownErr  error
}

// Option adjusts what Start builds beyond the config (tests, embedders).
type Option func(*options)

type options struct {
	limits        account.Limits
	webhookSecret string // tests: overrides cfg.PaymentWebhookSecret
	filter        moderation.Filter
	chatNotify    func(context.Context, room.ChatNotice)
}

// WithContentFilter adds a filter to the moderation stage every danmaku passes (after the channel's
// rules), over the WebSocket, HTTP and check-message alike.
func WithContentFilter(f moderation.Filter) Option { return func(o *options) { o.filter = f } }

// WithChatNotify gives the room a hook for chat notices (mentions, replies).
func WithChatNotify(f func(context.Context, room.ChatNotice)) Option {
	return func(o *options) { o.chatNotify = f }
}

// WithLimits replaces the default abuse-defence rate limits.
func WithLimits(l account.Limits) Option { return func(o *options) { o.limits = l } }

// Start opens the store and starts serving. On error everything already
// started is stopped again.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (a *App, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.webhookSecret != "" {
		cfg.PaymentWebhookSecret = o.webhookSecret
	}
	rungs, err := media.ParseRungs(cfg.LadderRungs)
	if err != nil {
		return nil, fmt.Errorf("--ladder-rungs: %w", err)
	}
	a = &App{Config: cfg, Log: log, drain: &live.Drain{}}
	defer func() {
		if err != nil {
			a.Shutdown(context.Background())
		}
	}()
	a.DB, err = store.Open(ctx, cfg.DBURL, cfg.DataDir)
	if err != nil {
		return a, err
	}
	if err = a.DB.Migrate(ctx, Migrations()...); err != nil {
		return a, err
	}
	a.Channels = channel.NewService(a.DB)
	if a.Node, err = live.Register(ctx, a.DB, live.RegistryOptions{DataDir: cfg.DataDir, Log: log.With("component", "live")}); err != nil {
		return a, err
	}
	if n, err := a.Channels.CloseStaleSessions(ctx, a.Node.ID()); err != nil {
		return a, err
	} else if n > 0 {
		log.Warn("closed live sessions left open by an earlier run of this node or by nodes that died", "count", n)
	}
	// Moderation's and social's data come first: account asks moderation
	// for a principal's roles; every other domain asks account who calls.
	modStore, follows := moderation.NewStore(a.DB), social.NewStore(a.DB)
	// One moderation stage for every way a text is checked (danmaku,
	// check-message, names and titles): the filters run with a deadline.
	screen, names := a.moderationStage(modStore, o, log)
	a.Accounts, err = account.New(ctx, account.Deps{DB: a.DB, Roles: modStore, Channels: a.Channels, Limits: o.limits,
		Log: log.With("component", "account"), Publish: a.publish, ScreenName: names.Username})
	if err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Accounts)
	if a.AdminToken, err = a.Accounts.Admin.EnsureToken(ctx, cfg.AdminToken); err != nil {
		return a, err
	}
	if cfg.DemoChannel {
		if err = a.ensureDemoChannel(ctx); err != nil {
			return a, err
		}
	}

	if a.Bus, err = bus.Open(cfg.NATSURL, log.With("component", "bus"), bus.WithStoreDir(filepath.Join(cfg.DataDir, "nats"))); err != nil {
		return a, err
	}
	// One node alone keeps its live directory in memory; nodes sharing a
	// bus hear each other's streams on it.
	if cfg.NATSURL == "" {
		a.Live = live.NewLocal(a.Node.ID())
	} else if a.Live, err = live.NewCluster(a.Bus.Conn, a.Node.ID(), live.ClusterOptions{Log: log.With("component", "live")}); err != nil {
		return a, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Presence counts are per node, named by the node's assigned id.
	roomHub := room.NewHub(a.Bus.Conn, "node-"+strconv.Itoa(a.Node.ID()), room.HubOptions{}, log.With("component", "room"))
	a.Hub, err = media.NewHub(media.HubOptions{
		// Viewers = external HLS players + the watch pages' room connections.
		PageViewers: roomHub.OnlineChannel,
		Channels:    a.Channels,
		Directory:   a.Live,
		HLS: media.HLSConfig{
			PartDuration:      cfg.HLSPartDuration,
			SegmentDuration:   cfg.HLSSegmentDuration,
			SegmentCount:      cfg.HLSSegmentCount,
			PlayersPerAddress: cfg.HLSPlayersPerAddress,
		},
		Ladder: media.LadderConfig{Enabled: cfg.Ladder, Rungs: rungs, Preset: cfg.LadderPreset, Encoder: cfg.LadderEncoder,
			MaxLag: cfg.LadderMaxLag, Threads: cfg.LadderThreads},
		// Each channel may override --ladder (the studio's "Quality ladder")
		// and pick some of its rungs, unless --ladder-channels=false.
		LadderFor: func(ctx context.Context, channelID int64) (media.LadderChoice, error) {
			if !cfg.LadderChannels {
				return media.LadderChoice{On: cfg.Ladder}, nil
			}
			on, picked, err := a.Channels.LadderFor(ctx, channelID, cfg.Ladder)
			return media.LadderChoice{On: on, Rungs: picked}, err
		},
		Log:     log.With("component", "media"),
		Metrics: reg,
		Drain:   a.drain,
		// The room hears live.started / live.ended, on every node; the
		// followers hear of a start from the one node that ingests it.
		OnEvent: func(e media.Event) {
			room.AnnounceLive(a.Bus.Conn, e)
			a.notifyLive(e)
			if e.Type == "live.started" && a.Recorder != nil {
				a.Recorder.OnLive(e.Channel)
			}
			if a.Simulcast != nil {
				a.Simulcast.OnLive(e)
			}
		},
	})
	if err != nil {
		return a, err
	}
	// Every node serves LL-HLS: its own streams from the hub, the others'
	// pulled through (an edge ingests nothing, so all of them).
	if a.Edge, err = edge.New(edge.Deps{Directory: a.Live, Local: a.Hub.ServeHLS, ForgetLocal: a.Hub.ForgetPlayer, Conn: a.Bus.Conn, NodeID: a.Node.ID(),
		Role: cfg.Role, Region: cfg.Region, Upstream: cfg.Upstream, CacheBytes: int64(cfg.EdgeCacheMiB) << 20, Drain: a.drain,
		PlayersPerAddress: cfg.HLSPlayersPerAddress,
		Authorize:         a.Accounts.Authorize, Metrics: reg, Log: log.With("component", "edge")}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Edge)
	// A stream's viewers include outside players on the edges pulling it.
	a.Hub.SetPlayersElsewhere(a.Edge.PlayersElsewhere)
	// Account keeps logins and settings in memory; changes on any node reach it.
	if err := a.Bus.Subscribe(a.Accounts.OnEvent, bus.IdentityChanged, bus.SettingsChanged); err != nil {
		return a, err
	}
	// A channel disabled on any node ends its stream on whichever node ingests it.
	if _, err := a.Bus.Conn.Subscribe(kickSubject, func(m *nats.Msg) {
		if a.Hub.Kick(string(m.Data)) {
			log.Info("ended the stream of a disabled channel", "channel", string(m.Data))
		}
	}); err != nil {
		return a, fmt.Errorf("subscribe to %s: %w", kickSubject, err)
	}
	if a.Money, err = money.New(money.Config{
		Deps: money.Deps{Accounts: a.Accounts.Users, Channels: a.Channels, Publish: a.publish, ScreenName: names.Label},
		DB:   a.DB, Log: log.With("component", "money"), PlatformShareBP: int64(cfg.PlatformSharePercent) * 100,
		Bus: a.Bus, OutboxRetention: cfg.OutboxRetention,
		Auth: a.Accounts, Users: a.Accounts.Users, Directory: a.Channels, WebhookSecret: []byte(cfg.PaymentWebhookSecret),
	}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Money) // closes the gift writer, then the relay's loops
	if a.ContentFilter, err = filter.New(filter.Deps{DB: a.DB, Bus: a.Bus, DataDir: cfg.DataDir, Accounts: a.Accounts,
		Log: log.With("component", "modfilter")}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.ContentFilter)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_moderation_filter_overruns_total",
		Help: "Content filter runs that missed the moderation stage's deadline (their message was let through)."},
		func() float64 { return float64(screen.Overruns()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_moderation_screened_total",
		Help: "Texts screened by the moderation stage."},
		func() float64 { return float64(screen.Screened()) }))
	// Money tells members and medal holders apart (members-only and
	// medal-only chat, badges) for moderation and the room.
	if a.moderation, err = moderation.New(moderation.Deps{Store: modStore, Accounts: a.Accounts, Users: a.Accounts.Users, Channels: a.Channels,
		Follows: follows, Fans: a.Money, Screen: screen, Rooms: lateRooms{a}, Learner: a.ContentFilter, Publish: a.publish, Log: log.With("component", "moderation")}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.moderation)
	if a.social, err = social.New(social.Deps{Store: follows, Accounts: a.Accounts, Publish: a.publish}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.social)
	if a.Notify, err = notify.New(ctx, notify.Deps{DB: a.DB, Accounts: a.Accounts, Live: a.Hub, Conn: a.Bus.Conn, Durable: a.Bus, RemindEvery: 10 * time.Minute,
		VAPID:     notify.VAPID{Public: cfg.VAPIDPublicKey, Private: cfg.VAPIDPrivateKey, Subject: cfg.VAPIDSubject},
		AllowHTTP: cfg.PushAllowHTTP, Log: log.With("component", "notify")}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Notify)
	chatNotify := o.chatNotify
	if chatNotify == nil {
		// Mentions and replies land on the bell (notify queues and never blocks).
		chatNotify = func(ctx context.Context, ev room.ChatNotice) {
			a.Notify.ChatNotice(ctx, ev.UserID, ev.Kind, ev.Channel, ev.From, ev.MessageID, ev.Excerpt)
		}
	}
	if a.Rooms, err = room.New(room.Deps{DB: a.DB, Channels: a.Channels, Moderation: modStore, Follows: follows, Fans: a.Money,
		Accounts: a.Accounts, Live: a.Live, Bus: a.Bus, Log: log.With("component", "room"), Screen: screen, Verdicts: modStore, Learner: a.ContentFilter,
		LogRetention: cfg.RoomLogRetention, Users: a.Accounts.Users, OwnedChannel: a.ownedChannel, Notify: chatNotify}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Rooms)
	if a.Recorder, err = recording.New(ctx, recording.Deps{DB: a.DB, Hub: a.Hub, Channels: a.Channels, Accounts: a.Accounts,
		Messages: a.Rooms, Fans: a.Money, DataDir: cfg.DataDir, Node: a.Node.ID(), Remote: a.Edge.ProxyToNode, RetentionDays: cfg.RecordingRetentionDays,
		RetentionGiB: cfg.RecordingRetentionGiB, Default: cfg.RecordingDefault, Log: log.With("component", "recording")}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Recorder)
	for name, v := range map[string]*atomic.Int64{"sent": &a.Notify.Pusher().Sent, "failed": &a.Notify.Pusher().Failed,
		"gone": &a.Notify.Pusher().Gone, "dropped": &a.Notify.Pusher().Dropped} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_web_push_" + name + "_total",
			Help: "Web Push messages " + name + " (gone: the push service said 404/410 and the subscription was deleted; dropped: the queue was full)."},
			func() float64 { return float64(v.Load()) }))
	}
	if a.Gateway, err = room.NewGateway(a.Rooms, roomHub, log.With("component", "ws")); err != nil {
		return a, err
	}
	a.gate = &drainGate{drain: a.drain, next: a.Gateway}
	if err != nil {
		return a, err
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_room_likes_dropped_total",
		Help: "Like taps dropped for arriving faster than one report a second per connection or over 50 per report."},
		func() float64 { return float64(a.Rooms.LikesDropped()) }))
	reg.MustRegister(append(a.Rooms.Collectors(), roomHub.Collectors()...)...)
	// Simulcast exists before any ingest listens: the hub tells it of every stream.
	var simulcastKey []byte
	if cfg.SimulcastKey != "" {
		simulcastKey, _ = base64.StdEncoding.DecodeString(cfg.SimulcastKey) // checked by Validate
	}
	simulcastCAs, err := destinationRoots(cfg.SimulcastCA)
	if err != nil {
		return a, err
	}
	if a.Simulcast, err = simulcast.New(simulcast.Deps{DB: a.DB, Channels: a.Channels, Accounts: a.Accounts, Streams: a.Hub,
		Conn: a.Bus.Conn, DataDir: cfg.DataDir, Key: simulcastKey, RootCAs: simulcastCAs, Node: a.Node.ID(),
		Log: log.With("component", "simulcast")}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.Simulcast)
	// HTTPS and RTMPS serve one certificate, reloaded when renewed.
	var certs *tlsfile.Reloader
	if cfg.TLSCert != "" {
		if certs, err = tlsfile.New(cfg.TLSCert, cfg.TLSKey, log.With("component", "tls")); err != nil {
			return a, err
		}
	}
	// An edge listens for no publishers (RTMP, RTMPS, SRT, WHIP); WHEP
	// playback is the origin's too (it redirects there anyway).
	var webrtcRoutes http.Handler
	if cfg.Ingests() {
		if a.RTMP, err = rtmp.Listen(cfg.RTMPAddr, rtmp.Options{
			Hub: a.Hub, ReadTimeout: cfg.RTMPReadTimeout, Log: log.With("component", "rtmp"), Relay: a.Edge.RelayAddr,
		}); err != nil {
			return a, err
		}
		if cfg.RTMPSAddr != "" {
			if a.RTMPS, err = rtmp.Listen(cfg.RTMPSAddr, rtmp.Options{Hub: a.Hub, ReadTimeout: cfg.RTMPReadTimeout,
				Log: log.With("component", "rtmps"), TLS: certs.Config()}); err != nil {
				return a, err
			}
		}
		if cfg.SRTAddr != "" {
			if a.SRT, err = srt.Listen(cfg.SRTAddr, srt.Options{Hub: a.Hub, Passphrase: cfg.SRTPassphrase, Relay: a.Edge.RelayAddr,
				Timeouts: srt.Timeouts{Read: cfg.RTMPReadTimeout}, Log: log.With("component", "srt")}); err != nil {
				return a, err
			}
		}
		if a.WebRTC, err = webrtc.New(webrtc.Options{Hub: a.Hub, Log: log.With("component", "webrtc"), UDPAddr: cfg.WebRTCUDPAddr,
			TCPAddr: cfg.WebRTCTCPAddr, PublicIPs: config.List(cfg.WebRTCPublicIPs), STUN: config.List(cfg.STUNServers),
			Relay: a.Edge.RelayAddr}); err != nil {
			return a, err
		}
		mux := http.NewServeMux()
		a.WebRTC.Routes(mux)
		webrtcRoutes = mux
	}
	proxies, err := clientaddr.Parse(cfg.TrustedProxies)
	if err != nil {
		return a, err
	}
	kick := func(slug string) {
		if err := a.Bus.Conn.Publish(kickSubject, []byte(slug)); err != nil {
			log.Error("ask the nodes to end a stream", "channel", slug, "err", err)
		}
	}
	if a.channelAPI, err = channel.New(channel.Deps{Service: a.Channels, Live: a.Hub, Accounts: a.Accounts, Users: a.Accounts.Users, ScreenTitle: names.Title,
		Follows: follows, Watch: a.Money, Files: cfg.DataDir, Kick: kick, Publish: a.publish,
		Ladder: channel.LadderPlatform{Default: cfg.Ladder, FFmpeg: media.FFmpegAvailable(), Choice: cfg.LadderChannels,
			Rungs: offeredRungs(rungs)}}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.channelAPI)
	if a.insight, err = insight.New(insight.Sources{Accounts: a.Accounts, Live: a.Hub, Rooms: a.Rooms, Online: roomHub.Online, Money: a.Money}); err != nil {
		return a, err
	}
	a.domains = append(a.domains, a.insight)
	a.Web, err = web.Listen(cfg.HTTPAddr, web.Options{
		Log: log.With("component", "http"), DB: a.DB, Metrics: reg, Draining: a.drain.Draining,
		Routes: []func(*http.ServeMux){a.Accounts.Routes, a.moderation.Routes, a.social.Routes, a.channelAPI.Routes, a.Rooms.Routes, a.Gateway.Routes,
			a.Money.Routes, a.insight.Routes, a.Notify.Routes, a.Recorder.Routes, a.Simulcast.Routes, a.Edge.Routes, a.ContentFilter.Routes},
		Authenticate: a.Accounts.Authenticate,
		Authorize:    a.Accounts.AuthorizeContext,
		Channels:     a.Channels,
		HLS:          a.Edge.ServeHLS,
		MediaOrigins: a.mediaOrigins,
		Gateway:      a.gate,
		IngestURL:    a.rtmpURL(),
		RTMPSURL:     a.rtmpsURL(),
		SRTURL:       a.srtURL(),
		Certs:        certs,
		Proxies:      proxies,
		TLSCert:      cfg.TLSCert,
		TLSKey:       cfg.TLSKey,
		BodyTimeout:  cfg.HTTPBodyTimeout,
		MetricsToken: cfg.MetricsToken,
		MetricsAddr:  cfg.MetricsAddr,
		WebRTC:       webrtcRoutes,
	})
	if err != nil {
		return a, err
	}
	// Other nodes pull this node's LL-HLS and replays from --public-url
	// when it is set (a cluster), else from --public-host and the port.
	self := a.scheme() + "://" + net.JoinHostPort(cfg.PublicHost, port(a.Web.Addr()))
	if cfg.PublicURL != "" {
		self = strings.TrimSuffix(cfg.PublicURL, "/")
	}
	a.Live.Advertise(self)
	a.Edge.Advertise(self, self)
	if a.RTMP != nil {
		a.Edge.AdvertiseRTMP(relayAddr(a.RTMP.Addr(), self))
	}
	a.Frames = media.StartFrameGrabber(a.Hub, cfg.DataDir, a.scheme()+"://"+loopback(a.Web.Addr()), media.DefaultFrameInterval, log.With("component", "frames"))
	log.Info("livehouse started", "http", a.Web.Addr().String(), "rtmp", a.rtmpAddr(), "rtmps", a.rtmpsAddr(), "srt", a.srtAddr(),
		"webrtc udp", a.webrtcAddr(), "db", a.DB.Location, "bus", a.Bus.Location,
		"node", a.Node.ID(), "role", cfg.Role, "region", cfg.Region)
	return a, nil
}

// notifyLive tells the notify domain a stream on this node started or
// ended (once cluster-wide: only the ingesting node's hub reports it).
func (a *App) notifyLive(e media.Event) {
	if a.Notify == nil {
		return
	}
	switch e.Type {
	case "live.started":
		session := e.At.UnixMilli() // a stream gone again already: any id unique to it
		if st, ok := a.Hub.Lookup(e.Channel.Slug); ok && st.SessionID != 0 {
			session = st.SessionID
		}
		a.Notify.WentLive(e.Channel.ID, e.Channel.Slug, session)
	case "live.ended":
		a.Notify.LiveEnded(e.Channel.ID)
	}
}

// rtmpURL is the RTMP server URL for OBS, "" on an edge (no ingest).
func (a *App) rtmpURL() string {
	if a.RTMP == nil {
		return ""
	}
	return "rtmp://" + net.JoinHostPort(a.Config.PublicHost, port(a.RTMP.Addr())) + "/live"
}

func (a *App) rtmpAddr() string {
	if a.RTMP == nil {
		return "off (edge)"
	}
	return a.RTMP.Addr().String()
}

func (a *App) webrtcAddr() string {
	if a.WebRTC == nil {
		return "off (edge)"
	}
	return a.WebRTC.UDPAddr().String()
}

// mediaOrigins are the other nodes' public origins: the watch page may
// load LL-HLS from any of them (the scheduler's edges).
func (a *App) mediaOrigins() []string {
	var out []string
	for _, n := range a.Edge.Loads().Nodes() {
		if u, err := url.Parse(n.PublicURL); err == nil && u.Host != "" && !n.Self {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	return out
}

// srtURL is the SRT publish URL without its key, "" when SRT is off.
func (a *App) srtURL() string {
	if a.SRT == nil {
		return ""
	}
	return "srt://" + net.JoinHostPort(a.Config.PublicHost, port(a.SRT.Addr())) + "?streamid=publish:"
}

// rtmpsURL is the RTMPS server URL for OBS, "" when RTMPS is off.
func (a *App) rtmpsURL() string {
	if a.RTMPS == nil {
		return ""
	}
	return "rtmps://" + net.JoinHostPort(a.Config.PublicHost, port(a.RTMPS.Addr())) + "/live"
}

func (a *App) rtmpsAddr() string {
	if a.RTMPS == nil {
		return "off"
	}
	return a.RTMPS.Addr().String()
}

func (a *App) srtAddr() string {
	if a.SRT == nil {
		return "off"
	}
	return a.SRT.Addr().String()
}

// publish sends a domain's event to every node (the bus opens after
// account, but no request reaches a domain before both are up).
func (a *App) publish(e bus.Event) {
	if a.Bus == nil {
		return
	}
	if err := a.Bus.Publish(e); err != nil {
		a.Log.Error("publish event", "type", e.Type, "err", err)
	}
}

// scheme is how this node's pages are reached: https with --tls-cert.
func (a *App) scheme() string {
	if a.Web != nil && a.Web.TLS() {
		return "https"
	}
	return "http"
}

// kickSubject carries the slug of a channel whose stream must end.
const kickSubject = "platform.kick"

// loopback is addr with an unspecified host replaced by 127.0.0.1, for
// the node to reach itself.
// relayAddr is where other origins relay standby encoders to this node's
// RTMP listener: its own host when it listens on one address, else the
// host other nodes reach this node's HTTP side at (self).
func relayAddr(rtmpAddr net.Addr, self string) string {
	host, p, err := net.SplitHostPort(rtmpAddr.String())
	if err != nil {
		return rtmpAddr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if u, err := url.Parse(self); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
	}
	return net.JoinHostPort(host, p)
}

func loopback(addr net.Addr) string {
	host, p, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, p)
}

// ensureDemoChannel creates the demo channel on a first start (no channels yet).
func (a *App) ensureDemoChannel(ctx context.Context) error {
	existing, err := a.Channels.List(ctx, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	slug, title, cat := "demo", "Demo channel", "Just Chatting"
	_, key, err := a.Channels.Create(ctx, channel.Input{Slug: &slug, Title: &title, Category: &cat}, 0)
	if errors.Is(err, channel.ErrSlugTaken) {
		return nil // another node created it first
	}
	if err != nil {
		return fmt.Errorf("create demo channel: %w", err)
	}
	a.DemoKey = key
	return nil
}

// Shutdown stops ingest first (ending every stream cleanly, so players see
// the end), then HTTP, then the domains, the bus and the store, each
// bounded by ctx. Safe on a partly started App, and to call again (it
// returns the first call's result).
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	var errs []error
	if a.Hub != nil {
		a.Hub.Shutdown()
	}
	if a.RTMP != nil {
		errs = append(errs, a.RTMP.Close(ctx))
	}
	if a.RTMPS != nil {
		errs = append(errs, a.RTMPS.Close(ctx))
	}
	if a.SRT != nil {
		errs = append(errs, a.SRT.Close(ctx))
	}
	if a.WebRTC != nil {
		errs = append(errs, a.WebRTC.Close(ctx))
	}
	if a.Hub != nil {
		errs = append(errs, a.Hub.Close(ctx))
	}
	a.Frames.Stop()
	if a.Gateway != nil {
		errs = append(errs, a.Gateway.Close(ctx))
	}
	if a.Web != nil {
		errs = append(errs, a.Web.Shutdown(ctx))
	}
	// No request reaches the domains any more: each stops what it owns (the
	// room flushes its log), newest first.
	for _, d := range slices.Backward(a.domains) {
		errs = append(errs, d.Close(ctx))
	}
	if a.Live != nil {
		errs = append(errs, a.Live.Close(ctx))
	}
	if a.Bus != nil {
		a.Bus.Close()
	}
	if a.Node != nil {
		errs = append(errs, a.Node.Close(ctx))
	}
	if a.DB != nil {
		errs = append(errs, a.DB.Close())
	}
	return errors.Join(errs...)
}

// PrintWelcome tells a new user how to go live and where to watch.
func (a *App) PrintWelcome(w io.Writer) {
	host := a.Config.PublicHost
	httpURL := a.scheme() + "://" + net.JoinHostPort(host, port(a.Web.Addr()))
	fmt.Fprintf(w, "\nLivehouse is running (role %s).\n", a.Config.Role)
	if a.RTMP != nil {
		fmt.Fprintf(w, "  OBS server:   rtmp://%s/live\n", net.JoinHostPort(host, port(a.RTMP.Addr())))
	}
	if u := a.rtmpsURL(); u != "" {
		fmt.Fprintf(w, "  RTMPS:        %s   (the same stream key, encrypted)\n", u)
	}
	if u := a.srtURL(); u != "" {
		fmt.Fprintf(w, "  SRT:          %sSTREAM_KEY\n", u)
	}
	fmt.Fprintf(w, "  WHIP (OBS 30+, browsers): %s/whip/demo   (Bearer Token: the stream key)\n", httpURL)
	if a.DemoKey != "" {
		fmt.Fprintf(w, "  Stream key:   %s   (demo channel; shown once, stored hashed)\n", a.DemoKey)
	}
	fmt.Fprintf(w, "  Home:         %s/   (English and 简体中文; the first account to sign up runs the platform)\n", httpURL)
	fmt.Fprintf(w, "  Watch:        %s/c/demo\n", httpURL)
	fmt.Fprintf(w, "  API:          %s/api/channels\n", httpURL)
	if a.AdminToken != "" {
		fmt.Fprintf(w, "  Admin token:  %s   (shown once, stored hashed)\n", a.AdminToken)
	}
	if a.DemoKey == "" {
		fmt.Fprintf(w, "  (Stream keys are shown only when made; get a new one with\n"+
			"   curl -X POST -H 'Authorization: Bearer ADMIN_TOKEN' %s/api/channels/demo/stream-key)\n", httpURL)
	}
	fmt.Fprintln(w)
}

func port(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return strconv.Itoa(ta.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// ownedChannel is the slug of the first channel an account owns ("": none),
// for the room's user cards.
func (a *App) ownedChannel(ctx context.Context, ownerID int64) (string, error) {
	chs, err := a.Channels.ByOwner(ctx, ownerID)
	if err != nil || len(chs) == 0 {
		return "", err
	}
	return chs[0].Slug, nil
}
