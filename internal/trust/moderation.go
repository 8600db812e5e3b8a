package trust

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

// PlatformScope is the channel id of platform-wide sanctions, logs and reports.
const PlatformScope int64 = 0

// Moderation stores moderators, rules, sanctions, the audit log, reports and follows.
type Moderation struct{ db *store.DB }

// Sanction is a mute or ban.
type Sanction struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	ChannelID int64      `json:"channel_id"`
	UserID    int64      `json:"user_id"`
	Username  string     `json:"username"`
	Reason    string     `json:"reason"`
	IssuerID  int64      `json:"issuer_id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// IsModerator reports whether user moderates channel.
func (m *Moderation) IsModerator(ctx context.Context, channelID, userID int64) (bool, error) {
	var n int
	err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM channel_moderators WHERE channel_id = $1 AND user_id = $2`, channelID, userID).Scan(&n)
	return n > 0, err
}

// Appoint makes user a moderator of channel, logged as actor's act.
func (m *Moderation) Appoint(ctx context.Context, channelID, userID, actorID int64) error {
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
func (m *Moderation) Dismiss(ctx context.Context, channelID, userID, actorID int64) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM channel_moderators WHERE channel_id = $1 AND user_id = $2`, channelID, userID); err != nil {
			return err
		}
		return logAct(ctx, tx, channelID, actorID, "moderator.dismiss", userID, "")
	})
}

// Moderators lists a channel's moderators.
func (m *Moderation) Moderators(ctx context.Context, channelID int64) ([]User, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT u.id, u.username, u.email, u.is_admin, u.can_stream, u.xp, u.created_at
		FROM channel_moderators cm JOIN users u ON u.id = cm.user_id WHERE cm.channel_id = $1 AND u.deleted_at IS NULL ORDER BY u.username_key`, channelID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		u.Email = ""
		out = append(out, u)
	}
	return out, rows.Err()
}

// Rules returns a channel's rules (defaults if it set none).
func (m *Moderation) Rules(ctx context.Context, channelID int64) (Rules, error) {
	r := DefaultRules()
	err := m.db.QueryRowContext(ctx, `SELECT min_level, min_account_age_seconds, links_min_level, slow_mode_seconds,
		followers_only, members_only, medal_only, medal_min_level, max_length FROM channel_rules WHERE channel_id = $1`, channelID).
		Scan(&r.MinLevel, &r.MinAccountAgeSecs, &r.LinksMinLevel, &r.SlowModeSecs, &r.FollowersOnly, &r.MembersOnly, &r.MedalOnly, &r.MedalMinLevel, &r.MaxLength)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultRules(), nil
	}
	return r, err
}

// SetRules replaces a channel's rules.
func (m *Moderation) SetRules(ctx context.Context, channelID, actorID int64, r Rules) error {
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

const maxReason = 200

// Sanction mutes or bans user in channel (PlatformScope for a platform
// ban) for duration (0: until lifted), replacing any earlier one of that kind.
func (m *Moderation) Sanction(ctx context.Context, kind string, channelID, userID, actorID int64, reason string, d time.Duration) (Sanction, error) {
	reason = strings.TrimSpace(reason)
	if err := checkLabel("reason", reason, maxReason); err != nil {
		return Sanction{}, err
	}
	if kind != "mute" && kind != "ban" {
		return Sanction{}, invalid("kind must be mute or ban")
	}
	if kind == "mute" && (d <= 0 || d > 30*24*time.Hour) {
		return Sanction{}, invalid("a mute lasts from 1 minute to 30 days")
	}
	if d < 0 || d > 10*365*24*time.Hour {
		return Sanction{}, invalid("duration out of range")
	}
	now := time.UnixMilli(store.Now())
	s := Sanction{Kind: kind, ChannelID: channelID, UserID: userID, Reason: reason, IssuerID: actorID, CreatedAt: now}
	var expires sql.NullInt64
	if d > 0 {
		at := now.Add(d)
		s.ExpiresAt = &at
		expires = sql.NullInt64{Int64: at.UnixMilli(), Valid: true}
	}
	err := m.db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sanctions SET lifted_at = $1 WHERE user_id = $2 AND channel_id = $3 AND kind = $4 AND lifted_at IS NULL`,
			now.UnixMilli(), userID, channelID, kind); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO sanctions (kind, channel_id, user_id, reason, issuer_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, kind, channelID, userID, reason, actorID, now.UnixMilli(), expires).Scan(&s.ID); err != nil {
			return fmt.Errorf("insert sanction: %w", err)
		}
		detail := reason
		if d > 0 {
			detail = fmt.Sprintf("%s (for %v)", reason, d)
		}
		return logAct(ctx, tx, channelID, actorID, kind, userID, detail)
	})
	return s, err
}

// Lift ends a user's mute or ban early.
func (m *Moderation) Lift(ctx context.Context, kind string, channelID, userID, actorID int64) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sanctions SET lifted_at = $1 WHERE user_id = $2 AND channel_id = $3 AND kind = $4 AND lifted_at IS NULL
			AND (expires_at IS NULL OR expires_at > $1)`, store.Now(), userID, channelID, kind)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoSanction
		}
		return logAct(ctx, tx, channelID, actorID, "un"+kind, userID, "")
	})
}

