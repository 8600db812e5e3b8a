// Package money owns wallets, the double-entry ledger and gifts. Amounts
// are integer coins; every movement is a set of ledger entries that sums to
// zero; a gift is one SQL transaction whose room event leaves through a
// transactional outbox, so nothing is charged without its gift and no gift
// is shown twice by the server.
package money

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/livehouse/livehouse/internal/bus"
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
	KindUser     = "user"
	KindChannel  = "channel"
	KindPlatform = "platform"
	KindProvider = "provider"
)

// Provider owner ids (accounts of kind provider).
const ProviderManual int64 = 1

// Errors callers map to answers.
var (
	ErrInsufficientFunds = errors.New("insufficient balance")
	ErrNoGift            = errors.New("no such gift")
	ErrKeyReused         = errors.New("idempotency key already used for a different request")
)

// PriceChangedError refuses a purchase whose price the buyer was shown is
// no longer the price (409 price_changed with the current price).
type PriceChangedError struct {
	What  string // "gift" or "membership"
	Price int64  // the current unit or monthly price
}

func (e *PriceChangedError) Error() string {
	return fmt.Sprintf("the %s's price changed to %d coins; nothing was charged", e.What, e.Price)
}

// InputError explains refused input (400); Code defaults to "invalid".
type InputError struct {
	Msg  string
	Code string
}

func (e *InputError) Error() string { return e.Msg }

// Service is the money domain.
type Service struct {
	db *store.DB
	// PlatformShareBP is the platform's cut of gifts in basis points.
	platformShareBP int64
	log             *slog.Logger

	mu       sync.Mutex
	accounts map[acctKey]int64 // account ids are permanent: cache them
	shares   map[int64]cachedShare

	writer *giftWriter // group commit; nil sends each gift in its own transaction

	catalog   map[string]Gift
	catalogAt time.Time

	nc    *nats.Conn // set by StartRelay
	relay *Relay

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
}

// standingChanged announces that user's standing in channel changed.
func (s *Service) standingChanged(channelID, userID int64) {
	if s.deps.Publish != nil {
		s.deps.Publish(bus.Event{Type: bus.StandingChanged, ChannelID: channelID, UserID: userID})
	}
}

type acctKey struct {
	kind  string
	owner int64
}

// NewService returns the money domain on db.
func NewService(db *store.DB, platformShareBP int64, log *slog.Logger, deps Deps) *Service {
	return &Service{db: db, platformShareBP: platformShareBP, log: log, accounts: map[acctKey]int64{}, shares: map[int64]cachedShare{},
		deps: deps, now: time.Now}
}

// account returns the id of an account, creating it on first use.
func (s *Service) account(ctx context.Context, kind string, owner int64) (int64, error) {
	k := acctKey{kind, owner}
	s.mu.Lock()
	id, ok := s.accounts[k]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO ledger_accounts (kind, owner_id, may_go_negative) VALUES ($1, $2, $3)
		ON CONFLICT (kind, owner_id) DO NOTHING`, kind, owner, kind == KindProvider)
	if err != nil {
		return 0, fmt.Errorf("create %s account: %w", kind, err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM ledger_accounts WHERE kind = $1 AND owner_id = $2`, kind, owner).Scan(&id); err != nil {
		return 0, fmt.Errorf("read %s account: %w", kind, err)
	}
	s.mu.Lock()
	s.accounts[k] = id
	s.mu.Unlock()
	return id, nil
}

func newTx(ctx context.Context, tx *sql.Tx, kind, memo string, actor int64, now int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO ledger_txs (kind, memo, actor_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		kind, memo, actor, now).Scan(&id)
	return id, err
}

