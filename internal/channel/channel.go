// Package channel owns channels (a streamer's room: slug, title, category,
// tags, stream key) and their live sessions: the tables, the rules for what
// a valid channel is, and the /api/channels handlers.
package channel

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/textclean"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the channel domain's tables.
func Migrations() store.MigrationSet {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return store.MigrationSet{Domain: "channel", FS: sub}
}

// Channel is a streamer's room.
type Channel struct {
	ID        int64
	OwnerID   int64 // 0: owned by the platform
	Slug      string
	Title     string
	Category  string
	Tags      []string
	CreatedAt time.Time
	UpdatedAt time.Time
	CoverAt   int64 // Unix ms of the cover upload; 0: no cover
	Disabled  bool  // switched off by a platform admin
}

// Input is what a caller may set on a channel. Nil fields are left alone on update.
type Input struct {
	Slug     *string   `json:"slug"`
	Title    *string   `json:"title"`
	Category *string   `json:"category"`
	Tags     *[]string `json:"tags"`
	// Owner (a username) may be set by platform admins when creating.
	Owner *string `json:"owner"`
}

// Errors of the channel service. ErrNotFound is its answer as it is;
// ErrSlugTaken and ErrLive come wrapped with detail in a Problem (see
// slugTaken, live).
var (
	ErrNotFound  = httpjson.NewProblem(http.StatusNotFound, "", "channel not found")
	ErrSlugTaken = errors.New("slug is already taken")
	ErrLive      = errors.New("channel is live")
)

func slugTaken(slug string) error {
	return httpjson.Wrap(fmt.Errorf("%w: %s", ErrSlugTaken, slug), http.StatusConflict, "slug_taken")
}

