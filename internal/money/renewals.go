package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/policy"
)

// Automatic renewal: an hour before a membership runs out it is bought
// again for a month, at most at the monthly price the member last paid. A
// price rise stops it and tells the member (a wallet notice and an event);
// a price drop renews at the lower price. Closed accounts and disabled
// channels are never charged.

// RenewWindow is how long before expiry an auto-renewing membership is
// charged for its next month; RenewGrace how long after expiry a renewal
// is still tried (a member topping up late keeps their streak).
const (
	RenewWindow = time.Hour
	RenewGrace  = 3 * 24 * time.Hour
)

// ErrRenewalStopped: a renewal found the tier dearer than the member
// agreed to, so it charged nothing and switched auto-renew off.
var ErrRenewalStopped = errors.New("the tier's price rose above what the member agreed to; auto-renew stopped")

// errNotDue: the membership changed between listing and renewing it.
var errNotDue = errors.New("membership no longer due for renewal")

// renewal is what RenewDue expects a membership to still be.
type renewal struct {
	expires int64
	tier    int
}

// NoticeRenewalStopped is the kind of notice a stopped renewal leaves.
const NoticeRenewalStopped = "renewal_stopped"

// Notice is something the wallet tells its owner.
type Notice struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"` // renewal_stopped
	ChannelID   int64     `json:"channel_id"`
	Channel     string    `json:"channel"`
	Tier        int       `json:"tier"`
	TierName    string    `json:"tier_name"`
	AgreedPrice int64     `json:"agreed_price"`
	Price       int64     `json:"price"`
	At          time.Time `json:"at"`
}

// RenewalStoppedEvent is published on NoticeSubject(user) when a price
// rise stops a membership's renewal.
type RenewalStoppedEvent struct {
	Type        string `json:"type"` // "membership.renewal_stopped"
	NoticeID    string `json:"notice_id"`
	UserID      int64  `json:"user_id"`
	ChannelID   int64  `json:"channel_id"`
	Channel     string `json:"channel"`
	Tier        int    `json:"tier"`
	TierName    string `json:"tier_name"`
	AgreedPrice int64  `json:"agreed_price"`
	Price       int64  `json:"price"`
	ExpiresAt   int64  `json:"expires_at"`
	At          int64  `json:"at"`
}

// stopRenewal switches a membership's renewal off because its tier now
// costs more than the member agreed to, and tells them, inside tx.
func (s *Service) stopRenewal(ctx context.Context, tx *sql.Tx, o MembershipOrder, t Tier, cur current, now int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE memberships SET auto_renew = FALSE, renewal_stopped = TRUE WHERE channel_id = $1 AND user_id = $2`,
		o.ChannelID, o.UserID); err != nil {
		return err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO money_notices (user_id, kind, channel_id, channel, tier, tier_name, agreed_price, price, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		o.UserID, NoticeRenewalStopped, o.ChannelID, o.Room, t.Tier, t.Name, cur.monthlyPrice, t.MonthlyPrice, now).Scan(&id); err != nil {
		return err
	}
	_, err := outbox.Add(ctx, tx, now, outbox.Event{Type: bus.MoneyNotice, UserID: o.UserID, Payload: RenewalStoppedEvent{
		Type: "membership.renewal_stopped", NoticeID: fmt.Sprint(id), UserID: o.UserID, ChannelID: o.ChannelID, Channel: o.Room,
		Tier: t.Tier, TierName: t.Name, AgreedPrice: cur.monthlyPrice, Price: t.MonthlyPrice, ExpiresAt: cur.expires, At: now}})
	return err
}

// RenewDue renews every auto-renewing membership that expires within
// RenewWindow for one more month, at the tier's current price if that is
// at most what the member last paid; a dearer tier stops the renewal
// instead. The key is made from the expiry being renewed, and the
// membership must still be as listed, so two nodes (or a retry) renew a
// period once. A member who cannot pay is tried again until RenewGrace has
// passed. Closed accounts' renewals are switched off; disabled channels
// are skipped. It returns how many were renewed.
func (s *Service) RenewDue(ctx context.Context, now time.Time) (int, error) {
	if s.deps.Accounts == nil || s.deps.Channels == nil {
		return 0, errors.New("memberships cannot renew: the money service was built without Deps (accounts and channels)")
	}
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, user_id, tier, expires_at, username FROM memberships
		WHERE auto_renew AND expires_at <= $1 AND expires_at > $2 ORDER BY expires_at LIMIT 500`,
		now.Add(RenewWindow).UnixMilli(), now.Add(-RenewGrace).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("read memberships due: %w", err)
	}
	type due struct {
		channel, user, expires int64
		tier                   int
		name                   string
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.channel, &d.user, &d.tier, &d.expires, &d.name); err != nil {
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
		if err := ctx.Err(); err != nil {
			return renewed, err // stopping: the rest are renewed next time, here or on another node
		}
		log := s.log.With("user", d.user, "channel", d.channel)
		closed, err := s.deps.Accounts.Closed(ctx, d.user)
		if err != nil && ctx.Err() != nil {
			return renewed, ctx.Err()
		}
		if err != nil {
			log.Error("renew membership: read account", "err", err)
			continue
		}
		if closed {
			if _, err := s.db.ExecContext(ctx, `UPDATE memberships SET auto_renew = FALSE WHERE channel_id = $1 AND user_id = $2`, d.channel, d.user); err != nil {
				log.Error("switch off a closed account's renewal", "err", err)
			} else {
				log.Info("membership not renewed: the account is closed; auto-renew switched off")
			}
			continue
		}
		slug, err := s.openChannel(ctx, d.channel)
		if errors.Is(err, policy.ErrChannelDisabled) || errors.Is(err, policy.ErrNoChannel) {
			log.Info("membership not renewed: the channel takes no money", "why", err)
			continue
		}
		if err != nil && ctx.Err() != nil {
			return renewed, ctx.Err()
		}
		if err != nil {
			log.Error("renew membership: read channel", "err", err)
			continue
		}
		on := true
		p, err := s.BuyMembershipOrder(ctx, MembershipOrder{UserID: d.user, UserName: d.name, ChannelID: d.channel, Room: slug,
			Tier: d.tier, Months: 1, Key: fmt.Sprintf("renew-%d-%d", d.channel, d.expires), AutoRenew: &on,
			renewal: &renewal{expires: d.expires, tier: d.tier}})
		switch {
		case errors.Is(err, ErrInsufficientFunds):
			log.Info("membership not renewed: balance too low")
		case errors.Is(err, ErrRenewalStopped):
			log.Info("membership not renewed: the tier's price rose; auto-renew stopped and the member told")
		case errors.Is(err, errNotDue):
		case err != nil && ctx.Err() != nil:
			return renewed, ctx.Err()
		case err != nil:
			log.Error("renew membership", "err", err)
		case !p.Duplicate:
			renewed++
		}
	}
	return renewed, nil
}

