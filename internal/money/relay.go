package money

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// Relay owns the money domain's background loops. Each runs in its own
// goroutine, so a slow one never holds up another (a long renewal batch
// cannot delay a gift's event):
//
//   - outbox: publishes committed events to the bus, at once when kicked
//     after a commit, and every second for rows left behind (by a crash, or
//     a publish that failed);
//   - settle: folds hot accounts' appended entries into their balances
//     every 2 seconds;
//   - renew: renews the memberships that are due, every minute;
//   - prune: deletes published outbox rows older than the retention.
//
// Close stops them all and waits for them, within its context.
type Relay struct {
	svc  *Service
	bus  outbox.Bus
	opt  RelayOptions
	kick chan struct{}

	stop chan struct{} // closed when Close begins: each loop returns
	// work is what settling, renewing and pruning run under: cancelled
	// when Close begins, since all of it is safe to abandon (a transaction
	// cut short rolls back, and the next round, here or on another node,
	// takes it up).
	work       context.Context
	cancelWork context.CancelFunc
	// drain is what publishing runs under, to the last sweep on the way
	// out: cancelled only when a Close's deadline passes (a publish cut
	// short between sending and marking would send its rows twice; rows
	// left are published by the next start).
	drain       context.Context
	cancelDrain context.CancelFunc

	wg      sync.WaitGroup
	closing sync.Once
}

// RelayOptions tune the relay.
type RelayOptions struct {
	// OutboxRetention is how long published outbox rows are kept
	// (DefaultOutboxRetention when 0). The room's join replay reads the
	// last minute of gifts from them, so it must be longer than that.
	OutboxRetention time.Duration
	// PruneEvery is how often old rows are pruned (10 minutes when 0).
	PruneEvery time.Duration

	renewEvery time.Duration // tests renew sooner than every minute
}

// DefaultOutboxRetention is how long published outbox rows are kept
// unless configured (--outbox-retention).
const DefaultOutboxRetention = 24 * time.Hour

// Loop intervals and how long one round of each may take.
const (
	publishEvery   = time.Second
	settleEvery    = 2 * time.Second
	renewEvery     = time.Minute
	pruneEvery     = 10 * time.Minute
	publishTimeout = 10 * time.Second
	settleTimeout  = 10 * time.Second
	renewTimeout   = 30 * time.Second
	pruneTimeout   = 5 * time.Minute
)

// staleOutbox is when the relay takes over an unpublished outbox row that
// the group-commit writer (which publishes its own) has not marked.
const staleOutbox = 5 * time.Second

// StartRelay starts the relay's loops, publishing on bus (a *nats.Conn),
// until Close (the service's or the relay's own).
func (s *Service) StartRelay(bus outbox.Bus, opt RelayOptions) *Relay {
	if opt.OutboxRetention <= 0 {
		opt.OutboxRetention = DefaultOutboxRetention
	}
	if opt.PruneEvery <= 0 {
		opt.PruneEvery = pruneEvery
	}
	if opt.renewEvery <= 0 {
		opt.renewEvery = renewEvery
	}
	r := &Relay{svc: s, bus: bus, opt: opt, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	r.work, r.cancelWork = context.WithCancel(context.Background())
	r.drain, r.cancelDrain = context.WithCancel(context.Background())
	s.relay.Store(r)
	r.every(publishEvery, r.kick, r.publish, r.publishLast)
	r.every(settleEvery, nil, r.settle, nil)
	r.every(opt.renewEvery, nil, r.renew, nil)
	r.every(opt.PruneEvery, nil, r.prune, nil)
	return r
}

// Kick asks the relay to publish now (after a commit).
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Close stops the loops and waits for them: work in progress is
// abandoned, except that what the outbox holds is published first unless
// ctx ends before. It returns ctx's error if ctx ended first; calling it
// again is harmless.
func (r *Relay) Close(ctx context.Context) error {
	r.closing.Do(func() {
		close(r.stop)
		r.cancelWork()
	})
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	err := waitFor(ctx, done)
	r.cancelDrain() // past the deadline: the last publish gives up
	if err != nil {
		return fmt.Errorf("stop the money relay: %w", err)
	}
	return nil
}

// waitFor waits until done is closed or ctx ends, whichever is first;
// done wins a tie.
func waitFor(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		select {
		case <-done:
			return nil
		default:
			return ctx.Err()
		}
	}
}

// every runs work every interval, and whenever kick fires, in a goroutine
// of its own until Close; then last, if any, once.
func (r *Relay) every(interval time.Duration, kick <-chan struct{}, work func(kicked bool), last func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-r.stop:
				if last != nil {
					last()
				}
				return
			case <-kick:
				work(true)
			case <-tick.C:
				work(false)
			}
		}
	}()
}

// failed logs a round's error, unless the round was cut short by Close.
func (r *Relay) failed(ctx context.Context, what string, err error) {
	if err != nil && ctx.Err() == nil {
		r.svc.log.Error(what, "err", err)
	}
}

func (r *Relay) publish(kicked bool) {
	ctx, cancel := context.WithTimeout(r.drain, publishTimeout)
	defer cancel()
	// With a group-commit writer, fresh rows are its to publish; when not
	// kicked the relay takes rows older than a few seconds.
	cutoff := store.Now()
	if r.svc.writer != nil && !kicked {
		cutoff -= staleOutbox.Milliseconds()
	}
	_, err := outbox.PublishPending(ctx, r.svc.db, r.bus, cutoff)
	r.failed(r.drain, "publish outbox", err)
}

// publishLast publishes everything the outbox holds, on the way out.
func (r *Relay) publishLast() {
	ctx, cancel := context.WithTimeout(r.drain, publishTimeout)
	defer cancel()
	_, err := outbox.PublishPending(ctx, r.svc.db, r.bus, store.Now())
	r.failed(r.drain, "publish outbox", err)
}

func (r *Relay) settle(bool) {
	ctx, cancel := context.WithTimeout(r.work, settleTimeout)
	defer cancel()
	r.failed(r.work, "settle hot accounts", ledger.Settle(ctx, r.svc.db))
}

func (r *Relay) renew(bool) {
	ctx, cancel := context.WithTimeout(r.work, renewTimeout)
	defer cancel()
	_, err := r.svc.RenewDue(ctx, time.Now())
	r.failed(r.work, "renew memberships", err)
}

func (r *Relay) prune(bool) {
	ctx, cancel := context.WithTimeout(r.work, pruneTimeout)
	defer cancel()
	n, err := outbox.Prune(ctx, r.svc.db, time.Now().Add(-r.opt.OutboxRetention).UnixMilli())
	r.failed(r.work, "prune outbox", err)
	if n > 0 {
		r.svc.log.Debug("pruned published outbox rows", "rows", n, "older_than", r.opt.OutboxRetention)
	}
}
