package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/trust"
)

// Memberships and fan medals: what a viewer's support of one channel earns
// them there (a badge in danmaku, entry to members-only and medal-only
// chat).

// MembershipMonth is how long one month of membership lasts.
const MembershipMonth = 30 * 24 * time.Hour

// ErrNoMembership is a change to a membership that does not exist.
var ErrNoMembership = errors.New("you have no membership in this channel")

// ErrHigherTier refuses buying a lower tier while a higher one runs.
var ErrHigherTier = errors.New("you already hold a higher membership tier in this channel; it must run out before a lower one can be bought")

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
// the one below it.
func (s *Service) SetTiers(ctx context.Context, channelID int64, tiers []Tier) error {
	if len(tiers) != 3 {
		return &InputError{"give all three tiers"}
	}
	for i, t := range tiers {
		name := strings.TrimSpace(t.Name)
		switch {
		case t.Tier != i+1:
			return &InputError{"tiers must be 1, 2 and 3 in order"}
		case name == "" || utf8.RuneCountInString(name) > 24:
			return &InputError{fmt.Sprintf("tier %d needs a name of 1 to 24 characters", t.Tier)}
		case t.MonthlyPrice < 1 || t.MonthlyPrice > 10_000_000:
			return &InputError{fmt.Sprintf("tier %d: monthly_price must be 1 to 10,000,000 coins", t.Tier)}
		case i > 0 && t.MonthlyPrice <= tiers[i-1].MonthlyPrice:
			return &InputError{fmt.Sprintf("tier %d must cost more than tier %d", t.Tier, t.Tier-1)}
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
	Name      string    `json:"name,omitempty"`
	StartedAt time.Time `json:"started_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Active    bool      `json:"active"`
	AutoRenew bool      `json:"auto_renew"`
}

// Purchase is the answer to buying a membership.
type Purchase struct {
	ID         int64      `json:"purchase_id"`
	Amount     int64      `json:"amount"`
	Balance    int64      `json:"balance"`
	Membership Membership `json:"membership"`
	Duplicate  bool       `json:"duplicate"`
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

// BuyMembership charges months of a tier and starts or extends the
// membership: renewing adds to the time left, upgrading lifts the tier for
// the time left too. The same key twice is one purchase.
func (s *Service) BuyMembership(ctx context.Context, userID int64, userName string, channelID int64, room string, tier, months int, key string, autoRenew bool) (Purchase, error) {
	if months < 1 || months > 12 {
		return Purchase{}, &InputError{"months must be 1 to 12"}
	}
	if key == "" || len(key) > 64 {
		return Purchase{}, &InputError{"idempotency_key is required (up to 64 characters)"}
	}
	tiers, err := s.Tiers(ctx, channelID)
	if err != nil {
		return Purchase{}, err
	}
	if tier < 1 || tier > len(tiers) {
		return Purchase{}, &InputError{"tier must be 1, 2 or 3"}
	}
	t := tiers[tier-1]
	if prev, ok, err := s.existingPurchase(ctx, userID, key, channelID, tier, months); err != nil || ok {
		return prev, err
	}
	amount := t.MonthlyPrice * int64(months)
	cut := amount * s.platformShare(ctx, channelID) / 10000
	user, err := s.account(ctx, KindUser, userID)
	if err != nil {
		return Purchase{}, err
	}
	channelAcct, err := s.account(ctx, KindChannel, channelID)
	if err != nil {
		return Purchase{}, err
	}
	platform, err := s.account(ctx, KindPlatform, 0)
	if err != nil {
		return Purchase{}, err
	}
	var out Purchase
	err = s.db.InTx(ctx, func(tx *sql.Tx) error {
		now := store.Now()
		// The debit locks the buyer's account row first, so two purchases
		// by one viewer cannot both extend from the same expiry.
		err := tx.QueryRowContext(ctx, `UPDATE ledger_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance`,
			amount, user).Scan(&out.Balance)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInsufficientFunds
		}
		if err != nil {
			return err
		}
		var curTier int
		var curStart, curExpiry int64
		err = tx.QueryRowContext(ctx, `SELECT tier, started_at, expires_at FROM memberships WHERE channel_id = $1 AND user_id = $2`,
			channelID, userID).Scan(&curTier, &curStart, &curExpiry)
		if errors.Is(err, sql.ErrNoRows) {
			curExpiry = 0
		} else if err != nil {
			return err
		}
		active := curExpiry > now
		if active && curTier > tier {
			return ErrHigherTier
		}
		from, started := now, now
		if active {
			from, started = curExpiry, curStart
		}
		expires := from + int64(months)*MembershipMonth.Milliseconds()
		if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (channel_id, user_id, tier, started_at, expires_at, auto_renew, username, room)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (channel_id, user_id) DO UPDATE SET tier = excluded.tier, started_at = excluded.started_at, expires_at = excluded.expires_at,
			auto_renew = excluded.auto_renew, username = excluded.username, room = excluded.room`,
			channelID, userID, tier, started, expires, autoRenew, userName, room); err != nil {
			return err
		}
		txID, err := newTx(ctx, tx, "membership", fmt.Sprintf("%s ×%d month(s) in %s", t.Name, months, room), userID, now)
		if err != nil {
			return err
		}
		if err := s.splitEntries(ctx, tx, txID, user, channelAcct, platform, amount, cut, now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO membership_purchases (user_id, idempotency_key, channel_id, tier, months, amount, expires_at, tx_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, userID, key, channelID, tier, months, amount, expires, txID, now).Scan(&out.ID); err != nil {
			return err
		}
		if err := addIntimacy(ctx, tx, map[fanKey]int64{{channelID, userID}: amount}); err != nil {
			return err
		}
		payload, _ := jsonMarshal(MembershipEvent{Type: "membership", ID: fmt.Sprint(out.ID), UserID: userID, User: userName,
			Tier: tier, TierName: t.Name, Months: months, At: now})
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (subject, payload, created_at) VALUES ($1, $2, $3)`, "room."+room, string(payload), now); err != nil {
			return err
		}
		out.Amount = amount
		out.Membership = Membership{Tier: tier, Name: t.Name, StartedAt: time.UnixMilli(started), ExpiresAt: time.UnixMilli(expires), Active: true, AutoRenew: autoRenew}
		return nil
	})
	if store.IsUniqueViolation(err) {
		if prev, ok, err2 := s.existingPurchase(ctx, userID, key, channelID, tier, months); err2 != nil || ok {
			return prev, err2
		}
	}
	if err != nil {
		return Purchase{}, err
	}
	s.kickRelay()
	return out, nil
}

// SetAutoRenew switches a membership's monthly renewal on or off.
func (s *Service) SetAutoRenew(ctx context.Context, userID, channelID int64, on bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE memberships SET auto_renew = $1 WHERE channel_id = $2 AND user_id = $3`, on, channelID, userID)
	if err != nil {
		return fmt.Errorf("set auto-renew: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoMembership
	}
	return nil
}

// RenewWindow is how long before expiry an auto-renewing membership is
// charged for its next month; RenewGrace how long after expiry a renewal
// is still tried (a member topping up late keeps their streak).
const (
	RenewWindow = time.Hour
	RenewGrace  = 3 * 24 * time.Hour
)

// RenewDue charges every auto-renewing membership that expires within
// RenewWindow for one more month at its tier's current price. The key is
// made from the expiry being renewed, so two nodes (or a retry) renew a
// period once. A member who cannot pay is tried again until RenewGrace has
// passed. It returns how many were renewed.
func (s *Service) RenewDue(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, user_id, tier, expires_at, username, room FROM memberships
		WHERE auto_renew AND expires_at <= $1 AND expires_at > $2 ORDER BY expires_at LIMIT 500`,
		now.Add(RenewWindow).UnixMilli(), now.Add(-RenewGrace).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("read memberships due: %w", err)
	}
	type due struct {
		channel, user, expires int64
		tier                   int
		name, room             string
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.channel, &d.user, &d.tier, &d.expires, &d.name, &d.room); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	renewed := 0
	for _, d := range list {
		key := fmt.Sprintf("renew-%d-%d", d.channel, d.expires)
		p, err := s.BuyMembership(ctx, d.user, d.name, d.channel, d.room, d.tier, 1, key, true)
		switch {
		case errors.Is(err, ErrInsufficientFunds):
			s.log.Info("membership not renewed: balance too low", "user", d.user, "channel", d.channel)
		case err != nil:
			s.log.Error("renew membership", "user", d.user, "channel", d.channel, "err", err)
		case !p.Duplicate:
			renewed++
		}
	}
	return renewed, nil
}

// splitEntries writes a purchase's entries: the buyer pays (settled), the
// channel and the platform are credited by appended entries (hot accounts).
func (s *Service) splitEntries(ctx context.Context, tx *sql.Tx, txID, buyer, channelAcct, platform, amount, cut, now int64) error {
	if err := entry(ctx, tx, txID, buyer, -amount, true, now); err != nil {
		return err
	}
	if err := entry(ctx, tx, txID, channelAcct, amount-cut, false, now); err != nil {
		return err
	}
	if cut > 0 {
		return entry(ctx, tx, txID, platform, cut, false, now)
	}
	return nil
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
	err := s.db.QueryRowContext(ctx, `SELECT tier, started_at, expires_at, auto_renew FROM memberships WHERE channel_id = $1 AND user_id = $2`,
		channelID, userID).Scan(&m.Tier, &started, &expires, &m.AutoRenew)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read membership: %w", err)
	}
	m.StartedAt, m.ExpiresAt = time.UnixMilli(started), time.UnixMilli(expires)
	m.Active = time.Now().Before(m.ExpiresAt)
	if tiers, err := s.Tiers(ctx, channelID); err == nil && m.Tier >= 1 && m.Tier <= len(tiers) {
		m.Name = tiers[m.Tier-1].Name
	}
	return &m, nil
}

// Medal levels: level n needs 100·(n−1)² intimacy (1 coin spent is 1
// intimacy); any intimacy at all is level 1.
const MaxMedalLevel = 40

// MedalLevel is the level a medal with this intimacy has (0: no medal).
func MedalLevel(intimacy int64) int {
	if intimacy <= 0 {
		return 0
	}
	n := 1 + int(math.Sqrt(float64(intimacy)/100))
	// Correct float rounding at the exact thresholds.
	for n > 1 && medalThreshold(n) > intimacy {
		n--
	}
	for n < MaxMedalLevel && medalThreshold(n+1) <= intimacy {
		n++
	}
	return min(n, MaxMedalLevel)
}

func medalThreshold(level int) int64 { return 100 * int64(level-1) * int64(level-1) }

// Daily watch bonus: the MedalWatchMinutes-th minute watched in a UTC day
// adds MedalWatchBonus intimacy to a medal the viewer already holds.
const (
	MedalWatchMinutes = 5
	MedalWatchBonus   = 50
)

// Medal is a viewer's fan medal of a channel.
type Medal struct {
	Name        string `json:"name"`
	Level       int    `json:"level"`
	Intimacy    int64  `json:"intimacy"`
	NextLevelAt int64  `json:"next_level_at,omitempty"`
}

type fanKey struct{ channel, user int64 }

// addIntimacy adds to fan medals, creating them; one statement per call.
// Keys are unique, as PostgreSQL's upsert needs.
func addIntimacy(ctx context.Context, tx *sql.Tx, add map[fanKey]int64) error {
	if len(add) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(add))
	for k, v := range add {
		rows = append(rows, []any{k.channel, k.user, v})
	}
	return insertRows(ctx, tx, `INSERT INTO fan_medals (channel_id, user_id, intimacy) VALUES `, rows,
		` ON CONFLICT (channel_id, user_id) DO UPDATE SET intimacy = fan_medals.intimacy + excluded.intimacy`)
}

// WatchMinute counts a minute of watching towards the daily medal bonus.
// Only medals the viewer already has grow: watching alone earns none, so
// medal-only chat cannot be entered by idle accounts.
func (s *Service) WatchMinute(ctx context.Context, userID, channelID int64, now time.Time) error {
	day := now.UTC().Unix() / 86400
	_, err := s.db.ExecContext(ctx, `UPDATE fan_medals SET
		intimacy = intimacy + CASE WHEN (CASE WHEN watch_day = $1 THEN watch_minutes ELSE 0 END) + 1 = $2 THEN $3 ELSE 0 END,
		watch_minutes = CASE WHEN watch_day = $1 THEN watch_minutes ELSE 0 END + 1,
		watch_day = $1
		WHERE channel_id = $4 AND user_id = $5 AND intimacy > 0`, day, MedalWatchMinutes, MedalWatchBonus, channelID, userID)
	if err != nil {
		return fmt.Errorf("count medal watch minute: %w", err)
	}
	return nil
}

// MedalOf returns a viewer's medal of a channel, or nil without one.
func (s *Service) MedalOf(ctx context.Context, userID, channelID int64, slug string) (*Medal, error) {
	var intimacy int64
	var name string
	err := s.db.QueryRowContext(ctx, `SELECT f.intimacy, COALESCE((SELECT medal_name FROM channel_money WHERE channel_id = $1), '')
		FROM fan_medals f WHERE f.channel_id = $1 AND f.user_id = $2`, channelID, userID).Scan(&intimacy, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read medal: %w", err)
	}
	m := Medal{Name: medalName(name, slug), Level: MedalLevel(intimacy), Intimacy: intimacy}
	if m.Level == 0 {
		return nil, nil
	}
	if m.Level < MaxMedalLevel {
		m.NextLevelAt = medalThreshold(m.Level + 1)
	}
	return &m, nil
}

// MedalName is the name of a channel's fan medal.
func (s *Service) MedalName(ctx context.Context, channelID int64, slug string) (string, error) {
	var name string
	err := s.db.QueryRowContext(ctx, `SELECT medal_name FROM channel_money WHERE channel_id = $1`, channelID).Scan(&name)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read medal name: %w", err)
	}
	return medalName(name, slug), nil
}

// medalName is the channel's chosen medal name, or its slug's first letters.
func medalName(name, slug string) string {
	if name != "" {
		return name
	}
	r := []rune(strings.ToUpper(slug))
	return string(r[:min(len(r), 4)])
}

// Standing reads a viewer's active membership tier and medal in one query
// (it runs for every danmaku); it is the trust domain's FanStanding.
func (s *Service) Standing(ctx context.Context, userID, channelID int64, slug string) (trust.FanBadge, error) {
	var tier sql.NullInt64
	var intimacy sql.NullInt64
	var name sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT tier FROM memberships WHERE channel_id = $1 AND user_id = $2 AND expires_at > $3),
		(SELECT intimacy FROM fan_medals WHERE channel_id = $1 AND user_id = $2),
		(SELECT medal_name FROM channel_money WHERE channel_id = $1)`, channelID, userID, store.Now()).Scan(&tier, &intimacy, &name)
	if err != nil {
		return trust.FanBadge{}, fmt.Errorf("read fan standing: %w", err)
	}
	b := trust.FanBadge{MemberTier: int(tier.Int64), MedalLevel: MedalLevel(intimacy.Int64)}
	if b.MedalLevel > 0 {
		b.MedalName = medalName(name.String, slug)
	}
	return b, nil
}

// SetMedalName names a channel's fan medal (1 to 8 characters).
func (s *Service) SetMedalName(ctx context.Context, channelID int64, name string) error {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n < 1 || n > 8 {
		return &InputError{"medal name must be 1 to 8 characters"}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO channel_money (channel_id, medal_name) VALUES ($1, $2)
		ON CONFLICT (channel_id) DO UPDATE SET medal_name = excluded.medal_name`, channelID, name)
	return err
}

// shareTTL is how long a channel's platform share is trusted once read.
const shareTTL = 10 * time.Second

type cachedShare struct {
	bp int64
	at time.Time
}

// platformShare is the platform's cut for a channel in basis points: the
// channel's override, else the platform default set by an admin (row 0),
// else the start-up flag. Cached per channel for shareTTL.
func (s *Service) platformShare(ctx context.Context, channelID int64) int64 {
	s.mu.Lock()
	c, ok := s.shares[channelID]
	s.mu.Unlock()
	if ok && time.Since(c.at) < shareTTL {
		return c.bp
	}
	bp, _, err := s.ShareOf(ctx, channelID)
	if err != nil {
		// Keep selling at the last known share rather than refusing gifts.
		s.log.Warn("read channel platform share; using the last known", "channel", channelID, "err", err)
		if ok {
			return c.bp
		}
		bp = s.platformShareBP
	}
	s.mu.Lock()
	s.shares[channelID] = cachedShare{bp: bp, at: time.Now()}
	s.mu.Unlock()
	return bp
}

// ShareOf reports a channel's platform share and whether it is the
// channel's own (channel 0: the platform default and whether an admin set it).
func (s *Service) ShareOf(ctx context.Context, channelID int64) (bp int64, override bool, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, platform_share_bp FROM channel_money
		WHERE channel_id IN ($1, 0) AND platform_share_bp IS NOT NULL`, channelID)
	if err != nil {
		return 0, false, fmt.Errorf("read platform share: %w", err)
	}
	defer rows.Close()
	bp = s.platformShareBP
	for rows.Next() {
		var ch, v int64
		if err := rows.Scan(&ch, &v); err != nil {
			return 0, false, err
		}
		if ch == channelID {
			return v, true, nil
		}
		bp = v // the admin's default; a channel row wins if it comes later
	}
	return bp, false, rows.Err()
}

// SetShare overrides a channel's platform share (basis points, 0–10000);
// nil returns it to the platform default.
func (s *Service) SetShare(ctx context.Context, channelID int64, bp *int64) error {
	if bp != nil && (*bp < 0 || *bp > 10000) {
		return &InputError{"platform_share_bp must be 0 to 10000 (basis points)"}
	}
	var v any
	if bp != nil {
		v = *bp
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO channel_money (channel_id, platform_share_bp) VALUES ($1, $2)
		ON CONFLICT (channel_id) DO UPDATE SET platform_share_bp = excluded.platform_share_bp`, channelID, v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if channelID == 0 {
		clear(s.shares) // the default changed for every channel without its own
	} else {
		delete(s.shares, channelID)
	}
	s.mu.Unlock()
	return nil
}
