package money

import (
	"context"
	"encoding/json"

	"github.com/livehouse/livehouse/internal/money/ledger"
	"github.com/livehouse/livehouse/internal/money/outbox"
	"github.com/livehouse/livehouse/internal/money/subjects"
)

// Settle folds the appended entries of hot accounts into their balances
// (the relay does it every few seconds; see ledger.Settle).
func (s *Service) Settle(ctx context.Context) error { return ledger.Settle(ctx, s.db) }

// Earnings is a channel's balance including entries not settled yet.
func (s *Service) Earnings(ctx context.Context, channelID int64) (int64, error) {
	acct, err := s.account(ctx, KindChannel, channelID)
	if err != nil {
		return 0, err
	}
	return ledger.Available(ctx, s.db, acct)
}

// RoomEventsSince returns the gift and membership events of a room
// created after sinceMs (Unix ms), oldest first, as they were published:
// a viewer that was away (NATS delivers at most once) catches up on join.
// Clients de-duplicate by id. The room asks for the last minute; the
// outbox keeps published rows for the relay's retention (a day by
// default), which must stay longer than that.
func (s *Service) RoomEventsSince(ctx context.Context, room string, sinceMs int64, limit int) ([]json.RawMessage, error) {
	return outbox.Since(ctx, s.db, subjects.Room(room), sinceMs, limit)
}
