// Package config holds every Livehouse setting and loads it in one order:
// defaults, then an optional JSON file (unknown keys rejected), then
// LIVEHOUSE_* environment variables, then command-line flags, then Validate.
package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/clientaddr"
)

// Config is the whole of Livehouse's settings.
type Config struct {
	File string // the config file that was read, if any

	HTTPAddr string
	RTMPAddr string
	// RTMPSAddr is the RTMPS listener (RTMP inside TLS, with --tls-cert);
	// empty turns RTMPS off.
	RTMPSAddr string
	// SRTAddr is the SRT listener (UDP) for publishers; empty turns SRT off.
	SRTAddr string
	// SRTPassphrase, if set, is the passphrase every SRT publisher must use.
	SRTPassphrase string
	// WebRTCUDPAddr is the one UDP port every WebRTC (WHIP/WHEP) peer's ICE
	// traffic shares; WebRTCTCPAddr the TCP fallback (empty: none).
	WebRTCUDPAddr string
	WebRTCTCPAddr string
	// WebRTCPublicIPs are the addresses ICE candidates announce when the
	// server sits behind NAT (comma separated); empty announces the local ones.
	WebRTCPublicIPs string
	// STUNServers (stun:HOST:PORT, comma separated) are handed to browsers
	// and used to learn the server's own public address; empty uses none.
	STUNServers string
	DataDir     string
	DBURL       string
	NATSURL     string
	AdminToken  string
	PublicHost  string

	LogLevel  string
	LogFormat string

	HLSPartDuration    time.Duration
	HLSSegmentDuration time.Duration
	HLSSegmentCount    int

	PlatformSharePercent int
	PaymentWebhookSecret string
	// OutboxRetention is how long published money events are kept in the
	// outbox (the room's join replay reads the last minute of gifts there).
	OutboxRetention time.Duration

	RoomLogRetention time.Duration

	// Recordings (internal/recording): RecordingRetentionDays deletes
	// replays older than this many days, RecordingRetentionGiB the oldest
	// replays while all of them together take more; 0 is no limit.
	// RecordingDefault is whether a channel records before its owner says.
	RecordingRetentionDays int
	RecordingRetentionGiB  float64
	RecordingDefault       bool

	RTMPReadTimeout time.Duration
	ShutdownTimeout time.Duration
	// DrainTimeout bounds how long SIGTERM drains (no new publishers,
	// players or joins; current viewers may finish or be moved) before the
	// shutdown proper. 0 skips draining.
	DrainTimeout time.Duration
	DemoChannel  bool

	// TLSCert and TLSKey (PEM files) make --http serve HTTPS; both or neither.
	TLSCert string
	TLSKey  string
	// TrustedProxies lists the reverse proxies (CIDRs or addresses, comma
	// separated) whose X-Forwarded-For / X-Forwarded-Proto are believed.
	TrustedProxies string
	// HTTPBodyTimeout is how long a request body may take to arrive.
	HTTPBodyTimeout time.Duration
	// MetricsToken, if set, is the bearer token /metrics requires.
	MetricsToken string
	// MetricsAddr, if set, serves /metrics on its own listener (and not on --http).
	MetricsAddr string
	// HLSPlayersPerAddress caps how many playback sessions of one stream one
	// client address adds to the viewer count.
	HLSPlayersPerAddress int

	// VAPIDPublicKey and VAPIDPrivateKey (base64url, uncompressed P-256
	// point and scalar) sign Web Push; both empty: generated on first start
	// and kept in the database, shared by every node. VAPIDSubject is the
	// contact push services see (mailto: or https: URL).
	VAPIDPublicKey  string
	VAPIDPrivateKey string
	VAPIDSubject    string
	// PushAllowHTTP accepts http:// push endpoints (tests, a LAN push
	// service); by default only https:// ones are accepted.
	PushAllowHTTP bool
	// SimulcastKey (base64, 32 bytes) seals simulcast destinations' stream
	// keys; empty: the key file simulcast.key in DataDir, created on first
	// start. Every node of a cluster needs the same key.
	SimulcastKey string
	// SimulcastCA is a PEM file of extra certificate authorities trusted
	// for rtmps:// destinations (a LAN server with its own CA); empty: the
	// system's roots alone.
	SimulcastCA string

	// Ladder turns on the ABR ladder for every channel: an ffmpeg child per
	// live stream encodes 720p30, 480p30 and 360p renditions next to the
	// source (README "ABR ladder"). Off by default: without it LL-HLS is the
	// publisher's stream alone, with no encoding cost.
	Ladder bool
	// LadderPreset is the x264 preset of the ladder (ultrafast to fast).
	LadderPreset string
	// LadderEncoder is x264, nvenc, vaapi or qsv.
	LadderEncoder string
	// LadderMaxLag is how far a rendition may fall behind the source before
	// it is dropped.
	LadderMaxLag time.Duration
	// LadderThreads caps the encoder threads per rendition (0: ffmpeg's choice).
	LadderThreads int
	// LadderChannels lets each channel's owner turn the ladder on or off
	// for their channel (the studio's "Quality ladder"); false: every
	// channel follows Ladder.
	LadderChannels bool
	// LadderRungs is the platform's ladder (media.ParseRungs); empty: the
	// default 720p30 / 480p30 / 360p Baseline set.
	LadderRungs string

	// Role is what this node does in a cluster (README "Origin and edge
	// nodes"): all (default) ingests and serves viewers, origin ingests and
	// muxes, edge serves LL-HLS and the room to viewers and ingests nothing.
	Role string
	// Region names where this node stands (the scheduler prefers edges in
	// the viewer's region); PublicURL is the address viewers and the other
	// nodes reach it on.
	Region    string
	PublicURL string
	// Upstream, on an edge, is the node it pulls LL-HLS from (another edge:
	// a chain); empty pulls from the origin that ingests the stream.
	Upstream string
	// EdgeCacheMiB bounds the memory pulled-through parts and segments use.
	EdgeCacheMiB int
}

