package trust

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// ChannelDirectory resolves channel slugs for channel-scoped rules; the
// channel domain implements it.
type ChannelDirectory interface {
	ChannelOwner(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	// OpenChannel is ChannelOwner for interactions (chat, likes, gifts,
	// memberships): a disabled channel answers ErrChannelDisabled.
	OpenChannel(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	OwnerByID(ctx context.Context, channelID int64) (ownerID int64, err error)
	ChannelSlug(ctx context.Context, channelID int64) (string, error)
}

// ErrNoChannel is what a ChannelDirectory returns for an unknown slug.
var ErrNoChannel = errors.New("channel not found")

// ErrChannelDisabled refuses chat and money in a channel a platform admin
// switched off (403 channel_disabled); earnings already made can still be
// withdrawn.
var ErrChannelDisabled = errors.New("this channel has been disabled by the platform")

// Limits are the abuse-defence rate limits. Zero fields get defaults.
type Limits struct {
	SignupPerIP     *Limiter // sign-ups from one address
	LoginPerIP      *Limiter // log-in attempts from one address
	WritePerIP      *Limiter // any state-changing API call from one address
	WritePerAccount *Limiter // any state-changing API call by one account
	BrowsePerIP     *Limiter // anonymous channel listing/history from one address
}

// DefaultLimits are generous for people and tight for scripts.
func DefaultLimits() Limits {
	return Limits{
		SignupPerIP:     NewLimiter(5, time.Hour),
		LoginPerIP:      NewLimiter(30, time.Minute),
		WritePerIP:      NewLimiter(120, time.Minute),
		WritePerAccount: NewLimiter(60, time.Minute),
		BrowsePerIP:     NewLimiter(60, time.Minute),
	}
}

// Service is the trust domain: accounts, sessions, tokens, roles, rules,
// moderation, abuse defences, and the policy every other domain asks.
type Service struct {
	DB         *store.DB
	Users      *Users
	Sessions   *Sessions
	Tokens     *Tokens
	Admin      *Admin
	Mod        *Moderation
	Challenges *Challenges
	Throttle   *LoginThrottle
	Limits     Limits
	Channels   ChannelDirectory
	// Fans tells members and medal holders apart (nil: nobody is either).
	Fans FanStanding
	Log  *slog.Logger

	crawl crawlTracker
	// publish tells every node what trust changed (nil: nobody, e.g. CLI
	// tools): identities for open connections, rules, moderators, sanctions
	// and follows for every node's chat context.
	publish func(bus.Event)
	// roomConnsPerIP is the admin's room-connection cap (0: the default).
	roomConnsPerIP atomic.Int64
	settings       atomic.Pointer[cachedSettings]
	auth           authCache
}

// NewService builds the trust domain on db. publish carries its changes
// (log-outs, bans, rules, mutes…) to every node; nil when no node listens
// (CLI tools).
func NewService(ctx context.Context, db *store.DB, channels ChannelDirectory, limits Limits, log *slog.Logger, publish func(bus.Event)) (*Service, error) {
	users, err := NewUsers(db)
	if err != nil {
		return nil, err
	}
	ch, err := NewChallenges(ctx, db)
	if err != nil {
		return nil, err
	}
	def := DefaultLimits()
	for _, l := range []struct {
		dst **Limiter
		def *Limiter
	}{
		{&limits.SignupPerIP, def.SignupPerIP}, {&limits.LoginPerIP, def.LoginPerIP}, {&limits.WritePerIP, def.WritePerIP},
		{&limits.WritePerAccount, def.WritePerAccount}, {&limits.BrowsePerIP, def.BrowsePerIP},
	} {
		if *l.dst == nil {
			*l.dst = l.def
		}
	}
	return &Service{
		DB: db, Users: users, Sessions: &Sessions{db: db}, Tokens: &Tokens{db: db}, Admin: NewAdmin(db),
		Mod: &Moderation{db: db}, Challenges: ch, Throttle: NewLoginThrottle(), Limits: limits, Channels: channels, Log: log,
		publish: publish,
	}, nil
}

// settingsTTL bounds how stale a node's platform settings get if a
// bus.SettingsChanged event is lost; the event applies a change at once.
const settingsTTL = 5 * time.Second

type cachedSettings struct {
	st Settings
	at time.Time
}

// Settings returns the platform switches, from memory when read in the last
// settingsTTL (every authorised request asks).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	if c := s.settings.Load(); c != nil && time.Since(c.at) < settingsTTL {
		return c.st, nil
	}
	return s.loadSettings(ctx)
}