// invalid refuses input (400 bad_request); input refusals clients
// translate carry their own code (httpjson.BadRequest).
func invalid(format string, args ...any) error {
	return httpjson.BadRequest("", format, args...)
}

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{1,30})[a-z0-9]$`)

const (
	maxTitle    = 140
	maxCategory = 64
	maxTags     = 10
	maxTagLen   = 32
)

// normalize validates in, applying it on top of c.
func (in Input) applyTo(c *Channel) error {
	if in.Slug != nil {
		s := strings.TrimSpace(*in.Slug)
		if !slugPattern.MatchString(s) || strings.Contains(s, "--") {
			return httpjson.BadRequest("slug_invalid", "slug %q: use 3 to 32 lowercase letters, digits and single hyphens, starting and ending with a letter or digit", clip(s, 40))
		}
		c.Slug = s
	}
	if in.Title != nil {
		t, err := cleanText("title", *in.Title, maxTitle)
		if err != nil {
			return err
		}
		if t == "" {
			return httpjson.BadRequest("title_required", "title must not be empty")
		}
		c.Title = t
	}
	if in.Category != nil {
		cat, err := cleanText("category", *in.Category, maxCategory)
		if err != nil {
			return err
		}
		c.Category = cat
	}
	if in.Tags != nil {
		if len(*in.Tags) > maxTags {
			return invalid("at most %d tags", maxTags)
		}
		seen := map[string]bool{}
		tags := []string{}
		for _, raw := range *in.Tags {
			t, err := cleanText("tag", raw, maxTagLen)
			if err != nil {
				return err
			}
			if t = strings.ToLower(t); t == "" {
				return invalid("tags must not be empty")
			}
			if !seen[t] {
				seen[t] = true
				tags = append(tags, t)
			}
		}
		c.Tags = tags
	}
	return nil
}

// cleanText normalises a title, category or tag as danmaku is normalised
// (textclean.Clean), so a title cannot reverse the text around it on a page.
func cleanText(field, s string, max int) (string, error) {
	out, problem := textclean.Clean(s)
	switch problem {
	case textclean.BadEncoding:
		return "", httpjson.BadRequest(problem, "%s is not valid UTF-8", field)
	case textclean.ControlChars:
		return "", httpjson.BadRequest(problem, "%s must not contain control characters", field)
	}
	if n := utf8.RuneCountInString(out); n > max {
		return "", httpjson.BadRequest("too_long", "%s is %d characters; at most %d", field, n, max)
	}
	return out, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Service reads and writes channels and live sessions.
type Service struct {
	db *store.DB
}

// NewService returns a Service on db.
func NewService(db *store.DB) *Service { return &Service{db: db} }

// NewStreamKey returns a fresh random stream key and the hash stored for it.
func NewStreamKey() (key, hash string) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the OS has no entropy: nothing is safe
	}
	key = "sk_" + base64.RawURLEncoding.EncodeToString(b[:])
	return key, HashKey(key)
}

// HashKey is how a stream key is stored: keys are 192-bit random values, so
// a fast hash is enough and lets ingest look a key up by index.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Create makes a channel and returns it with its stream key (shown once).
func (s *Service) Create(ctx context.Context, in Input, ownerID int64) (Channel, string, error) {
	if in.Slug == nil || in.Title == nil {
		return Channel{}, "", invalid("slug and title are required")
	}
	c := Channel{OwnerID: ownerID}
	if err := in.applyTo(&c); err != nil {
		return Channel{}, "", err
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	key, hash := NewStreamKey()
	now := store.Now()
	tags, _ := json.Marshal(c.Tags)
	err := s.db.QueryRowContext(ctx, `INSERT INTO channels (slug, title, category, tags, stream_key_hash, owner_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`, c.Slug, c.Title, c.Category, string(tags), hash, ownerID, now).Scan(&c.ID)
	if store.IsUniqueViolation(err) {
		return Channel{}, "", slugTaken(c.Slug)
	}
	if err != nil {
		return Channel{}, "", fmt.Errorf("insert channel: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = time.UnixMilli(now), time.UnixMilli(now)
	return c, key, nil
}

const channelColumns = `id, owner_id, slug, title, category, tags, created_at, updated_at, cover_at, disabled_at`

func scanChannel(row interface{ Scan(...any) error }) (Channel, error) {
	var c Channel
	var tags string
	var created, updated int64
	var cover, disabled sql.NullInt64
	if err := row.Scan(&c.ID, &c.OwnerID, &c.Slug, &c.Title, &c.Category, &tags, &created, &updated, &cover, &disabled); err != nil {
		return Channel{}, err
	}
	c.CoverAt, c.Disabled = cover.Int64, disabled.Valid
	if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
		return Channel{}, fmt.Errorf("channel %d has unreadable tags: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return c, nil
}

// Get returns the channel with this slug.
func (s *Service) Get(ctx context.Context, slug string) (Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE slug = $1`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, ErrNotFound
	}
	if err != nil {
		return Channel{}, fmt.Errorf("read channel %q: %w", slug, err)
	}
	return c, nil
}

