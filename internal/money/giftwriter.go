package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// giftWriter commits gifts in groups: one goroutine takes every gift that
// arrived while the previous group was committing and commits them in one
// transaction (writeGifts, the same body as a single gift's, whose
// statements are multi-row). Each sender is answered only after the
// commit that holds its gift, so an acknowledged gift is durable exactly
// as before; the database sees one commit per group instead of one per
// gift.
type giftWriter struct {
	s    *Service
	in   chan *giftReq
	done chan struct{}

	// ctx is what commits run under: cancelled when a Close's deadline
	// passes, so a commit stuck on the database gives up (rolls back and
	// answers its gifts with the error) instead of holding shutdown.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // senders hold it shared; stopping takes it to close in
	closed bool

	// slowDebits counts gifts charged one by one because their sender
	// could not pay for the whole group (tests check the fast path is taken).
	slowDebits atomic.Int64
}

const maxGroup = 256

// errShuttingDown refuses a gift sent after the writer began to stop.
var errShuttingDown = errors.New("shutting down: gift not sent")

// StartGroupCommit makes SendGift commit in groups until StopGroupCommit
// (or Close).
func (s *Service) StartGroupCommit() {
	ctx, cancel := context.WithCancel(context.Background())
	s.writer = &giftWriter{s: s, in: make(chan *giftReq, 4*maxGroup), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go s.writer.run()
}

// StopGroupCommit finishes the queued gifts and stops the writer, however
// long that takes; Close does it within a deadline.
func (s *Service) StopGroupCommit() {
	_ = s.stopGroupCommit(context.Background())
}

// stopGroupCommit stops taking gifts and waits until the writer has
// answered every gift it took. When ctx ends first, the commit in flight
// and the queued gifts are abandoned (their senders get an error and
// nothing of them is stored) and ctx's error is returned at once.
func (s *Service) stopGroupCommit(ctx context.Context) error {
	w := s.writer
	if w == nil {
		return nil
	}
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	err := waitFor(ctx, w.done)
	w.cancel() // past the deadline: the writer abandons what it holds
	if err != nil {
		return fmt.Errorf("stop the gift writer: %w", err)
	}
	return nil
}

func (w *giftWriter) submit(ctx context.Context, r *giftReq) (SentGift, error) {
	r.result = make(chan giftResult, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return SentGift{}, errShuttingDown
	}
	select {
	case w.in <- r:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return SentGift{}, ctx.Err()
	}
	// Once queued, the gift is committed or refused even if the caller
	// gives up; waiting for the answer keeps "acknowledged" meaning "stored".
	res := <-r.result
	return res.out, res.err
}

func (w *giftWriter) run() {
	defer close(w.done)
	for first := range w.in {
		group := []*giftReq{first}
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-w.in:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		w.commit(group)
	}
}

// commit stores a group. Repeats of one key inside the group are answered
// from the first after the commit. If the group fails as a whole (another
// node raced on a key), each gift is retried on its own.
func (w *giftWriter) commit(group []*giftReq) {
	s := w.s
	ctx := w.ctx
	first := map[senderKey]*giftReq{}
	var unique, repeats []*giftReq
	for _, r := range group {
		k := senderKey{r.senderID, r.key}
		if first[k] != nil {
			repeats = append(repeats, r)
			continue
		}
		first[k] = r
		unique = append(unique, r)
	}
	// Retries of gifts already stored: one query for the group.
	done, err := w.existingKeys(ctx, unique)
	if err != nil {
		for _, r := range group {
			r.result <- giftResult{err: err}
		}
		return
	}
	if len(done) > 0 {
		fresh := unique[:0]
		for _, r := range unique {
			if done[senderKey{r.senderID, r.key}] {
				// A retry (rare): answer it as the first gift, with today's balance.
				out, _, err := s.existing(ctx, r.senderID, r.key, r.channelID, r.gift.ID, r.count)
				r.result <- giftResult{out: out, err: err}
				continue
			}
			fresh = append(fresh, r)
		}
		unique = fresh
	}
	if len(unique) == 0 {
		// Every gift of the group was a retry: there is nothing to commit.
		w.answerRepeats(ctx, repeats)
		return
	}
	var b giftBatch
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = s.writeGifts(ctx, tx, unique, true)
		return err
	})
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down past its deadline: the group is abandoned and each
		// sender told so (a retry with the same key finds its gift if the
		// commit got through after all).
		for _, r := range unique {
			r.result <- giftResult{err: err}
		}
	case err != nil:
		// The whole group failed: fall back to one transaction per gift,
		// which answers each on its own (including key races).
		if !store.IsUniqueViolation(err) {
			s.log.Error("group commit failed; retrying gifts one by one", "gifts", len(unique), "err", err)
		}
		for _, r := range unique {
			out, err := s.sendGiftTx(ctx, r)
			r.result <- giftResult{out: out, err: err}
		}
	default:
		w.slowDebits.Add(int64(b.slow))
		for _, r := range unique {
			// Announce before answering: the sender's next danmaku must
			// meet the medal this gift earned (as the one-by-one path does).
			if res := b.results[r]; res.err == nil && !res.out.Duplicate {
				s.standingChanged(r.channelID, r.senderID)
			}
			r.result <- b.results[r]
		}
		// The writer publishes its own group at once (the relay would add a
		// hop and a competing writer); the relay only catches rows a crash
		// left unpublished.
		if relay := s.relay.Load(); relay != nil && len(b.events) > 0 {
			if err := outbox.Publish(ctx, s.db, relay.bus, b.events); err != nil {
				s.log.Error("publish gifts", "err", err) // the relay will retry the unmarked rows
			}
		}
	}
	w.answerRepeats(ctx, repeats)
}

// answerRepeats answers the copies of a key that came in the same group as
// its first, from what the first became.
func (w *giftWriter) answerRepeats(ctx context.Context, repeats []*giftReq) {
	for _, r := range repeats {
		out, ok, err := w.s.existing(ctx, r.senderID, r.key, r.channelID, r.gift.ID, r.count)
		if err == nil && !ok {
			err = ErrInsufficientFunds // its first copy was refused for funds
		}
		r.result <- giftResult{out: out, err: err}
	}
}

// existingKeys finds which (sender, key) pairs of a group are already gifts.
func (w *giftWriter) existingKeys(ctx context.Context, group []*giftReq) (map[senderKey]bool, error) {
	if len(group) == 0 {
		return nil, nil
	}
	// One (sender, key) pair per OR term: each is a probe of the unique
	// index. (key IN (…) alone cannot use it and scanned every gift ever sent.)
	var q strings.Builder
	q.WriteString(`SELECT sender_id, idempotency_key FROM gifts WHERE `)
	args := make([]any, 0, 2*len(group))
	for i, r := range group {
		if i > 0 {
			q.WriteString(" OR ")
		}
		args = append(args, r.senderID, r.key)
		fmt.Fprintf(&q, "(sender_id = $%d AND idempotency_key = $%d)", len(args)-1, len(args))
	}
	rows, err := w.s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("look up idempotency keys: %w", err)
	}
	defer rows.Close()
	want := map[senderKey]bool{}
	for _, r := range group {
		want[senderKey{r.senderID, r.key}] = true
	}
	out := map[senderKey]bool{}
	for rows.Next() {
		var sender int64
		var key string
		if err := rows.Scan(&sender, &key); err != nil {
			return nil, err
		}
		if k := (senderKey{sender, key}); want[k] {
			out[k] = true
		}
	}
	return out, rows.Err()
}