// Node roles (--role).
const (
	RoleAll    = "all"
	RoleOrigin = "origin"
	RoleEdge   = "edge"
)

// Ingests reports whether the node takes publishers.
func (c Config) Ingests() bool { return c.Role != RoleEdge }

// MinOutboxRetention is the shortest --outbox-retention: well over the
// minute of gifts a joining viewer replays from the outbox.
const MinOutboxRetention = 10 * time.Minute

// Default returns the embedded defaults: one machine, SQLite under ./data.
func Default() Config {
	return Config{
		HTTPAddr:             ":8080",
		RTMPAddr:             ":1935",
		SRTAddr:              ":8890",
		WebRTCUDPAddr:        ":8189",
		WebRTCTCPAddr:        ":8189",
		DataDir:              "./data",
		PublicHost:           "localhost",
		LogLevel:             "info",
		LogFormat:            "text",
		HLSPartDuration:      200 * time.Millisecond,
		HLSSegmentDuration:   time.Second,
		HLSSegmentCount:      7,
		RTMPReadTimeout:      10 * time.Second,
		ShutdownTimeout:      5 * time.Second,
		DrainTimeout:         15 * time.Second,
		DemoChannel:          true,
		PlatformSharePercent: 30,
		RoomLogRetention:     90 * 24 * time.Hour,
		OutboxRetention:      24 * time.Hour,
		HTTPBodyTimeout:      30 * time.Second,
		HLSPlayersPerAddress: 20,
		VAPIDSubject:         "mailto:admin@localhost",

		// Replays (internal/recording).
		RecordingRetentionDays: 30,
		RecordingDefault:       true,
		LadderPreset:           "veryfast",
		LadderEncoder:          "x264",
		LadderMaxLag:           4 * time.Second,
		LadderChannels:         true,

		Role:         RoleAll,
		EdgeCacheMiB: 256,
	}
}