// List returns channels ordered by slug, after the slug `after` (for paging).
func (s *Service) List(ctx context.Context, after string, limit int) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE slug > $1 ORDER BY slug LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Update applies in to the channel. A live channel keeps its slug, since
// viewers are watching at URLs made from it.
func (s *Service) Update(ctx context.Context, slug string, in Input, isLive bool) (Channel, error) {
	var out Channel
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		c, err := scanChannel(tx.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE slug = $1`, slug))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read channel %q: %w", slug, err)
		}
		if err := in.applyTo(&c); err != nil {
			return err
		}
		if c.Slug != slug && isLive {
			return httpjson.Wrap(fmt.Errorf("%w: end the stream before renaming it", ErrLive), http.StatusConflict, "")
		}
		tags, _ := json.Marshal(c.Tags)
		now := store.Now()
		_, err = tx.ExecContext(ctx, `UPDATE channels SET slug = $1, title = $2, category = $3, tags = $4, updated_at = $5 WHERE id = $6`,
			c.Slug, c.Title, c.Category, string(tags), now, c.ID)
		if store.IsUniqueViolation(err) {
			return slugTaken(c.Slug)
		}
		if err != nil {
			return fmt.Errorf("update channel %q: %w", slug, err)
		}
		c.UpdatedAt = time.UnixMilli(now)
		out = c
		return nil
	})
	return out, err
}

// RegenerateKey replaces the stream key; the old one stops working at once
// (a publisher already live keeps its stream until it disconnects).
func (s *Service) RegenerateKey(ctx context.Context, slug string) (string, error) {
	key, hash := NewStreamKey()
	res, err := s.db.ExecContext(ctx, `UPDATE channels SET stream_key_hash = $1, updated_at = $2 WHERE slug = $3`, hash, store.Now(), slug)
	if err != nil {
		return "", fmt.Errorf("regenerate stream key of %q: %w", slug, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", ErrNotFound
	}
	return key, nil
}

// RegenerateBackupKey makes (or replaces) the channel's backup stream key,
// the key of a second encoder that stands by to take over (backup ingest).
// A backup publisher already connected keeps its connection.
func (s *Service) RegenerateBackupKey(ctx context.Context, slug string) (string, error) {
	key, hash := NewStreamKey()
	res, err := s.db.ExecContext(ctx, `UPDATE channels SET backup_key_hash = $1, updated_at = $2 WHERE slug = $3`, hash, store.Now(), slug)
	if err != nil {
		return "", fmt.Errorf("regenerate backup stream key of %q: %w", slug, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", ErrNotFound
	}
	return key, nil
}

// ChannelForKey resolves a stream key, primary or backup (media.Channels).
func (s *Service) ChannelForKey(ctx context.Context, key string) (media.ChannelRef, error) {
	var ref media.ChannelRef
	var disabled sql.NullInt64
	hash := HashKey(key)
	var primary string
	err := s.db.QueryRowContext(ctx, `SELECT id, slug, disabled_at, stream_key_hash FROM channels WHERE stream_key_hash = $1 OR backup_key_hash = $1`,
		hash).Scan(&ref.ID, &ref.Slug, &disabled, &primary)
	ref.BackupKey = primary != hash
	if errors.Is(err, sql.ErrNoRows) {
		return ref, media.ErrUnknownKey
	}
	if err != nil {
		return ref, fmt.Errorf("look up stream key: %w", err)
	}
	if disabled.Valid {
		return ref, fmt.Errorf("%w: %s", media.ErrChannelDisabled, ref.Slug)
	}
	return ref, nil
}

// ClaimChannel opens a live session of ch held by node (media.Channels):
// the partial unique index on open sessions lets one node at a time hold a
// channel. A claim that lapsed (its node died) is closed first, so the
// streamer can go live again on another node.
func (s *Service) ClaimChannel(ctx context.Context, ch media.ChannelRef, node int, ttl time.Duration) (int64, error) {
	now := live.NowSQL(s.db.Dialect)
	if _, err := s.db.ExecContext(ctx, `UPDATE live_sessions SET ended_at = $1, end_reason = $2
		WHERE channel_id = $3 AND ended_at IS NULL AND claim_until < `+now, store.Now(), ReasonNodeLost, ch.ID); err != nil {
		return 0, fmt.Errorf("close a lapsed claim of %q: %w", ch.Slug, err)
	}
	var id int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO live_sessions (channel_id, node_id, started_at, tracks, claim_until)
		VALUES ($1, $2, $3, '[]', `+now+` + $4) RETURNING id`, ch.ID, node, store.Now(), ttl.Milliseconds()).Scan(&id)
	if store.IsUniqueViolation(err) {
		var holder sql.NullInt64
		if e := s.db.QueryRowContext(ctx, `SELECT node_id FROM live_sessions WHERE channel_id = $1 AND ended_at IS NULL`, ch.ID).Scan(&holder); e == nil && holder.Valid {
			return 0, &media.LiveElsewhere{Slug: ch.Slug, Node: holder.Int64}
		}
		return 0, fmt.Errorf("%w: %s", media.ErrAlreadyLive, ch.Slug)
	}
	if err != nil {
		return 0, fmt.Errorf("claim channel %q: %w", ch.Slug, err)
	}
	return id, nil
}

// ReasonNodeLost ends the sessions of a node that stopped renewing its claims.
const ReasonNodeLost = "node lost"

