package channel

import (
	"context"
	"database/sql"
	"errors"

	"github.com/livehouse/livehouse/internal/policy"
)

// How other domains find a channel: by slug for a request (Resolve,
// ChannelOwner, OpenChannel) or by id for work done later (OwnerByID,
// ChannelSlug). Each is one query.

// Resolve is what a channel-scoped request is about: the channel of a
// slug (disabled ones too), in one query (account's InChannel).
func (s *Service) Resolve(ctx context.Context, slug string) (policy.Channel, error) {
	ch := policy.Channel{Slug: slug}
	var disabled sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id, disabled_at FROM channels WHERE slug = $1`, slug).Scan(&ch.ID, &ch.OwnerID, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return ch, policy.ErrNoChannel
	}
	ch.Disabled = disabled.Valid
	return ch, err
}

// ChannelOwner resolves a slug to its channel and owner (disabled ones
// too), for domains that act in a channel named outside the path.
func (s *Service) ChannelOwner(ctx context.Context, slug string) (int64, int64, error) {
	var id, owner int64
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id FROM channels WHERE slug = $1`, slug).Scan(&id, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, policy.ErrNoChannel
	}
	return id, owner, err
}

// OpenChannel resolves a slug for chat and money, which a disabled channel
// no longer takes (policy.ErrChannelDisabled); one query, like ChannelOwner.
func (s *Service) OpenChannel(ctx context.Context, slug string) (int64, int64, error) {
	var id, owner int64
	var disabled sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, owner_id, disabled_at FROM channels WHERE slug = $1`, slug).Scan(&id, &owner, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, policy.ErrNoChannel
	}
	if err == nil && disabled.Valid {
		return id, owner, policy.ErrChannelDisabled
	}
	return id, owner, err
}

// OwnerByID returns the owner of a channel by id.
func (s *Service) OwnerByID(ctx context.Context, id int64) (int64, error) {
	var owner int64
	err := s.db.QueryRowContext(ctx, `SELECT owner_id FROM channels WHERE id = $1`, id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, policy.ErrNoChannel
	}
	return owner, err
}

// ChannelSlug returns a channel's slug by id.
func (s *Service) ChannelSlug(ctx context.Context, id int64) (string, error) {
	var slug string
	err := s.db.QueryRowContext(ctx, `SELECT slug FROM channels WHERE id = $1`, id).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return "", policy.ErrNoChannel
	}
	return slug, err
}