// loadSettings reads the switches from the store and, when the rate limits
// changed, applies them to this node's limiters.
func (s *Service) loadSettings(ctx context.Context) (Settings, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT name, value FROM platform_settings`)
	if err != nil {
		return Settings{}, fmt.Errorf("read platform settings: %w", err)
	}
	defer rows.Close()
	var st Settings
	limits := map[string]*int{
		"limit.writes_per_account": &st.Limits.WritesPerAccount, "limit.writes_per_ip": &st.Limits.WritesPerIP,
		"limit.signups_per_ip": &st.Limits.SignupsPerIP, "limit.logins_per_ip": &st.Limits.LoginsPerIP,
		"limit.room_connections_per_ip": &st.Limits.RoomConnectionsPerIP,
	}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return Settings{}, err
		}
		if name == "open_streaming" {
			st.OpenStreaming = value == "true"
		} else if p, ok := limits[name]; ok {
			*p, _ = strconv.Atoi(value)
		}
	}
	if err := rows.Err(); err != nil {
		return Settings{}, err
	}
	if prev := s.settings.Swap(&cachedSettings{st: st, at: time.Now()}); prev == nil || prev.st.Limits != st.Limits {
		s.applyLimits(st.Limits)
	}
	return st, nil
}

func (s *Service) applyLimits(r RateSettings) {
	s.roomConnsPerIP.Store(int64(r.RoomConnectionsPerIP))
	for l, n := range map[*Limiter]int{s.Limits.WritePerAccount: r.WritesPerAccount, s.Limits.WritePerIP: r.WritesPerIP,
		s.Limits.SignupPerIP: r.SignupsPerIP, s.Limits.LoginPerIP: r.LoginsPerIP} {
		if l != nil {
			l.SetRate(n)
		}
	}
}

// EffectiveLimits are the allowances in force on this node.
func (s *Service) EffectiveLimits() RateSettings {
	n := func(l *Limiter) int {
		if l == nil {
			return 0
		}
		v, _ := l.Rate()
		return v
	}
	return RateSettings{WritesPerAccount: n(s.Limits.WritePerAccount), WritesPerIP: n(s.Limits.WritePerIP),
		SignupsPerIP: n(s.Limits.SignupPerIP), LoginsPerIP: n(s.Limits.LoginPerIP), RoomConnectionsPerIP: s.RoomConnectionsPerIP()}
}

// RoomConnectionsPerIP is the cap on one address's open room connections
// in force on this node (kept in memory: the gateway asks on every upgrade).
func (s *Service) RoomConnectionsPerIP() int {
	if n := s.roomConnsPerIP.Load(); n > 0 {
		return int(n)
	}
	return DefaultRoomConnectionsPerIP
}

// SetSettings stores the platform switches.
func (s *Service) SetSettings(ctx context.Context, st Settings) error {
	if err := st.Limits.Validate(); err != nil {
		return err
	}
	values := map[string]string{
		"open_streaming":                strconv.FormatBool(st.OpenStreaming),
		"limit.writes_per_account":      strconv.Itoa(st.Limits.WritesPerAccount),
		"limit.writes_per_ip":           strconv.Itoa(st.Limits.WritesPerIP),
		"limit.signups_per_ip":          strconv.Itoa(st.Limits.SignupsPerIP),
		"limit.logins_per_ip":           strconv.Itoa(st.Limits.LoginsPerIP),
		"limit.room_connections_per_ip": strconv.Itoa(st.Limits.RoomConnectionsPerIP),
	}
	err := s.DB.InTx(ctx, func(tx *sql.Tx) error {
		for name, value := range values {
			if _, err := tx.ExecContext(ctx, `INSERT INTO platform_settings (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save platform settings: %w", err)
	}
	s.settings.Store(&cachedSettings{st: st, at: time.Now()})
	s.applyLimits(st.Limits)
	return nil
}

// Authorize decides whether the request's principal may do a, in the
// channel (channelID, ownerID) or, with channelID 0, outside any channel.
func (s *Service) Authorize(r *http.Request, a Action, channelID, ownerID int64) (Principal, error) {
	return s.AuthorizeContext(r.Context(), a, channelID, ownerID)
}

