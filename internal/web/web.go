// Package web is Livehouse's HTTP front door: one mux onto which every
// domain adds its own routes (the app hands them over), the middleware
// around it (client address, body deadline, security headers, CSRF,
// authentication) and the embedded pages, LL-HLS, /healthz and /metrics.
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/clientaddr"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/tlsfile"
)

//go:embed static templates i18n
var assets embed.FS

// Options are the parts the web server serves.
type Options struct {
	Log *slog.Logger
	DB  *store.DB // /healthz pings it
	// Draining makes /healthz answer 503 while the node drains, so a load
	// balancer sends it nothing new (nil: never).
	Draining func() bool
	// Routes add each domain's routes to the mux (their Routes methods).
	Routes []func(*http.ServeMux)
	// Authenticate resolves who is calling before any route runs (the
	// account domain's middleware).
	Authenticate func(http.Handler) http.Handler
	// Authorize decides whether the request's principal (from ctx) may do
	// a in a channel: the studio pages ask it before rendering (the
	// account service's AuthorizeContext). Nil: any logged-in visitor gets
	// the page, and only its API calls are checked.
	Authorize func(ctx context.Context, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	// Channels reads the channel a page is about (watch, studio).
	Channels interface {
		Get(ctx context.Context, slug string) (channel.Channel, error)
	}
	// HLS serves /hls/{slug}/{file} (the media hub).
	HLS http.HandlerFunc
	// MediaOrigins are other nodes' origins (scheme://host:port) the pages
	// may load LL-HLS from (the scheduler's edges); nil: this node only.
	MediaOrigins func() []string
	Gateway      http.Handler // /ws
	Metrics      *prometheus.Registry
	// IngestURL is the RTMP server URL streamers put in OBS.
	IngestURL string
	// RTMPSURL is the RTMPS server URL; empty when RTMPS is off.
	RTMPSURL string
	// SRTURL is the SRT publish URL up to the stream key
	// (srt://HOST:PORT?streamid=publish:); empty when SRT is off.
	SRTURL string

	// Proxies are the trusted reverse proxies: the real client address and
	// scheme come from their X-Forwarded-* headers.
	Proxies clientaddr.Resolver
	// Certs, when set, serves TLSCert/TLSKey (shared with RTMPS); nil:
	// the server loads them itself.
	Certs *tlsfile.Reloader
	// TLSCert and TLSKey, when set, make the server speak HTTPS.
	TLSCert, TLSKey string
	// BodyTimeout is how long a request body may take to arrive (0: no limit).
	BodyTimeout time.Duration
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// MetricsAddr, when set, serves /metrics there instead of on the main address.
	MetricsAddr string
	// WebRTC serves /whip/ and /whep/ (nil: not offered). It runs outside
	// account authentication, whose bearer tokens are API tokens (WHIP's is
	// a stream key), and outside the cross-origin check (no cookies are
	// used; WHIP/WHEP players may be embedded on other sites).
	WebRTC http.Handler
}

// Server is the HTTP server. It owns its listeners and serving goroutines.
type Server struct {
	o     Options
	http  *http.Server
	ln    net.Listener
	pages map[string]*template.Template // by language
	tls   bool

	metrics   *http.Server // only with Options.MetricsAddr
	metricsLn net.Listener

	wg sync.WaitGroup
}

// Listen binds addr and starts serving.
func Listen(addr string, o Options) (*Server, error) {
	cats, err := loadCatalogs(assets)
	if err != nil {
		return nil, err
	}
	pages, err := pageTemplates(assets, cats)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, pages: pages}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		// No ReadTimeout or WriteTimeout: LL-HLS blocking playlist requests
		// are held open until the next part exists, and WebSockets for
		// hours. Bodies get their own deadline (bodyDeadline).
		ErrorLog: slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
	}
	if o.TLSCert != "" {
		certs := o.Certs
		if certs == nil {
			if certs, err = tlsfile.New(o.TLSCert, o.TLSKey, o.Log); err != nil {
				return nil, err
			}
		}
		s.http.TLSConfig = certs.Config()
		s.tls = true
	}
	s.ln, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", addr, err)
	}
	if o.MetricsAddr != "" {
		if s.metricsLn, err = net.Listen("tcp", o.MetricsAddr); err != nil {
			s.ln.Close()
			return nil, fmt.Errorf("listen for /metrics on %s: %w", o.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metricsHandler())
		s.metrics = &http.Server{Handler: s.recoverer(mux), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			ErrorLog: s.http.ErrorLog}
		s.serve(s.metrics, s.metricsLn, false)
	}
	s.serve(s.http, s.ln, s.tls)
	if !s.tls && !o.Proxies.Enabled() && !isLoopback(s.ln.Addr()) {
		o.Log.Warn("serving plain HTTP on a non-loopback address: passwords and session cookies cross the network unencrypted. "+
			"Serve HTTPS with --tls-cert and --tls-key, or put a TLS reverse proxy in front and list it in --trusted-proxies",
			"addr", s.ln.Addr().String())
	}
	return s, nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener, useTLS bool) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var err error
		if useTLS {
			err = srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.o.Log.Error("HTTP server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// isLoopback reports whether a bound address is reachable only from this machine.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.tls }

// MetricsAddr is the address of the separate /metrics listener, if any.
func (s *Server) MetricsAddr() net.Addr {
	if s.metricsLn == nil {
		return nil
	}
	return s.metricsLn.Addr()
}

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range []*http.Server{s.http, s.metrics} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) metricsHandler() http.Handler {
	return metricsHandler(promhttp.HandlerFor(s.o.Metrics, promhttp.HandlerOpts{}), s.o.MetricsToken)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, add := range s.o.Routes {
		add(mux)
	}
	mux.Handle("GET /ws", s.o.Gateway)

	mux.HandleFunc("GET /hls/{slug}/{file}", s.o.HLS)
	mux.HandleFunc("GET /hls/{slug}/{rung}/{file}", s.o.HLS) // ABR ladder renditions
	mux.HandleFunc("GET /c/{slug}", s.channelPage("watch.html", ""))
	// The studio is for the channel's moderators (the owner, whom the
	// moderators' tools include, and platform admins); its earnings for
	// whoever may take a payout.
	mux.HandleFunc("GET /studio/{slug}", s.channelPage("studio.html", policy.ActChannelModerate))
	mux.HandleFunc("GET /studio/{slug}/money", s.channelPage("studio_money.html", policy.ActPayout))
	// The schedule and emotes are the owner's (and platform admins').
	mux.HandleFunc("GET /studio/{slug}/channel", s.channelPage("studio_channel.html", policy.ActChannelManage))
	// Replays (internal/recording serves their API and /vod/ media; the
	// page reads the replay through the API, so an unknown id shows there).
	mux.HandleFunc("GET /studio/{slug}/replays", s.channelPage("studio_replays.html", policy.ActChannelManage))
	// The content filter's panel: moderators act on held messages and
	// appeals; the owner (ActChannelManage) also sets the filter and terms.
	mux.HandleFunc("GET /studio/{slug}/moderation", s.channelPage("studio_moderation.html", policy.ActChannelModerate))
	mux.HandleFunc("GET /v/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			s.errorPage(w, r, http.StatusNotFound)
			return
		}
		s.render(w, r, "replay.html", map[string]string{"ID": id})
	})
	for path, page := range map[string]string{"/{$}": "home.html", "/signup": "signup.html", "/login": "login.html", "/account": "account.html",
		"/wallet": "wallet.html"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { s.render(w, r, page, nil) })
	}
	// Pages that need a login (the studio) or platform-admin rights: the
	// log-in page first, then back here; the wrong account gets a 403 page.
	mux.HandleFunc("GET /studio", s.gated(false, "studio_list.html"))
	for path, page := range map[string]string{"/admin": "admin_home.html", "/admin/users": "admin_users.html", "/admin/money": "admin_money.html",
		"/admin/channels": "admin_channels.html", "/admin/gifts": "admin_gifts.html", "/admin/reports": "admin_reports.html", "/admin/settings": "admin_settings.html",
		"/admin/moderation": "admin_moderation.html"} {
		mux.HandleFunc("GET "+path, s.gated(true, page))
	}
	// Any other path is a page nobody wrote: the styled 404, except under
	// the prefixes whose clients are programs (they keep their plain answers).
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !isPagePath(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		s.errorPage(w, r, http.StatusNotFound)
	})
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /api/ingest", func(w http.ResponseWriter, r *http.Request) {
		urls := map[string]string{"rtmp_url": s.o.IngestURL}
		if s.o.SRTURL != "" {
			urls["srt_url"] = s.o.SRTURL
		}
		if s.o.RTMPSURL != "" {
			urls["rtmps_url"] = s.o.RTMPSURL
		}
		httpjson.Write(w, http.StatusOK, urls)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "no such API: "+r.Method+" "+r.URL.Path)
	})
	// Cross-origin browser writes are refused before anything else runs
	// (CSRF); sessions additionally carry a per-session token.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusForbidden, "cross-origin request refused")
	}))
	// httpjson.Fail logs the errors it answers 500 for with this server's logger.
	site := s.recoverer(securityHeaders(s.o.MediaOrigins, httpjson.LogFailures(s.o.Log, csrf.Handler(s.o.Authenticate(mux)))))
	// /metrics answers before Authenticate, which would refuse its bearer
	// token as an unknown API token; with --metrics-addr it is not here.
	var metrics http.Handler
	if s.o.MetricsAddr == "" {
		metrics = s.recoverer(s.metricsHandler())
	}
	var webrtc http.Handler
	if s.o.WebRTC != nil {
		webrtc = s.recoverer(httpjson.LogFailures(s.o.Log, s.o.WebRTC))
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if webrtc != nil && (strings.HasPrefix(r.URL.Path, "/whip/") || strings.HasPrefix(r.URL.Path, "/whep/")) {
			webrtc.ServeHTTP(w, r)
			return
		}
		if metrics != nil && r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.ServeHTTP(w, r)
			return
		}
		site.ServeHTTP(w, r)
	})
	// Outermost: the real client address (rate limits, viewer counts and
	// logs read RemoteAddr), then the body deadline.
	return s.o.Proxies.Middleware(bodyDeadline(s.o.BodyTimeout, inner))
}

