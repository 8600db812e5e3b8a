package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/store"
)

// Memberships: three tiers per channel, bought a month at a time.
//
// Pricing rule (README "Money"):
//   - Joining, or buying after a membership ran out, charges months × the
//     tier's monthly price and starts now.
//   - Renewing the same tier charges months × its monthly price and adds
//     the months after the current expiry.
//   - Upgrading while a lower tier runs charges months × the higher tier's
//     monthly price, like any purchase, and converts the time left on the
//     lower tier at its value: what the member paid for that time (each
//     purchase's own monthly price, not today's), pro-rated to the higher
//     tier's monthly price. Converted time = ⌊Σ (ms left of each paid
//     period × its monthly price) ÷ the higher monthly price⌋ ms; the
//     higher tier then runs for the converted time plus the months bought,
//     from now. Rounding down to the millisecond costs the buyer less than
//     one coin (a millisecond is worth at most 10,000,000 / 2,592,000,000
//     of a coin). Integer arithmetic only.
//     Example: 3 months of Captain (198) bought, then at once 1 month of
//     Admiral (1,998): the 594 coins left convert to
//     ⌊3 × 2,592,000,000 × 198 ÷ 1,998⌋ = 770,594,594 ms (8 d 22 h 3 m
//     14.594 s) of Admiral, plus the month bought: 2,592 coins in all buy
//     38.9 days of Admiral, not 4 months.
//   - A lower tier cannot be bought while a higher one runs.

// MembershipMonth is how long one month of membership lasts.
const MembershipMonth = 30 * 24 * time.Hour

// Tier is a membership tier of a channel.
type Tier struct {
	Tier         int    `json:"tier"`
	Name         string `json:"name"`
	MonthlyPrice int64  `json:"monthly_price"`
}

// Tiers returns a channel's three tiers: its own prices, or the defaults.
func (s *Service) Tiers(ctx context.Context, channelID int64) ([]Tier, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tier, name, monthly_price FROM membership_tiers
		WHERE channel_id = (SELECT COALESCE(MAX(channel_id), 0) FROM membership_tiers WHERE channel_id = $1) ORDER BY tier`, channelID)
	if err != nil {
		return nil, fmt.Errorf("read membership tiers: %w", err)
	}
	defer rows.Close()
	out := []Tier{}
	for rows.Next() {
		var t Tier
		if err := rows.Scan(&t.Tier, &t.Name, &t.MonthlyPrice); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// SetTiers prices a channel's three tiers; each tier must cost more than
// the one below it. Names are tidied like danmaku (they are shown on
// badges and in the room).
func (s *Service) SetTiers(ctx context.Context, channelID int64, tiers []Tier) error {
	if len(tiers) != 3 {
		return &InputError{Msg: "give all three tiers"}
	}
	for i, t := range tiers {
		if t.Tier != i+1 {
			return &InputError{Msg: "tiers must be 1, 2 and 3 in order"}
		}
		name, err := cleanName(fmt.Sprintf("tier %d's name", t.Tier), t.Name, 24)
		if err == nil {
			err = s.screenName(ctx, channelID, name)
		}
		if err != nil {
			return err
		}
		switch {
		case t.MonthlyPrice < 1 || t.MonthlyPrice > 10_000_000:
			return &InputError{Msg: fmt.Sprintf("tier %d: monthly_price must be 1 to 10,000,000 coins", t.Tier)}
		case i > 0 && t.MonthlyPrice <= tiers[i-1].MonthlyPrice:
			return &InputError{Msg: fmt.Sprintf("tier %d must cost more than tier %d", t.Tier, t.Tier-1)}
		}
		tiers[i].Name = name
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM membership_tiers WHERE channel_id = $1`, channelID); err != nil {
			return err
		}
		for _, t := range tiers {
			if _, err := tx.ExecContext(ctx, `INSERT INTO membership_tiers (channel_id, tier, name, monthly_price) VALUES ($1, $2, $3, $4)`,
				channelID, t.Tier, t.Name, t.MonthlyPrice); err != nil {
				return err
			}
		}
		return nil
	})
}

