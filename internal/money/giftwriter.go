package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/livehouse/livehouse/internal/store"
)

// giftWriter commits gifts in groups: one goroutine takes every gift that
// arrived while the previous group was committing and commits them in one
// transaction with multi-row statements. Each sender is answered only
// after the commit that holds its gift, so an acknowledged gift is durable
// exactly as before; the database sees one commit per group instead of one
// per gift.
type giftWriter struct {
	s    *Service
	in   chan *giftReq
	done chan struct{}

	mu     sync.RWMutex // senders hold it shared; stopping takes it to close in
	closed bool

	// slowDebits counts gifts charged one by one because their sender
	// could not pay for the whole group (tests check the fast path is taken).
	slowDebits atomic.Int64
}

type giftReq struct {
	senderID    int64
	senderName  string
	channelID   int64
	room        string
	gift        Gift
	count       int
	key         string
	amount, cut int64

	sender, channelAcct, platform int64

	result chan giftResult
}

// event is the room event of a stored gift.
func (r *giftReq) event(id, now int64) GiftEvent {
	return GiftEvent{Type: "gift", GiftID: fmt.Sprint(id), SenderID: r.senderID, Sender: r.senderName, Gift: r.gift.ID,
		Name: r.gift.Name, Icon: r.gift.Icon, Tier: r.gift.Tier, Count: r.count, Amount: r.amount, At: now}
}

type giftResult struct {
	out SentGift
	err error
}

const maxGroup = 256

// StartGroupCommit makes SendGift commit in groups until StopGroupCommit.
func (s *Service) StartGroupCommit() {
	s.writer = &giftWriter{s: s, in: make(chan *giftReq, 4*maxGroup), done: make(chan struct{})}
	go s.writer.run()
}

