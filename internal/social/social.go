// Package social is who follows whom: viewers follow channels (the home
// page lists followed channels first, followers-only chat asks for it).
package social

import (
	"context"
	"embed"
	"io/fs"
	"net/http"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the social domain's tables. follows was the trust
// domain's until it was split; version 1 creates it only where it does not
// exist yet.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "social", FS: sub}
}

// Accounts resolves a channel-scoped request and its caller (the account
// domain's channel-scope middleware).
type Accounts interface {
	InChannel(a policy.Action, h func(http.ResponseWriter, *http.Request, policy.Channel, policy.Principal)) http.HandlerFunc
}

// Deps are what the social domain is built on.
type Deps struct {
	Store    *Store
	Accounts Accounts
	// Publish tells every node's chat context a viewer's standing in a
	// channel changed (followers-only chat); nil when nobody listens.
	Publish func(bus.Event)
}

// Service is the social domain.
type Service struct {
	store    *Store
	accounts Accounts
	publish  func(bus.Event)
}

// New builds the social domain on its store.
func New(d Deps) (*Service, error) {
	return &Service{store: d.Store, accounts: d.Accounts, publish: d.Publish}, nil
}

// Routes adds GET, POST and DELETE /api/channels/{slug}/follow.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/channels/{slug}/follow", s.accounts.InChannel(policy.ActWatch, s.followState))
	mux.HandleFunc("POST /api/channels/{slug}/follow", s.accounts.InChannel(policy.ActFollow, s.follow))
	mux.HandleFunc("DELETE /api/channels/{slug}/follow", s.accounts.InChannel(policy.ActFollow, s.unfollow))
}

// Close ends the domain; it owns no goroutine. Safe to call more than once.
func (s *Service) Close(context.Context) error { return nil }

func (s *Service) follow(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	if err := s.store.Follow(r.Context(), p.UserID(), ch.ID); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.standingChanged(ch.ID, p.UserID())
	httpjson.Write(w, http.StatusOK, map[string]bool{"following": true})
}

// followState answers whether the caller follows the channel and how many do.
func (s *Service) followState(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	n, err := s.store.Followers(r.Context(), ch.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	following := false
	if p.User != nil {
		if following, err = s.store.Follows(r.Context(), p.User.ID, ch.ID); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"following": following, "followers": n})
}

func (s *Service) unfollow(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	if err := s.store.Unfollow(r.Context(), p.UserID(), ch.ID); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.standingChanged(ch.ID, p.UserID())
	httpjson.Write(w, http.StatusOK, map[string]bool{"following": false})
}

// standingChanged tells every node's chat context that a viewer's follow
// of a channel changed.
func (s *Service) standingChanged(channelID, userID int64) {
	if s.publish != nil {
		s.publish(bus.Event{Type: bus.StandingChanged, ChannelID: channelID, UserID: userID})
	}
}