// FlagSet binds every setting to a flag of its documented name. Its usage
// text is the reference for `livehouse --help`.
func (c *Config) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.File, "config", c.File, "optional JSON file of settings, keys named as these flags")
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address: API, watch pages, LL-HLS, /metrics")
	fs.StringVar(&c.RTMPAddr, "rtmp", c.RTMPAddr, "RTMP listen address for publishers (OBS, ffmpeg)")
	fs.StringVar(&c.RTMPSAddr, "rtmps", c.RTMPSAddr, "RTMPS listen address for publishers (RTMP inside TLS, e.g. :1936; needs --tls-cert and --tls-key); empty turns RTMPS off")
	fs.StringVar(&c.SRTAddr, "srt", c.SRTAddr, "SRT listen address (UDP) for publishers: srt://HOST:PORT?streamid=publish:STREAM_KEY; empty turns SRT off")
	fs.StringVar(&c.SRTPassphrase, "srt-passphrase", c.SRTPassphrase, "passphrase (10 to 79 characters) SRT publishers must encrypt with; empty accepts unencrypted SRT")
	fs.StringVar(&c.WebRTCUDPAddr, "webrtc-udp", c.WebRTCUDPAddr, "UDP address all WebRTC (WHIP/WHEP) media shares (ICE mux)")
	fs.StringVar(&c.WebRTCTCPAddr, "webrtc-tcp", c.WebRTCTCPAddr, "TCP address for WebRTC peers whose UDP is blocked (ICE-TCP); empty turns it off")
	fs.StringVar(&c.WebRTCPublicIPs, "webrtc-public-ip", c.WebRTCPublicIPs, "public IP addresses WebRTC candidates announce when the server is behind NAT (comma separated)")
	fs.StringVar(&c.STUNServers, "stun", c.STUNServers, "STUN servers (stun:HOST:PORT, comma separated) for browsers and to learn the public address; empty uses none")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (the SQLite database lives here)")
	fs.StringVar(&c.DBURL, "db", c.DBURL, "database URL: empty for SQLite under --data, sqlite:PATH, or postgres://USER@HOST:PORT/DB")
	fs.StringVar(&c.NATSURL, "nats", c.NATSURL, "NATS URL of the bus shared by nodes (nats://HOST:4222, a server with JetStream: -js); empty runs NATS embedded in the process")
	fs.StringVar(&c.AdminToken, "admin-token", c.AdminToken, "platform admin bearer token (at least 16 characters); when unset one is generated on first start and printed once")
	fs.StringVar(&c.PublicHost, "public-host", c.PublicHost, "host name printed in the OBS and watch URLs")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.DurationVar(&c.HLSPartDuration, "hls-part-duration", c.HLSPartDuration, "LL-HLS part duration (100ms to 1s); shorter means lower latency and more requests")
	fs.DurationVar(&c.HLSSegmentDuration, "hls-segment-duration", c.HLSSegmentDuration, "minimum LL-HLS segment duration; a segment always ends on a keyframe, so it is at least one GOP")
	fs.IntVar(&c.HLSSegmentCount, "hls-segment-count", c.HLSSegmentCount, "segments kept in the LL-HLS playlist (7 or more)")
	fs.DurationVar(&c.RTMPReadTimeout, "rtmp-read-timeout", c.RTMPReadTimeout, "drop an RTMP connection that sends nothing for this long")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGINT/SIGTERM waits for streams and requests to finish")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM, how long the node drains before shutting down: it refuses new publishers, players and WebSocket joins (503 node_draining) and waits for its viewers to leave; 0 skips draining")
	fs.IntVar(&c.PlatformSharePercent, "platform-share", c.PlatformSharePercent, "percent of every gift kept by the platform (0 to 100)")
	fs.DurationVar(&c.OutboxRetention, "outbox-retention", c.OutboxRetention, "how long published money events (gifts, memberships, notices) stay in the outbox before they are pruned (10m to 8760h)")
	fs.StringVar(&c.PaymentWebhookSecret, "payment-webhook-secret", c.PaymentWebhookSecret, "shared secret of the payment service's signed webhook (POST /api/payments/webhook); empty disables it")
	fs.BoolVar(&c.DemoChannel, "demo-channel", c.DemoChannel, "create a channel named demo on first start")
	fs.IntVar(&c.RecordingRetentionDays, "recording-retention-days", c.RecordingRetentionDays, "replays (recordings of live sessions) older than this many days are deleted; 0 keeps them")
	fs.Float64Var(&c.RecordingRetentionGiB, "recording-retention-gib", c.RecordingRetentionGiB, "when all replays together take more GiB than this, the oldest are deleted; 0 is no limit")
	fs.BoolVar(&c.RecordingDefault, "recording-default", c.RecordingDefault, "whether a channel records its live sessions until its owner turns recording off (or on)")
	fs.DurationVar(&c.RoomLogRetention, "room-log-retention", c.RoomLogRetention, "how long danmaku are kept (history, reports, replays); 0 keeps them for ever")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate (chain) file: with --tls-key, --http serves HTTPS; re-read when the file changes")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file of --tls-cert")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: CIDRs or addresses, comma separated (10.0.0.0/8,127.0.0.1); empty believes none")
	fs.DurationVar(&c.HTTPBodyTimeout, "http-body-timeout", c.HTTPBodyTimeout, "a request body (JSON, a cover upload) must arrive within this; slower ones are cut")
	fs.StringVar(&c.MetricsToken, "metrics-token", c.MetricsToken, "when set, /metrics requires Authorization: Bearer TOKEN (16+ characters)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve /metrics on this address (127.0.0.1:9090) instead of --http; empty serves it on --http")
	fs.BoolVar(&c.Ladder, "ladder", c.Ladder, "ABR ladder: encode 720p30, 480p30 and 360p (H.264 Baseline) renditions of every live stream next to the source, with one ffmpeg child per stream (needs ffmpeg; without it LL-HLS is passthrough only)")
	fs.StringVar(&c.LadderPreset, "ladder-preset", c.LadderPreset, "x264 preset of the ABR ladder: ultrafast, superfast, veryfast, faster or fast")
	fs.StringVar(&c.LadderEncoder, "ladder-encoder", c.LadderEncoder, "ABR ladder encoder: x264, or a hardware encoder nvenc, vaapi or qsv (x264 is used when ffmpeg lacks it)")
	fs.DurationVar(&c.LadderMaxLag, "ladder-max-lag", c.LadderMaxLag, "a ladder rendition that falls this far behind the source is dropped (and reported); the source is never held back")
	fs.IntVar(&c.LadderThreads, "ladder-threads", c.LadderThreads, "encoder threads per ladder rendition (0: ffmpeg's choice)")
	fs.BoolVar(&c.LadderChannels, "ladder-channels", c.LadderChannels, "let channel owners turn the ABR ladder on or off for their channel in the studio (false: every channel follows --ladder)")
	fs.StringVar(&c.LadderRungs, "ladder-rungs", c.LadderRungs, "the ABR ladder's renditions, highest first: HEIGHTp[FPS]:KBPSk[:PROFILE] separated by commas, e.g. 1080p30:4500k:high,720p30:2500k,360p30:600k:baseline (empty: 720p30:2500k:high,480p30:1200k:main,360p30:600k:baseline); channel owners may pick a subset")
	fs.IntVar(&c.HLSPlayersPerAddress, "hls-players-per-address", c.HLSPlayersPerAddress, "at most this many HLS players (playback sessions) of one stream count as viewers from one client address")
	fs.StringVar(&c.VAPIDPublicKey, "vapid-public-key", c.VAPIDPublicKey, "Web Push VAPID public key (base64url); with --vapid-private-key; both empty: generated on first start and stored in the database")
	fs.StringVar(&c.VAPIDPrivateKey, "vapid-private-key", c.VAPIDPrivateKey, "Web Push VAPID private key (base64url) of --vapid-public-key")
	fs.StringVar(&c.VAPIDSubject, "vapid-subject", c.VAPIDSubject, "contact push services see in Web Push requests: mailto:ADDRESS or an https: URL")
	fs.BoolVar(&c.PushAllowHTTP, "push-allow-http", c.PushAllowHTTP, "accept plain http:// Web Push endpoints and ones on loopback or private addresses (tests, a push service on the LAN); by default only https:// ones on public addresses")
	fs.StringVar(&c.SimulcastKey, "simulcast-key", c.SimulcastKey, "key sealing simulcast stream keys (base64 of 32 bytes); empty: the file simulcast.key in --data, created on first start; every node of a cluster needs the same one")
	fs.StringVar(&c.SimulcastCA, "simulcast-ca", c.SimulcastCA, "PEM file of extra certificate authorities trusted for rtmps:// simulcast destinations (a server on the LAN with its own CA); empty: the system's roots")
	fs.StringVar(&c.Role, "role", c.Role, "node role: all (ingest and serve viewers), origin (ingest and mux) or edge (serve LL-HLS and the room by pulling from origins; no ingest)")
	fs.StringVar(&c.Region, "region", c.Region, "region this node stands in (any name, like eu-west); GET /api/play prefers edges in the viewer's region")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL viewers and the other nodes reach this node on (http://edge1.example.com:8080); empty: http://PUBLIC-HOST:PORT")
	fs.StringVar(&c.Upstream, "upstream", c.Upstream, "edge only: pull LL-HLS from this node (http://HOST:PORT, another edge: a chain) instead of the stream's origin")
	fs.IntVar(&c.EdgeCacheMiB, "edge-cache-mib", c.EdgeCacheMiB, "memory (MiB) for LL-HLS parts and segments pulled from other nodes")
	return fs
}