// AuthorizeContext is Authorize for callers without a request (a WebSocket
// frame): the principal comes from ctx (see WithPrincipal).
func (s *Service) AuthorizeContext(ctx context.Context, a Action, channelID, ownerID int64) (Principal, error) {
	p := PrincipalFrom(ctx)
	roles := ChannelRoles{ChannelID: channelID, OwnerID: ownerID}
	if p.User != nil && channelID != 0 {
		var err error
		if roles.IsModerator, err = s.Mod.IsModerator(ctx, channelID, p.User.ID); err != nil {
			return p, err
		}
		if roles.Muted, roles.Banned, _, err = s.Mod.Active(ctx, channelID, p.User.ID, time.Now()); err != nil {
			return p, err
		}
	}
	settings, err := s.Settings(ctx)
	if err != nil {
		return p, err
	}
	return p, Decide(p, a, roles, settings)
}

// ClientIP is the address limits apply to. Livehouse does not trust
// X-Forwarded-For yet: behind a proxy, configure one that rewrites the
// connection (a trusted-proxy list is future work).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Cookie names.
const (
	SessionCookie = "lh_session"
	CSRFCookie    = "lh_csrf"
	PassCookie    = "lh_pass"
	CSRFHeader    = "X-CSRF-Token"
)

func isSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// hasOwnLimit: these writes have a dedicated limit (sign-up, log-in) or
// are paid for with proof of work (the crawler pass), so a client that hit
// the general write limit can still prove itself.
func hasOwnLimit(path string) bool {
	return isLoginPath(path) || path == "/api/challenge/pass" || path == "/api/payments/webhook"
}

func isLoginPath(path string) bool {
	return path == "/api/auth/login" || path == "/api/auth/signup"
}

// allow takes a token from l for key, or answers 429 with Retry-After.
func (s *Service) allow(w http.ResponseWriter, l *Limiter, key string, now time.Time) bool {
	ok, wait := l.Allow(key, now)
	if !ok {
		tooMany(w, wait, "too many requests; slow down")
	}
	return ok
}

func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(wait)))
	httpjson.Error(w, http.StatusTooManyRequests, fmt.Sprintf("%s (retry in %ds)", msg, RetryAfterSeconds(wait)))
}

// ThrottleBrowsing slows anonymous listing of channels and history: past
// the per-address limit the address is treated as a crawler (higher
// challenge difficulty) until it proves work with a pass cookie.
func (s *Service) ThrottleBrowsing(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalFrom(r.Context())
		if p.Via != "" || s.validPass(r) {
			next(w, r)
			return
		}
		now := time.Now()
		ip := ClientIP(r)
		if ok, wait := s.Limits.BrowsePerIP.Allow("browse:"+ip, now); !ok {
			s.refuseCrawler(w, ip, wait, now)
			return
		}
		next(w, r)
	}
}

// GuardChannelReads lets a person watch a few channels at once but treats
// an anonymous address that reads many different channels in a minute as
// a crawler: it gets the browse challenge until it proves work.
func (s *Service) GuardChannelReads(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := PrincipalFrom(r.Context())
		if p.Via != "" || s.validPass(r) {
			next(w, r)
			return
		}
		now := time.Now()
		ip := ClientIP(r)
		if s.crawl.tooMany(ip, r.PathValue("slug"), now) {
			s.refuseCrawler(w, ip, time.Minute, now)
			return
		}
		next(w, r)
	}
}

func (s *Service) refuseCrawler(w http.ResponseWriter, ip string, wait time.Duration, now time.Time) {
	s.Challenges.MarkSuspect(ip, now)
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(wait)))
	httpjson.Write(w, http.StatusTooManyRequests, map[string]any{
		"error":     "too many anonymous requests; log in, or solve the challenge and POST it to /api/challenge/pass",
		"challenge": s.Challenges.Issue("browse", ip, now),
	})
}

// MaxChannelsPerMinute is how many different channels one anonymous address
// may read in a minute; a household watching a handful never comes close.
const MaxChannelsPerMinute = 30

// crawlTracker counts the distinct channels each anonymous address read in
// the current minute.
type crawlTracker struct {
	mu    sync.Mutex
	addrs map[string]*crawlWindow
}

