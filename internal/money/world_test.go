package money

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// world is the money service with the real account and channel domains
// beside it on the same database (what renewals ask about), a clock the
// test moves, and the service's log.
type world struct {
	t        *testing.T
	db       *store.DB
	s        *Service
	users    *account.Users
	channels *channel.Service
	logs     *lockedBuffer
	clock    time.Time
}

// eachWorld runs fn on SQLite and on PostgreSQL with a fresh world.
func eachWorld(t *testing.T, fn func(t *testing.T, w *world)) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		fn(t, newWorld(t, db))
	}, account.Migrations(), channel.Migrations(), Migrations())
}

func newWorld(t *testing.T, db *store.DB) *world {
	users, err := account.NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, db: db, users: users, channels: channel.NewService(db), logs: &lockedBuffer{},
		clock: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.s = NewService(db, 3000, log, Deps{Accounts: users, Channels: w.channels})
	w.s.now = func() time.Time { return w.clock }
	return w
}

// user creates an account with coins.
func (w *world) user(name string, coins int64) int64 {
	w.t.Helper()
	u, err := w.users.Create(context.Background(), account.NewUser{Username: name, Password: name + "-password-123"})
	if err != nil {
		w.t.Fatal(err)
	}
	if coins > 0 {
		mustGrant(w.t, w.s, u.ID, coins)
	}
	return u.ID
}

// channel creates a channel owned by a new account.
func (w *world) channel(slug string) int64 {
	w.t.Helper()
	owner := w.user(slug+"-owner", 0)
	c, _, err := w.channels.Create(context.Background(), channel.Input{Slug: &slug, Title: &slug}, owner)
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ID
}

func (w *world) balance(user int64) int64 {
	w.t.Helper()
	b, _, err := w.s.Wallet(context.Background(), user, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// noErrorsLogged fails if the service logged at level ERROR.
func (w *world) noErrorsLogged() {
	w.t.Helper()
	if logs := w.logs.String(); strings.Contains(logs, "level=ERROR") {
		w.t.Fatalf("errors logged:\n%s", logs)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)
