package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
)

// moneyNotice is the part of money's notice events the bell reads
// (money.RenewalStoppedEvent, money.WithdrawalDecidedEvent).
type moneyNotice struct {
	Type         string `json:"type"`
	UserID       int64  `json:"user_id"`
	ChannelID    int64  `json:"channel_id"`
	Channel      string `json:"channel"`
	TierName     string `json:"tier_name"`
	AgreedPrice  int64  `json:"agreed_price"`
	Price        int64  `json:"price"`
	ExpiresAt    int64  `json:"expires_at"`
	WithdrawalID int64  `json:"withdrawal_id"`
	Amount       int64  `json:"amount"`
	Status       string `json:"status"`
	Note         string `json:"note"`
}

// onMoneyNotice turns a money notice into a bell entry, once per event
// (its id is the row's key): a renewal stopped by a price rise, a
// withdrawal approved or rejected. Other types are acknowledged and left.
// An error has the event delivered again.
func (s *Service) onMoneyNotice(e bus.Event) error {
	var m moneyNotice
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		return nil // never decodable: do not retry
	}
	userID := m.UserID
	if userID == 0 {
		userID = e.UserID
	}
	if userID == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := Notification{UserID: userID, ChannelID: m.ChannelID, Channel: m.Channel, CreatedAt: e.At}
	var payload any
	switch m.Type {
	case "membership.renewal_stopped":
		n.Kind = KindRenewalStopped
		payload = map[string]any{"tier_name": m.TierName, "agreed_price": m.AgreedPrice, "price": m.Price, "expires_at": m.ExpiresAt}
	case "withdrawal.decided":
		n.Kind = KindWithdrawalDecided
		payload = map[string]any{"withdrawal_id": m.WithdrawalID, "amount": m.Amount, "status": m.Status, "note": m.Note}
	default:
		return nil
	}
	if n.Channel == "" && n.ChannelID != 0 {
		slug, err := s.store.channelSlug(ctx, n.ChannelID)
		if err != nil {
			return err
		}
		n.Channel = slug
	}
	n.Payload, _ = json.Marshal(payload)
	saved, ok, err := s.store.Add(ctx, n, "money:"+e.ID)
	if err != nil {
		return fmt.Errorf("store money notice: %w", err)
	}
	if ok {
		s.announce(busMessage{Type: "new", Users: []Recipient{{UserID: userID, ID: saved.ID}}, Item: &saved})
	}
	return nil
}

// KindRenewsSoon reminds a member that an auto-renewing membership renews
// (and charges) within RenewSoon.
const KindRenewsSoon = "renews_soon"

// RenewSoon is how long before a renewal its member is reminded.
const RenewSoon = 3 * 24 * time.Hour

// remindRenewals makes a reminder for every auto-renewing membership that
// renews within RenewSoon, once per period (the expiry is in the key, so
// every node may run it), and rings the members' bells.
func (s *Service) remindRenewals(ctx context.Context, now time.Time) (int, error) {
	made, err := s.store.renewalReminders(ctx, now, RenewSoon)
	if err != nil {
		return 0, err
	}
	for i := range made {
		n := made[i]
		s.announce(busMessage{Type: "new", Users: []Recipient{{UserID: n.UserID, ID: n.ID}}, Item: &n})
	}
	return len(made), nil
}

// remindLoop runs remindRenewals every interval until Close.
func (s *Service) remindLoop(interval time.Duration) {
	defer s.wg.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := s.remindRenewals(ctx, time.Now()); err != nil {
			s.log.Warn("membership renewal reminders", "err", err)
		}
		cancel()
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}
