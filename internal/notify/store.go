package notify

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

// Store keeps notifications, push subscriptions, the VAPID keys and the
// live announcements.
type Store struct{ db *store.DB }

// NewStore returns the notify store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// Notification is one entry of a user's bell.
type Notification struct {
	ID        int64           `json:"id"`
	UserID    int64           `json:"-"`
	Kind      string          `json:"kind"`
	ChannelID int64           `json:"channel_id,omitempty"`
	Channel   string          `json:"channel,omitempty"` // slug
	Payload   json.RawMessage `json:"payload"`
	CreatedAt int64           `json:"created_at"` // Unix ms
	Read      bool            `json:"read"`
}

// Recipient is a user a notification row was made for, and that row's id.
type Recipient struct {
	UserID int64 `json:"u"`
	ID     int64 `json:"id"`
}

// Announce claims the right to announce channel's live session: it
// succeeds (true) once per session cluster-wide, and not at all when the
// channel's previous stream ended (or, if its end was never heard, was
// announced) less than cooldown ago — a reconnect is not news.
func (s *Store) Announce(ctx context.Context, channelID, sessionID int64, now time.Time, cooldown time.Duration) (bool, error) {
	ms, cut := now.UnixMilli(), now.Add(-cooldown).UnixMilli()
	res, err := s.db.ExecContext(ctx, `INSERT INTO live_announcements (channel_id, session_id, announced_at, ended_at) VALUES ($1, $2, $3, NULL)
		ON CONFLICT (channel_id) DO UPDATE SET session_id = excluded.session_id, announced_at = excluded.announced_at, ended_at = NULL
		WHERE live_announcements.session_id <> excluded.session_id AND COALESCE(live_announcements.ended_at, live_announcements.announced_at) < $4`,
		channelID, sessionID, ms, cut)
	if err != nil {
		return false, fmt.Errorf("announce live session: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Ended records when a channel's stream ended (the cool-down counts from here).
func (s *Store) Ended(ctx context.Context, channelID int64, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE live_announcements SET ended_at = $1 WHERE channel_id = $2`, now.UnixMilli(), channelID); err != nil {
		return fmt.Errorf("record live end: %w", err)
	}
	return nil
}

// AddForFollowers makes one notification for every follower of channelID,
// in one statement; a follower who already has dedupe gets nothing new. It
// returns the rows made.
func (s *Store) AddForFollowers(ctx context.Context, channelID int64, slug, kind string, payload []byte, dedupe string, now time.Time) ([]Recipient, error) {
	rows, err := s.db.QueryContext(ctx, `INSERT INTO notifications (user_id, kind, channel_id, channel_slug, payload, dedupe_key, created_at)
		SELECT f.user_id, $1, $2, $3, $4, $5, $6 FROM follows f WHERE f.channel_id = $2
		ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id, user_id`,
		kind, channelID, slug, string(payload), dedupe, now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("notify followers: %w", err)
	}
	defer rows.Close()
	var out []Recipient
	for rows.Next() {
		var r Recipient
		if err := rows.Scan(&r.ID, &r.UserID); err != nil {
			return nil, fmt.Errorf("notify followers: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Add makes one notification unless the user already has dedupe; ok is
// false then.
func (s *Store) Add(ctx context.Context, n Notification, dedupe string) (Notification, bool, error) {
	if n.CreatedAt == 0 {
		n.CreatedAt = store.Now()
	}
	err := s.db.QueryRowContext(ctx, `INSERT INTO notifications (user_id, kind, channel_id, channel_slug, payload, dedupe_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id`,
		n.UserID, n.Kind, n.ChannelID, n.Channel, string(n.Payload), dedupe, n.CreatedAt).Scan(&n.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return n, false, nil
	}
	if err != nil {
		return n, false, fmt.Errorf("add notification: %w", err)
	}
	return n, true, nil
}

// List returns a user's notifications newest first, those with an id
// below before (0: from the newest), and how many are unread in all.
func (s *Store) List(ctx context.Context, userID, before int64, limit int) ([]Notification, int, error) {
	if before <= 0 {
		before = 1<<62 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, channel_id, channel_slug, payload, created_at, read_at IS NOT NULL
		FROM notifications WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, userID, before, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n := Notification{UserID: userID}
		var payload string
		if err := rows.Scan(&n.ID, &n.Kind, &n.ChannelID, &n.Channel, &payload, &n.CreatedAt, &n.Read); err != nil {
			return nil, 0, fmt.Errorf("list notifications: %w", err)
		}
		n.Payload = json.RawMessage(payload)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list notifications: %w", err)
	}
	unread, err := s.Unread(ctx, userID)
	return out, unread, err
}

// Unread counts a user's unread notifications.
func (s *Store) Unread(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unread notifications: %w", err)
	}
	return n, nil
}

// MarkRead marks a user's notifications read: those listed in ids, or
// with ids empty all up to upTo (0: all of them). It returns how many changed.
func (s *Store) MarkRead(ctx context.Context, userID int64, ids []int64, upTo int64) (int64, error) {
	now := store.Now()
	var res sql.Result
	var err error
	if len(ids) > 0 {
		args := []any{now, userID}
		marks := make([]string, len(ids))
		for i, id := range ids {
			args = append(args, id)
			marks[i] = fmt.Sprintf("$%d", i+3)
		}
		res, err = s.db.ExecContext(ctx, `UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL AND id IN (`+
			strings.Join(marks, ", ")+`)`, args...)
	} else {
		if upTo <= 0 {
			upTo = 1<<62 - 1
		}
		res, err = s.db.ExecContext(ctx, `UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL AND id <= $3`, now, userID, upTo)
	}
	if err != nil {
		return 0, fmt.Errorf("mark notifications read: %w", err)
	}
	return res.RowsAffected()
}

// Subscription is a browser's Web Push subscription.
type Subscription struct {
	UserID   int64
	Endpoint string
	P256dh   string // base64url, as the browser gave it
	Auth     string
}

// ErrTooManySubscriptions refuses a subscription over the per-user bound.
var ErrTooManySubscriptions = errors.New("too many push subscriptions")

// Subscribe stores sub (an endpoint already known moves to this user and
// gets the new keys), refusing more than max per user.
func (s *Store) Subscribe(ctx context.Context, sub Subscription, max int) error {
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1 AND endpoint <> $2`,
			sub.UserID, sub.Endpoint).Scan(&n); err != nil {
			return fmt.Errorf("count push subscriptions: %w", err)
		}
		if n >= max {
			return ErrTooManySubscriptions
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth,
			created_at = excluded.created_at, last_error = '', last_error_at = NULL`,
			sub.UserID, sub.Endpoint, sub.P256dh, sub.Auth, store.Now()); err != nil {
			return fmt.Errorf("save push subscription: %w", err)
		}
		return nil
	})
}

// Unsubscribe removes a user's subscription (none is not an error).
func (s *Store) Unsubscribe(ctx context.Context, userID int64, endpoint string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2`, userID, endpoint); err != nil {
		return fmt.Errorf("delete push subscription: %w", err)
	}
	return nil
}

// Forget deletes an endpoint the push service says is gone (404/410).
func (s *Store) Forget(ctx context.Context, endpoint string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE endpoint = $1`, endpoint); err != nil {
		return fmt.Errorf("forget push subscription: %w", err)
	}
	return nil
}

// Failed records why the last push to endpoint failed.
func (s *Store) Failed(ctx context.Context, endpoint, why string) error {
	if len(why) > 200 {
		why = why[:200]
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE push_subscriptions SET last_error = $1, last_error_at = $2 WHERE endpoint = $3`,
		why, store.Now(), endpoint); err != nil {
		return fmt.Errorf("record push failure: %w", err)
	}
	return nil
}

// FollowerSubscriptions lists the push subscriptions of channelID's followers.
func (s *Store) FollowerSubscriptions(ctx context.Context, channelID int64) ([]Subscription, error) {
	return s.subscriptions(ctx, `SELECT p.user_id, p.endpoint, p.p256dh, p.auth FROM push_subscriptions p
		JOIN follows f ON f.user_id = p.user_id WHERE f.channel_id = $1`, channelID)
}

// UserSubscriptions lists one user's push subscriptions.
func (s *Store) UserSubscriptions(ctx context.Context, userID int64) ([]Subscription, error) {
	return s.subscriptions(ctx, `SELECT user_id, endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = $1`, userID)
}

func (s *Store) subscriptions(ctx context.Context, query string, arg int64) ([]Subscription, error) {
	rows, err := s.db.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, fmt.Errorf("read push subscriptions: %w", err)
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		var sub Subscription
		if err := rows.Scan(&sub.UserID, &sub.Endpoint, &sub.P256dh, &sub.Auth); err != nil {
			return nil, fmt.Errorf("read push subscriptions: %w", err)
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// VAPIDKeys returns the stored key pair, storing gen's first if there is
// none yet (the first node to start wins; every node reads the same pair).
func (s *Store) VAPIDKeys(ctx context.Context, gen func() (public, private string, err error)) (public, private string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT public_key, private_key FROM vapid_keys WHERE id = 1`).Scan(&public, &private)
	if err == nil {
		return public, private, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("read VAPID keys: %w", err)
	}
	pub, priv, err := gen()
	if err != nil {
		return "", "", fmt.Errorf("generate VAPID keys: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO vapid_keys (id, public_key, private_key, created_at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, pub, priv, store.Now()); err != nil {
		return "", "", fmt.Errorf("store VAPID keys: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT public_key, private_key FROM vapid_keys WHERE id = 1`).Scan(&public, &private); err != nil {
		return "", "", fmt.Errorf("read VAPID keys: %w", err)
	}
	return public, private, nil
}

// Followed is a channel a user follows, for the Following list.
type Followed struct {
	ID    int64
	Slug  string
	Title string
}

// Following lists the (enabled) channels a user follows.
func (s *Store) Following(ctx context.Context, userID int64, limit int) ([]Followed, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.slug, c.title FROM follows f JOIN channels c ON c.id = f.channel_id
		WHERE f.user_id = $1 AND c.disabled_at IS NULL ORDER BY c.slug LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("read followed channels: %w", err)
	}
	defer rows.Close()
	var out []Followed
	for rows.Next() {
		var f Followed
		if err := rows.Scan(&f.ID, &f.Slug, &f.Title); err != nil {
			return nil, fmt.Errorf("read followed channels: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// channelTitle reads a channel's title for the went-live texts.
func (s *Store) channelTitle(ctx context.Context, channelID int64) (string, error) {
	var title string
	if err := s.db.QueryRowContext(ctx, `SELECT title FROM channels WHERE id = $1`, channelID).Scan(&title); err != nil {
		return "", fmt.Errorf("read channel title: %w", err)
	}
	return title, nil
}

// channelSlug reads a channel's slug (money notices carry only its id).
func (s *Store) channelSlug(ctx context.Context, channelID int64) (string, error) {
	var slug string
	err := s.db.QueryRowContext(ctx, `SELECT slug FROM channels WHERE id = $1`, channelID).Scan(&slug)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read channel slug: %w", err)
	}
	return slug, nil
}

// renewalReminders inserts, in one statement, a reminder for each
// auto-renewing membership (money's table) that renews within soon and has
// none for this expiry yet, and returns the rows made.
func (s *Store) renewalReminders(ctx context.Context, now time.Time, soon time.Duration) ([]Notification, error) {
	rows, err := s.db.QueryContext(ctx, `INSERT INTO notifications (user_id, kind, channel_id, channel_slug, payload, dedupe_key, created_at)
		SELECT m.user_id, 'renews_soon', m.channel_id, m.room,
			'{"tier":' || m.tier || ',"price":' || m.monthly_price || ',"expires_at":' || m.expires_at || '}',
			'renew:' || m.channel_id || ':' || m.expires_at, $1
		FROM memberships m WHERE m.auto_renew AND NOT m.renewal_stopped AND m.expires_at > $1 AND m.expires_at <= $2
		ON CONFLICT (user_id, dedupe_key) DO NOTHING RETURNING id, user_id, channel_id, channel_slug, payload, created_at`,
		now.UnixMilli(), now.Add(soon).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("membership renewal reminders: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n := Notification{Kind: "renews_soon"}
		var payload string
		if err := rows.Scan(&n.ID, &n.UserID, &n.ChannelID, &n.Channel, &payload, &n.CreatedAt); err != nil {
			return nil, fmt.Errorf("membership renewal reminders: %w", err)
		}
		n.Payload = json.RawMessage(payload)
		out = append(out, n)
	}
	return out, rows.Err()
}
