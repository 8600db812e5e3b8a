// Package app wires Livehouse together: it opens the store, builds every
// domain, starts the RTMP and HTTP servers and tears them down in order.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/clientaddr"
	"github.com/livehouse/livehouse/internal/config"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/media/rtmp"
	"github.com/livehouse/livehouse/internal/money"
	"github.com/livehouse/livehouse/internal/room"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/trust"
	"github.com/livehouse/livehouse/internal/web"
)

// Migrations lists every domain's tables, in the order they are applied.
func Migrations() []store.MigrationSet {
	return []store.MigrationSet{trust.Migrations(), channel.Migrations(), room.Migrations(), money.Migrations()}
}

// App is a running Livehouse node.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	DB       *store.DB
	Channels *channel.Service
	Hub      *media.Hub
	Trust    *trust.Service
	Bus      *bus.Bus
	Rooms    *room.Service
	Money    *money.Service
	Relay    *money.Relay
	Frames   *media.FrameGrabber // nil without ffmpeg
	Gateway  *room.Gateway
	RTMP     *rtmp.Server
	Web      *web.Server

	// AdminToken is set only when this start generated it.
	AdminToken string
	// DemoKey is set only when this start created the demo channel.
	DemoKey string
}

// Option adjusts what Start builds beyond the config (tests, embedders).
type Option func(*options)

type options struct {
	limits        trust.Limits
	webhookSecret string // tests: overrides cfg.PaymentWebhookSecret
}

// WithTrustLimits replaces the default abuse-defence rate limits.
func WithTrustLimits(l trust.Limits) Option { return func(o *options) { o.limits = l } }

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
	a = &App{Config: cfg, Log: log}
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
	if n, err := a.Channels.CloseStaleSessions(ctx); err != nil {
		return a, err
	} else if n > 0 {
		log.Warn("closed live sessions left open by an earlier run", "count", n)
	}
	a.Trust, err = trust.NewService(ctx, a.DB, a.Channels, o.limits, log.With("component", "trust"), a.announceIdentity)
	if err != nil {
		return a, err
	}
	if a.AdminToken, err = a.Trust.Admin.EnsureToken(ctx, cfg.AdminToken); err != nil {
		return a, err
	}
	if cfg.DemoChannel {
		if err = a.ensureDemoChannel(ctx); err != nil {
			return a, err
		}
	}

	if a.Bus, err = bus.Open(cfg.NATSURL, log.With("component", "bus")); err != nil {
		return a, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Hub, err = media.NewHub(media.HubOptions{
		Channels: a.Channels,
		HLS: media.HLSConfig{
			PartDuration:      cfg.HLSPartDuration,
			SegmentDuration:   cfg.HLSSegmentDuration,
			SegmentCount:      cfg.HLSSegmentCount,
			PlayersPerAddress: cfg.HLSPlayersPerAddress,
		},
		Log:     log.With("component", "media"),
		Metrics: reg,
		// The room hears live.started / live.ended, on every node.
		OnEvent: func(e media.Event) { room.AnnounceLive(a.Bus.Conn, e) },
	})
	if err != nil {
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
	a.Rooms = room.NewService(a.DB, a.Trust, a.Hub, a.Bus.Conn, log.With("component", "room"))
	a.Money = money.NewService(a.DB, int64(cfg.PlatformSharePercent)*100, log.With("component", "money"), money.Deps{Accounts: a.Trust.Users, Channels: a.Channels})
	a.Trust.Fans = a.Money // members-only and medal-only chat, badges
	a.Money.StartGroupCommit()
	a.Rooms.SetGiftReplayer(a.Money)
	a.Relay = a.Money.StartRelay(a.Bus.Conn, money.RelayOptions{OutboxRetention: cfg.OutboxRetention})
	roomHub := room.NewHub(a.Bus.Conn, randomNodeName(), room.HubOptions{}, log.With("component", "room"))
	// Viewers = external HLS players + the watch pages' room connections.
	a.Hub.SetPageViewers(roomHub.Online)
	if a.Gateway, err = room.NewGateway(a.Rooms, roomHub, log.With("component", "ws")); err != nil {
		return a, err
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_room_likes_dropped_total",
		Help: "Like taps dropped for arriving faster than one report a second per connection or over 50 per report."},
		func() float64 { return float64(a.Rooms.LikesDropped()) }))
	a.RTMP, err = rtmp.Listen(cfg.RTMPAddr, rtmp.Options{
		Hub: a.Hub, ReadTimeout: cfg.RTMPReadTimeout, Log: log.With("component", "rtmp"),
	})
	if err != nil {
		return a, err
	}
	proxies, err := clientaddr.Parse(cfg.TrustedProxies)
	if err != nil {
		return a, err
	}
	a.Web, err = web.Listen(cfg.HTTPAddr, web.Options{
		Log: log.With("component", "http"), DB: a.DB, Channels: a.Channels, Hub: a.Hub, Trust: a.Trust, Metrics: reg,
		Rooms: a.Rooms, Gateway: a.Gateway, Money: a.Money, Relay: a.Relay, PaymentWebhookSecret: cfg.PaymentWebhookSecret,
		DataDir: cfg.DataDir, Online: roomHub.Online,
		KickStream: func(slug string) {
			if err := a.Bus.Conn.Publish(kickSubject, []byte(slug)); err != nil {
				log.Error("ask the nodes to end a stream", "channel", slug, "err", err)
			}
		},
		IngestURL:    "rtmp://" + net.JoinHostPort(cfg.PublicHost, port(a.RTMP.Addr())) + "/live",
		Proxies:      proxies,
		TLSCert:      cfg.TLSCert,
		TLSKey:       cfg.TLSKey,
		BodyTimeout:  cfg.HTTPBodyTimeout,
		MetricsToken: cfg.MetricsToken,
		MetricsAddr:  cfg.MetricsAddr,
	})
	if err != nil {
		return a, err
	}
	a.Frames = media.StartFrameGrabber(a.Hub, cfg.DataDir, a.scheme()+"://"+loopback(a.Web.Addr()), media.DefaultFrameInterval, log.With("component", "frames"))
	log.Info("livehouse started", "http", a.Web.Addr().String(), "rtmp", a.RTMP.Addr().String(), "db", a.DB.Location, "bus", a.Bus.Location)
	return a, nil
}

