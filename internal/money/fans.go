package money

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/money/internal/sqlbatch"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// Fan medals and the platform's share: what a viewer's support of one
// channel earns them there (a badge in danmaku, entry to medal-only chat)
// and what the platform keeps of it. Memberships are in memberships.go.

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
	return sqlbatch.Exec(ctx, tx, `INSERT INTO fan_medals (channel_id, user_id, intimacy) VALUES `, rows,
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
// (it runs for every danmaku); the room's and moderation's Fans.
func (s *Service) Standing(ctx context.Context, userID, channelID int64, slug string) (policy.FanBadge, error) {
	var tier, until sql.NullInt64
	var intimacy sql.NullInt64
	var name sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT tier FROM memberships WHERE channel_id = $1 AND user_id = $2 AND expires_at > $3),
		(SELECT expires_at FROM memberships WHERE channel_id = $1 AND user_id = $2 AND expires_at > $3),
		(SELECT intimacy FROM fan_medals WHERE channel_id = $1 AND user_id = $2),
		(SELECT medal_name FROM channel_money WHERE channel_id = $1)`, channelID, userID, store.Now()).Scan(&tier, &until, &intimacy, &name)
	if err != nil {
		return policy.FanBadge{}, fmt.Errorf("read fan standing: %w", err)
	}
	b := policy.FanBadge{MemberTier: int(tier.Int64), MemberUntil: until.Int64, MedalLevel: MedalLevel(intimacy.Int64)}
	if b.MedalLevel > 0 {
		b.MedalName = medalName(name.String, slug)
	}
	return b, nil
}

// SetMedalName names a channel's fan medal (1 to 8 characters, tidied
// like danmaku: it is shown beside viewers' messages) and returns the name
// as stored.
func (s *Service) SetMedalName(ctx context.Context, channelID int64, name string) (string, error) {
	name, err := cleanName("medal name", name, 8)
	if err == nil {
		err = s.screenName(ctx, channelID, name)
	}
	if err != nil {
		return "", err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO channel_money (channel_id, medal_name) VALUES ($1, $2)
		ON CONFLICT (channel_id) DO UPDATE SET medal_name = excluded.medal_name`, channelID, name)
	return name, err
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
		return &InputError{Msg: "platform_share_bp must be 0 to 10000 (basis points)"}
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
