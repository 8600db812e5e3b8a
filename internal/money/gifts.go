package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// Gifts: a viewer spends coins on a gift in a room. The sender is charged,
// the channel and the platform are credited (the channel is a hot
// account: appended entries, settled later), the gift is stored and the
// room hears it, all in one transaction (gifttx.go), alone or in a group
// (giftwriter.go).

// SentGift is the result of a gift.
type SentGift struct {
	ID        int64 `json:"gift_id"`
	Amount    int64 `json:"amount"`
	Balance   int64 `json:"balance"`
	Duplicate bool  `json:"duplicate"`
}

// GiftEvent is what the room shows.
type GiftEvent struct {
	Type     string `json:"type"` // "gift"
	GiftID   string `json:"gift_id"`
	SenderID int64  `json:"sender_id"`
	Sender   string `json:"sender"`
	Gift     string `json:"gift"`
	Name     string `json:"name"`
	Icon     string `json:"icon"`
	Tier     int    `json:"tier"`
	Count    int    `json:"count"`
	Amount   int64  `json:"amount"`
	At       int64  `json:"at"`
}

const maxCount = 9999

// GiftOrder is a viewer's request to send a gift.
type GiftOrder struct {
	SenderID   int64
	SenderName string
	ChannelID  int64
	Room       string
	Gift       string
	Count      int
	Key        string
	// Price is the unit price the viewer was shown; if set and the gift
	// costs something else now, nothing is charged (PriceChangedError).
	Price *int64
	// Refused, when set, is why the channel takes no money now (it was
	// disabled): only a retry of a gift already stored is answered.
	Refused error
}

// SendGift sends a gift without a shown price (old API clients, tools).
func (s *Service) SendGift(ctx context.Context, senderID int64, senderName string, channelID int64, room, giftID string, count int, key string) (SentGift, error) {
	return s.SendGiftOrder(ctx, GiftOrder{SenderID: senderID, SenderName: senderName, ChannelID: channelID, Room: room, Gift: giftID, Count: count, Key: key})
}

// SendGiftOrder charges the sender and credits the channel and the
// platform in one transaction. The same idempotency key from the same
// sender returns the first gift and charges nothing again, and it does so
// before any other check: a retry of a gift that was stored is answered
// with it even if the gift was retired, its price changed or the channel
// was disabled since. (With the group-commit writer the key is looked up
// only when a check refuses, so the usual gift costs no extra query; the
// writer itself looks keys up for its whole group.)
func (s *Service) SendGiftOrder(ctx context.Context, o GiftOrder) (SentGift, error) {
	if o.Count < 1 || o.Count > maxCount {
		return SentGift{}, &InputError{Msg: fmt.Sprintf("count must be 1 to %d", maxCount)}
	}
	if o.Key == "" || len(o.Key) > 64 {
		return SentGift{}, &InputError{Msg: "idempotency_key is required (up to 64 characters)"}
	}
	if s.writer == nil {
		if prev, ok, err := s.existing(ctx, o.SenderID, o.Key, o.ChannelID, o.Gift, o.Count); err != nil || ok {
			return prev, err
		}
	}
	// refuse answers a refusal, unless the key already holds this gift.
	refuse := func(why error) (SentGift, error) {
		if prev, ok, err := s.existing(ctx, o.SenderID, o.Key, o.ChannelID, o.Gift, o.Count); err != nil || ok {
			return prev, err
		}
		return SentGift{}, why
	}
	if o.Refused != nil {
		return refuse(o.Refused)
	}
	g, err := s.catalogGift(ctx, o.Gift)
	if err == nil && o.Price != nil && *o.Price != g.Price {
		// The catalog is cached for a few seconds: ask the database before
		// telling the viewer the price changed.
		s.forgetCatalog()
		g, err = s.catalogGift(ctx, o.Gift)
	}
	if err == nil {
		err = g.onSale(o.ChannelID, time.Now())
	}
	if err == nil && o.Price != nil && *o.Price != g.Price {
		err = &PriceChangedError{What: "gift", Price: g.Price}
	}
	if err != nil {
		return refuse(err)
	}
	if g.Price > math.MaxInt64/int64(o.Count) {
		return SentGift{}, &InputError{Msg: "amount too large"}
	}
	amount := g.Price * int64(o.Count)
	platformCut := amount * s.platformShare(ctx, o.ChannelID) / 10000
	sender, err := s.account(ctx, KindUser, o.SenderID)
	if err != nil {
		return SentGift{}, err
	}
	channelAcct, err := s.account(ctx, KindChannel, o.ChannelID)
	if err != nil {
		return SentGift{}, err
	}
	platform, err := s.account(ctx, KindPlatform, 0)
	if err != nil {
		return SentGift{}, err
	}

	req := &giftReq{senderID: o.SenderID, senderName: o.SenderName, channelID: o.ChannelID, room: o.Room, gift: g, count: o.Count, key: o.Key,
		amount: amount, cut: platformCut, sender: sender, channelAcct: channelAcct, platform: platform}
	if g.Trial {
		return s.sendTrialGift(ctx, req)
	}
	if w := s.writer; w != nil {
		return w.submit(ctx, req) // the writer looks keys up for the whole group
	}
	return s.sendGiftTx(ctx, req)
}

