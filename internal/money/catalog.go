package money

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/textclean"
)

// The gift catalog: the platform's gifts (channel 0) and each channel's
// custom gifts, optionally on sale only within a time window; trial gifts
// are free once for a viewer who has paid for coins at least once.

// ProviderPromo owns the promotion account that pays for trial gifts.
const ProviderPromo int64 = 3

// Gift is a catalog entry.
type Gift struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Price          int64      `json:"price"`
	Tier           int        `json:"tier"`
	Icon           string     `json:"icon"`
	ChannelID      int64      `json:"channel_id,omitempty"`
	AvailableFrom  *time.Time `json:"available_from,omitempty"`
	AvailableUntil *time.Time `json:"available_until,omitempty"`
	Trial          bool       `json:"trial,omitempty"`
}

// onSale tells whether g can be sent in a channel at now.
func (g Gift) onSale(channelID int64, now time.Time) error {
	if g.ChannelID != 0 && g.ChannelID != channelID {
		return ErrNoGift
	}
	if (g.AvailableFrom != nil && now.Before(*g.AvailableFrom)) || (g.AvailableUntil != nil && !now.Before(*g.AvailableUntil)) {
		return ErrGiftNotOnSale
	}
	return nil
}

const giftColumns = `id, name, price, tier, icon, channel_id, available_from, available_until, trial`

func scanGift(sc func(...any) error) (Gift, error) {
	var g Gift
	var from, until sql.NullInt64
	if err := sc(&g.ID, &g.Name, &g.Price, &g.Tier, &g.Icon, &g.ChannelID, &from, &until, &g.Trial); err != nil {
		return Gift{}, err
	}
	if from.Valid {
		t := time.UnixMilli(from.Int64)
		g.AvailableFrom = &t
	}
	if until.Valid {
		t := time.UnixMilli(until.Int64)
		g.AvailableUntil = &t
	}
	return g, nil
}

func (s *Service) queryGifts(ctx context.Context, where string, args ...any) ([]Gift, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+giftColumns+` FROM gift_catalog WHERE active AND `+where+` ORDER BY price, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read gift catalog: %w", err)
	}
	defer rows.Close()
	out := []Gift{}
	for rows.Next() {
		g, err := scanGift(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Catalog lists the gifts on sale now in a channel (the platform's and the
// channel's own; channel 0 lists only the platform's), cheapest first.
func (s *Service) Catalog(ctx context.Context, channelID int64) ([]Gift, error) {
	now := store.Now()
	return s.queryGifts(ctx, `(channel_id = 0 OR channel_id = $1)
		AND (available_from IS NULL OR available_from <= $2) AND (available_until IS NULL OR available_until > $2)`, channelID, now)
}

// ChannelGifts lists a channel's own gifts (channel 0: the platform's),
// including those whose sale window has not opened or has closed.
func (s *Service) ChannelGifts(ctx context.Context, channelID int64) ([]Gift, error) {
	return s.queryGifts(ctx, `channel_id = $1`, channelID)
}

// catalogTTL is how long a read of the catalog is trusted.
const catalogTTL = 10 * time.Second

// catalogGift returns an active gift, from a catalog read at most
// catalogTTL ago (a gift is priced on every send; the catalog rarely changes).
func (s *Service) catalogGift(ctx context.Context, id string) (Gift, error) {
	s.mu.Lock()
	fresh := time.Since(s.catalogAt) < catalogTTL
	g, ok := s.catalog[id]
	s.mu.Unlock()
	if !fresh {
		list, err := s.queryGifts(ctx, `TRUE`)
		if err != nil {
			return Gift{}, err
		}
		m := make(map[string]Gift, len(list))
		for _, c := range list {
			m[c.ID] = c
		}
		s.mu.Lock()
		s.catalog, s.catalogAt = m, time.Now()
		s.mu.Unlock()
		g, ok = m[id]
	}
	if !ok {
		return Gift{}, ErrNoGift
	}
	return g, nil
}

func (s *Service) forgetCatalog() {
	s.mu.Lock()
	s.catalogAt = time.Time{}
	s.mu.Unlock()
}

var giftIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,31}$`)