// SessionStarted records the start and tracks of a claimed session (media.Channels).
func (s *Service) SessionStarted(ctx context.Context, id int64, st media.Status) error {
	tracks, _ := json.Marshal(st.Tracks)
	res, err := s.db.ExecContext(ctx, `UPDATE live_sessions SET started_at = $1, tracks = $2 WHERE id = $3 AND ended_at IS NULL`,
		st.StartedAt.UnixMilli(), string(tracks), id)
	if err != nil {
		return fmt.Errorf("start live session %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("start live session %d: its claim was closed", id)
	}
	return nil
}

// SessionEnded closes a live session record (media.Channels).
func (s *Service) SessionEnded(ctx context.Context, id int64, st media.Status, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE live_sessions SET ended_at = $1, end_reason = $2, ingest_bytes = $3 WHERE id = $4 AND ended_at IS NULL`,
		store.Now(), reason, int64(st.IngestBytes), id)
	if err != nil {
		return fmt.Errorf("end live session %d: %w", id, err)
	}
	return nil
}

// DropClaim removes a claim whose publisher never went live (media.Channels):
// it leaves no session behind.
func (s *Service) DropClaim(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM live_sessions WHERE id = $1 AND ended_at IS NULL`, id); err != nil {
		return fmt.Errorf("drop live claim %d: %w", id, err)
	}
	return nil
}

// RenewClaims extends node's open claims to ttl from now (media.Channels)
// and returns the ids of those still open.
func (s *Service) RenewClaims(ctx context.Context, node int, ttl time.Duration) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE live_sessions SET claim_until = `+live.NowSQL(s.db.Dialect)+` + $1
		WHERE node_id = $2 AND ended_at IS NULL RETURNING id`, ttl.Milliseconds(), node)
	if err != nil {
		return nil, fmt.Errorf("renew live claims of node %d: %w", node, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("renew live claims of node %d: %w", node, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("renew live claims of node %d: %w", node, err)
	}
	return ids, nil
}

// CloseLapsedClaims ends the sessions whose claims were not renewed in time
// (media.Channels): their node died. Reading first keeps the usual case (none)
// from taking SQLite's write lock every second.
func (s *Service) CloseLapsedClaims(ctx context.Context) (int64, error) {
	now := live.NowSQL(s.db.Dialect)
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM live_sessions WHERE ended_at IS NULL AND claim_until < `+now).Scan(&n); err != nil {
		return 0, fmt.Errorf("look for lapsed live claims: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, `UPDATE live_sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL AND claim_until < `+now,
		store.Now(), ReasonNodeLost)
	if err != nil {
		return 0, fmt.Errorf("close lapsed live claims: %w", err)
	}
	return res.RowsAffected()
}

// CloseStaleSessions ends, at start-up, the sessions node left open when it
// stopped (no stream of this node can be live yet) and those of any node
// whose claims lapsed; other nodes' live sessions stay open.
func (s *Service) CloseStaleSessions(ctx context.Context, node int) (int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE live_sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL AND node_id = $3`,
		store.Now(), "server restarted", node)
	if err != nil {
		return 0, fmt.Errorf("close stale live sessions: %w", err)
	}
	own, _ := res.RowsAffected()
	lapsed, err := s.CloseLapsedClaims(ctx)
	return own + lapsed, err
}

// Session is one past or current live session.
type Session struct {
	ID          int64      `json:"id"`
	StartedAt   time.Time  `json:"started_at"`
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	EndReason   string     `json:"end_reason,omitempty"`
	IngestBytes int64      `json:"ingest_bytes"`
}

// Sessions lists a channel's most recent live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, channelID int64, limit int) ([]Session, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, started_at, ended_at, end_reason, ingest_bytes FROM live_sessions
		WHERE channel_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2`, channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("list live sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var ss Session
		var started int64
		var ended sql.NullInt64
		var reason sql.NullString
		if err := rows.Scan(&ss.ID, &started, &ended, &reason, &ss.IngestBytes); err != nil {
			return nil, fmt.Errorf("list live sessions: %w", err)
		}
		ss.StartedAt = time.UnixMilli(started)
		if ended.Valid {
			t := time.UnixMilli(ended.Int64)
			ss.EndedAt = &t
		}
		ss.EndReason = reason.String
		out = append(out, ss)
	}
	return out, rows.Err()
}
