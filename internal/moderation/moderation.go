// Package moderation keeps rooms clean: moderators, channel rules,
// sanctions (mutes, channel bans, platform bans), reports and the
// moderation log, the full check of a chat message (CheckSpeaker), the
// moderation stage of the danmaku pipeline (Stage: content filters with a
// deadline), the held queue, blocked verdicts and appeals.
//
// Its data layer (Store) is built before the account domain, which asks it
// for a principal's roles; its handlers are built after, and ask account
// who is calling.
package moderation

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the moderation domain's tables. They were the trust
// domain's until it was split: version 1 creates them only where they do
// not exist yet, and version 2 (a column trust's version 6 added) is
// recorded without running where that one ran.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "moderation", FS: sub,
		Moved: map[int]store.Applied{2: {Domain: "trust", Version: 6, Name: "medal_min_level"}}}
}

// Accounts is who is asking and whether they may (the account domain).
type Accounts interface {
	Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	AuthorizeContext(ctx context.Context, a policy.Action, channelID, ownerID int64) (policy.Principal, error)
	InChannel(a policy.Action, h func(http.ResponseWriter, *http.Request, policy.Channel, policy.Principal)) http.HandlerFunc
	// AdminTarget authorizes a platform admin and reads the account of {id}.
	AdminTarget(w http.ResponseWriter, r *http.Request) (policy.Principal, policy.User, bool)
	// IdentityChanged tells every node an account's rights changed.
	IdentityChanged(userID int64, kind string)
}

// Users finds accounts by name (the account domain).
type Users interface {
	ByName(ctx context.Context, name string) (policy.User, error)
}

// Channels resolves channels outside a {slug} path (the channel domain).
type Channels interface {
	ChannelOwner(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	// OpenChannel is ChannelOwner for chat: a disabled channel answers
	// policy.ErrChannelDisabled.
	OpenChannel(ctx context.Context, slug string) (channelID, ownerID int64, err error)
	OwnerByID(ctx context.Context, channelID int64) (ownerID int64, err error)
}

// Follows tells whether a viewer follows a channel (the social domain).
type Follows interface {
	Follows(ctx context.Context, userID, channelID int64) (bool, error)
}

// Fans reads a viewer's badge in a channel (the money domain).
type Fans interface {
	Standing(ctx context.Context, userID, channelID int64, slug string) (policy.FanBadge, error)
}

// Rooms is where a moderator's decision on a held message lands (the
// room domain): an approved message is published as if just sent, and the
// room hears the decision so the sender (who holds the ticket) is told.
type Rooms interface {
	Release(ctx context.Context, channelID int64, payload []byte) (messageID int64, err error)
	Reviewed(channelID int64, ticket, decision string)
}

// Learner is the filter engine's classifier, taught by moderators'
// decisions: offensive true for a text a moderator removed, false for one
// a moderator let through or an appeal cleared.
type Learner interface {
	Feedback(ctx context.Context, text string, offensive bool, source string) error
}

// Deps are what the moderation domain's handlers are built on.
type Deps struct {
	Store    *Store
	Accounts Accounts
	Users    Users
	Channels Channels
	Follows  Follows
	// Fans tells members and medal holders apart (nil: nobody is either).
	Fans Fans
	// Screen is the moderation stage: content filters with a deadline
	// (nil: none, everything is allowed).
	Screen *Stage
	// Rooms publishes approved held messages (nil: approval only records).
	Rooms Rooms
	// Learner hears moderators' decisions (nil: nobody learns).
	Learner Learner
	// Publish tells every node's chat context what changed (rules,
	// moderators, sanctions); nil when nobody listens.
	Publish func(bus.Event)
	Log     *slog.Logger
}

// Service is the moderation domain's HTTP side and the message check.
type Service struct {
	Deps
}

// New builds the moderation domain on its store.
func New(d Deps) (*Service, error) {
	return &Service{Deps: d}, nil
}

// Routes adds the moderation routes: a channel's rules, message check,
// moderators, mutes, bans, sanctions, log and reports; reports from
// viewers; platform bans and the platform's reports.
func (s *Service) Routes(mux *http.ServeMux) {
	in := s.Accounts.InChannel
	mux.HandleFunc("GET /api/channels/{slug}/rules", in(policy.ActWatch, s.getRules))
	mux.HandleFunc("PUT /api/channels/{slug}/rules", in(policy.ActChannelModerate, s.putRules))
	mux.HandleFunc("POST /api/channels/{slug}/check-message", s.checkMessage)
	mux.HandleFunc("GET /api/channels/{slug}/moderators", in(policy.ActWatch, s.listModerators))
	mux.HandleFunc("POST /api/channels/{slug}/moderators", in(policy.ActAppointModerator, s.appointModerator))
	mux.HandleFunc("DELETE /api/channels/{slug}/moderators/{username}", in(policy.ActAppointModerator, s.dismissModerator))
	mux.HandleFunc("POST /api/channels/{slug}/mutes", in(policy.ActChannelModerate, s.sanction("mute")))
	mux.HandleFunc("DELETE /api/channels/{slug}/mutes/{username}", in(policy.ActChannelModerate, s.lift("mute")))
	mux.HandleFunc("POST /api/channels/{slug}/bans", in(policy.ActChannelModerate, s.sanction("ban")))
	mux.HandleFunc("DELETE /api/channels/{slug}/bans/{username}", in(policy.ActChannelModerate, s.lift("ban")))
	mux.HandleFunc("GET /api/channels/{slug}/sanctions", in(policy.ActChannelModerate, s.listSanctions))
	mux.HandleFunc("GET /api/channels/{slug}/modlog", in(policy.ActChannelModerate, s.modLog))
	mux.HandleFunc("GET /api/channels/{slug}/reports", in(policy.ActChannelModerate, s.channelReports))
	mux.HandleFunc("POST /api/reports", s.fileReport)
	mux.HandleFunc("POST /api/reports/{id}", s.resolveReport)

	s.filterRoutes(mux)

	mux.HandleFunc("POST /api/admin/users/{id}/ban", s.adminBan)
	mux.HandleFunc("DELETE /api/admin/users/{id}/ban", s.adminUnban)
	mux.HandleFunc("GET /api/admin/reports", s.platformReports)
}

// Close ends the domain; it owns no goroutine. Safe to call more than once.
func (s *Service) Close(context.Context) error { return nil }

// announce publishes e to every node (when there is a bus).
func (s *Service) announce(e bus.Event) {
	if s.Publish != nil {
		s.Publish(e)
	}
}
