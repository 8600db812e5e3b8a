package simulcast

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/livehouse/livehouse/internal/store"
)

// Destination is one place a channel's stream is re-sent to.
type Destination struct {
	ID        int64
	ChannelID int64
	Name      string
	Protocol  string // rtmp, rtmps, srt
	URL       string
	sealedKey string
	KeyHint   string // last four characters of the key, "" when none kept
	HasKey    bool
	Enabled   bool
	CreatedAt time.Time
}

type destStore struct {
	db   *store.DB
	seal *sealer
}

const destColumns = `id, channel_id, name, protocol, url, key_ciphertext, key_hint, enabled, created_at`

func scanDest(sc interface{ Scan(...any) error }) (Destination, error) {
	var d Destination
	var created int64
	if err := sc.Scan(&d.ID, &d.ChannelID, &d.Name, &d.Protocol, &d.URL, &d.sealedKey, &d.KeyHint, &d.Enabled, &created); err != nil {
		return d, err
	}
	d.HasKey = d.sealedKey != ""
	d.CreatedAt = time.UnixMilli(created)
	return d, nil
}

func channelAD(channelID int64) []byte {
	return []byte("simulcast:" + strconv.FormatInt(channelID, 10))
}

func (s *destStore) list(ctx context.Context, channelID int64) ([]Destination, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+destColumns+` FROM simulcast_destinations WHERE channel_id = $1 ORDER BY id`, channelID)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	defer rows.Close()
	var out []Destination
	for rows.Next() {
		d, err := scanDest(rows)
		if err != nil {
			return nil, fmt.Errorf("list destinations: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *destStore) get(ctx context.Context, channelID, id int64) (Destination, error) {
	d, err := scanDest(s.db.QueryRowContext(ctx, `SELECT `+destColumns+` FROM simulcast_destinations WHERE channel_id = $1 AND id = $2`, channelID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, errNoDest
	}
	if err != nil {
		return d, fmt.Errorf("get destination: %w", err)
	}
	return d, nil
}

// add inserts a destination unless the channel has MaxDestinations
// already (checked in the same transaction).
func (s *destStore) add(ctx context.Context, d Destination, key string) (Destination, error) {
	sealed, err := s.sealKey(d.ChannelID, key)
	if err != nil {
		return d, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return d, fmt.Errorf("add destination: %w", err)
	}
	defer tx.Rollback()
	// Serialise adds of one channel on PostgreSQL (SQLite has one writer).
	if s.db.Dialect == store.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT id FROM channels WHERE id = $1 FOR UPDATE`, d.ChannelID); err != nil {
			return d, fmt.Errorf("add destination: %w", err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM simulcast_destinations WHERE channel_id = $1`, d.ChannelID).Scan(&n); err != nil {
		return d, fmt.Errorf("add destination: %w", err)
	}
	if n >= MaxDestinations {
		return d, errTooMany
	}
	d.CreatedAt = time.Now()
	d.KeyHint, d.HasKey, d.sealedKey = hintOf(key), key != "", sealed
	if err := tx.QueryRowContext(ctx, `INSERT INTO simulcast_destinations (channel_id, name, protocol, url, key_ciphertext, key_hint, enabled, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, d.ChannelID, d.Name, d.Protocol, d.URL, sealed, d.KeyHint, d.Enabled,
		d.CreatedAt.UnixMilli()).Scan(&d.ID); err != nil {
		return d, fmt.Errorf("add destination: %w", err)
	}
	return d, tx.Commit()
}

func (s *destStore) sealKey(channelID int64, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	return s.seal.seal(key, channelAD(channelID))
}

// update saves d's name, URL, protocol and enabled; key, when non-nil,
// replaces the stored key.
func (s *destStore) update(ctx context.Context, d Destination, key *string) error {
	if key != nil {
		sealed, err := s.sealKey(d.ChannelID, *key)
		if err != nil {
			return err
		}
		d.sealedKey, d.KeyHint = sealed, hintOf(*key)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE simulcast_destinations SET name = $1, protocol = $2, url = $3, key_ciphertext = $4, key_hint = $5, enabled = $6
		WHERE id = $7 AND channel_id = $8`, d.Name, d.Protocol, d.URL, d.sealedKey, d.KeyHint, d.Enabled, d.ID, d.ChannelID)
	if err != nil {
		return fmt.Errorf("update destination: %w", err)
	}
	return nil
}

func (s *destStore) remove(ctx context.Context, channelID, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM simulcast_destinations WHERE id = $1 AND channel_id = $2`, id, channelID)
	if err != nil {
		return fmt.Errorf("delete destination: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNoDest
	}
	return nil
}

// key is d's stream key in clear, for the worker only.
func (s *destStore) key(d Destination) (string, error) {
	return s.seal.open(d.sealedKey, channelAD(d.ChannelID))
}