// Membership is a viewer's membership of a channel.
type Membership struct {
	Tier      int       `json:"tier"`
	Name      string    `json:"name"`
	StartedAt time.Time `json:"started_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Active    bool      `json:"active"`
	AutoRenew bool      `json:"auto_renew"`
	// MonthlyPrice is what the member last paid a month: a renewal never
	// charges more.
	MonthlyPrice int64 `json:"monthly_price"`
	// RenewalStopped: the tier's price rose above MonthlyPrice, so it
	// stopped renewing; buying again at the new price re-arms it.
	RenewalStopped bool `json:"renewal_stopped,omitempty"`
}

// Purchase is the answer to buying a membership.
type Purchase struct {
	ID         int64      `json:"purchase_id"`
	Amount     int64      `json:"amount"`
	Balance    int64      `json:"balance"`
	Membership Membership `json:"membership"`
	Duplicate  bool       `json:"duplicate"`
	// Upgrade says how the time left on a lower tier was converted.
	Upgrade *Upgrade `json:"upgrade,omitempty"`
}

// Upgrade is the conversion of a lower tier's time left to a higher tier.
type Upgrade struct {
	FromTier int `json:"from_tier"`
	// Credit is the value of the time left, in whole coins (rounded down).
	Credit int64 `json:"credit"`
	// ConvertedMs is how long that value lasts at the new tier.
	ConvertedMs int64 `json:"converted_ms"`
}

// MembershipEvent is what the room shows when someone joins or renews.
type MembershipEvent struct {
	Type     string `json:"type"` // "membership"
	ID       string `json:"purchase_id"`
	UserID   int64  `json:"user_id"`
	User     string `json:"user"`
	Tier     int    `json:"tier"`
	TierName string `json:"tier_name"`
	Months   int    `json:"months"`
	At       int64  `json:"at"`
}

// MembershipOrder is a request to buy months of a tier.
type MembershipOrder struct {
	UserID    int64
	UserName  string
	ChannelID int64
	Room      string
	Tier      int
	Months    int
	Key       string
	// AutoRenew sets monthly renewal; nil keeps the membership's setting
	// (and re-arms a renewal that a price rise stopped).
	AutoRenew *bool
	// Price is the monthly price the buyer was shown; if set and the tier
	// costs something else now, nothing is charged (PriceChangedError).
	Price *int64
	// Refused, when set, is why the channel takes no money now: only a
	// retry of a purchase already made is answered.
	Refused error

	renewal *renewal // set by RenewDue
}

// BuyMembership buys months of a tier, setting auto-renew as given.
func (s *Service) BuyMembership(ctx context.Context, userID int64, userName string, channelID int64, room string, tier, months int, key string, autoRenew bool) (Purchase, error) {
	return s.BuyMembershipOrder(ctx, MembershipOrder{UserID: userID, UserName: userName, ChannelID: channelID, Room: room,
		Tier: tier, Months: months, Key: key, AutoRenew: &autoRenew})
}

// current is a membership row as a purchase reads it.
type current struct {
	exists                    bool
	tier                      int
	started, expires          int64
	autoRenew, renewalStopped bool
	monthlyPrice              int64
}

// BuyMembershipOrder charges months of a tier and starts, extends or
// upgrades the membership (the rule is at the top of this file). The same
// key twice is one purchase, answered before any other check.
func (s *Service) BuyMembershipOrder(ctx context.Context, o MembershipOrder) (Purchase, error) {
	if o.Months < 1 || o.Months > 12 {
		return Purchase{}, &InputError{Msg: "months must be 1 to 12"}
	}
	if o.Key == "" || len(o.Key) > 64 {
		return Purchase{}, &InputError{Msg: "idempotency_key is required (up to 64 characters)"}
	}
	tiers, err := s.Tiers(ctx, o.ChannelID)
	if err != nil {
		return Purchase{}, err
	}
	if o.Tier < 1 || o.Tier > len(tiers) {
		return Purchase{}, &InputError{Msg: "tier must be 1, 2 or 3"}
	}
	t := tiers[o.Tier-1]
	if prev, ok, err := s.existingPurchase(ctx, o.UserID, o.Key, o.ChannelID, o.Tier, o.Months); err != nil || ok {
		return prev, err
	}
	if o.Refused != nil {
		return Purchase{}, o.Refused
	}
	price := t.MonthlyPrice
	if o.Price != nil && *o.Price != price {
		return Purchase{}, &PriceChangedError{What: "membership", Price: price}
	}
	amount := price * int64(o.Months)
	cut := amount * s.platformShare(ctx, o.ChannelID) / 10000
	user, err := s.account(ctx, KindUser, o.UserID)
	if err != nil {
		return Purchase{}, err
	}
	channelAcct, err := s.account(ctx, KindChannel, o.ChannelID)
	if err != nil {
		return Purchase{}, err
	}
	platform, err := s.account(ctx, KindPlatform, 0)
	if err != nil {
		return Purchase{}, err
	}
	var out Purchase
	var stopped bool
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := s.now().UnixMilli()
		// Lock the buyer's account row first, so two purchases by one
		// viewer (or two nodes renewing) cannot both start from the same
		// membership.
		if _, err := ledger.Lock(ctx, tx, user); err != nil {
			return err
		}
		cur, err := readCurrent(ctx, tx, o.ChannelID, o.UserID)
		if err != nil {
			return err
		}
		if r := o.renewal; r != nil {
			if !cur.exists || !cur.autoRenew || cur.expires != r.expires || cur.tier != r.tier {
				return errNotDue // bought, switched or renewed meanwhile
			}
			if price > cur.monthlyPrice {
				stopped = true
				return s.stopRenewal(ctx, tx, o, t, cur, now)
			}
		}
		active := cur.exists && cur.expires > now
		if active && cur.tier > o.Tier {
			return ErrHigherTier
		}
		started, periodStart, expires := now, now, now+int64(o.Months)*MembershipMonth.Milliseconds()
		switch {
		case active && cur.tier == o.Tier: // renew: the months follow the time left
			started, periodStart = cur.started, cur.expires
			expires = cur.expires + int64(o.Months)*MembershipMonth.Milliseconds()
		case active: // upgrade: the time left is converted at its value
			value, err := paidValue(ctx, tx, o.ChannelID, o.UserID, now, cur.expires)
			if err != nil {
				return err
			}
			converted := new(big.Int).Quo(value, big.NewInt(price))
			if !converted.IsInt64() || converted.Int64() > 100*365*24*time.Hour.Milliseconds() {
				return &InputError{Msg: "the membership would run too long"}
			}
			credit := new(big.Int).Quo(value, big.NewInt(MembershipMonth.Milliseconds()))
			out.Upgrade = &Upgrade{FromTier: cur.tier, Credit: credit.Int64(), ConvertedMs: converted.Int64()}
			started = cur.started
			expires += converted.Int64()
		}
		// The buyer pays (settled); the channel and the platform are
		// credited by appended entries (hot accounts).
		posted, err := ledger.Post(ctx, tx, ledger.Tx{Kind: "membership", Memo: fmt.Sprintf("%s ×%d month(s) in %s", t.Name, o.Months, o.Room),
			Actor: o.UserID, At: now, Entries: []ledger.Entry{
				ledger.Move(user, -amount), ledger.Append(channelAcct, amount-cut), ledger.Append(platform, cut)}})
		if errors.As(err, new(*ledger.ShortError)) {
			return ErrInsufficientFunds
		}
		if err != nil {
			return err
		}
		out.Balance = posted.Balance(user)
		autoRenew := cur.exists && (cur.autoRenew || cur.renewalStopped)
		if o.AutoRenew != nil {
			autoRenew = *o.AutoRenew
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (channel_id, user_id, tier, started_at, expires_at, auto_renew, username, room, monthly_price, renewal_stopped)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE)
			ON CONFLICT (channel_id, user_id) DO UPDATE SET tier = excluded.tier, started_at = excluded.started_at, expires_at = excluded.expires_at,
			auto_renew = excluded.auto_renew, username = excluded.username, room = excluded.room,
			monthly_price = excluded.monthly_price, renewal_stopped = FALSE`,
			o.ChannelID, o.UserID, o.Tier, started, expires, autoRenew, o.UserName, o.Room, price); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO membership_purchases (user_id, idempotency_key, channel_id, tier, months, amount, expires_at, tx_id, created_at,
			monthly_price, period_start, platform_cut)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			o.UserID, o.Key, o.ChannelID, o.Tier, o.Months, amount, expires, posted.ID, now, price, periodStart, cut).Scan(&out.ID); err != nil {
			return err
		}
		// Buying again answers any notice about this channel's renewal.
		if _, err := tx.ExecContext(ctx, `UPDATE money_notices SET dismissed_at = $1 WHERE user_id = $2 AND channel_id = $3 AND dismissed_at IS NULL`,
			now, o.UserID, o.ChannelID); err != nil {
			return err
		}
		if err := addIntimacy(ctx, tx, map[fanKey]int64{{o.ChannelID, o.UserID}: amount}); err != nil {
			return err
		}
		if _, err := outbox.Add(ctx, tx, now, outbox.Event{Type: bus.RoomMembership, ChannelID: o.ChannelID, Payload: MembershipEvent{Type: "membership",
			ID: fmt.Sprint(out.ID), UserID: o.UserID, User: o.UserName, Tier: o.Tier, TierName: t.Name, Months: o.Months, At: now}}); err != nil {
			return err
		}
		out.Amount = amount
		out.Membership = Membership{Tier: o.Tier, Name: t.Name, StartedAt: time.UnixMilli(started), ExpiresAt: time.UnixMilli(expires),
			Active: true, AutoRenew: autoRenew, MonthlyPrice: price}
		return nil
	})
	if store.IsUniqueViolation(err) {
		if prev, ok, err2 := s.existingPurchase(ctx, o.UserID, o.Key, o.ChannelID, o.Tier, o.Months); err2 != nil || ok {
			return prev, err2
		}
	}
	if err == nil && stopped {
		s.kickRelay() // the member's notice event
		err = ErrRenewalStopped
	}
	if err != nil {
		return Purchase{}, err
	}
	s.kickRelay()
	s.standingChanged(o.ChannelID, o.UserID)
	return out, nil
}

