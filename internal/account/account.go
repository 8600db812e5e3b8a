// Package account is who is asking: accounts and their names, sessions,
// personal tokens, the platform admin token, proof-of-work challenges, the
// platform settings (and the rate limits they set), the middleware that
// authenticates every request, and Authorize, which asks the policy.
//
// A principal's roles in a channel (moderator, mute, ban) and the platform
// ban are moderation's data: account asks for them through Roles, given at
// construction.
package account

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/ratelimit"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the account domain's tables. They are recorded under the
// domain name "trust", the package they were written in: every existing
// database has versions 1 to 6 recorded under that name, and the store
// matches migrations by (domain, version), so a new name would run them
// again. Versions 3 and 6 are placeholders now: their tables and column
// belong to moderation and social, whose sets adopt what is already there.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "trust", FS: sub}
}

// Roles is what Authorize needs to know about a principal beyond who they
// are (the moderation store answers it).
type Roles interface {
	// ChannelRoles fills in whether userID moderates channelID and is
	// muted or banned there at now.
	ChannelRoles(ctx context.Context, channelID, userID int64, now time.Time) (policy.ChannelRoles, error)
	// PlatformBanned reports a platform-wide ban in force at now.
	PlatformBanned(ctx context.Context, userID int64, now time.Time) (bool, error)
}

// Channels resolves the {slug} of channel-scoped requests (the channel
// domain): one query for id, owner and whether it is disabled.
type Channels interface {
	Resolve(ctx context.Context, slug string) (policy.Channel, error)
}

// Limits are the abuse-defence rate limits. Zero fields get defaults.
type Limits struct {
	SignupPerIP     *ratelimit.Limiter // sign-ups from one address
	LoginPerIP      *ratelimit.Limiter // log-in attempts from one address
	WritePerIP      *ratelimit.Limiter // any state-changing API call from one address
	WritePerAccount *ratelimit.Limiter // any state-changing API call by one account
	BrowsePerIP     *ratelimit.Limiter // anonymous channel listing/history from one address
}

// DefaultLimits are generous for people and tight for scripts.
func DefaultLimits() Limits {
	return Limits{
		SignupPerIP:     ratelimit.NewLimiter(5, time.Hour),
		LoginPerIP:      ratelimit.NewLimiter(30, time.Minute),
		WritePerIP:      ratelimit.NewLimiter(120, time.Minute),
		WritePerAccount: ratelimit.NewLimiter(60, time.Minute),
		BrowsePerIP:     ratelimit.NewLimiter(60, time.Minute),
	}
}

// Deps are what the account domain is built on.
type Deps struct {
	DB *store.DB
	// Roles answers channel roles and platform bans (moderation's store).
	Roles Roles
	// Channels resolves {slug} for InChannel (the channel domain).
	Channels Channels
	// Limits overrides the default rate limits (tests); zero fields keep them.
	Limits Limits
	Log    *slog.Logger
	// Publish tells every node what changed (log-outs, roles, settings);
	// nil when no node listens.
	Publish func(bus.Event)
	// ScreenName asks the content filter whether a new username may be
	// used (nil: any well-formed name may).
	ScreenName func(ctx context.Context, name string) error
}

// Service is the account domain.
type Service struct {
	DB         *store.DB
	Users      *Users
	Sessions   *Sessions
	Tokens     *Tokens
	Admin      *Admin
	Challenges *Challenges
	Throttle   *ratelimit.LoginThrottle
	Limits     Limits
	Log        *slog.Logger

	roles      Roles
	channels   Channels
	publish    func(bus.Event)
	screenName func(ctx context.Context, name string) error

	crawl crawlTracker
	// roomConnsPerIP is the admin's room-connection cap (0: the default).
	roomConnsPerIP atomic.Int64
	settings       atomic.Pointer[cachedSettings]
	auth           authCache
}

// New builds the account domain; it reads (or creates) the challenge
// signing key shared by every node.
func New(ctx context.Context, d Deps) (*Service, error) {
	users, err := NewUsers(d.DB)
	if err != nil {
		return nil, err
	}
	ch, err := NewChallenges(ctx, d.DB)
	if err != nil {
		return nil, err
	}
	limits, def := d.Limits, DefaultLimits()
	for _, l := range []struct {
		dst **ratelimit.Limiter
		def *ratelimit.Limiter
	}{
		{&limits.SignupPerIP, def.SignupPerIP}, {&limits.LoginPerIP, def.LoginPerIP}, {&limits.WritePerIP, def.WritePerIP},
		{&limits.WritePerAccount, def.WritePerAccount}, {&limits.BrowsePerIP, def.BrowsePerIP},
	} {
		if *l.dst == nil {
			*l.dst = l.def
		}
	}
	return &Service{
		DB: d.DB, Users: users, Sessions: &Sessions{db: d.DB}, Tokens: &Tokens{db: d.DB}, Admin: NewAdmin(d.DB),
		Challenges: ch, Throttle: ratelimit.NewLoginThrottle(), Limits: limits, Log: d.Log,
		roles: d.Roles, channels: d.Channels, publish: d.Publish, screenName: d.ScreenName,
	}, nil
}

// Routes adds the account routes: challenges, sign-up, log-in and out, the
// caller's account and tokens, and the platform admin's users and settings.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/challenge", s.issueChallenge)
	mux.HandleFunc("POST /api/challenge/pass", s.solvePass)
	mux.HandleFunc("POST /api/auth/signup", s.signup)
	mux.HandleFunc("POST /api/auth/login", s.login)
	mux.HandleFunc("POST /api/auth/logout", s.logout)
	mux.HandleFunc("GET /api/me", s.me)
	mux.HandleFunc("POST /api/me/password", s.changePassword)
	mux.HandleFunc("DELETE /api/me", s.deleteAccount)
	mux.HandleFunc("GET /api/tokens", s.listTokens)
	mux.HandleFunc("POST /api/tokens", s.createToken)
	mux.HandleFunc("DELETE /api/tokens/{id}", s.revokeToken)

	mux.HandleFunc("GET /api/admin/users", s.adminUsers)
	mux.HandleFunc("POST /api/admin/users/{id}/roles", s.adminRoles)
	mux.HandleFunc("GET /api/admin/settings", s.getSettings)
	mux.HandleFunc("PUT /api/admin/settings", s.putSettings)
}

// Close ends the domain. It owns no goroutine (its caches are memory), so
// there is nothing to wait for; it is safe to call more than once.
func (s *Service) Close(context.Context) error { return nil }

// OnEvent keeps this node's memory in step with changes made on any node:
// an identity change forgets the account's cached logins, a settings change
// reloads the platform settings on next use. The app routes bus events here.
func (s *Service) OnEvent(e bus.Event) {
	switch e.Type {
	case bus.IdentityChanged:
		s.auth.forget(e.UserID)
	case bus.SettingsChanged:
		s.settings.Store(nil)
	}
}

// announce publishes e to every node (when there is a bus).
func (s *Service) announce(e bus.Event) {
	if s.publish != nil {
		s.publish(e)
	}
}
