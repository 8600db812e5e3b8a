// Package money owns wallets, gifts, memberships, top-ups and payouts.
// Amounts are integer coins. Each movement is one SQL transaction that
// holds the row that caused it (a gift, a purchase, a payment …), one
// ledger.Post of entries summing to zero, and the events it causes, added
// to the outbox (outbox.Add) and published after commit. So nothing is
// charged without its gift and no gift is shown twice by the server.
//
// Where things are:
//
//	ledger/      Post (the one way coins move, and the account rules), Settle, Check
//	outbox/      Add, publishing after commit, pruning, the room's gift replay
//	subjects/    the bus subjects money publishes on
//	gifts.go     sending a gift; gifttx.go the one transaction body of the
//	             single and the group-commit paths; giftwriter.go group commit
//	relay.go     the domain's background loops (outbox, settlement, renewals,
//	             pruning), each owned and stopped by Relay
//	errors.go    every refusal, with the status and code the API answers
package money

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the money domain's tables.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "money", FS: sub}
}

// Account kinds.
const (
	KindUser     = ledger.KindUser
	KindChannel  = ledger.KindChannel
	KindPlatform = ledger.KindPlatform
	KindProvider = ledger.KindProvider
)

// Provider owner ids (accounts of kind provider).
const ProviderManual int64 = 1

// Service is the money domain.
type Service struct {
	db *store.DB
	// PlatformShareBP is the platform's cut of gifts in basis points.
	platformShareBP int64
	log             *slog.Logger
	accounts        *ledger.Accounts

	mu     sync.Mutex
	shares map[int64]cachedShare

	writer *giftWriter // group commit; nil sends each gift in its own transaction

	catalog   map[string]Gift
	catalogAt time.Time

	relay atomic.Pointer[Relay] // set by StartRelay
	api   *Handlers             // set by New

	deps Deps
	now  func() time.Time // the clock memberships are timed by (tests set it)
}

// Accounts tells whether an account still exists: renewals act for a
// member later and must not charge a closed account (policy.Users does).
type Accounts interface {
	Closed(ctx context.Context, userID int64) (bool, error)
}

// Channels tells whether a channel still takes money (a platform admin can
// disable one); renewals find it by id (the channel domain does).
type Channels interface {
	ChannelSlug(ctx context.Context, channelID int64) (string, error)
	OpenChannel(ctx context.Context, slug string) (channelID, ownerID int64, err error)
}

// Deps are what the money domain needs from the others, given at
// construction. Without them memberships do not renew themselves (nothing
// could tell a closed account or a disabled channel).
type Deps struct {
	Accounts Accounts
	Channels Channels
	// Publish tells every node a viewer's standing in a channel (fan medal,
	// membership) or a channel's medal changed, so chat checks reload it;
	// nil: nobody listens.
	Publish func(bus.Event)
	// ScreenName asks the content filter whether a gift, tier or medal name
	// may be used in a channel (0: the platform); an error refuses it
	// (nil: any well-formed name may).
	ScreenName func(ctx context.Context, channelID int64, name string) error
}

// screenName runs Deps.ScreenName.
func (s *Service) screenName(ctx context.Context, channelID int64, name string) error {
	if s.deps.ScreenName == nil {
		return nil
	}
	return s.deps.ScreenName(ctx, channelID, name)
}

// standingChanged announces that user's standing in channel changed.
func (s *Service) standingChanged(channelID, userID int64) {
	if s.deps.Publish != nil {
		s.deps.Publish(bus.Event{Type: bus.StandingChanged, ChannelID: channelID, UserID: userID})
	}
}

// NewService returns the money domain on db.
func NewService(db *store.DB, platformShareBP int64, log *slog.Logger, deps Deps) *Service {
	return &Service{db: db, platformShareBP: platformShareBP, log: log, accounts: ledger.NewAccounts(db), shares: map[int64]cachedShare{},
		deps: deps, now: time.Now}
}

// account returns the id of an account, creating it on first use.
func (s *Service) account(ctx context.Context, kind string, owner int64) (int64, error) {
	return s.accounts.ID(ctx, kind, owner)
}

// Close stops the group-commit writer (the gifts it holds are committed
// or refused) and then the relay's loops (publishing what is left), within
// ctx: when ctx ends first, the work in flight is abandoned (rolled back,
// nothing half-written) and Close returns ctx's error. Calling it again
// is harmless.
func (s *Service) Close(ctx context.Context) error {
	err := s.stopGroupCommit(ctx)
	if r := s.relay.Load(); r != nil {
		err = errors.Join(err, r.Close(ctx))
	}
	return err
}

// kickRelay asks the relay to publish the outbox now (after a commit).
func (s *Service) kickRelay() {
	if r := s.relay.Load(); r != nil {
		r.Kick()
	}
}