// readCurrent reads the buyer's membership of a channel inside tx.
func readCurrent(ctx context.Context, tx *sql.Tx, channelID, userID int64) (current, error) {
	c := current{exists: true}
	err := tx.QueryRowContext(ctx, `SELECT tier, started_at, expires_at, auto_renew, renewal_stopped, monthly_price FROM memberships
		WHERE channel_id = $1 AND user_id = $2`, channelID, userID).Scan(&c.tier, &c.started, &c.expires, &c.autoRenew, &c.renewalStopped, &c.monthlyPrice)
	if errors.Is(err, sql.ErrNoRows) {
		return current{}, nil
	}
	return c, err
}

// paidValue is what the member paid for the time between now and expires,
// in coin-milliseconds per month (divide by a monthly price for
// milliseconds of that tier, by MembershipMonth for coins). Purchases are
// read newest first: each covered [period_start, expires_at) at its own
// monthly price, and a newer purchase's period wins where they overlap (an
// upgrade re-covers the time it converted).
func paidValue(ctx context.Context, tx *sql.Tx, channelID, userID, now, expires int64) (*big.Int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT period_start, expires_at, monthly_price FROM membership_purchases
		WHERE user_id = $1 AND channel_id = $2 AND expires_at > $3 ORDER BY id DESC`, userID, channelID, now)
	if err != nil {
		return nil, fmt.Errorf("read membership purchases: %w", err)
	}
	defer rows.Close()
	value := new(big.Int)
	boundary := expires // time at and after it is already valued
	for boundary > now && rows.Next() {
		var start, end, monthly int64
		if err := rows.Scan(&start, &end, &monthly); err != nil {
			return nil, err
		}
		from, to := max(start, now), min(end, boundary)
		if to > from {
			value.Add(value, new(big.Int).Mul(big.NewInt(to-from), big.NewInt(monthly)))
		}
		boundary = min(boundary, start)
	}
	return value, rows.Err()
}

func (s *Service) existingPurchase(ctx context.Context, userID int64, key string, channelID int64, tier, months int) (Purchase, bool, error) {
	var out Purchase
	var ch int64
	var t, m int
	var expires int64
	err := s.db.QueryRowContext(ctx, `SELECT p.id, p.amount, p.channel_id, p.tier, p.months, p.expires_at, a.balance FROM membership_purchases p
		JOIN ledger_accounts a ON a.kind = 'user' AND a.owner_id = p.user_id
		WHERE p.user_id = $1 AND p.idempotency_key = $2`, userID, key).Scan(&out.ID, &out.Amount, &ch, &t, &m, &expires, &out.Balance)
	if errors.Is(err, sql.ErrNoRows) {
		return Purchase{}, false, nil
	}
	if err != nil {
		return Purchase{}, false, err
	}
	if ch != channelID || t != tier || m != months {
		return Purchase{}, false, ErrKeyReused
	}
	out.Duplicate = true
	mem, err := s.MembershipOf(ctx, userID, channelID)
	if err != nil {
		return Purchase{}, false, err
	}
	if mem != nil {
		out.Membership = *mem
	}
	return out, true, nil
}

// MembershipOf returns a viewer's membership of a channel (active or not),
// or nil if they never had one.
func (s *Service) MembershipOf(ctx context.Context, userID, channelID int64) (*Membership, error) {
	var m Membership
	var started, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT tier, started_at, expires_at, auto_renew, monthly_price, renewal_stopped FROM memberships
		WHERE channel_id = $1 AND user_id = $2`,
		channelID, userID).Scan(&m.Tier, &started, &expires, &m.AutoRenew, &m.MonthlyPrice, &m.RenewalStopped)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read membership: %w", err)
	}
	m.StartedAt, m.ExpiresAt = time.UnixMilli(started), time.UnixMilli(expires)
	m.Active = s.now().Before(m.ExpiresAt)
	if tiers, err := s.Tiers(ctx, channelID); err == nil && m.Tier >= 1 && m.Tier <= len(tiers) {
		m.Name = tiers[m.Tier-1].Name
	}
	return &m, nil
}