// EnvName is the environment variable that sets the flag called name.
func EnvName(name string) string {
	return "LIVEHOUSE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Load builds a Config from defaults, the config file, the environment
// (getenv) and args, in that order, and validates it.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	c, rest, err := LoadWith(name, args, getenv, stderr, nil)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q (settings are flags like --http :8080)", rest[0])
	}
	return c, err
}

// LoadWith is Load for subcommands: extra adds the subcommand's own flags
// to the same set, and the arguments left after the flags are returned.
func LoadWith(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (Config, []string, error) {
	c := Default()
	fs := c.FlagSet(name)
	if extra != nil {
		extra(fs)
	}
	fs.SetOutput(stderr)
	fs.Usage = func() { Usage(fs, stderr) }

	// The file comes first in precedence, so find its name before the rest.
	file := getenv(EnvName("config"))
	probe := flag.NewFlagSet(name, flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	probe.StringVar(&file, "config", file, "")
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			probe.Var(discard{isBool: isBoolFlag(f)}, f.Name, "")
		}
	})
	_ = probe.Parse(args) // real parse errors are reported by fs.Parse below
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return c, nil, fmt.Errorf("read config file: %w", err)
		}
		if err := ApplyFile(fs, data); err != nil {
			return c, nil, fmt.Errorf("config file %s: %w", file, err)
		}
		c.File = file
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return c, nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.Validate()
}

