package money

import (
	"context"

	"github.com/livehouse/livehouse/internal/money/ledger"
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
