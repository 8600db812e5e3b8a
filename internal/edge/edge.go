// Package edge lets any node serve viewers of a stream another node
// ingests: LL-HLS pulled through from the origin (or another edge) with
// request coalescing and a bounded memory cache, replays proxied to the node
// that recorded them, every node's load report, and the scheduler
// (GET /api/play/SLUG) that sends a viewer to the least-loaded healthy edge.
package edge

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/policy"
)

// Deps are what the edge needs from the rest of the node.
type Deps struct {
	// Directory says which node ingests a channel (and whether it is this one).
	Directory live.Directory
	// Local serves LL-HLS of the streams this node ingests (the media hub);
	// ForgetLocal stops counting one of their players (nil: none).
	Local       http.HandlerFunc
	ForgetLocal func(slug, session string)
	// Conn carries the load reports; NodeID is this node's id.
	Conn   *nats.Conn
	NodeID int
	// Role, Region and Upstream are --role, --region and --upstream.
	Role, Region, Upstream string
	// CacheBytes bounds the pulled-through answers kept in memory.
	CacheBytes int64
	// PlayersPerAddress caps the outside players one client address adds
	// to a stream's count (--hls-players-per-address; 0: the default).
	PlayersPerAddress int
	// Drain is set when the node shuts down gracefully (nil: never).
	Drain *live.Drain
	// Authorize decides platform-admin requests (/api/admin/nodes).
	Authorize func(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	Metrics   prometheus.Registerer
	Log       *slog.Logger
	// ReportEvery is the load report period (default 1 s).
	ReportEvery time.Duration
}

// Service is the edge side of a node. New starts its load reports and the
// cache's sweeper; Close stops them.
type Service struct {
	d       Deps
	log     *slog.Logger
	client  *http.Client
	flights *flights
	loads   *live.Loads

	publicURL, url, rtmp atomic.Pointer[string]

	viewers *viewerSet
	// players are the outside players of the streams pulled through.
	players *pulledPlayers
	egress  atomic.Int64
	// lastPlayer is when a player (not an edge) was last served (Unix ns);
	// movedOff counts playlist requests a draining node sent elsewhere.
	lastPlayer, movedOff atomic.Int64
	// lastEgress is egress at the previous load report.
	lastEgress atomic.Int64
	cpu        cpuMeter

	upstreamRequests *prometheus.CounterVec
	edgeRequests     *prometheus.CounterVec

	closeOnce sync.Once
}

// New builds the edge and starts publishing this node's load every second.
func New(d Deps) (*Service, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Drain == nil {
		d.Drain = &live.Drain{}
	}
	if d.CacheBytes <= 0 {
		d.CacheBytes = 256 << 20
	}
	s := &Service{d: d, log: d.Log, viewers: newViewerSet(), players: newPulledPlayers(d.PlayersPerAddress)}
	s.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512, // blocking reloads of every rendition are held open at once
		IdleConnTimeout:     90 * time.Second,
	}}
	s.upstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livehouse_edge_upstream_requests_total",
		Help: "LL-HLS requests this node sent upstream (the origin or the next edge) for its viewers, by kind; viewers asking for the same thing share one."},
		[]string{"kind"})
	s.edgeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livehouse_hls_edge_requests_total",
		Help: "LL-HLS requests other nodes (edges, ?via=edge) sent this node, by kind."}, []string{"kind"})
	var shared atomic.Int64
	s.flights = newFlights(d.CacheBytes, 20*time.Second, func() { shared.Add(1) })
	if d.Metrics != nil {
		for _, c := range []prometheus.Collector{s.upstreamRequests, s.edgeRequests,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_edge_shared_total",
				Help: "LL-HLS requests answered with an upstream answer another request started (coalesced or cached)."},
				func() float64 { return float64(shared.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livehouse_edge_cache_bytes",
				Help: "Memory the pulled-through LL-HLS answers kept take."},
				func() float64 { b, _ := s.flights.usage(); return float64(b) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livehouse_edge_viewers",
				Help: "LL-HLS players this node served in the last 15 s (its own streams and pulled ones)."},
				func() float64 { return float64(s.viewers.count(time.Now())) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_edge_drain_moves_total",
				Help: "Player playlist requests a draining node answered with a move to another node (503 for the watch page, 307 for other players)."},
				func() float64 { return float64(s.movedOff.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livehouse_edge_hls_egress_bytes_total",
				Help: "LL-HLS bytes this node sent to players, its own streams and pulled ones (livehouse_hls_egress_bytes_total counts its own only)."},
				func() float64 { return float64(s.egress.Load()) }),
		} {
			if err := d.Metrics.Register(c); err != nil {
				s.flights.close()
				return nil, err
			}
		}
	}
	var err error
	s.loads, err = live.NewLoads(d.Conn, d.NodeID, live.LoadsOptions{Every: d.ReportEvery, Report: s.report, Log: d.Log})
	if err != nil {
		s.flights.close()
		return nil, err
	}
	return s, nil
}