// ApplyFile sets flags from a JSON object whose keys are flag names. Values
// may be strings, numbers or booleans; unknown keys are an error so a typo
// never silently falls back to a default.
func ApplyFile(fs *flag.FlagSet, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("unknown setting %q", k)
		}
		var s string
		switch v := raw[k].(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		default:
			return fmt.Errorf("setting %q: want a string, number or boolean", k)
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("setting %q: %w", k, err)
		}
	}
	return nil
}

// Validate explains the first setting that cannot work.
func (c Config) Validate() error {
	addrs := []struct{ name, addr string }{{"http", c.HTTPAddr}, {"rtmp", c.RTMPAddr}, {"webrtc-udp", c.WebRTCUDPAddr}}
	for _, opt := range []struct{ name, addr string }{{"srt", c.SRTAddr}, {"rtmps", c.RTMPSAddr}, {"webrtc-tcp", c.WebRTCTCPAddr}} {
		if opt.addr != "" {
			addrs = append(addrs, opt)
		}
	}
	if c.MetricsAddr != "" {
		addrs = append(addrs, struct{ name, addr string }{"metrics-addr", c.MetricsAddr})
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("--%s %q is not a listen address like :8080 or 127.0.0.1:8080", a.name, a.addr)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("--%s %q: port must be a number from 0 to 65535", a.name, a.addr)
		}
	}
	if n := len(c.SRTPassphrase); n != 0 && (n < 10 || n > 79) {
		return errors.New("--srt-passphrase must be 10 to 79 characters (SRT's limits)")
	}
	for _, ip := range splitList(c.WebRTCPublicIPs) {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("--webrtc-public-ip %q is not an IP address", ip)
		}
	}
	for _, u := range splitList(c.STUNServers) {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			return fmt.Errorf("--stun %q: want stun:HOST:PORT", u)
		}
	}
	if c.DBURL == "" && c.DataDir == "" {
		return errors.New("--data must name a directory when --db is empty")
	}
	if c.DBURL != "" && !strings.HasPrefix(c.DBURL, "sqlite:") &&
		!strings.HasPrefix(c.DBURL, "postgres://") && !strings.HasPrefix(c.DBURL, "postgresql://") {
		return errors.New("--db must be empty, sqlite:PATH or postgres://USER@HOST:PORT/DB")
	}
	if c.NATSURL != "" && !strings.HasPrefix(c.NATSURL, "nats://") && !strings.HasPrefix(c.NATSURL, "tls://") {
		return errors.New("--nats must be empty (embedded) or nats://HOST:PORT")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return errors.New("--admin-token must be at least 16 characters")
	}
	if strings.ContainsAny(c.PublicHost, "/ ") || c.PublicHost == "" {
		return fmt.Errorf("--public-host %q must be a bare host name like live.example.com", c.PublicHost)
	}
	switch c.Role {
	case RoleAll, RoleOrigin, RoleEdge:
	default:
		return fmt.Errorf("--role %q: use all, origin or edge", c.Role)
	}
	for _, u := range []struct{ name, v string }{{"public-url", c.PublicURL}, {"upstream", c.Upstream}} {
		if u.v == "" {
			continue
		}
		if pu, err := url.Parse(u.v); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || (pu.Path != "" && pu.Path != "/") {
			return fmt.Errorf("--%s %q: want http(s)://HOST[:PORT]", u.name, u.v)
		}
	}
	if c.Upstream != "" && c.Role != RoleEdge {
		return errors.New("--upstream is for --role edge only")
	}
	if c.EdgeCacheMiB < 1 {
		return errors.New("--edge-cache-mib must be at least 1")
	}
	if strings.ContainsAny(c.Region, " /\"") || len(c.Region) > 64 {
		return fmt.Errorf("--region %q: a short name without spaces, like eu-west", c.Region)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: use text or json", c.LogFormat)
	}
	if c.HLSPartDuration < 100*time.Millisecond || c.HLSPartDuration > time.Second {
		return fmt.Errorf("--hls-part-duration %v: must be from 100ms to 1s", c.HLSPartDuration)
	}
	if c.HLSSegmentDuration < c.HLSPartDuration || c.HLSSegmentDuration > 30*time.Second {
		return fmt.Errorf("--hls-segment-duration %v: must be at least the part duration and at most 30s", c.HLSSegmentDuration)
	}
	switch c.LadderPreset {
	case "ultrafast", "superfast", "veryfast", "faster", "fast":
	default:
		return fmt.Errorf("--ladder-preset %q: must be ultrafast, superfast, veryfast, faster or fast", c.LadderPreset)
	}
	switch c.LadderEncoder {
	case "x264", "nvenc", "vaapi", "qsv":
	default:
		return fmt.Errorf("--ladder-encoder %q: must be x264, nvenc, vaapi or qsv", c.LadderEncoder)
	}
	if c.LadderMaxLag < time.Second || c.LadderMaxLag > time.Minute {
		return fmt.Errorf("--ladder-max-lag %v: must be from 1s to 1m", c.LadderMaxLag)
	}
	if c.LadderThreads < 0 || c.LadderThreads > 64 {
		return fmt.Errorf("--ladder-threads %d: must be from 0 to 64", c.LadderThreads)
	}
	if c.HLSSegmentCount < 7 || c.HLSSegmentCount > 100 {
		return fmt.Errorf("--hls-segment-count %d: Low-Latency HLS needs 7 to 100", c.HLSSegmentCount)
	}
	if c.RTMPReadTimeout < time.Second {
		return fmt.Errorf("--rtmp-read-timeout %v: must be at least 1s", c.RTMPReadTimeout)
	}
	if c.PlatformSharePercent < 0 || c.PlatformSharePercent > 100 {
		return fmt.Errorf("--platform-share %d: must be 0 to 100", c.PlatformSharePercent)
	}
	if c.PaymentWebhookSecret != "" && len(c.PaymentWebhookSecret) < 16 {
		return errors.New("--payment-webhook-secret must be at least 16 characters")
	}
	if c.RecordingRetentionDays < 0 || c.RecordingRetentionGiB < 0 {
		return errors.New("--recording-retention-days and --recording-retention-gib must not be negative (0 is no limit)")
	}
	if c.RoomLogRetention < 0 || (c.RoomLogRetention > 0 && c.RoomLogRetention < time.Hour) {
		return fmt.Errorf("--room-log-retention %v: 0 (keep for ever) or at least 1h", c.RoomLogRetention)
	}
	if c.OutboxRetention < MinOutboxRetention || c.OutboxRetention > 365*24*time.Hour {
		return fmt.Errorf("--outbox-retention %v: must be from %v to 8760h (a joining viewer replays the last minute of gifts from the outbox)",
			c.OutboxRetention, MinOutboxRetention)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("--drain-timeout %v: must not be negative", c.DrainTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %v: must be positive", c.ShutdownTimeout)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both files or neither")
	}
	if c.RTMPSAddr != "" && c.TLSCert == "" {
		return errors.New("--rtmps needs a certificate: give --tls-cert and --tls-key")
	}
	if c.SimulcastCA != "" {
		pem, err := os.ReadFile(c.SimulcastCA)
		if err != nil {
			return fmt.Errorf("--simulcast-ca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("--simulcast-ca %s: no PEM certificate in it", c.SimulcastCA)
		}
	}
	if c.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			return fmt.Errorf("--tls-cert %s / --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
		}
	}
	if _, err := clientaddr.Parse(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if c.HTTPBodyTimeout < time.Second || c.HTTPBodyTimeout > time.Hour {
		return fmt.Errorf("--http-body-timeout %v: must be from 1s to 1h", c.HTTPBodyTimeout)
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		return errors.New("--metrics-token must be at least 16 characters")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.HTTPAddr {
		return errors.New("--metrics-addr must differ from --http (leave it empty to serve /metrics on --http)")
	}
	if (c.VAPIDPublicKey == "") != (c.VAPIDPrivateKey == "") {
		return errors.New("--vapid-public-key and --vapid-private-key go together: give both or neither (then they are generated and stored)")
	}
	if !strings.HasPrefix(c.VAPIDSubject, "mailto:") && !strings.HasPrefix(c.VAPIDSubject, "https://") {
		return fmt.Errorf("--vapid-subject %q: want mailto:ADDRESS or an https:// URL", c.VAPIDSubject)
	}
	if c.SimulcastKey != "" {
		if k, err := base64.StdEncoding.DecodeString(c.SimulcastKey); err != nil || len(k) != 32 {
			return errors.New("--simulcast-key must be the base64 of 32 bytes (head -c 32 /dev/urandom | base64)")
		}
	}
	if c.HLSPlayersPerAddress < 1 || c.HLSPlayersPerAddress > 100000 {
		return fmt.Errorf("--hls-players-per-address %d: must be from 1 to 100000", c.HLSPlayersPerAddress)
	}
	return nil
}

// Usage prints every setting with its flag, environment variable and default.
func Usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\nEvery flag can also be set by its environment variable or a key of the --config JSON file.\nPrecedence: flags > environment > file > defaults.\n\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (env %s, default %s)\n      %s\n", f.Name, EnvName(f.Name), def, f.Usage)
	})
}

type boolFlag interface{ IsBoolFlag() bool }

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(boolFlag)
	return ok && b.IsBoolFlag()
}

// discard accepts any value; the probe parse uses it to skip other flags.
type discard struct{ isBool bool }

func (discard) String() string     { return "" }
func (discard) Set(string) error   { return nil }
func (d discard) IsBoolFlag() bool { return d.isBool }

// splitList splits a comma-separated setting, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// List splits a comma-separated setting (--webrtc-public-ip, --stun).
func List(s string) []string { return splitList(s) }