type crawlWindow struct {
	start time.Time
	slugs map[string]struct{}
}

func (c *crawlTracker) tooMany(ip, slug string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addrs == nil || len(c.addrs) > 100000 {
		c.addrs = map[string]*crawlWindow{} // a flood of addresses resets the memory, not the server
	}
	w := c.addrs[ip]
	if w == nil || now.Sub(w.start) > time.Minute {
		w = &crawlWindow{start: now, slugs: map[string]struct{}{}}
		c.addrs[ip] = w
	}
	if _, seen := w.slugs[slug]; !seen && len(w.slugs) <= MaxChannelsPerMinute {
		w.slugs[slug] = struct{}{}
	}
	return len(w.slugs) > MaxChannelsPerMinute
}

// passTTL is how long a solved browse challenge lifts the throttle.
const passTTL = 10 * time.Minute

func (s *Service) passValue(ip string, exp int64) string {
	m := hmac.New(sha256.New, s.Challenges.key)
	fmt.Fprintf(m, "pass|%s|%d", ip, exp)
	return strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Service) validPass(r *http.Request) bool {
	c, err := r.Cookie(PassCookie)
	if err != nil {
		return false
	}
	expStr, _, ok := strings.Cut(c.Value, ".")
	exp, err := strconv.ParseInt(expStr, 10, 64)
	if !ok || err != nil || time.Now().Unix() > exp {
		return false
	}
	return hmac.Equal([]byte(c.Value), []byte(s.passValue(ClientIP(r), exp)))
}

func (s *Service) internal(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) { // the client went away mid-request
		s.Log.Debug("trust: request cancelled", "err", err)
	} else {
		s.Log.Error("trust", "err", err)
	}
	httpjson.Error(w, http.StatusInternalServerError, "internal error")
}

// WriteError maps the domain's errors to HTTP answers.
func (s *Service) WriteError(w http.ResponseWriter, err error) {
	var ve *ValidationError
	var ce *ChallengeError
	var rv *RuleViolation
	switch d, denied := IsDenied(err); {
	case denied && d.Anonymous:
		httpjson.Error(w, http.StatusUnauthorized, d.Reason)
	case denied && d.Kind != "":
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": d.Reason, "code": "forbidden", "reason": d.Kind})
	case denied:
		httpjson.Error(w, http.StatusForbidden, d.Reason)
	case errors.As(err, &ve) && ve.Code != "":
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": ve.Msg, "code": ve.Code})
	case errors.As(err, &ve):
		httpjson.Error(w, http.StatusBadRequest, ve.Msg)
	case errors.As(err, &ce):
		httpjson.Error(w, http.StatusBadRequest, ce.Msg)
	case errors.As(err, &rv):
		if rv.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSeconds(rv.RetryAfter)))
		}
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": rv.Msg, "code": rv.Code})
	case errors.Is(err, ErrChannelDisabled):
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": err.Error(), "code": "channel_disabled"})
	case errors.Is(err, ErrUsernameTaken):
		httpjson.Write(w, http.StatusConflict, map[string]string{"error": err.Error(), "code": "username_taken"})
	case errors.Is(err, ErrBadLogin):
		httpjson.Write(w, http.StatusUnauthorized, map[string]string{"error": err.Error(), "code": "bad_login"})
	case errors.Is(err, ErrNoUser), errors.Is(err, ErrNoChannel), errors.Is(err, ErrNoToken),
		errors.Is(err, ErrNoSanction), errors.Is(err, ErrNoReport):
		httpjson.Error(w, http.StatusNotFound, err.Error())
	default:
		s.internal(w, err)
	}
}

// Usernames, IDsByNamePrefix and FollowedChannels serve the channel
// directory (channel.People).
func (s *Service) Usernames(ctx context.Context, ids []int64) (map[int64]string, error) {
	return s.Users.Usernames(ctx, ids)
}

// IDsByNamePrefix finds accounts by the start of their name.
func (s *Service) IDsByNamePrefix(ctx context.Context, prefix string, limit int) ([]int64, error) {
	return s.Users.IDsByNamePrefix(ctx, prefix, limit)
}

// FollowedChannels lists the channels a user follows.
func (s *Service) FollowedChannels(ctx context.Context, userID int64) ([]int64, error) {
	return s.Mod.FollowedChannels(ctx, userID)
}
