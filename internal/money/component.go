package money

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// Config is how the app runs the money domain (New); tests and benches
// build the pieces themselves (NewService, StartGroupCommit, StartRelay).
type Config struct {
	Deps
	DB  *store.DB
	Log *slog.Logger
	// PlatformShareBP is the platform's cut of gifts and memberships in
	// basis points, unless an admin or a channel set their own.
	PlatformShareBP int64
	// Bus stores money's events durably (room gifts, notices).
	Bus             outbox.Bus
	OutboxRetention time.Duration
	// What its HTTP handlers ask the other domains.
	Auth      Authorizer
	Users     UserDirectory
	Directory ChannelDirectory
	// WebhookSecret signs payment webhooks; empty disables them.
	WebhookSecret []byte
}

// New starts the money domain: the service, its group-commit gift writer
// and its relay (outbox, settlement, renewals, pruning). Close stops them.
func New(c Config) (*Service, error) {
	s := NewService(c.DB, c.PlatformShareBP, c.Log, c.Deps)
	s.StartGroupCommit()
	relay := s.StartRelay(c.Bus, RelayOptions{OutboxRetention: c.OutboxRetention})
	s.api = &Handlers{Money: s, Auth: c.Auth, Users: c.Users, Channels: c.Directory, Relay: relay, WebhookSecret: c.WebhookSecret}
	return s, nil
}

// Routes adds the money routes (a Service made by New).
func (s *Service) Routes(mux *http.ServeMux) { s.api.Register(mux) }
