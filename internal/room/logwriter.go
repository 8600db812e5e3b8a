package room

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

// logWriter appends messages to the room log in batches: every message
// waits for the transaction that holds it (so nothing is shown that is not
// stored), but many messages share one commit, so the database is not the
// bottleneck when a room is busy.
type logWriter struct {
	db    *store.DB
	in    chan *pendingRow
	done  chan struct{}
	every time.Duration
	max   int

	// mu guards in against a send after close: senders hold it shared.
	mu     sync.RWMutex
	closed bool
}

// groupCommitEvery bounds how long a message waits for the commit it shares
// with others: the sender's wait is at most this plus one INSERT, and the bus
// publish follows the commit at once (acknowledged means stored, then shown
// once).
const groupCommitEvery = 5 * time.Millisecond

type pendingRow struct {
	msg       Message
	channelID int64
	result    chan error
}

func newLogWriter(db *store.DB) *logWriter {
	w := &logWriter{db: db, in: make(chan *pendingRow, 4096), done: make(chan struct{}), every: groupCommitEvery, max: 200}
	go w.run()
	return w
}

// append stores m and returns once it is committed.
func (w *logWriter) append(ctx context.Context, channelID int64, m Message) error {
	p := &pendingRow{msg: m, channelID: channelID, result: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return fmt.Errorf("room log is closed")
	}
	select {
	case w.in <- p:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *logWriter) run() {
	defer close(w.done)
	var batch []*pendingRow
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		err := w.insert(batch)
		for _, p := range batch {
			p.result <- err
		}
		batch = batch[:0]
	}
	for {
		select {
		case p, ok := <-w.in:
			if !ok {
				flush()
				return
			}
			if len(batch) == 0 {
				timer.Reset(w.every)
			}
			batch = append(batch, p)
			if len(batch) >= w.max {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

func (w *logWriter) insert(batch []*pendingRow) error {
	rows := make([][]any, 0, len(batch))
	for _, p := range batch {
		m := p.msg
		var q Quote
		if m.Reply != nil {
			q = *m.Reply
		}
		rows = append(rows, []any{m.ID, p.channelID, m.UserID, m.User, m.Level, m.Text, m.Color, m.Mode, m.At, m.OffsetMS,
			m.Fan.MemberTier, m.Fan.MedalName, m.Fan.MedalLevel, m.ReplyTo, q.UserID, q.User, q.Excerpt, strings.Join(m.Mentions, ","), m.Score})
	}
	values, args := store.Values(rows)
	q := `INSERT INTO danmaku (id, channel_id, user_id, username, level, text, color, mode, created_at, stream_offset_ms,
		member_tier, medal_name, medal_level, reply_to, reply_user_id, reply_user, reply_excerpt, mentions, score) VALUES ` + values
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := w.db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("write room log: %w", err)
	}
	return nil
}

// close stops taking messages and waits for the last batch.
func (w *logWriter) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	<-w.done
}