// openChannel returns the slug of a channel that takes money now, or
// policy.ErrChannelDisabled / policy.ErrNoChannel.
func (s *Service) openChannel(ctx context.Context, channelID int64) (string, error) {
	slug, err := s.deps.Channels.ChannelSlug(ctx, channelID)
	if err != nil {
		return "", err
	}
	id, _, err := s.deps.Channels.OpenChannel(ctx, slug)
	if err != nil {
		return "", err
	}
	if id != channelID {
		return "", fmt.Errorf("channel %d was renamed while renewing", channelID)
	}
	return slug, nil
}

// SetAutoRenew switches a membership's monthly renewal on or off. Switching
// it on when the tier now costs more than the member last paid needs their
// consent to the new price: price must be the current monthly price (else
// PriceChangedError), and becomes what renewals may charge.
func (s *Service) SetAutoRenew(ctx context.Context, userID, channelID int64, on bool, price *int64) error {
	if !on {
		res, err := s.db.ExecContext(ctx, `UPDATE memberships SET auto_renew = FALSE WHERE channel_id = $1 AND user_id = $2`, channelID, userID)
		if err != nil {
			return fmt.Errorf("set auto-renew: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoMembership
		}
		return nil
	}
	m, err := s.MembershipOf(ctx, userID, channelID)
	if err != nil {
		return err
	}
	if m == nil {
		return ErrNoMembership
	}
	tiers, err := s.Tiers(ctx, channelID)
	if err != nil {
		return err
	}
	if m.Tier < 1 || m.Tier > len(tiers) {
		return fmt.Errorf("membership of unknown tier %d", m.Tier)
	}
	current := tiers[m.Tier-1].MonthlyPrice
	agreed := m.MonthlyPrice
	if current > agreed {
		if price == nil || *price != current {
			return &PriceChangedError{What: "membership", Price: current}
		}
		agreed = current
	}
	now := s.now().UnixMilli()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		// Only from the membership read above: a purchase in between wins.
		res, err := tx.ExecContext(ctx, `UPDATE memberships SET auto_renew = TRUE, renewal_stopped = FALSE, monthly_price = $1
			WHERE channel_id = $2 AND user_id = $3 AND monthly_price = $4 AND tier = $5`, agreed, channelID, userID, m.MonthlyPrice, m.Tier)
		if err != nil {
			return fmt.Errorf("set auto-renew: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &PriceChangedError{What: "membership", Price: current}
		}
		_, err = tx.ExecContext(ctx, `UPDATE money_notices SET dismissed_at = $1 WHERE user_id = $2 AND channel_id = $3 AND dismissed_at IS NULL`,
			now, userID, channelID)
		return err
	})
}

// Notices lists a wallet's notices not yet dismissed, newest first.
func (s *Service) Notices(ctx context.Context, userID int64) ([]Notice, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, channel_id, channel, tier, tier_name, agreed_price, price, created_at FROM money_notices
		WHERE user_id = $1 AND dismissed_at IS NULL ORDER BY id DESC LIMIT 20`, userID)
	if err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		var n Notice
		var at int64
		if err := rows.Scan(&n.ID, &n.Kind, &n.ChannelID, &n.Channel, &n.Tier, &n.TierName, &n.AgreedPrice, &n.Price, &at); err != nil {
			return nil, err
		}
		n.At = time.UnixMilli(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

// DismissNotice hides one of a wallet's notices.
func (s *Service) DismissNotice(ctx context.Context, userID, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE money_notices SET dismissed_at = $1 WHERE id = $2 AND user_id = $3 AND dismissed_at IS NULL`,
		s.now().UnixMilli(), id, userID)
	if err != nil {
		return fmt.Errorf("dismiss notice: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoRequest
	}
	return nil
}