// sendGiftTx commits one gift in its own transaction (the path without a
// group-commit writer, and its fallback): the same transaction body as a
// group's, for a group of one.
func (s *Service) sendGiftTx(ctx context.Context, r *giftReq) (SentGift, error) {
	var b giftBatch
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = s.writeGifts(ctx, tx, []*giftReq{r}, false)
		return err
	})
	if store.IsUniqueViolation(err) {
		// The same key raced in from another request: the first one won.
		if prev, ok, err2 := s.existing(ctx, r.senderID, r.key, r.channelID, r.gift.ID, r.count); err2 != nil || ok {
			return prev, err2
		}
	}
	if err != nil {
		return SentGift{}, err
	}
	res := b.results[r]
	if res.err != nil {
		return SentGift{}, res.err
	}
	s.kickRelay()
	s.standingChanged(r.channelID, r.senderID)
	return res.out, nil
}

// sendTrialGift sends a trial gift for free, once per viewer: the
// promotion account pays the channel and the platform as a buyer would.
// It earns no medal intimacy (a free gift must not open medal-only chat).
func (s *Service) sendTrialGift(ctx context.Context, r *giftReq) (SentGift, error) {
	if prev, ok, err := s.existing(ctx, r.senderID, r.key, r.channelID, r.gift.ID, r.count); err != nil || ok {
		return prev, err
	}
	if r.count != 1 {
		return SentGift{}, &InputError{Msg: "a trial gift is sent one at a time"}
	}
	_, eligible, err := s.TrialsUsed(ctx, r.senderID)
	if err != nil {
		return SentGift{}, err
	}
	if !eligible {
		return SentGift{}, ErrTrialNotYet
	}
	promo, err := s.account(ctx, KindProvider, ProviderPromo)
	if err != nil {
		return SentGift{}, err
	}
	var out SentGift
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO trial_gifts_used (user_id, gift_id, gift_row_id) VALUES ($1, $2, 0) ON CONFLICT (user_id, gift_id) DO NOTHING`,
			r.senderID, r.gift.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrTrialUsed
		}
		posted, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "gift", Memo: fmt.Sprintf("trial %s in %s", r.gift.ID, r.room), Actor: r.senderID, At: now,
			Entries: []ledger.Entry{ledger.Move(promo, -r.amount), ledger.Append(r.channelAcct, r.amount-r.cut), ledger.Append(r.platform, r.cut)}})
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO gifts (sender_id, idempotency_key, channel_id, room, gift_id, count, amount, platform_cut, tx_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`, r.senderID, r.key, r.channelID, r.room, r.gift.ID, r.count, r.amount, r.cut, posted.ID, now).Scan(&out.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE trial_gifts_used SET gift_row_id = $1 WHERE user_id = $2 AND gift_id = $3`, out.ID, r.senderID, r.gift.ID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT balance FROM ledger_accounts WHERE id = $1`, r.sender).Scan(&out.Balance); err != nil {
			return err
		}
		_, err = outbox.Add(ctx, tx, now, outbox.Event{Type: bus.RoomGift, ChannelID: r.channelID, Payload: r.event(out.ID, now)})
		return err
	})
	if store.IsUniqueViolation(err) {
		if prev, ok, err2 := s.existing(ctx, r.senderID, r.key, r.channelID, r.gift.ID, r.count); err2 != nil || ok {
			return prev, err2
		}
	}
	if err != nil {
		return SentGift{}, err
	}
	s.kickRelay()
	return out, nil
}

// existing returns the gift already sent with this key, if any.
func (s *Service) existing(ctx context.Context, senderID int64, key string, channelID int64, giftID string, count int) (SentGift, bool, error) {
	var out SentGift
	var ch int64
	var gid string
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT g.id, g.amount, g.channel_id, g.gift_id, g.count, a.balance FROM gifts g
		JOIN ledger_accounts a ON a.kind = 'user' AND a.owner_id = g.sender_id
		WHERE g.sender_id = $1 AND g.idempotency_key = $2`, senderID, key).Scan(&out.ID, &out.Amount, &ch, &gid, &n, &out.Balance)
	if errors.Is(err, sql.ErrNoRows) {
		return SentGift{}, false, nil
	}
	if err != nil {
		return SentGift{}, false, err
	}
	if ch != channelID || gid != giftID || n != count {
		return SentGift{}, false, ErrKeyReused
	}
	out.Duplicate = true
	return out, true, nil
}

// giftReq is a gift checked and priced, ready to be written.
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

	result chan giftResult // the group-commit writer answers here
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