// validateGift checks a catalog entry; its name is tidied like danmaku
// (viewers see it in every room), and its icon may hold no direction
// controls (emoji keep their zero-width joiners).
func validateGift(g *Gift, scope int64) error {
	g.Icon = strings.TrimSpace(g.Icon)
	if !giftIDPattern.MatchString(g.ID) {
		return &InputError{Msg: "id must be 2 to 32 lowercase letters, digits or '-'"}
	}
	name, err := cleanName("name", g.Name, 24)
	if err != nil {
		return err
	}
	g.Name = name
	switch {
	case g.Price < 1 || g.Price > 10_000_000:
		return &InputError{Msg: "price must be 1 to 10,000,000 coins"}
	case g.Tier < 1 || g.Tier > 4:
		return &InputError{Msg: "tier must be 1 to 4"}
	case g.Icon == "" || utf8.RuneCountInString(g.Icon) > 8 || strings.IndexFunc(g.Icon, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || (textclean.Invisible(r) && r != '\u200d')
	}) >= 0:
		return &InputError{Msg: "icon must be 1 to 8 characters (an emoji), without spaces"}
	case g.AvailableFrom != nil && g.AvailableUntil != nil && !g.AvailableUntil.After(*g.AvailableFrom):
		return &InputError{Msg: "available_until must be after available_from"}
	case g.Trial && scope != 0:
		// The promotion account pays for trial gifts; only the platform may.
		return &InputError{Msg: "only the platform catalog has trial gifts"}
	}
	return nil
}

func msOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// CreateGift adds a gift to a channel's catalog (scope 0: the platform's).
func (s *Service) CreateGift(ctx context.Context, scope int64, g Gift) (Gift, error) {
	if err := validateGift(&g, scope); err != nil {
		return Gift{}, err
	}
	if err := s.screenName(ctx, scope, g.Name); err != nil {
		return Gift{}, err
	}
	g.ChannelID = scope
	_, err := s.db.ExecContext(ctx, `INSERT INTO gift_catalog (id, name, price, tier, icon, channel_id, available_from, available_until, trial)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, g.ID, g.Name, g.Price, g.Tier, g.Icon, scope, msOrNil(g.AvailableFrom), msOrNil(g.AvailableUntil), g.Trial)
	if store.IsUniqueViolation(err) {
		return Gift{}, ErrGiftExists
	}
	if err != nil {
		return Gift{}, fmt.Errorf("create gift: %w", err)
	}
	s.forgetCatalog()
	return g, nil
}

// UpdateGift changes a gift of a channel's catalog (scope 0: the
// platform's). Gifts already sent keep the price they were sent at.
func (s *Service) UpdateGift(ctx context.Context, scope int64, g Gift) (Gift, error) {
	if err := validateGift(&g, scope); err != nil {
		return Gift{}, err
	}
	if err := s.screenName(ctx, scope, g.Name); err != nil {
		return Gift{}, err
	}
	g.ChannelID = scope
	res, err := s.db.ExecContext(ctx, `UPDATE gift_catalog SET name = $1, price = $2, tier = $3, icon = $4, available_from = $5, available_until = $6, trial = $7
		WHERE id = $8 AND channel_id = $9 AND active`, g.Name, g.Price, g.Tier, g.Icon, msOrNil(g.AvailableFrom), msOrNil(g.AvailableUntil), g.Trial, g.ID, scope)
	if err != nil {
		return Gift{}, fmt.Errorf("update gift: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Gift{}, ErrNoGift
	}
	s.forgetCatalog()
	return g, nil
}

// RetireGift takes a gift off sale for good (sent gifts keep referring to it).
func (s *Service) RetireGift(ctx context.Context, scope int64, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE gift_catalog SET active = FALSE WHERE id = $1 AND channel_id = $2 AND active`, id, scope)
	if err != nil {
		return fmt.Errorf("retire gift: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoGift
	}
	s.forgetCatalog()
	return nil
}

// TrialsUsed lists the trial gifts a viewer has already sent, and whether
// they may send trial gifts at all (they have paid for coins once).
func (s *Service) TrialsUsed(ctx context.Context, userID int64) (used map[string]bool, eligible bool, err error) {
	used = map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT gift_id FROM trial_gifts_used WHERE user_id = $1`, userID)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		used[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	err = s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM payments WHERE user_id = $1)`, userID).Scan(&eligible)
	return used, eligible, err
}
