package live

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the live domain's tables (the node registry).
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "live", FS: sub}
}

// MaxNodeID is the largest node id: room message ids have 10 bits for it,
// and 0 stays "no node" (sessions from before node ids, offline tools).
const MaxNodeID = 1023

// ErrNoNodeID is returned when every node id is held by a live lease.
var ErrNoNodeID = errors.New("every node id is taken")

// RegistryOptions configure a node's registration.
type RegistryOptions struct {
	// DataDir holds the node's persisted identity; empty: a new identity
	// (and so usually a new id) on every start.
	DataDir string
	// LeaseTTL is how long a node's id stays its own without a renewal
	// (default 15 s); Renew is how often it renews (default LeaseTTL/5).
	LeaseTTL, Renew time.Duration
	Log             *slog.Logger
}

// Registry holds this process's node id: a row in the nodes table under a
// lease it renews. Close releases the id.
type Registry struct {
	db  *store.DB
	id  int
	ttl time.Duration
	log *slog.Logger
	me  identity

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Register takes a node id for this process: the one its persisted
// identity held before (a restart), else one whose lease ran out, else a
// new one; ErrNoNodeID when all MaxNodeID are held by live leases. It
// then renews the lease until Close.
func Register(ctx context.Context, db *store.DB, o RegistryOptions) (*Registry, error) {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.Renew <= 0 {
		o.Renew = o.LeaseTTL / 5
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	me, why, err := loadIdentity(o.DataDir)
	if err != nil {
		return nil, err
	}
	if why != "" {
		o.Log.Info("node identity is new for this run", "why", why)
	}
	r := &Registry{db: db, ttl: o.LeaseTTL, log: o.Log, me: me, stop: make(chan struct{}), done: make(chan struct{})}
	if r.id, err = r.acquire(ctx); err != nil {
		me.close()
		return nil, err
	}
	go r.renewLoop(o.Renew)
	return r, nil
}

// ID is this node's id (1 to MaxNodeID).
func (r *Registry) ID() int { return r.id }

func (r *Registry) acquire(ctx context.Context) (int, error) {
	now := NowSQL(r.db.Dialect)
	ttl := r.ttl.Milliseconds()
	started := store.Now()
	var id int
	// A restart: the row this identity held. Only a persisted identity,
	// locked by this process, can match one.
	if r.me.persisted {
		err := r.db.QueryRowContext(ctx, `UPDATE nodes SET started_at = $1, lease_until = `+now+` + $2
			WHERE identity = $3 RETURNING id`, started, ttl, r.me.value).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("take this node's previous id: %w", err)
		}
	}
	for attempt := 0; attempt < 20; attempt++ {
		// An id whose lease ran out. The lease is checked again on the row
		// itself, so of two nodes racing for it one gets no row and retries.
		err := r.db.QueryRowContext(ctx, `UPDATE nodes SET identity = $1, started_at = $2, lease_until = `+now+` + $3
			WHERE id = (SELECT id FROM nodes WHERE lease_until < `+now+` ORDER BY id LIMIT 1) AND lease_until < `+now+`
			RETURNING id`, r.me.value, started, ttl).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("take an expired node id: %w", err)
		}
		// A new id after the highest; two nodes racing for it meet on the key.
		err = r.db.QueryRowContext(ctx, `INSERT INTO nodes (id, identity, started_at, lease_until)
			SELECT COALESCE(MAX(id), 0) + 1, $1, $2, `+now+` + $3 FROM nodes HAVING COALESCE(MAX(id), 0) < $4
			RETURNING id`, r.me.value, started, ttl, MaxNodeID).Scan(&id)
		switch {
		case err == nil:
			return id, nil
		case store.IsUniqueViolation(err):
			continue
		case errors.Is(err, sql.ErrNoRows):
			var expired int
			if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM nodes WHERE lease_until < `+now).Scan(&expired); err != nil {
				return 0, fmt.Errorf("count expired node ids: %w", err)
			}
			if expired > 0 {
				continue // one ran out meanwhile
			}
			return 0, fmt.Errorf("%w: all %d node ids are held by running nodes (a node that died frees its id %v after its last renewal); "+
				"stop a node or wait, then start again", ErrNoNodeID, MaxNodeID, r.ttl)
		default:
			return 0, fmt.Errorf("register a new node id: %w", err)
		}
	}
	return 0, errors.New("register a node id: too much contention, gave up after 20 attempts")
}

func (r *Registry) renewLoop(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	lost := false
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := r.renew(ctx)
		cancel()
		switch {
		case errors.Is(err, errLeaseLost):
			if !lost {
				// Another node took this id after the lease ran out (this
				// node could not reach the database for longer than its
				// lease). Message ids may collide until this node restarts.
				r.log.Error("this node's id now belongs to another node; restart this node", "node", r.id)
			}
			lost = true
		case err != nil:
			r.log.Warn("renew node lease", "node", r.id, "err", err)
		default:
			lost = false
		}
	}
}

var errLeaseLost = errors.New("node lease lost")

func (r *Registry) renew(ctx context.Context) error {
	res, err := r.db.ExecContext(ctx, `UPDATE nodes SET lease_until = `+NowSQL(r.db.Dialect)+` + $1 WHERE id = $2 AND identity = $3`,
		r.ttl.Milliseconds(), r.id, r.me.value)
	if err != nil {
		return fmt.Errorf("renew lease of node %d: %w", r.id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errLeaseLost
	}
	return nil
}

// Close stops renewing and releases the id (its lease ends now), bounded
// by ctx. Safe to call more than once.
func (r *Registry) Close(ctx context.Context) error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		defer r.me.close()
		select {
		case <-r.done:
		case <-ctx.Done():
			err = fmt.Errorf("stop renewing node lease: %w", ctx.Err())
			return
		}
		if _, e := r.db.ExecContext(ctx, `UPDATE nodes SET lease_until = 0 WHERE id = $1 AND identity = $2`, r.id, r.me.value); e != nil {
			err = fmt.Errorf("release node id %d: %w", r.id, e)
		}
	})
	return err
}