func securityHeaders(mediaOrigins func() []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		// The watch page may play LL-HLS from an edge (GET /api/play):
		// hls.js fetches it (connect-src), Safari plays it (media-src).
		others := ""
		if mediaOrigins != nil {
			for _, o := range mediaOrigins() {
				if !strings.ContainsAny(o, " ;,'\"") {
					others += " " + o
				}
			}
		}
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'"+others+"; media-src 'self' blob:"+others+"; worker-src 'self' blob:; "+
			"img-src 'self' data:; object-src 'none'; frame-ancestors 'self'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a handler panic into a 500 and a log line, never a dead
// server: the styled error page for a page, JSON for everything else.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.o.Log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if isPagePath(r.URL.Path) {
					s.errorPage(w, r, http.StatusInternalServerError)
					return
				}
				httpjson.Error(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// isPagePath reports whether a path is one people open in a browser (a
// failure there gets a styled page) rather than one programs call (API,
// media, static files, WebRTC signalling, probes), whose error answers keep
// their shapes.
func isPagePath(path string) bool {
	for _, prefix := range []string{"/api/", "/hls/", "/vod/", "/static/", "/whip/", "/whep/"} {
		if strings.HasPrefix(path, prefix) {
			return false
		}
	}
	switch path {
	case "/ws", "/metrics", "/healthz", "/api", "/hls", "/static", "/whip", "/whep":
		return false
	}
	return true
}

// errorPage answers status (403, 404 or 500) with the styled page in the
// visitor's language, with the usual navigation.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int) {
	s.renderStatus(w, r, status, "error.html", struct{ Status int }{status})
}