func entry(ctx context.Context, tx *sql.Tx, txID, account, amount int64, settled bool, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (tx_id, account_id, amount, settled, created_at) VALUES ($1, $2, $3, $4, $5)`,
		txID, account, amount, settled, now)
	return err
}

// Grant credits coins to a user from the manual provider (an admin's act,
// kept in the ledger with its reason and actor).
func (s *Service) Grant(ctx context.Context, userID, coins int64, reason string, actorID int64) (int64, error) {
	reason = strings.TrimSpace(reason)
	if coins <= 0 || coins > 1_000_000_000 {
		return 0, &InputError{Msg: "coins must be 1 to 1,000,000,000"}
	}
	if reason == "" || len(reason) > 200 {
		return 0, &InputError{Msg: "a reason (up to 200 characters) is required"}
	}
	user, err := s.account(ctx, KindUser, userID)
	if err != nil {
		return 0, err
	}
	provider, err := s.account(ctx, KindProvider, ProviderManual)
	if err != nil {
		return 0, err
	}
	var balance int64
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		txID, err := newTx(ctx, tx, "grant", reason, actorID, now)
		if err != nil {
			return err
		}
		if err := entry(ctx, tx, txID, provider, -coins, true, now); err != nil {
			return err
		}
		if err := entry(ctx, tx, txID, user, coins, true, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2`, coins, provider); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO grants (user_id, coins, reason, actor_id, tx_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			userID, coins, reason, actorID, txID, now); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `UPDATE ledger_accounts SET balance = balance + $1 WHERE id = $2 RETURNING balance`, coins, user).Scan(&balance)
	})
	if err != nil {
		return 0, fmt.Errorf("grant: %w", err)
	}
	return balance, nil
}

// Movement is one line of a wallet's history.
type Movement struct {
	TxID   int64     `json:"tx_id"`
	Kind   string    `json:"kind"`
	Memo   string    `json:"memo,omitempty"`
	Amount int64     `json:"amount"`
	At     time.Time `json:"at"`
}

// Wallet returns a user's balance and latest movements.
func (s *Service) Wallet(ctx context.Context, userID int64, limit int) (int64, []Movement, error) {
	acct, err := s.account(ctx, KindUser, userID)
	if err != nil {
		return 0, nil, err
	}
	var balance int64
	if err := s.db.QueryRowContext(ctx, `SELECT balance FROM ledger_accounts WHERE id = $1`, acct).Scan(&balance); err != nil {
		return 0, nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT e.tx_id, t.kind, t.memo, e.amount, e.created_at FROM ledger_entries e
		JOIN ledger_txs t ON t.id = e.tx_id WHERE e.account_id = $1 ORDER BY e.id DESC LIMIT $2`, acct, limit)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	out := []Movement{}
	for rows.Next() {
		var m Movement
		var at int64
		if err := rows.Scan(&m.TxID, &m.Kind, &m.Memo, &m.Amount, &at); err != nil {
			return 0, nil, err
		}
		m.At = time.UnixMilli(at)
		out = append(out, m)
	}
	return balance, out, rows.Err()
}

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
// group-commit writer, and its fallback).
func (s *Service) sendGiftTx(ctx context.Context, r *giftReq) (SentGift, error) {
	senderID, channelID, room, g, count, key := r.senderID, r.channelID, r.room, r.gift, r.count, r.key
	amount, platformCut, sender, channelAcct, platform := r.amount, r.cut, r.sender, r.channelAcct, r.platform
	giftID := g.ID
	var out SentGift
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		// The conditional debit is the only row a gift locks: the sender's.
		err := tx.QueryRowContext(ctx, `UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance`,
			amount, sender).Scan(&out.Balance)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInsufficientFunds
		}
		if err != nil {
			return err
		}
		txID, err := newTx(ctx, tx, "gift", fmt.Sprintf("%d×%s in %s", count, g.ID, room), senderID, now)
		if err != nil {
			return err
		}
		if err := entry(ctx, tx, txID, sender, -amount, true, now); err != nil {
			return err
		}
		// Hot accounts: appended, settled later in batches.
		if err := entry(ctx, tx, txID, channelAcct, amount-platformCut, false, now); err != nil {
			return err
		}
		if platformCut > 0 {
			if err := entry(ctx, tx, txID, platform, platformCut, false, now); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO gifts (sender_id, idempotency_key, channel_id, gift_id, count, amount, platform_cut, tx_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, senderID, key, channelID, g.ID, count, amount, platformCut, txID, now).Scan(&out.ID); err != nil {
			return err
		}
		out.Amount = amount
		if err := addIntimacy(ctx, tx, map[fanKey]int64{{channelID, senderID}: amount}); err != nil {
			return err
		}
		payload, _ := jsonMarshal(r.event(out.ID, now))
		_, err = tx.ExecContext(ctx, `INSERT INTO outbox (subject, payload, created_at) VALUES ($1, $2, $3)`, "room."+room, string(payload), now)
		return err
	})
	if store.IsUniqueViolation(err) {
		// The same key raced in from another request: the first one won.
		if prev, ok, err2 := s.existing(ctx, senderID, key, channelID, giftID, count); err2 != nil || ok {
			return prev, err2
		}
	}
	if err != nil {
		return SentGift{}, err
	}
	s.kickRelay()
	s.standingChanged(channelID, senderID)
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