// StopGroupCommit finishes the queued gifts and stops the writer.
func (s *Service) StopGroupCommit() {
	w := s.writer
	if w == nil {
		return
	}
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *giftWriter) submit(ctx context.Context, r *giftReq) (SentGift, error) {
	r.result = make(chan giftResult, 1)
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return SentGift{}, errors.New("shutting down: gift not sent")
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

type senderKey struct {
	sender int64
	key    string
}

// commit stores a group. Repeats of one key inside the group are answered
// from the first after the commit. If the group fails as a whole (another
// node raced on a key), each gift is retried on its own.
func (w *giftWriter) commit(group []*giftReq) {
	s := w.s
	ctx := context.Background()
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
		// Every gift of the group was a retry: there is nothing to commit
		// (an empty debit would not even be valid SQL).
		w.answerRepeats(ctx, repeats)
		return
	}
	results := map[*giftReq]giftResult{}
	var events []outboxEvent
	var outboxIDs []int64
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		clear(results)
		now := store.Now()
		charged, err := w.debitGroup(ctx, tx, unique, results)
		if err != nil {
			return err
		}
		if len(charged) == 0 {
			return nil
		}
		txID, err := newTx(ctx, tx, "gift", fmt.Sprintf("%d gifts", len(charged)), 0, now)
		if err != nil {
			return err
		}
		// Entries: each sender −amount (settled); the hot accounts (channels,
		// the platform) get one appended credit per group, unsettled: a
		// group of n gifts writes n+2 entries, not 3n. Each gift row keeps
		// its own amount for per-gift detail.
		var rows [][]any
		credits := map[int64]int64{}
		var creditOrder []int64
		credit := func(acct, amount int64) {
			if amount == 0 {
				return
			}
			if _, ok := credits[acct]; !ok {
				creditOrder = append(creditOrder, acct)
			}
			credits[acct] += amount
		}
		for _, r := range charged {
			rows = append(rows, []any{txID, r.sender, -r.amount, true, now})
			credit(r.channelAcct, r.amount-r.cut)
			credit(r.platform, r.cut)
		}
		for _, acct := range creditOrder {
			rows = append(rows, []any{txID, acct, credits[acct], false, now})
		}
		if err := insertRows(ctx, tx, `INSERT INTO ledger_entries (tx_id, account_id, amount, settled, created_at) VALUES `, rows, ""); err != nil {
			return err
		}
		// Gifts, matched back by (sender, key) rather than by row order.
		rows = rows[:0]
		for _, r := range charged {
			rows = append(rows, []any{r.senderID, r.key, r.channelID, r.gift.ID, r.count, r.amount, r.cut, txID, now})
		}
		ids := map[senderKey]int64{}
		if err := insertReturning(ctx, tx, `INSERT INTO gifts (sender_id, idempotency_key, channel_id, gift_id, count, amount, platform_cut, tx_id, created_at) VALUES `,
			rows, ` RETURNING id, sender_id, idempotency_key`, func(sc func(...any) error) error {
				var id, sender int64
				var key string
				if err := sc(&id, &sender, &key); err != nil {
					return err
				}
				ids[senderKey{sender, key}] = id
				return nil
			}); err != nil {
			return err
		}
		// Fan medals grow by the coins spent, one upsert per (channel, sender).
		intimacy := map[fanKey]int64{}
		for _, r := range charged {
			intimacy[fanKey{r.channelID, r.senderID}] += r.amount
		}
		if err := addIntimacy(ctx, tx, intimacy); err != nil {
			return err
		}
		rows = rows[:0]
		events = events[:0]
		for _, r := range charged {
			id := ids[senderKey{r.senderID, r.key}]
			res := results[r]
			res.out.ID = id
			results[r] = res
			payload, _ := jsonMarshal(r.event(id, now))
			rows = append(rows, []any{"room." + r.room, string(payload), now})
			events = append(events, outboxEvent{subject: "room." + r.room, payload: payload})
		}
		outboxIDs = outboxIDs[:0]
		return insertReturning(ctx, tx, `INSERT INTO outbox (subject, payload, created_at) VALUES `, rows, ` RETURNING id`,
			func(sc func(...any) error) error {
				var id int64
				if err := sc(&id); err != nil {
					return err
				}
				outboxIDs = append(outboxIDs, id)
				return nil
			})
	})
	if err != nil {
		// The whole group failed: fall back to one transaction per gift,
		// which answers each on its own (including key races).
		if !store.IsUniqueViolation(err) {
			s.log.Error("group commit failed; retrying gifts one by one", "gifts", len(unique), "err", err)
		}
		for _, r := range unique {
			out, err := s.sendGiftTx(ctx, r)
			r.result <- giftResult{out: out, err: err}
		}
		s.kickRelay()
	} else {
		for _, r := range unique {
			// Announce before answering: the sender's next danmaku must
			// meet the medal this gift earned (as the one-by-one path does).
			if res := results[r]; res.err == nil && !res.out.Duplicate {
				s.standingChanged(r.channelID, r.senderID)
			}
			r.result <- results[r]
		}
		// The writer publishes its own group at once (the relay would add a
		// hop and a competing writer); the relay only catches rows a crash
		// left unpublished.
		s.publishGroup(ctx, events, outboxIDs)
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

// debitGroup charges every sender of a group. One conditional UPDATE
// debits each sender who can pay for all their gifts in the group; a sender
// who cannot (rare) is charged gift by gift, refusing exactly the gifts
// their balance does not cover.
func (w *giftWriter) debitGroup(ctx context.Context, tx *sql.Tx, group []*giftReq, results map[*giftReq]giftResult) ([]*giftReq, error) {
	if len(group) == 0 {
		return nil, nil
	}
	totals := map[int64]int64{}
	var order []int64
	for _, r := range group {
		if _, ok := totals[r.sender]; !ok {
			order = append(order, r.sender)
		}
		totals[r.sender] += r.amount
	}
	// CASE id WHEN $1 THEN CAST($2 AS BIGINT) …: PostgreSQL needs the cast
	// to type the amounts; both CASEs share the same parameters.
	var cases strings.Builder
	args := make([]any, 0, 2*len(order))
	cases.WriteString(`CASE id`)
	for _, acct := range order {
		args = append(args, acct, totals[acct])
		fmt.Fprintf(&cases, " WHEN $%d THEN CAST($%d AS BIGINT)", len(args)-1, len(args))
	}
	cases.WriteString(` END`)
	var q strings.Builder
	q.WriteString(`UPDATE ledger_accounts SET balance = balance - ` + cases.String() + ` WHERE id IN (`)
	for i := range order {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "$%d", 2*i+1)
	}
	q.WriteString(`) AND balance >= ` + cases.String() + ` RETURNING id, balance`)
	balances := map[int64]int64{}
	rows, err := tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("debit group: %w", err)
	}
	for rows.Next() {
		var id, bal int64
		if err := rows.Scan(&id, &bal); err != nil {
			rows.Close()
			return nil, err
		}
		balances[id] = bal
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("debit group: %w", err)
	}
	var charged []*giftReq
	for _, r := range group {
		if bal, ok := balances[r.sender]; ok {
			results[r] = giftResult{out: SentGift{Amount: r.amount, Balance: bal}}
			charged = append(charged, r)
			continue
		}
		// This sender cannot pay for everything: one gift at a time.
		w.slowDebits.Add(1)
		var bal int64
		err := tx.QueryRowContext(ctx, `UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance`,
			r.amount, r.sender).Scan(&bal)
		if errors.Is(err, sql.ErrNoRows) {
			results[r] = giftResult{err: ErrInsufficientFunds}
			continue
		}
		if err != nil {
			return nil, err
		}
		results[r] = giftResult{out: SentGift{Amount: r.amount, Balance: bal}}
		charged = append(charged, r)
	}
	return charged, nil
}

type outboxEvent struct {
	subject string
	payload []byte
}

func (s *Service) kickRelay() {
	if s.relay != nil {
		s.relay.Kick()
	}
}

// publishGroup sends a committed group's events and marks their outbox rows
// in one statement. A crash in between republishes them (at least once).
func (s *Service) publishGroup(ctx context.Context, events []outboxEvent, ids []int64) {
	if s.nc == nil || len(events) == 0 {
		return
	}
	for _, e := range events {
		if err := s.nc.Publish(e.subject, e.payload); err != nil {
			s.log.Error("publish gift", "err", err)
			return // the relay will retry the unmarked rows
		}
	}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		return markPublished(ctx, tx, ids)
	})
	if err != nil {
		s.log.Error("mark gifts published", "err", err)
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

// insertRows runs one multi-row INSERT per chunk of rows.
func insertRows(ctx context.Context, tx *sql.Tx, head string, rows [][]any, tail string) error {
	return insertReturning(ctx, tx, head, rows, tail, nil)
}

func insertReturning(ctx context.Context, tx *sql.Tx, head string, rows [][]any, tail string, scan func(func(...any) error) error) error {
	const chunk = 200
	for len(rows) > 0 {
		n := min(chunk, len(rows))
		part := rows[:n]
		rows = rows[n:]
		values, args := store.Values(part)
		q := head + values + tail
		if scan == nil {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			continue
		}
		res, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		for res.Next() {
			if err := scan(res.Scan); err != nil {
				res.Close()
				return err
			}
		}
		res.Close()
		if err := res.Err(); err != nil {
			return err
		}
	}
	return nil
}