// ErrNoSanction is returned when there is nothing to lift.
var ErrNoSanction = errors.New("no such mute or ban in force")

// Active reports which sanctions are in force for user in channel (and platform-wide).
func (m *Moderation) Active(ctx context.Context, channelID, userID int64, now time.Time) (muted, banned, platformBanned bool, err error) {
	rows, err := m.db.QueryContext(ctx, `SELECT kind, channel_id FROM sanctions WHERE user_id = $1 AND channel_id IN ($2, 0)
		AND lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $3)`, userID, channelID, now.UnixMilli())
	if err != nil {
		return false, false, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var ch int64
		if err := rows.Scan(&kind, &ch); err != nil {
			return false, false, false, err
		}
		switch {
		case ch == PlatformScope && kind == "ban":
			platformBanned = true
		case ch == channelID && kind == "ban":
			banned = true
		case ch == channelID && kind == "mute":
			muted = true
		}
	}
	return muted, banned, platformBanned, rows.Err()
}

// ListSanctions returns sanctions in force in a channel.
func (m *Moderation) ListSanctions(ctx context.Context, channelID int64, now time.Time) ([]Sanction, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT s.id, s.kind, s.channel_id, s.user_id, u.username, s.reason, s.issuer_id, s.created_at, s.expires_at
		FROM sanctions s JOIN users u ON u.id = s.user_id WHERE s.channel_id = $1 AND s.lifted_at IS NULL
		AND (s.expires_at IS NULL OR s.expires_at > $2) ORDER BY s.id DESC LIMIT 500`, channelID, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Sanction{}
	for rows.Next() {
		var s Sanction
		var created int64
		var exp sql.NullInt64
		if err := rows.Scan(&s.ID, &s.Kind, &s.ChannelID, &s.UserID, &s.Username, &s.Reason, &s.IssuerID, &created, &exp); err != nil {
			return nil, err
		}
		s.CreatedAt = time.UnixMilli(created)
		if exp.Valid {
			at := time.UnixMilli(exp.Int64)
			s.ExpiresAt = &at
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// LogEntry is one moderation act.
type LogEntry struct {
	ID        int64     `json:"id"`
	ActorID   int64     `json:"actor_id"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	TargetID  int64     `json:"target_user_id,omitempty"`
	Target    string    `json:"target,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func logAct(ctx context.Context, tx *sql.Tx, channelID, actorID int64, action string, target int64, detail string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO moderation_log (channel_id, actor_id, action, target_user_id, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		channelID, actorID, action, target, detail, store.Now())
	if err != nil {
		return fmt.Errorf("write moderation log: %w", err)
	}
	return nil
}

// Record writes a moderation act done elsewhere (a deleted danmaku) to the
// channel's audit log.
func (m *Moderation) Record(ctx context.Context, channelID, actorID int64, action string, target int64, detail string) error {
	return m.db.InTx(ctx, func(tx *sql.Tx) error { return logAct(ctx, tx, channelID, actorID, action, target, detail) })
}

// Log returns a channel's newest moderation acts (actor 0 is the admin token).
func (m *Moderation) Log(ctx context.Context, channelID int64, limit int) ([]LogEntry, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT l.id, l.actor_id, COALESCE(a.username, 'admin token'), l.action, l.target_user_id, COALESCE(t.username, ''), l.detail, l.created_at
		FROM moderation_log l LEFT JOIN users a ON a.id = l.actor_id LEFT JOIN users t ON t.id = l.target_user_id
		WHERE l.channel_id = $1 ORDER BY l.id DESC LIMIT $2`, channelID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []LogEntry{}
	for rows.Next() {
		var e LogEntry
		var created int64
		if err := rows.Scan(&e.ID, &e.ActorID, &e.Actor, &e.Action, &e.TargetID, &e.Target, &e.Detail, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = time.UnixMilli(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Report is a viewer's complaint about a user or message.
type Report struct {
	ID        int64     `json:"id"`
	Reporter  string    `json:"reporter"`
	Target    string    `json:"target"`
	ChannelID int64     `json:"channel_id"`
	MessageID string    `json:"message_id,omitempty"`
	Reason    string    `json:"reason"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

// FileReport files a report into the channel's queue (or the platform's).
func (m *Moderation) FileReport(ctx context.Context, reporterID, targetID, channelID int64, messageID, reason string) (int64, error) {
	reason = strings.TrimSpace(reason)
	if err := checkLabel("reason", reason, 500); err != nil {
		return 0, err
	}
	if len(messageID) > 64 {
		return 0, invalid("message_id is too long")
	}
	if reporterID == targetID {
		return 0, invalid("you cannot report yourself")
	}
	var id int64
	err := m.db.QueryRowContext(ctx, `INSERT INTO reports (reporter_id, target_user_id, channel_id, message_id, reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, reporterID, targetID, channelID, messageID, reason, store.Now()).Scan(&id)
	return id, err
}

// Reports lists a queue, newest first; status "" means every status.
func (m *Moderation) Reports(ctx context.Context, channelID int64, status string, limit int) ([]Report, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT r.id, a.username, t.username, r.channel_id, r.message_id, r.reason, r.status, r.created_at
		FROM reports r JOIN users a ON a.id = r.reporter_id JOIN users t ON t.id = r.target_user_id
		WHERE r.channel_id = $1 AND ($2 = '' OR r.status = $2) ORDER BY r.id DESC LIMIT $3`, channelID, status, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Report{}
	for rows.Next() {
		var r Report
		var created int64
		if err := rows.Scan(&r.ID, &r.Reporter, &r.Target, &r.ChannelID, &r.MessageID, &r.Reason, &r.Status, &created); err != nil {
			return nil, err
		}
		r.CreatedAt = time.UnixMilli(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReportChannel returns the queue a report belongs to.
func (m *Moderation) ReportChannel(ctx context.Context, id int64) (int64, error) {
	var ch int64
	err := m.db.QueryRowContext(ctx, `SELECT channel_id FROM reports WHERE id = $1`, id).Scan(&ch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoReport
	}
	return ch, err
}

// ErrNoReport is returned for an unknown report.
var ErrNoReport = errors.New("no such report")

// Resolve marks a report actioned or dismissed.
func (m *Moderation) Resolve(ctx context.Context, id, actorID int64, status string) error {
	if status != "actioned" && status != "dismissed" {
		return invalid("status must be actioned or dismissed")
	}
	return m.db.InTx(ctx, func(tx *sql.Tx) error {
		var ch int64
		if err := tx.QueryRowContext(ctx, `SELECT channel_id FROM reports WHERE id = $1`, id).Scan(&ch); errors.Is(err, sql.ErrNoRows) {
			return ErrNoReport
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reports SET status = $1, handled_by = $2, handled_at = $3 WHERE id = $4`,
			status, actorID, store.Now(), id); err != nil {
			return err
		}
		return logAct(ctx, tx, ch, actorID, "report."+status, 0, fmt.Sprintf("report %d", id))
	})
}

// Follow and Unfollow record who follows a channel.
func (m *Moderation) Follow(ctx context.Context, userID, channelID int64) error {
	_, err := m.db.ExecContext(ctx, `INSERT INTO follows (user_id, channel_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id, channel_id) DO NOTHING`,
		userID, channelID, store.Now())
	return err
}

func (m *Moderation) Unfollow(ctx context.Context, userID, channelID int64) error {
	_, err := m.db.ExecContext(ctx, `DELETE FROM follows WHERE user_id = $1 AND channel_id = $2`, userID, channelID)
	return err
}

// Follows reports whether user follows channel.
func (m *Moderation) Follows(ctx context.Context, userID, channelID int64) (bool, error) {
	var n int
	err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM follows WHERE user_id = $1 AND channel_id = $2`, userID, channelID).Scan(&n)
	return n > 0, err
}

// FollowedChannels lists the channels a user follows.
func (m *Moderation) FollowedChannels(ctx context.Context, userID int64) ([]int64, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT channel_id FROM follows WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("read follows: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Followers counts a channel's followers.
func (m *Moderation) Followers(ctx context.Context, channelID int64) (int, error) {
	var n int
	err := m.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM follows WHERE channel_id = $1`, channelID).Scan(&n)
	return n, err
}