// Advertise sets where viewers (public) and other nodes (internal) reach
// this node, once its HTTP side listens.
func (s *Service) Advertise(public, internal string) {
	public, internal = strings.TrimSuffix(public, "/"), strings.TrimSuffix(internal, "/")
	s.publicURL.Store(&public)
	s.url.Store(&internal)
}

func load(p *atomic.Pointer[string]) string {
	if v := p.Load(); v != nil {
		return *v
	}
	return ""
}

// AdvertiseRTMP sets where other origins relay standby encoders to this
// node ("host:port").
func (s *Service) AdvertiseRTMP(addr string) { s.rtmp.Store(&addr) }

// RelayAddr is where a standby encoder that reached this node is relayed
// for node, which ingests its channel: node's RTMP address while node is
// healthy (reporting, not draining). It is an rtmp.Relay.
func (s *Service) RelayAddr(node int64) (string, bool) {
	l, ok := s.loads.Node(int(node))
	if !ok || !l.Healthy || l.Self || l.RTMP == "" {
		return "", false
	}
	return l.RTMP, true
}

// Loads is the cluster view: every node's latest load report.
func (s *Service) Loads() *live.Loads { return s.loads }

func (s *Service) report(period time.Duration) live.LoadReport {
	now := s.egress.Load()
	sent := now - s.lastEgress.Swap(now)
	return live.LoadReport{Role: s.d.Role, Region: s.d.Region, PublicURL: load(&s.publicURL), URL: load(&s.url),
		Viewers: s.viewers.count(time.Now()), EgressBPS: sent * 8 * int64(time.Second) / int64(period),
		CPU: s.cpu.cores(), Draining: s.d.Drain.Draining(), Players: s.players.counts(time.Now()), RTMP: load(&s.rtmp)}
}

// PlayersElsewhere is how many outside players other nodes serve a stream
// (pulled through from this one), by their latest load reports; a node
// silent for 3 s counts none (its players are being counted where they
// moved to).
func (s *Service) PlayersElsewhere(slug string) int {
	n := 0
	for _, l := range s.loads.Nodes() {
		if !l.Self && !l.Silent {
			n += l.Players[slug]
		}
	}
	return n
}

// ServeHLS answers /hls/SLUG/…: from this node's own muxer when it ingests
// the stream, else pulled through from the node that does (or --upstream).
func (s *Service) ServeHLS(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	q := r.URL.Query()
	via := q.Get(media.ViaParam)
	if via == ViaEdge {
		s.edgeRequests.WithLabelValues(media.HLSKind(r.URL.Path)).Inc()
	}
	if s.moveOff(w, r, via) {
		return
	}
	player := via != ViaEdge && r.UserAgent() != media.FrameGrabberAgent
	if player {
		// At the start and the end: a blocking reload may be held a second.
		s.lastPlayer.Store(time.Now().UnixNano())
		defer func() { s.lastPlayer.Store(time.Now().UnixNano()) }()
	}
	st, live := s.d.Directory.Lookup(slug)
	if live && st.Local {
		cw := &countingWriter{ResponseWriter: w, n: &s.egress}
		if player {
			s.viewers.touch(r, q)
		}
		s.d.Local(cw, r)
		return
	}
	base := s.d.Upstream
	if base == "" {
		if !live || st.Node.URL == "" {
			s.d.Local(w, r) // the hub answers 404 not_live (and counts it)
			return
		}
		base = st.Node.URL
	}
	s.pull(w, r, base)
}

// countingWriter counts the bytes a handler sends (egress).
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Routes adds the scheduler and the admin node list.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/play/{slug}", s.play)
	mux.HandleFunc("GET /api/admin/nodes", s.nodes)
}

// Close stops the load reports and ends pulls in flight.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.loads.Close()
		s.flights.close()
		s.client.CloseIdleConnections()
	})
	return nil
}