// announceIdentity tells every node's open connections that an account's
// identity changed (the bus opens after trust, but no request reaches trust
// before both are up).
func (a *App) announceIdentity(c trust.IdentityChange) {
	if a.Bus == nil {
		return
	}
	data, _ := json.Marshal(c)
	if err := a.Bus.Conn.Publish(trust.IdentitySubject, data); err != nil {
		a.Log.Error("announce identity change", "user", c.UserID, "kind", c.Kind, "err", err)
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
// the end), then HTTP, then the store. Safe on a partly started App.
func (a *App) Shutdown(ctx context.Context) error {
	var errs []error
	if a.Hub != nil {
		a.Hub.Shutdown()
	}
	if a.RTMP != nil {
		errs = append(errs, a.RTMP.Close(ctx))
	}
	a.Frames.Stop()
	if a.Gateway != nil {
		errs = append(errs, a.Gateway.Close(ctx))
	}
	if a.Web != nil {
		errs = append(errs, a.Web.Shutdown(ctx))
	}
	if a.Rooms != nil {
		a.Rooms.Close()
	}
	if a.Money != nil {
		errs = append(errs, a.Money.Close(ctx)) // the gift writer, then the relay's loops
	}
	if a.Bus != nil {
		a.Bus.Close()
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
	fmt.Fprintf(w, "\nLivehouse is running.\n")
	fmt.Fprintf(w, "  OBS server:   rtmp://%s/live\n", net.JoinHostPort(host, port(a.RTMP.Addr())))
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

// randomNodeName names this process on the bus (presence counts per node).
func randomNodeName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "node-" + hex.EncodeToString(b[:])
}

func port(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return strconv.Itoa(ta.Port)
	}
	_, p, _ := net.SplitHostPort(a.String())
	return p
}
