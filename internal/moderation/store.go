package moderation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// PlatformScope is the channel id of platform-wide sanctions, logs and reports.
const PlatformScope int64 = 0

// Store is the moderation domain's data: moderators, channel rules,
// sanctions, the moderation log and reports. It is built before the
// account domain, which asks it for a principal's roles (account.Roles).
type Store struct{ db *store.DB }

// NewStore returns the moderation store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// ChannelRoles is what Authorize needs to know about userID in channelID:
// moderator, muted, banned (account.Roles).
func (m *Store) ChannelRoles(ctx context.Context, channelID, userID int64, now time.Time) (policy.ChannelRoles, error) {
	r := policy.ChannelRoles{ChannelID: channelID}
	var err error
	if r.IsModerator, err = m.IsModerator(ctx, channelID, userID); err != nil {
		return r, err
	}
	r.Muted, r.Banned, _, err = m.Active(ctx, channelID, userID, now)
	return r, err
}

// PlatformBanned reports a platform-wide ban in force (account.Roles).
func (m *Store) PlatformBanned(ctx context.Context, userID int64, now time.Time) (bool, error) {
	_, _, banned, err := m.Active(ctx, PlatformScope, userID, now)
	return banned, err
}

// IsModerator reports whether user moderates channel.
func (m *Store) IsModerator(ctx context.Context, channelID, userID int64) (bool, error) {
	var n int
	err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM channel_moderators WHERE channel_id = $1 AND user_id = $2`, channelID, userID).Scan(&n)
	return n > 0, err
}

// Appoint makes user a moderator of channel, logged as actor's act.
func (m *Store) Appoint(ctx context.Context, channelID, userID, actorID int64) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO channel_moderators (channel_id, user_id, appointed_by, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (channel_id, user_id) DO NOTHING`, channelID, userID, actorID, store.Now())
		if err != nil {
			return fmt.Errorf("appoint moderator: %w", err)
		}
		return logAct(ctx, tx, channelID, actorID, "moderator.appoint", userID, "")
	})
}

// Dismiss removes a moderator.
func (m *Store) Dismiss(ctx context.Context, channelID, userID, actorID int64) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM channel_moderators WHERE channel_id = $1 AND user_id = $2`, channelID, userID); err != nil {
			return err
		}
		return logAct(ctx, tx, channelID, actorID, "moderator.dismiss", userID, "")
	})
}

// Moderators lists a channel's moderators.
func (m *Store) Moderators(ctx context.Context, channelID int64) ([]policy.User, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT u.id, u.username, u.is_admin, u.can_stream, u.xp, u.created_at
		FROM channel_moderators cm JOIN users u ON u.id = cm.user_id WHERE cm.channel_id = $1 AND u.deleted_at IS NULL ORDER BY u.username_key`, channelID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []policy.User{}
	for rows.Next() {
		var u policy.User
		var created int64
		if err := rows.Scan(&u.ID, &u.Username, &u.IsAdmin, &u.CanStream, &u.XP, &created); err != nil {
			return nil, err
		}
		u.CreatedAt = time.UnixMilli(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

// Rules returns a channel's rules (defaults if it set none).
func (m *Store) Rules(ctx context.Context, channelID int64) (policy.Rules, error) {
	r := policy.DefaultRules()
	err := m.db.QueryRowContext(ctx, `SELECT min_level, min_account_age_seconds, links_min_level, slow_mode_seconds,
		followers_only, members_only, medal_only, medal_min_level, max_length FROM channel_rules WHERE channel_id = $1`, channelID).
		Scan(&r.MinLevel, &r.MinAccountAgeSecs, &r.LinksMinLevel, &r.SlowModeSecs, &r.FollowersOnly, &r.MembersOnly, &r.MedalOnly, &r.MedalMinLevel, &r.MaxLength)
	if errors.Is(err, sql.ErrNoRows) {
		return policy.DefaultRules(), nil
	}
	return r, err
}

// SetRules replaces a channel's rules.
func (m *Store) SetRules(ctx context.Context, channelID, actorID int64, r policy.Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO channel_rules (channel_id, min_level, min_account_age_seconds, links_min_level, slow_mode_seconds,
			followers_only, members_only, medal_only, medal_min_level, max_length, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (channel_id) DO UPDATE SET min_level = excluded.min_level, min_account_age_seconds = excluded.min_account_age_seconds,
			links_min_level = excluded.links_min_level, slow_mode_seconds = excluded.slow_mode_seconds, followers_only = excluded.followers_only,
			members_only = excluded.members_only, medal_only = excluded.medal_only, medal_min_level = excluded.medal_min_level, max_length = excluded.max_length,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			channelID, r.MinLevel, r.MinAccountAgeSecs, r.LinksMinLevel, r.SlowModeSecs, r.FollowersOnly, r.MembersOnly, r.MedalOnly, r.MedalMinLevel, r.MaxLength,
			store.Now(), actorID)
		if err != nil {
			return fmt.Errorf("save rules: %w", err)
		}
		return logAct(ctx, tx, channelID, actorID, "rules.update",
			0, fmt.Sprintf("level>=%d age>=%ds links>=%d slow=%ds followers=%v members=%v medal=%v(>=%d) max=%d",
				r.MinLevel, r.MinAccountAgeSecs, r.LinksMinLevel, r.SlowModeSecs, r.FollowersOnly, r.MembersOnly, r.MedalOnly, r.MedalMinLevel, r.MaxLength))
	})
}