// gated renders page for a logged-in visitor (and, when admin is set, only
// for a platform admin). A visitor who is not logged in is sent to the
// log-in page, which brings them back here afterwards.
func (s *Server) gated(admin bool, page string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := policy.PrincipalFrom(r.Context())
		switch {
		case p.Via == "":
			toLogin(w, r)
		case admin && !p.IsAdmin():
			s.errorPage(w, r, http.StatusForbidden)
		default:
			s.render(w, r, page, nil)
		}
	}
}

// toLogin sends a visitor who is not logged in to the log-in page with the
// page they asked for as next (always a path on this site: the log-in
// script checks it again before following it).
func toLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.o.Draining != nil && s.o.Draining() {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.o.DB.PingContext(ctx); err != nil {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "db": err.Error()})
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok", "db": string(s.o.DB.Dialect)})
}

// channelPage renders a page about the channel in the path (the watch
// page, the studio pages). With need set, the page needs a login and that
// right in the channel; the API calls check again who may see what.
func (s *Server) channelPage(page string, need policy.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.o.Channels.Get(r.Context(), r.PathValue("slug"))
		if errors.Is(err, channel.ErrNotFound) {
			s.errorPage(w, r, http.StatusNotFound)
			return
		}
		if err != nil {
			s.o.Log.Error("channel page", "page", page, "err", err)
			s.errorPage(w, r, http.StatusInternalServerError)
			return
		}
		if need != "" {
			if policy.PrincipalFrom(r.Context()).Via == "" {
				toLogin(w, r)
				return
			}
			if s.o.Authorize != nil {
				_, err := s.o.Authorize(r.Context(), need, c.ID, c.OwnerID)
				if _, denied := policy.IsDenied(err); denied {
					s.errorPage(w, r, http.StatusForbidden)
					return
				}
				if err != nil {
					s.o.Log.Error("channel page: authorize", "page", page, "err", err)
					s.errorPage(w, r, http.StatusInternalServerError)
					return
				}
			}
		}
		data := channelPageData{Channel: c}
		if need != "" && s.o.Authorize != nil {
			// The studio's tabs show only the pages this person may open.
			data.CanManage = s.may(r, policy.ActChannelManage, c)
			data.CanPayout = s.may(r, policy.ActPayout, c)
		}
		s.render(w, r, page, data)
	}
}

// channelPageData is what a channel's pages render: the channel, and for the
// studio which of its pages the viewer may open.
type channelPageData struct {
	channel.Channel
	CanManage, CanPayout bool
}

func (s *Server) may(r *http.Request, a policy.Action, c channel.Channel) bool {
	_, err := s.o.Authorize(r.Context(), a, c.ID, c.OwnerID)
	return err == nil
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	s.renderStatus(w, r, http.StatusOK, name, data)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Accept-Language, Cookie")
	// Render first: a template error must not leave half a page behind a 200.
	var buf bytes.Buffer
	if err := s.pages[langOf(r)].ExecuteTemplate(&buf, name, data); err != nil {
		s.o.Log.Error("render page", "page", name, "err", err)
		if name != "error.html" {
			s.errorPage(w, r, http.StatusInternalServerError)
		} else {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
