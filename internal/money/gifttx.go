package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/internal/sqlbatch"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// giftBatch is what writeGifts did.
type giftBatch struct {
	results map[*giftReq]giftResult // each gift's answer
	events  []outbox.Message        // the room events, to publish after commit
	// slow counts gifts whose sender could not pay for all their gifts in
	// the batch, so they were charged one at a time (tests check that the
	// usual case never is).
	slow int
}

// writeGifts is the one transaction body of gifts, for a single gift
// (sendGiftTx) and for a group (the group-commit writer). Inside tx it
// charges the senders, posts one ledger transaction — each gift's debit
// settled; one appended credit per channel and for the platform, so a
// batch of n gifts writes n+2 entries, not 3n — stores the gift rows,
// grows fan medals by the coins spent and adds the room events to the
// outbox, with as few statements as the batch allows. A sender who cannot
// pay for all their gifts in it is charged for as many, in order, as
// their balance covers, and refused (ErrInsufficientFunds) for the rest,
// which leave no trace. The (sender, key) pairs of reqs must be distinct.
func (s *Service) writeGifts(ctx context.Context, tx *sql.Tx, reqs []*giftReq, grouped bool) (giftBatch, error) {
	b := giftBatch{results: make(map[*giftReq]giftResult, len(reqs))}
	now := store.Now()
	charged := reqs
	slowSenders := map[int64]bool{}
	var posted ledger.Posted
	for attempt := 0; ; attempt++ {
		if len(charged) == 0 {
			return b, nil
		}
		var err error
		posted, err = ledger.Post(ctx, tx, giftLedgerTx(charged, now, grouped))
		var short *ledger.ShortError
		if !errors.As(err, &short) {
			if err != nil {
				return b, err
			}
			break
		}
		if attempt == 2 {
			return b, err // cannot happen: the balances below are locked
		}
		// Some senders cannot pay for all their gifts here: charge them
		// one gift at a time, as far as their balance goes.
		balances, err := ledger.Lock(ctx, tx, short.Accounts...)
		if err != nil {
			return b, err
		}
		spent := map[int64]int64{}
		kept := make([]*giftReq, 0, len(charged))
		for _, r := range charged {
			if !short.Has(r.sender) {
				kept = append(kept, r)
				continue
			}
			if !slowSenders[r.sender] {
				b.slow++
			}
			if spent[r.sender]+r.amount <= balances[r.sender] {
				spent[r.sender] += r.amount
				kept = append(kept, r)
			} else {
				b.results[r] = giftResult{err: ErrInsufficientFunds}
			}
		}
		for _, a := range short.Accounts {
			slowSenders[a] = true
		}
		charged = kept
	}
	// Each answer carries the sender's balance after it: a sender charged
	// gift by gift sees it fall gift by gift, like separate sends would.
	later := map[int64]int64{}
	for i := len(charged) - 1; i >= 0; i-- {
		r := charged[i]
		bal := posted.Balance(r.sender)
		if slowSenders[r.sender] {
			bal += later[r.sender]
			later[r.sender] += r.amount
		}
		b.results[r] = giftResult{out: SentGift{Amount: r.amount, Balance: bal}}
	}
	// Gifts, matched back by (sender, key) rather than by row order.
	rows := make([][]any, 0, len(charged))
	for _, r := range charged {
		rows = append(rows, []any{r.senderID, r.key, r.channelID, r.room, r.gift.ID, r.count, r.amount, r.cut, posted.ID, now})
	}
	ids := make(map[senderKey]int64, len(charged))
	if err := sqlbatch.Insert(ctx, tx, `INSERT INTO gifts (sender_id, idempotency_key, channel_id, room, gift_id, count, amount, platform_cut, tx_id, created_at) VALUES `,
		rows, ` RETURNING id, sender_id, idempotency_key`, func(sc func(...any) error) error {
			var id, sender int64
			var key string
			if err := sc(&id, &sender, &key); err != nil {
				return err
			}
			ids[senderKey{sender, key}] = id
			return nil
		}); err != nil {
		return b, err
	}
	// Fan medals grow by the coins spent, one upsert per (channel, sender).
	intimacy := map[fanKey]int64{}
	for _, r := range charged {
		intimacy[fanKey{r.channelID, r.senderID}] += r.amount
	}
	if err := addIntimacy(ctx, tx, intimacy); err != nil {
		return b, err
	}
	events := make([]outbox.Event, 0, len(charged))
	for _, r := range charged {
		id := ids[senderKey{r.senderID, r.key}]
		res := b.results[r]
		res.out.ID = id
		b.results[r] = res
		events = append(events, outbox.Event{Type: bus.RoomGift, ChannelID: r.channelID, Payload: r.event(id, now)})
	}
	var err error
	b.events, err = outbox.Add(ctx, tx, now, events...)
	return b, err
}

// giftLedgerTx is the ledger transaction of gifts: each sender's debit,
// and one appended credit per hot account. A gift sent on its own is
// described and attributed as itself; a group as how many gifts it holds.
func giftLedgerTx(gifts []*giftReq, now int64, grouped bool) ledger.Tx {
	t := ledger.Tx{Kind: "gift", At: now, Entries: make([]ledger.Entry, 0, len(gifts)+2)}
	if grouped {
		t.Memo = fmt.Sprintf("%d gifts", len(gifts))
	} else {
		r := gifts[0]
		t.Memo, t.Actor = fmt.Sprintf("%d×%s in %s", r.count, r.gift.ID, r.room), r.senderID
	}
	credits := map[int64]int64{}
	var order []int64
	credit := func(acct, amount int64) {
		if _, ok := credits[acct]; !ok {
			order = append(order, acct)
		}
		credits[acct] += amount
	}
	for _, r := range gifts {
		t.Entries = append(t.Entries, ledger.Move(r.sender, -r.amount))
		credit(r.channelAcct, r.amount-r.cut)
		credit(r.platform, r.cut)
	}
	for _, acct := range order {
		t.Entries = append(t.Entries, ledger.Append(acct, credits[acct]))
	}
	return t
}

type senderKey struct {
	sender int64
	key    string
}
